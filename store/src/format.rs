//! The store directory: a `FORMAT` file naming the layout version, the sled database in a
//! folder named for its key layout (`db-v1`), and the content segments (`segments`).
//!
//! Format 2 added the segments; a format 1 store (content inside sled records) opens as it
//! is, since this build reads every record version. Format 3 groups the indicator index
//! into runs (see `index`) and keeps titles in block records. Format 4 keys those runs by
//! level first. A store of an earlier format is marked format 4 when it opens, then its
//! index entries are converted (format 2) or its runs renamed (format 3). A build that
//! knows only an earlier format then refuses the store instead of misreading it.

use crate::error::StoreError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Contents of `FORMAT` for the layout this build reads and writes.
pub const FORMAT_LINE: &str = "taxii-mirror store format 4";
/// The earlier layouts, which this build upgrades in place.
const FORMAT_LINE_V1: &str = "taxii-mirror store format 1";
const FORMAT_LINE_V2: &str = "taxii-mirror store format 2";
const FORMAT_LINE_V3: &str = "taxii-mirror store format 3";
/// Name of the format file inside the store directory.
pub const FORMAT_FILE: &str = "FORMAT";
/// Name of the sled database folder inside the store directory.
pub const DB_DIR: &str = "db-v1";

/// Check (or create) the store directory and return the path of its sled database.
///
/// A missing or empty directory becomes a new store. A directory with a `FORMAT` file is
/// accepted only when the file names this format. Anything else is refused, so the store
/// never writes into a folder that holds something unrelated.
pub(crate) fn prepare_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    if dir.exists() {
        make_private(dir)?;
    } else {
        // A folder made here is the owner's alone from the start (no warning to give).
        use std::os::unix::fs::DirBuilderExt;
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
            _ => {}
        }
        make_private(dir)?;
    }
    let format_path = dir.join(FORMAT_FILE);

    match fs::read(&format_path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let found = text.trim_end();
            if ![FORMAT_LINE, FORMAT_LINE_V3, FORMAT_LINE_V2, FORMAT_LINE_V1].contains(&found) {
                return Err(StoreError::Format(format!(
                    "{} says {found:?}, this build reads {FORMAT_LINE:?}",
                    format_path.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A leftover temporary format file from a crash during creation does not count.
            let tmp_name = format!("{FORMAT_FILE}.tmp");
            for entry in fs::read_dir(dir)? {
                let name = entry?.file_name();
                if name != tmp_name.as_str() {
                    return Err(StoreError::Format(format!(
                        "{} is not a taxii-mirror store: it has no {FORMAT_FILE} file but holds {name:?}",
                        dir.display(),
                    )));
                }
            }
            write_format(dir)?;
        }
        Err(e) => return Err(e.into()),
    }

    let db = dir.join(DB_DIR);
    if db.exists() && !db.is_dir() {
        return Err(StoreError::Format(format!(
            "{} exists but is not a directory",
            db.display()
        )));
    }
    Ok(db)
}

/// Keep the store directory to its owner: it holds private collections' content in clear,
/// and the files sled and the segments create follow the process umask. A directory that
/// group or others may enter is narrowed to 0700, with a warning.
fn make_private(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "store directory was open to group or others; narrowed to 0700"
        );
    }
    Ok(())
}

/// Mark an opened store as this build's format (an upgrade rewrites the file).
pub(crate) fn mark_current(dir: &Path) -> Result<(), StoreError> {
    let current = fs::read(dir.join(FORMAT_FILE))?;
    if current.trim_ascii_end() != FORMAT_LINE.as_bytes() {
        write_format(dir)?;
        tracing::info!(dir = %dir.display(), "store upgraded to {FORMAT_LINE:?}");
    }
    Ok(())
}

/// Write `FORMAT` through a temporary file and a rename, so a crash never leaves a partial
/// format file.
fn write_format(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(FORMAT_LINE.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(FORMAT_FILE))?;
    Ok(())
}
