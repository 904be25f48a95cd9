//! HTTPS upstreams: a private CA given as `ca_file` is trusted (and only it), and a client
//! certificate is presented when configured.

mod common;

use std::sync::Arc;

use common::xml::{asked, block, empty_answer, pkg, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceState};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "mirror test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = p.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    /// A leaf for `name` signed by the CA: (certificate DER, key).
    fn leaf(&self, name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        (p.signed_by(&key, &self.ca, &self.ca_key).unwrap(), key)
    }

    fn server_config(&self, client_auth: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key) = self.leaf("127.0.0.1");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Arc::new(
            builder
                .with_single_cert(vec![cert.der().clone()], key)
                .unwrap(),
        )
    }
}

fn answer(r: &Recorded) -> Reply {
    match asked(r.message()) {
        Asked::Poll { id, end, .. } => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: false,
                result_id: None,
                part: 1,
                end: end.map(|e| e.to_string()),
                blocks: vec![block(&pkg(1), None)],
            }
            .xml(),
        )
        .header("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:https:1.0"),
        _ => Reply::taxii(empty_answer(r)),
    }
}

#[tokio::test]
async fn ca_file_is_trusted_over_https() {
    let pki = Pki::new();
    let up = FakeUpstream::start_tls(|r, _| answer(r), pki.server_config(false));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, pki.ca.pem()).unwrap();
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.ca_file = Some(ca_path);
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Idle, "{:?}", s.last_error);
    assert_eq!(blocks(&store, "local").len(), 1);
    // The fake answers 406 unless X-TAXII-Protocol says https on TLS.
    assert_headers_ok(&up);
    assert_eq!(
        up.requests()[0].header("X-TAXII-Protocol"),
        Some("urn:taxii.mitre.org:protocol:https:1.0")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let up = FakeUpstream::start_tls(|r, _| answer(r), pki.server_config(false));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("other-ca.pem");
    std::fs::write(&ca_path, other.ca.pem()).unwrap();
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.ca_file = Some(ca_path);
    cfg.backoff_initial_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("connection failed"),
        "{:?}",
        s.last_error
    );
    assert_eq!(
        up.count(),
        0,
        "no request went out over an untrusted connection"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let pki = Pki::new();
    let up = FakeUpstream::start_tls(|r, _| answer(r), pki.server_config(true));
    let dir = tempfile::tempdir().unwrap();
    let (client, client_key) = pki.leaf("mirror-client");
    let paths = ["ca.pem", "client.pem", "client.key"].map(|f| dir.path().join(f));
    std::fs::write(&paths[0], pki.ca.pem()).unwrap();
    std::fs::write(&paths[1], client.pem()).unwrap();
    std::fs::write(&paths[2], client_key.serialize_pem()).unwrap();
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.ca_file = Some(paths[0].clone());
    cfg.client_cert = Some(paths[1].clone());
    cfg.client_key = Some(paths[2].clone());
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Idle, "{:?}", s.last_error);
    assert_eq!(blocks(&store, "local").len(), 1);
    h.shutdown().await;
}
