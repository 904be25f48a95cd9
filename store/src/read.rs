//! Reading a collection: label ranges, counts by ordinal, counters.

use crate::error::StoreError;
use crate::keys;
use crate::record;
use crate::store::Store;
use crate::types::StoredBlock;
use std::ops::Bound;
use taxii::Timestamp;

/// Blocks of one label window, ascending, read from the database as the caller iterates.
///
/// A database error ends the iteration after it is returned; a record that does not decode
/// is returned as [`StoreError::Corrupt`] and iteration may go on past it.
pub struct BlockIter {
    inner: Option<sled::Iter>,
}

impl Iterator for BlockIter {
    type Item = Result<StoredBlock, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.as_mut()?.next()?;
        match item {
            Ok((k, v)) => Some(match keys::label_of_block_key(&k) {
                Some(label) => record::decode(label, &v),
                None => Err(StoreError::Corrupt("block key of the wrong shape".into())),
            }),
            Err(e) => {
                self.inner = None;
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
        let id = self.collection_id(collection)?;
        let until = until.as_micros();
        let lo = match after.map(|t| t.as_micros()) {
            Some(a) if a >= until => return Ok(BlockIter { inner: None }),
            Some(a) => Bound::Excluded(keys::block_key(id, a)),
            None => Bound::Included(keys::block_key(id, i64::MIN)),
        };
        let hi = Bound::Included(keys::block_key(id, until));
        Ok(BlockIter {
            inner: Some(
                self.inner
                    .tree
                    .range::<[u8; keys::BLOCK_KEY_LEN], _>((lo, hi)),
            ),
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
        high.checked_sub(low).ok_or_else(|| {
            StoreError::Corrupt(format!("ordinals decrease in collection {collection:?}"))
        })
    }

    /// Number of blocks in the collection.
    pub fn total(&self, collection: &str) -> Result<u64, StoreError> {
        let id = self.collection_id(collection)?;
        Ok(self.stats(id)?.total)
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
