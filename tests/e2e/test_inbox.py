"""Inbox: statuses and their details, duplicates, atomicity; content served back as pushed."""

from lxml import etree

from builders import STIX_12, STIX_111, content_block, inbox_message, poll_request
from packages import package_id, pkg, pkg_with_cdata
from taxii import check, count, poll_all, push

INBOX = "/services/inbox"


def test_push_is_success_and_stored(esa):
    before = count(esa, "inbox")
    msg = inbox_message([content_block(pkg(1, "ok"))], ["inbox"])
    check(esa.post(INBOX, msg), expect="Status_Message:SUCCESS")
    assert count(esa, "inbox") == before + 1


def test_duplicate_push_is_stored_once(esa):
    before = count(esa, "inbox")
    for _ in range(2):
        check(esa.post(INBOX, inbox_message([content_block(pkg(1, "dup"))], ["inbox"])),
              expect="Status_Message:SUCCESS")
    assert count(esa, "inbox") == before + 1
    ids = poll_all(esa, "inbox").ids
    assert ids.count(package_id(1, "dup")) == 1


def test_no_destination_lists_acceptable_destinations_in_status_detail(esa):
    before = count(esa, "inbox")
    r = check(esa.post(INBOX, inbox_message([content_block(pkg(1, "nodest"))])),
              expect="Status_Message:DESTINATION_COLLECTION_ERROR")
    dests = r.details().get("ACCEPTABLE_DESTINATION", [])
    assert "otx-mirror" in dests and "inbox" in dests, r.raw[:800]
    assert "secret" not in dests and "empty" not in dests, "only collections the user may write"
    sd = r.find("Status_Detail")
    assert sd is not None and len(sd.findall("{*}Detail")) == len(dests)
    assert count(esa, "inbox") == before


def test_unknown_destination_is_destination_collection_error(esa):
    r = check(esa.post(INBOX, inbox_message([content_block(pkg(1, "x"))], ["nope"])),
              expect="Status_Message:DESTINATION_COLLECTION_ERROR")
    assert "nope" not in r.details().get("ACCEPTABLE_DESTINATION", [])


def test_destination_without_write_right_is_refused(server):
    reader = server.client("reader")
    before = count(server.client(), "otx-mirror")
    r = check(reader.post(INBOX, inbox_message([content_block(pkg(1, "ro"))], ["otx-mirror"])))
    assert r.status in ("DESTINATION_COLLECTION_ERROR", "UNAUTHORIZED", "DENIED"), r.raw[:400]
    assert count(server.client(), "otx-mirror") == before


def test_unknown_binding_is_unsupported_content_and_nothing_stored(esa):
    before = count(esa, "inbox")
    msg = inbox_message([content_block(pkg(1, "bogus"), "urn:example.test:bogus")], ["inbox"])
    r = check(esa.post(INBOX, msg), expect="Status_Message:UNSUPPORTED_CONTENT")
    assert {STIX_12, STIX_111} <= set(r.details().get("SUPPORTED_CONTENT", [])), r.raw[:800]
    assert count(esa, "inbox") == before


def test_malformed_content_is_bad_message_and_nothing_stored(esa):
    before = count(esa, "inbox")
    broken = "&lt;stix:STIX_Package xmlns:stix=&quot;http://stix.mitre.org/stix-1&quot;&gt;&lt;oops"
    msg = inbox_message([content_block(pkg(1, "good1")), content_block(broken),
                         content_block(pkg(2, "good2"))], ["inbox"])
    check(esa.post(INBOX, msg), expect="Status_Message:BAD_MESSAGE")
    assert count(esa, "inbox") == before, "an inbox message is stored whole or not at all"


def test_malformed_envelope_is_bad_message_with_in_response_to_zero(esa):
    body = b'<taxii_11:Inbox_Message xmlns:taxii_11="http://taxii.mitre.org/messages/taxii_xml_binding-1.1"'
    r = esa.post(INBOX, body + b' message_id="m1"><taxii_11:Content_Block></taxii_11:Inbox_Message>')
    r = check(r, request_id=None, expect="Status_Message:BAD_MESSAGE")
    assert r.root.get("in_response_to") in ("0", "m1")


def test_content_comes_back_as_child_element_byte_equal(esa):
    for content in (pkg(1, "rt"), pkg_with_cdata("rtcdata")):
        push(esa, "content", [content])
    r = check(esa.post("/services/poll", poll_request("content")), expect="Poll_Response")
    by_id = {b.package_id(): b for b in r.blocks()}
    for content in (pkg(1, "rt"), pkg_with_cdata("rtcdata")):
        block = by_id[etree.fromstring(content.encode()).get("id")]
        assert block.binding == STIX_111
        child = block.child()
        assert child is not None and etree.QName(child).localname == "STIX_Package"
        assert not (block.content.text or "").strip()
        sent = content.encode("utf-8")
        assert sent in r.raw, "content not served byte-for-byte as pushed"
        assert etree.tostring(child, method="c14n", exclusive=True) == etree.tostring(
            etree.fromstring(sent), method="c14n", exclusive=True)
    assert b"\\x3c" not in r.raw and b"&lt;stix:" not in r.raw
    assert b"<![CDATA[a <raw> & \"quoted\" title]]>" in r.raw
    assert "\u20ac \u65e5\u672c".encode("utf-8") in r.raw


def test_pushed_label_is_replaced_by_server_label(esa):
    old = "2001-01-01T00:00:00Z"
    msg = inbox_message([content_block(pkg(1, "lbl"), label=old)], ["content"])
    check(esa.post(INBOX, msg), expect="Status_Message:SUCCESS")
    blocks = [b for b in poll_all(esa, "content").blocks if b.package_id() == package_id(1, "lbl")]
    assert len(blocks) == 1 and blocks[0].label_text != old
    assert blocks[0].label.year >= 2024
