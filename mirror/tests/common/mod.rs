//! Shared test helpers: the fake upstream, wire builders, a store in a temp dir, fast source
//! configs and polling helpers.
#![allow(dead_code)]

pub mod server;
pub mod xml;

use std::time::Duration;

use mirror::{Checkpoint, MirrorHandle, Secret, SourceConfig, SourceKind, SourceStatus};
use store::Store;
use taxii::Timestamp;

#[allow(unused_imports)]
pub use server::{FakeUpstream, Recorded, Reply};

/// A store in a fresh temp dir (the dir lives as long as the returned guard).
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}

/// A taxii11 source at `up`'s `/taxii/poll`, collection `user_TestUser`, with millisecond
/// backoff, a one-hour interval (so only poll-now or retries run it again) and a 2-day
/// back-fill in one window.
pub fn taxii_source(up: &FakeUpstream) -> SourceConfig {
    let mut cfg = SourceConfig::new("up", SourceKind::Taxii11, "local");
    cfg.poll_url = Some(up.url("/taxii/poll"));
    cfg.upstream_collection = Some("user_TestUser".into());
    cfg.username = Some("test-key".into());
    cfg.password = Some(Secret::new("foo"));
    cfg.backfill_days = 2.0;
    cfg.window_days = 2.0;
    cfg.min_window_secs = 3600.0;
    fast(&mut cfg);
    cfg
}

/// Millisecond backoff and short timeouts.
pub fn fast(cfg: &mut SourceConfig) {
    cfg.backoff_initial_secs = 0.02;
    cfg.backoff_max_secs = 0.1;
    cfg.interval_secs = 3600.0;
    cfg.connect_timeout_secs = 2.0;
    cfg.timeout_secs = 10.0;
}

/// Wait for the first run of every source (bounded).
pub async fn first_run(h: &MirrorHandle) {
    tokio::time::timeout(Duration::from_secs(20), h.wait_first_run())
        .await
        .expect("first run within 20 s");
}

/// Poll `cond` on the status of source `name` until it holds (bounded).
pub async fn wait_status(
    h: &MirrorHandle,
    name: &str,
    what: &str,
    cond: impl Fn(&SourceStatus) -> bool,
) -> SourceStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = h.source_status(name).expect("source exists");
        if cond(&s) {
            return s;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}; status: {s:#?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The checkpoint of `source/upstream`, if any.
pub fn checkpoint(store: &Store, source: &str, upstream: &str) -> Option<Timestamp> {
    let raw = store
        .meta_get(
            mirror::CHECKPOINT_NS,
            &mirror::checkpoint_key(source, upstream),
        )
        .expect("meta_get")?;
    Some(Checkpoint::decode(&raw).expect("checkpoint decodes").0.end)
}

/// Every block of a collection.
pub fn blocks(store: &Store, collection: &str) -> Vec<store::StoredBlock> {
    if !store.has_collection(collection).unwrap() {
        return Vec::new();
    }
    store
        .range(collection, None, store.snapshot_end())
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Seed a checkpoint as if an earlier run had stopped at `end` (raw bytes as given).
pub fn seed_checkpoint(store: &Store, source: &str, upstream: &str, raw: &[u8]) {
    store
        .meta_put(
            mirror::CHECKPOINT_NS,
            &mirror::checkpoint_key(source, upstream),
            raw,
        )
        .unwrap();
}

/// No request of ours was refused for missing binding headers.
pub fn assert_headers_ok(up: &FakeUpstream) {
    for r in up.requests() {
        assert!(
            !r.rejected_headers,
            "request without a binding header: {:?}",
            r.headers
        );
    }
}

/// Log lines captured by a subscriber installed for the current thread (tests run on a
/// current-thread runtime, so the sources' tasks log here too).
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Install for this thread; keep the guard alive for the test.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(sub))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
