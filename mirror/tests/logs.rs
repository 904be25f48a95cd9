//! What reaches the logs: one info line per run, one error per auth failure, one alert for
//! a source stuck on its smallest window, the disabled warning, and never a secret.

mod common;

use common::xml::{asked, block, empty_answer, pkg, status, Asked, PollResp};
use common::*;
use mirror::{Mirror, SourceConfig, SourceKind, SourceState};

const KEY: &str = "sekrit-key-7f3a9c";
const PASSWORD: &str = "sekrit-password-41d2";

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let (logs, _guard) = Logs::capture();
    std::env::set_var("MIRROR_LOG_TEST_KEY", KEY);
    std::env::set_var("MIRROR_LOG_TEST_PASSWORD", PASSWORD);
    let up = FakeUpstream::start(|r, i| match (i, asked(r.message())) {
        (0, _) => Reply::taxii(status("UNAUTHORIZED", "bad credentials")),
        (1, _) => Reply::status(401, "text/html", "<html>401</html>"),
        (2, _) => Reply::status(503, "text/plain", "down"),
        (_, Asked::Poll { id, end, .. }) => Reply::taxii(
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
        _ => Reply::json("{\"count\":0,\"next\":null,\"results\":[]}"),
    });
    let (_d, store) = temp_store();
    let mut otx = SourceConfig::new("otx", SourceKind::Otx, "otx");
    otx.base_url = Some(up.url(""));
    otx.collections = vec!["user_AlienVault".into()];
    otx.api_key_env = Some("MIRROR_LOG_TEST_KEY".into());
    otx.backfill_days = 1.0;
    fast(&mut otx);
    let mut basic = taxii_source(&up);
    basic.password = None;
    basic.password_env = Some("MIRROR_LOG_TEST_PASSWORD".into());
    let mut rest = SourceConfig::new("rest", SourceKind::OtxRest, "otx");
    rest.base_url = Some(up.url(""));
    rest.api_key_env = Some("MIRROR_LOG_TEST_KEY".into());
    fast(&mut rest);
    let configs = vec![otx, basic, rest];
    let debug_text = format!("{configs:?}");
    let h = Mirror::start(store, configs);
    first_run(&h).await;
    for name in ["otx", "up", "rest"] {
        let _ = h.poll_now(name);
        let _ = h.poll_now(name);
    }
    wait_status(&h, "rest", "rest idle", |s| s.state == SourceState::Idle).await;
    wait_status(&h, "up", "up idle", |s| {
        s.state == SourceState::Idle || s.state == SourceState::AuthFailed
    })
    .await;
    h.shutdown().await;

    let text = logs.text();
    assert!(
        text.contains("observables were fetched from the source"),
        "{text}"
    );
    for secret in [KEY, PASSWORD] {
        assert!(!text.contains(secret), "secret in logs");
        assert!(!debug_text.contains(secret));
    }
    assert!(!text.contains("STIX_Package"), "no content blocks in logs");
}

#[tokio::test]
async fn disabled_source_logs_one_warning() {
    let (logs, _guard) = Logs::capture();
    let (_d, store) = temp_store();
    let mut rest = SourceConfig::new("rest", SourceKind::OtxRest, "otx");
    rest.base_url = Some("http://127.0.0.1:9".into());
    rest.api_key_env = Some("MIRROR_LOG_TEST_UNSET".into());
    let h = Mirror::start(store, vec![rest]);
    first_run(&h).await;
    h.shutdown().await;
    let lines = logs.lines_with("source rest disabled: MIRROR_LOG_TEST_UNSET not set");
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert!(lines[0].contains("WARN"));
}

#[tokio::test]
async fn auth_failure_is_one_error_line() {
    let (logs, _guard) = Logs::capture();
    let up = FakeUpstream::start(|_, _| Reply::taxii(status("UNAUTHORIZED", "no")));
    let (_d, store) = temp_store();
    let h = Mirror::start(store, vec![taxii_source(&up)]);
    first_run(&h).await;
    h.poll_now("up").unwrap();
    wait_status(&h, "up", "second attempt", |s| {
        up.count() == 2 && s.state == SourceState::AuthFailed
    })
    .await;
    h.shutdown().await;
    let errors: Vec<_> = logs
        .text()
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(str::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("authentication failed"));
}

#[tokio::test]
async fn stuck_on_the_smallest_window_alerts_once() {
    let (logs, _guard) = Logs::capture();
    let up = FakeUpstream::start(|_, _| Reply::status(502, "text/html", "<html>502</html>"));
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.window_days = 1.0;
    cfg.min_window_secs = 21_600.0; // 1 d -> 12 h -> 6 h, then stuck
    cfg.backoff_initial_secs = 0.001;
    cfg.backoff_max_secs = 0.005;
    let h = Mirror::start(store.clone(), vec![cfg]);
    wait_status(&h, "up", "many failures", |s| s.consecutive_failures >= 12).await;
    h.shutdown().await;
    let windows: Vec<i64> = up
        .requests()
        .iter()
        .filter_map(|r| match asked(r.message()) {
            Asked::Poll {
                begin: Some(b),
                end: Some(e),
                ..
            } => Some((e.as_micros() - b.as_micros()) / 3_600_000_000),
            _ => None,
        })
        .collect();
    assert_eq!(&windows[..4], &[24, 12, 6, 6], "halved down to the minimum");
    let alerts = logs.lines_with("ALERT");
    assert_eq!(alerts.len(), 1, "{}", logs.text());
    assert!(alerts[0].contains("ERROR"));
    assert!(blocks(&store, "local").is_empty());
}

#[tokio::test]
async fn omitted_end_timestamp_is_logged_once_per_run() {
    let (logs, _guard) = Logs::capture();
    let up = FakeUpstream::start(|r, _| match asked(r.message()) {
        Asked::Poll { id, .. } => Reply::taxii(
            PollResp {
                in_response_to: &id,
                more: false,
                result_id: None,
                part: 1,
                end: None,
                blocks: vec![],
            }
            .xml(),
        ),
        _ => Reply::taxii(empty_answer(r)),
    });
    let (_d, store) = temp_store();
    let mut cfg = taxii_source(&up);
    cfg.window_days = 0.5; // four windows, each without an end
    let h = Mirror::start(store, vec![cfg]);
    first_run(&h).await;
    h.shutdown().await;
    assert_eq!(up.count(), 4);
    assert_eq!(logs.lines_with("upstream omitted end timestamp").len(), 1);
}
