"""Load the benchmark packages straight into OpenTAXII's SQL store.

OpenTAXII's own inbox takes about 4 ms per block on this kind of machine, which would
spend most of the benchmark's time budget on loading alone, so the blocks are written
with SQLAlchemy Core into OpenTAXII's own tables (content_blocks and
collection_to_content_block, plus the collection's volume), exactly the rows its
persistence API would write for an inbox without a saved raw message.

Labels are LABEL_BASE + i * LABEL_STEP_US microseconds for package i, so a window
(label(i), label(i + k)] holds exactly k blocks.

Run with OPENTAXII_CONFIG set and the venv's python, after opentaxii-sync-data.
"""

import argparse
import datetime
import sys

import pytz
from sqlalchemy import create_engine, select, update

from opentaxii.persistence.sqldb.models import (
    Base, ContentBlock, DataCollection, collection_to_content_block)

import stixgen

LABEL_BASE = datetime.datetime(2025, 1, 1, tzinfo=pytz.UTC)
LABEL_STEP_US = 1000


def label(i):
    """Timestamp label of package i."""
    return LABEL_BASE + datetime.timedelta(microseconds=i * LABEL_STEP_US)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True, help="SQLAlchemy URL of OpenTAXII's data db")
    p.add_argument("--collection", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--chunk", type=int, default=5000)
    args = p.parse_args()

    engine = create_engine(args.db)
    Base.metadata.create_all(engine)
    blocks = ContentBlock.__table__
    with engine.begin() as conn:
        cid = conn.execute(select(DataCollection.__table__.c.id)
                           .where(DataCollection.__table__.c.name == args.collection)).scalar()
        if cid is None:
            sys.exit(f"collection {args.collection} not found: run opentaxii-sync-data first")
        first = (conn.execute(select(blocks.c.id).order_by(blocks.c.id.desc()).limit(1)).scalar()
                 or 0) + 1

    now = datetime.datetime.now(pytz.UTC)
    total = 0
    for start in range(0, args.count, args.chunk):
        rows, links = [], []
        for i in range(start, min(start + args.chunk, args.count)):
            content = stixgen.package(args.seed, i).encode()
            total += len(content)
            rows.append({"id": first + i, "date_created": now, "timestamp_label": label(i),
                         "content": content, "binding_id": stixgen.STIX_12,
                         "binding_subtype": None, "inbox_message_id": None, "message": None})
            links.append({"collection_id": cid, "content_block_id": first + i})
        with engine.begin() as conn:
            conn.execute(blocks.insert(), rows)
            conn.execute(collection_to_content_block.insert(), links)
    with engine.begin() as conn:
        conn.execute(update(DataCollection.__table__)
                     .where(DataCollection.__table__.c.id == cid)
                     .values(volume=DataCollection.__table__.c.volume + args.count))
    print(f"loaded {args.count} blocks ({total} bytes) into {args.collection}", file=sys.stderr)


if __name__ == "__main__":
    main()
