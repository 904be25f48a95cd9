"""Operations: /healthz, /readyz and /metrics on the admin listener, certificate checks and
reloads under load, JSON logs."""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from builders import discovery_request, poll_request
from conftest import PASSWORD, Server, binary_path, make_config, run_bin, toml_str
from packages import pkg
from taxii import check, count, poll_all, push


def get(server, path, **kw):
    return requests.get(f"http://{server.addrs['admin']}{path}", timeout=10, **kw)


def samples(server):
    """Every sample of /metrics as {(name, frozenset(labels)): value}, parsed by the
    Prometheus client's own parser."""
    r = get(server, "/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())))


def source_lines(name, collection, poll_url, **extra):
    lines = ["[[source]]", f"name = {toml_str(name)}", 'kind = "taxii11"',
             f"collection = {toml_str(collection)}", f"poll_url = {toml_str(poll_url)}",
             'upstream_collection = "feed"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_ready_and_metrics_on_the_admin_listener_only(pki, password_hash, tmp_path):
    dead = f"https://127.0.0.1:{dead_port()}/services/poll"
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"feed": dict(read=["esa"], write=["esa"]),
                                    "other": dict(read=["reader"], write=[])})
    text += source_lines("off", "other", dead, enabled="false")
    text += source_lines("broken", "other", dead, backoff_initial_secs="0.05",
                         backoff_max_secs="0.2", min_window_secs="3600")
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    try:
        assert get(s, "/healthz").text == "ok\n"
        r = get(s, "/readyz")
        assert r.status_code == 503
        assert "source broken" in r.text and "source off" not in r.text, r.text
        # Open to anyone who reaches the listener; admin calls still need the token.
        assert get(s, "/admin/status").status_code == 401
        # Never on the TAXII port.
        r = requests.get(f"{s.base}/metrics", verify=s.ca, timeout=10)
        assert r.status_code == 404 and "taxii_mirror" not in r.text

        esa = s.client()
        contents = [pkg(n, "metrics") for n in range(5)]
        push(esa, "feed", contents)
        polled = poll_all(esa, "feed")
        assert len(polled.blocks) == 5
        assert count(esa, "feed") == 5
        stranger = s.client("esa", "wrong password")
        assert stranger.post("/services/poll", poll_request("feed")).status == "UNAUTHORIZED"
        # A made-up collection name never becomes a label value.
        assert s.client().post("/services/poll", poll_request("made-up-name")).status == "NOT_FOUND"

        deadline = time.monotonic() + 20
        while True:
            found = samples(s)
            if (value(found, "taxii_mirror_source_failures_total", source="broken") or 0) >= 2:
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.2)

        req = "taxii_mirror_requests_total"
        assert value(found, req, message="Inbox_Message", collection="feed", user="esa",
                     status="SUCCESS") == 1
        assert value(found, req, message="Poll_Request", collection="feed", user="esa",
                     status="SUCCESS") == 2
        assert value(found, req, message="Poll_Request", collection="-", user="-",
                     status="UNAUTHORIZED") == 1
        assert value(found, req, message="Poll_Request", collection="-", user="esa",
                     status="NOT_FOUND") == 1
        assert not any("made-up-name" in str(k) for k in found)
        assert value(found, "taxii_mirror_polls_total", collection="feed", user="esa",
                     status="SUCCESS") == 2
        assert value(found, "taxii_mirror_blocks_served_total", collection="feed", user="esa") == 5
        assert value(found, "taxii_mirror_bytes_served_total", collection="feed",
                     user="esa") == sum(len(c.encode()) for c in contents)
        assert value(found, "taxii_mirror_collection_blocks", collection="feed") == 5
        assert value(found, "taxii_mirror_collection_blocks", collection="other") == 0
        assert value(found, "taxii_mirror_store_size_bytes") > 0
        assert value(found, "taxii_mirror_source_runs_total", source="broken") >= 2
        assert value(found, "taxii_mirror_source_consecutive_failures", source="broken") >= 2
        assert value(found, "taxii_mirror_source_enabled", source="off") == 0
        assert value(found, "taxii_mirror_source_state", source="off", state="disabled") == 1
        assert value(found, "taxii_mirror_source_runs_total", source="off") == 0
        assert value(found, "taxii_mirror_source_interval_seconds", source="broken") == 3600
        assert value(found, "taxii_mirror_up") == 1
    finally:
        s.stop()


def test_ready_once_every_enabled_source_has_mirrored(make_server, pki, password_hash,
                                                      tmp_path, monkeypatch):
    upstream = make_server("ready-up", collections={"feed": dict(read=["esa"], write=["esa"])})
    push(upstream.client(), "feed", [pkg(n, "ready") for n in range(3)])
    monkeypatch.setenv("READY_TEST_PASSWORD", PASSWORD)
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"copy": dict(read=["esa"], write=[])})
    text += source_lines("up", "copy", upstream.base + "/services/poll", username='"esa"',
                         password_env='"READY_TEST_PASSWORD"', ca_file=toml_str(pki["ca"]),
                         backfill_days=1, window_days=1)
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    try:
        deadline = time.monotonic() + 30
        while get(s, "/readyz").status_code != 200:
            assert time.monotonic() < deadline, get(s, "/readyz").text
            time.sleep(0.1)
        assert get(s, "/readyz").text == "ready\n"
        found = samples(s)
        assert value(found, "taxii_mirror_source_blocks_total", source="up") == 3
        assert value(found, "taxii_mirror_source_indicators_total", source="up") == 3
        assert value(found, "taxii_mirror_source_runs_total", source="up") == 1
        assert value(found, "taxii_mirror_source_failures_total", source="up") == 0
        last = value(found, "taxii_mirror_source_last_success_timestamp_seconds", source="up")
        assert abs(last - time.time()) < 60
    finally:
        s.stop()


def test_key_readable_by_others_or_not_matching_is_refused_in_one_line(pki, password_hash,
                                                                       tmp_path):
    exposed = tmp_path / "exposed.key"
    shutil.copy(pki["key"], exposed)
    os.chmod(exposed, 0o644)
    other = tmp_path / "other"
    run_bin("make-cert", "--ca-dir", pki["dir"], "--out", other, "localhost")
    cases = {
        "readable by group or others": dict(pki, key=str(exposed)),
        "does not match": dict(pki, key=str(other.with_suffix(".key"))),
    }
    for why, certs in cases.items():
        config = tmp_path / f"{why[:4]}.toml"
        config.write_text(make_config(tmp_path / "data", certs, password_hash))
        r = run_bin("check-config", config, check=False)
        assert r.returncode == 64, r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and certs["key"] in lines[0], r.stderr
        r = run_bin("serve", "--config", config, check=False, timeout=30)
        assert r.returncode != 0
        refusals = [line for line in r.stderr.splitlines() if why in line]
        assert len(refusals) == 1, r.stderr


def fingerprint(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def new_cert(pki, folder, name):
    """A fresh certificate and key for localhost, signed by the test CA."""
    out = Path(folder) / name
    run_bin("make-cert", "--ca-dir", pki["dir"], "--out", out, "localhost", "127.0.0.1")
    return out.with_suffix(".crt"), out.with_suffix(".key")


def test_certificate_reloads_under_load_without_a_failed_request(pki, password_hash, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    crt, key = live / "server.crt", live / "server.key"
    first = new_cert(pki, live, "server")
    assert first == (crt, key)
    certs = dict(pki, cert=str(crt), key=str(key))
    text = make_config(tmp_path / "data", certs, password_hash).replace(
        "[admin]", "cert_check_secs = 0.3\n[admin]")
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def load(fresh_connections):
        client = s.client()
        while not stop.is_set():
            try:
                if fresh_connections:
                    client.session.close()
                r = client.post("/services/discovery", discovery_request())
                ok = r.http == 200 and r.name == "Discovery_Response"
                with lock:
                    if ok:
                        results["ok"] += 1
                    else:
                        results["failed"].append(f"HTTP {r.http}")
            except Exception as e:  # every failure is counted, none ignored
                with lock:
                    results["failed"].append(repr(e))

    threads = [threading.Thread(target=load, args=(i % 2 == 0,)) for i in range(4)]
    try:
        original = fingerprint(s.port, s.ca)
        for t in threads:
            t.start()
        time.sleep(1)

        # 1. The files change in place (new files renamed over the old ones).
        staged_crt, staged_key = new_cert(pki, tmp_path, "second")
        os.replace(staged_key, key)
        os.replace(staged_crt, crt)
        deadline = time.monotonic() + 15
        while fingerprint(s.port, s.ca) == original:
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.1)
        second = fingerprint(s.port, s.ca)
        assert 'trigger="file change"' in s.log()

        # 2. A certificate whose key is not there yet: refused, the current one stays.
        stray_crt, _ = new_cert(pki, tmp_path, "stray")
        shutil.copy(stray_crt, crt)
        os.kill(s.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "certificate reload failed" not in s.log():
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.1)
        assert fingerprint(s.port, s.ca) == second

        # 3. SIGHUP after a complete change.
        staged_crt, staged_key = new_cert(pki, tmp_path, "third")
        os.replace(staged_key, key)
        os.replace(staged_crt, crt)
        os.kill(s.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while fingerprint(s.port, s.ca) in (original, second):
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.1)
        assert 'trigger="SIGHUP"' in s.log()
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(timeout=30)
        alive = s.alive()
        s.stop()
    assert alive, "the server ended during the reloads"
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 50, results
    found_ok = s.log().count("certificate reloaded")
    assert found_ok >= 2, s.log()[-2000:]


def run_json(config, level, log):
    """Start `serve` with JSON logs at `level`, wait until it serves, stop it; the records."""
    env = dict(os.environ, RUST_LOG=level)
    addr_file = Path(config).parent / "data" / "admin.addr"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(binary_path()), "--log-format", "json", "serve", "--config",
                                 str(config)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not addr_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert requests.get(f"http://{addr_file.read_text()}/healthz", timeout=10).ok
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_json_logs_and_rust_log_level(pki, password_hash, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(make_config(tmp_path / "data", pki, password_hash))
    records = run_json(config, "debug", tmp_path / "debug.log")
    levels = {r["level"] for r in records}
    assert "DEBUG" in levels and "INFO" in levels, levels
    messages = [r["fields"]["message"] for r in records]
    assert "listening" in messages and "stopped" in messages
    assert PASSWORD not in (tmp_path / "debug.log").read_text()

    records = run_json(config, "warn", tmp_path / "warn.log")
    assert all(r["level"] in ("WARN", "ERROR") for r in records), records


def test_a_poll_dropped_mid_way_is_counted_abandoned_and_frees_the_store_pool(
        pki, password_hash, tmp_path):
    """A client that reads the start of a large part and hangs up: the server stops writing,
    logs and counts the poll as abandoned, and (its store pool of one thread being free
    again) goes on answering polls."""
    from packages import pkg_with_description
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"feed": dict(read=["esa"], write=["esa"])},
                       limits={"max_blocks_per_part": 5000, "max_bytes_per_part": 64 << 20})
    text = text.replace('[admin]', 'store_threads = 1\n[admin]', 1)
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    try:
        esa = s.client()
        filler = "x" * 8000
        for start in range(0, 1500, 500):
            push(esa, "feed", [pkg_with_description(n, filler, "drop")
                               for n in range(start, start + 500)])
        session = requests.Session()
        session.trust_env = False
        for _ in range(3):
            r = session.post(f"{s.base}/services/poll", data=poll_request("feed").body,
                             headers=esa.headers(), verify=s.ca, stream=True, timeout=30)
            assert r.status_code == 200
            assert b"Poll_Response" in r.raw.read(65536)
            r.close()
            session.close()
            session = requests.Session()
            session.trust_env = False
        deadline = time.monotonic() + 20
        while (value(samples(s), "taxii_mirror_polls_total", collection="feed", user="esa",
                     status="ABANDONED") or 0) < 3:
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.2)
        assert s.log().count("poll abandoned by the client") == 3
        # Every part still comes whole afterwards (12 MB through the one store thread).
        polled = poll_all(esa, "feed")
        assert len(polled.blocks) == 1500
    finally:
        s.stop()
