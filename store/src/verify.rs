//! A full consistency check of the store, for the admin endpoint and for tests.

use crate::error::StoreError;
use crate::index;
use crate::keys;
use crate::record;
use crate::store::Store;
use std::collections::HashSet;
use taxii::Timestamp;

/// Reads the indicator `(kind, value)` pairs of a stored block, as ingest computed them.
pub type IndicatorsOf<'a> = &'a mut dyn FnMut(&crate::StoredBlock) -> Vec<(String, String)>;

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// One entry per collection, in name order.
    pub collections: Vec<CollectionReport>,
    /// Entries of the indicator index (one per value and block holding it).
    pub indicator_entries: u64,
    /// Whether every block was expected in the indicator index (false for a store from
    /// before the index, until the server has indexed it).
    pub index_ready: bool,
    /// Whether each block's indicators were read again and found in the index.
    pub deep: bool,
    /// Every inconsistency found, one line each; empty when the store is sound.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The state of one collection as [`Store::verify`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionReport {
    /// Collection name.
    pub name: String,
    /// Blocks found by walking the collection.
    pub blocks: u64,
    /// Hash index entries found.
    pub hash_entries: u64,
    /// Blocks whose look-up facts are found: in the record (a title field), or as `J` facts
    /// beside an older record.
    pub index_facts: u64,
    /// Label of the oldest block, if any.
    pub first_label: Option<Timestamp>,
    /// Label of the newest block, if any.
    pub last_label: Option<Timestamp>,
}

// === impl Store ===

impl Store {
    /// Check every collection: labels strictly increasing, ordinals contiguous from 1, every
    /// record decodable and its content inside the committed segments, every block indexed
    /// by its hash and every hash index entry pointing at a block with that hash, counters
    /// agreeing with what is stored, and no data left under a collection id the directory
    /// does not know. The indicator index is checked both ways: every entry names a stored
    /// block that has its facts, every facts entry its block, and (once the index is ready)
    /// every block has its facts.
    ///
    /// Reads the whole database: for maintenance, not for a request path. Each collection is
    /// checked while holding the writer lock, so appends (and poll snapshots) wait while that
    /// collection is read; the check never sees half of a concurrent append. Problems are
    /// reported, not returned as errors; only a database failure is an error.
    ///
    /// Streams: it holds one collection's walk state and one chunk of index keys at a time,
    /// never a map of the store.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_with(None)
    }

    /// [`Store::verify`], and also read every block's content again with `indicators_of`
    /// and check that each indicator it holds has its index entry. Costs a parse of every
    /// block (about as long as building the index).
    ///
    /// TODO(store): bytes changed inside a block's content go unnoticed while the content
    /// still parses: the record's hash is the dedupe hash of the content as received (before
    /// curation and restamping), not of the stored bytes, so it cannot be checked against
    /// them; a checksum of the stored bytes in the record (a format change) would catch it.
    pub fn verify_deep(&self, indicators_of: IndicatorsOf<'_>) -> Result<VerifyReport, StoreError> {
        self.verify_with(Some(indicators_of))
    }

    fn verify_with(
        &self,
        mut indicators_of: Option<IndicatorsOf<'_>>,
    ) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport {
            index_ready: self.index_ready()?,
            deep: indicators_of.is_some(),
            ..VerifyReport::default()
        };

        for (name, id) in self.collection_ids()? {
            let floor = self.lock_writer();
            let c = self.verify_collection(
                &name,
                id,
                floor.floor,
                report.index_ready,
                match indicators_of.as_mut() {
                    Some(f) => Some(&mut **f),
                    None => None,
                },
                &mut report.problems,
            )?;
            drop(floor);
            report.collections.push(c);
        }
        report.indicator_entries = self.verify_indicator_index(&mut report.problems)?;

        // Collections are created under the writer lock too, so the directory read here
        // knows every id that has data.
        let _floor = self.lock_writer();
        let known: HashSet<u32> = self.collection_ids()?.iter().map(|(_, id)| *id).collect();
        for kind in [
            keys::BLOCK,
            keys::HASH,
            keys::STATS,
            keys::WITHDRAWN,
            index::BLOCK_INFO,
        ] {
            for id in self.ids_under(kind)? {
                if !known.contains(&id) {
                    report.problems.push(format!(
                        "records of kind {:?} under unknown collection id {id}",
                        kind as char
                    ));
                }
            }
        }
        Ok(report)
    }

    fn verify_collection(
        &self,
        name: &str,
        id: u32,
        floor: i64,
        index_ready: bool,
        mut indicators_of: Option<IndicatorsOf<'_>>,
        problems: &mut Vec<String>,
    ) -> Result<CollectionReport, StoreError> {
        let tree = &self.inner.tree;
        let mut problem = |what: String| problems.push(format!("collection {name:?}: {what}"));
        let mut report = CollectionReport {
            name: name.to_owned(),
            blocks: 0,
            hash_entries: 0,
            index_facts: 0,
            first_label: None,
            last_label: None,
        };

        // Walk the blocks.
        let mut prev: Option<i64> = None;
        for item in tree.scan_prefix(keys::block_prefix(id)) {
            let (k, v) = item?;
            let Some(label) = keys::label_of_block_key(&k) else {
                problem(format!("block key of length {}", k.len()));
                continue;
            };
            report.blocks += 1;
            if prev.is_some_and(|p| p >= label) {
                problem(format!("label {label} does not increase"));
            }
            if label > floor {
                problem(format!("label {label} above the label floor {floor}"));
            }
            prev = Some(label);
            report
                .first_label
                .get_or_insert(Timestamp::from_micros(label));
            report.last_label = Some(Timestamp::from_micros(label));

            let decoded = record::decode(label, &v);
            match &decoded {
                Ok((b, _)) if b.ordinal != report.blocks => problem(format!(
                    "block {label} has ordinal {}, expected {}",
                    b.ordinal, report.blocks
                )),
                Ok((_, Some(loc))) if !self.inner.segments.contains(*loc) => problem(format!(
                    "block {label} names content past the end of segment {}",
                    loc.segment
                )),
                Ok(_) => {}
                Err(e) => problem(format!("block {label}: {e}")),
            }
            // Look-ups read a block's facts from its record, or from `J` for a record
            // older than titles in records.
            if index::record_has_title(&v) || tree.contains_key(index::info_key(id, label))? {
                report.index_facts += 1;
            } else if index_ready {
                problem(format!("block {label} is missing from the indicator index"));
            }
            if let (Some(values_of), Ok((mut block, loc))) = (indicators_of.as_deref_mut(), decoded)
            {
                let content = match loc {
                    Some(loc) if self.inner.segments.contains(loc) => {
                        self.inner.segments.read(loc).map(Some)
                    }
                    Some(_) => Ok(None),
                    None => Ok(Some(std::mem::take(&mut block.content))),
                };
                match content {
                    Ok(Some(content)) => {
                        block.content = content;
                        for (kind, value) in values_of(&block) {
                            if !self.index_holds(id, label, &kind, &value)? {
                                problem(format!(
                                    "block {label} holds {kind} {:?}, which the indicator index lacks",
                                    value.chars().take(80).collect::<String>()
                                ));
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => problem(format!("block {label}: {e}")),
                }
            }
            if let Ok(hash) = record::hash_of(&v) {
                let indexed = tree.get(keys::hash_key(id, &hash))?;
                if indexed.as_deref().and_then(keys::i64_from_value) != Some(label) {
                    problem(format!("block {label} is not the one its hash index names"));
                }
            }
        }

        // Walk the hash index.
        for item in tree.scan_prefix(keys::hash_prefix(id)) {
            let (k, v) = item?;
            report.hash_entries += 1;
            let Some(label) = keys::i64_from_value(&v) else {
                problem("hash index entry with a malformed label".into());
                continue;
            };
            match tree.get(keys::block_key(id, label))? {
                Some(block)
                    if record::hash_of(&block).ok().as_ref().map(|h| &h[..]) == k.get(5..) => {}
                Some(_) => problem(format!(
                    "hash index entry for {label} names a different block"
                )),
                None => problem(format!("hash index entry points at missing block {label}")),
            }
        }

        // Walk the block facts of the indicator index.
        for item in tree.scan_prefix(index::info_prefix(id)) {
            let (k, v) = item?;
            let Some(label) = k
                .get(5..)
                .and_then(|b| b.try_into().ok())
                .filter(|_| k.len() == 13)
                .map(keys::label_from_bytes)
            else {
                problem(format!("indicator index facts key of length {}", k.len()));
                continue;
            };
            if !tree.contains_key(keys::block_key(id, label))? {
                problem(format!("indicator index facts name missing block {label}"));
            } else if let Err(e) = index::decode_info(&v) {
                problem(format!("block {label}: {e}"));
            }
        }

        // Compare with the counters.
        match self.stats(id) {
            Ok(stats) => {
                if stats.total != report.blocks {
                    problem(format!(
                        "total says {}, found {}",
                        stats.total, report.blocks
                    ));
                }
                if report.hash_entries != report.blocks {
                    problem(format!(
                        "{} hash index entries for {} blocks",
                        report.hash_entries, report.blocks
                    ));
                }
                let last = (stats.total > 0).then_some(stats.last_label);
                if last != report.last_label.map(|t| t.as_micros()) {
                    problem(format!(
                        "last label says {last:?}, found {:?}",
                        report.last_label
                    ));
                }
            }
            Err(e) => problem(e.to_string()),
        }
        Ok(report)
    }

    /// The distinct collection ids that have keys of `kind`, found by seeking from one id
    /// to the next rather than reading every key.
    fn ids_under(&self, kind: u8) -> Result<Vec<u32>, StoreError> {
        let mut ids = Vec::new();
        let mut from = vec![kind];
        while let Some(item) = self.inner.tree.range(from.clone()..).next() {
            let (k, _) = item?;
            if k.first() != Some(&kind) {
                break;
            }
            let Some(id) = k
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                break;
            };
            ids.push(id);
            match id.checked_add(1) {
                Some(next) => {
                    from = vec![kind];
                    from.extend_from_slice(&next.to_be_bytes());
                }
                None => break,
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
