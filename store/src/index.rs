//! The indicator index: which blocks of which collections hold a given indicator value.
//!
//! An entry is 28 bytes: a 16-byte digest of `(kind, value)`, the collection id (u32) and
//! the block's label (order-preserving bytes, see `keys::label_bytes`). Entries are not one
//! sled key each (sled's cost per key would make them most of an append's work) but are
//! grouped into sorted runs, like the levels of a log-structured merge tree, split into 256
//! buckets by the digest's first byte:
//!
//! | key | value |
//! |---|---|
//! | `L` level u8, bucket u8, sequence u64 | sorted entries of that bucket, 28 bytes each |
//! | `J` collection id u32, label | block facts of a block stored before titles moved into the record |
//! | `K` bucket u8, level u8, sequence u64 | a format 3 run; renamed to its `L` key when the store opens |
//! | `I` ... | format 2 entries, one key each; converted to runs when the store opens |
//!
//! Runs are keyed by level first. sled keeps up to 16 keys in a leaf and rewrites a whole
//! leaf every few changes to it, so a leaf that mixed the small level 0 runs every append
//! adds with the large runs of the upper levels (format 3 keyed runs by bucket first) was
//! rewritten, large runs and all, on nearly every append: most of the bytes sled wrote and
//! kept on disk. Keyed by level, the large runs share leaves only with each other and are
//! rewritten only when a merge reaches their level.
//!
//! An append (or a restore, a rebuild chunk, an upgrade chunk) writes its entries as one
//! level 0 run per bucket it touches, in the same batch as the blocks, so the index never
//! disagrees with the blocks after a crash. Every [`FANOUT`]th such write merges, bucket by
//! bucket, a level holding [`FANOUT`] runs or more into one run of the next level (level
//! `L` is looked at every `FANOUT^(L+1)` writes), in a batch of its own per bucket: a merge
//! only regroups entries, so it may stop anywhere and is finished by a later one. A bucket
//! therefore holds a few runs per level and a number of levels that grows with the
//! logarithm of the store's size, and a merge pass mostly reads the small recent runs.
//!
//! A look-up reads one bucket (a prefix scan per level), binary-searches each run for the digest,
//! then reads the record of each block found (title, package id, source, ingest time; the
//! `J` facts for older records). The store keys values exactly as given: callers pass
//! canonical spellings (see `stix::detect::canonical`) both when they append and when they
//! look up. Values longer than [`MAX_KEYED_VALUE`] bytes are digested through their SHA-256.
//!
//! `Store::verify` checks the index both ways: each run is well formed and sorted, each
//! entry names a stored block whose facts a look-up can read, each block whose record has
//! no title has its `J` facts; `Store::verify_deep` also reads every block's indicators
//! again and checks that each has its entry.

use sha2::{Digest, Sha256};
use taxii::Timestamp;

use crate::error::StoreError;
use crate::keys;
use crate::record;
use crate::store::{LabelFloor, Store};

/// Kind byte of an indicator index run.
pub(crate) const RUN: u8 = b'L';
/// Kind byte of a format 3 run (bucket before level; renamed on open).
pub(crate) const V3_RUN: u8 = b'K';
/// Kind byte of a format 2 indicator index entry (converted on open).
pub(crate) const OLD_ENTRY: u8 = b'I';
/// Kind byte of a block's look-up facts (blocks whose record has no title).
pub(crate) const BLOCK_INFO: u8 = b'J';
/// Store-wide key: present once every block of the store is in the index.
pub(crate) const G_INDEX_READY: &[u8] = b"Gindex-v1";
/// Store-wide key: the sequence number of the last run written (u64).
pub(crate) const G_INDEX_SEQ: &[u8] = b"Gindex-seq";

/// Values up to this length are digested as they are; longer ones through their SHA-256
/// (a 0xFF byte, which UTF-8 text never holds, then the digest).
pub const MAX_KEYED_VALUE: usize = 512;

/// Runs of one level merged into one run of the next.
pub(crate) const FANOUT: usize = 8;
/// Bytes of one index entry.
const ENTRY: usize = 28;
/// Bytes of the value digest at the start of an entry.
const DIGEST: usize = 16;
/// Format 2 entries converted per batch when a store is upgraded.
const UPGRADE_CHUNK: usize = 50_000;
/// Format 3 runs renamed per batch when a store is upgraded.
const RENAME_CHUNK: usize = 64;

type Entry = [u8; ENTRY];
type ValueDigest = [u8; DIGEST];

/// One block that holds the value looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorHit {
    /// The collection holding the block.
    pub collection: String,
    /// The block's label in that collection.
    pub label: Timestamp,
    /// When the block was stored.
    pub ingested: Timestamp,
    /// STIX package id of the block, if it has one.
    pub package_id: Option<String>,
    /// STIX header title (for OTX, the pulse name).
    pub title: Option<String>,
    /// Where the block came from: a mirror source, `inbox:<user>` or `import:<file>`.
    pub source: Option<String>,
}

/// The digest an entry for `(kind, value)` starts with.
fn value_digest(kind: &str, value: &str) -> ValueDigest {
    let kind = &kind.as_bytes()[..kind.len().min(255)];
    let mut h = Sha256::new();
    h.update([kind.len() as u8]);
    h.update(kind);
    if value.len() > MAX_KEYED_VALUE {
        h.update([0xFF]);
        h.update(Sha256::digest(value.as_bytes()));
    } else {
        h.update(value.as_bytes());
    }
    digest_of(h)
}

fn digest_of(h: Sha256) -> ValueDigest {
    let full = h.finalize();
    let mut d = [0u8; DIGEST];
    d.copy_from_slice(&full[..DIGEST]);
    d
}

fn entry(digest: &ValueDigest, id: u32, label: i64) -> Entry {
    let mut e = [0u8; ENTRY];
    e[..DIGEST].copy_from_slice(digest);
    e[DIGEST..DIGEST + 4].copy_from_slice(&id.to_be_bytes());
    e[DIGEST + 4..].copy_from_slice(&keys::label_bytes(label));
    e
}

/// The collection id and label of an entry.
fn id_label_of(e: &[u8]) -> (u32, i64) {
    let mut id = [0u8; 4];
    id.copy_from_slice(&e[DIGEST..DIGEST + 4]);
    let mut label = [0u8; 8];
    label.copy_from_slice(&e[DIGEST + 4..ENTRY]);
    (u32::from_be_bytes(id), keys::label_from_bytes(label))
}

/// `L` + level + bucket + sequence.
fn run_key(bucket: u8, level: u8, seq: u64) -> [u8; 11] {
    let mut k = [0u8; 11];
    k[0] = RUN;
    k[1] = level;
    k[2] = bucket;
    k[3..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The level and sequence of a run key; `None` when the key is not one.
fn level_seq_of(key: &[u8]) -> Option<(u8, u64)> {
    if key.len() != 11 || key[0] != RUN {
        return None;
    }
    Some((key[1], u64::from_be_bytes(key[3..].try_into().ok()?)))
}

/// The key a format 3 run key (`K` + bucket + level + sequence) is renamed to.
fn renamed_v3_key(key: &[u8]) -> Option<[u8; 11]> {
    if key.len() != 11 || key[0] != V3_RUN {
        return None;
    }
    Some(run_key(
        key[1],
        key[2],
        u64::from_be_bytes(key[3..].try_into().ok()?),
    ))
}

/// The highest level that holds a run (`None`: the index is empty).
fn top_level(tree: &sled::Tree) -> Result<Option<u8>, StoreError> {
    match tree.scan_prefix([RUN]).next_back() {
        Some(item) => Ok(item?.0.get(1).copied()),
        None => Ok(None),
    }
}

/// Every run of `bucket`, lowest level first (key and entries).
///
/// A merge moves entries up one level in one batch, and levels are read upwards, so a
/// reader that meets a level after the merge also meets the next one after it: no entry
/// is missed (some may be read twice). A merge that makes a new top level while the
/// levels are read is seen when the top is read again, and the bucket is read anew.
fn bucket_runs(tree: &sled::Tree, bucket: u8) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
    loop {
        let Some(top) = top_level(tree)? else {
            return Ok(Vec::new());
        };
        let mut runs = Vec::new();
        for level in 0..=top {
            for item in tree.scan_prefix([RUN, level, bucket]) {
                runs.push(item?);
            }
        }
        if top_level(tree)? == Some(top) {
            return Ok(runs);
        }
    }
}

fn corrupt_run() -> StoreError {
    StoreError::Corrupt("indicator index run".into())
}

/// The entries of a run value whose digest is `digest` (a run is sorted).
fn matches_in<'a>(run: &'a [u8], digest: &ValueDigest) -> Result<&'a [u8], StoreError> {
    if !run.len().is_multiple_of(ENTRY) {
        return Err(corrupt_run());
    }
    let n = run.len() / ENTRY;
    let at = |i: usize| &run[i * ENTRY..i * ENTRY + DIGEST];
    // First entry not below `digest`, then the first above it.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if at(mid) < &digest[..] {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut end = lo;
    while end < n && at(end) == &digest[..] {
        end += 1;
    }
    Ok(&run[lo * ENTRY..end * ENTRY])
}

/// `J` + id + label.
pub(crate) fn info_key(id: u32, label: i64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = BLOCK_INFO;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k[5..].copy_from_slice(&keys::label_bytes(label));
    k
}

/// `J` + id: the prefix of one collection's block facts.
pub(crate) fn info_prefix(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = BLOCK_INFO;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k
}

/// What an append writes for one block, prepared outside the writer lock; the collection
/// id and label are added under it.
pub(crate) struct PendingIndex {
    digests: Vec<ValueDigest>,
}

impl PendingIndex {
    /// Prepare the entries of a block holding `values` (`(kind, value)` pairs).
    pub(crate) fn new(values: &[(String, String)]) -> PendingIndex {
        let mut digests: Vec<ValueDigest> =
            values.iter().map(|(k, v)| value_digest(k, v)).collect();
        digests.sort_unstable();
        digests.dedup();
        PendingIndex { digests }
    }

    /// Add this block's entries to `run` once it is stored as `(id, label)`.
    pub(crate) fn add_to(&self, run: &mut Vec<Entry>, id: u32, label: i64) {
        run.extend(self.digests.iter().map(|d| entry(d, id, label)));
    }
}

/// The `J` facts of a block whose record holds no title (written by a rebuild of a store
/// older than the index).
pub(crate) fn encode_info(
    ingested: i64,
    package_id: Option<&str>,
    title: Option<&str>,
    source: Option<&str>,
) -> Vec<u8> {
    let mut info = Vec::with_capacity(64);
    info.push(1u8);
    info.extend_from_slice(&ingested.to_be_bytes());
    for field in [package_id, title, source] {
        match field {
            Some(s) => {
                // Titles are cut to 1 KiB; ids and source names are short.
                let s = record::truncate(s, record::MAX_TITLE);
                info.push(1);
                info.extend_from_slice(&(s.len() as u32).to_be_bytes());
                info.extend_from_slice(s.as_bytes());
            }
            None => info.push(0),
        }
    }
    info
}

/// Facts decoded from a `J` value.
pub(crate) struct Info {
    ingested: i64,
    package_id: Option<String>,
    title: Option<String>,
    source: Option<String>,
}

pub(crate) fn decode_info(v: &[u8]) -> Result<Info, StoreError> {
    let bad = || StoreError::Corrupt("indicator index block facts".into());
    if v.first() != Some(&1) || v.len() < 9 {
        return Err(bad());
    }
    let ingested = keys::i64_from_value(&v[1..9]).ok_or_else(bad)?;
    let mut rest = &v[9..];
    let mut fields = [None, None, None];
    for field in &mut fields {
        let (&tag, tail) = rest.split_first().ok_or_else(bad)?;
        rest = tail;
        if tag == 1 {
            let len: [u8; 4] = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)?;
            let len = u32::from_be_bytes(len) as usize;
            let text = rest.get(4..4 + len).ok_or_else(bad)?;
            *field = Some(String::from_utf8(text.to_vec()).map_err(|_| bad())?);
            rest = &rest[4 + len..];
        }
    }
    let [package_id, title, source] = fields;
    Ok(Info {
        ingested,
        package_id,
        title,
        source,
    })
}

/// Whether a block record holds its title (version 3), so a look-up needs no `J` facts.
pub(crate) fn record_has_title(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|&v| v >= record::RECORD_V3)
}

/// The digest a format 2 entry key stands for, with its collection id and label.
fn convert_old_key(key: &[u8]) -> Option<Entry> {
    let rest = key.strip_prefix(&[OLD_ENTRY])?;
    let (&klen, rest) = rest.split_first()?;
    let kind = rest.get(..klen as usize)?;
    let rest = &rest[klen as usize..];
    let vlen = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let value = rest.get(4..4 + vlen)?;
    let tail = &rest[4 + vlen..];
    if tail.len() != 12 {
        return None;
    }
    // The key held the value as `value_digest` reads it: the value itself, or 0xFF and
    // its SHA-256 for a long one.
    let mut h = Sha256::new();
    h.update([klen]);
    h.update(kind);
    h.update(value);
    let mut e = [0u8; ENTRY];
    e[..DIGEST].copy_from_slice(&digest_of(h));
    e[DIGEST..].copy_from_slice(tail);
    Some(e)
}

/// Add `entries` to `batch` as level 0 runs with sequence `seq`, one per bucket.
fn write_runs(batch: &mut sled::Batch, seq: u64, mut entries: Vec<Entry>) {
    entries.sort_unstable();
    entries.dedup();
    for bucket in entries.chunk_by(|a, b| a[0] == b[0]) {
        batch.insert(&run_key(bucket[0][0], 0, seq)[..], bucket.concat());
    }
    batch.insert(G_INDEX_SEQ, &seq.to_be_bytes());
}

/// The sequence of the last run written, as recorded.
pub(crate) fn recorded_seq(tree: &sled::Tree) -> Result<u64, StoreError> {
    match tree.get(G_INDEX_SEQ)? {
        Some(v) => {
            Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt("index sequence".into())
            })?))
        }
        None => Ok(0),
    }
}

// === impl Store ===

/// A run read from a bucket, or made by merging runs (then not yet stored).
struct Run {
    key: Option<sled::IVec>,
    seq: u64,
    value: sled::IVec,
}

impl Store {
    /// Every block, in every collection, that holds the indicator `(kind, value)`: by
    /// collection id, then label (oldest first). `kind` is an indicator kind name (`domain`,
    /// `url`, `ipv4`, ...) and `value` its canonical spelling. Withdrawn blocks are left out.
    pub fn blocks_with_indicator(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Vec<IndicatorHit>, StoreError> {
        self.first_blocks_with_indicator(kind, value, usize::MAX)
    }

    /// Like [`Store::blocks_with_indicator`], at most `limit` blocks.
    pub fn first_blocks_with_indicator(
        &self,
        kind: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<IndicatorHit>, StoreError> {
        let names: std::collections::HashMap<u32, String> = self
            .collection_ids()?
            .into_iter()
            .map(|(name, id)| (id, name))
            .collect();
        let tree = &self.inner.tree;
        let mut hits = Vec::new();
        for (id, label) in self.entries_for(&value_digest(kind, value))? {
            if hits.len() >= limit {
                break;
            }
            // A withdrawn block no longer holds anything anyone is served.
            if tree.contains_key(keys::withdrawn_key(id, label))? {
                continue;
            }
            let Some(collection) = names.get(&id) else {
                return Err(StoreError::Corrupt(format!(
                    "indicator index names unknown collection id {id}"
                )));
            };
            let Some(bytes) = tree.get(keys::block_key(id, label))? else {
                return Err(StoreError::Corrupt(format!(
                    "indicator index names block {label} of {collection:?}, which is not stored"
                )));
            };
            let decoded = record::decode_full(label, &bytes)?;
            let block = decoded.block;
            let hit = match decoded.title {
                Some(title) => IndicatorHit {
                    collection: collection.clone(),
                    label: block.label,
                    ingested: block.ingested,
                    package_id: block.package_id,
                    title,
                    source: block.source,
                },
                // A record from before titles moved into it: its facts are in `J`.
                None => match tree.get(info_key(id, label))? {
                    Some(v) => {
                        let info = decode_info(&v)?;
                        IndicatorHit {
                            collection: collection.clone(),
                            label: block.label,
                            ingested: Timestamp::from_micros(info.ingested),
                            package_id: info.package_id,
                            title: info.title,
                            source: info.source,
                        }
                    }
                    None => IndicatorHit {
                        collection: collection.clone(),
                        label: block.label,
                        ingested: block.ingested,
                        package_id: block.package_id,
                        title: None,
                        source: block.source,
                    },
                },
            };
            hits.push(hit);
        }
        Ok(hits)
    }

    /// Whether any block of `collection` holds the indicator `(kind, value)` (canonical
    /// spelling): one bucket read.
    pub fn collection_holds_indicator(
        &self,
        collection: &str,
        kind: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let id = self.collection_id(collection)?;
        let digest = value_digest(kind, value);
        for (_, run) in bucket_runs(&self.inner.tree, digest[0])? {
            if matches_in(&run, &digest)?
                .chunks_exact(ENTRY)
                .any(|e| id_label_of(e).0 == id)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `(collection id, label)` of every entry with `digest`, sorted, each once.
    fn entries_for(&self, digest: &ValueDigest) -> Result<Vec<(u32, i64)>, StoreError> {
        let mut found = Vec::new();
        for (_, run) in bucket_runs(&self.inner.tree, digest[0])? {
            found.extend(
                matches_in(&run, digest)?
                    .chunks_exact(ENTRY)
                    .map(id_label_of),
            );
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Whether the index holds the entry of `(kind, value)` for block `(id, label)`.
    pub(crate) fn index_holds(
        &self,
        id: u32,
        label: i64,
        kind: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .entries_for(&value_digest(kind, value))?
            .binary_search(&(id, label))
            .is_ok())
    }

    /// Check every run: well formed, sorted, each entry naming a stored block whose facts a
    /// look-up can read (its record's title, or `J` facts for an older record). Walks one
    /// bucket at a time under the writer lock (appends and merges change runs under it, so
    /// a bucket is never seen half merged). Returns the number of entries.
    pub(crate) fn verify_indicator_index(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<u64, StoreError> {
        let tree = &self.inner.tree;
        let mut entries = 0u64;
        for item in tree.scan_prefix([RUN]) {
            let (k, _) = item?;
            if level_seq_of(&k).is_none() {
                problems.push(format!(
                    "indicator index: malformed run key of {} bytes",
                    k.len()
                ));
            }
        }
        if let Some(item) = tree.scan_prefix([V3_RUN]).next() {
            item?;
            problems.push("indicator index: a format 3 run was not renamed".into());
        }
        for bucket in 0..=u8::MAX {
            let _floor = self.lock_writer();
            for (k, run) in bucket_runs(tree, bucket)? {
                if level_seq_of(&k).is_none() {
                    continue;
                }
                if !run.len().is_multiple_of(ENTRY) {
                    problems.push(format!(
                        "indicator index: malformed run ({} bytes of entries)",
                        run.len()
                    ));
                    continue;
                }
                let mut previous: Option<&[u8]> = None;
                for e in run.chunks_exact(ENTRY) {
                    entries += 1;
                    let hex: String = e[..4].iter().map(|b| format!("{b:02x}")).collect();
                    if e[0] != bucket || previous.is_some_and(|p| p >= e) {
                        problems.push(format!(
                            "indicator index: entry {hex}… out of order in its run"
                        ));
                    }
                    previous = Some(e);
                    let (id, label) = id_label_of(e);
                    match tree.get(keys::block_key(id, label))? {
                        None => problems.push(format!(
                            "indicator index: entry {hex}… names missing block {label} of collection id {id}"
                        )),
                        Some(b) => {
                            if !record_has_title(&b) && !tree.contains_key(info_key(id, label))? {
                                problems.push(format!(
                                    "indicator index: entry {hex}… has no facts for block {label} of collection id {id}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(entries)
    }

    /// Whether every stored block is in the indicator index. A store made by this build is;
    /// one made before the index existed is not until [`Store::rebuild_index`] has run.
    pub fn index_ready(&self) -> Result<bool, StoreError> {
        Ok(self.inner.tree.contains_key(G_INDEX_READY)?)
    }

    /// Index every stored block, reading the indicators of each with `values_of` (given the
    /// block's content and namespace context; it returns the title and the `(kind, value)`
    /// pairs), then mark the index ready. Meant for a store made before the index existed:
    /// it runs under the writer lock, one batch per collection chunk, and can be re-run
    /// after a crash (entries are idempotent).
    pub fn rebuild_index<F>(&self, mut values_of: F) -> Result<u64, StoreError>
    where
        F: FnMut(&crate::StoredBlock) -> (Option<String>, Vec<(String, String)>),
    {
        let mut floor = self.lock_writer();
        let tree = &self.inner.tree;
        let mut indexed = 0u64;
        for (_, id) in self.collection_ids()? {
            let mut batch = sled::Batch::default();
            let mut entries = Vec::new();
            let mut in_batch = 0usize;
            let mut blocks = tree.scan_prefix(keys::block_prefix(id));
            loop {
                let item = blocks.next().transpose()?;
                if let Some((k, v)) = &item {
                    let Some(label) = keys::label_of_block_key(k) else {
                        continue;
                    };
                    let (mut block, loc) = record::decode(label, v)?;
                    if let Some(loc) = loc {
                        block.content = self.inner.segments.read(loc)?;
                    }
                    let (title, values) = values_of(&block);
                    PendingIndex::new(&values).add_to(&mut entries, id, label);
                    // Records this old hold no title: the facts go beside them.
                    let info = encode_info(
                        block.ingested.as_micros(),
                        block.package_id.as_deref(),
                        title.as_deref(),
                        block.source.as_deref(),
                    );
                    batch.insert(&info_key(id, label)[..], info);
                    indexed += 1;
                    in_batch += 1;
                }
                if in_batch == 1000 || (item.is_none() && in_batch > 0) {
                    let seq =
                        self.index_entries(&mut floor, &mut batch, std::mem::take(&mut entries));
                    tree.apply_batch(std::mem::take(&mut batch))?;
                    self.index_written(seq);
                    in_batch = 0;
                }
                if item.is_none() {
                    break;
                }
            }
        }
        tree.insert(G_INDEX_READY, &[1u8][..])?;
        self.inner.db.flush()?;
        tracing::info!(blocks = indexed, "indicator index built");
        Ok(indexed)
    }

    /// Mark a store that has never held a block as fully indexed (called on open).
    pub(crate) fn mark_index_ready_if_empty(&self) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        if !tree.contains_key(G_INDEX_READY)? && tree.get(keys::G_NEXT_COLLECTION)?.is_none() {
            tree.insert(G_INDEX_READY, &[1u8][..])?;
        }
        Ok(())
    }

    /// Convert the index entries of a format 2 store (one key each) into runs, a chunk per
    /// batch (called on open, after the format file names format 4, so an older build
    /// never opens a half-converted store). A crash part-way leaves the rest for the next
    /// open: each batch removes the keys it converts.
    pub(crate) fn upgrade_index(&self) -> Result<(), StoreError> {
        self.rename_v3_runs()?;
        let tree = &self.inner.tree;
        if tree.scan_prefix([OLD_ENTRY]).next().is_none() {
            return Ok(());
        }
        let mut floor = self.lock_writer();
        let mut converted = 0u64;
        loop {
            let mut batch = sled::Batch::default();
            let mut entries = Vec::new();
            for item in tree.scan_prefix([OLD_ENTRY]).take(UPGRADE_CHUNK) {
                let (k, _) = item?;
                let e = convert_old_key(&k)
                    .ok_or_else(|| StoreError::Corrupt("format 2 indicator index key".into()))?;
                entries.push(e);
                batch.remove(k);
            }
            if entries.is_empty() {
                break;
            }
            converted += entries.len() as u64;
            let seq = self.index_entries(&mut floor, &mut batch, entries);
            tree.apply_batch(batch)?;
            self.index_written(seq);
        }
        self.inner.db.flush()?;
        tracing::info!(entries = converted, "indicator index converted to runs");
        Ok(())
    }

    /// Rename the runs of a format 3 store (keyed bucket first) to their format 4 keys
    /// (level first), [`RENAME_CHUNK`] runs per batch, each batch removing the old keys it
    /// renames: a crash part-way leaves the rest for the next open, and a look-up in
    /// between is never made (the store opens only once this is done).
    fn rename_v3_runs(&self) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        if tree.scan_prefix([V3_RUN]).next().is_none() {
            return Ok(());
        }
        let _floor = self.lock_writer();
        let mut renamed = 0u64;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in tree.scan_prefix([V3_RUN]).take(RENAME_CHUNK) {
                let (k, v) = item?;
                let new = renamed_v3_key(&k)
                    .ok_or_else(|| StoreError::Corrupt("format 3 indicator index key".into()))?;
                batch.remove(k);
                batch.insert(&new[..], v);
                n += 1;
            }
            if n == 0 {
                break;
            }
            tree.apply_batch(batch)?;
            renamed += n;
        }
        self.inner.db.flush()?;
        tracing::info!(
            runs = renamed,
            "indicator index runs renamed to the format 4 keys"
        );
        Ok(())
    }

    /// Add `entries` (collected for one batch) to `batch` as the next level 0 runs. Returns
    /// their sequence, to pass to [`Store::index_written`] once the batch is applied.
    /// Call under the writer lock (`floor` is its guard).
    pub(crate) fn index_entries(
        &self,
        floor: &mut LabelFloor,
        batch: &mut sled::Batch,
        entries: Vec<Entry>,
    ) -> Option<u64> {
        if entries.is_empty() {
            return None;
        }
        floor.index_seq += 1;
        write_runs(batch, floor.index_seq, entries);
        Some(floor.index_seq)
    }

    /// After the batch holding run `seq` is applied: every [`FANOUT`]th run, merge full
    /// levels. Level `L` is looked at when `seq` is a multiple of `FANOUT^(L+1)`, so a pass
    /// reads the small recent runs and only now and then the large old ones. A failed merge
    /// changes nothing and is retried by a later one; the index stays complete either way.
    /// Call under the writer lock.
    pub(crate) fn index_written(&self, seq: Option<u64>) {
        let Some(seq) = seq else {
            return;
        };
        let mut levels = 0u8;
        let mut step = FANOUT as u64;
        while seq.is_multiple_of(step) {
            levels += 1;
            match step.checked_mul(FANOUT as u64) {
                Some(next) => step = next,
                None => break,
            }
        }
        if levels > 0 {
            if let Err(e) = self.merge_runs(levels) {
                tracing::warn!(cause = %e, "indicator index merge failed; a later one retries");
            }
        }
    }

    /// In every bucket, going up from level 0 through `levels - 1`: a level holding
    /// [`FANOUT`] runs or more (counting the run merged from the level below) becomes one
    /// run of the next level; the first level that is not full ends the bucket's pass. One
    /// batch per bucket.
    pub(crate) fn merge_runs(&self, levels: u8) -> Result<(), StoreError> {
        for bucket in 0..=u8::MAX {
            self.merge_bucket(bucket, levels)?;
        }
        Ok(())
    }

    fn merge_bucket(&self, bucket: u8, levels: u8) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        let mut batch = sled::Batch::default();
        let mut merged = false;
        let mut carry: Option<Run> = None;
        for level in 0..levels {
            let mut runs = Vec::new();
            for item in tree.scan_prefix([RUN, level, bucket]) {
                let (k, v) = item?;
                let (_, seq) = level_seq_of(&k).ok_or_else(corrupt_run)?;
                runs.push(Run {
                    key: Some(k),
                    seq,
                    value: v,
                });
            }
            runs.extend(carry.take());
            if runs.len() < FANOUT {
                for run in runs.into_iter().filter(|r| r.key.is_none()) {
                    batch.insert(&run_key(bucket, level, run.seq)[..], run.value);
                }
                break;
            }
            let mut entries: Vec<Entry> = Vec::new();
            let mut seq = 0;
            for run in runs {
                if !run.value.len().is_multiple_of(ENTRY) {
                    return Err(corrupt_run());
                }
                entries.extend(
                    run.value
                        .chunks_exact(ENTRY)
                        .map(|e| <Entry>::try_from(e).unwrap_or([0; ENTRY])),
                );
                seq = seq.max(run.seq);
                if let Some(k) = run.key {
                    batch.remove(k);
                }
            }
            entries.sort_unstable();
            entries.dedup();
            // The merged run takes the greatest sequence of those it replaces: sequences
            // stay unique within a level, since a level 0 run never reuses one.
            carry = Some(Run {
                key: None,
                seq,
                value: sled::IVec::from(entries.concat()),
            });
            merged = true;
        }
        if let Some(run) = carry {
            batch.insert(&run_key(bucket, levels, run.seq)[..], run.value);
        }
        if merged {
            tree.apply_batch(batch)?;
        }
        Ok(())
    }
}

/// Add one entry as a run of its own, with a sequence above every real one (tests that
/// damage an index on purpose).
#[cfg(test)]
pub(crate) fn put_entry(tree: &sled::Tree, kind: &str, value: &str, id: u32, label: i64) {
    let e = entry(&value_digest(kind, value), id, label);
    let mut batch = sled::Batch::default();
    batch.insert(&run_key(e[0], 0, u64::MAX - u64::from(e[1]))[..], &e[..]);
    tree.apply_batch(batch).unwrap();
}

/// Take one entry out of every run that holds it (tests).
#[cfg(test)]
pub(crate) fn drop_entry(tree: &sled::Tree, kind: &str, value: &str, id: u32, label: i64) {
    let e = entry(&value_digest(kind, value), id, label);
    for (k, run) in bucket_runs(tree, e[0]).unwrap() {
        let kept: Vec<u8> = run
            .chunks_exact(ENTRY)
            .filter(|x| *x != e)
            .flatten()
            .copied()
            .collect();
        tree.insert(k, kept).unwrap();
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
