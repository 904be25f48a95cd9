//! Tests of the indicator index.

use super::*;
use crate::test_util::{block, open_clocked, TestClock};
use crate::NewBlock;

fn with_values(n: u64, values: &[(&str, &str)]) -> NewBlock {
    let mut b = block(n);
    b.indicator_values = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    b
}

#[test]
fn a_value_is_found_in_every_collection_and_block_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let store = open_clocked(dir.path(), &clock);
    assert!(store.index_ready().unwrap());
    store.ensure_collection("otx").unwrap();
    store.ensure_collection("blocklist").unwrap();

    let shared = ("domain", "evil.example");
    store
        .append(
            "otx",
            vec![
                with_values(1, &[shared, ("ipv4", "198.51.100.7")]),
                with_values(2, &[("ipv4", "198.51.100.8")]),
            ],
            None,
        )
        .unwrap();
    clock.set(2_000);
    let outcome = store
        .append("blocklist", vec![with_values(3, &[shared])], None)
        .unwrap();

    let hits = store
        .blocks_with_indicator("domain", "evil.example")
        .unwrap();
    let found: Vec<(&str, Option<&str>)> = hits
        .iter()
        .map(|h| (h.collection.as_str(), h.package_id.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("otx", Some("example:Package-1")),
            ("blocklist", Some("example:Package-3"))
        ]
    );
    let last = &hits[1];
    assert_eq!(last.label, outcome.labels[0]);
    assert_eq!(last.ingested, Timestamp::from_micros(2_000));
    assert_eq!(last.title.as_deref(), Some("block 3"));
    assert_eq!(last.source.as_deref(), Some("test"));

    // The kind is part of the key, and nothing matches a prefix of a value.
    assert!(store
        .blocks_with_indicator("url", "evil.example")
        .unwrap()
        .is_empty());
    assert!(store
        .blocks_with_indicator("domain", "evil.exampl")
        .unwrap()
        .is_empty());
    assert!(store
        .blocks_with_indicator("ipv4", "198.51.100.")
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .blocks_with_indicator("ipv4", "198.51.100.8")
            .unwrap()
            .len(),
        1
    );

    assert!(store
        .collection_holds_indicator("blocklist", "domain", "evil.example")
        .unwrap());
    assert!(!store
        .collection_holds_indicator("blocklist", "ipv4", "198.51.100.7")
        .unwrap());
    assert!(matches!(
        store.collection_holds_indicator("nope", "ipv4", "198.51.100.7"),
        Err(StoreError::NoCollection(_))
    ));
}

#[test]
fn a_duplicate_block_adds_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_clocked(dir.path(), &TestClock::at(1_000));
    store.ensure_collection("c").unwrap();
    let b = with_values(1, &[("md5", "d41d8cd98f00b204e9800998ecf8427e")]);
    store.append("c", vec![b.clone(), b.clone()], None).unwrap();
    store.append("c", vec![b], None).unwrap();
    let hits = store
        .blocks_with_indicator("md5", "d41d8cd98f00b204e9800998ecf8427e")
        .unwrap();
    assert_eq!(hits.len(), 1);
}

#[test]
fn values_repeated_in_a_block_and_long_values_are_indexed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_clocked(dir.path(), &TestClock::at(1_000));
    store.ensure_collection("c").unwrap();
    let long = format!("http://example.com/{}", "a".repeat(MAX_KEYED_VALUE * 2));
    let other_long = format!("{long}b");
    store
        .append(
            "c",
            vec![with_values(
                1,
                &[("url", &long), ("url", &long), ("domain", "example.com")],
            )],
            None,
        )
        .unwrap();
    assert_eq!(store.blocks_with_indicator("url", &long).unwrap().len(), 1);
    assert!(store
        .blocks_with_indicator("url", &other_long)
        .unwrap()
        .is_empty());
    let entries: usize = store
        .inner
        .tree
        .scan_prefix([RUN])
        .map(|r| r.unwrap().1.len() / ENTRY)
        .sum();
    assert_eq!(entries, 2);
}

#[test]
fn an_old_store_is_indexed_by_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_clocked(dir.path(), &TestClock::at(1_000));
    store.ensure_collection("c").unwrap();
    store
        .append("c", crate::test_util::blocks(1, 5), None)
        .unwrap();
    // A store written before the index existed: no entries, no ready mark, records
    // without titles.
    let tree = &store.inner.tree;
    for item in tree.scan_prefix(keys::block_prefix(1)) {
        let (k, v) = item.unwrap();
        let label = keys::label_of_block_key(&k).unwrap();
        tree.insert(k, record::as_version_2(label, &v)).unwrap();
    }
    for prefix in [RUN, BLOCK_INFO] {
        for item in tree.scan_prefix([prefix]) {
            tree.remove(item.unwrap().0).unwrap();
        }
    }
    tree.remove(G_INDEX_READY).unwrap();
    drop(store);

    let store = open_clocked(dir.path(), &TestClock::at(2_000));
    assert!(!store.index_ready().unwrap());
    assert!(store
        .blocks_with_indicator("domain", "host2.example")
        .unwrap()
        .is_empty());
    let indexed = store
        .rebuild_index(|b| {
            let n = b.package_id.clone().unwrap_or_default();
            (
                Some(format!("rebuilt {n}")),
                vec![("domain".into(), "shared.example".into())],
            )
        })
        .unwrap();
    assert_eq!(indexed, 4);
    assert!(store.index_ready().unwrap());
    let hits = store
        .blocks_with_indicator("domain", "shared.example")
        .unwrap();
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[0].title.as_deref(), Some("rebuilt example:Package-1"));
    assert_eq!(hits[0].ingested, Timestamp::from_micros(1_000));
}

#[test]
fn block_facts_round_trip_and_refuse_garbage() {
    let info = encode_info(42, Some("pkg"), None, Some("src"));
    let decoded = decode_info(&info).unwrap();
    assert_eq!(decoded.ingested, 42);
    assert_eq!(decoded.package_id.as_deref(), Some("pkg"));
    assert_eq!(decoded.title, None);
    assert_eq!(decoded.source.as_deref(), Some("src"));
    assert!(decode_info(&info[..info.len() - 1]).is_err());
    assert!(decode_info(&[]).is_err());
    assert!(decode_info(&[2; 12]).is_err());
    let long_title = "é".repeat(2000);
    let info = encode_info(1, None, Some(&long_title), None);
    let title = decode_info(&info).unwrap().title.unwrap();
    assert!(title.len() <= 1024 && long_title.starts_with(&title));
}

/// The blocks holding each value, as `(collection, label, package id, title, source,
/// ingested)`.
fn answers(store: &Store, values: &[(String, String)]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|(k, v)| {
            store
                .blocks_with_indicator(k, v)
                .unwrap()
                .into_iter()
                .map(|h| format!("{h:?}"))
                .collect()
        })
        .collect()
}

/// Rewrite a store as format 2 kept it: one `I` key per (value, block), the facts of each
/// block under `J`, records without titles, `FORMAT` saying format 2.
fn downgrade_to_format_2(store: Store, dir: &std::path::Path, blocks: &[(u32, i64, NewBlock)]) {
    let tree = &store.inner.tree;
    for item in tree.scan_prefix([RUN]) {
        tree.remove(item.unwrap().0).unwrap();
    }
    tree.remove(G_INDEX_SEQ).unwrap();
    for (id, label, b) in blocks {
        let key = keys::block_key(*id, *label);
        let v = tree.get(key).unwrap().unwrap();
        tree.insert(key, record::as_version_2(*label, &v)).unwrap();
        let ingested = record::decode(*label, &v).unwrap().0.ingested.as_micros();
        let info = encode_info(
            ingested,
            b.package_id.as_deref(),
            b.title.as_deref(),
            b.source.as_deref(),
        );
        tree.insert(info_key(*id, *label), info).unwrap();
        for (kind, value) in &b.indicator_values {
            // The format 2 key: kind and value with their lengths, a long value by its
            // SHA-256, then the collection id and label.
            let keyed: Vec<u8> = if value.len() > MAX_KEYED_VALUE {
                let mut d = vec![0xFF];
                d.extend_from_slice(&Sha256::digest(value.as_bytes()));
                d
            } else {
                value.as_bytes().to_vec()
            };
            let mut k = vec![OLD_ENTRY, kind.len() as u8];
            k.extend_from_slice(kind.as_bytes());
            k.extend_from_slice(&(keyed.len() as u32).to_be_bytes());
            k.extend_from_slice(&keyed);
            k.extend_from_slice(&id.to_be_bytes());
            k.extend_from_slice(&keys::label_bytes(*label));
            tree.insert(k, &[][..]).unwrap();
        }
    }
    store.flush().unwrap();
    drop(store);
    std::fs::write(dir.join("FORMAT"), "taxii-mirror store format 2\n").unwrap();
}

#[test]
fn a_format_2_index_is_converted_on_open_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let store = open_clocked(dir.path(), &clock);
    store.ensure_collection("a").unwrap();
    store.ensure_collection("b").unwrap();
    let long = format!("http://example.com/{}", "x".repeat(MAX_KEYED_VALUE + 5));
    let mut written = Vec::new();
    let mut values = Vec::new();
    for n in 0..40u64 {
        let shared = format!("shared-{}.example", n % 3);
        let own = format!("198.51.100.{n}");
        let mut vals = vec![("domain", shared.as_str()), ("ipv4", own.as_str())];
        if n % 7 == 0 {
            vals.push(("url", long.as_str()));
        }
        let mut b = with_values(n, &vals);
        if n % 5 == 0 {
            b.title = None;
        }
        let collection = if n % 2 == 0 { "a" } else { "b" };
        clock.set(1_000 + n as i64 * 10);
        let out = store.append(collection, vec![b.clone()], None).unwrap();
        let id = store.collection_id(collection).unwrap();
        written.push((id, out.labels[0].as_micros(), b.clone()));
        values.extend(b.indicator_values.clone());
    }
    values.push(("domain".into(), "absent.example".into()));
    // One withdrawn block stays out of the answers after the upgrade too.
    let withdrawn = written[3].1;
    store
        .withdraw("b", &[Timestamp::from_micros(withdrawn)], Vec::new(), &[])
        .unwrap();
    let before = answers(&store, &values);
    assert!(
        before.iter().any(|a| a.len() > 5),
        "shared values hit many blocks"
    );

    downgrade_to_format_2(store, dir.path(), &written);
    let store = open_clocked(dir.path(), &clock);
    let format = std::fs::read_to_string(dir.path().join("FORMAT")).unwrap();
    assert_eq!(format.trim_end(), "taxii-mirror store format 4");
    assert!(store.inner.tree.scan_prefix([OLD_ENTRY]).next().is_none());
    assert_eq!(answers(&store, &values), before);
    assert!(store.verify().unwrap().is_ok());

    // Later appends are found beside the converted entries, with their titles.
    clock.set(10_000);
    let b = with_values(100, &[("domain", "shared-1.example")]);
    store.append("a", vec![b], None).unwrap();
    let hits = store
        .blocks_with_indicator("domain", "shared-1.example")
        .unwrap();
    let shared_1 = values
        .iter()
        .position(|(k, v)| k == "domain" && v == "shared-1.example")
        .unwrap();
    assert_eq!(hits.len(), before[shared_1].len() + 1);
    let new = hits
        .iter()
        .find(|h| h.package_id.as_deref() == Some("example:Package-100"))
        .unwrap();
    assert_eq!(new.title.as_deref(), Some("block 100"));
}

#[test]
fn an_interrupted_conversion_is_finished_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let store = open_clocked(dir.path(), &clock);
    store.ensure_collection("a").unwrap();
    let mut written = Vec::new();
    let mut values = Vec::new();
    for n in 0..20u64 {
        let b = with_values(n, &[("domain", &format!("d{}.example", n % 4))]);
        let out = store.append("a", vec![b.clone()], None).unwrap();
        written.push((1, out.labels[0].as_micros(), b.clone()));
        values.extend(b.indicator_values.clone());
    }
    let before = answers(&store, &values);
    downgrade_to_format_2(store, dir.path(), &written);

    // A conversion that stopped after its first batch: some entries are runs, the rest
    // still format 2 keys (here: half converted by hand, as one batch would).
    let store = {
        let db = sled::open(dir.path().join(crate::format::DB_DIR)).unwrap();
        let tree = db.open_tree("store").unwrap();
        let old: Vec<_> = tree
            .scan_prefix([OLD_ENTRY])
            .take(10)
            .map(|r| r.unwrap().0)
            .collect();
        let mut batch = sled::Batch::default();
        let entries: Vec<Entry> = old.iter().map(|k| convert_old_key(k).unwrap()).collect();
        for k in old {
            batch.remove(k);
        }
        write_runs(&mut batch, 1, entries);
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
        drop(tree);
        drop(db);
        open_clocked(dir.path(), &clock)
    };
    assert!(store.inner.tree.scan_prefix([OLD_ENTRY]).next().is_none());
    assert_eq!(answers(&store, &values), before);
}

/// Rename every run to the key format 3 gave it (bucket before level), and say format 3;
/// with `keep`, that many runs keep their format 4 key, as after an interrupted rename.
fn downgrade_to_format_3(store: Store, dir: &std::path::Path, keep: usize) {
    let tree = &store.inner.tree;
    let runs: Vec<_> = tree.scan_prefix([RUN]).map(|r| r.unwrap()).collect();
    for (k, v) in runs.into_iter().skip(keep) {
        let mut old = k.to_vec();
        old[0] = V3_RUN;
        old.swap(1, 2);
        tree.remove(k).unwrap();
        tree.insert(old, v).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    std::fs::write(dir.join("FORMAT"), "taxii-mirror store format 3\n").unwrap();
}

/// A store with runs on three levels: `FANOUT * FANOUT + 3` appends of two values each.
fn store_with_levels(dir: &std::path::Path, clock: &TestClock) -> (Store, Vec<(String, String)>) {
    let store = open_clocked(dir, clock);
    store.ensure_collection("c").unwrap();
    let mut values = vec![("domain".to_string(), "every.example".to_string())];
    for n in 0..(FANOUT * FANOUT + 3) as u64 {
        clock.set(1_000 + n as i64);
        let own = format!("192.0.2.{n}");
        let b = with_values(n, &[("domain", "every.example"), ("ipv4", &own)]);
        store.append("c", vec![b], None).unwrap();
        values.push(("ipv4".into(), own));
    }
    values.push(("domain".into(), "absent.example".into()));
    (store, values)
}

#[test]
fn format_3_runs_are_renamed_on_open_with_the_same_answers() {
    for keep in [0, 7] {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::at(1_000);
        let (store, values) = store_with_levels(dir.path(), &clock);
        let before = answers(&store, &values);
        let runs = store.inner.tree.scan_prefix([RUN]).count();
        assert!(top_level(&store.inner.tree).unwrap() >= Some(2));
        downgrade_to_format_3(store, dir.path(), keep);

        let store = open_clocked(dir.path(), &clock);
        let format = std::fs::read_to_string(dir.path().join("FORMAT")).unwrap();
        assert_eq!(format.trim_end(), "taxii-mirror store format 4");
        assert!(store.inner.tree.scan_prefix([V3_RUN]).next().is_none());
        assert_eq!(store.inner.tree.scan_prefix([RUN]).count(), runs);
        assert_eq!(answers(&store, &values), before, "keep {keep}");
        assert!(store.verify().unwrap().is_ok());

        // Appends and merges go on from the renamed runs.
        for n in 0..FANOUT as u64 {
            clock.set(100_000 + n as i64);
            let b = with_values(1_000 + n, &[("domain", "every.example")]);
            store.append("c", vec![b], None).unwrap();
        }
        let hits = store
            .blocks_with_indicator("domain", "every.example")
            .unwrap();
        assert_eq!(hits.len(), before[0].len() + FANOUT);
        assert!(store.verify().unwrap().is_ok());
    }
}

#[test]
fn a_format_3_run_left_in_a_format_4_store_is_reported_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let (store, _) = store_with_levels(dir.path(), &clock);
    let (k, v) = store.inner.tree.scan_prefix([RUN]).next().unwrap().unwrap();
    let mut old = k.to_vec();
    old[0] = V3_RUN;
    store.inner.tree.insert(old, v).unwrap();
    let report = store.verify().unwrap();
    assert!(!report.is_ok());
}

#[test]
fn merged_runs_keep_every_entry_and_stay_few() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let store = open_clocked(dir.path(), &clock);
    store.ensure_collection("c").unwrap();
    let appends = (FANOUT * FANOUT + 3) as u64;
    for n in 0..appends {
        clock.set(1_000 + n as i64);
        let b = with_values(
            n,
            &[
                ("domain", "every.example"),
                ("ipv4", &format!("192.0.2.{n}")),
            ],
        );
        store.append("c", vec![b], None).unwrap();
    }
    let hits = store
        .blocks_with_indicator("domain", "every.example")
        .unwrap();
    assert_eq!(hits.len(), appends as usize);
    let labels: Vec<_> = hits.iter().map(|h| h.label).collect();
    let mut sorted = labels.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(labels, sorted, "oldest first, each once");
    for n in 0..appends {
        let hits = store
            .blocks_with_indicator("ipv4", &format!("192.0.2.{n}"))
            .unwrap();
        assert_eq!(hits.len(), 1, "value {n}");
        assert_eq!(hits[0].package_id, Some(format!("example:Package-{n}")));
    }
    // Every bucket holds fewer than FANOUT runs per level after the merges (keys are
    // level, then bucket).
    let mut per_level = std::collections::HashMap::new();
    for item in store.inner.tree.scan_prefix([RUN]) {
        let (k, v) = item.unwrap();
        assert_eq!(v.len() % ENTRY, 0);
        *per_level.entry((k[1], k[2])).or_insert(0usize) += 1;
    }
    assert!(per_level.values().all(|&n| n < FANOUT), "{per_level:?}");
    assert!(
        per_level.keys().any(|&(level, _)| level == 2),
        "two levels of merges ran"
    );
}
