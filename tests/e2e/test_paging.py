"""Result parts: 1,200 blocks at 500 per part, snapshot semantics, the part after the last."""

import pytest

from builders import content_block, inbox_message, poll_fulfillment, poll_request
from packages import package_id, pkg
from taxii import check, count, push

POLL = "/services/poll"
N = 1200


@pytest.fixture(scope="module")
def loaded(server):
    esa = server.client()
    msg = inbox_message([content_block(pkg(n, "pg")) for n in range(1, N + 1)], ["paging"],
                        record_count=N)
    check(esa.post("/services/inbox", msg), expect="Status_Message:SUCCESS")
    assert count(esa, "paging") == N
    return esa


@pytest.fixture(scope="module")
def parts(loaded):
    """Part 1, then 10 new blocks, then parts 2 and 3 of the same result set."""
    esa = loaded
    p1 = check(esa.post(POLL, poll_request("paging")), expect="Poll_Response")
    push(esa, "paging", [pkg(n, "late") for n in range(1, 11)])
    rid = p1.result_id
    p2 = check(esa.post(POLL, poll_fulfillment("paging", rid, 2)), expect="Poll_Response")
    p3 = check(esa.post(POLL, poll_fulfillment("paging", rid, 3)), expect="Poll_Response")
    return esa, [p1, p2, p3]


def test_parts_are_500_500_200(parts):
    _, (p1, p2, p3) = parts
    assert [len(p.blocks()) for p in (p1, p2, p3)] == [500, 500, 200]
    assert p1.more and p2.more and not p3.more
    assert p1.result_id and p2.result_id == p1.result_id == p3.result_id
    assert [p.part for p in (p1, p2, p3)] == [1, 2, 3]
    assert p1.record_count == (N, "false")


def test_union_is_exact_ordered_and_without_duplicates(parts):
    _, ps = parts
    blocks = [b for p in ps for b in p.blocks()]
    ids = [b.package_id() for b in blocks]
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == {package_id(n, "pg") for n in range(1, N + 1)}
    labels = [b.label for b in blocks]
    assert all(lab is not None for lab in labels)
    assert labels == sorted(labels) and len(set(labels)) == N
    for a, b in zip(ps, ps[1:]):
        assert a.blocks()[-1].label < b.blocks()[0].label, "parts are not contiguous"
    # the end timestamp of the result set covers every part
    assert all(p.end == ps[0].end for p in ps)


def test_blocks_added_after_part_one_are_not_in_the_result_set(parts):
    _, ps = parts
    ids = {b.package_id() for p in ps for b in p.blocks()}
    assert not any(i.startswith("test:Package-late") for i in ids)


def test_parts_can_be_fetched_again_unchanged(parts):
    esa, (p1, p2, _) = parts
    again = check(esa.post(POLL, poll_fulfillment("paging", p1.result_id, 2)), expect="Poll_Response")
    assert [b.package_id() for b in again.blocks()] == [b.package_id() for b in p2.blocks()]
    first = check(esa.post(POLL, poll_fulfillment("paging", p1.result_id, 1)), expect="Poll_Response")
    assert [b.package_id() for b in first.blocks()] == [b.package_id() for b in p1.blocks()]


def test_part_after_last_is_empty_then_invalid_response_part(parts):
    esa, (p1, _, _) = parts
    p4 = check(esa.post(POLL, poll_fulfillment("paging", p1.result_id, 4)), expect="Poll_Response")
    assert p4.blocks() == [] and not p4.more
    p5 = check(esa.post(POLL, poll_fulfillment("paging", p1.result_id, 5)),
               expect="Status_Message:INVALID_RESPONSE_PART")
    assert p5.details().get("MAX_PART_NUMBER") == ["3"]


def test_unknown_result_id_is_not_found_with_item(parts):
    esa, _ = parts
    r = check(esa.post(POLL, poll_fulfillment("paging", "no-such-result", 2)),
              expect="Status_Message:NOT_FOUND")
    assert r.details().get("ITEM") == ["no-such-result"]


def test_new_poll_sees_the_late_blocks(parts):
    esa, _ = parts
    assert count(esa, "paging") == N + 10


def test_bodies_are_complete(parts):
    _, ps = parts
    for p in ps:
        length = p.headers.get("Content-Length")
        if length is not None:
            assert int(length) == len(p.raw)
        else:
            assert p.headers.get("Transfer-Encoding", "").lower() == "chunked"
        assert p.raw.rstrip().endswith(b"Poll_Response>")
