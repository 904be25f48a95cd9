//! The taxii-mirror store: collections of content blocks ordered by local timestamp labels,
//! a per-collection dedupe index, and small metadata namespaces (source checkpoints,
//! subscriptions, source status), all in one sled database.
//!
//! The API is synchronous; async callers run it under `spawn_blocking`.
//!
//! # Layout
//! - `store`: the [`Store`] handle: open, collections, metadata, flush.
//! - `append`: [`Store::append`] and [`Store::snapshot_end`]: label assignment under one mutex.
//! - `read`: [`Store::range`], [`Store::count`], [`Store::total`], [`Store::last_label`].
//! - `verify`: [`Store::verify`], a full consistency check.
//! - [`format`]: the store directory, its `FORMAT` file and the versioned database folder.
//! - `keys`: the key layout of the single sled tree (one tree, so one batch is atomic).
//! - `record`: the binary block record.
//! - `types`: values passed in and out.
#![forbid(unsafe_code)]

mod append;
mod error;
pub mod format;
mod keys;
mod read;
mod record;
mod store;
mod types;
mod verify;

pub use error::StoreError;
pub use read::BlockIter;
pub use store::Store;
pub use types::{AppendOutcome, MetaPut, NewBlock, StoredBlock};
pub use verify::{CollectionReport, VerifyReport};

#[cfg(test)]
mod test_util;

/// The handle is shared across threads and a block iterator may move to a blocking task.
#[allow(dead_code)]
fn assert_thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<BlockIter>();
}

#[cfg(test)]
mod perf_tests;

#[cfg(test)]
mod crash_tests;
