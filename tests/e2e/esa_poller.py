"""A TAXII 1.1 poller that behaves the way Cisco ESA's "External Threat Feeds" does.

No discovery: it POSTs Poll_Request straight to the polling path with Basic auth, verifying
TLS against the CA it was given. On its first run it back-fills `age_days` in windows of
`segment_days`; afterwards it polls once per run from the last Inclusive_End_Timestamp it
received. It follows `more` with Poll_Fulfillment, and counts the observables it would use:
domains, URLs, file hashes and IP addresses (and the other kinds, for comparison with the
fixture manifest), including observables and objects referenced by `idref`.
"""

import base64
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import requests
from lxml import etree

NS11 = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"
STIX = "http://stix.mitre.org/stix-1"
INDICATOR = "http://stix.mitre.org/Indicator-2"
CYBOX = "http://cybox.mitre.org/cybox-2"
CYBOX_COMMON = "http://cybox.mitre.org/common-2"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
HEADERS = {
    "Content-Type": "application/xml",
    "Accept": "application/xml",
    "X-TAXII-Content-Type": "urn:taxii.mitre.org:message:xml:1.1",
    "X-TAXII-Accept": "urn:taxii.mitre.org:message:xml:1.1",
    "X-TAXII-Services": "urn:taxii.mitre.org:services:1.1",
    "X-TAXII-Protocol": "urn:taxii.mitre.org:protocol:https:1.0",
}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class TaxiiError(Exception):
    """The server answered with a Status_Message or something that is not a Poll_Response."""


def utc(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EsaPoller:
    def __init__(self, host, port, path, collection, user, password, ca,
                 age_days=3, segment_days=1, on_response=None):
        self.url = f"https://{host}:{port}{path}"
        self.collection = collection
        self.ca = ca
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = dict(HEADERS, Authorization=f"Basic {token}")
        self.age = timedelta(days=age_days)
        self.segment = timedelta(days=segment_days)
        self.on_response = on_response  # called with (request id, response) for checks
        self.cursor = None  # the last Inclusive_End_Timestamp, as received
        self.session = requests.Session()
        self.session.trust_env = False
        self.requests = 0

    # ---- wire ------------------------------------------------------------------------

    def _post(self, body, mid):
        r = self.session.post(self.url, data=body.encode(), headers=self.headers, verify=self.ca,
                              timeout=120)
        self.requests += 1
        if self.on_response:
            self.on_response(mid, r)
        if r.status_code != 200:
            raise TaxiiError(f"HTTP {r.status_code}")
        root = etree.fromstring(r.content, PARSER)
        if root.tag != f"{{{NS11}}}Poll_Response":
            raise TaxiiError(f"{etree.QName(root).localname} {root.get('status_type')}: "
                             f"{root.findtext(f'{{{NS11}}}Message')}")
        return root

    def _poll(self, begin, end):
        """One window, every part; returns (content elements, Inclusive_End_Timestamp text)."""
        mid = str(uuid.uuid4())
        window = ""
        if begin:
            window += f"<t:Exclusive_Begin_Timestamp>{begin}</t:Exclusive_Begin_Timestamp>"
        if end:
            window += f"<t:Inclusive_End_Timestamp>{end}</t:Inclusive_End_Timestamp>"
        body = (f'<t:Poll_Request xmlns:t="{NS11}" message_id="{mid}" collection_name="{self.collection}">'
                f'{window}<t:Poll_Parameters allow_asynch="false"><t:Response_Type>FULL</t:Response_Type>'
                "</t:Poll_Parameters></t:Poll_Request>")
        root = self._post(body, mid)
        end_ts = root.findtext(f"{{{NS11}}}Inclusive_End_Timestamp")
        if not end_ts:
            raise TaxiiError("Poll_Response without Inclusive_End_Timestamp")
        contents = self._contents(root)
        part = 1
        while root.get("more") in ("true", "1"):
            part += 1
            if part > 10_000:
                raise TaxiiError("too many parts")
            mid = str(uuid.uuid4())
            body = (f'<t:Poll_Fulfillment xmlns:t="{NS11}" message_id="{mid}" '
                    f'collection_name="{self.collection}" result_id="{root.get("result_id")}" '
                    f'result_part_number="{part}"/>')
            root = self._post(body, mid)
            contents += self._contents(root)
        return contents, end_ts

    @staticmethod
    def _contents(root):
        out = []
        for cb in root.findall(f"{{{NS11}}}Content_Block"):
            content = cb.find(f"{{{NS11}}}Content")
            kids = [c for c in content if isinstance(c.tag, str)]
            if len(kids) != 1:
                raise TaxiiError("a content block without exactly one STIX package")
            out.append(kids[0])
        return out

    # ---- schedule --------------------------------------------------------------------

    def run(self, now=None):
        """The first run back-fills; later runs poll from the cursor. Returns packages received."""
        if self.cursor is None:
            now = now or datetime.now(timezone.utc)
            start = now - self.age
            packages = []
            while start < now:
                stop = min(start + self.segment, now)
                got, end_ts = self._poll(utc(start), utc(stop))
                packages += got
                self.cursor = end_ts
                start = stop
            return packages
        got, end_ts = self._poll(self.cursor, None)
        self.cursor = end_ts
        return got


# ---- observables ---------------------------------------------------------------------


def _kind(props):
    """The observable kind of a cybox:Properties element, or None."""
    xsi = props.get(XSI_TYPE, "")
    prefix, _, _ = xsi.rpartition(":")
    ns = props.nsmap.get(prefix or None, "")
    if "AddressObject" in ns:
        value = props.find("{*}Address_Value")
        category = props.get("category", "ipv4-addr")
        if category == "e-mail":
            return "email"
        ranged = value is not None and (value.get("condition") == "InclusiveBetween"
                                        or "##comma##" in (value.text or ""))
        if category == "ipv4-addr":
            return "cidr" if ranged else "ipv4"
        if category == "ipv6-addr":
            return "ipv6"
        if category == "cidr":
            return "cidr"
        return None
    if "DomainNameObject" in ns:
        return "domain"
    if "URIObject" in ns:
        return "url" if props.get("type", "URL") == "URL" else None
    if "MutexObject" in ns:
        return "mutex"
    if "FileObject" in ns:
        return "hash"
    return None


def _hashes(props):
    out = []
    for h in props.iter(f"{{{CYBOX_COMMON}}}Hash"):
        t = (h.findtext(f"{{{CYBOX_COMMON}}}Type") or "").strip().lower().replace("-", "")
        if t in ("md5", "sha1", "sha256") and (h.findtext(f"{{{CYBOX_COMMON}}}Simple_Hash_Value") or "").strip():
            out.append(t)
    return out


def observables(package):
    """Counter of observable kinds in one STIX package (indicators' observables, resolved
    through idref, plus package-level observables no indicator used)."""
    by_id = {e.get("id"): e for e in package.iter() if isinstance(e.tag, str) and e.get("id")}
    counts = Counter()
    done = set()
    tree = package.getroottree()

    def resolve(e):
        seen = 0
        while e is not None and e.get("idref") and seen < 10:
            e = by_id.get(e.get("idref"))
            seen += 1
        return e

    def count_observable(obs):
        stack = [obs]
        while stack:
            o = resolve(stack.pop())
            if o is None:
                continue
            key = tree.getpath(o)
            if key in done:
                continue
            done.add(key)
            obj = resolve(o.find(f"{{{CYBOX}}}Object"))
            if obj is not None and tree.getpath(obj) not in done:
                done.add(tree.getpath(obj))
                props = obj.find(f"{{{CYBOX}}}Properties")
                kind = _kind(props) if props is not None else None
                if kind == "hash":
                    counts.update(_hashes(props))
                elif kind:
                    counts[kind] += 1
            comp = o.find(f"{{{CYBOX}}}Observable_Composition")
            if comp is not None:
                stack.extend(comp.findall(f"{{{CYBOX}}}Observable"))

    for ind in package.iter(f"{{{STIX}}}Indicator"):
        for obs in ind.findall(f"{{{INDICATOR}}}Observable"):
            count_observable(obs)
    top = package.find(f"{{{STIX}}}Observables")
    if top is not None:
        for obs in top.findall(f"{{{CYBOX}}}Observable"):
            count_observable(obs)
    return counts


def totals(packages):
    c = Counter()
    for p in packages:
        c.update(observables(p))
    return c
