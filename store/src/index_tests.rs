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
    let entries = store.inner.tree.scan_prefix([INDICATOR]).count();
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
    // A store written before the index existed: no entries, no ready mark.
    let tree = &store.inner.tree;
    for prefix in [INDICATOR, BLOCK_INFO] {
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
    let p = PendingIndex::new(&[], 42, Some("pkg"), None, Some("src"));
    let info = decode_info(&p.info).unwrap();
    assert_eq!(info.ingested, 42);
    assert_eq!(info.package_id.as_deref(), Some("pkg"));
    assert_eq!(info.title, None);
    assert_eq!(info.source.as_deref(), Some("src"));
    assert!(decode_info(&p.info[..p.info.len() - 1]).is_err());
    assert!(decode_info(&[]).is_err());
    assert!(decode_info(&[2; 12]).is_err());
    let long_title = "é".repeat(2000);
    let p = PendingIndex::new(&[], 1, None, Some(&long_title), None);
    let title = decode_info(&p.info).unwrap().title.unwrap();
    assert!(title.len() <= 1024 && long_title.starts_with(&title));
}
