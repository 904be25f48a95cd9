"""`taxii-mirror verify` on stopped stores, and SIGKILL in the middle of inbox pushes: after
each kill the store verifies clean, every push the server acknowledged is there, and
nothing is stored twice."""

# A disk that fills up during ingest: see test_disk_full.py.

import random
import threading
import time

from conftest import Server, make_config, run_bin
from packages import pkg
from taxii import check, poll_all
from builders import content_block, inbox_message

KILLS = 3
PUSHERS = 3
BLOCKS_PER_PUSH = 10


def verify(data_dir, ok=True, deep=False):
    r = run_bin("verify", data_dir, *(["--deep"] if deep else []), check=False)
    if ok:
        assert r.returncode == 0, f"verify found problems:\n{r.stdout}\n{r.stderr}"
        assert r.stdout.strip().endswith(": consistent"), r.stdout
    return r


def index_entries(verify_output):
    """The indicator index entry count `verify` printed."""
    line = next(ln for ln in verify_output.splitlines() if ln.startswith("indicator index: "))
    return int(line.split()[2])


def test_verify_refuses_a_missing_store_and_a_running_server(make_server, tmp_path):
    r = run_bin("verify", tmp_path / "nothing-here", check=False)
    assert r.returncode != 0 and "no taxii-mirror store" in r.stderr, r.stderr
    server = make_server("verify-running", collections={"v": dict(read=["esa"], write=["esa"])})
    r = run_bin("verify", server.folder / "data", check=False)
    assert r.returncode != 0 and "in use" in r.stderr, r.stderr
    assert server.alive()


def test_verify_checks_the_indicator_index_of_pushed_imported_and_withdrawn_blocks(
        pki, password_hash, tmp_path):
    folder = tmp_path / "indexed"
    text = make_config(folder / "data", pki, password_hash,
                       collections={"pushed": dict(read=["esa"], write=["esa"]),
                                    "listed": dict(read=["esa"], write=["esa"])})
    server = Server(folder, text, pki["ca"])
    server.start()
    try:
        msg = inbox_message([content_block(pkg(n, "idx")) for n in range(1, 6)], ["pushed"])
        assert check(server.client().post("/services/inbox", msg)).status == "SUCCESS"
        values = tmp_path / "values.txt"
        values.write_text("evil-idx.example.test\n198.51.100.77\nbad-idx3.example.test\n")
        run_bin("import", "listed", values, "--data", folder / "data")
        run_bin("withdraw", "pushed", "bad-idx2.example.test", "--data", folder / "data")
    finally:
        server.stop()
    quick = verify(folder / "data")
    deep = verify(folder / "data", deep=True)
    assert "every block's indicators read again" in deep.stdout, deep.stdout
    # 5 pushed blocks with one value each (the withdrawn one held nothing else, so no
    # revised block; it keeps its entry) and 3 imported values.
    assert index_entries(quick.stdout) == index_entries(deep.stdout) == 8, quick.stdout
    assert "collection pushed: 5 blocks, 5 hash index entries, 5 indicator index facts" \
        in quick.stdout, quick.stdout


def test_sigkill_during_inbox_then_verify_clean(pki, password_hash, tmp_path):
    folder = tmp_path / "crash"
    text = make_config(folder / "data", pki, password_hash,
                       collections={"crash": dict(read=["esa"], write=["esa"])})
    server = Server(folder, text, pki["ca"])
    rng = random.Random()
    acknowledged = set()
    lock = threading.Lock()
    serial = iter(range(1, 1_000_000))

    def pusher(stop):
        client = server.client()
        client.timeout = 10
        while not stop.is_set():
            with lock:
                numbers = [next(serial) for _ in range(BLOCKS_PER_PUSH)]
            msg = inbox_message([content_block(pkg(n, "crash")) for n in numbers], ["crash"])
            try:
                r = client.post("/services/inbox", msg)
            except Exception:  # the server was killed mid-request
                return
            if r.http == 200 and r.status == "SUCCESS":
                with lock:
                    acknowledged.update(numbers)

    try:
        for i in range(KILLS):
            server.addrs, server.log_path = {}, folder / f"run-{i}.log"
            server.start()
            stop = threading.Event()
            threads = [threading.Thread(target=pusher, args=(stop,)) for _ in range(PUSHERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.5, 2.0))
            server.proc.kill()
            server.wait_or_kill(10)
            stop.set()
            for t in threads:
                t.join(30)
            verify(folder / "data")

        server.addrs, server.log_path = {}, folder / "final.log"
        server.start()
        served = poll_all(server.client(), "crash")
        ids = served.ids
        assert len(ids) == len(set(ids)), "a block is stored twice"
        stored = {int(i.rsplit("crash", 1)[1]) for i in ids}
        missing = acknowledged - stored
        assert not missing, f"{len(missing)} acknowledged blocks lost, e.g. {sorted(missing)[:5]}"
        assert acknowledged, "no push was acknowledged before the kills"
        r = check(server.client().post("/services/inbox",
                                       inbox_message([content_block(pkg(1, "after"))], ["crash"])))
        assert r.status == "SUCCESS", r.raw[:300]
    finally:
        server.stop()
    out = verify(folder / "data", deep=True).stdout
    assert index_entries(out) >= len(acknowledged), out
