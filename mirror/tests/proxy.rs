//! Proxies: only the configured one is used (proxy environment variables are ignored), and
//! redirects are not followed with credentials attached.

mod common;

use common::xml::empty_answer;
use common::*;
use mirror::{Mirror, SourceState};

#[tokio::test]
async fn configured_proxy_carries_the_request_and_env_proxies_are_ignored() {
    // A proxy variable pointing at a closed port: a client honouring it would fail.
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(var, "http://127.0.0.1:9");
    }
    let direct = FakeUpstream::start(|r, _| Reply::taxii(empty_answer(r)));
    let (_d, store) = temp_store();
    let h = Mirror::start(store.clone(), vec![taxii_source(&direct)]);
    first_run(&h).await;
    assert_eq!(h.source_status("up").unwrap().state, SourceState::Idle);
    h.shutdown().await;

    // The fake acts as a plain HTTP proxy: it sees the absolute URL and answers itself.
    let proxy = FakeUpstream::start(|r, _| Reply::taxii(empty_answer(r)));
    let (_d2, store2) = temp_store();
    let mut cfg = taxii_source(&proxy);
    cfg.poll_url = Some("http://feed.example.test/taxii/poll".into());
    cfg.proxy = Some(proxy.url(""));
    let h = Mirror::start(store2, vec![cfg]);
    first_run(&h).await;
    assert_eq!(h.source_status("up").unwrap().state, SourceState::Idle);
    assert_eq!(
        proxy.requests()[0].target,
        "http://feed.example.test/taxii/poll"
    );
    assert_headers_ok(&proxy);
    h.shutdown().await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let up = FakeUpstream::start(|_, _| {
        Reply::status(302, "text/plain", "moved").header("Location", "http://127.0.0.1:9/elsewhere")
    });
    let (_d, store) = temp_store();
    let h = Mirror::start(store, vec![taxii_source(&up)]);
    first_run(&h).await;
    let s = h.source_status("up").unwrap();
    assert_eq!(s.state, SourceState::Failing);
    assert_eq!(
        s.last_error.as_deref(),
        Some("upstream redirected (HTTP 302) to http://127.0.0.1:9/elsewhere")
    );
    assert_eq!(up.count(), 1);
    h.shutdown().await;
}
