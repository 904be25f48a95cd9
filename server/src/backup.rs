//! `taxii-mirror export DIR` and `taxii-mirror import-backup DIR`: a store moved between
//! versions or machines, losing nothing.
//!
//! Both work on a stopped server's store (sled allows one process per database, so a
//! running server keeps its store locked and the command says so): stop the server, export,
//! copy the folder, import into a new data folder, start the new server on it. An export
//! taken from a stopped store is consistent by construction.
//!
//! TODO(ops): no export from a running server; one through the admin listener (a range read
//! under one snapshot end, written by the server's user) would spare the stop.
//!
//! The export is a folder readable by its owner only (content can be private):
//! - `collection-NNNN.jsonl`: one JSON object per block, in label order: label, ordinal,
//!   ingest time, content hash (the dedupe key), binding, subtypes, namespaces, upstream
//!   label, package id, indicator count, source, content (base64, the exact bytes), and
//!   whether it was withdrawn (withdrawn blocks are kept, out of polls, as in the store).
//! - `dedupe-NNNN.jsonl`: dedupe index entries that point at no block, if any.
//! - `meta.jsonl`: every metadata entry (source checkpoints and status, subscriptions, ...).
//! - `MANIFEST.json`, written last: format, counts, SHA-256 of every file and the label
//!   floor (new labels must stay above every poll end clients were given).
//!
//! Blocks are read with `Store::range`, so an export does not depend on the record layout;
//! the import writes each block back under its label with `Store::restore` in the layout of
//! the build that imports it, with its indicator index entries read again from the content
//! by this build. Import only fills a new, empty store and checks the result with
//! `Store::verify`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{NewBlock, RestoredBlock, Store, StoredBlock};
use taxii::Timestamp;
use tracing::info;

/// First line of every manifest this build writes and reads.
pub const EXPORT_FORMAT: &str = "taxii-mirror export 1";
const MANIFEST: &str = "MANIFEST.json";
const META_FILE: &str = "meta.jsonl";
/// Blocks per restore batch.
const BATCH: usize = 500;

/// The two subcommands (flattened into the command line).
#[derive(clap::Subcommand)]
pub enum BackupCommand {
    /// Write the whole store of a stopped server to a new folder (blocks with their labels,
    /// dedupe index, checkpoints, subscriptions, every other metadata entry).
    Export {
        /// Folder to create (must not exist or be empty).
        dir: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data folder of the store (instead of --config).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Load a folder written by `export` into a new, empty store.
    ImportBackup {
        /// Folder written by `export`.
        dir: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data folder of the new store (instead of --config).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

impl BackupCommand {
    /// The `--config` and `--data` options.
    pub fn store_options(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        match self {
            BackupCommand::Export { config, data, .. }
            | BackupCommand::ImportBackup { config, data, .. } => (config.clone(), data.clone()),
        }
    }

    /// Run against the store in `data_dir`; the line to print on success.
    pub fn run(&self, data_dir: &Path) -> Result<String, BackupError> {
        match self {
            BackupCommand::Export { dir, .. } => {
                let s = export(data_dir, dir)?;
                Ok(format!(
                    "exported {} collections, {} blocks, {} metadata entries from {} to {}",
                    s.collections,
                    s.blocks,
                    s.meta,
                    data_dir.display(),
                    dir.display()
                ))
            }
            BackupCommand::ImportBackup { dir, .. } => {
                let s = import(dir, data_dir)?;
                Ok(format!(
                    "imported {} collections, {} blocks, {} metadata entries from {} into {}",
                    s.collections,
                    s.blocks,
                    s.meta,
                    dir.display(),
                    data_dir.display()
                ))
            }
        }
    }
}

/// Why an export or import failed; each names the file or store concerned.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("store at {path}: {message}")]
    Store { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> BackupError {
    BackupError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// What was moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub collections: usize,
    pub blocks: u64,
    pub meta: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    written_by: String,
    exported_at: String,
    store_format: String,
    /// Every later label must be above this (microseconds since the epoch).
    label_floor_us: i64,
    collections: Vec<CollectionEntry>,
    meta: FileEntry,
}

#[derive(Debug, Serialize, Deserialize)]
struct CollectionEntry {
    name: String,
    blocks: FileEntry,
    orphan_hashes: FileEntry,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    file: String,
    lines: u64,
    sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlockLine {
    label_us: i64,
    ordinal: u64,
    ingested_us: i64,
    hash: String,
    binding: String,
    subtypes: Vec<String>,
    ns_context: Vec<(String, String)>,
    upstream_label_us: Option<i64>,
    package_id: Option<String>,
    indicators: u32,
    source: Option<String>,
    content: String,
    /// Taken out of polls by `withdraw` (kept, with its ordinal and dedupe entry).
    #[serde(default)]
    withdrawn: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct HashLine {
    hash: String,
    label_us: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct MetaLine {
    ns: String,
    key: String,
    value: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn open_store(data_dir: &Path) -> Result<Store, BackupError> {
    Store::open(data_dir).map_err(|e| {
        let message = match e {
            store::StoreError::InUse(_) => "in use by a running taxii-mirror; stop the server \
                                            first (sled allows one process per store)"
                .to_string(),
            e => e.to_string(),
        };
        BackupError::Store {
            path: data_dir.display().to_string(),
            message,
        }
    })
}

fn store_err(data_dir: &Path) -> impl Fn(store::StoreError) -> BackupError + '_ {
    move |e| BackupError::Store {
        path: data_dir.display().to_string(),
        message: e.to_string(),
    }
}

/// A file written line by line, hashed as it goes, readable by its owner only.
struct LineFile {
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    lines: u64,
}

impl LineFile {
    fn create(path: PathBuf) -> Result<LineFile, BackupError> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(io(&path))?;
        Ok(LineFile {
            path,
            out: BufWriter::new(file),
            hash: Sha256::new(),
            lines: 0,
        })
    }

    fn write<T: Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        let mut line = serde_json::to_vec(value).map_err(|e| invalid(&self.path, e.to_string()))?;
        line.push(b'\n');
        self.hash.update(&line);
        self.lines += 1;
        self.out.write_all(&line).map_err(io(&self.path))
    }

    fn finish(mut self) -> Result<FileEntry, BackupError> {
        self.out.flush().map_err(io(&self.path))?;
        self.out.get_ref().sync_all().map_err(io(&self.path))?;
        Ok(FileEntry {
            file: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            lines: self.lines,
            sha256: hex(&self.hash.finalize()),
        })
    }
}

/// Write the store in `data_dir` to the new folder `out`.
pub fn export(data_dir: &Path, out: &Path) -> Result<Summary, BackupError> {
    if !data_dir.join(store::format::FORMAT_FILE).exists() {
        return Err(invalid(data_dir, "no taxii-mirror store here"));
    }
    if out.exists() && fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(invalid(
            out,
            "exists and is not empty; export into a new folder",
        ));
    }
    let store = open_store(data_dir)?;
    let serr = store_err(data_dir);
    fs::create_dir_all(out).map_err(io(out))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(out, fs::Permissions::from_mode(0o700)).map_err(io(out))?;
    }

    let floor = store.label_floor();
    let mut summary = Summary::default();
    let mut collections = Vec::new();
    for (i, name) in store.collections().map_err(&serr)?.into_iter().enumerate() {
        let mut hashes: HashMap<i64, [u8; 32]> = store
            .dedupe_index(&name)
            .map_err(&serr)?
            .into_iter()
            .map(|(h, label)| (label.as_micros(), h))
            .collect();
        let mut blocks = LineFile::create(out.join(format!("collection-{:04}.jsonl", i + 1)))?;
        let mut withdrawn = 0u64;
        for block in store
            .range_with_withdrawn(&name, None, floor)
            .map_err(&serr)?
        {
            let b = block.map_err(&serr)?;
            let is_withdrawn = store.is_withdrawn(&name, b.label).map_err(&serr)?;
            withdrawn += u64::from(is_withdrawn);
            let hash = hashes.remove(&b.label.as_micros()).ok_or_else(|| {
                invalid(
                    data_dir,
                    format!(
                        "collection {name:?}: the block labelled {} has no dedupe index \
                         entry; the store is damaged (see its verify report)",
                        b.label
                    ),
                )
            })?;
            blocks.write(&BlockLine {
                label_us: b.label.as_micros(),
                ordinal: b.ordinal,
                ingested_us: b.ingested.as_micros(),
                hash: hex(&hash),
                binding: b.binding,
                subtypes: b.subtypes,
                ns_context: b.ns_context,
                upstream_label_us: b.upstream_label.map(Timestamp::as_micros),
                package_id: b.package_id,
                indicators: b.indicators,
                source: b.source,
                content: B64.encode(&b.content),
                withdrawn: is_withdrawn,
            })?;
        }
        let total = store.total(&name).map_err(&serr)?;
        if blocks.lines - withdrawn != total {
            return Err(invalid(
                data_dir,
                format!(
                    "collection {name:?}: read {} blocks ({withdrawn} withdrawn) but its \
                     counter says {total} served",
                    blocks.lines
                ),
            ));
        }
        summary.blocks += blocks.lines;
        let mut orphans = LineFile::create(out.join(format!("dedupe-{:04}.jsonl", i + 1)))?;
        let mut rest: Vec<_> = hashes.into_iter().collect();
        rest.sort_unstable();
        for (label, hash) in rest {
            orphans.write(&HashLine {
                hash: hex(&hash),
                label_us: label,
            })?;
        }
        collections.push(CollectionEntry {
            name,
            blocks: blocks.finish()?,
            orphan_hashes: orphans.finish()?,
        });
    }
    summary.collections = collections.len();

    let mut meta = LineFile::create(out.join(META_FILE))?;
    for e in store.meta_all().map_err(&serr)? {
        meta.write(&MetaLine {
            ns: e.ns,
            key: e.key,
            value: B64.encode(&e.value),
        })?;
    }
    summary.meta = meta.lines;
    let manifest = Manifest {
        format: EXPORT_FORMAT.into(),
        written_by: format!("taxii-mirror {}", env!("CARGO_PKG_VERSION")),
        exported_at: Timestamp::now().to_string(),
        store_format: store::format::FORMAT_LINE.into(),
        label_floor_us: floor.as_micros(),
        collections,
        meta: meta.finish()?,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| invalid(out, e.to_string()))?;
    let tmp = LineFile::create(out.join(format!("{MANIFEST}.tmp")))?;
    let tmp_path = tmp.path.clone();
    let mut file = tmp
        .out
        .into_inner()
        .map_err(|e| io(&tmp_path)(e.into_error()))?;
    file.write_all(&text).map_err(io(&tmp_path))?;
    file.sync_all().map_err(io(&tmp_path))?;
    fs::rename(&tmp_path, out.join(MANIFEST)).map_err(io(&tmp_path))?;
    info!(
        from = %data_dir.display(),
        to = %out.display(),
        collections = summary.collections,
        blocks = summary.blocks,
        meta = summary.meta,
        "store exported"
    );
    Ok(summary)
}

/// Check a file's line count and SHA-256 against the manifest before anything is written.
fn check_file(dir: &Path, entry: &FileEntry) -> Result<PathBuf, BackupError> {
    if entry.file.contains(['/', '\\']) || entry.file.starts_with('.') {
        return Err(invalid(
            dir,
            format!("manifest names a bad file {:?}", entry.file),
        ));
    }
    let path = dir.join(&entry.file);
    let mut reader = BufReader::new(File::open(&path).map_err(io(&path))?);
    let (mut hash, mut lines, mut line) = (Sha256::new(), 0u64, Vec::new());
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io(&path))? == 0 {
            break;
        }
        hash.update(&line);
        lines += 1;
    }
    if hex(&hash.finalize()) != entry.sha256 || lines != entry.lines {
        return Err(invalid(
            &path,
            "does not match the manifest (changed or cut short); nothing was imported",
        ));
    }
    Ok(path)
}

/// Read a JSON-lines file, calling `each` with the line number and value.
fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(usize, T) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let reader = BufReader::new(File::open(path).map_err(io(path))?);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io(path))?;
        let value = serde_json::from_str(&line)
            .map_err(|e| invalid(path, format!("line {}: {e}", i + 1)))?;
        each(i + 1, value)?;
    }
    Ok(())
}

/// Load the export in `from` into the new, empty store in `data_dir`.
pub fn import(from: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    let manifest_path = from.join(MANIFEST);
    let text = fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| invalid(&manifest_path, format!("not an export manifest: {e}")))?;
    if manifest.format != EXPORT_FORMAT {
        return Err(invalid(
            &manifest_path,
            format!(
                "format {:?}; this build reads {EXPORT_FORMAT:?}",
                manifest.format
            ),
        ));
    }
    // Every file is checked before the store is touched.
    let mut files = Vec::new();
    for c in &manifest.collections {
        files.push((
            check_file(from, &c.blocks)?,
            check_file(from, &c.orphan_hashes)?,
        ));
    }
    let meta_path = check_file(from, &manifest.meta)?;

    let store = open_store(data_dir)?;
    let serr = store_err(data_dir);
    if !store.collections().map_err(&serr)?.is_empty()
        || !store.meta_all().map_err(&serr)?.is_empty()
    {
        return Err(BackupError::Store {
            path: data_dir.display().to_string(),
            message: "is not empty; import into a new data folder".into(),
        });
    }

    let mut summary = Summary::default();
    for (c, (blocks_path, orphans_path)) in manifest.collections.iter().zip(&files) {
        store.ensure_collection(&c.name).map_err(&serr)?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut expected = 1u64;
        let mut withdrawn = Vec::new();
        read_lines(blocks_path, |n, b: BlockLine| {
            if b.ordinal != expected {
                return Err(invalid(
                    blocks_path,
                    format!("line {n}: ordinal {} where {expected} was due", b.ordinal),
                ));
            }
            expected += 1;
            if b.withdrawn {
                withdrawn.push(Timestamp::from_micros(b.label_us));
            }
            let hash = unhex32(&b.hash)
                .ok_or_else(|| invalid(blocks_path, format!("line {n}: bad hash")))?;
            let content = B64
                .decode(&b.content)
                .map_err(|e| invalid(blocks_path, format!("line {n}: content: {e}")))?;
            let stored = StoredBlock {
                label: Timestamp::from_micros(b.label_us),
                ordinal: b.ordinal,
                binding: b.binding,
                subtypes: b.subtypes,
                content,
                ns_context: b.ns_context,
                upstream_label: b.upstream_label_us.map(Timestamp::from_micros),
                package_id: b.package_id,
                indicators: b.indicators,
                source: b.source,
                ingested: Timestamp::from_micros(b.ingested_us),
            };
            // The indicator index is derived from the content, by this build's reader.
            let (title, indicator_values) = crate::lookup::index_values_of(&stored);
            batch.push(RestoredBlock {
                label: stored.label,
                ingested: stored.ingested,
                block: NewBlock {
                    binding: stored.binding,
                    subtypes: stored.subtypes,
                    content: stored.content,
                    ns_context: stored.ns_context,
                    upstream_label: stored.upstream_label,
                    package_id: stored.package_id,
                    indicators: stored.indicators,
                    source: stored.source,
                    hash,
                    title,
                    indicator_values,
                },
            });
            if batch.len() == BATCH {
                summary.blocks += store
                    .restore(&c.name, std::mem::take(&mut batch))
                    .map_err(&serr)?;
            }
            Ok(())
        })?;
        summary.blocks += store.restore(&c.name, batch).map_err(&serr)?;
        if !withdrawn.is_empty() {
            store
                .withdraw(&c.name, &withdrawn, Vec::new(), &[])
                .map_err(&serr)?;
        }
        let mut orphans = Vec::new();
        read_lines(orphans_path, |n, h: HashLine| {
            let hash = unhex32(&h.hash)
                .ok_or_else(|| invalid(orphans_path, format!("line {n}: bad hash")))?;
            orphans.push((hash, Timestamp::from_micros(h.label_us)));
            Ok(())
        })?;
        store.restore_dedupe(&c.name, &orphans).map_err(&serr)?;
        summary.collections += 1;
    }
    read_lines(&meta_path, |n, m: MetaLine| {
        let value = B64
            .decode(&m.value)
            .map_err(|e| invalid(&meta_path, format!("line {n}: value: {e}")))?;
        store.meta_put(&m.ns, &m.key, &value).map_err(&serr)?;
        summary.meta += 1;
        Ok(())
    })?;
    store
        .raise_floor(Timestamp::from_micros(manifest.label_floor_us))
        .map_err(&serr)?;
    store.flush().map_err(&serr)?;

    let report = store.verify().map_err(&serr)?;
    if !report.is_ok() {
        return Err(BackupError::Store {
            path: data_dir.display().to_string(),
            message: format!(
                "imported store fails its check: {}",
                report.problems.join("; ")
            ),
        });
    }
    let expected: u64 = manifest.collections.iter().map(|c| c.blocks.lines).sum();
    if summary.blocks != expected {
        return Err(BackupError::Store {
            path: data_dir.display().to_string(),
            message: format!(
                "{} blocks imported, the export holds {expected}",
                summary.blocks
            ),
        });
    }
    info!(
        from = %from.display(),
        to = %data_dir.display(),
        collections = summary.collections,
        blocks = summary.blocks,
        meta = summary.meta,
        "store imported"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u8) -> NewBlock {
        NewBlock {
            binding: "urn:stix.mitre.org:xml:1.1.1".into(),
            subtypes: vec!["s".into()],
            content: vec![b'<', n, 0xff, b'>'],
            ns_context: vec![],
            upstream_label: None,
            package_id: None,
            indicators: 1,
            source: Some("inbox:esa".into()),
            hash: [n; 32],
            title: None,
            indicator_values: vec![],
        }
    }

    #[test]
    fn export_then_import_gives_the_same_store() {
        let root = tempfile::tempdir().unwrap();
        let (a, out, b) = (
            root.path().join("a"),
            root.path().join("out"),
            root.path().join("b"),
        );
        let end = {
            let s = Store::open(&a).unwrap();
            s.ensure_collection("one").unwrap();
            s.ensure_collection("two").unwrap();
            s.append("one", (0..7).map(block).collect(), None).unwrap();
            s.meta_put("checkpoint", "up\u{1}feed", b"\x00\x01")
                .unwrap();
            let labels: Vec<_> = s
                .range("one", None, s.snapshot_end())
                .unwrap()
                .map(|b| b.unwrap().label)
                .collect();
            s.withdraw(
                "one",
                &labels[2..4],
                vec![],
                &[("v".into(), b"note".to_vec())],
            )
            .unwrap();
            let end = s.snapshot_end();
            s.flush().unwrap();
            end
        };
        assert_eq!(
            export(&a, &out).unwrap(),
            Summary {
                collections: 2,
                blocks: 7,
                meta: 2
            }
        );
        assert!(
            export(&a, &out).is_err(),
            "an existing export is never overwritten"
        );
        import(&out, &b).unwrap();
        assert!(
            import(&out, &b).is_err(),
            "import refuses a store that is not empty"
        );
        let (sa, sb) = (Store::open(&a).unwrap(), Store::open(&b).unwrap());
        for c in ["one", "two"] {
            let x: Vec<_> = sa
                .range(c, None, end)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let y: Vec<_> = sb
                .range(c, None, end)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(x, y);
            let all = |s: &Store| -> Vec<_> {
                s.range_with_withdrawn(c, None, end)
                    .unwrap()
                    .map(|b| {
                        let b = b.unwrap();
                        (s.is_withdrawn(c, b.label).unwrap(), b)
                    })
                    .collect()
            };
            assert_eq!(all(&sa), all(&sb));
            assert_eq!(sa.total(c).unwrap(), sb.total(c).unwrap());
            assert_eq!(
                sa.count(c, None, end).unwrap(),
                sb.count(c, None, end).unwrap()
            );
            assert_eq!(sa.dedupe_index(c).unwrap(), sb.dedupe_index(c).unwrap());
        }
        assert_eq!(sa.meta_all().unwrap(), sb.meta_all().unwrap());
        assert_eq!(sb.total("one").unwrap(), 5);
        assert_eq!(sb.withdrawn_values("one").unwrap().len(), 1);
        assert!(sb.snapshot_end() >= end);
    }

    #[test]
    fn a_changed_export_is_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        let (a, out, b) = (
            root.path().join("a"),
            root.path().join("out"),
            root.path().join("b"),
        );
        {
            let s = Store::open(&a).unwrap();
            s.ensure_collection("one").unwrap();
            s.append("one", (0..3).map(block).collect(), None).unwrap();
        }
        export(&a, &out).unwrap();
        let file = out.join("collection-0001.jsonl");
        let text = fs::read_to_string(&file).unwrap();
        fs::write(
            &file,
            text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n",
        )
        .unwrap();
        let err = import(&out, &b).unwrap_err().to_string();
        assert!(
            err.contains("collection-0001.jsonl") && err.contains("manifest"),
            "{err}"
        );
        assert!(!b.exists(), "nothing was written");
    }
}
