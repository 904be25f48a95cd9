//! Content segments: block content kept in append-only files beside the sled database.
//!
//! sled holds each block's record, which names where its content lies (segment, offset,
//! length); the bytes live in `segments/NNNNNNNN.seg` inside the store directory. Serving a
//! window reads content with positioned reads, so a long poll streams through the OS page
//! cache instead of growing the process (sled keeps every page a scan touches resident, which
//! made a 400 MB poll cost 400 MB of memory while content lived in the tree).
//!
//! # Crash safety
//! An append writes and syncs the content of its batch first, then applies the sled batch
//! that references it together with the new segment end (`Gsegment-end`). A crash between
//! the two leaves bytes past the recorded end that nothing references; opening the store
//! cuts them off, and removes any segment started after the recorded one. A committed
//! record therefore always points at bytes that were on disk before it was.
//!
//! Only the writer (under the store's writer mutex) appends; readers need no lock, because
//! a record becomes visible only once its bytes are written.

use crate::error::StoreError;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Name of the folder holding the segments inside the store directory.
pub const SEGMENTS_DIR: &str = "segments";
/// A segment is closed and a new one started once it would grow past this size.
const SEGMENT_MAX: u64 = 1 << 30;
/// Suffix of a segment set aside on open because no committed block uses it.
const ORPHAN_SUFFIX: &str = ".orphan";
/// Bytes gathered in memory before one positioned write.
const WRITE_CHUNK: usize = 1 << 20;

/// Where a block's content lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) segment: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// The end of the written data: the segment being appended to and its committed length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentEnd {
    pub(crate) segment: u32,
    pub(crate) len: u64,
}

impl SegmentEnd {
    pub(crate) fn encode(&self) -> [u8; 12] {
        let mut v = [0u8; 12];
        v[..4].copy_from_slice(&self.segment.to_be_bytes());
        v[4..].copy_from_slice(&self.len.to_be_bytes());
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Result<SegmentEnd, StoreError> {
        let segment = v.get(..4).and_then(|b| b.try_into().ok());
        let len = v.get(4..).and_then(|b| b.try_into().ok());
        match (segment, len, v.len()) {
            (Some(s), Some(l), 12) => Ok(SegmentEnd {
                segment: u32::from_be_bytes(s),
                len: u64::from_be_bytes(l),
            }),
            _ => Err(StoreError::Corrupt("segment end".into())),
        }
    }
}

/// The open segment files of one store.
pub(crate) struct Segments {
    dir: PathBuf,
    files: RwLock<HashMap<u32, Arc<File>>>,
    /// The committed end; the next write starts there.
    tail: Mutex<SegmentEnd>,
}

impl Segments {
    /// Open the segment folder of a store whose database records `recorded` as the end of
    /// committed content (`None` for a store that never wrote a segment). Bytes and segments
    /// past that end are removed: no committed record refers to them.
    pub(crate) fn open(dir: &Path, recorded: Option<SegmentEnd>) -> Result<Segments, StoreError> {
        let dir = dir.join(SEGMENTS_DIR);
        fs::create_dir_all(&dir)?;
        let tail = recorded.unwrap_or(SegmentEnd { segment: 1, len: 0 });

        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.ends_with(ORPHAN_SUFFIX)) {
                continue;
            }
            let Some(id) = name.to_str().and_then(parse_name) else {
                return Err(StoreError::Format(format!(
                    "{} holds {name:?}, which is not a segment",
                    dir.display()
                )));
            };
            if id > tail.segment {
                // Started by an append that never committed, or not written by this store
                // at all: no block names it. Kept aside rather than deleted.
                let aside = entry.path().with_extension(&ORPHAN_SUFFIX[1..]);
                tracing::warn!(
                    segment = id,
                    moved_to = %aside.display(),
                    "a segment no committed block uses was set aside"
                );
                fs::rename(entry.path(), aside)?;
            }
        }

        let path = dir.join(file_name(tail.segment));
        if path.exists() {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            if len < tail.len {
                return Err(StoreError::Corrupt(format!(
                    "{} holds {len} bytes, the database says {}",
                    path.display(),
                    tail.len
                )));
            }
            if len > tail.len {
                tracing::warn!(
                    segment = tail.segment,
                    bytes = len - tail.len,
                    "cutting content no committed block uses (an append was interrupted)"
                );
                file.set_len(tail.len)?;
                file.sync_all()?;
            }
        } else if tail.len > 0 {
            return Err(StoreError::Corrupt(format!(
                "{} is missing, the database says it holds {} bytes",
                path.display(),
                tail.len
            )));
        }

        Ok(Segments {
            dir,
            files: RwLock::new(HashMap::new()),
            tail: Mutex::new(tail),
        })
    }

    /// Write `contents` after the committed end and make them durable. Returns each one's
    /// place and the end to record in the batch that references them; call
    /// [`Segments::commit`] with that end once the batch is applied. Writing again without a
    /// commit overwrites the uncommitted bytes.
    pub(crate) fn write<'a>(
        &self,
        contents: impl IntoIterator<Item = &'a [u8]>,
        total: u64,
    ) -> Result<(Vec<Loc>, SegmentEnd), StoreError> {
        let mut end = *self.lock_tail();
        let truncate = end.len > 0 && end.len + total > SEGMENT_MAX;
        if truncate {
            end = SegmentEnd {
                segment: end
                    .segment
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt("segment ids exhausted".into()))?,
                len: 0,
            };
        }
        let file = self.file(end.segment, truncate)?;
        let start = end.len;
        match write_after(&file, contents, total, &mut end) {
            Ok(locs) => Ok((locs, end)),
            Err(e) => {
                // Give back what the failed write took: on a full disk the bytes written
                // before the failure are what the database needs for its own next write.
                if let Err(cut) = file.set_len(start) {
                    tracing::warn!(
                        segment = end.segment,
                        cause = %cut,
                        "could not cut the content of a failed append"
                    );
                }
                Err(e)
            }
        }
    }

    /// Record that the batch referencing everything up to `end` is applied.
    pub(crate) fn commit(&self, end: SegmentEnd) {
        *self.lock_tail() = end;
    }

    /// The content at `loc`.
    pub(crate) fn read(&self, loc: Loc) -> Result<Vec<u8>, StoreError> {
        let file = self.file(loc.segment, false)?;
        let mut out = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut out, loc.offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                StoreError::Corrupt(format!(
                    "segment {} ends before {} + {}",
                    loc.segment, loc.offset, loc.len
                ))
            } else {
                e.into()
            }
        })?;
        Ok(out)
    }

    /// Whether `loc` lies inside the committed content.
    pub(crate) fn contains(&self, loc: Loc) -> bool {
        let tail = *self.lock_tail();
        let end = loc.offset + u64::from(loc.len);
        if loc.segment < tail.segment {
            self.file(loc.segment, false)
                .and_then(|f| Ok(f.metadata()?.len()))
                .is_ok_and(|len| end <= len)
        } else {
            loc.segment == tail.segment && end <= tail.len
        }
    }

    /// Bytes held by every segment file.
    pub(crate) fn size_on_disk(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_str().and_then(parse_name).is_some() {
                total += entry.metadata()?.len();
            }
        }
        Ok(total)
    }

    /// The open file of a segment, opening (and with `fresh`, emptying) it on first use.
    fn file(&self, id: u32, fresh: bool) -> Result<Arc<File>, StoreError> {
        if !fresh {
            let files = self.files.read().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = files.get(&id) {
                return Ok(f.clone());
            }
        }
        let path = self.dir.join(file_name(id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(fresh)
            .open(&path)?;
        let file = Arc::new(file);
        let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
        files.insert(id, file.clone());
        Ok(file)
    }

    fn lock_tail(&self) -> std::sync::MutexGuard<'_, SegmentEnd> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Write `contents` into `file` from `end.len` on, moving `end` past them, and sync.
fn write_after<'a>(
    file: &File,
    contents: impl IntoIterator<Item = &'a [u8]>,
    total: u64,
    end: &mut SegmentEnd,
) -> Result<Vec<Loc>, StoreError> {
    let mut locs = Vec::new();
    let mut buf = Vec::with_capacity(WRITE_CHUNK.min(total as usize));
    let mut buf_at = end.len;
    for content in contents {
        let len = u32::try_from(content.len())
            .map_err(|_| StoreError::TooLarge(format!("content of {} bytes", content.len())))?;
        locs.push(Loc {
            segment: end.segment,
            offset: end.len,
            len,
        });
        end.len += u64::from(len);
        if buf.len() + content.len() > WRITE_CHUNK && !buf.is_empty() {
            file.write_all_at(&buf, buf_at)?;
            buf_at += buf.len() as u64;
            buf.clear();
        }
        if content.len() >= WRITE_CHUNK {
            file.write_all_at(content, buf_at)?;
            buf_at += content.len() as u64;
        } else {
            buf.extend_from_slice(content);
        }
    }
    if !buf.is_empty() {
        file.write_all_at(&buf, buf_at)?;
    }
    if !locs.is_empty() {
        file.sync_data()?;
    }
    Ok(locs)
}

fn file_name(id: u32) -> String {
    format!("{id:08}.seg")
}

fn parse_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_commit_and_cut_on_reopen() {
        let tmp = tempfile_dir();
        let dir = tmp.path();
        let segs = Segments::open(dir, None).unwrap();
        let (locs, end) = segs.write([&b"alpha"[..], &b"beta"[..]], 9).expect("write");
        segs.commit(end);
        assert_eq!(end, SegmentEnd { segment: 1, len: 9 });
        assert_eq!(segs.read(locs[1]).unwrap(), b"beta");
        assert!(segs.contains(locs[1]));

        // An uncommitted write is cut off on the next open.
        let (more, _) = segs.write([&b"gamma"[..]], 5).unwrap();
        assert!(!segs.contains(more[0]));
        drop(segs);
        let segs = Segments::open(dir, Some(end)).unwrap();
        assert_eq!(segs.size_on_disk().unwrap(), 9);
        assert_eq!(segs.read(locs[0]).unwrap(), b"alpha");
        assert!(matches!(segs.read(more[0]), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_segment_shorter_than_recorded_is_refused() {
        let tmp = tempfile_dir();
        let dir = tmp.path();
        let segs = Segments::open(dir, None).unwrap();
        let (_, end) = segs.write([&b"abc"[..]], 3).unwrap();
        segs.commit(end);
        drop(segs);
        let claimed = SegmentEnd {
            segment: 1,
            len: 10,
        };
        assert!(matches!(
            Segments::open(dir, Some(claimed)),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn stray_files_are_refused_and_later_segments_set_aside() {
        let tmp = tempfile_dir();
        let dir = tmp.path();
        fs::create_dir_all(dir.join(SEGMENTS_DIR)).unwrap();
        fs::write(dir.join(SEGMENTS_DIR).join("00000002.seg"), b"orphan").unwrap();
        let segs = Segments::open(dir, None).unwrap();
        assert_eq!(segs.size_on_disk().unwrap(), 0);
        let aside = dir.join(SEGMENTS_DIR).join("00000002.orphan");
        assert_eq!(
            fs::read(&aside).unwrap(),
            b"orphan",
            "set aside, not deleted"
        );
        drop(segs);
        Segments::open(dir, None).expect("a set-aside segment does not block the next open");
        fs::write(dir.join(SEGMENTS_DIR).join("notes.txt"), b"x").unwrap();
        assert!(matches!(
            Segments::open(dir, None),
            Err(StoreError::Format(_))
        ));
    }

    #[test]
    fn names_parse_only_in_their_own_shape() {
        assert_eq!(parse_name("00000012.seg"), Some(12));
        assert_eq!(parse_name(&file_name(7)), Some(7));
        assert_eq!(parse_name("12.seg"), None);
        assert_eq!(parse_name("0000001a.seg"), None);
    }

    fn tempfile_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
