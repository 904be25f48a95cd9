"""Graceful stop on SIGTERM: polls in flight are finished, the mirror commits or drops its
current batch whole, and a restart goes on without losing or duplicating a block."""

import random
import re
import signal
import socket
import time

import requests
from lxml import etree

from builders import poll_request
from conftest import PASSWORD, Server, make_config
from taxii import push
from test_mirror_kill import BLOCKS, mirror_config, package


def test_sigterm_mid_ingest_then_restart_loses_and_duplicates_nothing(
        make_server, pki, password_hash, tmp_path, monkeypatch):
    upstream = make_server("stop-up", collections={"feed": dict(read=["esa"], write=["esa"])})
    esa = upstream.client()
    for n in range(BLOCKS):
        push(esa, "feed", [package(n)])
        time.sleep(0.05)

    monkeypatch.setenv("KILL_TEST_UPSTREAM_PASSWORD", PASSWORD)
    folder = tmp_path / "mirror"
    mirror = Server(folder, mirror_config(folder, pki, password_hash, upstream), pki["ca"])
    served = re.compile(r'served poll user="esa" collection="feed"[^\n]*blocks=[1-9]')
    rng = random.Random()
    plan = [rng.randint(1, 12) for _ in range(3)]
    seen = []
    for i, windows in enumerate(plan):
        mirror.addrs, mirror.log_path = {}, folder / f"run-{i}.log"
        before = len(served.findall(upstream.log()))
        mirror.start()
        deadline = time.monotonic() + 30
        while (len(served.findall(upstream.log())) - before < windows
               and "observables were fetched" not in mirror.log()
               and time.monotonic() < deadline):
            time.sleep(0.005)
        started = time.monotonic()
        mirror.terminate()
        assert mirror.wait_or_kill(30), "no stop within 30 s of SIGTERM"
        took = time.monotonic() - started
        assert mirror.proc.returncode == 0, mirror.log()[-2000:]
        assert took < 25, took
        log = mirror.log()
        assert 'stopping: finishing requests in flight' in log and "stopped" in log
        seen.append(len(served.findall(upstream.log())) - before)

    mirror.addrs, mirror.log_path = {}, folder / "final.log"
    mirror.start()
    try:
        deadline = time.monotonic() + 90
        while "observables were fetched from the source: up" not in mirror.log():
            assert time.monotonic() < deadline, mirror.log()[-3000:]
            time.sleep(0.2)
        from taxii import poll_all
        ids = poll_all(mirror.client(), "copy").ids
        assert sorted(ids) == [f"test:Package-kill-{n:04d}" for n in range(BLOCKS)], (plan, seen)
        assert len(ids) == BLOCKS
    finally:
        mirror.stop()
    assert any(n > 0 for n in seen), f"no stop landed after a non-empty window ({plan}, {seen})"


def test_sigterm_finishes_a_poll_in_flight_and_refuses_new_connections(pki, password_hash,
                                                                       tmp_path):
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"big": dict(read=["esa"], write=["esa"])},
                       limits={"max_blocks_per_part": 100000, "max_bytes_per_part": 1 << 30})
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    try:
        filler = "x" * 60000
        contents = [f'<test:Big xmlns:test="http://example.test/ns" n="{n}">{filler}</test:Big>'
                    for n in range(300)]
        client = s.client()
        for i in range(0, len(contents), 50):
            push(client, "big", contents[i:i + 50])

        body = poll_request("big").body
        r = requests.post(s.base + "/services/poll", data=body, headers=client.headers(),
                          verify=s.ca, stream=True, timeout=60)
        assert r.status_code == 200
        chunks = r.iter_content(chunk_size=16384)
        received = [next(chunks)]
        s.terminate()
        time.sleep(0.5)
        # The listener is closed: a new connection is refused while the poll goes on.
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
            refused = False
        except OSError:
            refused = True
        for chunk in chunks:
            received.append(chunk)
            time.sleep(0.002)
        root = etree.fromstring(b"".join(received))
        blocks = root.findall("{http://taxii.mitre.org/messages/taxii_xml_binding-1.1}Content_Block")
        assert len(blocks) == 300
        assert refused, "a connection was accepted after SIGTERM"
        assert s.wait_or_kill(30)
        assert s.proc.returncode == 0
        log = s.log()
        # The server was still writing the poll when it was asked to stop.
        assert log.index("stopping: finishing requests") < log.index("served poll"), log[-2000:]
        assert "stopped" in log
    finally:
        if s.alive():
            s.proc.kill()
