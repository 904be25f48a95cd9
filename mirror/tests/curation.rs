//! The allowlist and the collection's profile applied to what a source stores: OTX
//! DirectConnect pulses mapped to STIX, against a local fake.

mod common;

use std::sync::Arc;

use common::*;
use mirror::{Curation, Mirror, SourceConfig, SourceKind, SourceState};
use serde_json::json;
use stix::curate::{Allowlist, Profile};
use stix::IndicatorKind;

fn indicator(id: u64, kind: &str, value: &str) -> serde_json::Value {
    json!({"id": id, "indicator": value, "type": kind, "created": "2026-10-01T00:00:00",
           "title": "", "description": "", "content": "", "expiration": null,
           "is_active": 1, "role": null})
}

fn pulse(id: &str, indicators: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"id": id, "name": format!("pulse {id}"), "description": "d", "author_name": "AlienVault",
           "created": "2026-10-01T00:00:00", "modified": "2026-10-02T00:00:00", "revision": 1,
           "tlp": "white", "public": 1, "adversary": "", "tags": [], "targeted_countries": [],
           "malware_families": [], "attack_ids": [], "references": [], "industries": [],
           "indicators": indicators})
}

#[tokio::test]
async fn allowlisted_values_and_unwanted_kinds_are_not_stored() {
    std::env::set_var("MIRROR_TEST_OTX_KEY_CURATION", "k-0123456789abcdef");
    let page = json!({"count": 2, "next": null, "previous": null, "results": [
        pulse("bbbbbbbbbbbbbbbbbbbbbbb1", vec![
            indicator(1, "IPv4", "192.0.2.10"),
            indicator(2, "domain", "cdn.partner.example.test"),
        ]),
        pulse("bbbbbbbbbbbbbbbbbbbbbbb2", vec![
            indicator(3, "URL", "http://bad.example.test/x"),
            indicator(4, "FileHash-SHA1", &"a".repeat(40)),
            indicator(5, "domain", "partner.example.test"),
        ]),
    ]})
    .to_string();
    let up = FakeUpstream::start(move |_, _| Reply::json(page.clone()));
    let (_dir, store) = temp_store();

    let mut allow = Allowlist::new();
    allow.add_domain("partner.example.test").unwrap();
    allow.add_ip("192.0.2.0/24").unwrap();
    let mut cfg = SourceConfig::new("otx-rest", SourceKind::OtxRest, "otx");
    cfg.base_url = Some(up.url(""));
    cfg.api_key_env = Some("MIRROR_TEST_OTX_KEY_CURATION".into());
    cfg.backfill_days = 3650.0;
    fast(&mut cfg);
    cfg.curation = Curation {
        allowlist: Arc::new(allow),
        profile: Profile {
            kinds: Some(
                [IndicatorKind::Url, IndicatorKind::Ipv4]
                    .into_iter()
                    .collect(),
            ),
            max_age_secs: None,
        },
    };

    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = wait_status(&h, "otx-rest", "idle", |s| s.state == SourceState::Idle).await;
    let stored = blocks(&store, "otx");
    // The first pulse is left with nothing; the second keeps its URL only.
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].indicators, 1);
    let text = String::from_utf8_lossy(&stored[0].content);
    assert!(text.contains("http://bad.example.test/x"), "{text}");
    assert!(!text.contains(&"a".repeat(40)) && !text.contains(">partner.example.test<"));
    assert_eq!((s.last_run_blocks, s.last_run_indicators), (1, 1));
    h.shutdown().await;
}
