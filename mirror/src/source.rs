//! One source's task: setup, the run loop, scheduling, status and fault reactions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::Store;
use taxii::Timestamp;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use crate::backoff::retry_delay;
use crate::config::{Secret, SourceConfig, SourceKind};
use crate::error::{FaultClass, SourceError};
use crate::status::{save_status, SourceState, SourceStatus};
use crate::taxii_client::{Credentials, TaxiiEndpoint};

/// Consecutive failures on the smallest window (or not helped by smaller windows) before
/// one alert line.
const ALERT_AFTER: u32 = 5;

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
}

/// What a source talks to, with its secrets resolved from the environment.
pub(crate) enum Upstream {
    Taxii {
        poll_url: Option<reqwest::Url>,
        discovery_url: Option<reqwest::Url>,
        credentials: Option<Credentials>,
    },
    Rest {
        base: reqwest::Url,
        api_key: Secret,
    },
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
    failures: u32,
    stuck_failures: u32,
    alerted: bool,
    last_fault: Option<String>,
}

impl SourceTask {
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
        match resolve_upstream(&self.cfg) {
            Ok(u) => self.upstream = Some(u),
            Err(var) => {
                warn!(source = %name, "source {name} disabled: {var} not set");
                return Err(Some(format!("{var} not set")));
            }
        }
        Ok(())
    }

    /// Record a run's result in status and logs; return when to run next (`None`: stop).
    async fn finish_run(
        &mut self,
        result: Result<RunStats, (RunStats, SourceError)>,
        started: Instant,
    ) -> Option<Option<Duration>> {
        let ms = started.elapsed().as_millis() as u64;
        let now = Timestamp::now().to_string();
        let (stats, err) = match result {
            Ok(stats) => (stats, None),
            Err((stats, e)) => (stats, Some(e)),
        };
        self.shared.update(|s| {
            s.last_run_blocks = stats.blocks;
            s.last_run_indicators = stats.indicators;
            s.last_run_duplicates = stats.duplicates;
            s.last_run_ms = ms;
        });
        let Some(e) = err else {
            self.failures = 0;
            self.stuck_failures = 0;
            self.alerted = false;
            self.last_fault = None;
            let delay = Duration::from_secs_f64(self.cfg.interval_secs);
            self.shared.update(|s| {
                s.state = SourceState::Idle;
                s.last_success = Some(now.clone());
                s.consecutive_failures = 0;
                s.next_run = Some(later(delay));
            });
            self.persist().await;
            return Some(Some(delay));
        };
        if matches!(e, SourceError::Cancelled) {
            self.shared.update(|s| s.state = SourceState::Idle);
            self.persist().await;
            return None;
        }

        self.failures = self.failures.saturating_add(1);
        let name = self.cfg.name.clone();
        let fault = fault_kind(&e);
        let repeated = self.last_fault.as_deref() == Some(fault.as_str());
        self.last_fault = Some(fault);
        let (state, delay) = match e.class() {
            FaultClass::Auth => {
                if !repeated {
                    error!(source = %name, cause = %e, "authentication failed; not retrying until restart or poll-now");
                }
                (SourceState::AuthFailed, None)
            }
            FaultClass::Rejected => {
                error!(source = %name, cause = %e, "upstream rejected the request; next try at the regular interval");
                (
                    SourceState::Failing,
                    Some(Duration::from_secs_f64(self.cfg.interval_secs)),
                )
            }
            FaultClass::Transient => {
                let delay = retry_delay(
                    self.cfg.backoff_initial_secs,
                    self.cfg.backoff_max_secs,
                    self.failures,
                    e.retry_after(),
                );
                let severe = matches!(
                    e,
                    SourceError::InvalidUtf8 { .. }
                        | SourceError::Doctype
                        | SourceError::Content { .. }
                );
                if severe && !repeated {
                    error!(source = %name, cause = %e, retry_in_ms = delay.as_millis() as u64, "upstream response refused, nothing stored");
                } else {
                    warn!(source = %name, cause = %e, retry_in_ms = delay.as_millis() as u64, failures = self.failures, "poll failed, nothing stored from that response; will retry");
                }
                if self.stuck_failures >= ALERT_AFTER && !self.alerted {
                    self.alerted = true;
                    error!(source = %name, cause = %e, failures = self.failures, "ALERT: source keeps failing on its smallest window; backing off at the cap");
                }
                (SourceState::Failing, Some(delay))
            }
        };
        self.shared.update(|s| {
            s.state = state;
            s.last_error = Some(e.to_string());
            s.last_error_at = Some(now.clone());
            s.consecutive_failures = self.failures;
            s.next_run = delay.map(later);
        });
        self.persist().await;
        Some(delay)
    }

    /// Count a transient failure against the window it happened on; shrink the window when a
    /// smaller one could help. Called by the run code.
    pub fn window_failed(&mut self, upstream: &str, window_us: i64, e: &SourceError) {
        let min_us = secs_to_us(self.cfg.min_window_secs);
        if e.class() != FaultClass::Transient || matches!(e, SourceError::Cancelled) {
            return;
        }
        if e.window_related() && window_us > min_us {
            let smaller = (window_us / 2).max(min_us);
            self.windows.insert(upstream.to_string(), smaller);
        } else {
            self.stuck_failures = self.stuck_failures.saturating_add(1);
        }
    }

    /// A window succeeded: let the span grow back toward the configured one.
    pub fn window_succeeded(&mut self, upstream: &str, window_us: i64) {
        let full = secs_to_us(self.cfg.window_days * 86_400.0);
        let grown = window_us.saturating_mul(2).min(full);
        if grown >= full {
            self.windows.remove(upstream);
        } else {
            self.windows.insert(upstream.to_string(), grown);
        }
        self.stuck_failures = 0;
    }

    /// Current window span of an upstream collection, in microseconds.
    pub fn window_us(&self, upstream: &str) -> i64 {
        self.windows
            .get(upstream)
            .copied()
            .unwrap_or_else(|| secs_to_us(self.cfg.window_days * 86_400.0))
            .max(1)
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

/// Resolve URLs and secrets. `Err(var)` names the environment variable that is missing.
fn resolve_upstream(cfg: &SourceConfig) -> Result<Upstream, String> {
    let env_secret = |var: &str| -> Result<Secret, String> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
            _ => Err(var.to_string()),
        }
    };
    let parse = |u: &Option<String>| u.as_deref().and_then(|u| reqwest::Url::parse(u).ok());
    match cfg.kind {
        SourceKind::Taxii11 => {
            let password = match (&cfg.password_env, &cfg.password) {
                (Some(var), _) => Some(env_secret(var)?),
                (None, Some(p)) => Some(p.clone()),
                (None, None) => None,
            };
            let credentials = cfg.username.as_ref().map(|u| Credentials {
                username: Secret::new(u.clone()),
                password: password.unwrap_or_else(|| Secret::new("")),
            });
            Ok(Upstream::Taxii {
                poll_url: parse(&cfg.poll_url),
                discovery_url: parse(&cfg.discovery_url),
                credentials,
            })
        }
        SourceKind::Otx => {
            let key = env_secret(cfg.api_key_var())?;
            let poll = cfg
                .poll_url
                .clone()
                .unwrap_or_else(|| format!("{}/taxii/poll", cfg.otx_base()));
            Ok(Upstream::Taxii {
                poll_url: reqwest::Url::parse(&poll).ok(),
                discovery_url: None,
                credentials: Some(Credentials {
                    username: key,
                    password: cfg.password.clone().unwrap_or_else(|| Secret::new("foo")),
                }),
            })
        }
        SourceKind::OtxRest => {
            let api_key = env_secret(cfg.api_key_var())?;
            let base = reqwest::Url::parse(&format!("{}/", cfg.otx_base()))
                .map_err(|_| "base_url".to_string())?;
            Ok(Upstream::Rest { base, api_key })
        }
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

fn later(d: Duration) -> String {
    let us = i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4);
    Timestamp::from_micros(Timestamp::now().as_micros().saturating_add(us)).to_string()
}

/// A short name of an error's kind, for "same fault again" log dedupe.
fn fault_kind(e: &SourceError) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}
