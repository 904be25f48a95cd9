//! One run of a TAXII 1.1 (or OTX TAXII) source: for each upstream collection, poll the
//! windows from its checkpoint up to `now - end_lag`, committing each window's blocks and
//! its new checkpoint in one store batch.

use std::time::Instant;

use store::MetaPut;
use taxii::Timestamp;
use tracing::{debug, info, warn};

use crate::checkpoint::{checkpoint_key, Checkpoint, CHECKPOINT_NS};
use crate::error::SourceError;
use crate::ingest::prepare_taxii;
use crate::poll::{next_cursor, poll_window};
use crate::source::{secs_to_us, RunStats, SourceTask};
use crate::taxii_client::TaxiiEndpoint;
use crate::upstream::Upstream;

type RunResult = Result<RunStats, (RunStats, SourceError)>;

impl SourceTask {
    /// Poll every upstream collection of this source once.
    pub(crate) async fn run_taxii(&mut self) -> RunResult {
        let endpoint = match self.taxii_endpoint().await {
            Ok(ep) => ep,
            Err(e) => {
                self.window_failed("", 0, &e);
                return Err((RunStats::default(), e));
            }
        };
        let collection = self.cfg.collection.clone();
        if let Err(e) = self
            .blocking(move |s| s.ensure_collection(&collection))
            .await
        {
            return Err((RunStats::default(), e));
        }

        let mut total = RunStats::default();
        let mut first_error = None;
        for upstream in self.cfg.upstream_collections() {
            match self.sync_collection(&endpoint, &upstream).await {
                Ok(stats) => total.add(&stats),
                Err((stats, e)) => {
                    total.add(&stats);
                    let stop = matches!(e.class(), crate::error::FaultClass::Auth)
                        || matches!(e, SourceError::Cancelled);
                    first_error.get_or_insert(e);
                    if stop {
                        break;
                    }
                }
            }
        }
        match first_error {
            None => Ok(total),
            Some(e) => Err((total, e)),
        }
    }

    /// The poll endpoint, found through discovery the first time when configured so.
    async fn taxii_endpoint(&mut self) -> Result<TaxiiEndpoint, SourceError> {
        let (poll_url, discovery_url, credentials) = match &self.upstream {
            Some(Upstream::Taxii {
                poll_url,
                discovery_url,
                credentials,
            }) => (poll_url.clone(), discovery_url.clone(), credentials.clone()),
            _ => return Err(SourceError::Setup("not a TAXII source".into())),
        };
        if let Some(url) = poll_url {
            return self.endpoint(url, credentials);
        }
        let Some(discovery) = discovery_url else {
            return Err(SourceError::Setup("no poll_url or discovery_url".into()));
        };
        let ep = self.endpoint(discovery, credentials.clone())?;
        let found = self
            .cancellable(crate::discovery::discover_poll_url(&ep))
            .await?;
        info!(source = %self.cfg.name, poll_url = %found, "poll service found through discovery");
        if let Some(Upstream::Taxii { poll_url, .. }) = &mut self.upstream {
            *poll_url = Some(found.clone());
        }
        self.endpoint(found, credentials)
    }

    /// Bring one upstream collection up to date.
    async fn sync_collection(&mut self, ep: &TaxiiEndpoint, upstream: &str) -> RunResult {
        let name = self.cfg.name.clone();
        let key = checkpoint_key(&name, upstream);
        let started = Instant::now();
        let mut stats = RunStats::default();

        let checkpoint = self.load_checkpoint(&key).await.map_err(|e| (stats, e))?;
        let target = Timestamp::from_micros(
            Timestamp::now().as_micros() - secs_to_us(self.cfg.end_lag_secs),
        );
        let mut cursor = match checkpoint {
            Some(c) => c.end,
            None => Timestamp::from_micros(
                target.as_micros() - secs_to_us(self.cfg.backfill_days * 86_400.0),
            ),
        };
        let span = (target.as_micros() - cursor.as_micros()).max(0);
        let w = self.window_us(upstream);
        let total_windows = ((span + w - 1) / w) as u64;
        self.shared.update(|s| {
            s.backfill.windows_done = 0;
            s.backfill.windows_total = total_windows;
        });

        let mut warned_end = false;
        while cursor < target {
            if self.stopping() {
                return Err((stats, SourceError::Cancelled));
            }
            let window = self.window_us(upstream);
            let end = Timestamp::from_micros(cursor.as_micros().saturating_add(window)).min(target);
            let max_parts = self.cfg.max_parts;
            let polled = self
                .cancellable(poll_window(ep, &name, upstream, cursor, end, max_parts))
                .await;
            let result = match polled {
                Ok(r) => r,
                Err(e) => {
                    self.window_failed(upstream, window, &e);
                    return Err((stats, e));
                }
            };

            let next = next_cursor(cursor, end, result.inclusive_end, &result.blocks);
            if next.omitted_end && !warned_end {
                warned_end = true;
                warn!(source = %name, upstream = %upstream, "upstream omitted end timestamp; next checkpoint {}", next.cursor);
            }
            if next.end_not_after_begin {
                warn!(source = %name, upstream = %upstream, begin = %cursor, "upstream end timestamp is not after the requested begin; checkpoint kept");
            }

            let parts = result.parts;
            let source = name.clone();
            let repaired = result.repaired;
            let blocks = result.blocks;
            let prepared =
                tokio::task::spawn_blocking(move || prepare_taxii(&source, blocks, repaired))
                    .await
                    .map_err(|e| SourceError::Content {
                        index: 0,
                        reason: format!("ingest task failed: {e}"),
                    })
                    .and_then(|r| r);
            let prepared = match prepared {
                Ok(p) => p,
                Err(e) => {
                    self.window_failed(upstream, window, &e);
                    return Err((stats, e));
                }
            };
            for id in &prepared.repaired_ids {
                warn!(source = %name, upstream = %upstream, package = %id, "invalid UTF-8 replaced with U+FFFD (lenient decoding)");
            }

            // Blocks and checkpoint in one batch: both or neither survive a crash.
            let collection = self.cfg.collection.clone();
            let meta = MetaPut {
                ns: CHECKPOINT_NS.to_string(),
                key: key.clone(),
                value: Checkpoint::at(next.cursor).encode(),
            };
            let (indicators, no_ind, rep) = (
                prepared.indicators,
                prepared.no_indicators,
                prepared.repaired,
            );
            let blocks = prepared.blocks;
            let curation = self.cfg.curation.clone();
            let (outcome, indicators) = self
                .blocking(move |s| {
                    let kept = curation.apply(s, &collection, blocks, Timestamp::now())?;
                    let indicators = if kept.dropped + kept.edited > 0 {
                        kept.indicators
                    } else {
                        indicators
                    };
                    let outcome = s.append(&collection, kept.blocks, Some(meta))?;
                    let stored = stored_indicators(s, &collection, indicators, &outcome)?;
                    Ok((outcome, stored))
                })
                .await
                .map_err(|e| (stats, e))?;

            let window_stats = RunStats {
                blocks: outcome.stored,
                indicators,
                duplicates: outcome.duplicates,
                no_indicators: no_ind,
                repaired: rep,
                windows: 1,
            };
            self.count_window(&mut stats, window_stats);
            debug!(source = %name, upstream = %upstream, begin = %cursor, end = %end, parts,
                blocks = outcome.stored, duplicates = outcome.duplicates, checkpoint = %next.cursor,
                "window committed");
            self.window_succeeded(upstream, window);

            if next.stop || next.cursor <= cursor {
                break;
            }
            cursor = next.cursor;
        }

        info!(source = %name, upstream = %upstream, blocks = stats.blocks, indicators = stats.indicators,
            duplicates = stats.duplicates, no_indicators = stats.no_indicators, windows = stats.windows,
            ms = started.elapsed().as_millis() as u64,
            "{} observables were fetched from the source: {name} (duplicates skipped: {})",
            stats.indicators, stats.duplicates);
        Ok(stats)
    }

    /// Read a checkpoint; rewrite a legacy one (no zone, bare string) in the current form.
    pub(crate) async fn load_checkpoint(
        &self,
        key: &str,
    ) -> Result<Option<Checkpoint>, SourceError> {
        let k = key.to_string();
        let raw = self
            .blocking(move |s| s.meta_get(CHECKPOINT_NS, &k))
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let (checkpoint, legacy) = Checkpoint::decode(&raw)
            .map_err(|e| SourceError::Store(format!("checkpoint {key}: {e}")))?;
        if legacy {
            let k = key.to_string();
            let value = Checkpoint::at(checkpoint.end).encode();
            self.blocking(move |s| s.meta_put(CHECKPOINT_NS, &k, &value))
                .await?;
            info!(source = %self.cfg.name, checkpoint = %checkpoint.end, "legacy checkpoint read as UTC and rewritten");
        }
        Ok(Some(checkpoint))
    }
}

/// Indicators of the blocks an append actually stored. Only when an append mixed new blocks
/// and duplicates does this read the new blocks back (by their labels) to sum exactly.
pub(crate) fn stored_indicators(
    store: &store::Store,
    collection: &str,
    all_indicators: u64,
    outcome: &store::AppendOutcome,
) -> Result<u64, store::StoreError> {
    if outcome.duplicates == 0 {
        return Ok(all_indicators);
    }
    let (Some(first), Some(last)) = (outcome.labels.first(), outcome.labels.last()) else {
        return Ok(0);
    };
    let after = Timestamp::from_micros(first.as_micros() - 1);
    let labels: std::collections::BTreeSet<Timestamp> = outcome.labels.iter().copied().collect();
    let mut sum = 0u64;
    for block in store.range_summaries(collection, Some(after), *last)? {
        let block = block?;
        if labels.contains(&block.label) {
            sum += u64::from(block.indicators);
        }
    }
    Ok(sum)
}
