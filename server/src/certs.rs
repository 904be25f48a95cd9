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
    let (y, m) = this_month();
    params.not_before = rcgen::date_time_ymd(y, m, 1);
    params.not_after = rcgen::date_time_ymd(y + CA_YEARS, m, 1);
    params
}

/// Years a CA made here is valid.
const CA_YEARS: i32 = 10;
/// Years a server certificate made here is valid.
const SERVER_YEARS: i32 = 2;
/// File in the CA folder recording the CA's name, which signed certificates name as issuer.
const NAME_FILE: &str = "ca.name";

/// The current year and month (certificates start on the first of this month, so a
/// slightly slow clock elsewhere still accepts them).
fn this_month() -> (i32, u8) {
    let now = taxii::Timestamp::now().to_string();
    let year = now.get(0..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
    let month = now.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    (year, month)
}

/// When a server certificate made now expires, for messages.
pub fn server_not_after_text() -> String {
    let (y, m) = this_month();
    format!("{:04}-{:02}-01", y + SERVER_YEARS, m)
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

/// Make a CA: writes `<dir>/ca.crt`, `<dir>/ca.key` and `<dir>/ca.name`. An existing CA
/// is kept unless `force`: replacing it breaks every certificate it signed.
pub fn make_ca(
    dir: &Path,
    common_name: &str,
    force: bool,
) -> Result<(PathBuf, PathBuf), CertError> {
    let (crt_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    if !force && (crt_path.exists() || key_path.exists()) {
        return Err(CertError::Gen(format!(
            "{} already holds a CA; replacing it would break every certificate it signed \
             (use --force to replace it anyway)",
            dir.display()
        )));
    }
    let key = KeyPair::generate().map_err(gen)?;
    let cert = ca_params(common_name).self_signed(&key).map_err(gen)?;
    write_file(&crt_path, &cert.pem(), false)?;
    write_file(&key_path, &key.serialize_pem(), true)?;
    write_file(&dir.join(NAME_FILE), common_name, false)?;
    Ok((crt_path, key_path))
}

/// Make a server certificate for `hosts` (DNS names or IP addresses) signed by the CA in
/// `ca_dir` (made by [`make_ca`]; its name is read from the folder unless given); writes
/// `<out>.crt` and `<out>.key`.
pub fn make_server_cert(
    ca_dir: &Path,
    ca_name: Option<&str>,
    hosts: &[String],
    out: &Path,
) -> Result<(PathBuf, PathBuf), CertError> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|source| CertError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let recorded = read(ca_dir.join(NAME_FILE)).ok();
    let ca_name = match (ca_name, recorded.as_deref().map(str::trim)) {
        (Some(given), Some(known)) if given != known => {
            return Err(CertError::Gen(format!(
                "the CA in {} is named \"{known}\", not \"{given}\"",
                ca_dir.display()
            )))
        }
        (Some(given), _) => given.to_string(),
        (None, Some(known)) => known.to_string(),
        (None, None) => "taxii-mirror private CA".to_string(),
    };
    let ca_name = ca_name.as_str();
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
    let (y, m) = this_month();
    params.not_before = rcgen::date_time_ymd(y, m, 1);
    params.not_after = rcgen::date_time_ymd(y + SERVER_YEARS, m, 1);
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
        make_ca(dir.path(), "test CA", false).unwrap();
        assert!(
            make_ca(dir.path(), "test CA", false).is_err(),
            "an existing CA is kept"
        );
        assert!(make_server_cert(
            dir.path(),
            Some("other"),
            &["x".into()],
            &dir.path().join("s")
        )
        .is_err());
        let (crt, key) = make_server_cert(
            dir.path(),
            None,
            &["localhost".into(), "127.0.0.1".into()],
            &dir.path().join("server"),
        )
        .unwrap();
        crate::tls::server_config(&crt, &key).unwrap();
        let certs = crate::tls::load_certs(&dir.path().join("ca.crt")).unwrap();
        assert_eq!(certs.len(), 1);
    }
}
