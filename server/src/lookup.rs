//! Look-ups: which collections and blocks hold a value, from the store's indicator index.
//!
//! The value is typed and put in canonical form the same way imports and ingest do (see
//! `stix::detect`), so `Evil.Example.COM.` finds `evil.example.com`.

use serde::{Deserialize, Serialize};
use stix::detect::{self, Rejection};

/// Blocks listed in one answer at most.
pub const MAX_HITS: usize = 1000;

/// The answer to one look-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LookupReply {
    /// What was asked.
    pub query: String,
    /// The kind it was read as.
    pub kind: String,
    /// The canonical value looked up.
    pub value: String,
    /// Blocks holding it, by collection then age.
    pub hits: Vec<Hit>,
    /// More blocks hold it than are listed.
    pub truncated: bool,
    /// False while blocks stored before the index existed are not indexed yet.
    pub index_ready: bool,
}

/// One block holding the value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub collection: String,
    /// The block's label (its place in the collection, as polls see it).
    pub label: String,
    /// When the block was stored.
    pub ingested: String,
    pub package_id: Option<String>,
    /// Package title; for OTX the pulse name.
    pub title: Option<String>,
    /// Mirror source, `inbox:<user>` or `import:<file>`.
    pub source: Option<String>,
}

/// Why a look-up has no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{query:?}: {why}")]
    Value { query: String, why: Rejection },
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
}

impl LookupError {
    /// HTTP status of the admin reply.
    pub fn http_status(&self) -> u16 {
        match self {
            LookupError::Value { .. } => 400,
            LookupError::Store(_) => 500,
        }
    }
}

/// Look a value up (blocking). `kind` names the type when the value alone is ambiguous.
///
/// TODO(lookup): exact values only: an address inside a stored network, or a host under a
/// stored domain, is not found; that needs range keys for networks and reversed domain keys.
pub fn lookup(
    store: &store::Store,
    query: &str,
    kind: Option<&str>,
) -> Result<LookupReply, LookupError> {
    let typed = match kind {
        Some(k) => detect::detect_as(k, query),
        None => detect::detect(query),
    };
    let indicator = typed.map_err(|why| LookupError::Value {
        query: query.to_owned(),
        why,
    })?;
    let kind = indicator.kind.as_str();
    let mut found = store.first_blocks_with_indicator(kind, &indicator.value, MAX_HITS + 1)?;
    let truncated = found.len() > MAX_HITS;
    found.truncate(MAX_HITS);
    Ok(LookupReply {
        query: query.to_owned(),
        kind: kind.to_owned(),
        value: indicator.value,
        hits: found
            .into_iter()
            .map(|h| Hit {
                collection: h.collection,
                label: h.label.to_string(),
                ingested: h.ingested.to_string(),
                package_id: h.package_id,
                title: h.title,
                source: h.source,
            })
            .collect(),
        truncated,
        index_ready: store.index_ready()?,
    })
}

/// The title and index entries of a stored block, read from its content: what ingest
/// computes, for indexing blocks stored before the index existed.
pub fn index_values_of(block: &store::StoredBlock) -> (Option<String>, Vec<(String, String)>) {
    match stix::summarize(&block.content, &block.ns_context) {
        Ok(summary) => (summary.title, stix::index_entries(&summary.observables)),
        Err(e) => {
            tracing::warn!(
                label = %block.label,
                package_id = ?block.package_id,
                cause = %e,
                "stored block is not readable STIX; it is not indexed"
            );
            (None, Vec::new())
        }
    }
}

/// Print a reply for people: one line per block.
pub fn print(reply: &LookupReply) {
    if reply.hits.is_empty() {
        crate::say!("{} {}: not held by any collection", reply.kind, reply.value);
    } else {
        crate::say!(
            "{} {}: {} block{}{}",
            reply.kind,
            reply.value,
            reply.hits.len(),
            if reply.hits.len() == 1 { "" } else { "s" },
            if reply.truncated { " (first ones)" } else { "" }
        );
    }
    for h in &reply.hits {
        crate::say!(
            "  collection={} ingested={} source={} package={} title={}",
            h.collection,
            h.ingested,
            h.source.as_deref().unwrap_or("-"),
            h.package_id.as_deref().unwrap_or("-"),
            h.title
                .as_deref()
                .map(|t| format!("{t:?}"))
                .unwrap_or("-".into()),
        );
    }
    if !reply.index_ready {
        crate::say!("note: the index is still being built; older blocks may be missing");
    }
}
