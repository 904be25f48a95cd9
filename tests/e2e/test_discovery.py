"""Discovery and Collection_Information: absolute addresses, visibility, OTX-style paths."""

from collections import Counter

import pytest

from builders import collection_information_request, discovery_request, poll_request
from conftest import COLLECTIONS, PUBLIC_URL
from taxii import PROTO_HTTPS, check, q

SERVICE_PATHS = {
    "DISCOVERY": "/services/discovery",
    "COLLECTION_MANAGEMENT": "/services/collection-management",
    "POLL": "/services/poll",
    "INBOX": "/services/inbox",
}


def services(resp):
    out = []
    for si in resp.findall("Service_Instance"):
        out.append({
            "type": si.get("service_type"),
            "version": si.get("service_version"),
            "protocol": si.findtext(q("Protocol_Binding")),
            "address": si.findtext(q("Address")),
            "bindings": [e.text for e in si.findall(q("Message_Binding"))],
        })
    return out


def collections(resp):
    out = {}
    for c in resp.findall("Collection"):
        out[c.get("collection_name")] = c
    return out


def test_discovery_lists_every_service_once_with_absolute_public_addresses(esa):
    req = discovery_request()
    r = check(esa.post("/services/discovery", req), expect="Discovery_Response")
    found = services(r)
    counts = Counter(s["type"] for s in found if "urn:taxii.mitre.org:message:xml:1.1" in s["bindings"])
    for kind in SERVICE_PATHS:
        # cabby, used without --path, refuses a discovery answer with two services of a type
        assert counts[kind] == 1, f"{kind} advertised {counts[kind]} times: {found}"
    for s in found:
        assert s["version"] == "urn:taxii.mitre.org:services:1.1"
        assert s["protocol"] == PROTO_HTTPS
        assert s["address"].startswith(PUBLIC_URL + "/"), s
        if s["type"] in SERVICE_PATHS:
            assert s["address"] == PUBLIC_URL + SERVICE_PATHS[s["type"]]


def test_collection_information_shows_only_readable_collections(server):
    esa = server.client()
    r = check(esa.post("/services/collection-management", collection_information_request()),
              expect="Collection_Information_Response")
    got = collections(r)
    readable = {n for n, spec in COLLECTIONS.items() if "esa" in spec["read"]}
    assert set(got) == readable
    assert "secret" not in r.raw.decode()
    for name, c in got.items():
        assert c.get("collection_type", "DATA_FEED") == "DATA_FEED"
        assert c.findtext(q("Description")), name
        polls = [p.findtext(q("Address")) for p in c.findall(q("Polling_Service"))]
        assert polls == [PUBLIC_URL + "/services/poll"], (name, polls)
        bindings = {b.get("binding_id") for b in c.findall(q("Content_Binding"))}
        assert not bindings or {"urn:stix.mitre.org:xml:1.2", "urn:stix.mitre.org:xml:1.1.1"} <= bindings

    reader = server.client("reader")
    r = check(reader.post("/services/collection-management", collection_information_request()),
              expect="Collection_Information_Response")
    assert set(collections(r)) == {"otx-mirror", "public"}


def test_anonymous_collection_information_shows_only_anonymous_collections(server):
    r = check(server.anonymous().post("/services/collection-management",
                                      collection_information_request()),
              expect="Collection_Information_Response")
    assert set(collections(r)) == {"public"}
    assert "secret" not in r.raw.decode() and "otx-mirror" not in r.raw.decode()


@pytest.mark.parametrize("path,msg,expect", [
    ("/taxii/discovery", discovery_request, "Discovery_Response"),
    ("/taxii/collections", collection_information_request, "Collection_Information_Response"),
    ("/taxii/poll", lambda: poll_request("otx-mirror"), "Poll_Response"),
])
def test_otx_alias_paths_answer(esa, path, msg, expect):
    check(esa.post(path, msg()), expect=expect)


def test_otx_alias_inbox_accepts_content(esa):
    from builders import content_block, inbox_message
    from packages import pkg
    r = esa.post("/taxii/inbox", inbox_message([content_block(pkg(1, "alias"))], ["otx-mirror"]))
    check(r, expect="Status_Message:SUCCESS")
