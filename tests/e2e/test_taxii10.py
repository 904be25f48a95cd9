"""TAXII 1.0: discovery, feed information and poll (which has no parts)."""

import pytest

from builders import STIX_111, discovery_request_10, feed_information_request_10, poll_request_10
from conftest import COLLECTIONS, PUBLIC_URL
from packages import package_id, pkg
from taxii import check, push, q

N = 600  # more than a 1.1 part holds


@pytest.fixture(scope="module")
def loaded(server):
    esa = server.client()
    push(esa, "v10", [pkg(n, "v10") for n in range(1, N + 1)])
    return esa


def test_discovery_10(esa):
    r = check(esa.post("/services/discovery", discovery_request_10()), expect="Discovery_Response")
    assert r.version == "1.0"
    found = {}
    for si in r.findall("Service_Instance"):
        assert si.get("service_version") == "urn:taxii.mitre.org:services:1.0"
        assert si.findtext(q("Address", "1.0")).startswith(PUBLIC_URL + "/")
        bindings = [b.text for b in si.findall(q("Message_Binding", "1.0"))]
        assert "urn:taxii.mitre.org:message:xml:1.0" in bindings
        found.setdefault(si.get("service_type"), 0)
        found[si.get("service_type")] += 1
    for kind in ("DISCOVERY", "FEED_MANAGEMENT", "POLL"):
        assert found.get(kind) == 1, found


def test_feed_information_10(esa):
    r = check(esa.post("/services/collection-management", feed_information_request_10()),
              expect="Feed_Information_Response")
    feeds = {f.get("feed_name"): f for f in r.findall("Feed")}
    assert set(feeds) == {n for n, s in COLLECTIONS.items() if "esa" in s["read"]}
    f = feeds["v10"]
    bindings = {b.text for b in f.findall(q("Content_Binding", "1.0"))}
    assert STIX_111 in bindings
    polls = [p.findtext(q("Address", "1.0")) for p in f.findall(q("Polling_Service", "1.0"))]
    assert polls == [PUBLIC_URL + "/services/poll"]


def test_poll_10_returns_everything_in_one_response(loaded):
    r = check(loaded.post("/services/poll", poll_request_10("v10")), expect="Poll_Response")
    assert r.version == "1.0" and r.root.get("feed_name") == "v10"
    ids = [b.package_id() for b in r.blocks()]
    assert ids == [package_id(n, "v10") for n in range(1, N + 1)]
    assert {b.binding for b in r.blocks()} == {STIX_111}


def test_poll_10_window(loaded):
    every = check(loaded.post("/services/poll", poll_request_10("v10")), expect="Poll_Response").blocks()
    b, e = every[9].label_text, every[19].label_text
    r = check(loaded.post("/services/poll", poll_request_10("v10", begin=b, end=e)), expect="Poll_Response")
    assert [x.package_id() for x in r.blocks()] == [package_id(n, "v10") for n in range(11, 21)]
    assert r.end == every[19].label


def test_poll_10_unknown_feed(esa):
    r = check(esa.post("/services/poll", poll_request_10("nope")), expect="Status_Message")
    assert r.version == "1.0" and r.status == "NOT_FOUND"


def test_poll_10_naive_timestamp_is_bad_message(esa):
    r = check(esa.post("/services/poll", poll_request_10("v10", begin="2024-01-01T00:00:00")),
              expect="Status_Message")
    assert r.status == "BAD_MESSAGE"
