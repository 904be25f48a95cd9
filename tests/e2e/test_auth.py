"""Authentication and collection rights."""

import statistics

from lxml import etree

from builders import content_block, inbox_message, poll_request
from conftest import COLLECTIONS, PASSWORD
from packages import pkg
from taxii import Client, check, count, push

POLL = "/services/poll"


def shape(resp):
    """The response with its own message id and its Message text blanked, for comparison."""
    root = etree.fromstring(resp.raw)
    root.set("message_id", "X")
    root.set("in_response_to", "X")
    return etree.tostring(root, method="c14n")


def unauthorized(server, user, password):
    c = Client(server.base, server.ca, user, password)
    req = poll_request("otx-mirror")
    r = check(c.post(POLL, req), expect="Status_Message:UNAUTHORIZED")
    assert r.root.get("in_response_to") == req.id
    text = r.raw.decode()
    for name in COLLECTIONS:
        assert f">{name}<" not in text and f'"{name}"' not in text, f"collection {name} leaked"
    return r


def test_wrong_password_and_unknown_user_answer_alike(server):
    push(server.client(), "otx-mirror", [pkg(1, "auth")])
    # Interleaved, so a burst of load elsewhere on the machine slows both kinds alike; three
    # of each stay under the session server's limit of failed logins per address.
    wrong, unknown = [], []
    for _ in range(3):
        wrong.append(unauthorized(server, "esa", "not the password"))
        unknown.append(unauthorized(server, "nobody-here", "not the password"))
    assert shape(wrong[0]) == shape(unknown[0]), "refusals differ by whether the user exists"
    t_wrong = statistics.median(r.elapsed for r in wrong)
    t_unknown = statistics.median(r.elapsed for r in unknown)
    slower, faster = max(t_wrong, t_unknown), min(t_wrong, t_unknown)
    assert slower - faster < max(0.1, 0.5 * slower), (t_wrong, t_unknown)


def test_malformed_authorization_is_unauthorized(server):
    c = server.anonymous()
    req = poll_request("otx-mirror")
    r = check(c.post(POLL, req, headers={"Authorization": "Basic !!!not-base64"}),
              expect="Status_Message:UNAUTHORIZED")
    assert r.root.get("in_response_to") == req.id
    req = poll_request("otx-mirror")
    check(c.post(POLL, req, headers={"Authorization": "Bearer abc"}), expect="Status_Message:UNAUTHORIZED")


def test_anonymous_cannot_poll_protected_collection(server):
    r = check(server.anonymous().post(POLL, poll_request("otx-mirror")))
    assert r.name == "Status_Message" and r.status in ("UNAUTHORIZED", "DENIED"), r.raw[:300]


def test_anonymous_can_poll_opted_in_collection_but_not_push(server):
    esa = server.client()
    push(esa, "public", [pkg(1, "pub")])
    r = check(server.anonymous().post(POLL, poll_request("public")), expect="Poll_Response")
    assert len(r.blocks()) == count(esa, "public") >= 1
    before = count(esa, "public")
    r = check(server.anonymous().post("/services/inbox",
                                      inbox_message([content_block(pkg(2, "pub"))], ["public"])))
    assert r.status != "SUCCESS"
    assert count(esa, "public") == before


def test_user_without_read_right_gets_no_content(server):
    other = server.client("other")
    push(other, "secret", [pkg(1, "secret")])
    esa = server.client()
    r = check(esa.post(POLL, poll_request("secret")))
    assert r.name == "Status_Message", "a user without read right was served the collection"
    assert r.status in ("UNAUTHORIZED", "DENIED", "NOT_FOUND")
    assert b"bad-secret1" not in r.raw
    reader = server.client("reader")
    r = check(reader.post(POLL, poll_request("windows")))
    assert r.name == "Status_Message"


def test_correct_password_is_served(server):
    check(Client(server.base, server.ca, "reader", PASSWORD).post(POLL, poll_request("otx-mirror")),
          expect="Poll_Response")
