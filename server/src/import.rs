//! Imports into private collections, on the server side: the values the command line read
//! from a team's files become STIX 1.2 packages, minus the values the collection already
//! holds, stored in one atomic batch.
//!
//! The command line (see [`crate::lists`]) reads and checks the files; the server checks
//! every value again (it trusts no client), then writes. A collection fed by a mirror source
//! takes no import: its content is what the upstream sent.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use stix::list::{list_packages, ListEntry, ListOrigin};
use stix::{Indicator, IndicatorKind};
use taxii::Timestamp;

use crate::state::AppState;

/// Indicators per package when the collection does not say.
pub const DEFAULT_PACKAGE_SIZE: usize = 1000;
/// Largest number of values one import may carry.
pub const MAX_ENTRIES: usize = 1_000_000;

/// One import, as the command line sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// What the values were called (file names): package titles and the block source.
    pub name: String,
    /// Indicators per package; the collection's `import_package_size` when absent.
    #[serde(default)]
    pub package_size: Option<usize>,
    pub entries: Vec<ImportEntry>,
}

/// One value of an import.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportEntry {
    /// Indicator kind name (`domain`, `url`, `ipv4`, ...).
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339 time after which the value is no longer valid.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReply {
    pub collection: String,
    /// Values stored.
    pub added: u64,
    /// Values not stored because the collection already held them (or the import named
    /// them twice).
    pub skipped: u64,
    /// Values not stored because the allowlist, the values withdrawn from the collection
    /// or its profile keep them out.
    #[serde(default)]
    pub refused: u64,
    /// Values stored, by kind.
    pub added_by_kind: BTreeMap<String, u64>,
    /// Ids of the packages stored.
    pub packages: Vec<String>,
}

/// Why an import was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("collection {0:?} is not in the configuration")]
    NoCollection(String),
    #[error("collection {collection:?} is mirrored from the source {source_name:?}; imports go to private collections only")]
    Mirrored {
        collection: String,
        source_name: String,
    },
    #[error("entry {index}: {message}")]
    BadEntry { index: usize, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
}

impl ImportError {
    /// HTTP status of the admin reply.
    pub fn http_status(&self) -> u16 {
        match self {
            ImportError::NoCollection(_) => 404,
            ImportError::Mirrored { .. } => 409,
            ImportError::BadEntry { .. } | ImportError::TooLarge(_) => 400,
            ImportError::Store(_) => 500,
        }
    }
}

/// Imports run one at a time, so that two imports of one value cannot both find it absent.
static IMPORTS: Mutex<()> = Mutex::new(());

/// Check, dedupe, build and store one import (blocking: run off the async threads).
///
/// TODO(import): an expiry is written into the package (Valid_Time_Position) but the
/// block stays served after it; pruning expired values needs the revised-block path that
/// withdrawal uses.
pub fn apply(
    state: &AppState,
    collection: &str,
    request: ImportRequest,
    now: Timestamp,
) -> Result<ImportReply, ImportError> {
    let Some(config) = state.collections.get(collection) else {
        return Err(ImportError::NoCollection(collection.to_owned()));
    };
    if let Some(source) = state
        .config
        .sources
        .iter()
        .find(|s| s.collection == collection)
    {
        return Err(ImportError::Mirrored {
            collection: collection.to_owned(),
            source_name: source.name.clone(),
        });
    }
    if request.entries.len() > MAX_ENTRIES {
        return Err(ImportError::TooLarge(format!(
            "{} values in one import; at most {MAX_ENTRIES}",
            request.entries.len()
        )));
    }
    let package_size = request
        .package_size
        .or(config.import_package_size)
        .unwrap_or(DEFAULT_PACKAGE_SIZE);
    if package_size == 0 {
        return Err(ImportError::TooLarge("package size 0".into()));
    }
    let entries = checked_entries(request.entries)?;

    let _one_at_a_time = IMPORTS.lock().unwrap_or_else(|p| p.into_inner());
    let store = &state.store;
    let mut seen = HashSet::with_capacity(entries.len());
    let mut fresh = Vec::with_capacity(entries.len());
    let mut skipped = 0u64;
    let mut refused = 0u64;
    let curation = state.curation(collection);
    let allow = curation.effective(store, collection)?;
    let wanted = |k: IndicatorKind| {
        curation
            .profile
            .kinds
            .as_ref()
            .is_none_or(|ks| ks.contains(&k))
    };
    for entry in entries {
        let i = &entry.indicator;
        if allow.matches(i) || !wanted(i.kind) {
            refused += 1;
            continue;
        }
        let key = (i.kind, i.value.clone());
        if !seen.insert(key)
            || store.collection_holds_indicator(collection, i.kind.as_str(), &i.value)?
        {
            skipped += 1;
            continue;
        }
        fresh.push(entry);
    }

    let mut reply = ImportReply {
        collection: collection.to_owned(),
        skipped,
        refused,
        ..ImportReply::default()
    };
    if fresh.is_empty() {
        return Ok(reply);
    }
    let origin = ListOrigin {
        collection: collection.to_owned(),
        name: request.name.clone(),
        produced: now,
    };
    let source = format!("import:{}", request.name);
    let mut blocks = Vec::new();
    for package in list_packages(&fresh, package_size, &origin) {
        for i in &package.indicators {
            *reply.added_by_kind.entry(i.kind.to_string()).or_default() += 1;
        }
        reply.added += package.indicators.len() as u64;
        reply.packages.push(package.id.clone());
        let binding = taxii::BINDING_STIX_12;
        blocks.push(store::NewBlock {
            hash: stix::content_hash(binding, &package.xml),
            binding: binding.to_owned(),
            subtypes: Vec::new(),
            content: package.xml,
            ns_context: Vec::new(),
            upstream_label: None,
            package_id: Some(package.id),
            indicators: u32::try_from(package.indicators.len()).unwrap_or(u32::MAX),
            source: Some(source.clone()),
            title: Some(package.title),
            indicator_values: stix::index_entries(&package.indicators),
        });
    }
    // One batch: the whole import is stored, or none of it.
    store.append(collection, blocks, None)?;
    store.flush()?;
    Ok(reply)
}

/// Every entry checked again and put in canonical form; the first bad one refuses all.
fn checked_entries(entries: Vec<ImportEntry>) -> Result<Vec<ListEntry>, ImportError> {
    entries
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            let bad = |message: String| ImportError::BadEntry { index, message };
            let kind = IndicatorKind::parse(&e.kind)
                .filter(|k| *k != IndicatorKind::Mutex)
                .ok_or_else(|| bad(format!("unknown kind {:?}", e.kind)))?;
            let value = stix::detect::canonical(kind, &e.value)
                .ok_or_else(|| bad(format!("{:?} is not a valid {kind} value", e.value)))?;
            let valid_until = e
                .valid_until
                .as_deref()
                .map(Timestamp::parse)
                .transpose()
                .map_err(|err| bad(format!("valid_until: {err}")))?;
            let description = e
                .description
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty());
            Ok(ListEntry {
                indicator: Indicator::new(kind, value),
                description,
                valid_until,
            })
        })
        .collect()
}
