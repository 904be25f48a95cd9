"""The disk filling up during ingest. The store's folder lives on a small tmpfs and inbox
pushes fill it:

- with the free-space reserve (`limits.min_free_mb`, on by default) the push that does not
  fit gets a TAXII Status_Message of type FAILURE saying the disk is full, one `error` line
  names the cause, polls go on, and once space returns (the tmpfs is remounted larger) pushes
  are stored again without a restart;
- without it (`min_free_mb = 0`) the kernel's ENOSPC reaches the segment writer and then
  sled itself: each push still gets FAILURE, nothing half-written is ever served, `/readyz`
  says writes fail until a restart, and after a restart with space the store verifies clean
  and takes the refused pushes.

A mirror back-fill that meets the reserve logs an `error`, keeps what it stored, and
completes by itself once space returns.

Every case ends with `taxii-mirror verify --deep` clean and a poll that returns each block
the server acknowledged exactly once. Mounting needs root (the tests run as root here and in
CI); a refused mount fails the test.
"""

import random
import string
import subprocess
import time

import pytest
import requests

from builders import content_block, inbox_message, poll_request
from conftest import PASSWORD, Server, make_config, run_bin, toml_str
from packages import pkg
from taxii import check, poll_all

SMALL = "16m"
LARGER = "96m"
BLOCKS_PER_PUSH = 8
TEXT_BYTES = 24_000  # per block: a push is about 200 KB
TAG = "full"


def mount(point, size, remount=False):
    if remount:
        args = ["mount", "-o", f"remount,size={size}", str(point)]
    else:
        args = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point)]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"this test needs to mount a small tmpfs (run it as root): "
                    f"{' '.join(args)}: {r.stderr.strip()}")


def umount(point):
    r = subprocess.run(["umount", str(point)], capture_output=True, text=True)
    assert r.returncode == 0, f"umount {point}: {r.stderr}"


def big(n, rng):
    # Random letters in the title: nothing on the way from the push to the disk makes them
    # smaller. One indicator, so that a mirror keeps the package too.
    text = "".join(rng.choices(string.ascii_letters, k=TEXT_BYTES))
    return content_block(pkg(n, TAG, title=text))


def small(n):
    return content_block(pkg(n, TAG))


def push(client, blocks, collection=TAG):
    return check(client.post("/services/inbox", inbox_message(blocks, [collection])))


def stored_numbers(client):
    ids = poll_all(client, TAG).ids
    numbers = [int(i.rsplit(TAG, 1)[1]) for i in ids]
    assert len(numbers) == len(set(numbers)), "a block is served twice"
    return set(numbers)


def fill_until_refused(server, rng, first, disk=None, sizes=None):
    """Push big blocks until a push is refused: (acknowledged numbers, refused numbers).

    `sizes`, when given, gets the bytes of the segment files on `disk` before each push."""
    client = server.client()
    client.timeout = 60
    acknowledged, n = [], first
    for _ in range(400):
        numbers = list(range(n, n + BLOCKS_PER_PUSH))
        n += BLOCKS_PER_PUSH
        if sizes is not None:
            sizes.append(segment_bytes(disk))
        r = push(client, [big(i, rng) for i in numbers])
        if r.status == "SUCCESS":
            acknowledged += numbers
            continue
        assert r.status == "FAILURE", r.raw[:500]
        return acknowledged, numbers, r
    raise AssertionError(f"{len(acknowledged)} blocks fit in {SMALL}: the disk never filled")


def stored_numbers_unless_failed(client):
    """The numbers a poll shows, or None when the poll is answered with FAILURE."""
    r = check(client.post("/services/poll", poll_request(TAG)))
    if r.name == "Status_Message":
        assert r.status == "FAILURE", r.raw[:500]
        return None
    return stored_numbers(client)


def segment_bytes(disk):
    return sum(f.stat().st_size for f in (disk / "data" / "segments").glob("*.seg"))


def error_lines(server, *words):
    return [ln for ln in server.log().splitlines()
            if " ERROR " in ln and all(w in ln for w in words)]


def verify_deep(data_dir):
    r = run_bin("verify", "--deep", data_dir, check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith(": consistent"), r.stdout + r.stderr


@pytest.fixture
def disk(tmp_path):
    point = tmp_path / "disk"
    point.mkdir()
    mount(point, SMALL)
    try:
        yield point
    finally:
        umount(point)


def start(tmp_path, disk, pki, password_hash, min_free_mb):
    text = make_config(disk / "data", pki, password_hash,
                       collections={TAG: dict(read=["esa"], write=["esa"])},
                       limits={"min_free_mb": min_free_mb})
    return Server(tmp_path / "srv", text, pki["ca"]).start()


def test_disk_full_with_the_reserve_refuses_pushes_and_resumes_without_restart(
        disk, tmp_path, pki, password_hash):
    server = start(tmp_path, disk, pki, password_hash, min_free_mb=4)
    try:
        rng = random.Random(8)
        acknowledged, refused, failure = fill_until_refused(server, rng, 0)
        assert "disk is full" in (failure.text("Message") or ""), failure.raw[:500]
        assert error_lines(server, "request failed", "disk full", "must leave 4194304 free"), \
            server.log()[-2000:]
        # Still full: the same push is refused again, and polls go on.
        client = server.client()
        assert push(client, [big(i, rng) for i in refused]).status == "FAILURE"
        assert stored_numbers(client) == set(acknowledged)
        assert server.alive()
        # Not ready while ingest is refused for space, with the reason; a gauge says so.
        admin = f"http://{server.addrs['admin']}"
        r = requests.get(f"{admin}/readyz", timeout=10)
        assert r.status_code == 503 and "ingest refused" in r.text, r.text
        assert "min_free_mb" in r.text and "restart" not in r.text, r.text
        assert "taxii_mirror_store_writable 0" in requests.get(f"{admin}/metrics", timeout=10).text

        mount(disk, LARGER, remount=True)
        # Ready again by itself once space returns.
        r = requests.get(f"{admin}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert "taxii_mirror_store_writable 1" in requests.get(f"{admin}/metrics", timeout=10).text
        # Space is back: the refused push and more go in, no restart needed.
        assert push(client, [big(i, rng) for i in refused]).status == "SUCCESS"
        more = list(range(200_000, 200_000 + BLOCKS_PER_PUSH))
        assert push(client, [big(i, rng) for i in more]).status == "SUCCESS"
        expected = set(acknowledged) | set(refused) | set(more)
        assert stored_numbers(client) == expected
    finally:
        server.stop()
    verify_deep(disk / "data")
    server.log_path = tmp_path / "srv" / "restart.log"
    server.addrs = {}
    server.start()
    try:
        assert stored_numbers(server.client()) == expected
    finally:
        server.stop()


def test_disk_full_without_the_reserve_fails_cleanly_and_recovers_after_restart(
        disk, tmp_path, pki, password_hash):
    server = start(tmp_path, disk, pki, password_hash, min_free_mb=0)
    filler = disk / "filler"
    try:
        rng = random.Random(9)
        # The segment writer meets ENOSPC in the middle of a push, or, when its content
        # just fits, the database's flush of the push does.
        before = []
        acknowledged, refused, _ = fill_until_refused(server, rng, 0, disk, before)
        assert error_lines(server, "request failed", "No space left on device"), \
            server.log()[-2000:]
        client = server.client()
        if not error_lines(server, "the database refuses writes from now on"):
            # What the refused push wrote before the failure is given back, so that the
            # database's own writes still find room, and polls go on.
            assert segment_bytes(disk) == before[-1], (segment_bytes(disk), before[-1])
            assert stored_numbers(client) == set(acknowledged)
            # Not ready, with the reason, although no reserve is configured.
            r = requests.get(f"http://{server.addrs['admin']}/readyz", timeout=10)
            assert r.status_code == 503 and "refused for a full disk" in r.text, r.text
        else:
            # The database's flush met the full disk: polls show nothing of the refused
            # push, or fail once the database cannot reorganise a page, until a restart.
            held = stored_numbers_unless_failed(client)
            assert held is None or held == set(acknowledged), held
            r = requests.get(f"http://{server.addrs['admin']}/readyz", timeout=10)
            assert r.status_code == 503 and "writes fail since" in r.text, r.text

        # Fill what is left, so that sled's own writes meet ENOSPC too.
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        # Small pushes may still fit in pages already allocated; push until one is refused.
        tiny, failed = [], False
        for n in range(300_000, 300_200):
            r = push(client, [small(n)])
            tiny.append(n)
            if r.status == "SUCCESS":
                acknowledged.append(n)
                continue
            assert r.status == "FAILURE", r.raw[:500]
            failed = True
            break
        assert failed, "200 small pushes fit on a full disk"
        r = requests.get(f"http://{server.addrs['admin']}/readyz", timeout=10)
        if error_lines(server, "the database refuses writes from now on"):
            # The database met ENOSPC in a write of its own: it refuses writes until a
            # restart, and readiness says so.
            assert r.status_code == 503 and "writes fail since" in r.text, r.text
        else:
            # The segment writer met ENOSPC first: that push failed whole before the
            # database was written, which still takes writes.
            assert len(error_lines(server, "request failed", "No space left on device")) >= 2, \
                server.log()[-2000:]
        assert server.alive()
        held = stored_numbers_unless_failed(client)
        assert held is None or set(acknowledged) <= held, "an acknowledged block is not served"
    finally:
        server.stop(timeout=10)

    filler.unlink()
    mount(disk, LARGER, remount=True)
    verify_deep(disk / "data")
    server.log_path = tmp_path / "srv" / "restart.log"
    server.addrs = {}
    server.start()
    try:
        r = requests.get(f"http://{server.addrs['admin']}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        client = server.client()
        held = stored_numbers(client)
        assert set(acknowledged) <= held, "an acknowledged block was lost"
        # A push refused with FAILURE may or may not have reached the disk; sent again it is
        # stored once either way.
        assert push(client, [big(i, rng) for i in refused]).status == "SUCCESS"
        assert push(client, [small(n) for n in tiny]).status == "SUCCESS"
        assert stored_numbers(client) == set(acknowledged) | set(refused) | set(tiny)
    finally:
        server.stop()
    verify_deep(disk / "data")


def test_disk_full_during_a_mirror_backfill_resumes_once_space_returns(
        disk, tmp_path, make_server, pki, password_hash, monkeypatch):
    upstream = make_server("full-upstream", collections={"feed": dict(read=["esa"], write=["esa"])})
    rng = random.Random(10)
    up = upstream.client()
    up.timeout = 60
    fed = []
    for p in range(80):  # about 15 MB: more than the small disk holds
        numbers = list(range(p * BLOCKS_PER_PUSH, (p + 1) * BLOCKS_PER_PUSH))
        assert push(up, [big(n, rng) for n in numbers], "feed").status == "SUCCESS"
        fed += numbers

    monkeypatch.setenv("FULL_TEST_UPSTREAM_PASSWORD", PASSWORD)
    text = make_config(disk / "data", pki, password_hash,
                       collections={TAG: dict(read=["esa"], write=[])},
                       limits={"min_free_mb": 4})
    text += "\n".join([
        "[[source]]", 'name = "up"', 'kind = "taxii11"', f'collection = "{TAG}"',
        f"poll_url = {toml_str(upstream.base + '/services/poll')}",
        'upstream_collection = "feed"', 'username = "esa"',
        'password_env = "FULL_TEST_UPSTREAM_PASSWORD"', f"ca_file = {toml_str(pki['ca'])}",
        "backfill_days = 1", "window_days = 1", "interval_secs = 3600",
        "backoff_initial_secs = 0.2", "backoff_max_secs = 1"]) + "\n"
    mirror = Server(tmp_path / "mirror", text, pki["ca"]).start()
    try:
        deadline = time.monotonic() + 120
        while not error_lines(mirror, "could not store what the upstream sent", "disk full"):
            assert time.monotonic() < deadline, mirror.log()[-3000:]
            time.sleep(0.5)
        held = stored_numbers(mirror.client())
        assert held < set(fed), "the back-fill fit on the small disk"

        mount(disk, LARGER, remount=True)
        deadline = time.monotonic() + 180
        while len(stored_numbers(mirror.client())) < len(fed):
            assert time.monotonic() < deadline, mirror.log()[-3000:]
            time.sleep(1)
        assert stored_numbers(mirror.client()) == set(fed)
    finally:
        mirror.stop()
    verify_deep(disk / "data")
