"""Subscriptions: subscribe, status, pause, resume, unsubscribe, and polling by subscription."""

import pytest

from builders import STIX_111, poll_request, subscription_request
from conftest import PUBLIC_URL
from packages import package_id, pkg
from taxii import check, push, q

CM = "/services/collection-management"
POLL = "/services/poll"


def manage(client, action, collection="subs", **kw):
    req = subscription_request(action, collection, **kw)
    return check(client.post(CM, req))


def subscriptions(resp):
    return [(s.get("status"), s.findtext(q("Subscription_ID")), s) for s in resp.findall("Subscription")]


@pytest.fixture(scope="module")
def sub(server):
    esa = server.client()
    push(esa, "subs", [pkg(1, "sub"), pkg(2, "sub")])
    r = manage(esa, "SUBSCRIBE", response_type="FULL", bindings=[STIX_111])
    assert r.name == "Subscription_Management_Response", r.raw[:500]
    assert r.root.get("collection_name") == "subs"
    subs = subscriptions(r)
    assert len(subs) == 1 and subs[0][0] == "ACTIVE" and subs[0][1]
    for pi in subs[0][2].findall(q("Poll_Instance")):
        assert pi.findtext(q("Address")).startswith(PUBLIC_URL + "/")
    return esa, subs[0][1]


def poll_by(esa, sid):
    return check(esa.post(POLL, poll_request("subs", subscription_id=sid)))


def test_status_of_subscription(sub):
    esa, sid = sub
    r = manage(esa, "STATUS", subscription_id=sid)
    assert [(s, i) for s, i, _ in subscriptions(r)] == [("ACTIVE", sid)]
    r = manage(esa, "STATUS")
    assert sid in [i for _, i, _ in subscriptions(r)]


def test_poll_by_subscription(sub):
    esa, sid = sub
    r = poll_by(esa, sid)
    assert r.name == "Poll_Response", r.raw[:400]
    assert sorted(b.package_id() for b in r.blocks()) == [package_id(1, "sub"), package_id(2, "sub")]
    assert r.end is not None


def test_pause_denies_polling_and_resume_restores_it(sub):
    esa, sid = sub
    r = manage(esa, "PAUSE", subscription_id=sid)
    assert [(s, i) for s, i, _ in subscriptions(r)] == [("PAUSED", sid)]
    assert poll_by(esa, sid).status == "DENIED"
    r = manage(esa, "STATUS", subscription_id=sid)
    assert subscriptions(r)[0][0] == "PAUSED"
    r = manage(esa, "RESUME", subscription_id=sid)
    assert [(s, i) for s, i, _ in subscriptions(r)] == [("ACTIVE", sid)]
    assert poll_by(esa, sid).name == "Poll_Response"


def test_actions_needing_an_id_without_one_are_bad_message(sub):
    esa, _ = sub
    for action in ("PAUSE", "RESUME", "UNSUBSCRIBE"):
        assert manage(esa, action).status == "BAD_MESSAGE", action


def test_unknown_subscription_is_not_found(sub):
    esa, _ = sub
    r = manage(esa, "STATUS", subscription_id="no-such-subscription")
    assert r.status == "NOT_FOUND" or subscriptions(r) == [], r.raw[:400]
    assert poll_by(esa, "no-such-subscription").name == "Status_Message"


def test_count_only_subscription(server):
    esa = server.client()
    push(esa, "subs", [pkg(3, "sub")])
    r = manage(esa, "SUBSCRIBE", response_type="COUNT_ONLY")
    sid = subscriptions(r)[0][1]
    p = poll_by(esa, sid)
    assert p.name == "Poll_Response" and p.blocks() == []
    assert p.record_count is not None and p.record_count[0] >= 3


def test_subscribe_needs_read_right(server):
    r = manage(server.client(), "SUBSCRIBE", collection="secret", response_type="FULL")
    assert r.name == "Status_Message" and r.status in ("UNAUTHORIZED", "DENIED", "NOT_FOUND")


def test_unsubscribe_ends_polling(server):
    esa = server.client()
    sid = subscriptions(manage(esa, "SUBSCRIBE", response_type="FULL"))[0][1]
    r = manage(esa, "UNSUBSCRIBE", subscription_id=sid)
    assert [(s, i) for s, i, _ in subscriptions(r)] == [("UNSUBSCRIBED", sid)]
    p = poll_by(esa, sid)
    assert p.name == "Status_Message" and p.status in ("NOT_FOUND", "DENIED"), p.raw[:300]


def test_other_user_cannot_use_a_subscription(server, sub):
    _, sid = sub
    reader = server.client("reader")
    p = check(reader.post(POLL, poll_request("subs", subscription_id=sid)))
    assert p.name == "Status_Message"
