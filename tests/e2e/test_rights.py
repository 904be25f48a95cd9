"""Every right, for every operation: a user with read, write, both or no right, and an
anonymous caller, against poll, subscribe, inbox and collection information. The answers
come from one decision (`Authority::may`); what is refused stores nothing."""

import pytest

from builders import (collection_information_request, content_block, inbox_message,
                      poll_request, subscription_request)
from packages import pkg
from taxii import check, count

RIGHTS = {
    "r-only": dict(read=["esa", "other"], write=["other"]),
    "w-only": dict(read=["other"], write=["esa", "other"]),
    "rw": dict(read=["esa", "other"], write=["esa", "other"]),
    "none": dict(read=["other"], write=["other"]),
    "anon": dict(read=["other"], write=["other"], anonymous_read=True),
}
# (caller, collection) -> (may read, may write)
EXPECTED = {
    ("esa", "r-only"): (True, False),
    ("esa", "w-only"): (False, True),
    ("esa", "rw"): (True, True),
    ("esa", "none"): (False, False),
    ("esa", "anon"): (True, False),
    (None, "r-only"): (False, False),
    (None, "w-only"): (False, False),
    (None, "rw"): (False, False),
    (None, "none"): (False, False),
    (None, "anon"): (True, False),
}


@pytest.fixture(scope="module")
def rights_server(make_server):
    s = make_server("rights", collections=RIGHTS)
    other = s.client("other")
    for name in RIGHTS:
        r = check(other.post("/services/inbox",
                             inbox_message([content_block(pkg(1, f"seed-{name}"))], [name])))
        assert r.status == "SUCCESS", r.raw[:300]
    return s


def caller(server, user):
    return server.client(user) if user else server.anonymous()


@pytest.mark.parametrize("user,collection", sorted(EXPECTED, key=str))
def test_poll_and_subscribe_follow_the_read_right(rights_server, user, collection):
    may_read, _ = EXPECTED[(user, collection)]
    c = caller(rights_server, user)
    r = check(c.post("/services/poll", poll_request(collection)))
    if may_read:
        assert r.name == "Poll_Response", r.raw[:300]
        assert len(r.blocks()) >= 1
    else:
        assert r.name == "Status_Message", r.raw[:300]
        assert r.status in ("UNAUTHORIZED", "DENIED", "NOT_FOUND"), r.status
        assert b"seed-" not in r.raw
    r = check(c.post("/services/collection-management",
                     subscription_request("SUBSCRIBE", collection, response_type="FULL")))
    if may_read and user:
        assert r.name == "Subscription_Management_Response", r.raw[:300]
    elif not may_read:
        assert r.name == "Status_Message" and r.status != "SUCCESS", r.raw[:300]


@pytest.mark.parametrize("user,collection", sorted(EXPECTED, key=str))
def test_inbox_follows_the_write_right(rights_server, user, collection):
    _, may_write = EXPECTED[(user, collection)]
    other = rights_server.client("other")
    before = count(other, collection)
    c = caller(rights_server, user)
    tag = f"push-{user}-{collection}-"
    r = check(c.post("/services/inbox", inbox_message([content_block(pkg(1, tag))], [collection])))
    after = count(other, collection)
    if may_write:
        assert r.status == "SUCCESS", r.raw[:300]
        assert after == before + 1
    else:
        assert r.status in ("UNAUTHORIZED", "DENIED", "DESTINATION_COLLECTION_ERROR"), r.raw[:300]
        assert after == before, "a refused push was stored"


@pytest.mark.parametrize("user", ["esa", None])
def test_collection_information_lists_exactly_the_readable(rights_server, user):
    c = caller(rights_server, user)
    r = check(c.post("/services/collection-management", collection_information_request()))
    readable = {name for (u, name), (rd, _) in EXPECTED.items() if u == user and rd}
    if r.name == "Status_Message":
        assert not readable and r.status == "UNAUTHORIZED", r.raw[:300]
        return
    listed = {e.get("collection_name") for e in r.root.iter()
              if e.tag.endswith("}Collection")}
    assert listed == readable, (listed, readable)
