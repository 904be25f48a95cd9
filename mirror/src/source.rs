//! One source's task: setup, the run loop, sleeping between runs, and the helpers its runs
//! share (cancellation, store calls, the HTTP client).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::Store;
use taxii::Timestamp;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use crate::config::SourceConfig;
use crate::error::SourceError;
use crate::status::{save_status, SourceState, SourceStatus};
use crate::taxii_client::{Credentials, TaxiiEndpoint};
use crate::upstream::Upstream;

/// State shared between a source task and the handle.
pub(crate) struct Shared {
    pub name: String,
    pub status: Mutex<SourceStatus>,
    pub wake: Notify,
    pub first_run: watch::Sender<bool>,
}

impl Shared {
    pub fn snapshot(&self) -> SourceStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut SourceStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Add committed blocks to the source's totals (shown while a back-fill runs).
    pub fn count_blocks(&self, c: &RunStats) {
        self.update(|s| {
            s.total_blocks += c.blocks;
            s.total_indicators += c.indicators;
            s.total_duplicates += c.duplicates;
            s.total_no_indicators += c.no_indicators;
            s.total_repaired += c.repaired;
        });
    }
}

/// Counts of one run (or one collection of it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunStats {
    pub blocks: u64,
    pub indicators: u64,
    pub duplicates: u64,
    pub no_indicators: u64,
    pub repaired: u64,
    pub windows: u64,
}

impl RunStats {
    pub fn add(&mut self, o: &RunStats) {
        self.blocks += o.blocks;
        self.indicators += o.indicators;
        self.duplicates += o.duplicates;
        self.no_indicators += o.no_indicators;
        self.repaired += o.repaired;
        self.windows += o.windows;
    }
}

/// A running source.
pub(crate) struct SourceTask {
    pub cfg: SourceConfig,
    pub store: Store,
    pub shared: Arc<Shared>,
    pub shutdown: watch::Receiver<bool>,
    pub upstream: Option<Upstream>,
    pub client: Option<reqwest::Client>,
    /// Current window span per upstream collection, in microseconds (shrinks on failures).
    pub windows: HashMap<String, i64>,
    pub(crate) failures: u32,
    pub(crate) stuck_failures: u32,
    pub(crate) alerted: bool,
    pub(crate) last_fault: Option<String>,
}

impl SourceTask {
    /// Count one committed window (or REST page) into the run's totals and the source's
    /// status.
    pub(crate) fn count_window(&self, stats: &mut RunStats, window: RunStats) {
        stats.add(&window);
        self.shared.count_blocks(&window);
        self.window_done();
    }

    /// Count a window whose blocks were already counted part by part
    /// ([`Shared::count_blocks`]) as done.
    pub(crate) fn count_window_done(&self, stats: &mut RunStats) {
        stats.windows += 1;
        self.window_done();
    }

    fn window_done(&self) {
        self.shared.update(|s| {
            s.backfill.windows_done += 1;
            s.backfill.windows_total = s.backfill.windows_total.max(s.backfill.windows_done);
        });
    }

    pub fn new(
        cfg: SourceConfig,
        store: Store,
        shared: Arc<Shared>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        SourceTask {
            cfg,
            store,
            shared,
            shutdown,
            upstream: None,
            client: None,
            windows: HashMap::new(),
            failures: 0,
            stuck_failures: 0,
            alerted: false,
            last_fault: None,
        }
    }

    /// The task body: set up, then run on schedule until shutdown.
    pub async fn run(mut self) {
        let _guard = EndGuard(self.shared.clone());
        if let Err(reason) = self.setup().await {
            self.shared.update(|s| {
                s.state = SourceState::Disabled;
                s.next_run = None;
                if let Some(r) = &reason {
                    s.last_error = Some(r.clone());
                    s.last_error_at = Some(Timestamp::now().to_string());
                }
            });
            self.persist().await;
            self.shared.first_run.send_replace(true);
            return;
        }

        loop {
            self.shared.update(|s| {
                s.state = SourceState::Running;
                s.next_run = None;
            });
            self.persist().await;
            let started = Instant::now();
            let result = match self.upstream {
                Some(Upstream::Rest { .. }) => self.run_rest().await,
                _ => self.run_taxii().await,
            };
            let next = self.finish_run(result, started).await;
            self.shared.first_run.send_replace(true);
            let Some(next) = next else { return };
            if !self.sleep(next).await {
                return;
            }
        }
    }

    /// Check config and secrets. `Err(Some(reason))`: disabled for a reason worth keeping in
    /// status; `Err(None)`: disabled by config.
    async fn setup(&mut self) -> Result<(), Option<String>> {
        let name = self.cfg.name.clone();
        let persisted = {
            let store = self.store.clone();
            let n = name.clone();
            tokio::task::spawn_blocking(move || crate::status::load_status(&store, &n))
                .await
                .ok()
                .flatten()
        };
        let cfg = &self.cfg;
        self.shared.update(|s| {
            if let Some(p) = persisted {
                s.last_success = p.last_success;
                s.last_error = p.last_error;
                s.last_error_at = p.last_error_at;
                s.total_blocks = p.total_blocks;
                s.total_indicators = p.total_indicators;
                s.total_duplicates = p.total_duplicates;
                s.total_no_indicators = p.total_no_indicators;
                s.total_repaired = p.total_repaired;
            }
            s.kind = cfg.kind.as_str().to_string();
            s.collection = cfg.collection.clone();
        });

        if !self.cfg.enabled {
            info!(source = %name, "source disabled in configuration");
            return Err(None);
        }
        if let Err(e) = self.cfg.validate() {
            error!(source = %name, cause = %e, "source disabled: bad configuration");
            return Err(Some(e.to_string()));
        }
        match crate::upstream::resolve_upstream(&self.cfg) {
            Ok(u) => self.upstream = Some(u),
            Err(var) => {
                warn!(source = %name, "source {name} disabled: {var} not set");
                return Err(Some(format!("{var} not set")));
            }
        }
        Ok(())
    }

    /// Sleep until the next run (`None`: until poll-now). Returns false on shutdown.
    async fn sleep(&mut self, delay: Option<Duration>) -> bool {
        let mut rx = self.shutdown.clone();
        let timer = async {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = timer => true,
            _ = self.shared.wake.notified() => true,
            _ = wait_shutdown(&mut rx) => false,
        }
    }

    /// Run a future unless shutdown comes first (then nothing it did is committed).
    pub async fn cancellable<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        let mut rx = self.shutdown.clone();
        if *rx.borrow() {
            return Err(SourceError::Cancelled);
        }
        tokio::select! {
            r = f => r,
            _ = wait_shutdown(&mut rx) => Err(SourceError::Cancelled),
        }
    }

    /// Whether shutdown was asked for.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The HTTP client, built on first use (a bad CA file fails the run, not the process).
    pub fn client(&mut self) -> Result<reqwest::Client, SourceError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = crate::http::build_client(&self.cfg)?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// An endpoint at `url` with this source's client and options.
    pub fn endpoint(
        &mut self,
        url: reqwest::Url,
        credentials: Option<Credentials>,
    ) -> Result<TaxiiEndpoint, SourceError> {
        Ok(TaxiiEndpoint {
            client: self.client()?,
            url,
            credentials,
            max_body_bytes: self.cfg.max_body_bytes,
            lenient: self.cfg.lenient_decoding,
        })
    }

    /// Write the current status to the store (best effort: a failure is logged).
    pub async fn persist(&self) {
        let status = self.shared.snapshot();
        let store = self.store.clone();
        let res = tokio::task::spawn_blocking(move || save_status(&store, &status)).await;
        if let Ok(Err(e)) = res {
            warn!(source = %self.cfg.name, cause = %e, "could not persist source status");
        }
    }

    /// Run blocking store work off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, SourceError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| SourceError::Store(format!("store task failed: {e}")))?
            .map_err(|e| SourceError::Store(e.to_string()))
    }
}

/// Marks the first run done however the task ends, so `wait_first_run` cannot hang on a
/// task that died; a task that ends by panicking shows as failing.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.update(|s| {
                s.state = SourceState::Failing;
                s.next_run = None;
                s.last_error = Some("source task stopped unexpectedly".into());
            });
            error!(source = %self.0.name, "source task stopped unexpectedly");
        }
        self.0.first_run.send_replace(true);
    }
}

/// Resolve when shutdown is signalled; never when the handle is gone (sources keep running).
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Seconds (validated, finite) to microseconds.
pub(crate) fn secs_to_us(secs: f64) -> i64 {
    (secs * 1_000_000.0)
        .round()
        .clamp(0.0, i64::MAX as f64 / 2.0) as i64
}
