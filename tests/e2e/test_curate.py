"""Curation: the allowlist and withdrawn values on mirrored and private collections, feed
profiles, and STIX 1.2 content served as STIX 1.1.1.

An upstream (our own server) holds packages with ordinary values, allowlisted ones and a
false positive; a second server mirrors it into `copy` with a taxii11 source, and also has
a private collection fed by inbox and an ESA-profile collection. Every poll is validated
against the TAXII XSD; content served as 1.1.1 is validated against the STIX 1.1.1 schema.
"""

import os
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from builders import STIX_12, STIX_111, content_block, inbox_message, poll_request
from conftest import PASSWORD, REPO, Server, make_config, run_bin, toml_str
from taxii import check, count, fmt_ts, poll_all, push

NS = {
    "stix": "http://stix.mitre.org/stix-1",
    "DomainNameObj": "http://cybox.mitre.org/objects#DomainNameObject-1",
    "AddressObj": "http://cybox.mitre.org/objects#AddressObject-2",
    "cyboxCommon": "http://cybox.mitre.org/common-2",
}
DECLS = (
    'xmlns:stix="http://stix.mitre.org/stix-1" '
    'xmlns:stixCommon="http://stix.mitre.org/common-1" '
    'xmlns:indicator="http://stix.mitre.org/Indicator-2" '
    'xmlns:cybox="http://cybox.mitre.org/cybox-2" '
    'xmlns:cyboxCommon="http://cybox.mitre.org/common-2" '
    'xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" '
    'xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2" '
    'xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:test="http://example.test/ns"'
)
NOW = datetime.now(timezone.utc)
RECENT = fmt_ts(NOW - timedelta(days=1))
OLD = "2020-01-01T00:00:00Z"


def indicator(tag, n, kind, value, ts=RECENT):
    if kind == "domain":
        props = ('<cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">'
                 f"<DomainNameObj:Value>{value}</DomainNameObj:Value></cybox:Properties>")
    elif kind in ("ipv4", "ipv6"):
        props = (f'<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="{kind}-addr">'
                 f"<AddressObj:Address_Value>{value}</AddressObj:Address_Value></cybox:Properties>")
    else:
        props = ('<cybox:Properties xsi:type="FileObj:FileObjectType"><FileObj:Hashes>'
                 '<cyboxCommon:Hash><cyboxCommon:Type>' + kind.upper() + '</cyboxCommon:Type>'
                 f"<cyboxCommon:Simple_Hash_Value>{value}</cyboxCommon:Simple_Hash_Value>"
                 "</cyboxCommon:Hash></FileObj:Hashes></cybox:Properties>")
    return (f'<stix:Indicator xsi:type="indicator:IndicatorType" id="test:indicator-{tag}-{n}" '
            f'timestamp="{ts}"><indicator:Title>{kind} {n}</indicator:Title>'
            f'<indicator:Observable id="test:Observable-{tag}-{n}"><cybox:Object>{props}'
            "</cybox:Object></indicator:Observable></stix:Indicator>")


def package(tag, values, version="1.2", header=""):
    """A package with one indicator per (kind, value[, timestamp])."""
    body = "".join(indicator(tag, n, *v) for n, v in enumerate(values))
    return (f'<stix:STIX_Package {DECLS} id="test:Package-{tag}" version="{version}" '
            f'timestamp="2026-01-01T00:00:00Z">{header}<stix:Indicators>{body}'
            "</stix:Indicators></stix:STIX_Package>")


def values_of(blocks):
    """Every observable value (domains, addresses, hashes) in the blocks' packages."""
    out = []
    for b in blocks:
        for path in (".//DomainNameObj:Value", ".//AddressObj:Address_Value",
                     ".//cyboxCommon:Simple_Hash_Value"):
            out += [e.text.strip() for e in b.content.xpath(path, namespaces=NS)]
    return sorted(out)


UPSTREAM_PACKAGES = [
    package("up-1", [("domain", "bad-1.example.test"), ("domain", "www.partner.example.test"),
                     ("domain", "fp.example.test")]),
    package("up-2", [("domain", "mail.partner.example.test")]),
    package("up-3", [("ipv4", "198.51.100.7"), ("domain", "bad-3.example.test")]),
]


def mirror_config(folder, pki, password_hash, upstream):
    text = make_config(folder / "data", pki, password_hash, collections={
        "copy": dict(read=["esa"], write=[]),
        "private": dict(read=["esa"], write=["esa"]),
        "esafeed": dict(read=["esa"], write=["esa"]),
    })
    text = text.replace('name = "esafeed"', 'name = "esafeed"\nprofile = "esa"\nmax_age_days = 30')
    text += "\n".join([
        "[allowlist]",
        'domains = ["partner.example.test"]',
        'ips = ["198.51.100.0/24"]',
        f'hashes = ["{"c" * 64}"]',
        "[[source]]",
        'name = "up"',
        'kind = "taxii11"',
        'collection = "copy"',
        f"poll_url = {toml_str(upstream.base + '/services/poll')}",
        'upstream_collection = "feed"',
        'username = "esa"',
        'password_env = "CURATE_TEST_UPSTREAM_PASSWORD"',
        f"ca_file = {toml_str(upstream.ca)}",
        "backfill_days = 1",
        "window_days = 1",
        "interval_secs = 3600",
    ]) + "\n"
    return text


@pytest.fixture(scope="module")
def servers(make_server, pki, password_hash, tmp_path_factory):
    upstream = make_server("curate-up", collections={"feed": dict(read=["esa"], write=["esa"])})
    push(upstream.client(), "feed", UPSTREAM_PACKAGES, binding=STIX_12)
    os.environ["CURATE_TEST_UPSTREAM_PASSWORD"] = PASSWORD
    folder = tmp_path_factory.mktemp("curate-mirror")
    mirror = Server(folder, mirror_config(folder, pki, password_hash, upstream), pki["ca"]).start()
    try:
        wait_for(mirror, "observables were fetched from the source: up")
        wait_for(mirror, "allowlist sweep done")
        yield upstream, mirror
    finally:
        mirror.stop()


def wait_for(server, text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{server.log()[-3000:]}"
        time.sleep(0.1)


def data_dir(server):
    return server.folder / "data"


def withdraw(server, collection, *values, check=True):
    return run_bin("withdraw", collection, *values, "--data", data_dir(server), check=check)


def test_allowlisted_values_never_reach_a_mirrored_collection(servers):
    _, mirror = servers
    esa = mirror.client()
    got = poll_all(esa, "copy")
    # up-2 held only an allowlisted domain: dropped; up-1 and up-3 lose their listed values.
    assert sorted(got.ids) == ["test:Package-up-1", "test:Package-up-3"]
    assert values_of(got.blocks) == ["bad-1.example.test", "bad-3.example.test", "fp.example.test"]
    assert count(esa, "copy") == 2
    assert "ingest curated" in mirror.log()


def test_inbox_pushes_are_checked_against_the_allowlist(servers):
    _, mirror = servers
    esa = mirror.client()
    r = check(esa.post("/services/inbox", inbox_message([
        content_block(package("in-1", [("domain", "a.partner.example.test"),
                                       ("domain", "in-1.example.test")]), STIX_12),
        content_block(package("in-2", [("ipv4", "198.51.100.200")]), STIX_12),
        content_block(package("in-3", [("sha256", "C" * 64)]), STIX_12),
    ], ["private"])), expect="Status_Message:SUCCESS")
    assert r.text("Message") == (
        '1 of 3 content blocks stored in collection "private", 2 refused '
        "(2 by the allowlist or values withdrawn from the collection)"), r.text("Message")
    got = poll_all(esa, "private", bindings=[STIX_12])
    assert got.ids == ["test:Package-in-1"]
    assert values_of(got.blocks) == ["in-1.example.test"]


def test_withdraw_from_a_mirrored_collection(servers):
    upstream, mirror = servers
    esa = mirror.client()
    first = poll_all(esa, "copy")
    end = first.parts[0].text("Inclusive_End_Timestamp")
    before = count(esa, "copy")

    out = withdraw(mirror, "copy", "FP.example.test").stdout
    assert "1 block(s) withdrawn" in out and "1 revised block(s) appended" in out, out

    # A back-fill from scratch lacks the value and holds the revision in its place.
    scratch = poll_all(esa, "copy")
    assert "fp.example.test" not in values_of(scratch.blocks)
    assert "bad-1.example.test" in values_of(scratch.blocks)
    assert sorted(scratch.ids) == ["test:Package-up-1", "test:Package-up-3"]
    assert count(esa, "copy") == before == len(scratch.blocks)

    # An appliance polling incrementally receives exactly the revised block.
    later = poll_all(esa, "copy", begin=end)
    assert later.ids == ["test:Package-up-1"]
    assert values_of(later.blocks) == ["bad-1.example.test"]
    revised = later.blocks[0].child()
    assert revised.get("timestamp") != "2026-01-01T00:00:00Z"
    assert count(esa, "copy", begin=end) == 1

    # New upstream content holding the value arrives without it; the upstream's original
    # package, sent again, is not stored a second time.
    push(upstream.client(), "feed", [package("up-4", [("domain", "fp.example.test"),
                                                      ("domain", "bad-4.example.test")])],
         binding=STIX_12)
    run_bin("poll-now", "up", "--data", data_dir(mirror), timeout=120)
    after = poll_all(esa, "copy", begin=end)
    assert sorted(after.ids) == ["test:Package-up-1", "test:Package-up-4"]
    assert values_of(after.blocks) == ["bad-1.example.test", "bad-4.example.test"]


def test_withdraw_from_a_private_collection(servers):
    _, mirror = servers
    esa = mirror.client()
    push(esa, "private", [package("pv-1", [("domain", "keep.example.test"),
                                           ("domain", "oops.example.test")]),
                          package("pv-2", [("domain", "oops.example.test")])], binding=STIX_12)
    end = poll_all(esa, "private").parts[0].text("Inclusive_End_Timestamp")
    out = withdraw(mirror, "private", "oops.example.test").stdout
    assert "2 block(s) withdrawn" in out and "1 revised block(s) appended" in out, out
    got = poll_all(esa, "private")
    assert "oops.example.test" not in values_of(got.blocks)
    assert "keep.example.test" in values_of(got.blocks)
    assert "test:Package-pv-2" not in got.ids
    assert count(esa, "private") == len(got.blocks)
    assert poll_all(esa, "private", begin=end).ids == ["test:Package-pv-1"]
    # Pushed again later, the value is refused, and the client is told nothing was stored.
    r = check(esa.post("/services/inbox", inbox_message([
        content_block(package("pv-3", [("domain", "oops.example.test")]), STIX_12)], ["private"])),
        expect="Status_Message:FAILURE")
    assert r.text("Message") == (
        '0 of 1 content blocks stored in collection "private", 1 refused '
        "(1 by the allowlist or values withdrawn from the collection)"), r.text("Message")


def test_withdraw_refuses_unknown_collections_and_needs_a_value(servers):
    _, mirror = servers
    r = withdraw(mirror, "nope", "x.example.test", check=False)
    assert r.returncode != 0 and "no such collection" in r.stderr, r.stderr
    r = run_bin("withdraw", "copy", "--data", data_dir(mirror), check=False)
    assert r.returncode != 0


def test_withdraw_reads_values_like_lookup(servers):
    _, mirror = servers
    esa = mirror.client()
    push(esa, "private", [package("wv-1", [("domain", "fanged.example.test"),
                                           ("domain", "twice.example.test"),
                                           ("domain", "kept-wv.example.test")])],
         binding=STIX_12)
    # One value that is no indicator refuses the whole command, naming it; nothing is stored.
    r = withdraw(mirror, "private", "twice.example.test", "not valid", check=False)
    assert r.returncode == 65 and '"not valid"' in r.stderr, (r.returncode, r.stderr)
    assert "twice.example.test" in values_of(poll_all(esa, "private").blocks)
    assert lookup_collections(mirror, "twice.example.test") == ["private"]
    # A defanged value is read like import and lookup read it, and withdrawn.
    out = withdraw(mirror, "private", "fanged[.]example[.]test").stdout
    assert "1 value(s) withdrawn; 1 block(s) withdrawn" in out, out
    # Two spellings of one value count once.
    out = withdraw(mirror, "private", "twice.example.test", "TWICE.example.test.").stdout
    assert "1 value(s) withdrawn; 1 block(s) withdrawn" in out, out
    got = values_of(poll_all(esa, "private").blocks)
    assert "fanged.example.test" not in got and "twice.example.test" not in got, got
    assert "kept-wv.example.test" in got, got


def test_esa_profile_keeps_its_kinds_and_drops_old_indicators(servers):
    _, mirror = servers
    esa = mirror.client()
    push(esa, "esafeed", [package("esa-1", [
        ("domain", "new.example.test"),
        ("domain", "old.example.test", OLD),
        ("ipv6", "2001:db8::5"),
        ("sha1", "a" * 40),
        ("sha256", "b" * 64),
        ("ipv4", "203.0.113.9"),
    ]), package("esa-2", [("sha1", "d" * 40)])], binding=STIX_12)
    got = poll_all(esa, "esafeed")
    assert got.ids == ["test:Package-esa-1"]
    assert values_of(got.blocks) == sorted(["new.example.test", "b" * 64, "203.0.113.9"])


def test_a_push_refused_whole_gets_failure_with_the_reasons(servers, tmp_path):
    _, mirror = servers
    esa = mirror.client()
    ipv6 = package("rf-1", [("ipv6", "2001:db8::9")])
    sha1 = package("rf-2", [("sha1", "e" * 40)])
    old = package("rf-3", [("domain", "rf-old.example.test", OLD)])
    fresh = package("rf-4", [("domain", "rf-new.example.test")])
    before = count(esa, "esafeed")

    r = check(esa.post("/services/inbox", inbox_message(
        [content_block(p, STIX_12) for p in (ipv6, sha1, old)], ["esafeed"])),
        expect="Status_Message:FAILURE")
    assert r.text("Message") == (
        '0 of 3 content blocks stored in collection "esafeed", 3 refused (2 by its profile: '
        "no indicator of a kind it keeps (ipv4, domain, url, md5, sha256); 1 by its profile: "
        "older than max_age_days = 30)"), r.text("Message")
    assert count(esa, "esafeed") == before
    assert "inbox refused: nothing stored" in mirror.log()
    # The request counter tells the refusal from a success.
    from test_ops import samples
    failed = [v for (name, labels), v in samples(mirror).items()
              if name == "taxii_mirror_requests_total"
              and ("collection", "esafeed") in labels and ("status", "FAILURE") in labels]
    assert failed == [1.0], failed

    # Some stored: SUCCESS, with every count.
    r = check(esa.post("/services/inbox", inbox_message(
        [content_block(p, STIX_12) for p in (fresh, ipv6)], ["esafeed"])),
        expect="Status_Message:SUCCESS")
    assert r.text("Message") == (
        '1 of 2 content blocks stored in collection "esafeed", 1 refused (1 by its profile: '
        "no indicator of a kind it keeps (ipv4, domain, url, md5, sha256))"), r.text("Message")
    # Only blocks already held: still SUCCESS.
    r = check(esa.post("/services/inbox", inbox_message([content_block(fresh, STIX_12)],
                                                         ["esafeed"])),
              expect="Status_Message:SUCCESS")
    assert r.text("Message") == (
        '0 of 1 content blocks stored in collection "esafeed", 1 already held'), r.text("Message")
    assert count(esa, "esafeed") == before + 1

    # cabby's push shows the failure and its reason instead of reporting success.
    from test_cabby import cabby
    f = tmp_path / "ipv6.xml"
    f.write_text(ipv6)
    _, err = cabby("taxii-push", "--path", mirror.base + "/services/inbox", "-f", f,
                   "--dest", "esafeed", "--binding", STIX_12, server=mirror, ok=False)
    assert "Content block successfully pushed" not in err, err
    assert "FAILURE" in err and "0 of 1 content blocks stored" in err, err
    assert count(esa, "esafeed") == before + 1


def validate_stix(tmp_path, blocks):
    """Write each block's package to a file and validate it against the STIX schemas."""
    for n, b in enumerate(blocks):
        (tmp_path / f"block-{n}.xml").write_bytes(etree.tostring(b.child()))
    venv = REPO / ".venv"
    env = dict(os.environ, STIX_VENV=os.environ.get("STIX_VENV", str(venv)))
    r = subprocess.run([str(REPO / "stix/tests/validate_stix.sh"), str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(blocks)} passed, 0 failed" in r.stdout, r.stdout


def test_stix_12_is_served_as_111_to_clients_that_ask_only_for_111(servers, tmp_path):
    _, mirror = servers
    esa = mirror.client()
    header = ('<stix:STIX_Header><stix:Title>two descriptions</stix:Title>'
              '<stix:Description ordinality="1">first</stix:Description>'
              '<stix:Description ordinality="2">second</stix:Description></stix:STIX_Header>')
    push(esa, "private", [package("v12", [("domain", "v12.example.test")], header=header)],
         binding=STIX_12)
    push(esa, "private", [package("v111", [("domain", "v111.example.test")], version="1.1.1")],
         binding=STIX_111)
    everything = poll_all(esa, "private")
    old = poll_all(esa, "private", bindings=[STIX_111])
    assert len(old.blocks) == len(everything.blocks)
    assert count(esa, "private", bindings=[STIX_111]) == len(old.blocks)
    assert {b.binding for b in old.blocks} == {STIX_111}
    assert {b.child().get("version") for b in old.blocks} == {"1.1.1"}
    v12 = [b for b in old.blocks if b.package_id() == "test:Package-v12"][0]
    texts = [e.text for e in v12.child().iter("{http://stix.mitre.org/stix-1}Description")]
    assert texts == ["first"]
    # Mirrored OTX-shaped 1.2 content converts too.
    copy = poll_all(esa, "copy", bindings=[STIX_111])
    assert copy.blocks and {b.binding for b in copy.blocks} == {STIX_111}
    validate_stix(tmp_path, old.blocks + copy.blocks)
    # Clients that take 1.2 get it unchanged.
    new = poll_all(esa, "private", bindings=[STIX_12])
    assert {b.child().get("version") for b in new.blocks} == {"1.2"}


def lookup_collections(server, value):
    """The collections `taxii-mirror lookup` says hold the value."""
    import json
    out = run_bin("lookup", value, "--json", "--data", data_dir(server)).stdout
    return sorted({h["collection"] for h in json.loads(out.strip().splitlines()[-1])["hits"]})


def test_lookup_leaves_withdrawn_blocks_out(servers):
    _, mirror = servers
    # test_withdraw_from_a_mirrored_collection withdrew fp.example.test from `copy`.
    assert lookup_collections(mirror, "bad-1.example.test") == ["copy"]
    assert lookup_collections(mirror, "fp.example.test") == []


def test_a_changed_allowlist_is_applied_to_stored_blocks_at_start(make_server, pki,
                                                                  password_hash, tmp_path):
    folder = tmp_path / "sweep"
    text = make_config(folder / "data", pki, password_hash,
                       collections={"team": dict(read=["esa"], write=["esa"])})
    server = Server(folder, text, pki["ca"]).start()
    try:
        esa = server.client()
        push(esa, "team", [package("sw-1", [("domain", "later.example.test"),
                                            ("domain", "stays.example.test")]),
                           package("sw-2", [("domain", "cdn.later.example.test")]),
                           package("sw-3", [("domain", "other.example.test")])],
             binding=STIX_12)
        end = poll_all(esa, "team").parts[0].text("Inclusive_End_Timestamp")
        assert count(esa, "team") == 3
    finally:
        server.stop()

    server.config.write_text(text + '[allowlist]\ndomains = ["later.example.test"]\n')
    server.addrs, server.log_path = {}, folder / "second.log"
    server.start()
    try:
        # Polled at once: the TAXII listener serves only after the sweep.
        esa = server.client()
        got = poll_all(esa, "team")
        log = server.log()
        assert 'withdrawn=2' in log, log[-2000:]
        https = re.search(r'listening[^\n]*? kind="?https', log)
        assert https and log.index("allowlist sweep done") < https.start(), log[-2000:]
        assert values_of(got.blocks) == ["other.example.test", "stays.example.test"]
        assert count(esa, "team") == 2
        assert poll_all(esa, "team", begin=end).ids == ["test:Package-sw-1"]
        # A third start finds nothing changed and reads nothing again.
    finally:
        server.stop()
    server.addrs, server.log_path = {}, folder / "third.log"
    server.start()
    try:
        wait_for(server, "allowlist sweep done")
        assert "collections=0" in server.log(), server.log()[-2000:]
    finally:
        server.stop()


def test_cabby_asking_for_111_gets_converted_packages(servers):
    from test_cabby import cabby, polled
    _, mirror = servers
    want = count(mirror.client(), "copy")
    out, err = cabby("taxii-poll", "--path", mirror.base + "/services/poll", "-c", "copy",
                     "-b", STIX_111, server=mirror)
    assert polled(err) == want
    assert out.count('version="1.1.1"') == want and 'version="1.2"' not in out, out[:2000]
