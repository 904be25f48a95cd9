//! The handle: discovery, shutdown within a bound, status and checkpoints across restarts,
//! configuration tables.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::xml::{asked, block, empty_answer, pkg, Asked, PollResp, NS11};
use common::*;
use mirror::{Mirror, MirrorError, SourceConfig, SourceKind, SourceState};

fn discovery_response(own: &str) -> String {
    let service = |ty: &str, version: &str, proto: &str, addr: &str, binding: &str| {
        format!(
            "<taxii_11:Service_Instance service_type=\"{ty}\" service_version=\"{version}\" available=\"true\"><taxii_11:Protocol_Binding>{proto}</taxii_11:Protocol_Binding><taxii_11:Address>{addr}</taxii_11:Address><taxii_11:Message_Binding>{binding}</taxii_11:Message_Binding></taxii_11:Service_Instance>"
        )
    };
    let v11 = "urn:taxii.mitre.org:services:1.1";
    let http = "urn:taxii.mitre.org:protocol:http:1.0";
    let xml11 = "urn:taxii.mitre.org:message:xml:1.1";
    format!(
        "<taxii_11:Discovery_Response xmlns:taxii_11=\"{NS11}\" message_id=\"d1\" in_response_to=\"x\">{}{}{}{}</taxii_11:Discovery_Response>",
        service("INBOX", v11, http, &format!("{own}/services/inbox"), xml11),
        service("POLL", "urn:taxii.mitre.org:services:1.0", http, &format!("{own}/services/poll10"), "urn:taxii.mitre.org:message:xml:1.0"),
        service("POLL", v11, "urn:taxii.mitre.org:protocol:https:1.0", "https://otx.example.test/taxii/poll", xml11),
        service("POLL", v11, http, &format!("{own}/services/poll"), xml11),
    )
}

#[tokio::test]
async fn discovery_picks_the_usable_poll_service() {
    let own: Arc<OnceLock<String>> = Arc::default();
    let own2 = own.clone();
    let up = FakeUpstream::start(move |r, _| match r.message() {
        Some(taxii::Message::DiscoveryRequest(_)) => {
            Reply::taxii(discovery_response(own2.get().unwrap()))
        }
        _ => Reply::taxii(empty_answer(r)),
    });
    own.set(up.url("")).unwrap();
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.poll_url = None;
    cfg.discovery_url = Some(up.url("/services/discovery"));
    let h = Mirror::start(store, vec![cfg]);
    first_run(&h).await;
    assert_eq!(h.source_status("up").unwrap().state, SourceState::Idle);
    let targets: Vec<_> = up.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets, ["/services/discovery", "/services/poll"]);
    assert_headers_ok(&up);
    h.shutdown().await;
}

#[tokio::test]
async fn shutdown_interrupts_a_stalled_request_within_a_bound() {
    let up = FakeUpstream::start(|r, _| {
        let mut reply = Reply::taxii(empty_answer(r));
        reply.stall = Some(Duration::from_secs(8));
        reply
    });
    let (_d, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    wait_status(&h, "up", "request in flight", |s| {
        s.state == SourceState::Running && up.count() == 1
    })
    .await;
    let started = Instant::now();
    h.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(h.poll_now("up"), Err(MirrorError::ShuttingDown)));
    assert_eq!(checkpoint(&store, "up", "user_TestUser"), None);
    assert!(blocks(&store, "local").is_empty());
}

#[tokio::test]
async fn restart_resumes_from_checkpoint_and_keeps_totals() {
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
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
        ),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_d, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    h.shutdown().await;
    let cp = checkpoint(&store, "up", "user_TestUser").unwrap();

    let h = Mirror::start(store.clone(), vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!((s.total_blocks, s.total_duplicates), (1, 1));
    match asked(up.requests()[1].message()) {
        Asked::Poll { begin, .. } => assert_eq!(begin, Some(cp)),
        other => panic!("{other:?}"),
    }
    h.shutdown().await;
    let persisted = mirror::persisted_status(&store).unwrap();
    assert_eq!(persisted[0].total_blocks, 1);
    assert!(persisted[0].last_success.is_some());
}

#[tokio::test]
async fn duplicate_and_invalid_sources_are_disabled_not_fatal() {
    let up = FakeUpstream::start(|r, _| Reply::taxii(empty_answer(r)));
    let (_d, store) = temp_store();
    let mut bad = taxii_source(&up);
    bad.name = "bad".into();
    bad.poll_url = Some("ftp://127.0.0.1/x".into());
    let mut off = taxii_source(&up);
    off.name = "off".into();
    off.enabled = false;
    let h = Mirror::start(store, vec![taxii_source(&up), taxii_source(&up), bad, off]);
    first_run(&h).await;
    let states: Vec<_> = h
        .status()
        .iter()
        .map(|s| (s.name.clone(), s.state))
        .collect();
    assert_eq!(
        states,
        [
            ("up".into(), SourceState::Idle),
            ("bad".into(), SourceState::Disabled),
            ("off".into(), SourceState::Disabled)
        ]
    );
    assert!(h
        .source_status("bad")
        .unwrap()
        .last_error
        .unwrap()
        .contains("poll_url"));
    assert_eq!(up.count(), 1);
    h.shutdown().await;
}

#[derive(serde::Deserialize)]
struct File {
    source: Vec<SourceConfig>,
}

#[test]
fn toml_tables_parse_with_defaults() {
    let f: File = toml::from_str(
        r#"
[[source]]
name = "otx"
kind = "otx"
collection = "otx"
collections = ["user_AlienVault"]

[[source]]
name = "feed"
kind = "taxii11"
collection = "partner"
poll_url = "https://taxii.partner.example/services/poll"
upstream_collection = "system.Default"
username = "mirror"
password_env = "PARTNER_PASSWORD"
ca_file = "/etc/taxii-mirror/partner-ca.pem"
backoff_initial_secs = 0.5
"#,
    )
    .unwrap();
    let otx = &f.source[0];
    assert_eq!(
        (otx.kind, otx.api_key_var(), otx.otx_base()),
        (SourceKind::Otx, "OTX_API_KEY", "https://otx.alienvault.com")
    );
    assert_eq!(
        (
            otx.interval_secs,
            otx.backfill_days,
            otx.window_days,
            otx.max_parts
        ),
        (3600.0, 30.0, 1.0, 10_000)
    );
    assert_eq!(
        (
            otx.max_body_bytes,
            otx.backoff_initial_secs,
            otx.backoff_max_secs
        ),
        (256 << 20, 30.0, 900.0)
    );
    assert!(otx.enabled && !otx.lenient_decoding && !otx.ca_include_system);
    mirror::validate_all(&f.source).unwrap();
    assert_eq!(f.source[1].backoff_initial_secs, 0.5);

    let unknown = toml::from_str::<File>(
        "[[source]]\nname='a'\nkind='taxii11'\ncollection='c'\npasword='x'\n",
    );
    assert!(unknown.is_err(), "unknown fields are refused");
    let kind = toml::from_str::<File>("[[source]]\nname='a'\nkind='taxii2'\ncollection='c'\n");
    assert!(kind.is_err());
}

#[test]
fn config_checks_name_the_field() {
    let mut c = SourceConfig::new("a", SourceKind::Taxii11, "c");
    assert!(c.validate().unwrap_err().to_string().contains("poll_url"));
    c.poll_url = Some("https://h.example/poll".into());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("upstream_collection"));
    c.upstream_collection = Some("x".into());
    c.validate().unwrap();
    c.password_env = Some("P".into());
    assert!(c.validate().unwrap_err().to_string().contains("username"));
    c.username = Some("u".into());
    c.validate().unwrap();
    c.window_days = -1.0;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("window_days"));
    c.window_days = 1.0;
    c.poll_url = Some("https://user:pw@h.example/poll".into());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("credentials"));
    c.poll_url = Some("https://h.example/poll".into());
    c.client_cert = Some("/x.pem".into());
    assert!(c.validate().unwrap_err().to_string().contains("client_key"));
    let dup = vec![
        SourceConfig::new("o", SourceKind::OtxRest, "c"),
        SourceConfig::new("o", SourceKind::OtxRest, "c"),
    ];
    assert!(mirror::validate_all(&dup)
        .unwrap_err()
        .to_string()
        .contains("used twice"));
}

#[test]
fn secrets_print_as_stars() {
    let mut c = SourceConfig::new("a", SourceKind::Taxii11, "c");
    c.password = Some(mirror::Secret::new("hunter2"));
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(format!("{}", mirror::Secret::new("hunter2")), "***");
}
