"""A bounded soak: mixed polls, inbox pushes and mirror runs, with faults, then `verify`.

Two servers on 127.0.0.1: an upstream that receives pushes into `feed`, and a mirror that
pulls `feed` into `copy` every few seconds and also takes pushes into `own`. During the run:
- pollers poll both servers (small windows, full polls, COUNT_ONLY);
- pushers push packages into the upstream's `feed` and the mirror's `own`;
- some requests are hostile (bad XML; wrong passwords from 127.0.0.2, an address of its
  own, since failed logins throttle their address) and must be refused;
- every `--kill-every` seconds the mirror is killed with SIGKILL and restarted.
At the end both servers stop, `taxii-mirror verify` must find both stores consistent, the
mirror's `copy` must hold every block of `feed` exactly once, and the upstream's RSS (it is
never restarted) must be flat: the mean of the last quarter of samples within 15% (and
16 MB) of the mean of the second quarter. Prints one line of figures; exit 1 on a failure.
"""

import argparse
import atexit
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from builders import content_block, inbox_message, poll_request  # noqa: E402
from conftest import PASSWORD, Server, make_config, toml_str  # noqa: E402
from packages import pkg  # noqa: E402
from taxii import Client, count, poll_all  # noqa: E402
from test_hostile_http import basic, post_from  # noqa: E402


def binary():
    return os.environ.get("TAXII_MIRROR_BIN", str(ROOT / "target" / "release" / "taxii-mirror"))


def run(*args, **kw):
    return subprocess.run([binary(), *map(str, args)], capture_output=True, text=True, **kw)


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def kill_left(servers):
    for s in servers:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--kill-every", type=float, default=45)
    ap.add_argument("--pollers", type=int, default=4)
    ap.add_argument("--pushers", type=int, default=2)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="taxii-mirror-soak-"))
    pki = work / "pki"
    run("make-ca", "--dir", pki, check=True)
    run("make-cert", "--ca-dir", pki, "--out", pki / "server", "127.0.0.1", check=True)
    pki = {"ca": str(pki / "ca.crt"), "cert": str(pki / "server.crt"),
           "key": str(pki / "server.key")}
    pw_hash = run("hash-password", input=PASSWORD, check=True).stdout.strip()

    up = Server(work / "upstream", make_config(work / "upstream" / "data", pki, pw_hash,
                                               users=["esa"],
                                               collections={"feed": dict(read=["esa"], write=["esa"])}),
                pki["ca"]).start()
    os.environ["SOAK_UPSTREAM_PASSWORD"] = PASSWORD
    mirror_text = make_config(work / "mirror" / "data", pki, pw_hash, users=["esa"],
                              collections={"copy": dict(read=["esa"], write=[]),
                                           "own": dict(read=["esa"], write=["esa"])})
    mirror_text += "\n".join([
        "[[source]]", 'name = "up"', 'kind = "taxii11"', 'collection = "copy"',
        f"poll_url = {toml_str(up.base + '/services/poll')}", 'upstream_collection = "feed"',
        'username = "esa"', 'password_env = "SOAK_UPSTREAM_PASSWORD"',
        f"ca_file = {toml_str(pki['ca'])}", "backfill_days = 1", "window_days = 1",
        "interval_secs = 3", "backoff_initial_secs = 0.2", "backoff_max_secs = 2"]) + "\n"
    mirror = Server(work / "mirror", mirror_text, pki["ca"])
    # Whatever happens (a failed assertion included), no server outlives the soak.
    atexit.register(kill_left, [up, mirror])
    mirror_lock = threading.Lock()
    runs = 0

    def start_mirror():
        nonlocal runs
        runs += 1
        mirror.addrs, mirror.log_path = {}, work / "mirror" / f"run-{runs}.log"
        mirror.start()

    start_mirror()
    stop = threading.Event()
    errors = []
    stats = {"polls": 0, "pushes": 0, "refused": 0, "transport_errors": 0}
    serial = iter(range(1, 10_000_000))
    serial_lock = threading.Lock()

    def note(key):
        with serial_lock:
            stats[key] += 1

    def mirror_client():
        with mirror_lock:
            return Client(mirror.base, mirror.ca, "esa", PASSWORD, timeout=30)

    def poller(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                target = rng.choice(["up", "copy", "own"])
                c = up.client() if target == "up" else mirror_client()
                coll = {"up": "feed", "copy": "copy", "own": "own"}[target]
                kind = rng.random()
                if kind < 0.5:
                    r = c.post("/services/poll", poll_request(coll, response_type="COUNT_ONLY"))
                elif kind < 0.8:
                    r = c.post("/services/poll", poll_request(coll))
                elif kind < 0.9:
                    r = c.post("/services/poll", b"<not-xml")
                    if r.status != "BAD_MESSAGE":
                        errors.append(f"bad XML got {r.status}")
                    note("refused")
                    continue
                else:
                    # From another loopback address: the guesser's address is throttled,
                    # the legitimate clients' (and the mirror's) is not.
                    with mirror_lock:
                        srv = up if target == "up" else mirror
                    r = post_from(srv, "127.0.0.2", poll_request(coll).body,
                                  basic("esa", "wrong password"))
                    if r.status != "UNAUTHORIZED":
                        errors.append(f"wrong password got {r.name} {r.status}")
                    note("refused")
                    continue
                if r.http != 200:
                    errors.append(f"poll {coll}: HTTP {r.http}")
                note("polls")
            except Exception:  # the mirror is being restarted
                note("transport_errors")
                time.sleep(0.2)

    def pusher(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            with serial_lock:
                numbers = [next(serial) for _ in range(rng.randint(1, 20))]
            to_mirror = rng.random() < 0.3
            try:
                c = mirror_client() if to_mirror else up.client()
                coll = "own" if to_mirror else "feed"
                msg = inbox_message([content_block(pkg(n, "soak")) for n in numbers], [coll])
                r = c.post("/services/inbox", msg)
                if r.status != "SUCCESS":
                    errors.append(f"push to {coll}: {r.status}")
                note("pushes")
            except Exception:
                note("transport_errors")
                time.sleep(0.2)
            time.sleep(rng.uniform(0, 0.2))

    threads = [threading.Thread(target=poller, args=(i,), daemon=True)
               for i in range(args.pollers)]
    threads += [threading.Thread(target=pusher, args=(100 + i,), daemon=True)
                for i in range(args.pushers)]
    for t in threads:
        t.start()

    started = time.monotonic()
    samples = []
    next_kill = started + args.kill_every
    kills = 0
    while time.monotonic() - started < args.seconds:
        time.sleep(1)
        samples.append(rss_kb(up.proc.pid))
        if not up.alive():
            errors.append("the upstream server died")
            break
        if time.monotonic() >= next_kill:
            with mirror_lock:
                mirror.proc.kill()
                mirror.wait_or_kill(10)
                start_mirror()
            kills += 1
            next_kill = time.monotonic() + args.kill_every
    stop.set()
    for t in threads:
        t.join(60)

    # Let the mirror catch up with the last pushes, then compare.
    esa_up = up.client()
    fed = count(esa_up, "feed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and count(mirror_client(), "copy") < fed:
        time.sleep(1)
    copy_ids = poll_all(mirror_client(), "copy", max_parts=10_000).ids
    feed_ids = poll_all(esa_up, "feed", max_parts=10_000).ids
    if sorted(copy_ids) != sorted(set(feed_ids)):
        errors.append(f"copy has {len(copy_ids)} blocks ({len(set(copy_ids))} distinct), "
                      f"feed {len(feed_ids)}")
    up.stop(20)
    mirror.stop(20)
    verified = {}
    for name in ("upstream", "mirror"):
        r = run("verify", "--deep", work / name / "data")
        verified[name] = "consistent" if r.returncode == 0 else "PROBLEMS"
        if r.returncode != 0:
            errors.append(f"verify {name}: {r.stdout[-2000:]} {r.stderr[-2000:]}")

    # The first quarter is warm-up (caches and pools fill); start, middle and end are the
    # means of the second, third and last quarters.
    q = max(1, len(samples) // 4)
    early = statistics.mean(samples[q:2 * q]) if len(samples) >= 4 else 0
    middle = statistics.mean(samples[2 * q:3 * q]) if len(samples) >= 4 else 0
    late = statistics.mean(samples[-q:]) if samples else 0
    if early and (late > early * 1.15 and late - early > 16 * 1024):
        errors.append(f"upstream RSS grew from {early / 1024:.0f} MB to {late / 1024:.0f} MB")
    figures = dict(stats, seconds=round(time.monotonic() - started), mirror_kills=kills,
                   blocks_fed=len(feed_ids), blocks_copied=len(copy_ids),
                   rss_mb_first_sample=round(samples[0] / 1024, 1) if samples else None,
                   rss_mb_start=round(early / 1024, 1),
                   rss_mb_middle=round(middle / 1024, 1),
                   rss_mb_end=round(late / 1024, 1),
                   rss_ratio_end_to_start=round(late / early, 3) if early else None,
                   verify=verified,
                   errors=len(errors), work=str(work))
    print(json.dumps(figures))
    for e in errors[:20]:
        print("soak: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
