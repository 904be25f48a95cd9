"""A store moved with `export` and `import-backup`: every poll answers the same, the mirror
goes on from its checkpoint, subscriptions and the dedupe index come along."""

import os
import stat
import time

from builders import STIX_111, poll_request, subscription_request
from conftest import PASSWORD, Server, make_config, run_bin, toml_str
from packages import pkg
from taxii import check, count, poll_all, push, q

CM = "/services/collection-management"
COLLECTIONS = {"copy": dict(read=["esa"], write=[]),
               "private": dict(read=["esa", "reader"], write=["esa"]),
               "empty": dict(read=["esa"], write=[])}


LOOKED_UP = ("bad-bk-feed2.example.test", "bad-bk-private3.example.test")


def mirror_config(data, pki, password_hash, upstream):
    text = make_config(data, pki, password_hash, collections=COLLECTIONS,
                       limits={"max_blocks_per_part": 4})
    return text + "\n".join([
        "[[source]]", 'name = "up"', 'kind = "taxii11"', 'collection = "copy"',
        f"poll_url = {toml_str(upstream.base + '/services/poll')}",
        'upstream_collection = "feed"', 'username = "esa"',
        'password_env = "BACKUP_TEST_PASSWORD"', f"ca_file = {toml_str(pki['ca'])}",
        "backfill_days = 1", "window_days = 1", "interval_secs = 3600",
    ]) + "\n"


def wait_log(server, text, n=1, timeout=60):
    deadline = time.monotonic() + timeout
    while server.log().count(text) < n:
        assert server.alive() and time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)


def snapshot(client, sid, middle):
    """What clients see: every block of every collection with its label, counts, an
    incremental window and a poll by subscription."""
    seen = {}
    for c in COLLECTIONS:
        result = poll_all(client, c)
        seen[c] = [(b.label_text, b.binding, b.package_id()) for b in result.blocks]
        seen[c + ":parts"] = len(result.parts)
        seen[c + ":count"] = count(client, c)
    inc = poll_all(client, "private", begin=middle)
    seen["incremental"] = [(b.label_text, b.package_id()) for b in inc.blocks]
    r = check(client.post("/services/poll", poll_request("private", subscription_id=sid)))
    seen["subscription"] = [(b.label_text, b.package_id()) for b in r.blocks()]
    return seen


def subscription_ids(client):
    r = check(client.post(CM, subscription_request("STATUS", "private")))
    return sorted(s.findtext(q("Subscription_ID")) for s in r.findall("Subscription"))


def test_export_and_import_keep_everything(make_server, pki, password_hash, tmp_path,
                                            monkeypatch):
    upstream = make_server("backup-up", collections={"feed": dict(read=["esa"], write=["esa"])})
    up = upstream.client()
    push(up, "feed", [pkg(n, "bk-feed") for n in range(6)])
    monkeypatch.setenv("BACKUP_TEST_PASSWORD", PASSWORD)

    old_data, new_data = tmp_path / "old" / "data", tmp_path / "new" / "data"
    old = Server(tmp_path / "old", mirror_config(old_data, pki, password_hash, upstream), pki["ca"])
    old.start()
    try:
        wait_log(old, "observables were fetched from the source: up")
        esa = old.client()
        for n in range(9):
            push(esa, "private", [pkg(n, "bk-private")])
        r = check(esa.post(CM, subscription_request("SUBSCRIBE", "private", response_type="FULL",
                                                    bindings=[STIX_111])))
        sid = r.findall("Subscription")[0].findtext(q("Subscription_ID"))
        # A withdrawn value: its block leaves polls but stays in the store.
        run_bin("withdraw", "private", "bad-bk-private7.example.test", "--data", old_data)
        middle = poll_all(esa, "private").blocks[4].label_text
        before = snapshot(esa, sid, middle)
        subs_before = subscription_ids(esa)
        lookup_before = run_bin("lookup", *LOOKED_UP, "--json", "--data", old_data).stdout
        assert len(before["copy"]) == 6 and len(before["private"]) == 8
        assert "test:Package-bk-private0007" not in str(before["private"])
        assert len(before["incremental"]) == 3  # blocks 5, 6, 8: 7 is withdrawn

        # While the server runs, the store is locked: export says so and writes nothing.
        r = run_bin("export", tmp_path / "early", "--data", old_data, check=False)
        assert r.returncode != 0 and "stop the server first" in r.stderr, r.stderr
        assert not (tmp_path / "early" / "MANIFEST.json").exists()
    finally:
        assert old.stop(timeout=30)

    out = tmp_path / "export"
    r = run_bin("export", out, "--config", old.config)
    assert "3 collections, 15 blocks" in r.stdout, r.stdout  # the withdrawn one included
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in out.iterdir())

    # A cut-short copy is refused before anything is written.
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in out.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    part = broken / "collection-0003.jsonl"
    part.write_bytes(part.read_bytes()[:-40])
    r = run_bin("import-backup", broken, "--data", tmp_path / "scratch", check=False)
    assert r.returncode != 0 and "collection-0003.jsonl" in r.stderr, r.stderr
    assert not (tmp_path / "scratch" / "db-v1").exists()

    new = Server(tmp_path / "new", mirror_config(new_data, pki, password_hash, upstream), pki["ca"])
    r = run_bin("import-backup", out, "--config", new.config)
    assert "3 collections, 15 blocks" in r.stdout, r.stdout
    r = run_bin("import-backup", out, "--config", new.config, check=False)
    assert r.returncode != 0 and "not empty" in r.stderr

    # Status read from the imported store: the source's totals came along.
    r = run_bin("status", "--data", new_data)
    assert "total_blocks=6" in r.stdout, r.stdout

    push(up, "feed", [pkg(99, "bk-feed")])
    new.start()
    try:
        wait_log(new, "observables were fetched from the source: up")
        esa = new.client()
        after = snapshot(esa, sid, middle)
        # Only the block added upstream since the export is new: the checkpoint came along.
        new_copy = after.pop("copy")
        assert after.pop("copy:count") == 7
        assert new_copy[:6] == before.pop("copy")
        for k in ("copy:count", "copy:parts"):
            before.pop(k)
            after.pop(k, None)
        assert [pid for _, _, pid in new_copy[6:]] == ["test:Package-bk-feed0099"]
        assert new_copy[6][0] > max(lbl for lbl, _, _ in new_copy[:6])
        assert after == before
        assert subscription_ids(esa) == subs_before
        # The indicator index was rebuilt from the content: look-ups answer the same.
        lookup_after = run_bin("lookup", *LOOKED_UP, "--json", "--data", new_data).stdout
        assert lookup_after == lookup_before and "bk-private3" in lookup_after
        # The dedupe index came along: the same content is stored once.
        held = count(esa, "private")
        push(esa, "private", [pkg(3, "bk-private"), pkg(7, "bk-private")])
        assert count(esa, "private") == held
        push(esa, "private", [pkg(100, "bk-private")])
        latest = poll_all(esa, "private").blocks[-1]
        assert latest.package_id() == "test:Package-bk-private0100"
        assert latest.label_text > before["private"][-1][0]
    finally:
        new.stop(timeout=30)
