"""What the admin commands (import, withdraw, lookup, poll-now, status) say when they
cannot do what was asked: one `error:` line and a sysexits-style exit code, never a raw
HTTP answer. And a collection removed from the configuration: its data is kept, `status`
says it is not configured, and TAXII clients no longer see it.
"""

import pytest

from builders import STIX_12, collection_information_request, content_block, inbox_message, \
    poll_request, subscription_request
from conftest import Server, make_config, run_bin
from packages import pkg
from taxii import check, count, push

USAGE, DATA, NO_INPUT, UNAVAILABLE, NO_PERM = 64, 65, 66, 69, 77

SOURCE = ('[[source]]\nname = "partner"\nkind = "taxii11"\ncollection = "feed"\n'
          'enabled = false\npoll_url = "https://127.0.0.1:9/poll"\n'
          'upstream_collection = "x"\n')


def one_error(r, code, text):
    """The command failed with `code` and said `text` in one `error:` line."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, f"exit {r.returncode}, expected {code}:\n{r.stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert text in lines[0], r.stderr
    assert "HTTP" not in lines[0] and "{" not in lines[0], r.stderr


@pytest.fixture(scope="module")
def srv(pki, password_hash, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-errors")
    text = make_config(folder / "data", pki, password_hash, collections={
        "mine": dict(read=["esa"], write=["esa"]),
        "feed": dict(read=["esa"], write=[]),
    }) + SOURCE
    s = Server(folder, text, pki["ca"]).start()
    yield s
    s.stop()


def cmd(srv, *args):
    return run_bin(*args, "--data", srv.folder / "data", check=False)


def test_refusals_name_the_problem_with_usage_and_data_codes(srv, tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("mine.example.com\n")
    one_error(cmd(srv, "import", "feed", f), USAGE,
              'nothing imported: collection "feed" is mirrored from the source "partner"; '
              "imports go to private collections only")
    one_error(cmd(srv, "import", "nope", f), USAGE,
              'nothing imported: collection "nope" is not in the configuration')
    one_error(cmd(srv, "import", "mine", tmp_path / "missing.txt"), NO_INPUT, "missing.txt")
    one_error(cmd(srv, "withdraw", "nope", "x.example.com"), USAGE, "no such collection: nope")
    one_error(cmd(srv, "withdraw", "mine", " "), DATA, "empty")
    one_error(cmd(srv, "poll-now", "nosuch"), USAGE, "no source named nosuch")
    one_error(cmd(srv, "poll-now", "partner"), USAGE, "partner")
    r = cmd(srv, "lookup", "not a value at all")
    assert r.returncode == DATA and r.stderr.startswith("error: "), r.stderr
    assert "HTTP" not in r.stderr, r.stderr
    # Nothing was stored by any of them.
    assert count(srv.client(), "mine") == 0 and count(srv.client(), "feed") == 0


def test_a_refused_token_is_a_permission_error(srv, tmp_path):
    token = srv.folder / "data" / "admin.token"
    good = token.read_text()
    token.write_text("0" * len(good))
    f = tmp_path / "one.txt"
    f.write_text("mine.example.com\n")
    try:
        for args in (("status",), ("withdraw", "mine", "x.example.com"),
                     ("lookup", "x.example.com"), ("poll-now", "partner")):
            one_error(cmd(srv, *args), NO_PERM, "refused the token")
        one_error(cmd(srv, "import", "mine", f), NO_PERM, "nothing imported")
    finally:
        token.write_text(good)
    assert "collection mine: 0 blocks" in run_bin("status", "--data", srv.folder / "data").stdout


def test_without_a_server_or_a_store(pki, password_hash, tmp_path):
    missing = tmp_path / "no-such-folder"
    for args in (("status",), ("withdraw", "mine", "x.example.com"), ("lookup", "x.example.com"),
                 ("poll-now", "partner")):
        one_error(run_bin(*args, "--data", missing, check=False), NO_INPUT, str(missing))
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"mine": dict(read=["esa"], write=["esa"])})
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    assert s.stop()
    data = tmp_path / "data"
    f = tmp_path / "one.txt"
    f.write_text("mine.example.com\n")
    one_error(run_bin("withdraw", "mine", "x.example.com", "--data", data, check=False),
              UNAVAILABLE, "no server")
    one_error(run_bin("poll-now", "partner", "--data", data, check=False), UNAVAILABLE,
              "no server")
    one_error(run_bin("import", "mine", f, "--data", data, check=False), UNAVAILABLE,
              "nothing imported: no server")
    # status and lookup read the stopped server's store instead.
    r = run_bin("status", "--data", data)
    assert "server: not running" in r.stdout and "collection mine: 0 blocks" in r.stdout
    assert run_bin("lookup", "x.example.com", "--data", data).returncode == 0


def test_a_removed_collection_keeps_its_data_but_is_not_served(pki, password_hash, tmp_path):
    both = {"kept": dict(read=["esa"], write=["esa"]), "gone": dict(read=["esa"], write=["esa"])}
    s = Server(tmp_path / "srv", make_config(tmp_path / "data", pki, password_hash,
                                             collections=both), pki["ca"]).start()
    try:
        push(s.client(), "gone", [pkg(n, "gone") for n in range(1, 4)])
        push(s.client(), "kept", [pkg(1, "kept")])
    finally:
        assert s.stop()

    s.config.write_text(make_config(tmp_path / "data", pki, password_hash,
                                    collections={"kept": both["kept"]}))
    s.addrs, s.log_path = {}, tmp_path / "srv" / "second.log"
    s.start()
    try:
        out = run_bin("status", "--config", s.config).stdout
        assert "server: running" in out
        assert "collection kept: 1 blocks" in out, out
        assert "collection gone: not configured (data kept, 3 blocks)" in out, out
        esa = s.client()
        check(esa.post("/services/poll", poll_request("gone")), expect="Status_Message:NOT_FOUND")
        check(esa.post("/services/poll", poll_request("gone", response_type="COUNT_ONLY")),
              expect="Status_Message:NOT_FOUND")
        info = check(esa.post("/services/collection-management",
                              collection_information_request()),
                     expect="Collection_Information_Response")
        assert [c.get("collection_name") for c in info.findall("Collection")] == ["kept"]
        check(esa.post("/services/inbox", inbox_message([content_block(pkg(9, "gone"), STIX_12)],
                                                        ["gone"])),
              expect="Status_Message:DESTINATION_COLLECTION_ERROR")
        check(esa.post("/services/collection-management",
                       subscription_request("SUBSCRIBE", "gone")),
              expect="Status_Message:NOT_FOUND")
        check(s.anonymous().post("/services/poll", poll_request("gone")),
              expect="Status_Message:UNAUTHORIZED")
        one_error(run_bin("withdraw", "gone", "x.example.com", "--data", tmp_path / "data",
                          check=False), USAGE, "no such collection: gone")
        assert count(esa, "kept") == 1
    finally:
        assert s.stop()
    # Stopped: status still tells, from the configuration or, with the data folder alone,
    # from what the last start recorded.
    for how in (("--config", s.config), ("--data", tmp_path / "data")):
        out = run_bin("status", *how).stdout
        assert "server: not running" in out
        assert "collection gone: not configured (data kept, 3 blocks)" in out, (how, out)
        assert "collection kept: 1 blocks" in out, (how, out)


def test_bad_flags_and_unreadable_configs_have_their_codes(tmp_path):
    """A bad flag or a missing argument is a usage error (64, not the parser's 2); a config
    file that cannot be read is missing input (66), for every command that reads one."""
    for args in (("status", "--no-such-flag"), ("import",), ("lookup", "--kind"), ("frobnicate",)):
        r = run_bin(*args, check=False)
        assert r.returncode == USAGE, (args, r.returncode, r.stderr)
    missing = tmp_path / "nope.toml"
    for args in (("status", "--config", missing), ("lookup", "x.example.com", "--config", missing),
                 ("serve", "--config", missing), ("check-config", missing)):
        r = run_bin(*args, check=False)
        assert r.returncode == NO_INPUT and str(missing) in r.stderr, (args, r.returncode, r.stderr)
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml\n")
    for args in (("status", "--config", bad), ("check-config", bad)):
        r = run_bin(*args, check=False)
        assert r.returncode == USAGE and str(bad) in r.stderr, (args, r.returncode, r.stderr)
    for args in (("--help",), ("--version",), ("status", "--help")):
        assert run_bin(*args, check=False).returncode == 0, args
