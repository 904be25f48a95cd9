"""Lookup latency from a store of many indicators (bench/lookup).

Fills a private collection of a real `taxii-mirror serve` through `taxii-mirror import`
(files of generated values of five kinds), then measures:

- lookups through the admin endpoint on one kept-alive connection: half of the values held,
  half not; every answer is checked (one block for a held value, none for the others);
- `taxii-mirror lookup VALUE` as a person runs it (process start included);
- the baseline: answering the same question without the index, by polling the whole
  collection over HTTPS (raw TAXII 1.1, every part) and searching the content, which is
  what a team without lookup does today.

Standard library only. Everything binds 127.0.0.1 and is stopped at the end.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

NS = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"
PASSWORD = "bench password"
WARMUP = 20


def value(i):
    """The i-th generated value: domain, IPv4, URL, MD5, SHA-256 in turn."""
    kind = i % 5
    if kind == 0:
        return f"h{i:07x}.zone{i % 97}.example"
    if kind == 1:
        n = i // 5
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    if kind == 2:
        return f"http://u{i}.example.net/p/{i * 7919 % 100003}"
    if kind == 3:
        return hashlib.md5(str(i).encode()).hexdigest()
    return hashlib.sha256(str(i).encode()).hexdigest()


def run(binary, *args, stdin=None):
    r = subprocess.run([str(binary), *map(str, args)], input=stdin, capture_output=True,
                       text=True, timeout=3600)
    if r.returncode != 0:
        sys.exit(f"taxii-mirror {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}")
    return r.stdout


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def fill_setup(binary, work, args):
    """Certificates, config and the list files of a new run."""
    run(binary, "make-ca", "--dir", work / "pki")
    run(binary, "make-cert", "--ca-dir", work / "pki", "--out", work / "pki/server", "127.0.0.1")
    pw_hash = run(binary, "hash-password", stdin=PASSWORD).strip()
    data = work / "data"
    (work / "config.toml").write_text(f"""data_dir = "{data}"
[listen]
https = "127.0.0.1:0"
cert = "{work}/pki/server.crt"
key = "{work}/pki/server.key"
[admin]
listen = "127.0.0.1:0"
[[user]]
name = "bench"
password_hash = "{pw_hash}"
[[collection]]
name = "blocklist"
read = ["bench"]
write = ["bench"]
import_package_size = 1000
""")

    n = args.indicators
    per_file = -(-n // args.files)
    for f in range(args.files):
        path = work / f"list-{f:02d}.txt"
        with path.open("w") as out:
            for i in range(f * per_file, min(n, (f + 1) * per_file)):
                out.write(value(i) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--cli-lookups", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reuse", action="store_true",
                    help="keep the store of the last run with the same --indicators")
    args = ap.parse_args()
    binary = Path(args.bin)
    work = Path(args.work)
    stamp = work / "filled"
    reuse = args.reuse and stamp.exists() and stamp.read_text() == str(args.indicators)
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    rng = random.Random(args.seed)

    if not reuse:
        fill_setup(binary, work, args)
    data = work / "data"
    n = args.indicators
    files = sorted(work.glob("list-*.txt"))
    per_file = -(-n // args.files)

    log = (work / "server.log").open("wb")
    # The admin module's debug lines carry each lookup's time inside the server (`us=`).
    env = dict(os.environ, RUST_LOG="info,server::admin=debug")
    server = subprocess.Popen([str(binary), "serve", "--config", str(work / "config.toml")],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=env)
    try:
        https = None
        deadline = time.monotonic() + 60
        while https is None or not (data / "admin.addr").exists():
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("server did not start:\n" + (work / "server.log").read_text())
            m = re.search(r'kind="?https"? addr=(\S+)',
                          re.sub(r"\x1b\[[0-9;]*m", "", (work / "server.log").read_text()))
            https = m.group(1) if m else None
            time.sleep(0.05)

        import_s = None
        if not reuse:
            t = time.perf_counter()
            for path in files:
                out = run(binary, "import", "blocklist", path, "--data", data)
                if "added" not in out:
                    sys.exit(out)
            import_s = time.perf_counter() - t
            stamp.write_text(str(n))
        status = run(binary, "status", "--data", data)
        size_mb = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 1e6

        addr = (data / "admin.addr").read_text().strip()
        token = (data / "admin.token").read_text().strip()
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Authorization": f"Bearer {token}"}
        queries = [(value(rng.randrange(n)), 1) for _ in range(args.lookups // 2)]
        queries += [(value(n + rng.randrange(n)), 0) for _ in range(args.lookups - len(queries))]
        rng.shuffle(queries)
        # Warm the connection and the page cache of the first pages.
        for q, _ in queries[:WARMUP]:
            conn.request("GET", "/admin/lookup?" + urllib.parse.urlencode({"value": q}),
                         headers=headers)
            conn.getresponse().read()
        times = []
        for q, want in queries:
            t = time.perf_counter()
            conn.request("GET", "/admin/lookup?" + urllib.parse.urlencode({"value": q}),
                         headers=headers)
            r = conn.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t) * 1000)
            hits = len(json.loads(body)["hits"]) if r.status == 200 else -1
            if hits != want:
                sys.exit(f"lookup {q}: {hits} hits, expected {want}: {body[:300]!r}")
        over = sum(1 for x in times if x > 10)
        print(f"slowest lookups (ms): {sorted(times)[-10:]}; over 10 ms: {over}",
              file=sys.stderr)
        times.sort()

        cli = []
        for q, _ in queries[: args.cli_lookups]:
            t = time.perf_counter()
            run(binary, "lookup", q, "--data", data)
            cli.append((time.perf_counter() - t) * 1000)
        cli.sort()

        # Baseline: poll everything over HTTPS and search the content for one held value.
        target = value(rng.randrange(n)).encode()
        ctx = ssl.create_default_context(cafile=str(work / "pki/ca.crt"))
        hconn = http.client.HTTPSConnection(https.split(":")[0], int(https.rsplit(":", 1)[1]),
                                            context=ctx, timeout=600)
        auth = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        taxii_headers = {
            "Content-Type": "application/xml", "Authorization": f"Basic {auth}",
            "X-TAXII-Content-Type": "urn:taxii.mitre.org:message:xml:1.1",
            "X-TAXII-Accept": "urn:taxii.mitre.org:message:xml:1.1",
            "X-TAXII-Services": "urn:taxii.mitre.org:services:1.1",
            "X-TAXII-Protocol": "urn:taxii.mitre.org:protocol:https:1.0",
        }
        t = time.perf_counter()
        found, total_bytes, part = 0, 0, 1
        body = (f'<Poll_Request xmlns="{NS}" message_id="{uuid.uuid4()}" '
                'collection_name="blocklist"><Poll_Parameters allow_asynch="false">'
                "<Response_Type>FULL</Response_Type></Poll_Parameters></Poll_Request>")
        while True:
            hconn.request("POST", "/services/poll", body=body.encode(), headers=taxii_headers)
            resp = hconn.getresponse().read()
            total_bytes += len(resp)
            found += resp.count(target)
            head = resp[:2000].decode(errors="replace")
            if 'more="true"' not in head and "more='true'" not in head:
                break
            result_id = re.search(r'result_id="([^"]+)"', head).group(1)
            part += 1
            body = (f'<Poll_Fulfillment xmlns="{NS}" message_id="{uuid.uuid4()}" '
                    f'collection_name="blocklist" result_id="{result_id}" '
                    f'result_part_number="{part}"/>')
        scan_ms = (time.perf_counter() - t) * 1000
        if found == 0:
            sys.exit(f"baseline did not find {target!r}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    p50, p99 = pct(times, 50), pct(times, 99)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", (work / "server.log").read_text())
    logged = [int(us) / 1000 for us in re.findall(r"lookup\b[^\n]* us=(\d+)", plain)]
    # In log order: the warm-up, the measured lookups, then the command-line ones.
    inside = sorted(logged[WARMUP:WARMUP + len(times)])
    blocks = re.search(r"collection blocklist: (\d+) blocks", status)
    lines = [
        f"## Lookup ({time.strftime('%Y-%m-%d', time.gmtime())}, `bench/lookup`)",
        "",
        f"Store: {n:,} indicators (domains, IPv4, URLs, MD5, SHA-256 in equal parts) in "
        f"{blocks.group(1) if blocks else '?'} packages of 1,000, imported with "
        f"`taxii-mirror import` ({args.files} files); {size_mb:,.0f} MB on disk.",
        f"Lookups: {len(times)} through the admin endpoint on one connection, half of the "
        "values held, half not, every answer checked.",
        "",
        "| figure | value | baseline | ratio |",
        "|---|---|---|---|",
        f"| lookup p50 (admin endpoint) | {p50:.2f} ms | full poll and search over HTTPS "
        f"{scan_ms:,.0f} ms ({total_bytes / 1e6:,.0f} MB, {part} parts) | {scan_ms / p50:,.0f}x |",
        f"| lookup p99 (admin endpoint) | {p99:.2f} ms | same | {scan_ms / p99:,.0f}x |",
        f"| lookup max | {times[-1]:.2f} ms | target 10 ms | {10 / times[-1]:.1f}x |",
        f"| lookup work inside the server p50 / p99 / max | {pct(inside, 50):.3f} / "
        f"{pct(inside, 99):.3f} / {inside[-1]:.3f} ms | target 10 ms | "
        f"{10 / pct(inside, 99):,.0f}x (p99) |",
        f"| `taxii-mirror lookup` p50 (process start included, {len(cli)} runs) | "
        f"{pct(cli, 50):.1f} ms | same | {scan_ms / pct(cli, 50):,.0f}x |",
        f"| import throughput | {n / import_s:,.0f} values/s ({import_s:.1f} s) | | |"
        if import_s else "| import throughput | (store of an earlier run) | | |",
        "",
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (work.parent / "lookup.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
