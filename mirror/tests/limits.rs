//! Parser limits on upstream responses: hostile nesting is refused quickly, a large text
//! node under the limit is stored byte-exact, one over it is refused.

mod common;

use std::time::{Duration, Instant};

use common::xml::{asked, block, empty_answer, pkg_with, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceState};

fn respond(id: &str, content: &str) -> Reply {
    Reply::taxii(
        PollResp {
            in_response_to: id,
            more: false,
            result_id: None,
            part: 1,
            end: None,
            blocks: vec![block(content, None)],
        }
        .xml(),
    )
}

async fn first_status(
    up: &FakeUpstream,
) -> (
    tempfile::TempDir,
    store::Store,
    mirror::SourceStatus,
    Duration,
) {
    let (dir, store) = temp_store();
    let mut cfg = taxii_source(up);
    cfg.backoff_initial_secs = 60.0;
    let started = Instant::now();
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let took = started.elapsed();
    let s = h.source_status("up").unwrap();
    h.shutdown().await;
    (dir, store, s, took)
}

#[tokio::test]
async fn deep_nesting_is_refused_quickly() {
    let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
    let up = FakeUpstream::start(move |r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => respond(&id, &deep),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_d, store, s, took) = first_status(&up).await;
    assert_eq!(s.state, SourceState::Failing);
    assert!(s
        .last_error
        .unwrap()
        .starts_with("malformed upstream response"));
    assert!(blocks(&store, "local").is_empty());
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

fn big_description(chars: usize) -> String {
    pkg_with(1, "2024-01-01T00:00:00Z", "bad-1.example.test").replace(
        "<indicator:Observable",
        &format!(
            "<indicator:Description>{}</indicator:Description><indicator:Observable",
            "x".repeat(chars)
        ),
    )
}

#[tokio::test]
async fn large_text_under_the_limit_is_stored_exactly() {
    let pkg = big_description(10_000_000);
    let expect = pkg.clone().into_bytes();
    let up = FakeUpstream::start(move |r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => respond(&id, &pkg),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_d, store, s, _) = first_status(&up).await;
    assert_eq!(s.state, SourceState::Idle, "{:?}", s.last_error);
    let stored = blocks(&store, "local");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].content == expect, "content stored byte-exact");
}

#[tokio::test]
async fn text_over_the_limit_is_refused() {
    let pkg = big_description(17 * 1024 * 1024);
    let up = FakeUpstream::start(move |r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => respond(&id, &pkg),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_d, store, s, _) = first_status(&up).await;
    assert_eq!(s.state, SourceState::Failing);
    assert!(blocks(&store, "local").is_empty());
}

#[tokio::test]
async fn body_over_max_body_bytes_is_refused() {
    let pkg = big_description(2_000_000);
    let up = FakeUpstream::start(move |r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => respond(&id, &pkg),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.max_body_bytes = 1_000_000;
    cfg.backoff_initial_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(
        s.last_error.as_deref(),
        Some("upstream response larger than max_body_bytes (1000000)")
    );
    assert!(blocks(&store, "local").is_empty());
    h.shutdown().await;
}
