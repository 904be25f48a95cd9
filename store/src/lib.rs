//! The taxii-mirror store: collections of content blocks ordered by local timestamp labels,
//! a per-collection dedupe index, and small metadata namespaces (source checkpoints,
//! subscriptions, source status), all in one sled database.
//!
//! The API is synchronous; async callers run it under `spawn_blocking`.
//!
//! # Design
//! - Everything lives in one sled tree with a kind byte at the front of each key, so one
//!   `apply_batch` stores a set of blocks, their hash index entries, the collection counters
//!   and a mirror checkpoint atomically.
//! - A block's key is its collection id and its label (big-endian), so a poll window is one
//!   ordered range scan. The record holds the block's metadata and where its content lies
//!   in an append-only segment file (`segments`); content is read with positioned reads, so
//!   serving a large window does not make the process hold what it read. Each record carries its ordinal in the collection, so counting a
//!   window is two seeks, not a scan.
//! - Labels come from one store-wide floor under a mutex (see `append`); a poll's end
//!   snapshot is taken under the same mutex, so a window never misses a block.
//! - Writes are not flushed one by one: sled flushes every half second, and callers that
//!   acknowledge data to a client call [`Store::flush`] first. A crash loses at most the
//!   last unflushed batches, each batch whole.
//! - sled allows one process per database; a second open of the same directory fails.
//!
//! # Layout
//! - `store`: the [`Store`] handle: open, collections, metadata, flush.
//! - `append`: [`Store::append`] and [`Store::snapshot_end`]: label assignment under one mutex.
//! - `read`: [`Store::range`], [`Store::count`], [`Store::total`], [`Store::last_label`].
//! - `verify`: [`Store::verify`], a full consistency check.
//! - `index`: the indicator index, [`Store::blocks_with_indicator`]: which blocks hold a
//!   value, written in the same batch as the blocks.
//! - `withdraw`: [`Store::withdraw`]: blocks taken out of every later poll, revisions.
//! - `backup`: what export and import need: the dedupe index, every metadata entry, the
//!   label floor, and [`Store::restore`] of blocks under their original labels.
//! - [`mod@format`]: the store directory, its `FORMAT` file and the versioned database folder.
//! - `keys`: the key layout of the single sled tree (one tree, so one batch is atomic).
//! - `record`: the binary block record.
//! - `segments`: the append-only files holding block content.
//! - `types`: values passed in and out.
#![forbid(unsafe_code)]

mod append;
mod backup;
mod error;
pub mod format;
mod index;
mod keys;
mod read;
mod record;
mod segments;
mod store;
mod types;
mod verify;
mod withdraw;

pub use backup::{MetaEntry, RestoredBlock};
pub use error::StoreError;
pub use index::{IndicatorHit, MAX_KEYED_VALUE};
pub use read::{BlockIter, SummaryIter};
pub use segments::SEGMENTS_DIR;
pub use store::{Store, DEFAULT_MIN_FREE_BYTES};
pub use types::{AppendOutcome, BlockSummary, MetaPut, NewBlock, StoredBlock};
pub use verify::{CollectionReport, IndicatorsOf, VerifyReport};
pub use withdraw::WithdrawOutcome;

/// The handle is shared across threads and a block iterator may move to a blocking task.
#[allow(dead_code)]
fn assert_thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<BlockIter>();
}

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod perf_tests;
#[cfg(test)]
mod test_util;
