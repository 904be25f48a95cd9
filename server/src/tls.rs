//! TLS for the HTTPS listener: rustls with the ring provider, TLS 1.2 and 1.3 only,
//! certificates and keys read from PEM with `rustls-pki-types`' `PemObject` API (the
//! maintained successor of the archived `rustls-pemfile`).

use std::path::Path;
use std::sync::Arc;

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
    #[error("certificate {cert} does not match key {key}: {message}")]
    Mismatch {
        cert: String,
        key: String,
        message: String,
    },
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

/// Read a PEM private key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Build the server configuration from PEM files; refuses a key that does not match.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let certs = load_certs(cert)?;
    let private_key = load_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatch = |message: String| TlsError::Mismatch {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
