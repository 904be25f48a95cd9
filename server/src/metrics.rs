//! Counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4).
//!
//! Request counters are kept here as requests are served; mirror figures come from the
//! sources' status and store figures from the store when the page is rendered. Label
//! values are bounded: collections and users are the configured ones (anything else a
//! client sends is shown as `-`), messages and statuses are TAXII names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;

use crate::state::AppState;

/// Labels of one request counter: message, collection, user, status.
type RequestKey = (&'static str, String, String, String);
/// Labels of one poll counter: collection, user, status.
type PollKey = (String, String, String);

#[derive(Debug, Default, Clone, Copy)]
struct Served {
    polls: u64,
    blocks: u64,
    bytes: u64,
}

/// Counters updated by the request path.
#[derive(Debug)]
pub struct Metrics {
    started: std::time::Instant,
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    polls: Mutex<BTreeMap<PollKey, Served>>,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: std::time::Instant::now(),
            requests: Mutex::default(),
            polls: Mutex::default(),
            reloads: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Count one TAXII request answered with `status` (a TAXII status name, or `SUCCESS`).
    pub fn request(&self, message: &'static str, collection: &str, user: &str, status: &str) {
        *lock(&self.requests)
            .entry((
                message,
                collection.to_string(),
                user.to_string(),
                status.to_string(),
            ))
            .or_default() += 1;
    }

    /// Count one poll response (or part) and the blocks and bytes it carried.
    pub fn poll(&self, collection: &str, user: &str, status: &str, blocks: u64, bytes: u64) {
        let mut polls = lock(&self.polls);
        let entry = polls
            .entry((collection.to_string(), user.to_string(), status.to_string()))
            .or_default();
        entry.polls += 1;
        entry.blocks += blocks;
        entry.bytes += bytes;
    }

    /// Count a certificate reload attempt (`ok` or `failed`).
    pub fn reload(&self, outcome: &'static str) {
        *lock(&self.reloads).entry(outcome).or_default() += 1;
    }
}

/// Figures read from the store for one page (read off the async threads by the caller).
#[derive(Debug, Default)]
pub struct StoreFigures {
    pub size_bytes: Option<u64>,
    /// Whether appends are taken: free space above the reserve and no failed write.
    pub writable: bool,
    pub blocks: Vec<(String, u64)>,
}

impl StoreFigures {
    /// Read the store's size and every configured collection's block count.
    pub fn read(state: &AppState) -> StoreFigures {
        StoreFigures {
            size_bytes: state.store.size_on_disk().ok(),
            writable: state.store.space_problem().is_none()
                && state.store.write_failure().is_none(),
            blocks: state
                .config
                .collections
                .iter()
                .filter_map(|c| state.store.total(&c.name).ok().map(|n| (c.name.clone(), n)))
                .collect(),
        }
    }
}

/// A label value as the exposition format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Page(String);

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Seconds since the epoch of an RFC 3339 time, as the mirror's status writes them.
fn epoch_secs(rfc3339: Option<&str>) -> Option<f64> {
    let t = taxii::Timestamp::parse(rfc3339?).ok()?;
    Some(t.as_micros() as f64 / 1e6)
}

/// The whole `/metrics` page.
pub fn render(state: &AppState, store: &StoreFigures) -> String {
    let mut p = Page(String::with_capacity(8192));
    let m = &state.metrics;
    let uptime_secs = m.started.elapsed().as_secs_f64();

    p.family(
        "taxii_mirror_up",
        "gauge",
        "1 while the process serves; see /readyz for readiness.",
    );
    p.sample("taxii_mirror_up", &[], 1);
    p.family(
        "taxii_mirror_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    p.sample(
        "taxii_mirror_uptime_seconds",
        &[],
        format!("{uptime_secs:.3}"),
    );

    p.family(
        "taxii_mirror_requests_total",
        "counter",
        "TAXII requests answered, by message, collection, user and TAXII status.",
    );
    for ((message, collection, user, status), n) in lock(&m.requests).iter() {
        p.sample(
            "taxii_mirror_requests_total",
            &[
                ("message", message),
                ("collection", collection),
                ("user", user),
                ("status", status),
            ],
            n,
        );
    }
    let polls = lock(&m.polls).clone();
    p.family(
        "taxii_mirror_polls_total",
        "counter",
        "Poll responses (each result part counts) by collection, user and status.",
    );
    for ((collection, user, status), s) in &polls {
        let labels = [
            ("collection", collection.as_str()),
            ("user", user.as_str()),
            ("status", status.as_str()),
        ];
        p.sample("taxii_mirror_polls_total", &labels, s.polls);
    }
    let mut served: BTreeMap<(&str, &str), Served> = BTreeMap::new();
    for ((collection, user, _), s) in &polls {
        let e = served.entry((collection, user)).or_default();
        e.blocks += s.blocks;
        e.bytes += s.bytes;
    }
    p.family(
        "taxii_mirror_blocks_served_total",
        "counter",
        "Content blocks sent in poll responses, by collection and user.",
    );
    for ((collection, user), s) in &served {
        let labels = [("collection", *collection), ("user", *user)];
        p.sample("taxii_mirror_blocks_served_total", &labels, s.blocks);
    }
    p.family(
        "taxii_mirror_bytes_served_total",
        "counter",
        "Content bytes sent in poll responses, by collection and user.",
    );
    for ((collection, user), s) in &served {
        let labels = [("collection", *collection), ("user", *user)];
        p.sample("taxii_mirror_bytes_served_total", &labels, s.bytes);
    }
    p.family(
        "taxii_mirror_certificate_reloads_total",
        "counter",
        "Certificate reloads (SIGHUP or file change) by outcome.",
    );
    for outcome in ["ok", "failed"] {
        let n = lock(&m.reloads).get(outcome).copied().unwrap_or(0);
        p.sample(
            "taxii_mirror_certificate_reloads_total",
            &[("outcome", outcome)],
            n,
        );
    }

    mirror_section(&mut p, state);

    p.family(
        "taxii_mirror_store_size_bytes",
        "gauge",
        "Size of the store's database files on disk.",
    );
    if let Some(size) = store.size_bytes {
        p.sample("taxii_mirror_store_size_bytes", &[], size);
    }
    p.family(
        "taxii_mirror_store_writable",
        "gauge",
        "1 while the store takes appends; 0 while free space is below limits.min_free_mb or a write failed.",
    );
    p.sample("taxii_mirror_store_writable", &[], u8::from(store.writable));
    p.family(
        "taxii_mirror_collection_blocks",
        "gauge",
        "Content blocks stored per collection.",
    );
    for (collection, n) in &store.blocks {
        p.sample(
            "taxii_mirror_collection_blocks",
            &[("collection", collection)],
            n,
        );
    }
    p.0
}

fn mirror_section(p: &mut Page, state: &AppState) {
    let statuses = state
        .mirror
        .as_ref()
        .map(|m| m.status())
        .unwrap_or_default();
    let configured: HashMap<&str, &mirror::SourceConfig> = state
        .config
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    type Field = fn(&mirror::SourceStatus) -> String;
    let counters: [(&str, &str, &str, Field); 7] = [
        (
            "taxii_mirror_source_runs_total",
            "counter",
            "Mirror runs finished, by source.",
            |s| s.total_runs.to_string(),
        ),
        (
            "taxii_mirror_source_failures_total",
            "counter",
            "Mirror runs that failed, by source.",
            |s| s.total_failures.to_string(),
        ),
        (
            "taxii_mirror_source_run_seconds_total",
            "counter",
            "Time spent in finished mirror runs, by source.",
            |s| format!("{:.3}", s.total_run_ms as f64 / 1e3),
        ),
        (
            "taxii_mirror_source_last_run_seconds",
            "gauge",
            "Duration of the last finished mirror run, by source.",
            |s| format!("{:.3}", s.last_run_ms as f64 / 1e3),
        ),
        (
            "taxii_mirror_source_blocks_total",
            "counter",
            "Content blocks fetched and stored, by source.",
            |s| s.total_blocks.to_string(),
        ),
        (
            "taxii_mirror_source_indicators_total",
            "counter",
            "Indicators in the blocks fetched and stored, by source.",
            |s| s.total_indicators.to_string(),
        ),
        (
            "taxii_mirror_source_duplicates_total",
            "counter",
            "Blocks fetched again and skipped as duplicates, by source.",
            |s| s.total_duplicates.to_string(),
        ),
    ];
    for (name, kind, help, field) in counters {
        p.family(name, kind, help);
        for s in &statuses {
            p.sample(name, &[("source", &s.name)], field(s));
        }
    }
    p.family(
        "taxii_mirror_source_consecutive_failures",
        "gauge",
        "Mirror runs failed in a row, by source (0 after a success).",
    );
    for s in &statuses {
        p.sample(
            "taxii_mirror_source_consecutive_failures",
            &[("source", &s.name)],
            s.consecutive_failures,
        );
    }
    p.family(
        "taxii_mirror_source_last_success_timestamp_seconds",
        "gauge",
        "End of the last successful mirror run (Unix time), by source; absent before one.",
    );
    for s in &statuses {
        if let Some(t) = epoch_secs(s.last_success.as_deref()) {
            p.sample(
                "taxii_mirror_source_last_success_timestamp_seconds",
                &[("source", &s.name)],
                format!("{t:.3}"),
            );
        }
    }
    p.family(
        "taxii_mirror_source_interval_seconds",
        "gauge",
        "Configured time between mirror runs, by source.",
    );
    for s in &statuses {
        if let Some(cfg) = configured.get(s.name.as_str()) {
            p.sample(
                "taxii_mirror_source_interval_seconds",
                &[("source", &s.name)],
                cfg.interval_secs,
            );
        }
    }
    p.family(
        "taxii_mirror_source_enabled",
        "gauge",
        "1 when the source is enabled in the configuration, 0 when disabled there.",
    );
    for s in &statuses {
        let enabled = configured.get(s.name.as_str()).is_some_and(|c| c.enabled);
        p.sample(
            "taxii_mirror_source_enabled",
            &[("source", &s.name)],
            u8::from(enabled),
        );
    }
    p.family(
        "taxii_mirror_source_state",
        "gauge",
        "1 for the state each source is in (idle, running, disabled, auth_failed, failing).",
    );
    for s in &statuses {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        p.sample(
            "taxii_mirror_source_state",
            &[("source", &s.name), ("state", &state)],
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn counters_add_up() {
        let m = Metrics::default();
        m.request("Poll_Request", "otx", "esa", "SUCCESS");
        m.request("Poll_Request", "otx", "esa", "SUCCESS");
        m.poll("otx", "esa", "SUCCESS", 3, 300);
        m.poll("otx", "esa", "SUCCESS", 2, 200);
        let requests = lock(&m.requests);
        assert_eq!(
            requests[&(
                "Poll_Request",
                "otx".to_string(),
                "esa".to_string(),
                "SUCCESS".to_string()
            )],
            2
        );
        let polls = lock(&m.polls);
        let s = polls[&("otx".into(), "esa".into(), "SUCCESS".into())];
        assert_eq!((s.polls, s.blocks, s.bytes), (2, 5, 500));
    }

    #[test]
    fn rfc3339_times_become_epoch_seconds() {
        assert_eq!(epoch_secs(Some("1970-01-01T00:00:10.5Z")), Some(10.5));
        assert_eq!(epoch_secs(Some("not a time")), None);
        assert_eq!(epoch_secs(None), None);
    }
}
