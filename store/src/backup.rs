//! What moving a store between versions or machines needs beyond the reading API: the
//! dedupe index, every metadata entry whatever its namespace, the label floor, and writing
//! blocks back under the labels they had.
//!
//! Blocks themselves are read out with [`Store::range`], so an export keeps working when
//! the record layout changes; [`Store::restore`] writes them back in the layout of the
//! build that imports them.

use crate::error::StoreError;
use crate::index::PendingIndex;
use crate::keys;
use crate::record;
use crate::store::Store;
use crate::types::NewBlock;
use taxii::Timestamp;

/// A block written back under its original label by [`Store::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredBlock {
    /// The label the block had in the store it came from.
    pub label: Timestamp,
    /// When that store first ingested it.
    pub ingested: Timestamp,
    /// Everything else, hash included; its title and indicator values go into the
    /// indicator index as an append's do.
    pub block: NewBlock,
}

/// One metadata entry, any namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEntry {
    pub ns: String,
    pub key: String,
    pub value: Vec<u8>,
}

// === impl Store ===

impl Store {
    /// Every entry of a collection's dedupe index: (content hash, label of the block
    /// holding that content), in hash order.
    pub fn dedupe_index(&self, collection: &str) -> Result<Vec<([u8; 32], Timestamp)>, StoreError> {
        let id = self.collection_id(collection)?;
        let prefix = keys::hash_prefix(id);
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(prefix) {
            let (k, v) = item?;
            let hash: [u8; 32] = k
                .get(prefix.len()..)
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("hash index key of the wrong shape".into()))?;
            let label = keys::i64_from_value(&v)
                .ok_or_else(|| StoreError::Corrupt("hash index value".into()))?;
            out.push((hash, Timestamp::from_micros(label)));
        }
        Ok(out)
    }

    /// Every metadata entry of every namespace, in key byte order.
    pub fn meta_all(&self) -> Result<Vec<MetaEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix([keys::META]) {
            let (k, v) = item?;
            let bad = || StoreError::Corrupt("metadata key of the wrong shape".into());
            let len = k
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(bad)? as usize;
            let ns = k.get(5..5 + len).ok_or_else(bad)?;
            let key = k.get(5 + len..).ok_or_else(bad)?;
            let text = |b: &[u8]| {
                std::str::from_utf8(b)
                    .map(str::to_owned)
                    .map_err(|_| StoreError::Corrupt("metadata key is not UTF-8".into()))
            };
            out.push(MetaEntry {
                ns: text(ns)?,
                key: text(key)?,
                value: v.to_vec(),
            });
        }
        Ok(out)
    }

    /// The label floor: at or above every label stored and every poll end handed out. A
    /// store that takes over from this one must label new blocks above it.
    pub fn label_floor(&self) -> Timestamp {
        Timestamp::from_micros(self.lock_writer().floor)
    }

    /// Raise the label floor (recorded in the store) so every later label is above `to`.
    pub fn raise_floor(&self, to: Timestamp) -> Result<(), StoreError> {
        let mut floor = self.lock_writer();
        let to = to.as_micros();
        if to > floor.floor {
            floor.floor = to;
        }
        if to > floor.persisted_end {
            self.inner
                .tree
                .insert(keys::G_SNAPSHOT_END, &keys::i64_value(to))?;
            floor.persisted_end = to;
        }
        Ok(())
    }

    /// Write blocks back under the labels they had, in one atomic batch (content first, as
    /// an append does). Labels must increase and follow the collection's last block, and no
    /// hash may be in the collection already: a restore adds to a collection exactly as the
    /// original appends did, so ordinals and counters come out the same. Returns the blocks
    /// written.
    pub fn restore(&self, collection: &str, blocks: Vec<RestoredBlock>) -> Result<u64, StoreError> {
        if blocks.is_empty() {
            return Ok(0);
        }
        let id = self.collection_id(collection)?;
        let mut floor = self.lock_writer();
        let tree = &self.inner.tree;
        let mut stats = self.stats(id)?;
        let mut previous = (stats.total > 0).then_some(stats.last_label);
        let mut seen = std::collections::HashSet::with_capacity(blocks.len());
        for b in &blocks {
            let label = b.label.as_micros();
            if previous.is_some_and(|p| label <= p) {
                return Err(StoreError::Corrupt(format!(
                    "restore into {collection:?}: label {} does not follow the previous block",
                    b.label
                )));
            }
            previous = Some(label);
            if !seen.insert(b.block.hash) || tree.contains_key(keys::hash_key(id, &b.block.hash))? {
                return Err(StoreError::Corrupt(format!(
                    "restore into {collection:?}: the content of the block labelled {} is \
                     already in the collection",
                    b.label
                )));
            }
        }

        // Content first, synced, so the batch below never names bytes that are not on disk.
        let total: u64 = blocks.iter().map(|b| b.block.content.len() as u64).sum();
        self.check_space(total + 256 * blocks.len() as u64)?;
        let (locs, segment_end) = self
            .inner
            .segments
            .write(blocks.iter().map(|b| b.block.content.as_slice()), total)?;

        let mut batch = sled::Batch::default();
        let mut entries = Vec::new();
        let count = blocks.len() as u64;
        for (b, loc) in blocks.into_iter().zip(locs) {
            let label = b.label.as_micros();
            stats.total += 1;
            stats.last_label = label;
            let mut bytes = record::encode(&b.block, stats.total, b.ingested.as_micros())?;
            record::set_loc(&mut bytes, loc);
            batch.insert(&keys::block_key(id, label)[..], bytes);
            batch.insert(
                &keys::hash_key(id, &b.block.hash)[..],
                &keys::i64_value(label),
            );
            PendingIndex::new(&b.block.indicator_values).add_to(&mut entries, id, label);
        }
        let run = self.index_entries(&mut floor, &mut batch, entries);
        batch.insert(&keys::stats_key(id), &stats.encode());
        if stats.last_label > floor.floor {
            batch.insert(keys::G_LAST_LABEL, &keys::i64_value(stats.last_label));
        }
        batch.insert(keys::G_SEGMENT_END, &segment_end.encode());
        tree.apply_batch(batch)?;
        self.inner.segments.commit(segment_end);
        floor.floor = floor.floor.max(stats.last_label);
        self.index_written(run);
        Ok(count)
    }

    /// Add dedupe index entries that point at no block (content that was removed but must
    /// stay refused), as the store being restored had them.
    pub fn restore_dedupe(
        &self,
        collection: &str,
        entries: &[([u8; 32], Timestamp)],
    ) -> Result<(), StoreError> {
        let id = self.collection_id(collection)?;
        let _floor = self.lock_writer();
        let mut batch = sled::Batch::default();
        for (hash, label) in entries {
            batch.insert(
                &keys::hash_key(id, hash)[..],
                &keys::i64_value(label.as_micros()),
            );
        }
        self.inner.tree.apply_batch(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MetaPut;

    fn block(n: u8) -> NewBlock {
        NewBlock {
            binding: "urn:stix.mitre.org:xml:1.1.1".into(),
            subtypes: vec![],
            content: format!("<p n=\"{n}\"/>").into_bytes(),
            ns_context: vec![("stix".into(), "http://stix.mitre.org/stix-1".into())],
            upstream_label: Some(Timestamp::from_micros(1000 + n as i64)),
            package_id: Some(format!("x:p-{n}")),
            indicators: n as u32,
            source: Some("up".into()),
            hash: [n; 32],
            title: Some(format!("pulse {n}")),
            indicator_values: vec![("domain".into(), format!("bad-{n}.example.test"))],
        }
    }

    #[test]
    fn a_store_restored_from_its_reads_polls_the_same() {
        let a_dir = tempfile::tempdir().unwrap();
        let a = Store::open(a_dir.path()).unwrap();
        a.ensure_collection("c").unwrap();
        a.append("c", (1..=5).map(block).collect(), None).unwrap();
        a.append(
            "c",
            vec![block(6)],
            Some(MetaPut {
                ns: "checkpoint".into(),
                key: "up".into(),
                value: b"cp".to_vec(),
            }),
        )
        .unwrap();
        a.meta_put("subscription", "s1", b"{}").unwrap();
        let end = a.snapshot_end();
        let original: Vec<_> = a
            .range("c", None, end)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let index = a.dedupe_index("c").unwrap();
        assert_eq!(index.len(), 6);

        let b_dir = tempfile::tempdir().unwrap();
        let b = Store::open(b_dir.path()).unwrap();
        b.ensure_collection("c").unwrap();
        let hash_of = |label: Timestamp| index.iter().find(|(_, l)| *l == label).unwrap().0;
        let restored: Vec<RestoredBlock> = original
            .iter()
            .map(|s| RestoredBlock {
                label: s.label,
                ingested: s.ingested,
                block: NewBlock {
                    binding: s.binding.clone(),
                    subtypes: s.subtypes.clone(),
                    content: s.content.clone(),
                    ns_context: s.ns_context.clone(),
                    upstream_label: s.upstream_label,
                    package_id: s.package_id.clone(),
                    indicators: s.indicators,
                    source: s.source.clone(),
                    hash: hash_of(s.label),
                    title: Some(format!("pulse {}", s.indicators)),
                    indicator_values: vec![(
                        "domain".into(),
                        format!("bad-{}.example.test", s.indicators),
                    )],
                },
            })
            .collect();
        b.restore("c", restored[..2].to_vec()).unwrap();
        assert!(
            b.restore("c", restored[..1].to_vec()).is_err(),
            "labels go back"
        );
        b.restore("c", restored[2..].to_vec()).unwrap();
        for e in a.meta_all().unwrap() {
            b.meta_put(&e.ns, &e.key, &e.value).unwrap();
        }
        b.raise_floor(a.label_floor()).unwrap();

        let copy: Vec<_> = b
            .range("c", None, end)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(copy, original);
        assert_eq!(b.dedupe_index("c").unwrap(), index);
        assert_eq!(b.meta_all().unwrap(), a.meta_all().unwrap());
        assert_eq!(b.count("c", Some(original[1].label), end).unwrap(), 4);
        assert!(b.verify().unwrap().is_ok(), "{:?}", b.verify().unwrap());
        let hits = b
            .blocks_with_indicator("domain", "bad-4.example.test")
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (hits[0].label, hits[0].title.as_deref()),
            (original[3].label, Some("pulse 4"))
        );
        // The same content is still refused, and new blocks come after every old end.
        let again = b.append("c", vec![block(3), block(9)], None).unwrap();
        assert_eq!((again.stored, again.duplicates), (1, 1));
        assert!(again.labels[0] > end);
    }

    #[test]
    fn restore_refuses_content_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.ensure_collection("c").unwrap();
        s.append("c", vec![block(1)], None).unwrap();
        let far = Timestamp::from_micros(i64::MAX / 2);
        let err = s
            .restore(
                "c",
                vec![RestoredBlock {
                    label: far,
                    ingested: far,
                    block: block(1),
                }],
            )
            .unwrap_err();
        assert!(err.to_string().contains("already"), "{err}");
        assert_eq!(s.total("c").unwrap(), 1);
    }
}
