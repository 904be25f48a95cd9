//! Following result parts: re-read `more` from every part, never ask past the last one,
//! and give up on parts that make no sense.

mod common;

use common::xml::{asked, block, pkg, Asked, PollResp};
use common::*;
use mirror::{Checkpoint, Mirror, SourceState};

/// Two parts (2 + 1 blocks); a request for part 3 would get an empty HTTP body.
#[tokio::test]
async fn follows_more_to_the_last_part_and_no_further() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: true,
                result_id: Some("R1"),
                part: 1,
                end: Some("2024-01-02T00:00:00Z".into()),
                blocks: vec![block(&pkg(1), None), block(&pkg(2), None)],
            }
            .xml(),
        ),
        Asked::Fulfil {
            id,
            result_id,
            part: 2,
        } if result_id == "R1" => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: false,
                result_id: Some("R1"),
                part: 2,
                end: Some("2024-01-02T00:00:00Z".into()),
                blocks: vec![block(&pkg(3), None)],
            }
            .xml(),
        ),
        _ => Reply::taxii(Vec::new()),
    });
    let (_dir, store) = temp_store();
    seed_checkpoint(
        &store,
        "up",
        "user_TestUser",
        &Checkpoint::at(ts("2024-01-01T00:00:00Z")).encode(),
    );
    let mut cfg = taxii_source(&up);
    cfg.window_days = 100_000.0;

    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;

    let reqs = up.requests();
    assert_eq!(reqs.len(), 2, "exactly one poll and one fulfilment");
    assert!(
        matches!(asked(reqs[0].message()), Asked::Poll { begin: Some(b), .. } if b == ts("2024-01-01T00:00:00Z"))
    );
    assert!(matches!(
        asked(reqs[1].message()),
        Asked::Fulfil { part: 2, .. }
    ));
    let stored = blocks(&store, "local");
    let ids: Vec<_> = stored
        .iter()
        .map(|b| b.package_id.clone().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "test:Package-0001",
            "test:Package-0002",
            "test:Package-0003"
        ]
    );
    assert!(stored
        .iter()
        .all(|b| b.source.as_deref() == Some("up") && b.indicators == 1));
    assert_eq!(
        checkpoint(&store, "up", "user_TestUser"),
        Some(ts("2024-01-02T00:00:00Z"))
    );
    let s = h.source_status("up").unwrap();
    assert_eq!(
        (s.state, s.last_run_blocks, s.last_run_indicators),
        (SourceState::Idle, 3, 3)
    );
    assert_headers_ok(&up);
    h.shutdown().await;
}

fn part(id: &str, n: u64, more: bool, blocks: Vec<String>) -> Reply {
    Reply::taxii(
        PollResp {
            in_response_to: id,
            more,
            result_id: Some("R9"),
            part: n,
            end: None,
            blocks,
        }
        .xml(),
    )
}

/// Run a source whose window breaks off: the parts that arrived whole before the fault are
/// stored (`kept`, each once), the checkpoint does not move.
async fn run_failing(
    up: &FakeUpstream,
    max_parts: u64,
    kept: &[&str],
) -> (tempfile::TempDir, store::Store, mirror::SourceStatus) {
    let (dir, store) = temp_store();
    let mut cfg = taxii_source(up);
    cfg.max_parts = max_parts;
    cfg.backoff_initial_secs = 60.0;
    cfg.backoff_max_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    h.shutdown().await;
    assert_eq!(s.state, SourceState::Failing);
    assert_eq!(
        stored_ids(&store),
        kept,
        "only the parts before the broken one are stored"
    );
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), None);
    (dir, store, s)
}

#[tokio::test]
async fn repeated_part_number_stops_the_window() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => part(&id, 1, true, vec![block(&pkg(1), None)]),
        Asked::Fulfil { id, .. } => part(&id, 1, true, vec![block(&pkg(2), None)]),
        Asked::Other => Reply::status(400, "text/plain", "?"),
    });
    let (_d, _s, status) = run_failing(&up, 10_000, &["test:Package-0001"]).await;
    assert!(status.last_error.unwrap().contains("came twice"));
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn two_empty_parts_with_more_stop_the_window() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => part(&id, 1, true, vec![]),
        Asked::Fulfil { id, part: n, .. } => part(&id, n, true, vec![]),
        Asked::Other => Reply::status(400, "text/plain", "?"),
    });
    let (_d, _s, status) = run_failing(&up, 10_000, &[]).await;
    assert!(status
        .last_error
        .unwrap()
        .contains("two empty result parts"));
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn parts_are_capped() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => part(&id, 1, true, vec![block(&pkg(1), None)]),
        Asked::Fulfil { id, part: n, .. } => part(&id, n, true, vec![block(&pkg(n as u32), None)]),
        Asked::Other => Reply::status(400, "text/plain", "?"),
    });
    let (_d, _s, status) = run_failing(
        &up,
        3,
        &[
            "test:Package-0001",
            "test:Package-0002",
            "test:Package-0003",
        ],
    )
    .await;
    assert!(status.last_error.unwrap().contains("max_parts"));
    assert_eq!(up.count(), 3);
}

fn stored_ids(store: &store::Store) -> Vec<String> {
    blocks(store, "local")
        .iter()
        .map(|b| b.package_id.clone().unwrap())
        .collect()
}

/// A window that breaks off after its first part keeps that part (once) and its
/// checkpoint; polling it again stores only what was missing and finds the rest as
/// duplicates.
#[tokio::test]
async fn a_window_broken_off_is_polled_again_without_storing_twice() {
    let up = FakeUpstream::start(|r, i| match asked(r.message()) {
        Asked::Poll { id, .. } => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: true,
                result_id: Some("R2"),
                part: 1,
                end: Some("2024-01-02T00:00:00Z".into()),
                blocks: vec![block(&pkg(1), None), block(&pkg(2), None)],
            }
            .xml(),
        ),
        // The first fulfilment fails; later ones answer.
        Asked::Fulfil { .. } if i == 1 => Reply::status(503, "text/plain", "busy"),
        Asked::Fulfil { id, part: 2, .. } => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: false,
                result_id: Some("R2"),
                part: 2,
                end: Some("2024-01-02T00:00:00Z".into()),
                blocks: vec![block(&pkg(3), None)],
            }
            .xml(),
        ),
        _ => Reply::taxii(Vec::new()),
    });
    let (_dir, store) = temp_store();
    seed_checkpoint(
        &store,
        "up",
        "user_TestUser",
        &Checkpoint::at(ts("2024-01-01T00:00:00Z")).encode(),
    );
    let mut cfg = taxii_source(&up);
    cfg.window_days = 100_000.0;
    cfg.backoff_initial_secs = 60.0;
    cfg.backoff_max_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert_eq!(
        stored_ids(&store),
        ["test:Package-0001", "test:Package-0002"]
    );
    assert_eq!(
        checkpoint(&store, "up", "user_TestUser"),
        Some(ts("2024-01-01T00:00:00Z")),
        "checkpoint unchanged"
    );

    h.poll_now("up").unwrap();
    let s = wait_status(&h, "up", "a successful retry", |s| {
        s.state == SourceState::Idle
    })
    .await;
    assert_eq!(
        stored_ids(&store),
        [
            "test:Package-0001",
            "test:Package-0002",
            "test:Package-0003"
        ]
    );
    assert_eq!(
        (s.last_run_blocks, s.last_run_duplicates),
        (1, 2),
        "the second poll stored only the missing block"
    );
    assert_eq!(
        checkpoint(&store, "up", "user_TestUser"),
        Some(ts("2024-01-02T00:00:00Z"))
    );
    assert_eq!(up.count(), 4, "poll, failed fulfilment, poll, fulfilment");
    h.shutdown().await;
}
