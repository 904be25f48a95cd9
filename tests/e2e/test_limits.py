"""Parser and size limits: deep nesting, huge text, huge bodies, parts cut by bytes.

Also the configuration switches of a second server: no public_url, single endpoint off,
OTX aliases off.
"""

import time

import pytest

from builders import (collection_information_request, content_block, discovery_request,
                      inbox_message, poll_request)
from packages import package_id, pkg, pkg_with_description
from taxii import check, count, poll_all, push, q

INBOX = "/services/inbox"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def small(make_server):
    return make_server(
        "limits",
        collections={"big": dict(read=["esa"], write=["esa"]),
                     "parts": dict(read=["esa"], write=["esa"])},
        limits={"max_text_bytes": MiB, "max_body_bytes": 12 * MiB,
                "max_bytes_per_part": MiB, "max_blocks_per_part": 1000},
        paths={"single_endpoint": False, "otx_aliases": False},
        http=True,
    )


def deep(n):
    return "<x>" * n + "</x>" * n


def test_deep_nesting_is_bad_message_fast_and_server_survives(server):
    esa = server.client()
    before = count(esa, "security")
    rss = server.rss_kb()
    msg = inbox_message([content_block(deep(100_000))], ["security"])
    r = check(esa.post(INBOX, msg), expect="Status_Message:BAD_MESSAGE")
    assert r.elapsed < 1.0, f"took {r.elapsed:.2f}s"
    assert server.alive()
    req = discovery_request()
    end = b"</taxii_11:Discovery_Request>"
    assert req.body.endswith(end)
    body = req.body[: -len(end)] + deep(100_000).encode() + end
    r = check(esa.post("/services/discovery", body), request_id=None, expect="Status_Message:BAD_MESSAGE")
    assert r.root.get("in_response_to") in (req.id, "0")
    assert r.elapsed < 1.0
    check(esa.post("/services/discovery", discovery_request()), expect="Discovery_Response")
    assert count(esa, "security") == before
    assert server.rss_kb() - rss < 50 * 1024, "memory grew by more than 50 MB"


def test_text_node_over_limit_is_bad_message(small):
    esa = small.client()
    text = "&lt;" + "x" * 10_000_000
    msg = inbox_message([content_block(pkg_with_description(1, text, "huge"), "urn:stix.mitre.org:xml:1.2")],
                        ["big"])
    check(esa.post(INBOX, msg), expect="Status_Message:BAD_MESSAGE")
    assert count(esa, "big") == 0
    assert small.alive()


def test_text_node_under_limit_round_trips(small):
    esa = small.client()
    content = pkg_with_description(2, "&lt;" + "y" * 600_000 + " \u00e9\u20ac", "fits")
    push(esa, "big", [content], binding="urn:stix.mitre.org:xml:1.2")
    r = check(esa.post("/services/poll", poll_request("big")), expect="Poll_Response")
    assert content.encode("utf-8") in r.raw
    assert [b.package_id() for b in r.blocks()] == [package_id(2, "fits")]


def test_body_over_limit_is_413_with_status_message(small):
    esa = small.client()
    body = inbox_message([content_block(pkg_with_description(3, "z" * (13 * MiB), "over"))], ["big"]).body
    r = esa.post(INBOX, body)
    check(r, http_status=413, request_id="0", expect="Status_Message:BAD_MESSAGE")
    assert small.alive()
    check(esa.post("/services/discovery", discovery_request()), expect="Discovery_Response")


def test_parts_are_cut_by_bytes(small):
    esa = small.client()
    contents = [pkg_with_description(n, "p" * 400_000, "bytes") for n in range(1, 6)]
    for c in contents:
        push(esa, "parts", [c], binding="urn:stix.mitre.org:xml:1.2")
    res = poll_all(esa, "parts")
    assert [len(p.blocks()) for p in res.parts] == [2, 2, 1]
    assert res.ids == [package_id(n, "bytes") for n in range(1, 6)]


def test_discovery_addresses_default_to_the_listener(small):
    r = check(small.client().post("/services/discovery", discovery_request()), expect="Discovery_Response")
    addresses = {si.get("service_type"): si.findtext(q("Address")) for si in r.findall("Service_Instance")}
    assert addresses["POLL"] == f"https://127.0.0.1:{small.port}/services/poll"
    assert addresses["INBOX"] == f"https://127.0.0.1:{small.port}/services/inbox"


def test_single_endpoint_off_sends_unsupported_message(small):
    esa = small.client()
    check(esa.post("/services/discovery", poll_request("big")), expect="Status_Message:UNSUPPORTED_MESSAGE")
    check(esa.post("/services/discovery", collection_information_request()),
          expect="Status_Message:UNSUPPORTED_MESSAGE")


def test_otx_aliases_off(small):
    r = small.client().post("/taxii/poll", poll_request("big"))
    assert r.http == 404


def test_large_inbox_is_accepted(server):
    # a legitimate large inbox (2,000 blocks) is accepted in reasonable time
    esa = server.client()
    started = time.monotonic()
    push(esa, "security", [pkg(n, "bulk") for n in range(1, 2001)])
    assert time.monotonic() - started < 30
    assert server.alive()


def test_plain_http_listener_speaks_http_protocol(small):
    from conftest import PASSWORD
    from taxii import Client
    base = f"http://{small.addrs['http']}"
    c = Client(base, small.ca, "esa", PASSWORD)
    r = check(c.post("/services/discovery", discovery_request()), https=False, expect="Discovery_Response")
    for si in r.findall("Service_Instance"):
        assert si.findtext(q("Protocol_Binding")) == "urn:taxii.mitre.org:protocol:http:1.0"
        assert si.findtext(q("Address")).startswith(base + "/")
    check(c.post("/services/poll", poll_request("big")), https=False, expect="Poll_Response")
