//! Responses that must store nothing: truncated, HTML spliced in, DOCTYPE, bytes that are
//! not UTF-8 (unless lenient decoding is on), the wrong TAXII version.

mod common;

use common::xml::{asked, block, empty_answer, pkg, pkg_with, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceConfig, SourceState};

/// A Poll_Response of about `min_bytes`, many blocks, answering request `id`.
fn big_response(id: &str, min_bytes: usize) -> Vec<u8> {
    let mut blocks = Vec::new();
    let mut size = 0;
    let mut n = 1;
    while size < min_bytes {
        let b = block(&pkg(n), None);
        size += b.len();
        blocks.push(b);
        n += 1;
    }
    PollResp {
        in_response_to: id,
        more: false,
        result_id: None,
        part: 1,
        end: None,
        blocks,
    }
    .xml()
    .into_bytes()
}

fn no_retry(cfg: &mut SourceConfig) {
    cfg.backoff_initial_secs = 60.0;
    cfg.backoff_max_secs = 60.0;
}

fn window_of(r: &Recorded) -> i64 {
    match asked(r.message()) {
        Asked::Poll {
            begin: Some(b),
            end: Some(e),
            ..
        } => e.as_micros() - b.as_micros(),
        other => panic!("not a windowed poll: {other:?}"),
    }
}

/// Run one failing first attempt, then a poll-now that succeeds: returns the status after
/// the failure and the recorded requests.
async fn fail_then_split(first: impl Fn(&str) -> Reply + Send + Sync + 'static) {
    let up = FakeUpstream::start(move |r, i| match (i, asked(r.message())) {
        (0, Asked::Poll { id, .. }) => first(&id),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    no_retry(&mut cfg);
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert!(
        blocks(&store, "local").is_empty(),
        "nothing stored from a broken response"
    );
    assert_eq!(
        checkpoint(&store, "up", "user_TestUser"),
        None,
        "cursor unchanged"
    );

    h.poll_now("up").unwrap();
    let s2 = wait_status(&h, "up", "a successful retry", |s| {
        s.state == SourceState::Idle
    })
    .await;
    let reqs = up.requests();
    assert!(reqs.len() >= 3, "retry split the window into two halves");
    assert_eq!(
        window_of(&reqs[1]) * 2,
        window_of(&reqs[0]),
        "next attempt splits the window"
    );
    assert_eq!(s2.backfill.windows_done, 2);
    assert!(checkpoint(&store, "up", "user_TestUser").is_some());
    assert_headers_ok(&up);
    h.shutdown().await;
    println!("first failure: {:?}", s.last_error);
}

#[tokio::test]
async fn truncated_body_stores_nothing_and_splits_the_window() {
    fail_then_split(|id| {
        let mut r = Reply::taxii(big_response(id, 2_300_000));
        r.content_length = Some(5_242_880);
        r.cut_after = Some(2_100_000);
        r
    })
    .await;
}

#[tokio::test]
async fn truncated_body_error_names_the_byte() {
    let up = FakeUpstream::start(|r, _| {
        let Asked::Poll { id, .. } = asked(r.message()) else {
            return Reply::taxii(empty_answer(r));
        };
        let mut reply = Reply::taxii(big_response(&id, 2_300_000));
        reply.content_length = Some(5_242_880);
        reply.cut_after = Some(2_100_000);
        reply
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    no_retry(&mut cfg);
    let h = Mirror::start(store, vec![cfg]);
    first_run(&h).await;
    let err = h.source_status("up").unwrap().last_error.unwrap();
    assert_eq!(err, "truncated upstream response at byte 2100000");
    h.shutdown().await;
}

#[tokio::test]
async fn html_after_two_megabytes_stores_nothing() {
    fail_then_split(|id| {
        let mut body = big_response(id, 2_300_000);
        body.truncate(2_100_000);
        body.extend_from_slice(b"<html><body>504 Gateway Timeout</body></html>");
        Reply::taxii(body)
    })
    .await;
}

#[tokio::test]
async fn doctype_response_is_refused_whole() {
    fail_then_split(|id| {
        let body = big_response(id, 10);
        let xxe =
            b"<!DOCTYPE taxii_11:Poll_Response [ <!ENTITY leak SYSTEM \"file:///etc/hostname\"> ]>";
        Reply::taxii([&xxe[..], &body].concat())
    })
    .await;
}

#[tokio::test]
async fn billion_laughs_is_refused_whole() {
    fail_then_split(|id| {
        let mut dtd = String::from("<!DOCTYPE r [<!ENTITY l0 \"ha\">");
        for i in 1..10 {
            dtd.push_str(&format!(
                "<!ENTITY l{i} \"{}\">",
                format!("&l{};", i - 1).repeat(10)
            ));
        }
        dtd.push_str("]>");
        let body = String::from_utf8(big_response(id, 10)).unwrap().replacen(
            "bad-1.example.test",
            "&l9;",
            1,
        );
        Reply::taxii(format!("{dtd}{body}"))
    })
    .await;
}

#[tokio::test]
async fn doctype_inside_escaped_content_is_refused_whole() {
    fail_then_split(|id| {
        let inner = "&lt;!DOCTYPE x [ &lt;!ENTITY leak SYSTEM \"file:///etc/hostname\"&gt; ]&gt;&lt;x&gt;&amp;leak;&lt;/x&gt;";
        let blocks = vec![block(&pkg(1), None), block(inner, None)];
        Reply::taxii(PollResp { in_response_to: id, more: false, result_id: None, part: 1, end: None, blocks }.xml())
    })
    .await;
}

/// Two blocks; the second has cp1252 curly quotes (0x93 … 0x94) in a description.
fn cp1252_response(id: &str) -> (Vec<u8>, usize) {
    let p2 = pkg_with(2, "2024-01-01T00:00:00Z", "bad-2.example.test").replace(
        "<indicator:Observable",
        "<indicator:Description>MARK</indicator:Description><indicator:Observable",
    );
    let xml = PollResp {
        in_response_to: id,
        more: false,
        result_id: None,
        part: 1,
        end: None,
        blocks: vec![block(&pkg(1), None), block(&p2, None)],
    }
    .xml();
    let at = xml.find("MARK").unwrap();
    let body = [
        &xml.as_bytes()[..at],
        b"\x93quoted\x94",
        &xml.as_bytes()[at + 4..],
    ]
    .concat();
    (body, at)
}

#[tokio::test]
async fn invalid_utf8_strict_fails_with_offset() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => Reply::taxii(cp1252_response(&id).0),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    no_retry(&mut cfg);
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    let offset = cp1252_response("x").1
        + (up.requests()[0]
            .message()
            .map(|m| m.message_id().len())
            .unwrap()
            - 1);
    assert_eq!(
        s.last_error.as_deref(),
        Some(format!("invalid UTF-8 at byte offset {offset} in upstream response").as_str())
    );
    assert!(blocks(&store, "local").is_empty());
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), None);
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_lenient_repairs_and_stores_both() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => Reply::taxii(cp1252_response(&id).0),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.lenient_decoding = true;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Idle, "{:?}", s.last_error);
    let stored = blocks(&store, "local");
    assert_eq!(stored.len(), 2);
    let text = String::from_utf8(stored[1].content.clone()).expect("re-served content is UTF-8");
    assert!(text.contains("\u{FFFD}quoted\u{FFFD}"));
    assert_eq!(s.total_repaired, 1);
    h.shutdown().await;
}

async fn expect_protocol_mismatch(reply: impl Fn(&str) -> Reply + Send + Sync + 'static) {
    let up = FakeUpstream::start(move |r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => reply(&id),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("protocol mismatch"),
        "{:?}",
        s.last_error
    );
    assert!(blocks(&store, "local").is_empty());
    // Not a transient fault: the next try waits for the regular interval.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn taxii_10_body_is_a_protocol_mismatch() {
    expect_protocol_mismatch(|id| {
        let xml = format!(
            "<taxii:Poll_Response xmlns:taxii=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"1\" in_response_to=\"{id}\" feed_name=\"user_TestUser\"><taxii:Inclusive_End_Timestamp>2024-01-02T00:00:00Z</taxii:Inclusive_End_Timestamp>{}</taxii:Poll_Response>",
            "<taxii:Content_Block><taxii:Content_Binding>urn:stix.mitre.org:xml:1.1.1</taxii:Content_Binding><taxii:Content>x</taxii:Content></taxii:Content_Block>"
        );
        Reply::taxii(xml)
    })
    .await;
}

#[tokio::test]
async fn taxii_10_header_is_a_protocol_mismatch() {
    expect_protocol_mismatch(|id| {
        let xml = PollResp {
            in_response_to: id,
            more: false,
            result_id: None,
            part: 1,
            end: None,
            blocks: vec![block(&pkg(1), None)],
        }
        .xml();
        Reply::taxii(xml).header(
            "X-TAXII-Content-Type",
            "urn:taxii.mitre.org:message:xml:1.0",
        )
    })
    .await;
}
