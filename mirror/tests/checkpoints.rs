//! Checkpoints and what is stored: upstream ends that are missing, legacy cursors without a
//! zone, re-sent and revised packages, header-only packages.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::xml::{asked, block, empty_answer, header_only_pkg, pkg, pkg_with, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceState};
use taxii::Timestamp;

fn answer(id: &str, end: Option<String>, blocks: Vec<String>) -> Reply {
    Reply::taxii(
        PollResp {
            in_response_to: id,
            more: false,
            result_id: None,
            part: 1,
            end,
            blocks,
        }
        .xml(),
    )
}

#[tokio::test]
async fn missing_end_timestamp_uses_the_greatest_label() {
    let now = Timestamp::now().as_micros();
    let day = 86_400_000_000i64;
    let l1 = Timestamp::from_micros(now - day).to_string();
    let l2 = Timestamp::from_micros(now - day / 12).to_string();
    let (a, b) = (l1.clone(), l2.clone());
    let up = FakeUpstream::start(move |r, i| match (i, asked(r.message())) {
        (0, Asked::Poll { id, .. }) => answer(
            &id,
            None,
            vec![block(&pkg(1), Some(&b)), block(&pkg(2), Some(&a))],
        ),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    assert_eq!(blocks(&store, "local").len(), 2);
    let stored_labels: Vec<_> = blocks(&store, "local")
        .iter()
        .map(|b| b.upstream_label.unwrap().to_string())
        .collect();
    assert_eq!(stored_labels, [l2.clone(), l1]);

    // The next window starts at the greatest label, never at the beginning of time.
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    match asked(reqs[1].message()) {
        Asked::Poll { begin, end, .. } => {
            assert_eq!(begin, Some(ts(&l2)));
            assert_eq!(checkpoint(&store, "up", "user_TestUser"), end);
        }
        other => panic!("{other:?}"),
    }
    h.shutdown().await;
}

#[tokio::test]
async fn missing_end_and_no_blocks_uses_our_end() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => answer(&id, None, vec![]),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let sent_end = match asked(up.requests()[0].message()) {
        Asked::Poll { end, .. } => end.unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), Some(sent_end));
    h.shutdown().await;
}

#[tokio::test]
async fn legacy_checkpoint_without_zone_is_utc_and_rewritten() {
    let up = FakeUpstream::start(|_, _| Reply::status(400, "text/plain", "no"));
    let (_dir, store) = temp_store();
    seed_checkpoint(&store, "up", "user_TestUser", b"2024-01-01T00:00:00");
    let mut cfg = taxii_source(&up);
    cfg.window_days = 100_000.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let body = String::from_utf8(up.requests()[0].body.clone()).unwrap();
    assert!(
        body.contains(">2024-01-01T00:00:00.000000Z<"),
        "begin sent as UTC with a zone: {body}"
    );
    let raw = store
        .meta_get(mirror::CHECKPOINT_NS, "up/user_TestUser")
        .unwrap()
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.starts_with("{\"end\":\"2024-01-01T00:00:00.000000Z\""),
        "rewritten: {raw}"
    );
    h.shutdown().await;
}

/// Phase 0: W twice with F-PKG(1). Phase 1: F-PKG(1) re-sent with a new label, plus
/// F-PKG(2). Phase 2: Package-0001 revised (newer timestamp, other domain).
#[tokio::test]
async fn re_sent_packages_are_stored_once_and_revisions_once() {
    let phase = Arc::new(AtomicUsize::new(0));
    let p = phase.clone();
    let up = FakeUpstream::start(move |r, _| {
        let Asked::Poll { id, end, .. } = asked(r.message()) else {
            return Reply::taxii(empty_answer(r));
        };
        let label = end.map(|e| e.to_string());
        let blocks = match p.load(Ordering::SeqCst) {
            0 => vec![block(&pkg(1), label.as_deref())],
            1 => vec![
                block(&pkg(1), label.as_deref()),
                block(&pkg(2), label.as_deref()),
            ],
            _ => vec![block(
                &pkg_with(1, "2024-02-01T00:00:00Z", "revised.example.test"),
                label.as_deref(),
            )],
        };
        answer(&id, end.map(|e| e.to_string()), blocks)
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    // Same window again: rewind the checkpoint as an overlapping re-poll would.
    seed_checkpoint(
        &store,
        "up",
        "user_TestUser",
        &mirror::Checkpoint::at(Timestamp::from_micros(
            Timestamp::now().as_micros() - 86_400_000_000,
        ))
        .encode(),
    );
    h.poll_now("up").unwrap();
    wait_status(&h, "up", "second run", |_| up.count() >= 2).await;
    wait_status(&h, "up", "idle", |s| s.state == SourceState::Idle).await;
    assert_eq!(
        blocks(&store, "local").len(),
        1,
        "re-polled window adds nothing"
    );

    phase.store(1, Ordering::SeqCst);
    h.poll_now("up").unwrap();
    wait_status(&h, "up", "third run", |_| up.count() >= 3).await;
    let s = wait_status(&h, "up", "idle", |s| {
        s.state == SourceState::Idle && s.last_run_blocks + s.last_run_duplicates == 2
    })
    .await;
    assert_eq!(
        (
            s.last_run_blocks,
            s.last_run_duplicates,
            s.last_run_indicators
        ),
        (1, 1, 1)
    );

    phase.store(2, Ordering::SeqCst);
    h.poll_now("up").unwrap();
    wait_status(&h, "up", "fourth run", |_| up.count() >= 4).await;
    let s = wait_status(&h, "up", "idle", |s| {
        s.state == SourceState::Idle && s.last_run_blocks == 1
    })
    .await;
    assert_eq!(s.total_duplicates, 2);

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
            "test:Package-0001"
        ]
    );
    assert!(String::from_utf8_lossy(&stored[2].content).contains("revised.example.test"));
    assert!(
        stored[2].label > stored[1].label,
        "the revision gets a new local label"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn header_only_packages_are_counted_not_stored() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, end, .. } => answer(
            &id,
            end.map(|e| e.to_string()),
            vec![block(&header_only_pkg(), None), block(&pkg(7), None)],
        ),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!((s.last_run_blocks, s.total_no_indicators), (1, 1));
    let stored = blocks(&store, "local");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].package_id.as_deref(), Some("test:Package-0007"));
    assert!(
        checkpoint(&store, "up", "user_TestUser").is_some(),
        "cursor advances"
    );
    h.shutdown().await;
}
