"""Hostile HTTP against the real binary: slow clients, piles of idle connections, a flood of
failed logins, a body that is a URL. Each is bounded in count and time; afterwards the server
is alive and serves the legitimate user."""

import base64
import http.client
import http.server
import os
import resource
import socket
import ssl
import threading
import time

import pytest
import requests
from lxml import etree
from requests.structures import CaseInsensitiveDict

from builders import content_block, inbox_message, poll_request
from conftest import PASSWORD
from packages import pkg
from taxii import Response, _parser, check, count, push

POLL = "/services/poll"
INBOX = "/services/inbox"
CLIENT_TIMEOUT = 2
BODY_TIMEOUT = 3
MAX_CONNECTIONS = 64
LOGINS_PER_MINUTE = 5


@pytest.fixture(scope="module")
def hostile(make_server):
    """A server of its own, with short timeouts and small limits."""
    return make_server(
        "hostile",
        collections={"h": dict(read=["esa"], write=["esa"])},
        limits={"client_timeout_secs": CLIENT_TIMEOUT, "body_timeout_secs": BODY_TIMEOUT,
                "keep_alive_secs": 2, "max_connections": MAX_CONNECTIONS,
                "failed_logins_per_minute": LOGINS_PER_MINUTE})


def tls_context(server):
    ctx = ssl.create_default_context(cafile=server.ca)
    return ctx


def tls_socket(server, source="127.0.0.1"):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30,
                                   source_address=(source, 0))
    return tls_context(server).wrap_socket(raw, server_hostname="127.0.0.1")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post_from(server, source, body, authorization=None, path=POLL):
    """One POST over a fresh connection from the loopback address `source`."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=30,
                                       context=tls_context(server), source_address=(source, 0))
    headers = {"Content-Type": "application/xml",
               "X-TAXII-Content-Type": "urn:taxii.mitre.org:message:xml:1.1",
               "X-TAXII-Accept": "urn:taxii.mitre.org:message:xml:1.1",
               "X-TAXII-Services": "urn:taxii.mitre.org:services:1.1",
               "X-TAXII-Protocol": "urn:taxii.mitre.org:protocol:https:1.0"}
    if authorization:
        headers["Authorization"] = authorization
    started = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    resp = Response(r.status, CaseInsensitiveDict(r.getheaders()), raw, time.monotonic() - started, None)
    if raw.lstrip().startswith(b"<"):
        resp.root = etree.fromstring(raw, _parser)
    return resp


def healthy(server):
    assert server.alive(), server.log()[-3000:]
    check(server.client().post(POLL, poll_request("h")), expect="Poll_Response")


def drip(sock, data, interval, deadline):
    """Send `data` one byte every `interval` seconds until the server closes the connection
    or `deadline`; returns (what the server answered, seconds until it closed)."""
    started = time.monotonic()
    sock.settimeout(interval)
    answer = b""
    for i in range(len(data)):
        if time.monotonic() - started > deadline:
            break
        try:
            sock.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return answer, time.monotonic() - started
        try:
            chunk = sock.recv(65536)
            if not chunk:
                return answer, time.monotonic() - started
            answer += chunk
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            return answer, time.monotonic() - started
    return answer, None


def test_slow_headers_are_cut_off(hostile):
    sock = tls_socket(hostile)
    head = (f"POST {POLL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
            "X-Padding: " + "a" * 40 + "\r\n\r\n").encode()
    answer, closed_after = drip(sock, head, 1.0, deadline=CLIENT_TIMEOUT + 8)
    sock.close()
    assert closed_after is not None, "a client sending a byte a second kept its connection"
    assert closed_after < CLIENT_TIMEOUT + 4, closed_after
    assert answer == b"" or b" 408 " in answer.split(b"\r\n", 1)[0], answer[:200]
    healthy(hostile)


def test_slow_body_gets_a_timeout_status(hostile):
    body = poll_request("h").body
    sock = tls_socket(hostile)
    head = (f"POST {POLL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
            f"Authorization: {basic('esa', PASSWORD)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head)
    started = time.monotonic()
    answer, closed_after = drip(sock, body, 1.0, deadline=BODY_TIMEOUT + 8)
    sock.close()
    assert closed_after is not None or answer, "a body sent a byte a second was waited for"
    assert time.monotonic() - started < BODY_TIMEOUT + 5
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 408 " in status_line, answer[:300]
    body_xml = rest.split(b"\r\n\r\n", 1)[1]
    assert b"BAD_MESSAGE" in body_xml and b"did not arrive within" in body_xml, body_xml[:400]
    assert "request body not received in time" in hostile.log()
    healthy(hostile)


def open_fds(server):
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def test_thousands_of_idle_connections_are_bounded(hostile):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < wanted + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted + 400), hard))
    n = min(wanted, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
    assert n >= 500, "cannot open enough sockets for this test"
    baseline = open_fds(hostile)
    idle = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", hostile.port))
            except BlockingIOError:
                pass
            idle.append(s)
        time.sleep(1.5)
        held = open_fds(hostile) - baseline
        # The server holds at most its limit; the rest wait in the kernel's backlog.
        assert held <= MAX_CONNECTIONS + 8, f"{held} connections held, limit {MAX_CONNECTIONS}"
        assert hostile.alive()
        # Idle connections that never start TLS are dropped after the handshake timeout.
        time.sleep(6.5)
        dropped = 0
        for s in idle[:MAX_CONNECTIONS]:
            try:
                if s.recv(1) == b"":
                    dropped += 1
            except BlockingIOError:
                pass
            except OSError:
                dropped += 1
        assert dropped >= MAX_CONNECTIONS // 2, f"only {dropped} idle connections were dropped"
    finally:
        for s in idle:
            s.close()
    time.sleep(0.5)
    started = time.monotonic()
    healthy(hostile)
    assert time.monotonic() - started < 10
    assert open_fds(hostile) - baseline <= MAX_CONNECTIONS + 8


def unauthorized_count(server):
    """Requests answered UNAUTHORIZED, from /metrics."""
    text = requests.get(f"http://{server.addrs['admin']}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("taxii_mirror_requests_total{") and 'status="UNAUTHORIZED"' in line)


def test_failed_login_flood_is_throttled_and_the_user_still_gets_in(hostile):
    attacker = "127.0.0.2"
    req = poll_request("h").body
    times = []
    refused_before = unauthorized_count(hostile)
    for i in range(4 * LOGINS_PER_MINUTE):
        r = post_from(hostile, attacker, req, basic("esa", f"guess-{i}"))
        check(r, request_id=None, expect="Status_Message:UNAUTHORIZED")
        times.append(r.elapsed)
    # Once throttled, no password is checked: refusals are quick and alike.
    assert max(times[-LOGINS_PER_MINUTE:]) < 0.5, times
    # Even the right password is refused from the throttled address, for now.
    r = post_from(hostile, attacker, req, basic("esa", PASSWORD))
    check(r, request_id=None, expect="Status_Message:UNAUTHORIZED")
    # Every refusal is counted, the throttled ones too (they are not logged one by one).
    assert unauthorized_count(hostile) - refused_before == 4 * LOGINS_PER_MINUTE + 1
    # The legitimate user, from another address, gets in at once.
    r = post_from(hostile, "127.0.0.1", req, basic("esa", PASSWORD))
    check(r, request_id=None, expect="Poll_Response")
    log = hostile.log()
    warned = [line for line in log.splitlines()
              if "too many failed logins" in line and "127.0.0.2" in line]
    assert len(warned) == 1, warned
    assert "WARN" in warned[0] or '"level":"WARN"' in warned[0], warned[0]
    # One warn line per refused password check, none per throttled refusal.
    checked = [line for line in log.splitlines()
               if "login failed" in line and "127.0.0.2" in line]
    assert len(checked) <= LOGINS_PER_MINUTE + 1, len(checked)


def test_an_authorization_header_that_is_not_text_is_refused_not_anonymous(make_server):
    s = make_server("bytes-auth", collections={"open": dict(read=["esa"], anonymous_read=True)})
    req = poll_request("open").body
    assert post_from(s, "127.0.0.1", req).root is not None  # anonymous is served
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=30, context=tls_context(s))
    try:
        conn.putrequest("POST", POLL)
        for k, v in (("Content-Type", "application/xml"),
                     ("X-TAXII-Content-Type", "urn:taxii.mitre.org:message:xml:1.1"),
                     ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1"),
                     ("Content-Length", str(len(req)))):
            conn.putheader(k, v)
        conn.putheader("Authorization", b"Basic \xff\xfe")
        conn.endheaders(req)
        raw = conn.getresponse().read()
    finally:
        conn.close()
    assert b"UNAUTHORIZED" in raw and b"Poll_Response" not in raw, raw[:400]


@pytest.fixture
def listener():
    """A loopback HTTP server that records every request it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = poll_request("h").body
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    srv.shutdown()
    srv.server_close()


def test_a_body_that_is_a_url_is_never_fetched(hostile, listener):
    url, hits = listener
    esa = hostile.client()
    push(esa, "h", [pkg(1, "url")])
    before = count(esa, "h")
    for body in (f"{url}/poll.xml", f"  {url}/inbox.xml\n", "file:///etc/passwd",
                 f'<?xml-stylesheet href="{url}/x.xsl"?>' + poll_request("h").body.decode()):
        for path in (POLL, INBOX):
            r = esa.post(path, body.encode())
            if body.startswith("<?xml-stylesheet"):
                check(r, request_id=None)
            else:
                check(r, request_id=None, expect="Status_Message:BAD_MESSAGE")
    content = f'<x:Package xmlns:x="urn:x" href="{url}/content"><x:Link>{url}/c</x:Link></x:Package>'
    check(esa.post(INBOX, inbox_message([content_block(content)], ["h"])))
    time.sleep(0.5)
    assert hits == [], f"the server fetched {hits}"
    assert count(esa, "h") <= before + 1
    healthy(hostile)
