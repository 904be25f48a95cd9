//! Appending blocks and handing out labels.
//!
//! Labels are microsecond timestamps, strictly increasing across the whole store. One mutex
//! guards the label floor; label assignment and the commit of the batch that stores the
//! labelled blocks happen under it, and so does [`Store::snapshot_end`]. A reader that takes
//! a snapshot end therefore sees every block labelled at or below it already committed, and
//! every block appended later is labelled above it.

use crate::error::StoreError;
use crate::index::PendingIndex;
use crate::keys;
use crate::record;
use crate::store::Store;
use crate::types::{AppendOutcome, MetaPut, NewBlock};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Instant;
use taxii::Timestamp;

// === impl Store ===

impl Store {
    /// Append blocks to a collection in one atomic batch, together with an optional metadata
    /// write (a mirror checkpoint): after a crash both are there or neither is.
    ///
    /// Each stored block gets a fresh label: at least the current time when the clock allows,
    /// and always above every label stored and every [`Store::snapshot_end`] returned so far.
    /// A block whose hash is already in the collection, or earlier in the same call, is
    /// skipped and counted as a duplicate. The collection must exist. Each stored block's
    /// `indicator_values` go into the indicator index in the same batch (its title into its
    /// record, for look-ups).
    ///
    /// The batch is not flushed; call [`Store::flush`] when the caller must not lose it.
    pub fn append(
        &self,
        collection: &str,
        blocks: Vec<NewBlock>,
        meta: Option<MetaPut>,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_with(collection, blocks, meta, Vec::new())
    }

    /// [`Store::append`] with further raw entries written in the same batch (withdrawal
    /// markers), even when no block is new.
    pub(crate) fn append_with(
        &self,
        collection: &str,
        blocks: Vec<NewBlock>,
        meta: Option<MetaPut>,
        extra: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<AppendOutcome, StoreError> {
        let started = Instant::now();
        let id = self.collection_id(collection)?;
        let ingested = (self.inner.now)();

        // Encode outside the lock; the ordinal and the content's place are patched in once
        // they are known.
        let mut seen = HashSet::with_capacity(blocks.len());
        let mut candidates = Vec::with_capacity(blocks.len());
        let mut duplicates = 0u64;
        for block in blocks {
            if seen.insert(block.hash) {
                let index = PendingIndex::new(&block.indicator_values);
                let bytes = record::encode(&block, 0, ingested)?;
                candidates.push((block.hash, bytes, block.content, index));
            } else {
                duplicates += 1;
            }
        }

        let mut floor = self.lock_writer();
        let tree = &self.inner.tree;
        let mut stats = self.stats(id)?;
        let mut fresh = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            if tree.contains_key(keys::hash_key(id, &candidate.0))? {
                duplicates += 1;
            } else {
                fresh.push(candidate);
            }
        }

        // Content first, synced, so the batch below never names bytes that are not on disk.
        let total: u64 = fresh.iter().map(|c| c.2.len() as u64).sum();
        // Records and index entries take about as much again as small content.
        let records: u64 = fresh.iter().map(|c| c.1.len() as u64 + 256).sum();
        if !fresh.is_empty() {
            self.check_space(total + records)?;
        }
        let (locs, segment_end) = match self
            .inner
            .segments
            .write(fresh.iter().map(|c| c.2.as_slice()), total)
        {
            Ok(written) => written,
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::StorageFull => {
                // Without a reserve this is how a full disk shows: say so until this much
                // fits again (see `space_problem`).
                self.inner
                    .refused_bytes
                    .store((total + records).max(1), Ordering::Relaxed);
                return Err(StoreError::Io(e));
            }
            Err(e) => return Err(e),
        };
        if !fresh.is_empty() {
            self.inner.refused_bytes.store(0, Ordering::Relaxed);
        }

        let mut next = next_label(floor.floor, (self.inner.now)())?;
        let mut batch = sled::Batch::default();
        let mut labels = Vec::with_capacity(fresh.len());
        let mut entries = Vec::new();
        for ((hash, mut bytes, _, index), loc) in fresh.into_iter().zip(locs) {
            let label = next;
            next = next_label(label, i64::MIN)?;
            stats.total += 1;
            stats.last_label = label;
            record::set_ordinal(&mut bytes, stats.total);
            record::set_loc(&mut bytes, loc);
            batch.insert(&keys::block_key(id, label)[..], bytes);
            batch.insert(&keys::hash_key(id, &hash)[..], &keys::i64_value(label));
            index.add_to(&mut entries, id, label);
            labels.push(Timestamp::from_micros(label));
        }

        let run = self.index_entries(&mut floor, &mut batch, entries);
        if !labels.is_empty() {
            batch.insert(&keys::stats_key(id), &stats.encode());
            batch.insert(keys::G_LAST_LABEL, &keys::i64_value(stats.last_label));
            batch.insert(keys::G_SEGMENT_END, &segment_end.encode());
        }
        let mut wrote_meta = meta.is_some();
        if let Some(m) = meta {
            batch.insert(keys::meta_key(&m.ns, &m.key), m.value);
        }
        for (k, v) in extra {
            batch.insert(k, v);
            wrote_meta = true;
        }
        if !labels.is_empty() || wrote_meta {
            tree.apply_batch(batch).map_err(|e| self.write_failed(e))?;
        }
        if !labels.is_empty() {
            self.inner.segments.commit(segment_end);
            floor.floor = stats.last_label;
        }
        self.index_written(run);
        drop(floor);

        let stored = labels.len() as u64;
        tracing::debug!(
            collection,
            stored,
            duplicates,
            elapsed_us = started.elapsed().as_micros() as u64,
            "blocks appended"
        );
        Ok(AppendOutcome {
            stored,
            duplicates,
            labels,
        })
    }

    /// The end of a poll's window: at or above every label stored so far, and below every
    /// label a later append gets.
    ///
    /// Normally the current time, so clients see a fresh `Inclusive_End_Timestamp`. A bound
    /// a little ahead of it is recorded in the store, so labels stay above every end handed
    /// out even after a restart with the clock set back; recording a bound rather than each
    /// end keeps polls to about one small write per second (the record is made durable with
    /// the next flush, like any other write).
    ///
    /// Once a database write has failed (see [`Store::write_failure`]), the end stops at
    /// the last label known to be on disk: a batch whose flush failed may be gone after the
    /// restart that the failure calls for, and its caller was told it failed.
    pub fn snapshot_end(&self) -> Timestamp {
        let mut floor = self.lock_writer();
        let end = floor.floor.max((self.inner.now)());
        if self.writes_failed() {
            floor.floor = end;
            return Timestamp::from_micros(end.min(self.durable_floor()));
        }
        if end > floor.persisted_end {
            let bound = end.saturating_add(SNAPSHOT_BOUND_AHEAD_US);
            let written = self
                .inner
                .tree
                .insert(keys::G_SNAPSHOT_END, &keys::i64_value(bound));
            match written {
                Ok(_) => floor.persisted_end = bound,
                // The in-memory floor still keeps later labels above `end` while the process
                // runs; only a restart with a clock set back could undercut it.
                Err(e) => tracing::warn!(cause = %e, "could not record snapshot end"),
            }
        }
        floor.floor = end;
        Timestamp::from_micros(end)
    }
}

/// How far ahead of a snapshot end the recorded bound is set (one second).
const SNAPSHOT_BOUND_AHEAD_US: i64 = 1_000_000;

/// The label after `floor`: one microsecond above it, or `now` when that is later.
fn next_label(floor: i64, now: i64) -> Result<i64, StoreError> {
    let above = floor
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("label space exhausted".into()))?;
    Ok(above.max(now))
}

#[cfg(test)]
#[path = "append_tests.rs"]
mod tests;
