"""SIGKILL during `taxii-mirror import`: the server killed at random moments of imports of
plain lists, and the import command itself killed at random moments. After every kill the
store verifies clean (`verify --deep`); in the end, running each import again leaves every
value in the collection exactly once.

An import is stored in one batch, so a kill leaves all of it or none of it; the command says
so when the server does not answer, and running it again skips the values already held.
"""

import random
import re
import subprocess
import time
from collections import Counter

from lxml import etree

from conftest import Server, binary_path, make_config, run_bin
from taxii import poll_all

KILLS = 4
CLIENT_KILLS = 3
VALUES_PER_LIST = 6000
COLLECTION = "kill"
VALUE = re.compile(r">(v\d+\.import-kill\.example\.test)<")


def write_list(path, first):
    lines = ["# domains to block", ""]
    lines += [f"v{n}.import-kill.example.test" for n in range(first, first + VALUES_PER_LIST)]
    path.write_text("\n".join(lines) + "\n")
    return {f"v{n}.import-kill.example.test" for n in range(first, first + VALUES_PER_LIST)}


def start_import(data_dir, path):
    return subprocess.Popen([str(binary_path()), "import", COLLECTION, str(path), "--data",
                             str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def verify_deep(data_dir):
    r = run_bin("verify", "--deep", data_dir, check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith(": consistent"), r.stdout + r.stderr


def held_values(server):
    counts = Counter()
    for block in poll_all(server.client(), COLLECTION, max_parts=1000).blocks:
        # A package names each of its values in more than one place.
        counts.update(set(VALUE.findall(etree.tostring(block.content, encoding="unicode"))))
    return counts


def test_sigkill_of_server_and_client_during_import(pki, password_hash, tmp_path):
    folder = tmp_path / "srv"
    data = folder / "data"
    text = make_config(data, pki, password_hash,
                       collections={COLLECTION: dict(read=["esa"], write=["esa"])})
    server = Server(folder, text, pki["ca"])
    rng = random.Random()
    lists, expected = [], set()
    for i in range(KILLS + CLIENT_KILLS):
        # Each list shares half its values with the one before.
        path = tmp_path / f"list-{i}.txt"
        expected |= write_list(path, i * VALUES_PER_LIST // 2)
        lists.append(path)

    try:
        # How long one import takes here, to aim the kills inside it.
        server.addrs, server.log_path = {}, folder / "timing.log"
        server.start()
        began = time.monotonic()
        run_bin("import", COLLECTION, lists[0], "--data", data)
        took = time.monotonic() - began
        server.stop()

        outcomes = []
        for i in range(KILLS):
            server.addrs, server.log_path = {}, folder / f"run-{i}.log"
            server.start()
            client = start_import(data, lists[i + 1])
            time.sleep(rng.uniform(0, took * 1.2))
            server.proc.kill()
            server.wait_or_kill(10)
            out, err = client.communicate(timeout=60)
            outcomes.append(client.returncode)
            if client.returncode != 0:
                # Never a claim that nothing was stored when the server may have stored it.
                assert "panicked" not in err, err
                assert ("may have been stored or not; run the same import again" in err
                        or "nothing imported" in err), err
            verify_deep(data)

        server.addrs, server.log_path = {}, folder / "client-kills.log"
        server.start()
        for i in range(CLIENT_KILLS):
            client = start_import(data, lists[KILLS + 1 + i] if KILLS + 1 + i < len(lists)
                                  else lists[KILLS + i])
            time.sleep(rng.uniform(0, took * 1.2))
            client.kill()
            client.communicate(timeout=60)
            assert server.alive()
        server.stop()
        verify_deep(data)

        # Run every import again: what a kill cut off is stored now, nothing twice.
        server.addrs, server.log_path = {}, folder / "final.log"
        server.start()
        for path in lists:
            r = run_bin("import", COLLECTION, path, "--data", data)
            assert "rejected 0" in r.stdout, r.stdout
        counts = held_values(server)
        twice = [v for v, c in counts.items() if c > 1]
        assert not twice, f"{len(twice)} values stored more than once, e.g. {twice[:3]}"
        assert set(counts) == expected, (len(set(counts)), len(expected))
    finally:
        server.stop()
    verify_deep(data)
