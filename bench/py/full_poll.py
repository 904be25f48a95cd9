"""Poll a whole TAXII 1.1 collection over one HTTPS connection: a Poll_Request, then
Poll_Fulfillment for parts 2, 3, ... until a response has more="false".

The connection is kept open between parts when the server allows it (a server that
closes it costs a new TLS handshake per part, which is counted: clients pay it too).
Each response body is written to OUT/part-NNNNN.xml. With --get PATH it instead GETs one
static file with the very same reading loop (the nginx comparison). Prints one JSON line:
{"parts": N, "bytes": B, "ms": T}, where T is the wall time of the whole loop.
"""

import argparse
import http.client
import json
import os
import re
import ssl
import sys
import time
import uuid

NS = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"
HEADERS = {
    "Content-Type": "application/xml",
    "Accept": "application/xml",
    "X-TAXII-Content-Type": "urn:taxii.mitre.org:message:xml:1.1",
    "X-TAXII-Accept": "urn:taxii.mitre.org:message:xml:1.1",
    "X-TAXII-Services": "urn:taxii.mitre.org:services:1.1",
    "X-TAXII-Protocol": "urn:taxii.mitre.org:protocol:https:1.0",
}
MORE = re.compile(rb'\smore="(true|1)"')
RESULT_ID = re.compile(rb'\sresult_id="([^"]*)"')


def request(collection, result_id=None, part=None, binding=None):
    mid = uuid.uuid4()
    if result_id is None:
        wanted = f'<taxii_11:Content_Binding binding_id="{binding}"/>' if binding else ""
        return (f'<taxii_11:Poll_Request xmlns:taxii_11="{NS}" message_id="{mid}" '
                f'collection_name="{collection}"><taxii_11:Poll_Parameters allow_asynch="false">'
                f'<taxii_11:Response_Type>FULL</taxii_11:Response_Type>{wanted}'
                '</taxii_11:Poll_Parameters></taxii_11:Poll_Request>').encode()
    return (f'<taxii_11:Poll_Fulfillment xmlns:taxii_11="{NS}" message_id="{mid}" '
            f'collection_name="{collection}" result_id="{result_id}" '
            f'result_part_number="{part}"/>').encode()


def save(resp, path):
    """Stream a response body to a file (None: read and drop it); returns its first 4 KB
    and its size."""
    head, size = b"", 0
    with open(path or os.devnull, "wb") as f:
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            if len(head) < 4096:
                head += chunk[:4096]
            size += len(chunk)
            f.write(chunk)
    return head, size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/services/poll")
    p.add_argument("--authorization", default="", help="value of the Authorization header")
    p.add_argument("--collection", default="")
    p.add_argument("--cafile", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-parts", type=int, default=100000)
    p.add_argument("--get", help="GET this path once instead of polling")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--binding", help="ask only for this content binding")
    p.add_argument("--discard", action="store_true", help="read the bodies, write no files")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    context = ssl.create_default_context(cafile=args.cafile)
    conn = http.client.HTTPSConnection(args.host, args.port, context=context, timeout=args.timeout)
    headers = dict(HEADERS, Authorization=args.authorization)
    total, part, result_id = 0, 1, None
    started = time.monotonic()
    if args.get:
        conn.request("GET", args.get)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.exit(f"GET {args.get}: HTTP {resp.status}")
        _, total = save(resp, os.path.join(args.out, "part-00001.xml"))
        print(json.dumps({"parts": 1, "bytes": total,
                          "ms": int((time.monotonic() - started) * 1000)}))
        return
    while True:
        conn.request("POST", args.path, body=request(args.collection, result_id, part, args.binding), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.exit(f"part {part}: HTTP {resp.status}: {resp.read(300)!r}")
        head, size = save(resp, None if args.discard else os.path.join(args.out, f"part-{part:05d}.xml"))
        total += size
        root = head[:head.find(b">") + 1]
        if b"Poll_Response" not in root:
            sys.exit(f"part {part}: not a Poll_Response: {head[:300]!r}")
        if not MORE.search(root):
            break
        found = RESULT_ID.search(root)
        if not found:
            sys.exit(f"part {part}: more without result_id")
        result_id = found.group(1).decode()
        part += 1
        if part > args.max_parts:
            sys.exit(f"more than {args.max_parts} parts")
    elapsed_ms = int((time.monotonic() - started) * 1000)
    print(json.dumps({"parts": part, "bytes": total, "ms": elapsed_ms}))


if __name__ == "__main__":
    main()
