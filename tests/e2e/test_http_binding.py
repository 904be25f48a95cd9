"""The HTTP binding: methods, headers, versions, and messages sent to the wrong service."""

import pytest

from builders import (NS10, collection_information_request, content_block, discovery_request,
                      inbox_message, poll_request)
from packages import pkg
from taxii import BINDING, SERVICES, PROTO_HTTP, check

PATHS = ["/services/discovery", "/services/collection-management", "/services/poll",
         "/services/inbox", "/taxii/poll"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_non_post_is_405_with_allow_post(esa, path, method):
    r = esa.session.request(method, esa.base + path, verify=esa.ca, headers=esa.headers())
    assert r.status_code == 405
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert "POST" in allow, r.headers


def test_collection_information_and_poll_at_discovery_path_are_answered(esa):
    check(esa.post("/services/discovery", collection_information_request()),
          expect="Collection_Information_Response")
    r = check(esa.post("/services/discovery", poll_request("otx-mirror")), expect="Poll_Response")
    assert r.root.get("collection_name") == "otx-mirror"


@pytest.mark.parametrize("path,msg", [
    ("/services/inbox", lambda: poll_request("otx-mirror")),
    ("/services/poll", lambda: inbox_message([content_block(pkg(1, "wrong"))], ["otx-mirror"])),
    ("/services/poll", discovery_request),
    ("/services/inbox", collection_information_request),
])
def test_message_at_wrong_service_is_unsupported_message(esa, path, msg):
    check(esa.post(path, msg()), expect="Status_Message:UNSUPPORTED_MESSAGE")


def test_taxii10_headers_and_body_get_a_10_answer(esa):
    mid = "12345"
    body = f'<taxii:Discovery_Request xmlns:taxii="{NS10}" message_id="{mid}"/>'.encode()
    headers = {"X-TAXII-Content-Type": BINDING["1.0"], "X-TAXII-Accept": BINDING["1.0"],
               "X-TAXII-Services": SERVICES["1.0"]}
    r = check(esa.post("/services/discovery", body, headers=headers), request_id=mid)
    assert r.version == "1.0"
    assert r.name == "Discovery_Response" or r.status == "UNSUPPORTED_MESSAGE"


def test_11_header_with_10_body_is_bad_message(esa):
    mid = "12346"
    body = f'<taxii:Discovery_Request xmlns:taxii="{NS10}" message_id="{mid}"/>'.encode()
    r = check(esa.post("/services/discovery", body), request_id=mid)
    assert r.status == "BAD_MESSAGE", r.raw[:400]


def test_missing_content_type_header_is_decided_by_body(esa):
    req = discovery_request()
    r = check(esa.post("/services/discovery", req, drop=["X-TAXII-Content-Type"]),
              expect="Discovery_Response")
    assert r.version == "1.1"


def test_unknown_content_type_header_is_bad_message(esa):
    req = discovery_request()
    r = esa.post("/services/discovery", req,
                 headers={"X-TAXII-Content-Type": "urn:example.test:message:json"})
    check(r, expect="Status_Message:BAD_MESSAGE")


def test_missing_accept_headers_still_served(esa):
    req = poll_request("otx-mirror")
    check(esa.post("/services/poll", req, drop=["Accept", "X-TAXII-Accept"]), expect="Poll_Response")
    req = poll_request("otx-mirror")
    check(esa.post("/services/poll", req, drop=["X-TAXII-Services"]), expect="Poll_Response")


def test_http_protocol_header_over_tls_still_served(server, esa):
    req = poll_request("otx-mirror")
    r = check(esa.post("/services/poll", req, headers={"X-TAXII-Protocol": PROTO_HTTP}),
              expect="Poll_Response")
    assert r.headers["X-TAXII-Protocol"].endswith("https:1.0")


def test_xml_declaration_and_bom_are_accepted(esa):
    req = discovery_request()
    body = b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + req.body
    check(esa.post("/services/discovery", body), request_id=req.id, expect="Discovery_Response")


def test_not_xml_is_bad_message_in_response_to_zero(esa):
    r = check(esa.post("/services/poll", b"this is not xml"), request_id="0",
              expect="Status_Message:BAD_MESSAGE")
    assert r.version == "1.1"


def test_unknown_path_is_not_a_taxii_service(esa):
    r = esa.post("/services/nothing-here", discovery_request())
    assert r.http == 404
