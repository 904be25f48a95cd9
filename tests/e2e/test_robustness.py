"""Edge cases of requests: odd ids, foreign result sets, queries, concurrency."""

import concurrent.futures

from builders import (NS11, _msg, content_block, el, inbox_message, poll_fulfillment,
                      poll_request)
from packages import pkg
from taxii import check, count, poll_all, push

POLL = "/services/poll"


def test_message_id_and_names_with_markup_are_echoed_escaped(esa):
    mid = 'id-with-&-<-"-chars'
    msg = poll_request("no<pe&", mid="X")
    body = msg.body.replace(b'message_id="X"', b'message_id="id-with-&amp;-&lt;-&quot;-chars"')
    r = check(esa.post(POLL, body), request_id=mid, expect="Status_Message:NOT_FOUND")
    assert r.details().get("ITEM") == ["no<pe&"]


def test_both_subscription_and_parameters_is_bad_message(esa):
    params = el("Poll_Parameters", attrs={"allow_asynch": "false"},
                children=el("Response_Type", "FULL"))
    msg = _msg("Poll_Request", {"collection_name": "windows"},
               el("Subscription_ID", "some-id") + params)
    check(esa.post(POLL, msg), expect="Status_Message:BAD_MESSAGE")


def test_query_is_unsupported_query(esa):
    query = ('<taxii_11:Query format_id="urn:taxii.mitre.org:query:default:1.0">'
             '<tdq:Default_Query xmlns:tdq="http://taxii.mitre.org/query/taxii_default_query-1" '
             'targeting_expression_id="urn:stix.mitre.org:xml:1.1.1"><tdq:Criteria operator="AND">'
             '<tdq:Criterion negate="false"><tdq:Target>STIX_Package/Indicators/**</tdq:Target>'
             '<tdq:Test capability_id="urn:taxii.mitre.org:query:capability:core-1" relationship="exists"/>'
             "</tdq:Criterion></tdq:Criteria></tdq:Default_Query></taxii_11:Query>")
    params = el("Poll_Parameters", attrs={"allow_asynch": "false"},
                children=el("Response_Type", "FULL") + query)
    msg = _msg("Poll_Request", {"collection_name": "windows"}, params)
    r = check(esa.post(POLL, msg))
    assert r.status == "UNSUPPORTED_QUERY", r.raw[:500]


def test_result_set_is_not_served_to_a_user_without_read_right(server):
    esa = server.client()
    push(esa, "otx-mirror", [pkg(n, "rs") for n in range(1, 511)])
    first = check(esa.post(POLL, poll_request("otx-mirror")), expect="Poll_Response")
    assert first.more and first.result_id
    other = server.client("other")  # may not read otx-mirror
    for part in (1, 2):
        r = check(other.post(POLL, poll_fulfillment("otx-mirror", first.result_id, part)))
        assert r.name == "Status_Message", "a user without read right got a result part"
    r = check(esa.post(POLL, poll_fulfillment("windows", first.result_id, 2)))
    assert r.name == "Status_Message", "a result set was served under another collection name"


def test_inbox_with_one_unknown_destination_stores_nothing(esa):
    before = count(esa, "inbox")
    msg = inbox_message([content_block(pkg(1, "twodest"))], ["inbox", "nope"])
    r = check(esa.post("/services/inbox", msg))
    assert r.status == "DESTINATION_COLLECTION_ERROR", r.raw[:400]
    assert count(esa, "inbox") == before


def test_accept_text_html_is_not_a_server_error(esa):
    r = esa.post(POLL, poll_request("windows"), headers={"Accept": "text/html"})
    assert r.http in (200, 406), r.http
    if r.http == 200:
        check(r, expect="Poll_Response")


def test_concurrent_polls_see_the_same_parts(server):
    esa = server.client()
    push(esa, "bindings", [pkg(n, "conc") for n in range(1, 31)])

    def one(_):
        c = server.client()
        return [b.package_id() for b in poll_all(c, "bindings").blocks]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(16)))
    assert all(r == results[0] for r in results)
    assert len(results[0]) == len(set(results[0]))


def test_count_only_never_pages(server):
    r = check(server.client().post(POLL, poll_request("paging", response_type="COUNT_ONLY")),
              expect="Poll_Response")
    assert not r.more and r.blocks() == []


def test_unknown_namespace_root_is_bad_message(esa):
    body = b'<Poll_Request xmlns="urn:example.test:other" message_id="1" collection_name="x"/>'
    check(esa.post(POLL, body), request_id=None, expect="Status_Message:BAD_MESSAGE")
    body = f'<taxii_11:No_Such_Message xmlns:taxii_11="{NS11}" message_id="m9"/>'.encode()
    r = check(esa.post(POLL, body), request_id=None)
    assert r.status in ("BAD_MESSAGE", "UNSUPPORTED_MESSAGE")
