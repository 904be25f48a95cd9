"""Talking TAXII to the server under test, and checking every answer.

`Client.post` sends a body with the request headers real clients send, over HTTPS
verified against the test CA. `check` asserts what every response must satisfy: headers that
agree with the body's namespace, validity against the TAXII XSD shipped with libtaxii, that
libtaxii (what cabby uses) can read it, and the rules the XSD cannot express (in_response_to,
end timestamp on every poll response, UTC labels with at most six fraction digits).
"""

import base64
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests
from libtaxii import messages_10 as tm10
from libtaxii import messages_11 as tm11
from libtaxii.validation import SchemaValidator
from lxml import etree

from builders import NS10, NS11, STIX_12, STIX_111  # noqa: F401  (re-exported)

BINDING = {"1.1": "urn:taxii.mitre.org:message:xml:1.1", "1.0": "urn:taxii.mitre.org:message:xml:1.0"}
SERVICES = {"1.1": "urn:taxii.mitre.org:services:1.1", "1.0": "urn:taxii.mitre.org:services:1.0"}
PROTO_HTTPS = "urn:taxii.mitre.org:protocol:https:1.0"
PROTO_HTTP = "urn:taxii.mitre.org:protocol:http:1.0"
NS_OF = {"1.1": NS11, "1.0": NS10}
VERSION_OF_NS = {NS11: "1.1", NS10: "1.0"}

STATUS_TYPES = {
    "SUCCESS", "FAILURE", "BAD_MESSAGE", "DENIED", "NOT_FOUND", "UNAUTHORIZED",
    "UNSUPPORTED_MESSAGE", "UNSUPPORTED_CONTENT", "UNSUPPORTED_PROTOCOL", "UNSUPPORTED_QUERY",
    "INVALID_RESPONSE_PART", "DESTINATION_COLLECTION_ERROR", "PENDING", "RETRY",
    "NETWORK_ERROR", "ASYNCHRONOUS_POLL_ERROR", "POLLING_UNSUPPORTED",
}
REQUIRED_DETAILS = {
    "INVALID_RESPONSE_PART": {"MAX_PART_NUMBER"},
    "PENDING": {"ESTIMATED_WAIT", "RESULT_ID", "WILL_PUSH"},
}
TIMESTAMP_ELEMENTS = {"Exclusive_Begin_Timestamp", "Inclusive_End_Timestamp",
                      "Inclusive_Begin_Timestamp", "Timestamp_Label"}
UTC_LABEL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)$")
RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")

_validators = {}
_parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def validator(version):
    if version not in _validators:
        path = SchemaValidator.TAXII_11_SCHEMA if version == "1.1" else SchemaValidator.TAXII_10_SCHEMA
        _validators[version] = SchemaValidator(path)
    return _validators[version]


def parse_ts(text):
    """An RFC 3339 timestamp as an aware datetime (fraction cut to microseconds)."""
    m = RFC3339.match(text.strip())
    assert m, f"not an RFC 3339 timestamp with a zone: {text!r}"
    y, mo, d, h, mi, s, frac, zone = m.groups()
    micros = int((frac[1:] + "000000")[:6]) if frac else 0
    tz = timezone.utc
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=tz)


def fmt_ts(dt):
    """A datetime as a UTC label with six fraction digits."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def q(name, version="1.1"):
    return f"{{{NS_OF[version]}}}{name}"


@dataclass
class Block:
    binding: str
    content: etree._Element  # the Content element
    label: datetime | None
    label_text: str | None

    def child(self):
        kids = [c for c in self.content if isinstance(c.tag, str)]
        return kids[0] if len(kids) == 1 else None

    def package_id(self):
        c = self.child()
        return c.get("id") if c is not None else None


@dataclass
class Response:
    http: int
    headers: dict
    raw: bytes
    elapsed: float
    request_id: str | None = None
    root: etree._Element | None = field(default=None, repr=False)

    @property
    def version(self):
        return VERSION_OF_NS.get(etree.QName(self.root).namespace) if self.root is not None else None

    @property
    def name(self):
        return etree.QName(self.root).localname if self.root is not None else None

    def find(self, name):
        return self.root.find(q(name, self.version))

    def findall(self, name):
        return self.root.findall(q(name, self.version))

    def text(self, name):
        e = self.find(name)
        return e.text if e is not None else None

    # Status_Message
    @property
    def status(self):
        return self.root.get("status_type") if self.name == "Status_Message" else None

    def details(self):
        """{name: [values]} of the Detail elements inside Status_Detail (1.1)."""
        out = {}
        sd = self.find("Status_Detail")
        if sd is not None:
            for d in sd.findall(q("Detail")):
                out.setdefault(d.get("name"), []).append((d.text or "").strip())
        return out

    # Poll_Response
    def blocks(self):
        v = self.version
        out = []
        for cb in self.findall("Content_Block"):
            b = cb.find(q("Content_Binding", v))
            binding = b.get("binding_id") if v == "1.1" else (b.text or "").strip()
            lab = cb.find(q("Timestamp_Label", v))
            out.append(Block(binding, cb.find(q("Content", v)),
                             parse_ts(lab.text) if lab is not None else None,
                             lab.text if lab is not None else None))
        return out

    @property
    def more(self):
        return self.root.get("more", "false") in ("true", "1")

    @property
    def part(self):
        return int(self.root.get("result_part_number", "1"))

    @property
    def result_id(self):
        return self.root.get("result_id")

    @property
    def end(self):
        t = self.text("Inclusive_End_Timestamp")
        return parse_ts(t) if t else None

    @property
    def begin(self):
        t = self.text("Exclusive_Begin_Timestamp")
        return parse_ts(t) if t else None

    @property
    def record_count(self):
        e = self.find("Record_Count")
        return None if e is None else (int(e.text), e.get("partial_count", "false"))


class Client:
    """POSTs TAXII messages to one server over HTTPS, verified with the test CA."""

    def __init__(self, base, ca, user=None, password=None, timeout=60):
        self.base = base.rstrip("/")
        self.ca = ca
        self.auth = (user, password) if user is not None else None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the test CA

    def headers(self, version="1.1"):
        h = {
            "Content-Type": "application/xml",
            "Accept": "application/xml",
            "X-TAXII-Content-Type": BINDING[version],
            "X-TAXII-Accept": BINDING[version],
            "X-TAXII-Services": SERVICES[version],
            "X-TAXII-Protocol": PROTO_HTTPS if self.base.startswith("https") else PROTO_HTTP,
        }
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            h["Authorization"] = f"Basic {token}"
        return h

    def post(self, path, msg, headers=None, drop=(), method="POST"):
        """Send `msg` (a builders.Msg, or bytes) and return the parsed Response."""
        body = msg.body if hasattr(msg, "body") else msg
        version = getattr(msg, "version", "1.1")
        h = self.headers(version)
        h.update(headers or {})
        for name in drop:
            h.pop(name, None)
        started = time.monotonic()
        r = self.session.request(method, self.base + path, data=body, headers=h,
                                 verify=self.ca, timeout=self.timeout)
        elapsed = time.monotonic() - started
        resp = Response(r.status_code, r.headers, r.content, elapsed, getattr(msg, "id", None))
        if r.content.lstrip().startswith(b"<"):
            resp.root = etree.fromstring(r.content, _parser)
        return resp


def check(resp, request_id=None, https=True, http_status=200, expect=None):
    """Assert what every TAXII response must satisfy; returns `resp` for chaining.

    `request_id`: the in_response_to expected (default: the id of the request sent).
    `expect`: the expected message name, or "Status_Message:<TYPE>".
    """
    assert resp.http == http_status, f"HTTP {resp.http}, expected {http_status}: {resp.raw[:500]!r}"
    assert resp.root is not None, f"response is not XML: {resp.raw[:300]!r}"
    version = resp.version
    assert version, f"root element in an unknown namespace: {resp.root.tag}"
    h = resp.headers
    assert h.get("Content-Type", "").startswith("application/xml"), h.get("Content-Type")
    assert h.get("X-TAXII-Content-Type") == BINDING[version], (
        f"X-TAXII-Content-Type {h.get('X-TAXII-Content-Type')!r} but body namespace is {version}")
    assert h.get("X-TAXII-Services") == SERVICES[version], h.get("X-TAXII-Services")
    assert h.get("X-TAXII-Protocol") == (PROTO_HTTPS if https else PROTO_HTTP), h.get("X-TAXII-Protocol")
    assert "X-TAXII-Accept" not in h, "responses must not carry X-TAXII-Accept"

    result = validator(version).validate_etree(resp.root)
    assert result.valid, f"{resp.name} fails the TAXII {version} XSD: {list(result.error_log)[:5]}"
    if len(resp.raw) < 20_000_000:
        (tm11 if version == "1.1" else tm10).get_message_from_xml(resp.raw)

    rid = request_id if request_id is not None else resp.request_id
    if rid is not None:
        assert resp.root.get("in_response_to") == rid, (
            f"in_response_to {resp.root.get('in_response_to')!r}, request id {rid!r}")
    if version == "1.0":
        assert re.fullmatch(r"\d+", resp.root.get("message_id", "")), resp.root.get("message_id")

    _check_timestamps(resp.root)
    if resp.name == "Status_Message":
        _check_status(resp)
    if resp.name == "Poll_Response":
        _check_poll_response(resp)
    if expect:
        name, _, status = expect.partition(":")
        assert resp.name == name, f"expected {expect}, got {resp.name} {resp.status or ''}: {resp.raw[:600]!r}"
        if status:
            assert resp.status == status, f"expected {status}, got {resp.status}: {resp.raw[:600]!r}"
    return resp


def _taxii_elements(root):
    """TAXII-namespace elements, not descending into Content."""
    stack = [root]
    while stack:
        e = stack.pop()
        yield e
        if etree.QName(e).localname != "Content":
            stack.extend(c for c in e if isinstance(c.tag, str)
                         and etree.QName(c).namespace in VERSION_OF_NS)


def _check_timestamps(root):
    for e in _taxii_elements(root):
        if etree.QName(e).localname in TIMESTAMP_ELEMENTS:
            assert UTC_LABEL.match((e.text or "").strip()), (
                f"{etree.QName(e).localname} {e.text!r} is not UTC with at most 6 fraction digits")


def _check_status(resp):
    assert resp.status in STATUS_TYPES, f"unknown status type {resp.status}"
    if resp.version == "1.1":
        assert resp.find("Extended_Headers") is None, "status details belong in Status_Detail"
        needed = REQUIRED_DETAILS.get(resp.status, set())
        assert needed <= set(resp.details()), f"{resp.status} lacks details {needed}"


def _check_poll_response(resp):
    end = resp.end
    assert end is not None, "Poll_Response without Inclusive_End_Timestamp"
    begin = resp.begin if resp.version == "1.1" else None
    labels = []
    for b in resp.blocks():
        if b.binding.startswith("urn:stix.mitre.org:xml"):
            kids = [c for c in b.content if isinstance(c.tag, str)]
            assert len(kids) == 1, f"STIX content must be one child element, found {len(kids)}"
            assert not (b.content.text or "").strip(), "STIX content served as text"
        if b.label is not None:
            assert b.label <= end, f"label {b.label_text} after Inclusive_End_Timestamp {end}"
            if begin is not None:
                assert b.label > begin, f"label {b.label_text} not after Exclusive_Begin {begin}"
            labels.append(b.label)
    assert labels == sorted(labels), "blocks not in ascending label order"
    if resp.version == "1.1" and resp.more:
        assert resp.result_id, "more=true without result_id"


@dataclass
class PollResult:
    parts: list
    blocks: list

    @property
    def ids(self):
        return [b.package_id() for b in self.blocks]


def poll_all(client, collection, path="/services/poll", max_parts=100, **kw):
    """Poll, then fetch every further part by Poll_Fulfillment while `more` is true.

    Asserts the parts are numbered 1..n under one result_id, each a valid Poll_Response, and
    contiguous: every label of a part is after every label of the part before it.
    """
    from builders import poll_fulfillment, poll_request
    first = check(client.post(path, poll_request(collection, **kw)), expect="Poll_Response")
    parts, blocks = [first], first.blocks()
    while parts[-1].more:
        assert len(parts) < max_parts, "too many parts"
        want = parts[-1].part + 1
        r = check(client.post(path, poll_fulfillment(collection, first.result_id, want)),
                  expect="Poll_Response")
        assert r.part == want and r.result_id == first.result_id
        new = r.blocks()
        if blocks and new and blocks[-1].label and new[0].label:
            assert new[0].label > blocks[-1].label, "parts are not contiguous"
        parts.append(r)
        blocks.extend(new)
    return PollResult(parts, blocks)


def push(client, collection, contents, binding=STIX_111, path="/services/inbox"):
    """Push contents (markup strings) in one Inbox_Message and assert SUCCESS."""
    from builders import content_block, inbox_message
    msg = inbox_message([content_block(c, binding) for c in contents], [collection])
    return check(client.post(path, msg), expect="Status_Message:SUCCESS")


def count(client, collection, **kw):
    """The Record_Count of a COUNT_ONLY poll."""
    from builders import poll_request
    r = check(client.post("/services/poll", poll_request(collection, response_type="COUNT_ONLY", **kw)),
              expect="Poll_Response")
    assert r.record_count is not None, "COUNT_ONLY response without Record_Count"
    assert not r.blocks(), "COUNT_ONLY response with content"
    return r.record_count[0]


def from_requests(r, request_id=None):
    """A Response from a `requests` response (for clients that do their own HTTP)."""
    resp = Response(r.status_code, r.headers, r.content, r.elapsed.total_seconds(), request_id)
    if r.content.lstrip().startswith(b"<"):
        resp.root = etree.fromstring(r.content, _parser)
    return resp
