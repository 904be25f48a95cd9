//! The indicator index: which blocks of which collections hold a given indicator value.
//!
//! Two key kinds in the store's single tree, written in the same batch as the block they
//! describe, so the index never disagrees with the blocks after a crash:
//!
//! | key | value |
//! |---|---|
//! | `I` len(kind) u8, kind, len(value) u32, value, collection id u32, label | empty |
//! | `J` collection id u32, label | block facts: ingested, package id, title, source |
//!
//! A look-up is one prefix scan of `I` (the lengths make every prefix unambiguous) and one
//! point read of `J` per block found: it costs the same in a store of a thousand indicators
//! as in one of millions. The store keys values exactly as given: callers pass canonical
//! spellings (see `stix::detect::canonical`) both when they append and when they look up.
//! Values longer than [`MAX_KEYED_VALUE`] bytes are keyed by their SHA-256 instead.
//!
//! `Store::verify` checks the index both ways: each `I` entry has its block and its `J`
//! facts, each `J` its block, each block its `J`; `Store::verify_deep` also reads every
//! block's indicators again and checks that each has its `I` entry.

use sha2::{Digest, Sha256};
use taxii::Timestamp;

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Kind byte of an indicator index entry.
pub(crate) const INDICATOR: u8 = b'I';
/// Kind byte of a block's look-up facts.
pub(crate) const BLOCK_INFO: u8 = b'J';
/// Store-wide key: present once every block of the store is in the index.
pub(crate) const G_INDEX_READY: &[u8] = b"Gindex-v1";

/// Values up to this length are keyed as they are; longer ones by their SHA-256 (a 0xFF
/// byte, which UTF-8 text never holds, then the digest).
pub const MAX_KEYED_VALUE: usize = 512;

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

/// The prefix every entry for `(kind, value)` starts with.
pub(crate) fn value_prefix(kind: &str, value: &str) -> Vec<u8> {
    let kind = &kind.as_bytes()[..kind.len().min(255)];
    let digest;
    let value: &[u8] = if value.len() > MAX_KEYED_VALUE {
        let mut d = vec![0xFF];
        d.extend_from_slice(&Sha256::digest(value.as_bytes()));
        digest = d;
        &digest
    } else {
        value.as_bytes()
    };
    let mut k = Vec::with_capacity(2 + kind.len() + 4 + value.len() + 12);
    k.push(INDICATOR);
    k.push(kind.len() as u8);
    k.extend_from_slice(kind);
    // At most 512 bytes, or 33 for a digest.
    k.extend_from_slice(&(value.len() as u32).to_be_bytes());
    k.extend_from_slice(value);
    k
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

/// The id and label every `I` key of one block ends with.
pub(crate) fn entry_suffix(id: u32, label: i64) -> [u8; 12] {
    let mut suffix = [0u8; 12];
    suffix[..4].copy_from_slice(&id.to_be_bytes());
    suffix[4..].copy_from_slice(&keys::label_bytes(label));
    suffix
}

/// What an append writes for one block, prepared outside the writer lock; the collection
/// id and label are added under it.
pub(crate) struct PendingIndex {
    prefixes: Vec<Vec<u8>>,
    info: Vec<u8>,
}

impl PendingIndex {
    /// Prepare the entries of a block holding `values` (`(kind, value)` pairs).
    pub(crate) fn new(
        values: &[(String, String)],
        ingested: i64,
        package_id: Option<&str>,
        title: Option<&str>,
        source: Option<&str>,
    ) -> PendingIndex {
        let mut prefixes: Vec<Vec<u8>> = values.iter().map(|(k, v)| value_prefix(k, v)).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        let mut info = Vec::with_capacity(64);
        info.push(1u8);
        info.extend_from_slice(&ingested.to_be_bytes());
        for field in [package_id, title, source] {
            match field {
                Some(s) => {
                    // Titles are cut to 1 KiB; ids and source names are short.
                    let s = truncate(s, 1024);
                    info.push(1);
                    info.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    info.extend_from_slice(s.as_bytes());
                }
                None => info.push(0),
            }
        }
        PendingIndex { prefixes, info }
    }

    /// Add this block's entries to `batch` once it is stored as `(id, label)`.
    pub(crate) fn write(self, batch: &mut sled::Batch, id: u32, label: i64) {
        let suffix = entry_suffix(id, label);
        for mut key in self.prefixes {
            key.extend_from_slice(&suffix);
            batch.insert(key, &[][..]);
        }
        batch.insert(&info_key(id, label)[..], self.info);
    }
}

/// `kind value` of an `I` key, for a problem report (digests and long values shortened).
fn describe_entry(key: &[u8]) -> String {
    let kind_len = usize::from(key.get(1).copied().unwrap_or(0));
    let kind = key.get(2..2 + kind_len).unwrap_or_default();
    let value = key
        .get(2 + kind_len + 4..key.len().saturating_sub(12))
        .unwrap_or_default();
    let value = if value.first() == Some(&0xFF) {
        "(hashed)".to_string()
    } else {
        truncate(&String::from_utf8_lossy(value), 80).to_string()
    };
    format!("{} {value}", String::from_utf8_lossy(kind))
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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

/// Split the `(id, label)` suffix off an `I` key, checking that the key has the shape
/// [`value_prefix`] and [`PendingIndex::write`] give it.
fn id_label_of(key: &[u8]) -> Option<(u32, i64)> {
    let kind_len = usize::from(*key.get(1)?);
    let at = 2 + kind_len;
    let value_len = u32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?) as usize;
    if key.first() != Some(&INDICATOR) || key.len() != at + 4 + value_len + 12 {
        return None;
    }
    let n = key.len().checked_sub(12)?;
    let id = u32::from_be_bytes(key[n..n + 4].try_into().ok()?);
    let label = keys::label_from_bytes(key[n + 4..].try_into().ok()?);
    Some((id, label))
}

/// `I` entries checked under one hold of the writer lock by [`Store::verify_indicator_index`].
const VERIFY_CHUNK: usize = 10_000;

// === impl Store ===

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
        for item in tree.scan_prefix(value_prefix(kind, value)) {
            if hits.len() >= limit {
                break;
            }
            let (k, _) = item?;
            let (id, label) =
                id_label_of(&k).ok_or_else(|| StoreError::Corrupt("indicator index key".into()))?;
            // A withdrawn block no longer holds anything anyone is served.
            if tree.contains_key(keys::withdrawn_key(id, label))? {
                continue;
            }
            let Some(collection) = names.get(&id) else {
                return Err(StoreError::Corrupt(format!(
                    "indicator index names unknown collection id {id}"
                )));
            };
            let info = match tree.get(info_key(id, label))? {
                Some(v) => decode_info(&v)?,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "indicator index: block {label} of {collection:?} has no facts"
                    )))
                }
            };
            hits.push(IndicatorHit {
                collection: collection.clone(),
                label: Timestamp::from_micros(label),
                ingested: Timestamp::from_micros(info.ingested),
                package_id: info.package_id,
                title: info.title,
                source: info.source,
            });
        }
        Ok(hits)
    }

    /// Whether any block of `collection` holds the indicator `(kind, value)` (canonical
    /// spelling): one bounded prefix scan.
    pub fn collection_holds_indicator(
        &self,
        collection: &str,
        kind: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let id = self.collection_id(collection)?;
        let mut prefix = value_prefix(kind, value);
        prefix.extend_from_slice(&id.to_be_bytes());
        Ok(self
            .inner
            .tree
            .scan_prefix(prefix)
            .next()
            .transpose()?
            .is_some())
    }

    /// Check every `I` entry: well formed, its block stored, its `J` facts present. Walks the
    /// entries in key order in chunks, each under the writer lock (an append writes a block
    /// and its entries in one batch, so a chunk never sees half of one), and keeps nothing
    /// but the last key between chunks. Returns the number of entries.
    pub(crate) fn verify_indicator_index(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<u64, StoreError> {
        let tree = &self.inner.tree;
        let mut entries = 0u64;
        let mut from: Vec<u8> = vec![INDICATOR];
        loop {
            let _floor = self.lock_writer();
            let mut seen = 0usize;
            let mut last = None;
            for item in tree.range(from.clone()..) {
                let (k, _) = item?;
                if k.first() != Some(&INDICATOR) {
                    break;
                }
                entries += 1;
                seen += 1;
                match id_label_of(&k) {
                    None => problems.push(format!(
                        "indicator index: malformed entry of {} bytes",
                        k.len()
                    )),
                    Some((id, label)) => {
                        if !tree.contains_key(keys::block_key(id, label))? {
                            problems.push(format!(
                                "indicator index: entry {} names missing block {label} of collection id {id}",
                                describe_entry(&k)
                            ));
                        } else if !tree.contains_key(info_key(id, label))? {
                            problems.push(format!(
                                "indicator index: entry {} has no facts for block {label} of collection id {id}",
                                describe_entry(&k)
                            ));
                        }
                    }
                }
                if seen == VERIFY_CHUNK {
                    // The smallest key after this one.
                    let mut next = k.to_vec();
                    next.push(0);
                    last = Some(next);
                    break;
                }
            }
            match last {
                Some(k) => from = k,
                None => return Ok(entries),
            }
        }
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
        let _writer = self.lock_writer();
        let tree = &self.inner.tree;
        let mut indexed = 0u64;
        for (_, id) in self.collection_ids()? {
            let mut batch = sled::Batch::default();
            let mut in_batch = 0usize;
            for item in tree.scan_prefix(keys::block_prefix(id)) {
                let (k, v) = item?;
                let Some(label) = keys::label_of_block_key(&k) else {
                    continue;
                };
                let (mut block, loc) = crate::record::decode(label, &v)?;
                if let Some(loc) = loc {
                    block.content = self.inner.segments.read(loc)?;
                }
                let (title, values) = values_of(&block);
                PendingIndex::new(
                    &values,
                    block.ingested.as_micros(),
                    block.package_id.as_deref(),
                    title.as_deref(),
                    block.source.as_deref(),
                )
                .write(&mut batch, id, label);
                indexed += 1;
                in_batch += 1;
                if in_batch == 1000 {
                    tree.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
            tree.apply_batch(batch)?;
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
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
