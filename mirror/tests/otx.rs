//! OTX: the DirectConnect REST source and the TAXII preset, against local fakes.

mod common;

use common::xml::{asked, block, empty_answer, pkg, Asked, PollResp};
use common::*;
use mirror::{Mirror, MirrorError, SourceConfig, SourceKind, SourceState};
use serde_json::json;

fn indicator(
    id: u64,
    kind: &str,
    value: &str,
    expiration: Option<&str>,
    active: i64,
) -> serde_json::Value {
    json!({"id": id, "indicator": value, "type": kind, "created": "2026-10-01T00:00:00",
           "title": "", "description": "", "content": "", "expiration": expiration,
           "is_active": active, "role": null})
}

fn pulse(id: &str, modified: &str, indicators: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"id": id, "name": format!("pulse {id}"), "description": "d", "author_name": "AlienVault",
           "created": "2026-10-01T00:00:00", "modified": modified, "revision": 1, "tlp": "white",
           "public": 1, "adversary": "", "tags": [], "targeted_countries": [], "malware_families": [],
           "attack_ids": [], "references": [], "industries": [], "indicators": indicators})
}

fn pages() -> (String, String) {
    let p1 = pulse(
        "aaaaaaaaaaaaaaaaaaaaaaa1",
        "2026-10-02T10:00:00.123456",
        vec![
            indicator(1, "IPv4", "192.0.2.10", None, 1),
            indicator(
                2,
                "domain",
                "old.example.test",
                Some("2000-01-01T00:00:00"),
                1,
            ),
        ],
    );
    let p2 = pulse(
        "aaaaaaaaaaaaaaaaaaaaaaa2",
        "2026-10-03T10:00:00",
        vec![indicator(3, "hostname", "gone.example.test", None, 0)],
    );
    let p3 = pulse(
        "aaaaaaaaaaaaaaaaaaaaaaa3",
        "2026-10-01T10:00:00",
        vec![
            indicator(4, "URL", "http://bad.example.test/x", None, 1),
            indicator(5, "FileHash-SHA256", &"a".repeat(64), None, 1),
            indicator(6, "YARA", "rule x {}", None, 1),
        ],
    );
    let page1 = json!({"count": 3, "next": "/api/v1/pulses/subscribed?limit=2&page=2", "previous": null, "results": [p1, p2]});
    let page2 = json!({"count": 3, "next": null, "previous": "/api/v1/pulses/subscribed?limit=2&page=1", "results": [p3]});
    (page1.to_string(), page2.to_string())
}

fn rest_source(up: &FakeUpstream, key_var: &str) -> SourceConfig {
    let mut cfg = SourceConfig::new("otx-rest", SourceKind::OtxRest, "otx");
    cfg.base_url = Some(up.url(""));
    cfg.api_key_env = Some(key_var.into());
    cfg.page_limit = 2;
    cfg.backfill_days = 3650.0;
    fast(&mut cfg);
    cfg
}

#[tokio::test]
async fn rest_follows_next_skips_expired_and_inactive() {
    std::env::set_var("MIRROR_TEST_OTX_KEY_A", "k-0123456789abcdef");
    let (page1, page2) = pages();
    let up = FakeUpstream::start(move |r, i| {
        if i == 0 {
            return Reply::status(429, "text/plain", "slow down");
        }
        if r.target.contains("page=2") {
            Reply::json(page2.clone())
        } else {
            Reply::json(page1.clone())
        }
    });
    let (_dir, store) = temp_store();
    let h = Mirror::start(
        store.clone(),
        vec![rest_source(&up, "MIRROR_TEST_OTX_KEY_A")],
    );
    first_run(&h).await;
    let s = wait_status(&h, "otx-rest", "recovery from 429", |s| {
        s.state == SourceState::Idle
    })
    .await;

    let reqs = up.requests();
    assert_eq!(reqs.len(), 3, "one 429, then two pages");
    for r in &reqs {
        assert_eq!(r.method, "GET");
        assert_eq!(r.header("X-OTX-API-KEY"), Some("k-0123456789abcdef"));
    }
    assert!(
        reqs[1]
            .target
            .starts_with("/api/v1/pulses/subscribed?limit=2&modified_since=20"),
        "{}",
        reqs[1].target
    );
    assert_eq!(reqs[2].target, "/api/v1/pulses/subscribed?limit=2&page=2");

    let stored = blocks(&store, "otx");
    assert_eq!(
        stored.len(),
        2,
        "the pulse with only an inactive indicator is not stored"
    );
    assert!(stored
        .iter()
        .all(|b| b.binding == "urn:stix.mitre.org:xml:1.2"));
    assert!(stored.iter().all(|b| b
        .package_id
        .as_deref()
        .unwrap_or("")
        .starts_with("alienvault-otx:Package-")));
    assert_eq!(
        stored.iter().map(|b| b.indicators).collect::<Vec<_>>(),
        [1, 2]
    );
    let text = String::from_utf8_lossy(&stored[0].content);
    assert!(
        text.contains("192.0.2.10") && !text.contains("old.example.test"),
        "expired indicator skipped"
    );
    assert_eq!(
        (
            s.last_run_blocks,
            s.last_run_indicators,
            s.total_no_indicators
        ),
        (2, 3, 1)
    );
    assert_eq!(
        checkpoint(&store, "otx-rest", "pulses/subscribed"),
        Some(ts("2026-10-03T10:00:00Z"))
    );

    // Next run asks from the checkpoint; the same pulses again are duplicates.
    h.poll_now("otx-rest").unwrap();
    wait_status(&h, "otx-rest", "second run", |_| up.count() >= 5).await;
    let s = wait_status(&h, "otx-rest", "idle", |s| s.state == SourceState::Idle).await;
    assert!(
        up.requests()[3]
            .target
            .contains("modified_since=2026-10-03T10%3A00%3A00.000000Z"),
        "{}",
        up.requests()[3].target
    );
    assert_eq!((s.last_run_blocks, s.last_run_duplicates), (0, 2));
    assert_eq!(blocks(&store, "otx").len(), 2);
    h.shutdown().await;
}

#[tokio::test]
async fn rest_refuses_next_on_another_host() {
    std::env::set_var("MIRROR_TEST_OTX_KEY_B", "k-b");
    let page = json!({"count": 2, "next": "https://otx.example.test/api/v1/pulses/subscribed?page=2", "results": [
        pulse("aaaaaaaaaaaaaaaaaaaaaaa1", "2026-10-02T10:00:00", vec![indicator(1, "IPv4", "192.0.2.1", None, 1)])
    ]}).to_string();
    let up = FakeUpstream::start(move |_, _| Reply::json(page.clone()));
    let (_dir, store) = temp_store();
    let mut cfg = rest_source(&up, "MIRROR_TEST_OTX_KEY_B");
    cfg.backoff_initial_secs = 60.0;
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    let s = h.source_status("otx-rest").unwrap();
    assert!(s
        .last_error
        .unwrap()
        .starts_with("refused next link to another host"));
    assert_eq!(up.count(), 1);
    assert_eq!(checkpoint(&store, "otx-rest", "pulses/subscribed"), None);
    h.shutdown().await;
}

#[tokio::test]
async fn otx_sources_without_a_key_send_nothing() {
    let up = FakeUpstream::start(|r, _| Reply::taxii(empty_answer(r)));
    let (_dir, store) = temp_store();
    let rest = rest_source(&up, "MIRROR_TEST_OTX_KEY_NEVER_SET");
    let mut taxii = SourceConfig::new("otx", SourceKind::Otx, "otx");
    taxii.base_url = Some(up.url(""));
    taxii.collections = vec!["user_AlienVault".into()];
    taxii.api_key_env = Some("MIRROR_TEST_OTX_KEY_NEVER_SET".into());
    let h = Mirror::start(store.clone(), vec![rest, taxii]);
    first_run(&h).await;
    for s in h.status() {
        assert_eq!(s.state, SourceState::Disabled, "{}", s.name);
        assert_eq!(
            s.last_error.as_deref(),
            Some("MIRROR_TEST_OTX_KEY_NEVER_SET not set")
        );
    }
    assert!(matches!(h.poll_now("otx"), Err(MirrorError::Disabled(_))));
    assert!(matches!(
        h.poll_now("nope"),
        Err(MirrorError::UnknownSource(_))
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(up.count(), 0, "nothing was sent");
    h.shutdown().await;
    // Status survives for `taxii-mirror status` while the server is stopped.
    let persisted = mirror::persisted_status(&store).unwrap();
    assert_eq!(persisted.len(), 2);
}

#[tokio::test]
async fn otx_taxii_preset_uses_the_key_as_user_and_one_checkpoint_per_collection() {
    std::env::set_var("MIRROR_TEST_OTX_KEY_C", "otx-key-c");
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll {
            id,
            end,
            collection,
            ..
        } => {
            let n = if collection == "user_AlienVault" {
                1
            } else {
                2
            };
            Reply::taxii(
                PollResp {
                    in_response_to: &id,
                    more: false,
                    result_id: None,
                    part: 1,
                    end: end.map(|e| e.to_string()),
                    blocks: vec![block(&pkg(n), None)],
                }
                .xml(),
            )
        }
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_dir, store) = temp_store();
    let mut cfg = SourceConfig::new("otx", SourceKind::Otx, "otx");
    cfg.base_url = Some(up.url(""));
    cfg.collections = vec!["user_AlienVault".into(), "user_Other".into()];
    cfg.api_key_env = Some("MIRROR_TEST_OTX_KEY_C".into());
    cfg.backfill_days = 1.0;
    fast(&mut cfg);
    let h = Mirror::start(store.clone(), vec![cfg]);
    first_run(&h).await;
    assert_eq!(h.source_status("otx").unwrap().state, SourceState::Idle);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.target, "/taxii/poll");
        // base64("otx-key-c:foo")
        assert_eq!(
            r.header("Authorization"),
            Some("Basic b3R4LWtleS1jOmZvbw==")
        );
    }
    assert!(checkpoint(&store, "otx", "user_AlienVault").is_some());
    assert!(checkpoint(&store, "otx", "user_Other").is_some());
    assert_eq!(blocks(&store, "otx").len(), 2);
    h.shutdown().await;
}
