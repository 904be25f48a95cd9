"""TAXII 1.1 and 1.0 request bodies, written as plain strings.

Every builder returns a `Msg` (message id + body bytes) so a test can compare the
response's in_response_to with the id it sent. Tests that need a broken message build the
string themselves; these builders only make well-formed, schema-valid requests.
"""

import random
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NS11 = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"
NS10 = "http://taxii.mitre.org/messages/taxii_xml_binding-1"
STIX_111 = "urn:stix.mitre.org:xml:1.1.1"
STIX_12 = "urn:stix.mitre.org:xml:1.2"


@dataclass
class Msg:
    """A request: its message_id, its body and its TAXII version ("1.1" or "1.0")."""

    id: str
    body: bytes
    version: str = "1.1"


def new_id(version="1.1"):
    """A fresh message id: a UUID for 1.1, digits only for 1.0 (as libtaxii requires)."""
    if version == "1.0":
        return str(random.randint(10**9, 10**12))
    return str(uuid.uuid4())


def _msg(name, attrs, children="", version="1.1", mid=None):
    mid = mid or new_id(version)
    prefix = "taxii_11" if version == "1.1" else "taxii"
    ns = NS11 if version == "1.1" else NS10
    attr_text = "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)
    body = (
        f'<{prefix}:{name} xmlns:{prefix}="{ns}" message_id="{mid}"{attr_text}>'
        f"{children}</{prefix}:{name}>"
    )
    return Msg(mid, body.encode("utf-8"), version)


def el(name, text=None, attrs=None, children="", prefix="taxii_11"):
    """One element of the TAXII namespace (prefix taxii_11 by default)."""
    attr_text = "".join(f" {k}={quoteattr(str(v))}" for k, v in (attrs or {}).items())
    inner = escape(text) if text is not None else children
    return f"<{prefix}:{name}{attr_text}>{inner}</{prefix}:{name}>"


# ---- TAXII 1.1 -------------------------------------------------------------------------


def discovery_request(mid=None):
    return _msg("Discovery_Request", {}, mid=mid)


def collection_information_request(mid=None):
    return _msg("Collection_Information_Request", {}, mid=mid)


def poll_request(collection, begin=None, end=None, response_type="FULL", bindings=None,
                 subscription_id=None, allow_asynch="false", mid=None):
    """A Poll_Request; `begin`/`end` are timestamp strings sent exactly as given."""
    children = ""
    if begin is not None:
        children += el("Exclusive_Begin_Timestamp", begin)
    if end is not None:
        children += el("Inclusive_End_Timestamp", end)
    if subscription_id is not None:
        children += el("Subscription_ID", subscription_id)
    else:
        params = ""
        if response_type is not None:
            params += el("Response_Type", response_type)
        for b in bindings or []:
            params += el("Content_Binding", attrs={"binding_id": b})
        children += el("Poll_Parameters", attrs={"allow_asynch": allow_asynch}, children=params)
    return _msg("Poll_Request", {"collection_name": collection}, children, mid=mid)


def poll_fulfillment(collection, result_id, part, mid=None):
    return _msg("Poll_Fulfillment", {"collection_name": collection, "result_id": result_id,
                                     "result_part_number": part}, mid=mid)


def content_block(content, binding=STIX_111, label=None, message=None):
    """A Content_Block whose Content holds `content` (markup, inserted verbatim)."""
    inner = el("Content_Binding", attrs={"binding_id": binding})
    inner += f"<taxii_11:Content>{content}</taxii_11:Content>"
    if label is not None:
        inner += el("Timestamp_Label", label)
    if message is not None:
        inner += el("Message", message)
    return el("Content_Block", children=inner)


def inbox_message(blocks, destinations=(), record_count=None, mid=None):
    """An Inbox_Message; `blocks` are strings from `content_block` (or raw markup)."""
    children = "".join(el("Destination_Collection_Name", d) for d in destinations)
    if record_count is not None:
        children += el("Record_Count", str(record_count), attrs={"partial_count": "false"})
    children += "".join(blocks)
    return _msg("Inbox_Message", {}, children, mid=mid)


def subscription_request(action, collection, subscription_id=None, response_type=None,
                         bindings=None, mid=None):
    children = ""
    if subscription_id is not None:
        children += el("Subscription_ID", subscription_id)
    if response_type is not None or bindings:
        params = el("Response_Type", response_type or "FULL")
        for b in bindings or []:
            params += el("Content_Binding", attrs={"binding_id": b})
        children += el("Subscription_Parameters", children=params)
    return _msg("Subscription_Management_Request",
                {"action": action, "collection_name": collection}, children, mid=mid)


# ---- TAXII 1.0 -------------------------------------------------------------------------


def discovery_request_10(mid=None):
    return _msg("Discovery_Request", {}, version="1.0", mid=mid)


def feed_information_request_10(mid=None):
    return _msg("Feed_Information_Request", {}, version="1.0", mid=mid)


def poll_request_10(feed, begin=None, end=None, bindings=None, mid=None):
    children = ""
    if begin is not None:
        children += el("Exclusive_Begin_Timestamp", begin, prefix="taxii")
    if end is not None:
        children += el("Inclusive_End_Timestamp", end, prefix="taxii")
    for b in bindings or []:
        children += el("Content_Binding", b, prefix="taxii")
    return _msg("Poll_Request", {"feed_name": feed}, children, version="1.0", mid=mid)
