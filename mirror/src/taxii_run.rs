//! One run of a TAXII 1.1 (or OTX TAXII) source: for each upstream collection, poll the
//! windows from its checkpoint up to `now - end_lag`.
//!
//! Each result part is stored in its own store batch as soon as it has arrived, while the
//! next part is being fetched; the window's last part is stored in one batch with the
//! window's new checkpoint. A crash or a fault part-way through a window leaves the
//! checkpoint where it was: the window is polled again and the parts stored before are
//! found by content hash and skipped, so nothing is lost and nothing is stored twice.

use std::sync::Arc;
use std::time::Instant;

use store::{MetaPut, NewBlock};
use taxii::Timestamp;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::checkpoint::{checkpoint_key, Checkpoint, CHECKPOINT_NS};
use crate::error::SourceError;
use crate::ingest::prepare_taxii_split;
use crate::poll::{max_label_after, next_cursor, poll_window, NextCursor, Part};
use crate::source::{secs_to_us, RunStats, Shared, SourceTask};
use crate::taxii_client::TaxiiEndpoint;
use crate::upstream::Upstream;

type RunResult = Result<RunStats, (RunStats, SourceError)>;

/// Parts received and waiting to be stored while the next one is fetched. With the part
/// being fetched and the part being stored, at most this + 2 parts are held at once.
///
/// TODO(mirror): the back-fill benchmark's 17 parts of about 650 pulses take 100 to 190 ms
/// each (a median of 5,112 pulses/s over 16 runs, 7 of them under the 5,000): the
/// append is about 15 ms of CPU of a part; fetching and parsing the next part, reading
/// this one (on two threads) and, in the benchmark, the upstream server on the same two
/// cores take the rest, and the spread between runs follows the machine, not the code.
const PARTS_IN_FLIGHT: usize = 1;

/// Storing the parts of one window as they arrive.
struct PartIngest {
    store: store::Store,
    shared: Arc<Shared>,
    source: String,
    upstream: String,
    collection: String,
    /// What the collection refuses, applied before each append.
    curation: crate::Curation,
    /// The effective list of refused values, read once per window: a store read waits for
    /// an append in progress, which would keep reading and appending from overlapping.
    allow: Arc<stix::curate::Allowlist>,
    /// Checkpoint key of the upstream collection.
    key: String,
    /// The window `(begin, end]`.
    begin: Timestamp,
    end: Timestamp,
}

/// A part read, hashed and curated, ready to append.
struct ReadPart {
    blocks: Vec<NewBlock>,
    /// Indicators in `blocks`.
    indicators: u64,
    no_indicators: u64,
    repaired: u64,
    /// Set on the window's last part: the checkpoint it is appended with.
    next: Option<NextCursor>,
    read_us: u64,
}

type Appending = tokio::task::JoinHandle<Result<(RunStats, Option<NextCursor>), SourceError>>;

impl PartIngest {
    /// Store every part received, in order, the last one with the window's new checkpoint.
    /// Reading part n+1 overlaps the append of part n; appends run one at a time. Returns
    /// what was stored, and the next cursor when the last part was stored (`None`: the
    /// parts stopped before the last one, and the fetch side says why). On an error the
    /// receiver is dropped, which stops the fetch.
    async fn run(
        self,
        mut parts: mpsc::Receiver<Part>,
    ) -> (RunStats, Result<Option<NextCursor>, SourceError>) {
        let mut stats = RunStats::default();
        let mut max_label = None;
        let mut index = 0usize;
        let mut appending: Option<Appending> = None;
        let result = loop {
            let Some(part) = parts.recv().await else {
                break Ok(None);
            };
            max_label = max_label_after(max_label, self.begin, &part.blocks);
            let next = part
                .last
                .then(|| next_cursor(self.begin, self.end, part.inclusive_end, max_label));
            let first_index = index;
            index += part.blocks.len();
            let read = self.read_part(part, first_index, next).await;
            // Appends keep the parts' order: the one before must be done first.
            if let Some(previous) = appending.take() {
                if let Err(e) = self.finish(previous, &mut stats).await {
                    break Err(e);
                }
            }
            let read = match read {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            let last = self.append_part(read);
            if next.is_some() {
                break self.finish(last, &mut stats).await;
            }
            appending = Some(last);
        };
        // The parts stopped: an append still running commits anyway, so count it.
        if let Some(previous) = appending.take() {
            if let Err(e) = self.finish(previous, &mut stats).await {
                return (stats, result.and(Err(e)));
            }
        }
        (stats, result)
    }

    /// Read, hash and curate one part (blocking work, off the async threads).
    async fn read_part(
        &self,
        part: Part,
        first_index: usize,
        next: Option<NextCursor>,
    ) -> Result<ReadPart, SourceError> {
        let (source, collection, curation, allow) = (
            self.source.clone(),
            self.collection.clone(),
            self.curation.clone(),
            self.allow.clone(),
        );
        let job = move || -> Result<_, SourceError> {
            let started = Instant::now();
            let prepared = prepare_taxii_split(&source, part.blocks, part.repaired, first_index)?;
            let kept = curation.apply_with(&allow, &collection, prepared.blocks, Timestamp::now());
            let indicators = if kept.dropped + kept.edited > 0 {
                kept.indicators
            } else {
                prepared.indicators
            };
            let read = ReadPart {
                blocks: kept.blocks,
                indicators,
                no_indicators: prepared.no_indicators,
                repaired: prepared.repaired,
                next,
                read_us: started.elapsed().as_micros() as u64,
            };
            Ok((read, prepared.repaired_ids))
        };
        let (read, repaired_ids) =
            tokio::task::spawn_blocking(job)
                .await
                .map_err(|e| SourceError::Content {
                    index: first_index,
                    reason: format!("ingest task failed: {e}"),
                })??;
        for id in &repaired_ids {
            warn!(source = %self.source, upstream = %self.upstream, package = %id, "invalid UTF-8 replaced with U+FFFD (lenient decoding)");
        }
        Ok(read)
    }

    /// Start appending a read part (with the checkpoint on the last part) in one batch.
    fn append_part(&self, read: ReadPart) -> Appending {
        let meta = read.next.map(|n| MetaPut {
            ns: CHECKPOINT_NS.to_string(),
            key: self.key.clone(),
            value: Checkpoint::at(n.cursor).encode(),
        });
        let (store, collection) = (self.store.clone(), self.collection.clone());
        let (source, upstream) = (self.source.clone(), self.upstream.clone());
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let store_err = |e: store::StoreError| SourceError::Store(e.to_string());
            let outcome = store
                .append(&collection, read.blocks, meta)
                .map_err(store_err)?;
            let stored = stored_indicators(&store, &collection, read.indicators, &outcome)
                .map_err(store_err)?;
            let stats = RunStats {
                blocks: outcome.stored,
                indicators: stored,
                duplicates: outcome.duplicates,
                no_indicators: read.no_indicators,
                repaired: read.repaired,
                windows: 0,
            };
            debug!(source = %source, upstream = %upstream, blocks = stats.blocks,
                duplicates = stats.duplicates, last = read.next.is_some(), read_us = read.read_us,
                append_us = started.elapsed().as_micros() as u64, "part committed");
            Ok((stats, read.next))
        })
    }

    /// Wait for an append and count what it stored.
    async fn finish(
        &self,
        appending: Appending,
        stats: &mut RunStats,
    ) -> Result<Option<NextCursor>, SourceError> {
        let (part_stats, next) = appending
            .await
            .map_err(|e| SourceError::Store(format!("store task failed: {e}")))??;
        stats.add(&part_stats);
        self.shared.count_blocks(&part_stats);
        Ok(next)
    }
}

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
            // The next part is fetched while the one before it is read and stored.
            let (tx, rx) = mpsc::channel(PARTS_IN_FLIGHT);
            let (curation, collection) = (self.cfg.curation.clone(), self.cfg.collection.clone());
            let allow = match self
                .blocking(move |s| curation.effective(s, &collection))
                .await
            {
                Ok(a) => Arc::new(a),
                Err(e) => return Err((stats, e)),
            };
            let parts = PartIngest {
                store: self.store.clone(),
                shared: self.shared.clone(),
                source: name.clone(),
                upstream: upstream.to_string(),
                collection: self.cfg.collection.clone(),
                curation: self.cfg.curation.clone(),
                allow,
                key: key.clone(),
                begin: cursor,
                end,
            };
            let joined = self
                .cancellable(async {
                    Ok(tokio::join!(
                        poll_window(ep, &name, upstream, cursor, end, max_parts, tx),
                        parts.run(rx)
                    ))
                })
                .await;
            let (fetched, (window_stats, ingested)) = match joined {
                Ok(j) => j,
                Err(e) => return Err((stats, e)),
            };
            stats.add(&window_stats);
            // A failed store write or block comes first: the fetch stopped because of it.
            let done = match (ingested, fetched) {
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                (Ok(Some(next)), Ok(fetch)) => Ok((next, fetch)),
                (Ok(None), Ok(_)) => Err(SourceError::Paging(
                    "the window ended without its last part".into(),
                )),
            };
            let (next, fetch) = match done {
                Ok(d) => d,
                Err(e) => {
                    if !matches!(e, SourceError::Store(_)) {
                        self.window_failed(upstream, window, &e);
                    }
                    return Err((stats, e));
                }
            };
            self.count_window_done(&mut stats);

            if next.omitted_end && !warned_end {
                warned_end = true;
                warn!(source = %name, upstream = %upstream, "upstream omitted end timestamp; next checkpoint {}", next.cursor);
            }
            if next.end_not_after_begin {
                warn!(source = %name, upstream = %upstream, begin = %cursor, "upstream end timestamp is not after the requested begin; checkpoint kept");
            }
            debug!(source = %name, upstream = %upstream, begin = %cursor, end = %end, parts = fetch.parts,
                bytes = fetch.bytes, blocks = window_stats.blocks, duplicates = window_stats.duplicates,
                checkpoint = %next.cursor, "window committed");
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
