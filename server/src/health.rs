//! `/healthz`, `/readyz` and `/metrics` on the admin listener, open to anyone who can
//! reach it (never behind TAXII auth; the listener is loopback unless configured otherwise).
//!
//! - `/healthz`: the process answers.
//! - `/readyz`: the store answers a read and takes writes, and every enabled source has
//!   succeeded recently: its last success is at most twice its interval plus
//!   [`READY_SLACK_SECS`] old. A source
//!   disabled in the configuration does not count; one disabled because its secret is
//!   missing does (it is a mistake, not a choice).
//! - `/metrics`: Prometheus text format (see [`crate::metrics`]).

use actix_web::{web, HttpResponse};

use crate::metrics::{render, StoreFigures};
use crate::state::{AppState, State};

/// Time a source may run late, on top of twice its interval, before `/readyz` fails.
pub const READY_SLACK_SECS: f64 = 300.0;

/// Register the three routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Why a source keeps the server from being ready, if it does.
pub fn source_problem(
    cfg: &mirror::SourceConfig,
    status: Option<&mirror::SourceStatus>,
    now: taxii::Timestamp,
) -> Option<String> {
    if !cfg.enabled {
        return None;
    }
    let name = &cfg.name;
    let Some(status) = status else {
        return Some(format!("source {name}: not started"));
    };
    if status.state == mirror::SourceState::Disabled {
        let why = status.last_error.as_deref().unwrap_or("disabled");
        return Some(format!("source {name}: not running: {why}"));
    }
    let last = status
        .last_success
        .as_deref()
        .and_then(|t| taxii::Timestamp::parse(t).ok());
    let Some(last) = last else {
        return Some(format!("source {name}: no successful run yet"));
    };
    let age = (now.as_micros() - last.as_micros()) as f64 / 1e6;
    let limit = 2.0 * cfg.interval_secs + READY_SLACK_SECS;
    if age > limit {
        let why = status.last_error.as_deref().unwrap_or("no recent run");
        return Some(format!(
            "source {name}: last success {age:.0} s ago (limit {limit:.0} s): {why}"
        ));
    }
    None
}

/// Every reason the server is not ready; empty when it is.
pub fn problems(state: &AppState) -> Vec<String> {
    let mut out = Vec::new();
    if !state.swept.load(std::sync::atomic::Ordering::Acquire) {
        out.push(
            "allowlist sweep in progress: TAXII requests are answered once it ends".to_string(),
        );
    }
    if let Err(e) = state.store.collections() {
        out.push(format!("store: {e}"));
    }
    if let Some(why) = state.store.space_problem() {
        out.push(format!(
            "store: ingest refused, {why} (limits.min_free_mb); clears once space is freed"
        ));
    }
    if let Some(why) = state.store.write_failure() {
        out.push(format!(
            "store: writes fail since {why}; restart taxii-mirror once the cause (a full disk?) is fixed"
        ));
    }
    let statuses = state
        .mirror
        .as_ref()
        .map(|m| m.status())
        .unwrap_or_default();
    let now = taxii::Timestamp::now();
    for cfg in &state.config.sources {
        let status = statuses.iter().find(|s| s.name == cfg.name);
        out.extend(source_problem(cfg, status, now));
    }
    out
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    let st = state.get_ref().clone();
    let found = web::block(move || problems(&st))
        .await
        .unwrap_or_else(|e| vec![format!("check failed: {e}")]);
    if found.is_empty() {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        let mut body = String::from("not ready\n");
        for p in found {
            body.push_str(&p);
            body.push('\n');
        }
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(body)
    }
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    let st = state.get_ref().clone();
    let figures = web::block(move || StoreFigures::read(&st))
        .await
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(&state, &figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(enabled: bool) -> mirror::SourceConfig {
        let mut cfg = mirror::SourceConfig::new("up", mirror::SourceKind::Taxii11, "c");
        cfg.enabled = enabled;
        cfg.interval_secs = 60.0;
        cfg
    }

    #[test]
    fn readiness_follows_the_last_success() {
        let now = taxii::Timestamp::parse("2026-01-01T12:00:00Z").unwrap();
        let mut status = mirror::SourceStatus::new("up", "taxii11", "c");
        assert!(source_problem(&source(false), None, now).is_none());
        let p = source_problem(&source(true), Some(&status), now).unwrap();
        assert!(p.contains("no successful run yet"), "{p}");
        status.last_success = Some("2026-01-01T11:58:00Z".into());
        assert!(source_problem(&source(true), Some(&status), now).is_none());
        status.last_success = Some("2026-01-01T11:50:00Z".into());
        status.last_error = Some("upstream down".into());
        let p = source_problem(&source(true), Some(&status), now).unwrap();
        assert!(
            p.contains("upstream down") && p.contains("600 s ago"),
            "{p}"
        );
        status.state = mirror::SourceState::Disabled;
        status.last_error = Some("OTX_API_KEY is not set".into());
        let p = source_problem(&source(true), Some(&status), now).unwrap();
        assert!(p.contains("OTX_API_KEY"), "{p}");
    }
}
