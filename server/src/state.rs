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
    pub auth: Authority,
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
