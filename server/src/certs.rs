//! A private CA and server certificates for internal host names, made by the product
//! itself so no other tool is needed (`taxii-mirror make-ca`, `taxii-mirror make-cert`,
//! and the lab on first run).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Gen(String),
}

fn gen(e: rcgen::Error) -> CertError {
    CertError::Gen(e.to_string())
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "taxii-mirror private CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = rcgen::date_time_ymd(2025, 1, 1);
    params.not_before = now;
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    params
}

/// Write `contents` to `path`; private material gets mode 0600.
pub fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(path).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)
}

/// Make a CA: writes `<dir>/ca.crt` and `<dir>/ca.key`.
pub fn make_ca(dir: &Path, common_name: &str) -> Result<(PathBuf, PathBuf), CertError> {
    let key = KeyPair::generate().map_err(gen)?;
    let cert = ca_params(common_name).self_signed(&key).map_err(gen)?;
    let (crt_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    write_file(&crt_path, &cert.pem(), false)?;
    write_file(&key_path, &key.serialize_pem(), true)?;
    Ok((crt_path, key_path))
}

/// Make a server certificate for `hosts` (DNS names or IP addresses) signed by the CA in
/// `ca_dir` (made by [`make_ca`] with `ca_name`); writes `<out>.crt` and `<out>.key`.
pub fn make_server_cert(
    ca_dir: &Path,
    ca_name: &str,
    hosts: &[String],
    out: &Path,
) -> Result<(PathBuf, PathBuf), CertError> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|source| CertError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let ca_key = KeyPair::from_pem(&read(ca_dir.join("ca.key"))?).map_err(gen)?;
    let ca = ca_params(ca_name).self_signed(&ca_key).map_err(gen)?;

    let mut params = CertificateParams::new(hosts.to_vec()).map_err(gen)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts
            .first()
            .cloned()
            .unwrap_or_else(|| "taxii-mirror".into()),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let key = KeyPair::generate().map_err(gen)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(gen)?;

    let crt_path = out.with_extension("crt");
    let key_path = out.with_extension("key");
    write_file(&crt_path, &cert.pem(), false)?;
    write_file(&key_path, &key.serialize_pem(), true)?;
    Ok((crt_path, key_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_and_server_cert_load_into_rustls() {
        let dir = tempfile::tempdir().unwrap();
        make_ca(dir.path(), "test CA").unwrap();
        let (crt, key) = make_server_cert(
            dir.path(),
            "test CA",
            &["localhost".into(), "127.0.0.1".into()],
            &dir.path().join("server"),
        )
        .unwrap();
        crate::tls::server_config(&crt, &key).unwrap();
        let certs = crate::tls::load_certs(&dir.path().join("ca.crt")).unwrap();
        assert_eq!(certs.len(), 1);
    }
}
