//! Tests of the consistency check.

use super::*;
use crate::test_util::blocks;

fn filled(dir: &std::path::Path) -> (Store, u32, Vec<i64>) {
    let s = Store::open(dir).unwrap();
    s.ensure_collection("feed").unwrap();
    s.ensure_collection("empty").unwrap();
    let out = s.append("feed", blocks(0, 5), None).unwrap();
    let id = s.collection_id("feed").unwrap();
    (s, id, out.labels.iter().map(|t| t.as_micros()).collect())
}

fn problems(s: &Store) -> Vec<String> {
    s.verify().unwrap().problems
}

#[test]
fn sound_store_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, labels) = filled(dir.path());
    let report = s.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.collections.len(), 2);
    let feed = report
        .collections
        .iter()
        .find(|c| c.name == "feed")
        .unwrap();
    assert_eq!(
        (feed.blocks, feed.hash_entries, feed.index_facts),
        (5, 5, 5)
    );
    assert_eq!(report.indicator_entries, 5);
    assert!(report.index_ready && !report.deep);
    assert_eq!(feed.first_label.map(|t| t.as_micros()), Some(labels[0]));
    assert_eq!(feed.last_label.map(|t| t.as_micros()), Some(labels[4]));
}

#[test]
fn corrupt_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    s.inner
        .tree
        .insert(keys::block_key(id, labels[2]), &b"\x07"[..])
        .unwrap();
    let p = problems(&s);
    assert!(p.iter().any(|l| l.contains("corrupt")), "{p:?}");
}

#[test]
fn hash_entry_pointing_nowhere_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, _) = filled(dir.path());
    let tree = &s.inner.tree;
    tree.insert(keys::hash_key(id, &[0xee; 32]), &keys::i64_value(12345))
        .unwrap();
    let p = problems(&s);
    assert!(p.iter().any(|l| l.contains("missing block 12345")), "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.contains("6 hash index entries for 5 blocks")),
        "{p:?}"
    );
}

#[test]
fn missing_block_and_gap_in_ordinals_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    s.inner.tree.remove(keys::block_key(id, labels[1])).unwrap();
    let p = problems(&s);
    assert!(
        p.iter().any(|l| l.contains("ordinal 3, expected 2")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.contains("total says 5, found 4")),
        "{p:?}"
    );
    assert!(p.iter().any(|l| l.contains("missing block")), "{p:?}");
}

#[test]
fn wrong_counters_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    let bad = crate::store::Stats {
        total: 5,
        last_label: labels[3],
    };
    s.inner
        .tree
        .insert(keys::stats_key(id), &bad.encode())
        .unwrap();
    let p = problems(&s);
    assert!(p.iter().any(|l| l.contains("last label says")), "{p:?}");
}

#[test]
fn data_under_an_unknown_collection_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _) = filled(dir.path());
    s.inner
        .tree
        .insert(keys::hash_key(77, &[1; 32]), &keys::i64_value(1))
        .unwrap();
    let p = problems(&s);
    assert!(
        p.iter().any(|l| l.contains("unknown collection id 77")),
        "{p:?}"
    );
}

#[test]
fn verify_during_appends_sees_no_false_problems() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _) = filled(dir.path());
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 1..60u64 {
                s.append("feed", blocks(i * 100, i * 100 + 7), None)
                    .unwrap();
                s.snapshot_end();
            }
        })
    };
    for _ in 0..15 {
        let report = s.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }
    writer.join().unwrap();
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn content_past_the_segment_end_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    let key = keys::block_key(id, labels[2]);
    let mut bytes = s.inner.tree.get(key).unwrap().unwrap().to_vec();
    let (_, loc) = record::decode(labels[2], &bytes).unwrap();
    let loc = loc.expect("new blocks keep content in a segment");
    record::set_loc(
        &mut bytes,
        crate::segments::Loc {
            offset: loc.offset + (1 << 20),
            ..loc
        },
    );
    s.inner.tree.insert(key, bytes).unwrap();
    let found = problems(&s);
    assert!(
        found.iter().any(|p| p.contains("past the end of segment")),
        "{found:?}"
    );
    let read: Vec<_> = s.range("feed", None, s.snapshot_end()).unwrap().collect();
    assert!(matches!(read[2], Err(StoreError::Corrupt(_))));
    assert!(read[3].is_ok(), "a bad block does not end the read");
}

/// The indicators of a test block, read back from its content the way ingest made them.
fn values_of(b: &crate::StoredBlock) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(&b.content);
    let n = text
        .split("Package-")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a test block names its package");
    vec![("domain".into(), format!("host{n}.example"))]
}

#[test]
fn block_without_index_facts_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    // A record from before titles moved into records, whose `J` facts are gone.
    let key = keys::block_key(id, labels[3]);
    let v = s.inner.tree.get(key).unwrap().unwrap();
    s.inner
        .tree
        .insert(key, record::as_version_2(labels[3], &v))
        .unwrap();
    let report = s.verify().unwrap();
    let p = &report.problems;
    assert!(
        p.iter().any(|l| l.contains(&format!(
            "block {} is missing from the indicator index",
            labels[3]
        ))),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains(&format!("has no facts for block {}", labels[3]))),
        "{p:?}"
    );
    assert_eq!(report.collections[1].index_facts, 4);
}

#[test]
fn index_entry_without_its_block_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    let tree = &s.inner.tree;
    index::put_entry(tree, "domain", "ghost.example", id, labels[4] + 99);
    tree.insert(index::info_key(id, labels[4] + 77), &[1u8; 12][..])
        .unwrap();
    let report = s.verify().unwrap();
    let p = &report.problems;
    assert!(
        p.iter().any(|l| l.contains(&format!(
            "names missing block {} of collection id {id}",
            labels[4] + 99
        ))),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains(&format!("facts name missing block {}", labels[4] + 77))),
        "{p:?}"
    );
    assert_eq!(report.indicator_entries, 6);
}

#[test]
fn malformed_index_runs_and_facts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    let tree = &s.inner.tree;
    // A run whose length is not a whole number of entries.
    tree.insert([index::RUN, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9], &[1u8; 30][..])
        .unwrap();
    tree.insert(index::info_key(id, labels[1]), &b"\x02junk"[..])
        .unwrap();
    tree.insert(index::info_key(99, 1), &[][..]).unwrap();
    let p = problems(&s);
    assert!(p.iter().any(|l| l.contains("malformed run")), "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.contains(&format!("block {}: ", labels[1])) && l.contains("facts")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.contains("unknown collection id 99")),
        "{p:?}"
    );
}

#[test]
fn deep_check_finds_an_indicator_missing_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (s, id, labels) = filled(dir.path());
    let report = s.verify_deep(&mut values_of).unwrap();
    assert!(report.is_ok() && report.deep, "{:?}", report.problems);

    index::drop_entry(&s.inner.tree, "domain", "host2.example", id, labels[2]);
    // The quick check cannot see it: every block still has its facts.
    assert!(s.verify().unwrap().is_ok());
    let p = s.verify_deep(&mut values_of).unwrap().problems;
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(&format!(
            "block {} holds domain \"host2.example\", which the indicator index lacks",
            labels[2]
        )),
        "{p:?}"
    );
}

#[test]
fn index_is_checked_in_chunks_across_many_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("big").unwrap();
    let mut many = blocks(0, 2_500);
    for (i, b) in many.iter_mut().enumerate() {
        for j in 0..4 {
            b.indicator_values
                .push(("domain".into(), format!("extra{j}-{i}.example")));
        }
    }
    s.append("big", many, None).unwrap();
    let report = s.verify().unwrap();
    assert!(
        report.is_ok(),
        "{:?}",
        &report.problems[..3.min(report.problems.len())]
    );
    assert_eq!(report.indicator_entries, 12_500);
}
