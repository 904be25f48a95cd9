//! The [`Store`] handle: opening, collections, metadata, durability.

use crate::error::StoreError;
use crate::format;
use crate::keys;
use crate::segments::{SegmentEnd, Segments};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use taxii::Timestamp;

/// A source of the current time in microseconds; the real clock outside tests.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The taxii-mirror database: collections of content blocks ordered by local timestamp
/// label, a per-collection dedupe index, and small metadata namespaces.
///
/// Cheap to clone (an `Arc` inside) and safe to share between threads. Every call blocks on
/// disk I/O, so async callers run it under `spawn_blocking`.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    /// The one tree that holds everything (see `keys` for the layout).
    pub(crate) tree: sled::Tree,
    /// The files holding block content.
    pub(crate) segments: Segments,
    /// Serialises every write that assigns labels or collection ids, and `snapshot_end`.
    pub(crate) writer: Mutex<LabelFloor>,
    pub(crate) now: Clock,
    /// The store directory.
    pub(crate) dir: PathBuf,
    /// Bytes an append must leave free on the store's file system (see
    /// [`Store::set_min_free_bytes`]).
    pub(crate) min_free: AtomicU64,
    /// Size of the last append refused for lack of space, 0 once one fits again (see
    /// [`Store::space_problem`]).
    pub(crate) refused_bytes: AtomicU64,
    /// The first failed write of the database, once one failed (see
    /// [`Store::write_failure`]).
    pub(crate) write_failure: Mutex<Option<String>>,
    /// Every label at or below this is on disk: the floor when the last successful flush
    /// began. Once a write fails, polls see no further (see [`Store::snapshot_end`]).
    pub(crate) durable: AtomicI64,
}

/// The label state guarded by the writer mutex.
pub(crate) struct LabelFloor {
    /// Greatest label assigned or snapshot end handed out; the next label is above it.
    pub(crate) floor: i64,
    /// Bound on snapshot ends recorded in the tree (a little above the last end recorded).
    pub(crate) persisted_end: i64,
    /// Sequence of the last indicator index run written (see `index`).
    pub(crate) index_seq: u64,
}

/// Counters kept per collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) total: u64,
    /// Meaningless while `total` is 0.
    pub(crate) last_label: i64,
}

impl Stats {
    pub(crate) fn encode(&self) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&self.total.to_be_bytes());
        v[8..].copy_from_slice(&self.last_label.to_be_bytes());
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Result<Stats, StoreError> {
        let total = v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes);
        let last = v.get(8..).and_then(keys::i64_from_value);
        match (total, last, v.len()) {
            (Some(total), Some(last_label), 16) => Ok(Stats { total, last_label }),
            _ => Err(StoreError::Corrupt("collection counters".into())),
        }
    }
}

// === impl Store ===

/// Bytes of pages sled keeps in memory. With store format 4, on 1,000,000 blocks, 8 MiB
/// against 32 MiB: the peak RSS of a start and a full poll 113-115 MB against 138-169 MB,
/// the same full-poll speed, inbox loads of 200,000 blocks within the noise (30-38 s against
/// 31-36 s), small-window polls about 5 % slower (README, Performance).
// TODO(store): sled holds a page-table entry and segment accounting per tree node in
// memory whatever this cache is (about 100 MB after open for 3 million keys), so RSS still
// grows with the number of blocks.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How long an open waits for another holder of the database lock to let go: sled's
/// background threads close the files a moment after a store is dropped (or a server
/// exits), and a command run right then would otherwise be refused.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Open the sled database, waiting up to [`LOCK_WAIT`] for its lock ([`StoreError::InUse`]
/// after that).
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    remove_unfinished_snapshots(path)?;
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Err(e) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::InUse(path.display().to_string()));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return Ok(other?),
        }
    }
}

/// Remove the snapshot files sled left half-written (`snap.<lsn>.generating`): a write of
/// one cut short, by a full disk or a crash, stays behind, and sled would read it as the
/// newest snapshot and refuse to open. It renames a snapshot once it is whole, and recovers
/// from the previous one and its log without it.
fn remove_unfinished_snapshots(db: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(db) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(
                file = %entry.path().display(),
                "removing a database snapshot that was never finished"
            );
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Free space an append leaves on the store's file system unless told otherwise (64 MiB).
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

impl Store {
    /// Open or create the store in `dir`.
    ///
    /// A new store gets `dir/FORMAT` ("taxii-mirror store format 4"); a directory whose
    /// `FORMAT` names another version, or that holds unrelated files, is refused with
    /// [`StoreError::Format`] (formats 1 and 2 are upgraded in place: their blocks stay
    /// readable, and a format 2 indicator index is converted on the first open). The
    /// sled database lives in `dir/db-v1`, block content in `dir/segments`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with_clock(dir, Arc::new(|| Timestamp::now().as_micros()))
    }

    pub(crate) fn open_with_clock(dir: &Path, now: Clock) -> Result<Store, StoreError> {
        let db_path = format::prepare_dir(dir)?;
        // sled caches up to 1 GiB of pages by default; content is outside sled (see
        // `segments`), so a small cache holds the records of a large collection.
        let db = open_db(&db_path)?;
        let tree = db.open_tree("store")?;
        let floor = initial_floor(&tree)?;
        let persisted_end = read_i64(&tree, keys::G_SNAPSHOT_END)?.unwrap_or(i64::MIN);
        let index_seq = crate::index::recorded_seq(&tree)?;
        let segment_end = match tree.get(keys::G_SEGMENT_END)? {
            Some(v) => Some(SegmentEnd::decode(&v)?),
            None => None,
        };
        let segments = Segments::open(dir, segment_end)?;
        format::mark_current(dir)?;
        tracing::debug!(dir = %dir.display(), floor, "store opened");
        let store = Store {
            inner: Arc::new(Inner {
                db,
                tree,
                segments,
                writer: Mutex::new(LabelFloor {
                    floor,
                    persisted_end,
                    index_seq,
                }),
                now,
                dir: dir.to_path_buf(),
                min_free: AtomicU64::new(DEFAULT_MIN_FREE_BYTES),
                refused_bytes: AtomicU64::new(0),
                write_failure: Mutex::new(None),
                durable: AtomicI64::new(floor),
            }),
        };
        spawn_flusher(Arc::downgrade(&store.inner));
        store.mark_index_ready_if_empty()?;
        store.upgrade_index()?;
        Ok(store)
    }

    /// Keep at least `bytes` free on the store's file system: an append that would leave
    /// less is refused with [`StoreError::DiskFull`] before anything is written.
    ///
    /// sled cannot take back a failed write: once one of its own writes meets a full disk,
    /// every later write of the process fails until it restarts. Appends carry nearly all
    /// the bytes written, so stopping them short of a full disk leaves room for the small
    /// writes polls and checkpoints make, and ingest resumes by itself once space returns.
    /// 0 turns the check off (a full disk then surfaces as an I/O error).
    ///
    /// TODO(store): when something else fills the disk past the reserve, sled's failed write
    /// stops every later write until a restart ([`Store::write_failure`] says so, and
    /// `/readyz` fails). Polls then stop at the last label known to be on disk, but
    /// collection counts and look-ups still see a batch whose flush failed (after the
    /// restart it may or may not be there; sent again, it is stored once), and a read that
    /// needs sled to split a page fails. Reopening sled in place needs every handle and
    /// iterator released.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.inner.min_free.store(bytes, Ordering::Relaxed);
    }

    /// Refuse a write of `incoming` bytes that would leave less than the reserve free.
    pub(crate) fn check_space(&self, incoming: u64) -> Result<(), StoreError> {
        let reserve = self.inner.min_free.load(Ordering::Relaxed);
        if reserve == 0 {
            return Ok(());
        }
        let free = fs2::available_space(&self.inner.dir)?;
        if free < reserve.saturating_add(incoming) {
            self.inner
                .refused_bytes
                .store(incoming.max(1), Ordering::Relaxed);
            return Err(StoreError::DiskFull {
                dir: self.inner.dir.display().to_string(),
                free,
                incoming,
                reserve,
            });
        }
        if incoming > 0 {
            self.inner.refused_bytes.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Why appends are refused right now for lack of space, or `None` while they are
    /// taken: free space is below the reserve of [`Store::set_min_free_bytes`], or below
    /// the reserve plus the size of the last append refused. Reads the free space now, so
    /// it clears by itself once space returns.
    pub fn space_problem(&self) -> Option<String> {
        let reserve = self.inner.min_free.load(Ordering::Relaxed);
        let refused = self.inner.refused_bytes.load(Ordering::Relaxed);
        if reserve == 0 && refused == 0 {
            return None;
        }
        let free = match fs2::available_space(&self.inner.dir) {
            Ok(free) => free,
            Err(e) => return Some(format!("cannot read the free space: {e}")),
        };
        if free >= reserve.saturating_add(refused) {
            return None;
        }
        Some(if reserve == 0 {
            format!(
                "{free} bytes free, the last append refused for a full disk needed {refused} bytes"
            )
        } else if refused > 0 && free >= reserve {
            format!("{free} bytes free, the last append refused needed {refused} bytes above the reserve of {reserve}")
        } else {
            format!("{free} bytes free, below the reserve of {reserve}")
        })
    }

    /// Create the collection if it does not exist yet (idempotent).
    ///
    /// Names may hold any UTF-8 except NUL; the empty name is refused.
    // TODO(store): collections cannot be removed or renamed yet; removal would delete the
    // id's block, hash and counter ranges and the directory entry in one batch.
    pub fn ensure_collection(&self, name: &str) -> Result<(), StoreError> {
        if name.is_empty() || name.contains('\0') {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        let _guard = self.lock_writer();
        let tree = &self.inner.tree;
        let ckey = keys::collection_key(name);
        if tree.contains_key(&ckey)? {
            return Ok(());
        }

        let id = match tree.get(keys::G_NEXT_COLLECTION)? {
            Some(v) => {
                let b: [u8; 4] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("next collection id".into()))?;
                u32::from_be_bytes(b)
            }
            None => 1,
        };
        let next = id
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("collection ids exhausted".into()))?;
        let empty = Stats {
            total: 0,
            last_label: i64::MIN,
        };
        let mut batch = sled::Batch::default();
        batch.insert(ckey, &id.to_be_bytes());
        batch.insert(&keys::stats_key(id), &empty.encode());
        batch.insert(keys::G_NEXT_COLLECTION, &next.to_be_bytes());
        tree.apply_batch(batch)?;
        tracing::info!(collection = name, id, "collection created");
        Ok(())
    }

    /// Names of all collections, in byte order.
    ///
    /// TODO(store): a collection cannot be deleted (its blocks, segment space, index
    /// entries and metadata); one removed from the configuration keeps its data, which
    /// `status` lists as not configured, until a delete exists.
    pub fn collections(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.collection_ids()?.into_iter().map(|(n, _)| n).collect())
    }

    /// Whether the collection exists.
    pub fn has_collection(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.inner.tree.contains_key(keys::collection_key(name))?)
    }

    /// Read one metadata value.
    pub fn meta_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .inner
            .tree
            .get(keys::meta_key(ns, key))?
            .map(|v| v.to_vec()))
    }

    /// Write one metadata value (not flushed: call [`Store::flush`] when it must be durable).
    pub fn meta_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.tree.insert(keys::meta_key(ns, key), value)?;
        Ok(())
    }

    /// Remove one metadata value; removing a missing key is not an error.
    pub fn meta_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        self.inner.tree.remove(keys::meta_key(ns, key))?;
        Ok(())
    }

    /// Every (key, value) of a namespace, in key byte order.
    pub fn meta_scan(&self, ns: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = keys::meta_prefix(ns);
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(&prefix) {
            let (k, v) = item?;
            let key = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| StoreError::Corrupt(format!("metadata key in {ns:?}")))?;
            out.push((key.to_owned(), v.to_vec()));
        }
        Ok(out)
    }

    /// Make everything written so far durable (fsync). Call before acknowledging an inbox
    /// message; sled also flushes on its own every half second.
    pub fn flush(&self) -> Result<(), StoreError> {
        // Label assignment and the batch that stores the labelled blocks happen under the
        // writer lock, so every label at or below this floor is in a batch already applied.
        let upto = self.lock_writer().floor;
        self.inner.db.flush().map_err(|e| self.write_failed(e))?;
        self.inner.durable.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// The greatest label known to be on disk.
    pub(crate) fn durable_floor(&self) -> i64 {
        self.inner.durable.load(Ordering::Acquire)
    }

    /// Why the database stopped taking writes, once it has: sled keeps refusing every
    /// write of the process after one of its own writes failed (a full disk, an I/O
    /// error), so only a restart brings writes back. `None` while writes work.
    pub fn write_failure(&self) -> Option<String> {
        self.inner
            .write_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a database write has failed, without copying the cause (on the poll path).
    pub(crate) fn writes_failed(&self) -> bool {
        self.inner
            .write_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Note a failed database write (the first one is kept and logged) and pass it on.
    pub(crate) fn write_failed(&self, e: sled::Error) -> StoreError {
        if matches!(e, sled::Error::Io(_)) {
            let mut first = self
                .inner
                .write_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if first.is_none() {
                tracing::error!(
                    cause = %e,
                    "the database refuses writes from now on: restart taxii-mirror once the cause is fixed"
                );
                *first = Some(e.to_string());
            }
        }
        e.into()
    }

    /// Size of the database and segment files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()? + self.inner.segments.size_on_disk()?)
    }

    /// Take the writer mutex. A poisoned mutex only means a writer panicked; the floor it
    /// guards is a plain number that is never left half-updated, so it is still usable.
    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, LabelFloor> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The id of a collection, or [`StoreError::NoCollection`].
    pub(crate) fn collection_id(&self, name: &str) -> Result<u32, StoreError> {
        match self.inner.tree.get(keys::collection_key(name))? {
            Some(v) => decode_id(&v),
            None => Err(StoreError::NoCollection(name.to_owned())),
        }
    }

    /// The counters of a collection by id.
    pub(crate) fn stats(&self, id: u32) -> Result<Stats, StoreError> {
        match self.inner.tree.get(keys::stats_key(id))? {
            Some(v) => Stats::decode(&v),
            None => Err(StoreError::Corrupt(format!(
                "collection {id} has no counters"
            ))),
        }
    }

    /// Every collection with its id, in name byte order.
    pub(crate) fn collection_ids(&self) -> Result<Vec<(String, u32)>, StoreError> {
        collection_ids(&self.inner.tree)
    }
}

/// How often written batches are made durable when no caller asks sooner.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Flush the store every [`FLUSH_EVERY`] until its last handle is dropped or a write fails,
/// so that it knows what is on disk. sled's own flusher goes on beside it: it also cleans
/// the database's log segments, which nothing else can ask it to do.
fn spawn_flusher(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("store-flush".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let store = Store { inner };
            if store.write_failure().is_some() {
                return;
            }
            // A failure is logged once by `write_failed`, and stops the loop next round.
            let _ = store.flush();
        });
    if let Err(e) = spawned {
        // Batches still reach the disk with every explicit flush and when the store closes.
        tracing::warn!(cause = %e, "could not start the store's flush thread");
    }
}

fn collection_ids(tree: &sled::Tree) -> Result<Vec<(String, u32)>, StoreError> {
    let mut out = Vec::new();
    for item in tree.scan_prefix([keys::COLLECTION]) {
        let (k, v) = item?;
        let name = std::str::from_utf8(&k[1..])
            .map_err(|_| StoreError::Corrupt("collection name is not UTF-8".into()))?;
        out.push((name.to_owned(), decode_id(&v)?));
    }
    Ok(out)
}

fn decode_id(v: &[u8]) -> Result<u32, StoreError> {
    let b: [u8; 4] = v
        .try_into()
        .map_err(|_| StoreError::Corrupt("collection id".into()))?;
    Ok(u32::from_be_bytes(b))
}

fn read_i64(tree: &sled::Tree, key: &[u8]) -> Result<Option<i64>, StoreError> {
    match tree.get(key)? {
        Some(v) => keys::i64_from_value(&v)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("{}", String::from_utf8_lossy(key)))),
        None => Ok(None),
    }
}

/// The label floor on open: the greatest of every collection's last label, the recorded
/// last label, and the last snapshot end handed out. Runs once per open; its cost grows
/// with the number of collections, not with the number of blocks.
fn initial_floor(tree: &sled::Tree) -> Result<i64, StoreError> {
    let mut floor = i64::MIN;
    for key in [keys::G_LAST_LABEL, keys::G_SNAPSHOT_END] {
        if let Some(v) = read_i64(tree, key)? {
            floor = floor.max(v);
        }
    }
    for (name, id) in collection_ids(tree)? {
        let stats = match tree.get(keys::stats_key(id))? {
            Some(v) => Stats::decode(&v)?,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "collection {name:?} has no counters"
                )))
            }
        };
        if stats.total > 0 {
            floor = floor.max(stats.last_label);
        }
        // Trust the blocks themselves over the counters.
        let prefix = keys::block_prefix(id);
        if let Some(item) = tree.scan_prefix(prefix).next_back() {
            let (k, _) = item?;
            if let Some(label) = keys::label_of_block_key(&k) {
                floor = floor.max(label);
            }
        }
    }
    Ok(floor)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
