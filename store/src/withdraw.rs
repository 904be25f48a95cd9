//! Withdrawal: blocks taken out of every later poll, and the values that caused it.
//!
//! A withdrawn block keeps its record, its ordinal and its hash index entry (so the same
//! content, fetched again from an upstream or pushed again, stays a duplicate and is never
//! stored a second time); a `W` marker under the same collection id and label says it is
//! withdrawn. Range reads load the markers of their window (one short range scan: markers
//! are rare) and skip those blocks; counts subtract them. Nothing is parsed at poll time.
//!
//! The markers, the revised blocks that replace the withdrawn ones (appended with fresh
//! labels, so incremental pollers receive them) and the withdrawn values of the collection
//! are written in one atomic batch.

use std::collections::HashSet;

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;
use crate::types::NewBlock;
use taxii::Timestamp;

/// Metadata namespace prefix of a collection's withdrawn values (`withdrawn:<collection>`).
const VALUES_NS: &str = "withdrawn:";

/// Labels skipped by a range read.
#[derive(Debug, Default)]
pub(crate) struct Withdrawn(HashSet<i64>);

impl Withdrawn {
    /// Whether the block under this key is withdrawn.
    pub(crate) fn skips(&self, key: &[u8]) -> bool {
        !self.0.is_empty() && keys::label_of_block_key(key).is_some_and(|l| self.0.contains(&l))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What one withdrawal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WithdrawOutcome {
    /// Blocks newly withdrawn (already withdrawn ones are not counted again).
    pub withdrawn: u64,
    /// Revised blocks stored.
    pub revised: u64,
    /// Labels of the revised blocks.
    pub labels: Vec<Timestamp>,
}

// === impl Store ===

impl Store {
    /// Withdraw blocks of a collection (by label) from every later poll, store `revised`
    /// blocks in their place, and record `values` as withdrawn from the collection, all in
    /// one atomic batch. Labels that name no block are ignored; withdrawing twice is
    /// harmless. The batch is not flushed.
    pub fn withdraw(
        &self,
        collection: &str,
        labels: &[Timestamp],
        revised: Vec<NewBlock>,
        values: &[(String, Vec<u8>)],
    ) -> Result<WithdrawOutcome, StoreError> {
        let id = self.collection_id(collection)?;
        let tree = &self.inner.tree;
        let mut extra = Vec::new();
        let mut withdrawn = 0u64;
        let distinct: std::collections::BTreeSet<i64> =
            labels.iter().map(|l| l.as_micros()).collect();
        for l in distinct {
            let marker = keys::withdrawn_key(id, l);
            if tree.contains_key(keys::block_key(id, l))? && !tree.contains_key(marker)? {
                extra.push((marker.to_vec(), Vec::new()));
                withdrawn += 1;
            }
        }
        let ns = values_ns(collection);
        for (value, note) in values {
            extra.push((keys::meta_key(&ns, value), note.clone()));
        }
        let outcome = self.append_with(collection, revised, None, extra)?;
        tracing::info!(
            collection,
            withdrawn,
            revised = outcome.stored,
            "blocks withdrawn"
        );
        Ok(WithdrawOutcome {
            withdrawn,
            revised: outcome.stored,
            labels: outcome.labels,
        })
    }

    /// Whether the block with this label is withdrawn.
    pub fn is_withdrawn(&self, collection: &str, label: Timestamp) -> Result<bool, StoreError> {
        let id = self.collection_id(collection)?;
        Ok(self
            .inner
            .tree
            .contains_key(keys::withdrawn_key(id, label.as_micros()))?)
    }

    /// Values withdrawn from a collection, with the note stored for each.
    pub fn withdrawn_values(&self, collection: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.meta_scan(&values_ns(collection))
    }

    /// Markers with `after < label <= until` of collection `id`.
    pub(crate) fn withdrawn_between(
        &self,
        id: u32,
        after: Option<i64>,
        until: i64,
    ) -> Result<Withdrawn, StoreError> {
        let lo = keys::withdrawn_key(id, after.unwrap_or(i64::MIN));
        let hi = keys::withdrawn_key(id, until);
        let mut set = HashSet::new();
        for item in self.inner.tree.range(lo..=hi) {
            let (k, _) = item?;
            let mut block = [0u8; keys::BLOCK_KEY_LEN];
            if k.len() == keys::BLOCK_KEY_LEN {
                block.copy_from_slice(&k);
                block[0] = keys::BLOCK;
                if let Some(label) = keys::label_of_block_key(&block) {
                    if after.is_none_or(|a| label > a) {
                        set.insert(label);
                    }
                }
            }
        }
        Ok(Withdrawn(set))
    }
}

fn values_ns(collection: &str) -> String {
    format!("{VALUES_NS}{collection}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util;

    #[test]
    fn withdrawn_blocks_leave_reads_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_collection("c").unwrap();
        let labels = store
            .append("c", test_util::blocks(0, 4), None)
            .unwrap()
            .labels;
        let end = store.snapshot_end();
        assert_eq!(store.count("c", None, end).unwrap(), 4);

        let revised = test_util::block(100);
        let out = store
            .withdraw(
                "c",
                &[labels[1], labels[1]],
                vec![revised],
                &[("evil.example".into(), b"note".to_vec())],
            )
            .unwrap();
        assert_eq!((out.withdrawn, out.revised), (1, 1));
        let end = store.snapshot_end();
        let read: Vec<_> = store
            .range("c", None, end)
            .unwrap()
            .map(|b| b.unwrap().package_id.unwrap())
            .collect();
        let ids = [0, 2, 3, 100].map(|n| format!("example:Package-{n}"));
        assert_eq!(read, ids);
        assert_eq!(store.count("c", None, end).unwrap(), 4);
        assert_eq!(store.count("c", Some(labels[0]), end).unwrap(), 3);
        assert_eq!(store.count("c", Some(labels[1]), end).unwrap(), 3);
        assert_eq!(store.count("c", None, labels[1]).unwrap(), 1);
        assert_eq!(store.total("c").unwrap(), 4);
        assert!(store.is_withdrawn("c", labels[1]).unwrap());
        assert!(!store.is_withdrawn("c", labels[2]).unwrap());
        assert_eq!(
            store.withdrawn_values("c").unwrap(),
            [("evil.example".to_string(), b"note".to_vec())]
        );

        // The withdrawn content stays a duplicate.
        let again = store.append("c", vec![test_util::block(1)], None).unwrap();
        assert_eq!((again.stored, again.duplicates), (0, 1));

        // A second withdrawal of the same block changes nothing.
        let out = store.withdraw("c", &[labels[1]], vec![], &[]).unwrap();
        assert_eq!(out.withdrawn, 0);
        assert!(store.verify().unwrap().problems.is_empty());
    }
}
