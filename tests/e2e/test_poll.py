"""Poll: time windows, timestamp forms, end timestamp, COUNT_ONLY, bindings, empty results."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from builders import STIX_12, STIX_111, poll_request
from packages import package_id, pkg
from taxii import check, count, fmt_ts, parse_ts, poll_all, push

POLL = "/services/poll"


@pytest.fixture(scope="module")
def labelled(server):
    """Five blocks pushed one by one into `windows`; their ids and labels as served."""
    esa = server.client()
    for n in range(1, 6):
        push(esa, "windows", [pkg(n, "win")])
    r = check(esa.post(POLL, poll_request("windows")), expect="Poll_Response")
    blocks = r.blocks()
    assert [b.package_id() for b in blocks] == [package_id(n, "win") for n in range(1, 6)]
    for b in blocks:
        assert b.label_text, "content blocks of a data feed must carry Timestamp_Label"
    assert len({b.label for b in blocks}) == 5, "blocks pushed apart must have distinct labels"
    return [(b.package_id(), b.label_text, b.label) for b in blocks]


def ids_in(esa, **kw):
    return poll_all(esa, "windows", **kw).ids


def test_no_window_poll_has_end_timestamp_covering_every_label(esa, labelled):
    before = datetime.now(timezone.utc)
    r = check(esa.post(POLL, poll_request("windows")), expect="Poll_Response")
    after = datetime.now(timezone.utc)
    assert r.root.get("collection_name") == "windows"
    assert r.end is not None
    assert r.end >= labelled[-1][2]
    # the server's "now" of the query: not in the future, not an old label
    assert before - timedelta(seconds=5) <= r.end <= after + timedelta(seconds=5)
    assert r.record_count == (5, "false")
    assert not r.more


def test_window_begin_is_exclusive_and_end_inclusive(esa, labelled):
    ids = [i for i, _, _ in labelled]
    labels = [t for _, t, _ in labelled]
    assert ids_in(esa, begin=labels[1], end=labels[3]) == ids[2:4]
    assert ids_in(esa, begin=labels[0], end=labels[0]) == []
    assert ids_in(esa, end=labels[2]) == ids[:3]
    assert ids_in(esa, begin=labels[2]) == ids[3:]
    r = check(esa.post(POLL, poll_request("windows", begin=labels[1], end=labels[3])))
    assert r.begin == labelled[1][2], "the requested begin must be echoed"
    assert r.end == labelled[3][2], "the requested end must be echoed"


def forms_of(dt):
    """The same instant written in several RFC 3339 ways."""
    utc = dt.astimezone(timezone.utc)
    plus8 = utc.astimezone(timezone(timedelta(hours=8)))
    minus5 = utc.astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    base = utc.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return [
        base + "Z",
        base + "+00:00",
        base + "-00:00",
        plus8.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+08:00",
        minus5.strftime("%Y-%m-%dT%H:%M:%S.%f") + "-05:30",
        base + "000Z",       # nine fraction digits
        base + "999Z",       # nine digits, cut to the same microsecond
    ]


def test_equal_instants_in_any_zone_select_the_same_blocks(esa, labelled):
    ids = [i for i, _, _ in labelled]
    for begin in forms_of(labelled[1][2]):
        r = check(esa.post(POLL, poll_request("windows", begin=begin)), expect="Poll_Response")
        assert [b.package_id() for b in r.blocks()] == ids[2:], begin
        assert r.begin == labelled[1][2], f"begin {begin} echoed as {r.text('Exclusive_Begin_Timestamp')}"
    for end in forms_of(labelled[3][2]):
        r = check(esa.post(POLL, poll_request("windows", end=end)), expect="Poll_Response")
        assert [b.package_id() for b in r.blocks()] == ids[:4], end


@pytest.mark.parametrize("value,instant", [
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
    ("2024-01-01T08:00:00+08:00", "2024-01-01T00:00:00Z"),
    ("2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.5Z"),
    ("2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00.123456Z"),
    ("2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00Z"),
])
def test_timestamp_forms_are_accepted(esa, labelled, value, instant):
    r = check(esa.post(POLL, poll_request("windows", begin=value)), expect="Poll_Response")
    assert r.begin == parse_ts(instant)
    assert len(r.blocks()) == 5


@pytest.mark.parametrize("field", ["begin", "end"])
@pytest.mark.parametrize("value", ["2024-01-01T00:00:00", "2024-01-01", "2024-13-01T00:00:00Z"])
def test_naive_date_only_and_invalid_timestamps_are_bad_message(esa, labelled, field, value):
    r = check(esa.post(POLL, poll_request("windows", **{field: value})),
              expect="Status_Message:BAD_MESSAGE")
    name = "Exclusive_Begin_Timestamp" if field == "begin" else "Inclusive_End_Timestamp"
    assert name in (r.text("Message") or ""), f"the message should name {name}: {r.text('Message')!r}"


def test_begin_after_end_is_a_status_not_an_empty_response(esa, labelled):
    r = check(esa.post(POLL, poll_request("windows", begin=labelled[3][1], end=labelled[1][1])))
    assert r.name == "Status_Message" and r.status in ("BAD_MESSAGE", "FAILURE"), r.raw[:400]


def test_count_only(esa, labelled):
    assert count(esa, "windows") == 5
    assert count(esa, "windows", begin=labelled[1][1], end=labelled[3][1]) == 2
    r = check(esa.post(POLL, poll_request("windows", response_type="COUNT_ONLY")))
    assert r.record_count == (5, "false") and r.end is not None


def test_empty_collection_gives_empty_poll_response(esa):
    r = check(esa.post(POLL, poll_request("empty")), expect="Poll_Response")
    assert not r.more and r.blocks() == []
    assert r.record_count == (0, "false")
    assert r.end is not None


def test_window_matching_nothing_gives_empty_poll_response(esa, labelled):
    r = check(esa.post(POLL, poll_request("windows", begin="2000-01-01T00:00:00Z",
                                          end="2000-01-02T00:00:00Z")), expect="Poll_Response")
    assert not r.more and r.blocks() == []
    assert r.record_count == (0, "false")
    assert r.end == parse_ts("2000-01-02T00:00:00Z")


def test_incremental_poll_from_end_timestamp_gets_only_new_blocks(esa):
    push(esa, "incremental", [pkg(1, "inc"), pkg(2, "inc")])
    first = check(esa.post(POLL, poll_request("incremental")), expect="Poll_Response")
    assert len(first.blocks()) == 2
    cursor = first.text("Inclusive_End_Timestamp")
    again = check(esa.post(POLL, poll_request("incremental", begin=cursor)), expect="Poll_Response")
    assert again.blocks() == [] and again.record_count[0] == 0
    time.sleep(0.01)
    push(esa, "incremental", [pkg(3, "inc")])
    new = check(esa.post(POLL, poll_request("incremental", begin=cursor)), expect="Poll_Response")
    assert [b.package_id() for b in new.blocks()] == [package_id(3, "inc")]
    cursor2 = new.text("Inclusive_End_Timestamp")
    last = check(esa.post(POLL, poll_request("incremental", begin=cursor2)), expect="Poll_Response")
    assert last.blocks() == []


def test_unknown_collection_is_not_found_with_item(esa):
    r = check(esa.post(POLL, poll_request("nope")), expect="Status_Message:NOT_FOUND")
    assert r.details().get("ITEM") == ["nope"]


def test_unsupported_binding_lists_supported_content(esa):
    r = check(esa.post(POLL, poll_request("windows", bindings=["urn:example.test:bogus"])),
              expect="Status_Message:UNSUPPORTED_CONTENT")
    supported = set(r.details().get("SUPPORTED_CONTENT", []))
    assert {STIX_12, STIX_111} <= supported, r.raw[:600]


def test_binding_filter(esa):
    push(esa, "bindings", [pkg(1, "b111"), pkg(2, "b111")], binding=STIX_111)
    push(esa, "bindings", [pkg(1, "b12", version="1.2"), pkg(2, "b12", version="1.2")], binding=STIX_12)
    every = poll_all(esa, "bindings")
    assert len(every.blocks) == 4
    only12 = poll_all(esa, "bindings", bindings=[STIX_12])
    assert sorted(only12.ids) == [package_id(1, "b12"), package_id(2, "b12")]
    assert {b.binding for b in only12.blocks} == {STIX_12}
    only111 = poll_all(esa, "bindings", bindings=[STIX_111])
    assert {package_id(1, "b111"), package_id(2, "b111")} <= set(only111.ids)
    assert {b.binding for b in only111.blocks} == {STIX_111}, "a block in a binding not asked for"
    both = poll_all(esa, "bindings", bindings=[STIX_111, STIX_12])
    assert len(both.blocks) == 4


def test_poll_without_parameters_or_subscription_is_bad_message(esa):
    from builders import _msg
    msg = _msg("Poll_Request", {"collection_name": "windows"})
    check(esa.post(POLL, msg), expect="Status_Message:BAD_MESSAGE")


def test_now_label_format(esa, labelled):
    # labels come back in UTC; a label used as a begin selects strictly later blocks
    for _, text, dt in labelled:
        assert text.endswith("Z") or text.endswith("+00:00")
        assert fmt_ts(dt)[:19] == text[:19]
