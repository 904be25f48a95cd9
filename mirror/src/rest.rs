//! One run of an OTX DirectConnect source: `GET /api/v1/pulses/subscribed` from the
//! checkpoint, following `next`, each pulse mapped to one STIX 1.2 block.
//!
//! Commit rule: every page's blocks are committed as the page arrives, but the checkpoint
//! (the greatest pulse `modified` seen) only with the last page. Pages may come newest
//! first, so an earlier checkpoint could skip pulses of pages not yet read; a run cut short
//! re-reads from the old checkpoint and the content hash keeps it from storing anything twice.

use std::collections::BTreeSet;
use std::time::Instant;

use store::MetaPut;
use taxii::Timestamp;
use tracing::{debug, info};

use crate::checkpoint::{checkpoint_key, Checkpoint, CHECKPOINT_NS, REST_CURSOR_NAME};
use crate::error::{sanitize, SourceError};
use crate::http::{check_status, decode_utf8, looks_like_html, read_body, send_error};
use crate::ingest::prepare_pulses;
use crate::source::{secs_to_us, RunStats, SourceTask};
use crate::taxii_run::stored_indicators;
use crate::upstream::Upstream;

type RunResult = Result<RunStats, (RunStats, SourceError)>;

/// Header carrying the OTX API key.
const API_KEY_HEADER: &str = "X-OTX-API-KEY";

impl SourceTask {
    /// Fetch every pulse modified since the checkpoint.
    pub(crate) async fn run_rest(&mut self) -> RunResult {
        let mut stats = RunStats::default();
        let (base, api_key) = match &self.upstream {
            Some(Upstream::Rest { base, api_key }) => (base.clone(), api_key.clone()),
            _ => return Err((stats, SourceError::Setup("not a REST source".into()))),
        };
        let fail = |s: RunStats, e: SourceError| Err((s, e));
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return fail(stats, e),
        };
        let collection = self.cfg.collection.clone();
        if let Err(e) = self
            .blocking(move |s| s.ensure_collection(&collection))
            .await
        {
            return fail(stats, e);
        }

        let name = self.cfg.name.clone();
        let key = checkpoint_key(&name, REST_CURSOR_NAME);
        let started = Instant::now();
        let now = Timestamp::now();
        let since = match self.load_checkpoint(&key).await {
            Ok(Some(c)) => c.end,
            Ok(None) => Timestamp::from_micros(
                now.as_micros() - secs_to_us(self.cfg.backfill_days * 86_400.0),
            ),
            Err(e) => return fail(stats, e),
        };

        let mut url = match base.join("api/v1/pulses/subscribed") {
            Ok(u) => u,
            Err(e) => return fail(stats, SourceError::Setup(format!("base_url: {e}"))),
        };
        url.query_pairs_mut()
            .append_pair("limit", &self.cfg.page_limit.to_string())
            .append_pair("modified_since", &since.to_string());
        let mut seen_urls = BTreeSet::new();
        let mut max_modified = since;
        let mut pages = 0u64;
        self.shared.update(|s| {
            s.backfill.windows_done = 0;
            s.backfill.windows_total = 1;
        });

        loop {
            if !seen_urls.insert(url.to_string()) {
                return fail(
                    stats,
                    SourceError::Paging("next link repeats a page already read".into()),
                );
            }
            if pages >= self.cfg.max_parts {
                return fail(
                    stats,
                    SourceError::Paging(format!(
                        "more than max_parts ({}) pages",
                        self.cfg.max_parts
                    )),
                );
            }
            let page_started = Instant::now();
            let fetched = self
                .cancellable(fetch_page(
                    &client,
                    &url,
                    &api_key,
                    self.cfg.max_body_bytes,
                    self.cfg.lenient_decoding,
                ))
                .await;
            let page = match fetched {
                Ok(p) => p,
                Err(e) => {
                    self.window_failed("", 0, &e);
                    return fail(stats, e);
                }
            };
            pages += 1;
            debug!(source = %name, page = pages, pulses = page.results.len(),
                ms = page_started.elapsed().as_millis() as u64, "pulse page");
            if pages == 1 {
                let limit = u64::from(self.cfg.page_limit.max(1));
                let total = page.count.div_ceil(limit).max(1);
                self.shared.update(|s| s.backfill.windows_total = total);
            }

            let next = match &page.next {
                Some(n) if !n.trim().is_empty() => match resolve_next(&base, n) {
                    Ok(u) => Some(u),
                    Err(e) => return fail(stats, e),
                },
                _ => None,
            };
            let source = name.clone();
            let pulses = page.results;
            let (prepared, counts) =
                match tokio::task::spawn_blocking(move || prepare_pulses(&source, &pulses, now))
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        return fail(
                            stats,
                            SourceError::Json(format!("mapping task failed: {e}")),
                        )
                    }
                };
            if let Some(m) = prepared.max_upstream {
                max_modified = max_modified.max(m);
            }
            debug!(source = %name, skipped_expired = counts.skipped_expired,
                skipped_inactive = counts.skipped_inactive, not_emitted = counts.not_emitted,
                "pulse indicators skipped");

            let meta = next.is_none().then(|| MetaPut {
                ns: CHECKPOINT_NS.to_string(),
                key: key.clone(),
                value: Checkpoint::at(max_modified).encode(),
            });
            let collection = self.cfg.collection.clone();
            let (all_ind, no_ind) = (prepared.indicators, prepared.no_indicators);
            let blocks = prepared.blocks;
            let curation = self.cfg.curation.clone();
            let appended = self
                .blocking(move |s| {
                    let kept = curation.apply(s, &collection, blocks, now)?;
                    let all_ind = if kept.dropped + kept.edited > 0 {
                        kept.indicators
                    } else {
                        all_ind
                    };
                    let outcome = s.append(&collection, kept.blocks, meta)?;
                    let stored = stored_indicators(s, &collection, all_ind, &outcome)?;
                    Ok((outcome, stored))
                })
                .await;
            let (outcome, indicators) = match appended {
                Ok(x) => x,
                Err(e) => return fail(stats, e),
            };
            let page_stats = RunStats {
                blocks: outcome.stored,
                indicators,
                duplicates: outcome.duplicates,
                no_indicators: no_ind,
                repaired: 0,
                windows: 1,
            };
            self.count_window(&mut stats, page_stats);
            self.window_succeeded("", 0);

            match next {
                Some(n) => url = n,
                None => break,
            }
            if self.stopping() {
                return fail(stats, SourceError::Cancelled);
            }
        }

        info!(source = %name, upstream = "pulses/subscribed", blocks = stats.blocks,
            indicators = stats.indicators, duplicates = stats.duplicates,
            no_indicators = stats.no_indicators, pages, checkpoint = %max_modified,
            ms = started.elapsed().as_millis() as u64,
            "{} observables were fetched from the source: {name} (duplicates skipped: {})",
            stats.indicators, stats.duplicates);
        Ok(stats)
    }
}

/// GET one page and decode it.
async fn fetch_page(
    client: &reqwest::Client,
    url: &reqwest::Url,
    api_key: &crate::config::Secret,
    max_body: u64,
    lenient: bool,
) -> Result<stix::otx::Page, SourceError> {
    let resp = client
        .get(url.clone())
        .header(API_KEY_HEADER, api_key.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(send_error)?;
    let resp = check_status(resp).await?;
    let status = resp.status().as_u16();
    let raw = read_body(resp, max_body).await?;
    if looks_like_html(&raw) {
        return Err(SourceError::HtmlPage { status });
    }
    let (body, _) = decode_utf8(raw, lenient)?;
    serde_json::from_slice(&body).map_err(|e| SourceError::Json(sanitize(&e.to_string(), 200)))
}

/// Resolve a `next` link (absolute, or relative to the base) and refuse one that leaves the
/// configured scheme, host and port: the API key must never go elsewhere.
fn resolve_next(base: &reqwest::Url, next: &str) -> Result<reqwest::Url, SourceError> {
    let url = base
        .join(next.trim())
        .map_err(|e| SourceError::Json(format!("bad next link: {e}")))?;
    if url.scheme() != base.scheme()
        || url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err(SourceError::ForeignHost(sanitize(url.as_str(), 200)));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let base = reqwest::Url::parse("http://127.0.0.1:8080/").unwrap();
        let rel = resolve_next(&base, "/api/v1/pulses/subscribed?limit=50&page=2").unwrap();
        assert_eq!(
            rel.as_str(),
            "http://127.0.0.1:8080/api/v1/pulses/subscribed?limit=50&page=2"
        );
        let abs = resolve_next(
            &base,
            "http://127.0.0.1:8080/api/v1/pulses/subscribed?page=3",
        )
        .unwrap();
        assert_eq!(abs.query(), Some("page=3"));
        assert!(matches!(
            resolve_next(
                &base,
                "http://127.0.0.2:8080/api/v1/pulses/subscribed?page=3"
            ),
            Err(SourceError::ForeignHost(_))
        ));
        assert!(resolve_next(&base, "https://127.0.0.1:8080/x").is_err());
    }
}
