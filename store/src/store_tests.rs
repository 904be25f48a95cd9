//! Tests of opening, the format file, collections and metadata.

use super::*;
use crate::keys;
use crate::test_util::{block, blocks, open_clocked, TestClock};

#[test]
fn new_store_writes_format_file_and_db_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let _s = Store::open(&path).unwrap();
    let text = std::fs::read_to_string(path.join("FORMAT")).unwrap();
    assert_eq!(text.trim_end(), "taxii-mirror store format 4");
    assert!(path.join("db-v1").is_dir());
    assert!(path.join("segments").is_dir());
}

#[test]
fn a_format_line_with_trailing_blanks_is_read_as_written() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    std::fs::write(
        dir.path().join("FORMAT"),
        "taxii-mirror store format 4 \t\r\n\n",
    )
    .unwrap();
    assert!(Store::open(dir.path()).is_ok());
}

#[test]
fn other_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("FORMAT"), "taxii-mirror store format 5\n").unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Format(msg)) => assert!(msg.contains("format 5"), "{msg}"),
        other => panic!("expected a format error, got {:?}", other.err()),
    }
}

#[test]
fn format_1_store_is_upgraded_and_its_inline_blocks_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();
    s.append("feed", blocks(0, 3), None).unwrap();
    // Rewrite the records as format 1 wrote them: content inside the record.
    let id = s.collection_id("feed").unwrap();
    let old: Vec<_> = s.range("feed", None, s.snapshot_end()).unwrap().collect();
    for b in old {
        let b = b.unwrap();
        let key = keys::block_key(id, b.label.as_micros());
        let bytes = s.inner.tree.get(key).unwrap().unwrap();
        let mut bytes = crate::record::as_version_2(b.label.as_micros(), &bytes);
        bytes.truncate(bytes.len() - 20);
        bytes[0] = crate::record::RECORD_V1;
        bytes.extend_from_slice(&(b.content.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&b.content);
        s.inner.tree.insert(key, bytes).unwrap();
        // With the look-up facts beside the record, where builds before format 3 kept them.
        let facts = crate::index::encode_info(
            b.ingested.as_micros(),
            b.package_id.as_deref(),
            None,
            b.source.as_deref(),
        );
        let facts_key = crate::index::info_key(id, b.label.as_micros());
        s.inner.tree.insert(facts_key, facts).unwrap();
    }
    s.flush().unwrap();
    drop(s);
    std::fs::write(dir.path().join("FORMAT"), "taxii-mirror store format 1\n").unwrap();

    let s = Store::open(dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("FORMAT")).unwrap();
    assert_eq!(text.trim_end(), "taxii-mirror store format 4");
    s.append("feed", blocks(3, 5), None).unwrap();
    let got: Vec<_> = s
        .range("feed", None, s.snapshot_end())
        .unwrap()
        .map(|b| b.unwrap().content)
        .collect();
    let want: Vec<_> = blocks(0, 5).into_iter().map(|b| b.content).collect();
    assert_eq!(got, want);
    let sizes: Vec<u64> = s
        .range_summaries("feed", None, s.snapshot_end())
        .unwrap()
        .map(|b| b.unwrap().size)
        .collect();
    assert_eq!(
        sizes,
        want.iter().map(|c| c.len() as u64).collect::<Vec<_>>()
    );
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn an_append_cut_short_before_its_batch_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();
    s.append("feed", blocks(0, 2), None).unwrap();
    // Content written, then the process dies before the batch that names it.
    let extra = blocks(2, 3);
    s.inner
        .segments
        .write([extra[0].content.as_slice()], extra[0].content.len() as u64)
        .unwrap();
    s.flush().unwrap();
    drop(s);

    let s = Store::open(dir.path()).unwrap();
    let seg_bytes: u64 = blocks(0, 2).iter().map(|b| b.content.len() as u64).sum();
    let on_disk: u64 = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, seg_bytes, "the uncommitted tail is cut off");
    s.append("feed", blocks(2, 4), None).unwrap();
    let got: Vec<_> = s
        .range("feed", None, s.snapshot_end())
        .unwrap()
        .map(|b| b.unwrap().content)
        .collect();
    let want: Vec<_> = blocks(0, 4).into_iter().map(|b| b.content).collect();
    assert_eq!(got, want);
    assert!(s.verify().unwrap().is_ok());
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

#[test]
fn the_store_directory_is_kept_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _s = Store::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // A folder the store makes itself (parents too) is made the owner's alone.
    let fresh = dir.path().join("a").join("b");
    let _t = Store::open(&fresh).unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn an_open_waits_briefly_for_the_lock_of_a_store_being_closed() {
    let dir = tempfile::tempdir().unwrap();
    let held = Store::open(dir.path()).unwrap();
    let closing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    let started = std::time::Instant::now();
    let reopened = Store::open(dir.path());
    closing.join().unwrap();
    assert!(reopened.is_ok(), "{:?}", reopened.err());
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    // A store that stays open is refused once the wait is over.
    let still = reopened.unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(Store::open(dir.path()), Err(StoreError::InUse(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(still);
}

#[test]
fn a_snapshot_left_half_written_does_not_stop_the_store_opening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.ensure_collection("feed").unwrap();
        s.append("feed", blocks(0, 5), None).unwrap();
        s.flush().unwrap();
    }
    // What a snapshot write cut short by a full disk leaves: sled reads the newest
    // `snap.*` file, finished or not.
    let leftover = dir
        .path()
        .join("db-v1")
        .join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, vec![0u8; 4096]).unwrap();
    let s = Store::open(dir.path()).expect("opens without the unfinished snapshot");
    assert_eq!(s.total("feed").unwrap(), 5);
    assert!(!leftover.exists());
}
