//! The HTTPS certificate, swapped in place: on SIGHUP and when the certificate or key file
//! changes (checked every `listen.cert_check_secs`).
//!
//! rustls asks [`CertSource`] for the certificate at each handshake, so a swap affects only
//! connections made after it; established connections keep theirs and nothing is dropped.
//! A reload that fails (unreadable file, key readable by others, certificate and key that
//! do not match, e.g. while a deployment has written one and not yet the other) keeps the
//! current certificate and logs one warning; the next change or SIGHUP tries again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

use crate::tls::{load_certified_key, TlsError};

/// What identifies a version of a file: modification time, size and inode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Stamp(Option<(SystemTime, u64, u64)>);

impl Stamp {
    fn of(path: &Path) -> Stamp {
        Stamp(std::fs::metadata(path).ok().map(|m| {
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), ino)
        }))
    }
}

/// The certificate the HTTPS listener presents, replaceable while it serves.
#[derive(Debug)]
pub struct CertSource {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Stamps of the files at the last load attempt.
    seen: Mutex<(Stamp, Stamp)>,
}

impl CertSource {
    /// Load the certificate and key (refusing a readable or mismatched key).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertSource>, TlsError> {
        let stamps = (Stamp::of(cert), Stamp::of(key));
        let certified = load_certified_key(cert, key)?;
        Ok(Arc::new(CertSource {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(certified),
            seen: Mutex::new(stamps),
        }))
    }

    /// Read the files again and present them from the next handshake on; on failure the
    /// current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
            (Stamp::of(&self.cert), Stamp::of(&self.key));
        let certified = load_certified_key(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = certified;
        Ok(())
    }

    /// Whether either file changed since the last load attempt.
    pub fn changed(&self) -> bool {
        let now = (Stamp::of(&self.cert), Stamp::of(&self.key));
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) != now
    }

    /// The certificate presented now (leaf first).
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertSource {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reload and log the outcome; counted in the metrics.
pub fn reload_logged(source: &CertSource, trigger: &str, metrics: &crate::metrics::Metrics) {
    match source.reload() {
        Ok(()) => {
            metrics.reload("ok");
            info!(trigger, cert = %source.cert.display(), "certificate reloaded");
        }
        Err(e) => {
            metrics.reload("failed");
            warn!(trigger, cause = %e, "certificate reload failed; still serving the previous certificate");
        }
    }
}

/// Start listening for SIGHUP now, and return the task that reloads on it and, every
/// `check` (when not zero), when a file changed. The task runs until it is aborted.
pub fn watch(
    source: Arc<CertSource>,
    check: Duration,
    state: crate::state::State,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(cause = %e, "cannot listen for SIGHUP; certificates reload on file change only");
            None
        }
    };
    async move {
        let mut ticker = (!check.is_zero()).then(|| {
            let mut t = tokio::time::interval(check);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            let tick = async {
                match ticker.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let trigger = tokio::select! {
                _ = hup => "SIGHUP",
                _ = tick => "file change",
            };
            let (s, st) = (source.clone(), state.clone());
            let _ = tokio::task::spawn_blocking(move || {
                if trigger == "SIGHUP" || s.changed() {
                    reload_logged(&s, trigger, &st.metrics);
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_swaps_the_certificate_and_a_bad_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        crate::certs::make_ca(dir.path(), "t", false).unwrap();
        let out = dir.path().join("server");
        let (crt, key) =
            crate::certs::make_server_cert(dir.path(), None, &["a".into()], &out).unwrap();
        let source = CertSource::load(&crt, &key).unwrap();
        let first = source.current().cert[0].clone();
        assert!(!source.changed());

        crate::certs::make_server_cert(dir.path(), None, &["b".into()], &out).unwrap();
        assert!(source.changed());
        source.reload().unwrap();
        let second = source.current().cert[0].clone();
        assert_ne!(first, second);

        // A certificate written without its new key: refused, the current one stays.
        let stray = dir.path().join("stray");
        crate::certs::make_server_cert(dir.path(), None, &["c".into()], &stray).unwrap();
        std::fs::copy(stray.with_extension("crt"), &crt).unwrap();
        assert!(source.reload().is_err());
        assert_eq!(source.current().cert[0], second);
        assert!(
            !source.changed(),
            "a failed attempt is not retried until a file changes"
        );
    }
}
