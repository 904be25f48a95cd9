//! Key layout of the single sled tree.
//!
//! Every record lives in one tree so that one `apply_batch` covers blocks, the hash index,
//! counters and metadata at once. The first byte of a key names its kind; integers are
//! big-endian so that sled's byte order is numeric order.
//!
//! | key | value |
//! |---|---|
//! | `C` name bytes | collection id (u32) |
//! | `S` id | collection stats: total (u64), last label (i64) |
//! | `B` id label | block record (see `record`) |
//! | `H` id hash(32) | label (i64) of the block holding that content |
//! | `M` len(ns) u32, ns, key | metadata value |
//! | `G` name | store-wide values (next collection id, last label, last snapshot end, segment end) |
//! | `K`, `J` (`I` in format 2) | the indicator index (see `index`) |
//! | `W` id label | withdrawal marker of that block (see `withdraw`) |
//!
//! Collection names appear only in `C` keys, where they run to the end of the key, so any
//! name is unambiguous; everything else refers to a collection by its fixed-width id.

/// Kind byte of a collection directory entry.
pub(crate) const COLLECTION: u8 = b'C';
/// Kind byte of a collection's counters.
pub(crate) const STATS: u8 = b'S';
/// Kind byte of a content block.
pub(crate) const BLOCK: u8 = b'B';
/// Kind byte of a hash index entry.
pub(crate) const HASH: u8 = b'H';
/// Kind byte of a metadata entry.
pub(crate) const META: u8 = b'M';
/// Kind byte of a withdrawal marker.
pub(crate) const WITHDRAWN: u8 = b'W';

/// Store-wide key: the id the next new collection gets.
pub(crate) const G_NEXT_COLLECTION: &[u8] = b"Gnext-collection";
/// Store-wide key: the greatest label ever assigned.
pub(crate) const G_LAST_LABEL: &[u8] = b"Glast-label";
/// Store-wide key: the greatest snapshot end ever handed out.
pub(crate) const G_SNAPSHOT_END: &[u8] = b"Gsnapshot-end";
/// Store-wide key: the end of committed content in the segments (segment u32, length u64).
pub(crate) const G_SEGMENT_END: &[u8] = b"Gsegment-end";

/// Length of a block key: kind, collection id, label.
pub(crate) const BLOCK_KEY_LEN: usize = 1 + 4 + 8;
/// Length of a hash index key: kind, collection id, hash.
pub(crate) const HASH_KEY_LEN: usize = 1 + 4 + 32;

/// Map a signed label onto an unsigned value with the same order (flip the sign bit).
pub(crate) fn label_bytes(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`label_bytes`].
pub(crate) fn label_from_bytes(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// Encode an i64 as plain big-endian bytes (for values, not keys).
pub(crate) fn i64_value(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Decode an 8-byte big-endian i64 value; `None` when the length is wrong.
pub(crate) fn i64_from_value(v: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(v.try_into().ok()?))
}

/// `C` + name: the directory entry of one collection.
pub(crate) fn collection_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(COLLECTION);
    k.extend_from_slice(name.as_bytes());
    k
}

/// `S` + id: the counters of one collection.
pub(crate) fn stats_key(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = STATS;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k
}

/// `B` + id: the prefix every block key of one collection starts with.
pub(crate) fn block_prefix(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = BLOCK;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k
}

/// `B` + id + label: one block.
pub(crate) fn block_key(id: u32, label: i64) -> [u8; BLOCK_KEY_LEN] {
    let mut k = [0u8; BLOCK_KEY_LEN];
    k[..5].copy_from_slice(&block_prefix(id));
    k[5..].copy_from_slice(&label_bytes(label));
    k
}

/// The label part of a block key; `None` when the key is not a block key.
pub(crate) fn label_of_block_key(key: &[u8]) -> Option<i64> {
    if key.len() != BLOCK_KEY_LEN || key[0] != BLOCK {
        return None;
    }
    Some(label_from_bytes(key[5..].try_into().ok()?))
}

/// `W` + id + label: the marker of one withdrawn block (same shape as its block key).
pub(crate) fn withdrawn_key(id: u32, label: i64) -> [u8; BLOCK_KEY_LEN] {
    let mut k = block_key(id, label);
    k[0] = WITHDRAWN;
    k
}

/// `H` + id: the prefix of one collection's hash index.
pub(crate) fn hash_prefix(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = HASH;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k
}

/// `H` + id + hash: one hash index entry.
pub(crate) fn hash_key(id: u32, hash: &[u8; 32]) -> [u8; HASH_KEY_LEN] {
    let mut k = [0u8; HASH_KEY_LEN];
    k[..5].copy_from_slice(&hash_prefix(id));
    k[5..].copy_from_slice(hash);
    k
}

/// `M` + length-prefixed namespace: the prefix of one metadata namespace.
pub(crate) fn meta_prefix(ns: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + ns.len());
    k.push(META);
    // Namespaces are short program constants; a length beyond u32 cannot occur in practice,
    // and saturating keeps the function total.
    let len = u32::try_from(ns.len()).unwrap_or(u32::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(ns.as_bytes());
    k
}

/// One metadata entry: the namespace prefix followed by the key.
pub(crate) fn meta_key(ns: &str, key: &str) -> Vec<u8> {
    let mut k = meta_prefix(ns);
    k.extend_from_slice(key.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_bytes_keep_order_across_sign() {
        let values = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        for w in values.windows(2) {
            assert!(label_bytes(w[0]) < label_bytes(w[1]));
        }
        for v in values {
            assert_eq!(label_from_bytes(label_bytes(v)), v);
        }
    }

    #[test]
    fn block_keys_round_trip_and_sort() {
        let a = block_key(7, 10);
        let b = block_key(7, 11);
        let c = block_key(8, i64::MIN);
        assert!(a < b && b < c);
        assert_eq!(label_of_block_key(&a), Some(10));
        assert_eq!(label_of_block_key(&a[..6]), None);
    }

    #[test]
    fn meta_prefixes_do_not_overlap() {
        // "ab" + key "c" must not be confused with "a" + key "bc".
        assert_ne!(meta_key("ab", "c"), meta_key("a", "bc"));
        assert!(!meta_key("ab", "c").starts_with(&meta_prefix("a")));
    }
}
