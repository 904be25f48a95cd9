//! Error statuses, in TAXII and in HTTP: auth failures stop the source, transient faults
//! are retried with backoff and then store the data once, rejected requests wait.

mod common;

use std::time::Duration;

use common::xml::{asked, block, empty_answer, pkg, status, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceState};

fn data(id: &str) -> Reply {
    Reply::taxii(
        PollResp {
            in_response_to: id,
            more: false,
            result_id: None,
            part: 1,
            end: None,
            blocks: vec![block(&pkg(1), None), block(&pkg(2), None)],
        }
        .xml(),
    )
}

async fn expect_auth_failure(first: Reply) {
    let up = FakeUpstream::start(move |_, _| first.clone());
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::AuthFailed, "{:?}", s.last_error);
    assert_eq!(s.next_run, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1, "no retry after an auth failure");
    assert!(blocks(&store, "local").is_empty());
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), None);

    // poll-now is the operator's way to try again.
    h.poll_now("up").unwrap();
    wait_status(&h, "up", "second attempt", |_| up.count() == 2).await;
    h.shutdown().await;
}

#[tokio::test]
async fn unauthorized_status_stops_the_source() {
    expect_auth_failure(Reply::taxii(status("UNAUTHORIZED", "bad credentials"))).await;
}

#[tokio::test]
async fn http_401_html_stops_the_source() {
    expect_auth_failure(Reply::status(
        401,
        "text/html",
        "<html><body>401 Unauthorized</body></html>",
    ))
    .await;
}

async fn expect_retry_then_success(failures: Vec<Reply>) {
    let n = failures.len();
    let up = FakeUpstream::start(move |r, i| match (failures.get(i), asked(r.message())) {
        (Some(f), _) => f.clone(),
        (None, Asked::Poll { id, .. }) => data(&id),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.window_days = 1.0; // two windows: every retry re-polls the first one
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = wait_status(&h, "up", "recovery", |s| s.state == SourceState::Idle).await;
    assert!(up.count() > n, "retried after {n} failures");
    assert_eq!(s.consecutive_failures, 0);
    assert!(s.last_error.is_some(), "the fault stays visible");
    // Both windows got the same two packages; they are stored once.
    let stored = blocks(&store, "local");
    assert_eq!(stored.len(), 2, "data stored once");
    assert_eq!(s.total_blocks, 2);
    // Each later window re-sent both: skipped as duplicates.
    assert!(s.backfill.windows_done >= 2);
    assert_eq!(s.total_duplicates, 2 * (s.backfill.windows_done - 1));
    assert_headers_ok(&up);
    h.shutdown().await;
}

#[tokio::test]
async fn failure_status_is_retried() {
    expect_retry_then_success(vec![Reply::taxii(status(
        "FAILURE",
        "There was a failure while executing the message handler",
    ))])
    .await;
}

#[tokio::test]
async fn bad_gateway_then_gateway_timeout_then_success() {
    expect_retry_then_success(vec![
        Reply::status(
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        Reply::status(
            504,
            "text/html",
            "<html><body>504 Gateway Timeout</body></html>",
        ),
    ])
    .await;
}

#[tokio::test]
async fn retry_status_is_retried() {
    expect_retry_then_success(vec![Reply::taxii(status("RETRY", "busy"))]).await;
}

#[tokio::test]
async fn stalled_upstream_times_out_and_is_retried() {
    let mut stall = Reply::taxii(Vec::new());
    stall.stall = Some(Duration::from_millis(1500));
    let up = FakeUpstream::start(move |r, i| match (i, asked(r.message())) {
        (0, _) => stall.clone(),
        (_, Asked::Poll { id, .. }) => data(&id),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.timeout_secs = 0.5;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert!(
        s.last_error.as_deref().unwrap_or("").starts_with("timeout"),
        "{:?}",
        s.last_error
    );
    wait_status(&h, "up", "recovery", |s| s.state == SourceState::Idle).await;
    assert_eq!(blocks(&store, "local").len(), 2);
    h.shutdown().await;
}

#[tokio::test]
async fn http_400_is_request_rejected_and_not_retried_soon() {
    let up = FakeUpstream::start(|_, _| Reply::status(400, "text/plain", "Request Failed"));
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert_eq!(
        s.last_error.as_deref(),
        Some("request rejected: HTTP 400: Request Failed")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn http_406_names_the_headers() {
    let up = FakeUpstream::start(|_, _| Reply::status(406, "text/plain", "Not Acceptable"));
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(
        s.last_error.as_deref(),
        Some("upstream rejected request headers (HTTP 406)")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1, "not retried blindly");
    h.shutdown().await;
}

/// Our requests carry every header of the HTTP binding; the fake answers 406 otherwise.
#[tokio::test]
async fn requests_carry_every_binding_header() {
    let up = FakeUpstream::start(|r, _| Reply::taxii(empty_answer(r)));
    let (_dir, store) = temp_store();
    let h = Mirror::start(store, vec![taxii_source(&up)]);
    first_run(&h).await;
    assert_eq!(h.source_status("up").unwrap().state, SourceState::Idle);
    let r = &up.requests()[0];
    assert_headers_ok(&up);
    assert_eq!(r.header("Accept"), Some("application/xml"));
    assert_eq!(r.header("Content-Type"), Some("application/xml"));
    assert_eq!(
        r.header("X-TAXII-Protocol"),
        Some("urn:taxii.mitre.org:protocol:http:1.0")
    );
    assert_eq!(r.header("Authorization"), Some("Basic dGVzdC1rZXk6Zm9v"));
    assert_eq!(r.target, "/taxii/poll");
    h.shutdown().await;
}

/// A Status_Message is never "zero new indicators": the checkpoint does not move.
#[tokio::test]
async fn status_success_instead_of_poll_response_is_not_empty_data() {
    let up = FakeUpstream::start(|_, _| Reply::taxii(status("SUCCESS", "ok")));
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.backoff_initial_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    assert_eq!(h.source_status("up").unwrap().state, SourceState::Failing);
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), None);
    h.shutdown().await;
}
