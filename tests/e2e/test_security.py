"""Entities and inclusion: no DTD is ever honoured, nothing is fetched or read, nothing stored."""

import http.server
import threading
import uuid

import pytest

from builders import NS11, content_block, inbox_message, new_id, poll_request
from packages import NAMESPACES
from taxii import check, count, poll_all

INBOX = "/services/inbox"


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    """A local file with a unique text that must never be served."""
    secret = f"CANARY-{uuid.uuid4().hex}"
    path = tmp_path_factory.mktemp("canary") / "secret.txt"
    path.write_text(secret)
    return path, secret


@pytest.fixture(scope="module")
def dtd_server(canary):
    """A loopback HTTP server that records every request (an external DTD must not be fetched)."""
    hits = []
    _, secret = canary

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = f'<!ENTITY leak "{secret}">'.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    srv.shutdown()


def inbox_with_doctype(doctype, title):
    mid = new_id()
    content = (f'<stix:STIX_Package {NAMESPACES} id="test:Package-sec" version="1.1.1">'
               f"<stix:STIX_Header><stix:Title>{title}</stix:Title></stix:STIX_Header>"
               "</stix:STIX_Package>")
    body = (f"{doctype}\n"
            f'<taxii_11:Inbox_Message xmlns:taxii_11="{NS11}" message_id="{mid}">'
            "<taxii_11:Destination_Collection_Name>security</taxii_11:Destination_Collection_Name>"
            f"{content_block(content)}</taxii_11:Inbox_Message>")
    return mid, body.encode()


def refused(server, body, mid):
    esa = server.client()
    before = count(esa, "security")
    rss = server.rss_kb()
    r = check(esa.post(INBOX, body), request_id=None, expect="Status_Message:BAD_MESSAGE")
    assert r.root.get("in_response_to") in (mid, "0")
    assert r.elapsed < 1.0
    assert server.alive()
    assert server.rss_kb() - rss < 10 * 1024, "memory grew by more than 10 MB"
    assert count(esa, "security") == before, "something was stored"
    return r


def test_external_entity_is_refused(server, canary):
    path, secret = canary
    mid, body = inbox_with_doctype(
        f'<!DOCTYPE taxii_11:Inbox_Message [ <!ENTITY leak SYSTEM "file://{path}"> ]>', "&leak;")
    r = refused(server, body, mid)
    assert secret.encode() not in r.raw
    for p in poll_all(server.client(), "security").parts:
        assert secret.encode() not in p.raw


def test_billion_laughs_is_refused(server):
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    mid, body = inbox_with_doctype(f"<!DOCTYPE taxii_11:Inbox_Message [ {' '.join(ents)} ]>", "&lol9;")
    refused(server, body, mid)


def test_parameter_entity_with_external_dtd_is_refused_and_not_fetched(server, dtd_server):
    url, hits = dtd_server
    mid, body = inbox_with_doctype(
        f'<!DOCTYPE taxii_11:Inbox_Message [ <!ENTITY % ext SYSTEM "{url}/evil.dtd"> %ext; ]>',
        "&leak;")
    refused(server, body, mid)
    mid, body = inbox_with_doctype(f'<!DOCTYPE taxii_11:Inbox_Message SYSTEM "{url}/other.dtd">', "t")
    refused(server, body, mid)
    assert hits == [], f"the server fetched {hits}"


def test_doctype_in_poll_request_is_refused(server):
    esa = server.client()
    req = poll_request("security")
    body = b'<!DOCTYPE x [ <!ENTITY a "b"> ]>\n' + req.body
    r = check(esa.post("/services/poll", body), request_id=None, expect="Status_Message:BAD_MESSAGE")
    assert r.root.get("in_response_to") in (req.id, "0")


def test_xinclude_is_never_resolved(server, canary):
    path, secret = canary
    esa = server.client()
    content = (f'<stix:STIX_Package {NAMESPACES} xmlns:xi="http://www.w3.org/2001/XInclude" '
               'id="test:Package-xinclude" version="1.1.1"><stix:STIX_Header><stix:Title>'
               f'<xi:include href="file://{path}" parse="text"/></stix:Title></stix:STIX_Header>'
               "</stix:STIX_Package>")
    r = check(esa.post(INBOX, inbox_message([content_block(content)], ["security"])))
    assert r.status in ("SUCCESS", "BAD_MESSAGE"), r.raw[:300]
    served = poll_all(esa, "security")
    for p in served.parts:
        assert secret.encode() not in p.raw, "an included file was served"
    if r.status == "SUCCESS":
        assert "test:Package-xinclude" in served.ids
