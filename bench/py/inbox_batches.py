"""Write TAXII 1.1 Inbox_Message bodies, one file per batch of content blocks.

Two sources of packages:
  gen  --count N --seed S        packages from stixgen (about 4 KB each, all unique)
  dir  --dir D                   every D/*.xml file (e.g. make-fixtures' stix/ folder), sorted

Batches close at --batch blocks or --max-bytes of content, whichever comes first.
A JSON summary (blocks, raw content bytes, batches) goes to --meta.
"""

import argparse
import json
import os
import sys

import stixgen

TAXII11 = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"


def packages(args):
    if args.source == "gen":
        for i in range(args.count):
            yield stixgen.package(args.seed, i).encode()
    else:
        names = sorted(n for n in os.listdir(args.dir) if n.endswith(".xml"))
        for name in names:
            with open(os.path.join(args.dir, name), "rb") as f:
                yield f.read()


def write_batch(out, number, collection, blocks):
    path = os.path.join(out, f"inbox-{number:05d}.xml")
    with open(path, "wb") as f:
        f.write(f'<taxii_11:Inbox_Message xmlns:taxii_11="{TAXII11}" message_id="bench-{number}">'
                f"<taxii_11:Destination_Collection_Name>{collection}"
                "</taxii_11:Destination_Collection_Name>".encode())
        for content in blocks:
            f.write(b'<taxii_11:Content_Block><taxii_11:Content_Binding binding_id="'
                    + stixgen.STIX_12.encode() + b'"/><taxii_11:Content>')
            f.write(content)
            f.write(b"</taxii_11:Content></taxii_11:Content_Block>")
        f.write(b"</taxii_11:Inbox_Message>")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("source", choices=["gen", "dir"])
    p.add_argument("--out", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--max-bytes", type=int, default=16 * 1024 * 1024)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    batch, batch_bytes, number = [], 0, 0
    total_blocks, total_bytes = 0, 0
    for content in packages(args):
        if batch and (len(batch) >= args.batch or batch_bytes + len(content) > args.max_bytes):
            number += 1
            write_batch(args.out, number, args.collection, batch)
            batch, batch_bytes = [], 0
        batch.append(content)
        batch_bytes += len(content)
        total_blocks += 1
        total_bytes += len(content)
    if batch:
        number += 1
        write_batch(args.out, number, args.collection, batch)
    with open(args.meta, "w") as f:
        json.dump({"blocks": total_blocks, "raw_bytes": total_bytes, "batches": number}, f)
    print(f"{total_blocks} blocks, {total_bytes} bytes in {number} inbox messages", file=sys.stderr)


if __name__ == "__main__":
    main()
