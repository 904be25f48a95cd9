//! Reading a collection: label ranges, counts by ordinal, counters.

use crate::error::StoreError;
use crate::keys;
use crate::record;
use crate::segments::Loc;
use crate::store::{Inner, Store};
use crate::types::{BlockSummary, StoredBlock};
use std::ops::Bound;
use std::sync::Arc;
use taxii::Timestamp;

/// Blocks of one label window, ascending, read from the database (records) and the
/// segments (content) as the caller iterates.
///
/// A database error ends the iteration after it is returned; a record that does not decode,
/// or whose content cannot be read, is returned as [`StoreError::Corrupt`] and iteration
/// may go on past it.
pub struct BlockIter {
    records: Records,
}

impl Iterator for BlockIter {
    type Item = Result<StoredBlock, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (mut block, loc) = match self.records.next()? {
            Ok(decoded) => decoded,
            Err(e) => return Some(Err(e)),
        };
        if let (Some(loc), Some(store)) = (loc, self.records.store.as_ref()) {
            match store.segments.read(loc) {
                Ok(content) => block.content = content,
                Err(e) => {
                    return Some(Err(StoreError::Corrupt(format!(
                        "content of block {}: {e}",
                        block.label.as_micros()
                    ))))
                }
            }
        }
        Some(Ok(block))
    }
}

/// Summaries of the blocks of one label window, ascending: the records only, no content.
pub struct SummaryIter {
    records: Records,
}

impl Iterator for SummaryIter {
    type Item = Result<BlockSummary, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.records.next()?.map(|(block, loc)| BlockSummary {
            size: loc.map_or(block.content.len() as u64, |l| u64::from(l.len)),
            label: block.label,
            binding: block.binding,
            indicators: block.indicators,
            package_id: block.package_id,
        }))
    }
}

/// Decoded records of a label window.
struct Records {
    iter: Option<sled::Iter>,
    store: Option<Arc<Inner>>,
    /// Labels of withdrawn blocks in the window, skipped.
    withdrawn: crate::withdraw::Withdrawn,
}

impl Records {
    fn empty() -> Records {
        Records {
            iter: None,
            store: None,
            withdrawn: Default::default(),
        }
    }

    fn next(&mut self) -> Option<Result<(StoredBlock, Option<Loc>), StoreError>> {
        let mut item = self.iter.as_mut()?.next()?;
        while let Ok((k, _)) = &item {
            if !self.withdrawn.skips(k) {
                break;
            }
            item = self.iter.as_mut()?.next()?;
        }
        match item {
            Ok((k, v)) => Some(match keys::label_of_block_key(&k) {
                Some(label) => record::decode(label, &v),
                None => Err(StoreError::Corrupt("block key of the wrong shape".into())),
            }),
            Err(e) => {
                self.iter = None;
                Some(Err(e.into()))
            }
        }
    }
}

// === impl Store ===

impl Store {
    /// Blocks with `after < label <= until` (`after` of `None` means from the start),
    /// ascending by label. Nothing is read until the iterator is advanced.
    pub fn range(
        &self,
        collection: &str,
        after: Option<Timestamp>,
        until: Timestamp,
    ) -> Result<BlockIter, StoreError> {
        Ok(BlockIter {
            records: self.records(collection, after, until)?,
        })
    }

    /// Like [`Store::range`], without reading any content: labels, bindings, sizes and
    /// indicator counts of the window.
    pub fn range_summaries(
        &self,
        collection: &str,
        after: Option<Timestamp>,
        until: Timestamp,
    ) -> Result<SummaryIter, StoreError> {
        Ok(SummaryIter {
            records: self.records(collection, after, until)?,
        })
    }

    /// Like [`Store::range`], withdrawn blocks included: for a full export of the store.
    pub fn range_with_withdrawn(
        &self,
        collection: &str,
        after: Option<Timestamp>,
        until: Timestamp,
    ) -> Result<BlockIter, StoreError> {
        let mut records = self.records(collection, after, until)?;
        records.withdrawn = Default::default();
        Ok(BlockIter { records })
    }

    fn records(
        &self,
        collection: &str,
        after: Option<Timestamp>,
        until: Timestamp,
    ) -> Result<Records, StoreError> {
        let id = self.collection_id(collection)?;
        let until = until.as_micros();
        let lo = match after.map(|t| t.as_micros()) {
            Some(a) if a >= until => return Ok(Records::empty()),
            Some(a) => Bound::Excluded(keys::block_key(id, a)),
            None => Bound::Included(keys::block_key(id, i64::MIN)),
        };
        let hi = Bound::Included(keys::block_key(id, until));
        let withdrawn = self.withdrawn_between(id, after.map(|t| t.as_micros()), until)?;
        Ok(Records {
            iter: Some(
                self.inner
                    .tree
                    .range::<[u8; keys::BLOCK_KEY_LEN], _>((lo, hi)),
            ),
            store: Some(self.inner.clone()),
            withdrawn,
        })
    }

    /// Number of blocks with `after < label <= until`, without scanning them: the difference
    /// of the ordinals of the last block at or below each bound (two O(log n) seeks).
    pub fn count(
        &self,
        collection: &str,
        after: Option<Timestamp>,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        let id = self.collection_id(collection)?;
        let until = until.as_micros();
        let low = match after.map(|t| t.as_micros()) {
            Some(a) if a >= until => return Ok(0),
            Some(a) => self.ordinal_at(id, a)?,
            None => 0,
        };
        let high = self.ordinal_at(id, until)?;
        let withdrawn = self
            .withdrawn_between(id, after.map(|t| t.as_micros()), until)?
            .len() as u64;
        high.checked_sub(low)
            .and_then(|n| n.checked_sub(withdrawn))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("ordinals decrease in collection {collection:?}"))
            })
    }

    /// Number of blocks served from the collection (withdrawn ones are not counted).
    pub fn total(&self, collection: &str) -> Result<u64, StoreError> {
        let id = self.collection_id(collection)?;
        let withdrawn = self.withdrawn_between(id, None, i64::MAX)?.len() as u64;
        Ok(self.stats(id)?.total.saturating_sub(withdrawn))
    }

    /// Label of the newest block in the collection, `None` when it is empty.
    pub fn last_label(&self, collection: &str) -> Result<Option<Timestamp>, StoreError> {
        let id = self.collection_id(collection)?;
        let stats = self.stats(id)?;
        Ok((stats.total > 0).then(|| Timestamp::from_micros(stats.last_label)))
    }

    /// Ordinal of the last block labelled at or below `label`; 0 when there is none.
    fn ordinal_at(&self, id: u32, label: i64) -> Result<u64, StoreError> {
        let lo = keys::block_key(id, i64::MIN);
        let hi = keys::block_key(id, label);
        match self.inner.tree.range(lo..=hi).next_back() {
            Some(item) => {
                let (_, v) = item?;
                record::ordinal_of(&v)
            }
            None => Ok(0),
        }
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
