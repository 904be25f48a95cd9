//! Tests of appending, labels, dedupe and snapshot ends.

use super::*;
use crate::test_util::{block, blocks, open_clocked, TestClock};
use crate::types::MetaPut;

fn checkpoint(v: &str) -> Option<MetaPut> {
    Some(MetaPut {
        ns: "checkpoint".into(),
        key: "upstream".into(),
        value: v.as_bytes().to_vec(),
    })
}

#[test]
fn labels_increase_across_calls_and_collections() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("a").unwrap();
    s.ensure_collection("b").unwrap();
    let mut all = Vec::new();
    for i in 0..20u64 {
        let c = if i % 2 == 0 { "a" } else { "b" };
        let out = s.append(c, blocks(i * 10, i * 10 + 3), None).unwrap();
        assert_eq!(out.stored, 3);
        all.extend(out.labels);
    }
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s.total("a").unwrap(), 30);
    assert_eq!(s.last_label("b").unwrap(), all.last().copied());
}

#[test]
fn labels_follow_the_clock_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000_000);
    let s = open_clocked(dir.path(), &clock);
    s.ensure_collection("feed").unwrap();

    let out = s.append("feed", blocks(0, 3), None).unwrap();
    let micros: Vec<i64> = out.labels.iter().map(|t| t.as_micros()).collect();
    assert_eq!(micros, vec![1_000_000, 1_000_001, 1_000_002]);

    clock.set(500);
    let out = s.append("feed", blocks(3, 4), None).unwrap();
    assert_eq!(out.labels[0].as_micros(), 1_000_003);

    clock.set(9_000_000);
    let out = s.append("feed", blocks(4, 5), None).unwrap();
    assert_eq!(out.labels[0].as_micros(), 9_000_000);
}

#[test]
fn duplicates_within_a_call_and_across_calls_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();
    s.ensure_collection("other").unwrap();

    let out = s
        .append(
            "feed",
            vec![block(1), block(2), block(1), block(3), block(2)],
            None,
        )
        .unwrap();
    assert_eq!((out.stored, out.duplicates, out.labels.len()), (3, 2, 3));

    let out = s.append("feed", vec![block(3), block(4)], None).unwrap();
    assert_eq!((out.stored, out.duplicates), (1, 1));

    // The same content in another collection is not a duplicate there.
    let out = s.append("other", vec![block(1)], None).unwrap();
    assert_eq!((out.stored, out.duplicates), (1, 0));

    assert_eq!(s.total("feed").unwrap(), 4);
    let all_dups = s.append("feed", blocks(1, 5), None).unwrap();
    assert_eq!((all_dups.stored, all_dups.duplicates), (0, 4));
    assert!(all_dups.labels.is_empty());
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn meta_rides_with_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();

    s.append("feed", blocks(0, 2), checkpoint("t1")).unwrap();
    assert_eq!(
        s.meta_get("checkpoint", "upstream").unwrap(),
        Some(b"t1".to_vec())
    );
    assert_eq!(s.total("feed").unwrap(), 2);

    // A failed append writes neither blocks nor the checkpoint.
    assert!(s.append("missing", blocks(5, 6), checkpoint("t2")).is_err());
    assert_eq!(
        s.meta_get("checkpoint", "upstream").unwrap(),
        Some(b"t1".to_vec())
    );

    // A window with nothing new still advances the checkpoint.
    let out = s.append("feed", blocks(0, 2), checkpoint("t3")).unwrap();
    assert_eq!(out.stored, 0);
    assert_eq!(
        s.meta_get("checkpoint", "upstream").unwrap(),
        Some(b"t3".to_vec())
    );
    let out = s.append("feed", Vec::new(), checkpoint("t4")).unwrap();
    assert_eq!(out, AppendOutcome::default());
    assert_eq!(
        s.meta_get("checkpoint", "upstream").unwrap(),
        Some(b"t4".to_vec())
    );
}

#[test]
fn meta_and_blocks_survive_reopen_together() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.ensure_collection("feed").unwrap();
        s.append("feed", blocks(0, 10), checkpoint("end-1"))
            .unwrap();
        s.flush().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.total("feed").unwrap(), 10);
    assert_eq!(
        s.meta_get("checkpoint", "upstream").unwrap(),
        Some(b"end-1".to_vec())
    );
}

#[test]
fn snapshot_end_then_append_gets_a_later_label() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(10_000);
    let s = open_clocked(dir.path(), &clock);
    s.ensure_collection("feed").unwrap();
    let first = s.append("feed", blocks(0, 1), None).unwrap().labels[0];

    let end = s.snapshot_end();
    assert!(end >= first);
    // The clock has not moved: the next label must still be above the end.
    let next = s.append("feed", blocks(1, 2), None).unwrap().labels[0];
    assert!(next > end);

    clock.set(50_000);
    let end = s.snapshot_end();
    assert_eq!(end.as_micros(), 50_000);
    clock.set(40_000);
    assert!(s.snapshot_end() >= end);
    assert!(s.append("feed", blocks(2, 3), None).unwrap().labels[0] > end);
}

#[test]
fn snapshot_end_records_a_bound_about_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(7_000_000);
    let s = open_clocked(dir.path(), &clock);
    let recorded = || {
        let v = s.inner.tree.get(keys::G_SNAPSHOT_END).unwrap().unwrap();
        keys::i64_from_value(&v).unwrap()
    };
    assert_eq!(s.snapshot_end().as_micros(), 7_000_000);
    assert_eq!(recorded(), 8_000_000);
    clock.set(7_900_000);
    assert_eq!(s.snapshot_end().as_micros(), 7_900_000);
    assert_eq!(recorded(), 8_000_000);
    clock.set(8_000_001);
    s.snapshot_end();
    assert_eq!(recorded(), 9_000_001);
}

#[test]
fn snapshot_end_never_misses_a_block_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();

    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    let n = w * 1_000_000 + i * 10;
                    s.append("feed", blocks(n, n + 5), None).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..200 {
                let end = s.snapshot_end();
                seen.push((end, s.range("feed", None, end).unwrap().count() as u64));
            }
            seen
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    for (end, n) in reader.join().unwrap() {
        assert_eq!(s.count("feed", None, end).unwrap(), n, "end {end:?}");
    }
    assert_eq!(s.total("feed").unwrap(), 600);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn an_append_that_would_leave_too_little_free_space_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.ensure_collection("c").unwrap();
    store.append("c", blocks(0, 2), None).unwrap();
    let segments = store.inner.segments.size_on_disk().unwrap();

    // More free space than any disk has.
    store.set_min_free_bytes(u64::MAX / 2);
    let err = store.append("c", blocks(2, 5), None).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().starts_with("disk full: "), "{err}");
    let why = store.space_problem().unwrap();
    assert!(why.contains("below the reserve"), "{why}");
    assert_eq!(store.total("c").unwrap(), 2);
    assert_eq!(store.inner.segments.size_on_disk().unwrap(), segments);
    // Duplicates need no space and are still recognised.
    let again = store.append("c", blocks(0, 2), None).unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 2));
    assert!(store.verify().unwrap().is_ok());

    // Space returns: the problem clears by itself, and the same blocks go in.
    store.set_min_free_bytes(crate::DEFAULT_MIN_FREE_BYTES);
    assert_eq!(store.space_problem(), None);
    let out = store.append("c", blocks(2, 5), None).unwrap();
    assert_eq!(out.stored, 3);
    assert_eq!(store.total("c").unwrap(), 5);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn after_a_failed_write_snapshot_ends_stop_at_what_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000_000);
    let s = open_clocked(dir.path(), &clock);
    s.ensure_collection("feed").unwrap();
    let flushed = s.append("feed", blocks(0, 2), None).unwrap().labels;
    s.flush().unwrap();
    clock.set(2_000_000);
    assert!(s.snapshot_end() >= Timestamp::from_micros(2_000_000));

    // As when the database's flush met a full disk: the next batch is readable in memory
    // but may be gone after the restart, so polls must not see it.
    *s.inner.write_failure.lock().unwrap() = Some("No space left on device".into());
    let unflushed = s.append("feed", blocks(2, 3), None).unwrap().labels;
    clock.set(3_000_000);
    let end = s.snapshot_end();
    assert!(end >= flushed[1] && end < unflushed[0], "{end:?}");
    let seen: Vec<_> = s
        .range("feed", None, end)
        .unwrap()
        .map(|b| b.unwrap().label)
        .collect();
    assert_eq!(seen, flushed);
}
