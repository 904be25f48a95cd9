//! The binary record a block is stored as.
//!
//! Layout (all integers big-endian, strings UTF-8 with a u32 length prefix):
//!
//! ```text
//! u8   version (1)
//! u64  ordinal            fixed offset 1, so `count` reads it without decoding the rest
//! i64  ingested (µs)
//! [32] content hash       fixed offset 17, read by `verify`
//! u32  indicators
//! u8   upstream label present (0/1), then i64 when 1
//! str  binding
//! u32  subtype count, then str each
//! u32  namespace count, then (str prefix, str uri) each
//! u8   package id present, then str
//! u8   source present, then str
//! version 3 only: u8 title present, then str (cut to 1 KiB; read by indicator look-ups)
//! version 1:  u32 content length, then the content bytes exactly as given
//! version 2, 3:  u32 segment, u64 offset, u32 length: where the content lies (`segments`)
//! ```
//!
//! The label is not in the record: it is the block's key. This build writes version 3 and
//! reads all three, so a store written before content moved to segments, or before titles
//! moved from the indicator index into the record, is served as it is.

use crate::error::StoreError;
use crate::segments::Loc;
use crate::types::{NewBlock, StoredBlock};
use taxii::Timestamp;

/// Version byte of the layout with the content inside the record.
pub(crate) const RECORD_V1: u8 = 1;
/// Version byte of the layout with the content in a segment.
pub(crate) const RECORD_V2: u8 = 2;
/// Version byte of the layout that also holds the title (written by this build).
pub(crate) const RECORD_V3: u8 = 3;
/// Titles are cut to this many bytes (at a character boundary).
pub(crate) const MAX_TITLE: usize = 1024;
/// Bytes of the content's place at the end of a version 2 record.
const LOC_LEN: usize = 16;
const ORDINAL_AT: usize = 1;
const HASH_AT: usize = 17;
const FIXED_HEAD: usize = HASH_AT + 32;

/// Encode one block with its ordinal and ingest time, in version 3: the content's place is
/// left zero and set with [`set_loc`] once the content is written.
pub(crate) fn encode(block: &NewBlock, ordinal: u64, ingested: i64) -> Result<Vec<u8>, StoreError> {
    encode_version(block, ordinal, ingested, RECORD_V3)
}

/// [`encode`] in version 2 or 3 (version 2 leaves the title out).
pub(crate) fn encode_version(
    block: &NewBlock,
    ordinal: u64,
    ingested: i64,
    version: u8,
) -> Result<Vec<u8>, StoreError> {
    let title = block.title.as_deref().map(|t| truncate(t, MAX_TITLE));
    let strings: usize = block.binding.len()
        + block.subtypes.iter().map(|s| s.len() + 4).sum::<usize>()
        + block
            .ns_context
            .iter()
            .map(|(p, u)| p.len() + u.len() + 8)
            .sum::<usize>()
        + block.package_id.as_ref().map_or(0, |s| s.len())
        + block.source.as_ref().map_or(0, |s| s.len())
        + title.map_or(0, str::len);
    let mut out = Vec::with_capacity(FIXED_HEAD + 48 + strings + LOC_LEN);

    out.push(version);
    out.extend_from_slice(&ordinal.to_be_bytes());
    out.extend_from_slice(&ingested.to_be_bytes());
    out.extend_from_slice(&block.hash);
    out.extend_from_slice(&block.indicators.to_be_bytes());
    match block.upstream_label {
        Some(ts) => {
            out.push(1);
            out.extend_from_slice(&ts.as_micros().to_be_bytes());
        }
        None => out.push(0),
    }
    put_bytes(&mut out, block.binding.as_bytes(), "binding")?;
    put_len(&mut out, block.subtypes.len(), "subtype list")?;
    for s in &block.subtypes {
        put_bytes(&mut out, s.as_bytes(), "subtype")?;
    }
    put_len(&mut out, block.ns_context.len(), "namespace list")?;
    for (prefix, uri) in &block.ns_context {
        put_bytes(&mut out, prefix.as_bytes(), "namespace prefix")?;
        put_bytes(&mut out, uri.as_bytes(), "namespace uri")?;
    }
    put_opt(&mut out, block.package_id.as_deref(), "package id")?;
    put_opt(&mut out, block.source.as_deref(), "source")?;
    if version >= RECORD_V3 {
        put_opt(&mut out, title, "title")?;
    }
    put_len(&mut out, block.content.len(), "content")?;
    out.extend_from_slice(&[0u8; LOC_LEN]);
    Ok(out)
}

/// Write the content's place into a version 2 record made by [`encode`].
pub(crate) fn set_loc(bytes: &mut [u8], loc: Loc) {
    let at = bytes.len().saturating_sub(LOC_LEN);
    if let Some(slot) = bytes.get_mut(at..) {
        slot[..4].copy_from_slice(&loc.segment.to_be_bytes());
        slot[4..12].copy_from_slice(&loc.offset.to_be_bytes());
        slot[12..].copy_from_slice(&loc.len.to_be_bytes());
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_len(out: &mut Vec<u8>, len: usize, what: &str) -> Result<(), StoreError> {
    let len = u32::try_from(len).map_err(|_| StoreError::TooLarge(format!("{what}: {len}")))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<(), StoreError> {
    put_len(out, bytes.len(), what)?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>, what: &str) -> Result<(), StoreError> {
    match s {
        Some(s) => {
            out.push(1);
            put_bytes(out, s.as_bytes(), what)
        }
        None => {
            out.push(0);
            Ok(())
        }
    }
}

/// Check the version byte and length of a record's fixed head.
fn check_head(bytes: &[u8]) -> Result<(), StoreError> {
    match bytes.first() {
        Some(&(RECORD_V1 | RECORD_V2 | RECORD_V3)) if bytes.len() >= FIXED_HEAD => Ok(()),
        Some(&(RECORD_V1 | RECORD_V2 | RECORD_V3)) => {
            Err(corrupt("record shorter than its fixed head"))
        }
        Some(v) => Err(corrupt(&format!("unknown record version {v}"))),
        None => Err(corrupt("empty record")),
    }
}

/// The ordinal of a record, read from its fixed head without decoding the rest.
pub(crate) fn ordinal_of(bytes: &[u8]) -> Result<u64, StoreError> {
    check_head(bytes)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[ORDINAL_AT..ORDINAL_AT + 8]);
    Ok(u64::from_be_bytes(b))
}

/// Overwrite the ordinal of an encoded record (it is known only under the writer lock).
pub(crate) fn set_ordinal(bytes: &mut [u8], ordinal: u64) {
    if let Some(slot) = bytes.get_mut(ORDINAL_AT..ORDINAL_AT + 8) {
        slot.copy_from_slice(&ordinal.to_be_bytes());
    }
}

/// The content hash of a record, read from its fixed head.
pub(crate) fn hash_of(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    check_head(bytes)?;
    let mut h = [0u8; 32];
    h.copy_from_slice(&bytes[HASH_AT..HASH_AT + 32]);
    Ok(h)
}

/// Decode a record stored under `label`. A version 1 record carries its content; for a
/// version 2 or 3 record the content is left empty and its place is returned with it.
pub(crate) fn decode(label: i64, bytes: &[u8]) -> Result<(StoredBlock, Option<Loc>), StoreError> {
    decode_full(label, bytes).map(|d| (d.block, d.loc))
}

/// A decoded record with what [`StoredBlock`] does not carry.
pub(crate) struct Decoded {
    pub(crate) block: StoredBlock,
    pub(crate) loc: Option<Loc>,
    /// The title, for a version 3 record; `None` inside means the block has none.
    pub(crate) title: Option<Option<String>>,
}

/// [`decode`] with the title of a version 3 record.
pub(crate) fn decode_full(label: i64, bytes: &[u8]) -> Result<Decoded, StoreError> {
    check_head(bytes)?;
    let version = bytes[0];
    let mut r = Reader { rest: &bytes[1..] };
    let ordinal = r.u64()?;
    let ingested = r.i64()?;
    r.take(32)?;
    let indicators = r.u32()?;
    let upstream_label = match r.u8()? {
        0 => None,
        1 => Some(Timestamp::from_micros(r.i64()?)),
        t => return Err(corrupt(&format!("bad upstream label tag {t}"))),
    };
    let binding = r.string()?;
    let n = r.count(4)?;
    let mut subtypes = Vec::with_capacity(n);
    for _ in 0..n {
        subtypes.push(r.string()?);
    }
    let n = r.count(8)?;
    let mut ns_context = Vec::with_capacity(n);
    for _ in 0..n {
        let prefix = r.string()?;
        ns_context.push((prefix, r.string()?));
    }
    let package_id = r.opt_string()?;
    let source = r.opt_string()?;
    let title = if version >= RECORD_V3 {
        Some(r.opt_string()?)
    } else {
        None
    };
    let (content, loc) = if version == RECORD_V1 {
        (r.bytes()?.to_vec(), None)
    } else {
        let len = r.u32()?;
        let loc = Loc {
            segment: r.u32()?,
            offset: r.u64()?,
            len: r.u32()?,
        };
        if loc.len != len {
            return Err(corrupt("content length and its place disagree"));
        }
        (Vec::new(), Some(loc))
    };
    if !r.rest.is_empty() {
        return Err(corrupt("trailing bytes after content"));
    }

    let block = StoredBlock {
        label: Timestamp::from_micros(label),
        ordinal,
        binding,
        subtypes,
        content,
        ns_context,
        upstream_label,
        package_id,
        indicators,
        source,
        ingested: Timestamp::from_micros(ingested),
    };
    Ok(Decoded { block, loc, title })
}

/// A version 3 record rewritten as version 2 wrote it (no title): how stores made before
/// titles moved into the record look, for upgrade tests.
#[cfg(test)]
pub(crate) fn as_version_2(label: i64, bytes: &[u8]) -> Vec<u8> {
    let title = decode_full(label, bytes).unwrap().title.unwrap();
    let field = 1 + title.map_or(0, |t| 4 + t.len());
    let tail = bytes.len() - 4 - LOC_LEN;
    let mut out = bytes[..tail - field].to_vec();
    out.extend_from_slice(&bytes[tail..]);
    out[0] = RECORD_V2;
    out
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("block record: {what}"))
}

/// A bounds-checked cursor over a record.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A list length; rejected when the remaining bytes cannot hold that many items of at
    /// least `min_item` bytes, so a corrupt count never drives a huge allocation.
    fn count(&mut self, min_item: usize) -> Result<usize, StoreError> {
        let n = usize::try_from(self.u32()?).map_err(|_| corrupt("list length"))?;
        if n.saturating_mul(min_item) > self.rest.len() {
            return Err(corrupt("list length beyond record"));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = usize::try_from(self.u32()?).map_err(|_| corrupt("field length"))?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
    }

    fn opt_string(&mut self) -> Result<Option<String>, StoreError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            t => Err(corrupt(&format!("bad option tag {t}"))),
        }
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
