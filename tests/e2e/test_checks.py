"""The response checker itself: it must refuse the faults other servers were seen making."""

import pytest
from lxml import etree

from conftest import binary_path
from taxii import BINDING, PROTO_HTTPS, SERVICES, NS11, Response, check

HEADERS = {"Content-Type": "application/xml", "X-TAXII-Content-Type": BINDING["1.1"],
           "X-TAXII-Services": SERVICES["1.1"], "X-TAXII-Protocol": PROTO_HTTPS}
PKG = '<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="x:1" version="1.2"/>'


def poll_response(end="<t:Inclusive_End_Timestamp>2024-01-02T00:00:00Z</t:Inclusive_End_Timestamp>",
                  label="2024-01-01T00:00:00Z", content=PKG, irt="req-1"):
    body = (f'<t:Poll_Response xmlns:t="{NS11}" message_id="m1" in_response_to="{irt}" '
            f'collection_name="c" more="false">{end}'
            '<t:Content_Block><t:Content_Binding binding_id="urn:stix.mitre.org:xml:1.2"/>'
            f"<t:Content>{content}</t:Content><t:Timestamp_Label>{label}</t:Timestamp_Label>"
            "</t:Content_Block></t:Poll_Response>").encode()
    return body


def resp(body, headers=HEADERS):
    return Response(200, dict(headers), body, 0.0, "req-1", etree.fromstring(body))


def test_a_good_response_passes():
    check(resp(poll_response()), expect="Poll_Response")


@pytest.mark.parametrize("body,why", [
    (poll_response(end=""), "no Inclusive_End_Timestamp"),
    (poll_response(label="2024-01-01T00:00:00.1234567Z"), "seven fraction digits"),
    (poll_response(label="2024-01-01T08:00:00+08:00"), "label not in UTC"),
    (poll_response(label="2024-01-03T00:00:00Z"), "label after the end"),
    (poll_response(content="&lt;stix:STIX_Package/&gt;"), "content as escaped text"),
    (poll_response(content="3c737469783a"), "content as hex"),
    (poll_response(irt="other"), "in_response_to differs"),
])
def test_faulty_responses_are_refused(body, why):
    with pytest.raises(AssertionError):
        check(resp(body))


def test_header_disagreeing_with_body_is_refused():
    with pytest.raises(AssertionError):
        check(resp(poll_response(), dict(HEADERS, **{"X-TAXII-Content-Type": BINDING["1.0"]})))


def test_schema_invalid_response_is_refused():
    body = f'<t:Status_Message xmlns:t="{NS11}" message_id="m1" in_response_to="req-1"/>'.encode()
    with pytest.raises(AssertionError):
        check(resp(body))


def test_output_to_a_closed_pipe_ends_quietly(binary):
    # `taxii-mirror ... | head` closes the pipe early: the command must not panic.
    import subprocess
    p = subprocess.Popen([str(binary_path()), "hash-password"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader goes away before anything is written
    _, err = p.communicate(input=b"a password\n", timeout=60)
    assert p.returncode == 0, err.decode(errors="replace")
    assert b"panicked" not in err and b"Broken pipe" not in err, err.decode(errors="replace")
