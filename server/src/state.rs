//! State shared by every request handler.

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::Authority;
use crate::config::{Collection, Config};
use crate::results::ResultSets;

/// Everything a handler needs, built once by [`crate::app::App::build`].
pub struct AppState {
    pub config: Config,
    pub store: store::Store,
    pub auth: Arc<Authority>,
    pub results: ResultSets,
    /// Collections by name, as configured.
    pub collections: HashMap<String, Collection>,
    /// Advertised base URL of the HTTPS listener (no trailing slash).
    pub https_base: String,
    /// Advertised base URL of the plain-HTTP listener, when there is one.
    pub http_base: Option<String>,
    pub mirror: Option<mirror::MirrorHandle>,
    /// Allowlist and profile of each collection, by name.
    pub curations: HashMap<String, mirror::Curation>,
    /// Counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Set once the start-up sweep of a changed allowlist has ended; the TAXII listeners
    /// serve only after it, and `/readyz` fails before.
    pub swept: std::sync::atomic::AtomicBool,
}

/// Shared handle.
pub type State = Arc<AppState>;

impl AppState {
    /// The curation of a collection (an empty one for a name not configured).
    pub fn curation(&self, collection: &str) -> mirror::Curation {
        self.curations.get(collection).cloned().unwrap_or_default()
    }

    /// Collection names in config order.
    pub fn collection_names(&self) -> Vec<String> {
        self.config
            .collections
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }
}

/// Each configured collection with its block count and last label, then each collection
/// the store holds that the configuration no longer names (its data is kept, never
/// served), marked `"configured": false` (blocking: reads the store).
pub fn collection_status(state: &AppState) -> Vec<serde_json::Value> {
    let entry = |name: &str, configured: bool| {
        serde_json::json!({
            "name": name,
            "blocks": state.store.total(name).unwrap_or(0),
            "last_label": state.store.last_label(name).ok().flatten().map(|t| t.to_string()),
            "configured": configured,
        })
    };
    let mut out: Vec<serde_json::Value> = state
        .config
        .collections
        .iter()
        .map(|c| entry(&c.name, true))
        .collect();
    for name in state.store.collections().unwrap_or_default() {
        if !state.collections.contains_key(&name) {
            out.push(entry(&name, false));
        }
    }
    out
}

/// Metadata namespace and key of the collection names configured at the last start.
const CONFIGURED: (&str, &str) = ("server", "configured_collections");

/// Record the configured collection names in the store.
pub fn record_configured(store: &store::Store, names: &[String]) -> Result<(), store::StoreError> {
    let json = serde_json::to_vec(names).unwrap_or_default();
    store.meta_put(CONFIGURED.0, CONFIGURED.1, &json)
}

/// The collection names configured at the server's last start, when it recorded them.
pub fn configured_at_last_start(store: &store::Store) -> Option<Vec<String>> {
    let bytes = store.meta_get(CONFIGURED.0, CONFIGURED.1).ok()??;
    serde_json::from_slice(&bytes).ok()
}
