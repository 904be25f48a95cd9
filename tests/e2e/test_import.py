"""Private collections fed by `taxii-mirror import` and by cabby's `taxii-push`, and
`taxii-mirror lookup`, against the real binary.

Each test works in its own collection of one server started for this module. Imported
packages are polled back with cabby, with the ESA-like poller and with raw TAXII (validated
against the TAXII XSD), and written to disk for the STIX 1.2 schema check.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import PASSWORD, REPO, run_bin
from esa_poller import EsaPoller, totals
from taxii import count, poll_all
from test_cabby import cabby, polled

NONE_REFUSED = "refused 0 (allowlist, withdrawn or profile)"
PRIVATE = ["lists", "csv", "bad", "skip", "dedupe", "pushed", "sizes", "schema", "stopped"]

# One value of every kind an import detects, with what the ESA-like poller counts it as.
EVERY_KIND = [
    ("evil.example.com", "domain"),
    ("http://evil.example.com/login?next=%2F", "url"),
    ("198.51.100.7", "ipv4"),
    ("2001:db8::bad:1", "ipv6"),
    ("203.0.113.0/24", "cidr"),
    ("d41d8cd98f00b204e9800998ecf8427e", "md5"),
    ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256"),
    ("phish@example.test", "email"),
]


@pytest.fixture(scope="module")
def srv(make_server):
    collections = {name: dict(read=["esa"], write=["esa"]) for name in PRIVATE}
    collections["sizes"]["import_package_size"] = 4
    return make_server("import", collections=collections)


def data_dir(srv):
    return srv.folder / "data"


def imp(srv, collection, *files, ok=True, extra=()):
    r = run_bin("import", collection, *files, "--data", data_dir(srv), *extra, check=False)
    if ok:
        assert r.returncode == 0, f"import failed ({r.returncode}):\n{r.stderr}"
    return r


def lookup(srv, value, *extra):
    r = run_bin("lookup", value, "--json", "--data", data_dir(srv), *extra)
    return json.loads(r.stdout)


def esa_count(srv, collection):
    poller = EsaPoller("127.0.0.1", srv.port, "/services/poll", collection, "esa", PASSWORD,
                       srv.ca, age_days=1, segment_days=1)
    return totals(poller.run())


def test_plain_list_reaches_cabby_and_the_esa_poller(srv, tmp_path):
    f = tmp_path / "blocklist.txt"
    lines = ["# the SOC blocklist", ""]
    lines += [f"{value}   # {kind}" if kind != "url" else value for value, kind in EVERY_KIND]
    lines += ["hxxps://phish[.]example[.]net/a", "Evil.Example.COM."]  # defanged; a repeat
    f.write_text("\n".join(lines) + "\n")

    r = imp(srv, "lists", f)
    assert f"added 10, skipped 1 (already held), {NONE_REFUSED}, rejected 0" in r.stdout, r.stdout

    expected = Counter(kind for _, kind in EVERY_KIND)
    expected["url"] += 1
    assert esa_count(srv, "lists") == expected

    out, err = cabby("taxii-poll", "--path", srv.base + "/services/poll", "-c", "lists",
                     server=srv)
    assert polled(err) == 1
    for value, _ in EVERY_KIND:
        assert value in out.replace("&amp;", "&"), value
    assert "https://phish.example.net/a" in out


def test_csv_with_header_description_and_expiry(srv, tmp_path):
    f = tmp_path / "partner.csv"
    f.write_text(
        "Indicator,Type,Comment,Expires\n"
        "c2.example.org,hostname,\"C2, reported by partner\",2099-01-01\n"
        "192.0.2.55,ip,,\n"
        "old.example.org,domain,expired entry,2001-01-01\n"
        "AABBCCDDEEFF00112233445566778899,md5,dropper,2099-01-01T12:00:00Z\n")
    r = imp(srv, "csv", f)
    assert f"added 3, skipped 0 (already held), {NONE_REFUSED}, rejected 0, expired 1" \
        in r.stdout, r.stdout
    assert esa_count(srv, "csv") == Counter(domain=1, ipv4=1, md5=1)

    blocks = poll_all(srv.client(), "csv").blocks
    assert len(blocks) == 1
    xml = blocks[0].child()
    text = "".join(xml.itertext())
    assert "C2, reported by partner" in text and "dropper" in text
    assert "aabbccddeeff00112233445566778899" in text and "old.example.org" not in text
    ends = [e.text for e in xml.iter("{http://stix.mitre.org/Indicator-2}End_Time")]
    assert sorted(ends) == ["2099-01-01T00:00:00.000000Z", "2099-01-01T12:00:00.000000Z"]


@pytest.mark.parametrize("name,content,line", [
    ("list.txt", "good.example.com\n# comment\nnot a domain\n198.51.100.9\n", 3),
    ("list.csv", "value,type\ngood.example.com,domain\n198.51.100.9,md5\n", 3),
    ("dates.csv", "good.example.com,,,2099-01-01\n198.51.100.9,,,someday\n", 2),
    ("quote.csv", "good.example.com,domain\n\"198.51.100.9,ipv4\n", 2),
])
def test_a_bad_line_names_file_and_line_and_nothing_is_stored(srv, tmp_path, name, content,
                                                              line):
    f = tmp_path / name
    f.write_text(content)
    good = tmp_path / "good.txt"
    good.write_text("other-good.example.com\n")
    r = imp(srv, "bad", good, f, ok=False)
    assert r.returncode == 65, r.stderr
    assert f"{f}:{line}: " in r.stderr, r.stderr
    assert "nothing imported" in r.stderr
    assert count(srv.client(), "bad") == 0
    assert lookup(srv, "good.example.com")["hits"] == []
    assert lookup(srv, "other-good.example.com")["hits"] == []


def test_skip_invalid_imports_the_rest_and_reports_rejected(srv, tmp_path):
    f = tmp_path / "mixed.txt"
    f.write_text("ok-1.example.com\n???\nok-2.example.com\nfoo bar\n")
    r = imp(srv, "skip", f, extra=["--skip-invalid"])
    assert f"{f}:2: " in r.stderr and f"{f}:4: " in r.stderr, r.stderr
    assert f"added 2, skipped 0 (already held), {NONE_REFUSED}, rejected 2" in r.stdout, r.stdout
    assert esa_count(srv, "skip") == Counter(domain=2)


def test_a_second_import_adds_only_new_values(srv, tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("a.example.com\nb.example.com\n198.51.100.1\n")
    second = tmp_path / "second.txt"
    second.write_text("B.example.com\n198.51.100.1\nc.example.com\n")
    imp(srv, "dedupe", first)
    r = imp(srv, "dedupe", second)
    assert "added 1, skipped 2 (already held)" in r.stdout, r.stdout
    r = imp(srv, "dedupe", first, second)
    assert (f"added 0, skipped 6 (already held), {NONE_REFUSED}, rejected 0, expired 0; "
            "0 packages") in r.stdout
    assert count(srv.client(), "dedupe") == 2
    assert esa_count(srv, "dedupe") == Counter(domain=3, ipv4=1)


def test_taxii_push_and_import_feed_one_collection(srv, tmp_path):
    pushed = tmp_path / "pushed.xml"
    from packages import pkg
    pushed.write_text(pkg(1, "imp", title="Pushed by the SOC"))
    _, err = cabby("taxii-push", "--path", srv.base + "/services/inbox", "-f", pushed,
                   "--dest", "pushed", "--binding", "urn:stix.mitre.org:xml:1.2", server=srv)
    assert "Content block successfully pushed" in err

    # The pushed value is already held: the import adds only the other one.
    f = tmp_path / "more.txt"
    f.write_text("bad-imp1.example.test\nextra.example.test\n")
    r = imp(srv, "pushed", f)
    assert "added 1, skipped 1 (already held)" in r.stdout, r.stdout

    out, err = cabby("taxii-poll", "--path", srv.base + "/services/poll", "-c", "pushed",
                     server=srv)
    assert polled(err) == 2
    assert "bad-imp1.example.test" in out and "extra.example.test" in out
    assert esa_count(srv, "pushed") == Counter(domain=2)

    hit = lookup(srv, "BAD-imp1.example.test")
    assert hit["kind"] == "domain" and hit["value"] == "bad-imp1.example.test"
    [h] = hit["hits"]
    assert h["collection"] == "pushed" and h["source"] == "inbox:esa"
    assert h["title"] == "Pushed by the SOC" and h["package_id"] == "test:Package-imp0001"
    [h] = lookup(srv, "extra.example.test")["hits"]
    assert h["source"] == "import:more.txt" and h["title"] == "more.txt"


def test_packages_are_split_by_the_collection_size_or_the_flag(srv, tmp_path):
    f = tmp_path / "ten.txt"
    f.write_text("".join(f"host{i}.example.com\n" for i in range(10)))
    r = imp(srv, "sizes", f)
    assert "; 3 packages" in r.stdout, r.stdout
    g = tmp_path / "five.txt"
    g.write_text("".join(f"other{i}.example.com\n" for i in range(5)))
    r = imp(srv, "sizes", g, extra=["--package-size", "5"])
    assert "; 1 package " in r.stdout, r.stdout
    blocks = poll_all(srv.client(), "sizes").blocks
    sizes = [len(list(b.child().iter("{http://stix.mitre.org/stix-1}Indicator"))) for b in blocks]
    assert sizes == [4, 4, 2, 5]
    titles = [b.child().findtext(".//{http://stix.mitre.org/stix-1}Title") for b in blocks]
    assert titles == ["ten.txt (1 of 3)", "ten.txt (2 of 3)", "ten.txt (3 of 3)", "five.txt"]


def test_imported_packages_validate_against_the_stix_schema(srv, tmp_path):
    f = tmp_path / "all.csv"
    f.write_text("value,description,expiry\n" + "".join(
        f"{value},{kind} <&> entry,2099-06-01\n" for value, kind in EVERY_KIND))
    imp(srv, "schema", f, extra=["--package-size", "4"])
    blocks = poll_all(srv.client(), "schema").blocks  # each response checked against the TAXII XSD
    assert len(blocks) == 3
    out = tmp_path / "stix"
    out.mkdir()
    from lxml import etree
    for i, b in enumerate(blocks):
        (out / f"block-{i}.xml").write_bytes(etree.tostring(b.child()))
    env = dict(os.environ, STIX_VENV=str(Path(sys.executable).parent.parent))
    r = subprocess.run([str(REPO / "stix" / "tests" / "validate_stix.sh"), str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed, 0 failed" in r.stdout


def test_lookup_answers_kinds_and_refuses_junk(srv, tmp_path):
    f = tmp_path / "look.txt"
    f.write_text("look.example.com\n2001:DB8:0:0::77\n")
    imp(srv, "stopped", f)
    assert lookup(srv, "2001:db8::77")["hits"][0]["collection"] == "stopped"
    assert lookup(srv, "hxxp://look[.]example[.]com")["kind"] == "url"
    r = run_bin("lookup", "no such thing", "--data", data_dir(srv), check=False)
    assert r.returncode == 65 and "not a domain, URL" in r.stderr, r.stderr
    r = run_bin("lookup", "look.example.com", "--type", "md5", "--data", data_dir(srv),
                check=False)
    assert r.returncode == 65 and "not a valid md5" in r.stderr, r.stderr
    r = run_bin("lookup", "look.example.com", "--data", data_dir(srv))
    assert "domain look.example.com: 1 block" in r.stdout, r.stdout
    assert "collection=stopped" in r.stdout and "source=import:look.txt" in r.stdout
    # A value too long is refused as such, without sending it, and the next is looked up.
    r = run_bin("lookup", "a" * 40_000 + ".example", "look.example.com",
                "--data", data_dir(srv), check=False)
    assert r.returncode == 65 and "longer than 8192 bytes" in r.stderr, r.stderr[:500]
    assert len(r.stderr) < 500 and "domain look.example.com: 1 block" in r.stdout, r.stdout


def test_admin_import_and_lookup_need_the_token(srv):
    addr = (data_dir(srv) / "admin.addr").read_text().strip()
    s = requests.Session()
    s.trust_env = False
    r = s.get(f"http://{addr}/admin/lookup", params={"value": "look.example.com"}, timeout=10)
    assert r.status_code == 401
    body = {"name": "x", "entries": [{"kind": "domain", "value": "x.example.com"}]}
    r = s.post(f"http://{addr}/admin/import/stopped", json=body, timeout=10)
    assert r.status_code == 401
    token = (data_dir(srv) / "admin.token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    # The server checks every value again and refuses the whole import for one bad entry.
    body["entries"].append({"kind": "ipv4", "value": "not-an-ip"})
    r = s.post(f"http://{addr}/admin/import/stopped", json=body, headers=auth, timeout=10)
    assert r.status_code == 400 and "entry 1" in r.json()["error"], r.text
    r = s.post(f"http://{addr}/admin/import/nope", json=body, headers=auth, timeout=10)
    assert r.status_code == 404
    assert lookup(srv, "x.example.com")["hits"] == []
    assert "import refused" in srv.log()


def test_lookup_reads_the_store_when_the_server_is_stopped(make_server, tmp_path):
    s = make_server("import-offline", collections={"mine": dict(read=["esa"], write=["esa"])})
    f = tmp_path / "one.txt"
    f.write_text("offline.example.com\n")
    r = run_bin("import", "mine", f, "--data", s.folder / "data")
    assert "added 1" in r.stdout
    assert s.stop()
    r = run_bin("lookup", "offline.example.com", "--json", "--data", s.folder / "data")
    [h] = json.loads(r.stdout)["hits"]
    assert h["collection"] == "mine" and h["source"] == "import:one.txt"
    r = run_bin("import", "mine", f, "--data", s.folder / "data", check=False)
    assert r.returncode != 0 and "nothing imported" in r.stderr, r.stderr


def test_commands_on_a_copied_folder_never_reach_the_original_server(srv, tmp_path):
    import shutil
    copy = tmp_path / "storecopy"
    # `cp -a`: the copy holds the running server's admin address and token.
    shutil.copytree(data_dir(srv), copy, symlinks=True)
    assert (copy / "admin.addr").exists() and (copy / "admin.token").exists()
    f = tmp_path / "copy.txt"
    f.write_text("copied-folder.example.com\n")
    for args in (["import", "lists", f], ["withdraw", "lists", "keep.example.com"],
                 ["poll-now", "up"]):
        r = run_bin(*args, "--data", copy, check=False)
        assert r.returncode == 69, (args, r.returncode, r.stderr)
        assert "another data folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
            r.stderr
    # Nothing reached the server running on the original folder.
    assert lookup(srv, "copied-folder.example.com")["hits"] == []


def test_a_mirrored_collection_takes_no_import(binary, pki, password_hash, tmp_path):
    from conftest import Server, make_config
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"feed": dict(read=["esa"], write=["esa"])})
    text += ('[[source]]\nname = "partner"\nkind = "taxii11"\ncollection = "feed"\n'
             'enabled = false\npoll_url = "https://127.0.0.1:9/poll"\n'
             'upstream_collection = "x"\n')
    s = Server(tmp_path / "srv", text, pki["ca"]).start()
    try:
        f = tmp_path / "one.txt"
        f.write_text("mine.example.com\n")
        r = run_bin("import", "feed", f, "--data", tmp_path / "data", check=False)
        assert r.returncode == 64, r.stderr
        assert ('nothing imported: collection "feed" is mirrored from the source "partner"; '
                "imports go to private collections only") in r.stderr, r.stderr
        assert count(s.client(), "feed") == 0
    finally:
        s.stop()
