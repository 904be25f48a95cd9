//! What each source is doing and has done: shown by `taxii-mirror status`, the admin
//! endpoint and logs, and persisted in store meta (namespace [`STATUS_NS`]) so it survives a
//! restart and can be read while the server is stopped.

use serde::{Deserialize, Serialize};
use store::Store;

use crate::error::MirrorError;

/// Store meta namespace of persisted source status (key = source name, value = JSON).
pub const STATUS_NS: &str = "source-status";

/// A source's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Waiting for its next run.
    #[default]
    Idle,
    /// Polling now.
    Running,
    /// Not polling: disabled in config, bad config or its secret is not set.
    Disabled,
    /// Upstream refused the credentials; waits for restart or poll-now.
    AuthFailed,
    /// The last run failed; retrying per schedule.
    Failing,
}

/// Back-fill (or catch-up) progress of the current or last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// Windows (REST: pages) committed in this run.
    pub windows_done: u64,
    /// Windows (REST: pages) this run expects, an estimate.
    pub windows_total: u64,
}

/// Status of one source. Times are RFC 3339 UTC strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SourceStatus {
    /// Source name.
    pub name: String,
    /// `taxii11`, `otx` or `otx-rest`.
    pub kind: String,
    /// Local collection fed.
    pub collection: String,
    /// Current state.
    pub state: SourceState,
    /// End of the last run that succeeded.
    pub last_success: Option<String>,
    /// Last error, with its time in `last_error_at`. Kept after a later success.
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<String>,
    /// Blocks stored by the last run.
    pub last_run_blocks: u64,
    /// Indicators (mapped observables) in the blocks stored by the last run.
    pub last_run_indicators: u64,
    /// Re-sent blocks skipped by the last run.
    pub last_run_duplicates: u64,
    /// Duration of the last run in milliseconds.
    pub last_run_ms: u64,
    /// Blocks stored since the status was first written.
    pub total_blocks: u64,
    /// Indicators stored since the status was first written.
    pub total_indicators: u64,
    /// Duplicates skipped since the status was first written.
    pub total_duplicates: u64,
    /// Blocks not stored because they held no indicator (header-only packages).
    pub total_no_indicators: u64,
    /// Blocks whose invalid UTF-8 was replaced (lenient decoding).
    pub total_repaired: u64,
    /// Consecutive failed runs.
    pub consecutive_failures: u32,
    /// Runs finished (successfully or not) since the status was first written.
    #[serde(default)]
    pub total_runs: u64,
    /// Runs that failed since the status was first written.
    #[serde(default)]
    pub total_failures: u64,
    /// Time spent in finished runs since the status was first written, in milliseconds.
    #[serde(default)]
    pub total_run_ms: u64,
    /// When the next run is due; `None` while disabled or after an auth failure.
    pub next_run: Option<String>,
    /// Progress of the current (or last) run.
    pub backfill: Progress,
}

impl SourceStatus {
    /// A fresh status, before any run.
    pub fn new(name: &str, kind: &str, collection: &str) -> Self {
        SourceStatus {
            name: name.to_string(),
            kind: kind.to_string(),
            collection: collection.to_string(),
            ..Default::default()
        }
    }
}

/// Read every persisted status (e.g. for `taxii-mirror status` while the server is stopped).
pub fn persisted_status(store: &Store) -> Result<Vec<SourceStatus>, MirrorError> {
    let mut out = Vec::new();
    for (name, value) in store.meta_scan(STATUS_NS)? {
        let s: SourceStatus = serde_json::from_slice(&value)
            .map_err(|e| MirrorError::Decode(format!("status of {name}: {e}")))?;
        out.push(s);
    }
    Ok(out)
}

/// Persist one status (blocking: call from a blocking context).
pub(crate) fn save_status(store: &Store, status: &SourceStatus) -> Result<(), MirrorError> {
    let json = serde_json::to_vec(status).map_err(|e| MirrorError::Decode(e.to_string()))?;
    store.meta_put(STATUS_NS, &status.name, &json)?;
    Ok(())
}

/// Load one persisted status (blocking).
pub(crate) fn load_status(store: &Store, name: &str) -> Option<SourceStatus> {
    let raw = store.meta_get(STATUS_NS, name).ok()??;
    serde_json::from_slice(&raw).ok()
}
