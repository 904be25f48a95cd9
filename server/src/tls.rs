//! TLS for the HTTPS listener: rustls with the ring provider, TLS 1.2 and 1.3 only,
//! certificates and keys read from PEM with `rustls-pki-types`' `PemObject` API (the
//! maintained successor of the archived `rustls-pemfile`).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read certificates: {message}")]
    Certs { path: String, message: String },
    #[error("{path}: no certificate found (expected PEM \"BEGIN CERTIFICATE\")")]
    NoCerts { path: String },
    #[error("{path}: cannot read private key: {message}")]
    Key { path: String, message: String },
    #[error(
        "{path}: private key is readable by group or others (mode {mode:04o}); make it \
         owner-only (chmod 600 {path})"
    )]
    KeyExposed { path: String, mode: u32 },
    #[error("certificate {cert} does not match key {key}: {message}")]
    Mismatch {
        cert: String,
        key: String,
        message: String,
    },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// Read a PEM certificate chain.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Certs {
            path: shown.clone(),
            message: e.to_string(),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certs {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCerts { path: shown });
    }
    Ok(certs)
}

/// Refuse a private key file that the group or others may read: one line, naming the
/// file, its mode and the fix.
pub fn check_key_mode(path: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| TlsError::Key {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            return Err(TlsError::KeyExposed {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Read a PEM private key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Load a certificate chain and its key: the key must be owner-only and match the
/// certificate's public key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    check_key_mode(key)?;
    let certs = load_certs(cert)?;
    let private_key = load_key(key)?;
    let mismatch = |message: String| TlsError::Mismatch {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message,
    };
    let signing_key = provider()
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(certs, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(
            mismatch("the key's public key is not the certificate's".into()),
        ),
        // The provider cannot tell for this key type: the first handshake will.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(e) => Err(mismatch(e.to_string())),
    }
}

/// The server configuration around a certificate resolver (see [`crate::reload`]).
pub fn config_with_resolver(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Build a server configuration with a fixed certificate from PEM files (checks as
/// [`load_certified_key`]).
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let certified = load_certified_key(cert, key)?;
    config_with_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_or_mismatched_keys_are_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        crate::certs::make_ca(dir.path(), "t", false).unwrap();
        let (crt, key) =
            crate::certs::make_server_cert(dir.path(), None, &["a".into()], &dir.path().join("a"))
                .unwrap();
        let (_, other_key) =
            crate::certs::make_server_cert(dir.path(), None, &["b".into()], &dir.path().join("b"))
                .unwrap();
        load_certified_key(&crt, &key).unwrap();

        let err = load_certified_key(&crt, &other_key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
        assert!(!err.contains('\n'), "{err}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
            let err = load_certified_key(&crt, &key).unwrap_err().to_string();
            assert!(
                err.contains("readable by group or others") && err.contains("0640"),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
