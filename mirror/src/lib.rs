//! Upstream sources mirrored into local collections: any TAXII 1.1 poll service, AlienVault
//! OTX over TAXII 1.1, and OTX DirectConnect (REST). One tokio task per source.
//!
//! What a source guarantees: each window's blocks and the checkpoint after them are written
//! in one atomic store batch, so a crash at any point neither loses nor duplicates anything;
//! a response that is not wholly well-formed stores nothing; a Status_Message is never read
//! as "no new data"; nothing is sent anywhere unless configured (an OTX source without its
//! API key is disabled).
//!
//! # Layout
//! - [`config`]: the `[[source]]` tables ([`SourceConfig`]) and their checks.
//! - [`status`]: [`SourceStatus`], what `taxii-mirror status` shows; persisted in store meta.
//! - [`checkpoint`]: per upstream collection, how far it has been read.
//! - `source`: a source's task: setup, the run loop, sleeping, shared helpers.
//! - `schedule`: after a run: status, logs, next run, backoff, window span.
//! - `upstream`: URLs and credentials, secrets read from the environment.
//! - `taxii_run` / `poll` / `taxii_client` / `discovery`: the TAXII 1.1 path: windows,
//!   result parts, one HTTP exchange, finding the poll service.
//! - `rest`: the OTX DirectConnect path.
//! - `ingest`: received blocks or pulses to store blocks.
//! - `http`, `backoff`: client setup and bounded reads; retry delays.
//! - [`error`]: one error enum per layer.
//!
//! # Behaviour worth knowing
//! - Windows: the first run back-fills `backfill_days` in `window_days` windows, oldest
//!   first; later runs poll `(checkpoint, now - end_lag]` in windows of the same size. Every
//!   poll sends an explicit begin and end.
//! - Next checkpoint: the upstream's `Inclusive_End_Timestamp`, capped at our end; if it is
//!   earlier than our end the upstream is caught up and the run stops there; if it is not after
//!   our begin the checkpoint stays. When omitted: the greatest `Timestamp_Label` received in
//!   the window, else our end (logged once per run).
//! - Faults ([`error::FaultClass`]): transient ones (timeouts, connection errors, 5xx, 408,
//!   429, FAILURE / RETRY statuses, truncated, HTML, non-UTF-8, DOCTYPE, malformed, odd
//!   paging, unreadable STIX in a block) store nothing from that window, back off
//!   exponentially with jitter and halve the window (down to `min_window_secs`); after five
//!   failures on the smallest window (or that no smaller window can help) one `ALERT` error
//!   line. Auth failures (UNAUTHORIZED / DENIED, HTTP 401 / 403) stop the source until restart
//!   or poll-now, with one error line. Rejections (HTTP 400 / 406 / other 4xx, redirects,
//!   protocol mismatch, other statuses, client setup) log an error and wait for the regular
//!   interval: retrying sooner cannot help.
//! - Blocks without any mapped indicator (header-only packages, non-STIX content) are not
//!   stored; they are counted (`total_no_indicators`) and the checkpoint still advances.
//! - Indicator counts are mapped observables (what an appliance uses), in blocks newly
//!   stored; re-sent blocks are counted as duplicates.
//! - Secrets come from environment variables (`password_env`, `api_key_env`). A literal
//!   `password` is accepted for dummy values such as OTX's ignored password. Secrets are
//!   wrapped in [`Secret`], whose `Debug` prints `***`; they never reach a log line.
//! - OTX REST commits each page's blocks as it arrives but writes the checkpoint (greatest
//!   pulse `modified`) only with the last page: pages may come newest first, and a run cut
//!   short re-reads from the old checkpoint while content hashes keep anything from being
//!   stored twice. A `next` link to another scheme, host or port is refused.
//! - Discovery only accepts a poll service on the discovery URL's own host and port (the
//!   credentials go there), HTTPS unless discovery itself is plain HTTP.
#![forbid(unsafe_code)]

mod backoff;
pub mod checkpoint;
pub mod config;
mod discovery;
pub mod error;
mod filter;
mod http;
mod ingest;
mod poll;
mod rest;
mod schedule;
mod source;
pub mod status;
mod taxii_client;
mod taxii_run;
mod upstream;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::Store;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::warn;

pub use checkpoint::{checkpoint_key, Checkpoint, CHECKPOINT_NS};
pub use config::{validate_all, Secret, SourceConfig, SourceKind};
pub use error::{ConfigError, MirrorError};
pub use filter::{Curated, Curation, Dropped};
pub use status::{persisted_status, Progress, SourceState, SourceStatus, STATUS_NS};

use source::{Shared, SourceTask};

/// How long [`MirrorHandle::shutdown`] waits for sources to finish their current batch.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Entry point: starts the sources.
pub struct Mirror;

impl Mirror {
    /// Start one task per source on the current tokio runtime (must be called inside one;
    /// actix-web's runtime is tokio). Sources with a bad table, a duplicate name or a missing
    /// secret are reported as disabled in status instead of failing the server.
    pub fn start(store: Store, sources: Vec<SourceConfig>) -> MirrorHandle {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut shared = Vec::new();
        let mut tasks = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for cfg in sources {
            let (first_tx, _) = watch::channel(false);
            let sh = Arc::new(Shared {
                name: cfg.name.clone(),
                status: Mutex::new(SourceStatus::new(
                    &cfg.name,
                    cfg.kind.as_str(),
                    &cfg.collection,
                )),
                wake: Notify::new(),
                first_run: first_tx,
            });
            if !names.insert(cfg.name.clone()) {
                warn!(source = %cfg.name, "source disabled: name used twice");
                sh.update(|s| {
                    s.state = SourceState::Disabled;
                    s.last_error = Some(ConfigError::DuplicateName(cfg.name.clone()).to_string());
                });
                sh.first_run.send_replace(true);
                continue;
            }
            if !cfg.enabled {
                sh.update(|s| s.state = SourceState::Disabled);
            }
            let task = SourceTask::new(cfg, store.clone(), sh.clone(), shutdown_rx.clone());
            tasks.push(tokio::spawn(task.run()));
            shared.push(sh);
        }
        MirrorHandle {
            inner: Arc::new(Inner {
                sources: shared,
                shutdown: shutdown_tx,
                tasks: Mutex::new(tasks),
            }),
        }
    }
}

struct Inner {
    sources: Vec<Arc<Shared>>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Control of running sources. Cheap to clone. Dropping every handle leaves the sources
/// running; call [`MirrorHandle::shutdown`] to stop them.
#[derive(Clone)]
pub struct MirrorHandle {
    inner: Arc<Inner>,
}

impl MirrorHandle {
    fn find(&self, name: &str) -> Result<&Arc<Shared>, MirrorError> {
        self.inner
            .sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| MirrorError::UnknownSource(name.to_string()))
    }

    /// Run the source now instead of at its next scheduled time (also retries a source
    /// stopped by an authentication failure). If it is running, it runs again right after.
    pub fn poll_now(&self, name: &str) -> Result<(), MirrorError> {
        if *self.inner.shutdown.borrow() {
            return Err(MirrorError::ShuttingDown);
        }
        let source = self.find(name)?;
        if source.snapshot().state == SourceState::Disabled {
            return Err(MirrorError::Disabled(name.to_string()));
        }
        source.wake.notify_one();
        Ok(())
    }

    /// Status of every source, in configuration order.
    pub fn status(&self) -> Vec<SourceStatus> {
        self.inner.sources.iter().map(|s| s.snapshot()).collect()
    }

    /// Status of one source.
    pub fn source_status(&self, name: &str) -> Result<SourceStatus, MirrorError> {
        Ok(self.find(name)?.snapshot())
    }

    /// Resolve when every source has finished its first run, successfully or not (disabled
    /// sources count as finished at once).
    pub async fn wait_first_run(&self) {
        for s in &self.inner.sources {
            let mut rx = s.first_run.subscribe();
            // The sender lives in `Shared`, which we hold: this cannot fail.
            let _ = rx.wait_for(|done| *done).await;
        }
    }

    /// Stop every source: a window being committed finishes its batch, requests in flight
    /// are dropped (nothing from them is stored), and each task gets [`SHUTDOWN_GRACE`]
    /// before it is aborted.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = match self.inner.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        };
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                warn!("a source did not stop within the shutdown grace period; aborting it");
                task.abort();
            }
        }
    }
}
