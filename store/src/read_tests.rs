//! Tests of range, count and the counters.

use super::*;
use crate::test_util::{blocks, open_clocked, Rng, TestClock};

/// A store with blocks labelled 100, 110, 120, ... (the clock steps by 10 between appends).
fn spaced(dir: &std::path::Path, n: u64) -> (Store, Vec<i64>) {
    let clock = TestClock::at(100);
    let s = open_clocked(dir, &clock);
    s.ensure_collection("feed").unwrap();
    let mut labels = Vec::new();
    for i in 0..n {
        clock.set(100 + 10 * i as i64);
        let out = s.append("feed", blocks(i, i + 1), None).unwrap();
        labels.push(out.labels[0].as_micros());
    }
    (s, labels)
}

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

fn labels_in(s: &Store, after: Option<i64>, until: i64) -> Vec<i64> {
    s.range("feed", after.map(ts), ts(until))
        .unwrap()
        .map(|b| b.unwrap().label.as_micros())
        .collect()
}

#[test]
fn range_begin_is_exclusive_and_end_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    let (s, labels) = spaced(dir.path(), 5);
    assert_eq!(labels, vec![100, 110, 120, 130, 140]);

    assert_eq!(labels_in(&s, None, 140), labels);
    assert_eq!(labels_in(&s, Some(100), 130), vec![110, 120, 130]);
    assert_eq!(labels_in(&s, Some(99), 100), vec![100]);
    assert_eq!(labels_in(&s, Some(101), 109), Vec::<i64>::new());
    assert_eq!(labels_in(&s, Some(105), 115), vec![110]);
    assert_eq!(labels_in(&s, Some(140), 200), Vec::<i64>::new());
    assert_eq!(labels_in(&s, None, 99), Vec::<i64>::new());
    // An inverted or empty window is empty, not an error.
    assert_eq!(labels_in(&s, Some(130), 110), Vec::<i64>::new());
    assert_eq!(labels_in(&s, Some(120), 120), Vec::<i64>::new());
    // Extreme bounds.
    assert_eq!(labels_in(&s, Some(i64::MIN), i64::MAX), labels);
}

#[test]
fn range_returns_decoded_blocks_with_ordinals() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = spaced(dir.path(), 3);
    let got: Vec<StoredBlock> = s
        .range("feed", None, ts(1_000))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got.iter().map(|b| b.ordinal).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(got[1].content, crate::test_util::block(1).content);
    assert_eq!(got[1].package_id.as_deref(), Some("example:Package-1"));
    assert_eq!(got[1].ingested, ts(110));
}

#[test]
fn count_matches_range_for_random_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (s, labels) = spaced(dir.path(), 60);
    let lo = labels[0] - 20;
    let hi = labels[labels.len() - 1] + 20;
    let mut rng = Rng::new(0x5eed);
    for _ in 0..300 {
        let a = lo + rng.below((hi - lo) as u64) as i64;
        let b = lo + rng.below((hi - lo) as u64) as i64;
        let after = (rng.below(5) != 0).then_some(a);
        let expected = labels
            .iter()
            .filter(|&&l| after.is_none_or(|a| l > a) && l <= b)
            .count() as u64;
        let counted = s.count("feed", after.map(ts), ts(b)).unwrap();
        let ranged = s.range("feed", after.map(ts), ts(b)).unwrap().count() as u64;
        assert_eq!(
            (counted, ranged),
            (expected, expected),
            "after {after:?} until {b}"
        );
    }
    // Exact-label bounds.
    for w in labels.windows(2) {
        assert_eq!(s.count("feed", Some(ts(w[0])), ts(w[1])).unwrap(), 1);
        assert_eq!(s.count("feed", Some(ts(w[0])), ts(w[0])).unwrap(), 0);
    }
    assert_eq!(
        s.count("feed", None, ts(hi)).unwrap(),
        s.total("feed").unwrap()
    );
}

#[test]
fn collections_do_not_leak_into_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for c in ["a", "b", "c"] {
        s.ensure_collection(c).unwrap();
    }
    s.append("a", blocks(0, 3), None).unwrap();
    s.append("c", blocks(0, 4), None).unwrap();
    let end = s.snapshot_end();
    assert_eq!(s.range("b", None, end).unwrap().count(), 0);
    assert_eq!(s.count("b", None, end).unwrap(), 0);
    assert_eq!(s.count("a", None, end).unwrap(), 3);
    assert_eq!(s.range("c", None, end).unwrap().count(), 4);
    assert!(matches!(
        s.range("zz", None, end),
        Err(StoreError::NoCollection(_))
    ));
    assert!(matches!(
        s.count("zz", None, end),
        Err(StoreError::NoCollection(_))
    ));
}

#[test]
fn corrupt_record_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (s, labels) = spaced(dir.path(), 3);
    let id = s.collection_id("feed").unwrap();
    let tree = &s.inner.tree;
    tree.insert(keys::block_key(id, labels[1]), &b"\x01garbage"[..])
        .unwrap();
    let got: Vec<_> = s.range("feed", None, ts(1_000)).unwrap().collect();
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[2].is_ok());
    assert!(matches!(got[1], Err(StoreError::Corrupt(_))));
    assert!(matches!(
        s.count("feed", Some(ts(labels[0])), ts(labels[1])),
        Err(StoreError::Corrupt(_))
    ));

    // Damaged counters are reported too.
    tree.insert(keys::stats_key(id), &b"short"[..]).unwrap();
    assert!(matches!(s.total("feed"), Err(StoreError::Corrupt(_))));
}
