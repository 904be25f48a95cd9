"""Write TAXII 1.1 Inbox_Message bodies, one file per batch of content blocks.

Two sources of packages:
  gen  --count N --seed S        packages from stixgen (about 4 KB each, all unique)
  dir  --dir D                   every D/*.xml file (e.g. make-fixtures' stix/ folder), sorted

Batches close at --batch blocks or --max-bytes of content, whichever comes first.
With gen and --jobs N, N processes write the batches side by side (batches by count;
the run fails if one would pass --max-bytes). A JSON summary (blocks, raw content bytes, batches) goes to --meta.
"""

import argparse
import json
import multiprocessing
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


def gen_slice(args, jobs, job):
    """Write batches job, job + jobs, ... of a gen run; returns (blocks, bytes)."""
    blocks, size = 0, 0
    nbatches = (args.count + args.batch - 1) // args.batch
    for k in range(job, nbatches, jobs):
        first, last = k * args.batch, min((k + 1) * args.batch, args.count)
        batch = [stixgen.package(args.seed, i).encode() for i in range(first, last)]
        batch_bytes = sum(len(c) for c in batch)
        if batch_bytes > args.max_bytes:
            raise SystemExit(f"batch {k + 1} holds {batch_bytes} bytes, over --max-bytes")
        write_batch(args.out, k + 1, args.collection, batch)
        blocks += len(batch)
        size += batch_bytes
    return blocks, size


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
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    if args.source == "gen" and args.jobs > 1:
        with multiprocessing.Pool(args.jobs) as pool:
            parts = pool.starmap(gen_slice, [(args, args.jobs, j) for j in range(args.jobs)])
        total_blocks = sum(b for b, _ in parts)
        total_bytes = sum(s for _, s in parts)
        number = (args.count + args.batch - 1) // args.batch
        with open(args.meta, "w") as f:
            json.dump({"blocks": total_blocks, "raw_bytes": total_bytes, "batches": number}, f)
        print(f"{total_blocks} blocks, {total_bytes} bytes in {number} inbox messages", file=sys.stderr)
        return

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
