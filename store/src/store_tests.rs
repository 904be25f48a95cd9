//! Tests of opening, the format file, collections and metadata.

use super::*;
use crate::test_util::{block, blocks, open_clocked, TestClock};

#[test]
fn new_store_writes_format_file_and_db_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let _s = Store::open(&path).unwrap();
    let text = std::fs::read_to_string(path.join("FORMAT")).unwrap();
    assert_eq!(text.trim_end(), "taxii-mirror store format 1");
    assert!(path.join("db-v1").is_dir());
}

#[test]
fn other_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("FORMAT"), "taxii-mirror store format 2\n").unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Format(msg)) => assert!(msg.contains("format 2"), "{msg}"),
        other => panic!("expected a format error, got {:?}", other.err()),
    }
}

#[test]
fn unrelated_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Format(_))
    ));
    assert!(!dir.path().join("FORMAT").exists());
}

#[test]
fn leftover_temporary_format_file_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("FORMAT.tmp"), "taxii-mir").unwrap();
    Store::open(dir.path()).unwrap();
}

#[test]
fn collections_are_idempotent_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(!s.has_collection("feed").unwrap());
    s.ensure_collection("feed").unwrap();
    s.ensure_collection("feed").unwrap();
    s.ensure_collection("alpha").unwrap();
    assert!(s.has_collection("feed").unwrap());
    assert_eq!(s.collections().unwrap(), vec!["alpha", "feed"]);
    assert_eq!(s.total("feed").unwrap(), 0);
    assert_eq!(s.last_label("feed").unwrap(), None);
    assert!(matches!(s.total("nope"), Err(StoreError::NoCollection(_))));
    assert!(matches!(
        s.append("nope", blocks(0, 1), None),
        Err(StoreError::NoCollection(_))
    ));
}

#[test]
fn odd_collection_names_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let names = [
        "a",
        "ab",
        "a b/c",
        "ünïcødé ✓",
        "line\nbreak",
        "\u{1}",
        "Gnext-collection",
    ];
    for (i, n) in names.iter().enumerate() {
        s.ensure_collection(n).unwrap();
        s.append(n, blocks(0, i as u64 + 1), None).unwrap();
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(s.total(n).unwrap(), i as u64 + 1, "{n:?}");
        let end = s.snapshot_end();
        assert_eq!(
            s.range(n, None, end).unwrap().count(),
            i as u64 as usize + 1
        );
    }
    let mut listed = s.collections().unwrap();
    listed.sort();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(matches!(
        s.ensure_collection(""),
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        s.ensure_collection("a\0b"),
        Err(StoreError::InvalidName(_))
    ));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn meta_put_get_delete_scan() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.meta_put("checkpoint", "src-a", b"1").unwrap();
    s.meta_put("checkpoint", "src-b", b"2").unwrap();
    s.meta_put("checkpointx", "src-c", b"3").unwrap();
    s.meta_put("check", "pointsrc-d", b"4").unwrap();
    assert_eq!(
        s.meta_get("checkpoint", "src-a").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(s.meta_get("checkpoint", "src-z").unwrap(), None);
    assert_eq!(
        s.meta_scan("checkpoint").unwrap(),
        vec![
            ("src-a".into(), b"1".to_vec()),
            ("src-b".into(), b"2".to_vec())
        ]
    );
    s.meta_delete("checkpoint", "src-a").unwrap();
    s.meta_delete("checkpoint", "never-there").unwrap();
    assert_eq!(s.meta_get("checkpoint", "src-a").unwrap(), None);
    assert_eq!(s.meta_scan("check").unwrap().len(), 1);
    assert!(s.meta_scan("empty").unwrap().is_empty());
}

#[test]
fn reopen_keeps_everything_and_labels_keep_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(2_000_000_000_000_000);
    let first = {
        let s = open_clocked(dir.path(), &clock);
        s.ensure_collection("feed").unwrap();
        let out = s.append("feed", blocks(0, 5), None).unwrap();
        s.meta_put("subscription", "sub-1", b"x").unwrap();
        s.flush().unwrap();
        assert!(s.size_on_disk().unwrap() > 0);
        out.labels
    };

    // The clock has gone back a long way; labels must still increase.
    clock.set(1_000);
    let s = open_clocked(dir.path(), &clock);
    assert_eq!(s.total("feed").unwrap(), 5);
    assert_eq!(s.last_label("feed").unwrap(), first.last().copied());
    assert_eq!(
        s.meta_get("subscription", "sub-1").unwrap(),
        Some(b"x".to_vec())
    );
    let again = s.append("feed", vec![block(0), block(99)], None).unwrap();
    assert_eq!((again.stored, again.duplicates), (1, 1));
    assert!(again.labels[0] > *first.last().unwrap());
    let got: Vec<_> = s
        .range("feed", None, s.snapshot_end())
        .unwrap()
        .map(|b| b.unwrap().ordinal)
        .collect();
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn snapshot_end_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(3_000_000_000_000_000);
    let end = {
        let s = open_clocked(dir.path(), &clock);
        s.ensure_collection("feed").unwrap();
        s.snapshot_end()
    };
    clock.set(5);
    let s = open_clocked(dir.path(), &clock);
    let out = s.append("feed", blocks(0, 1), None).unwrap();
    assert!(out.labels[0] > end);
}
