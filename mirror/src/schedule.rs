//! A source's reactions to the end of a run: status, logs, when to run next, and how the
//! window span shrinks on faults and grows back on success.

use std::time::{Duration, Instant};

use taxii::Timestamp;
use tracing::{error, warn};

use crate::backoff::retry_delay;
use crate::error::{FaultClass, SourceError};
use crate::source::{secs_to_us, RunStats, SourceTask};
use crate::status::SourceState;

/// Consecutive failures on the smallest window (or not helped by smaller windows) before
/// one alert line.
const ALERT_AFTER: u32 = 5;

impl SourceTask {
    /// Record a run's result in status and logs; return when to run next (`None`: stop).
    pub(crate) async fn finish_run(
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
            if !matches!(err, Some(SourceError::Cancelled)) {
                s.total_runs += 1;
                s.total_run_ms += ms;
                s.total_failures += u64::from(err.is_some());
            }
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
                if matches!(e, SourceError::Store(_)) && !repeated {
                    // A full disk or a failing database needs a person.
                    error!(source = %name, cause = %e, retry_in_ms = delay.as_millis() as u64, "could not store what the upstream sent, nothing stored; will retry");
                } else if severe && !repeated {
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
