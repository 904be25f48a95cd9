//! Poll and Poll_Fulfillment: a time window turned into a range read over labels and
//! streamed, split into parts that stay stable while new blocks arrive.
//!
//! A client that asks for STIX 1.1.1 and not 1.2 gets the STIX 1.2 blocks converted
//! ([`stix::downgrade`]); that conversion is the one read of stored STIX on this path, and
//! only for those clients.

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use taxii::{
    Message, PollBy, PollFulfillment, PollRequest, PollResponse, RecordCount, ResponseType,
    Timestamp, Version,
};
use tracing::info;

use super::subscriptions::SubscriptionRecord;
use super::{blocking, response_header, Reply};
use crate::auth::{Access, Caller};
use crate::error::ServiceError;
use crate::http_binding::Request;
use crate::results::ResultSet;
use crate::state::State;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;

/// Check that the caller may poll `collection`, without telling strangers it exists.
pub fn check_read(req: &Request, collection: &str) -> Result<(), ServiceError> {
    if req.state.auth.may(&req.caller, collection, Access::Read) {
        Ok(())
    } else if req.caller == Caller::Anonymous {
        Err(ServiceError::Unauthorized)
    } else {
        Err(ServiceError::NotFound(collection.to_string()))
    }
}

/// The content bindings to filter on: empty means every binding we hold.
pub fn served_bindings(requested: &[String]) -> Result<Vec<String>, ServiceError> {
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<String> = taxii::SUPPORTED_BINDINGS
        .iter()
        .filter(|b| requested.iter().any(|r| r.trim() == **b))
        .map(|b| b.to_string())
        .collect();
    if wanted.is_empty() {
        Err(ServiceError::UnsupportedContent)
    } else if wanted.len() == taxii::SUPPORTED_BINDINGS.len() {
        Ok(Vec::new())
    } else {
        Ok(wanted)
    }
}

/// Answer a Poll_Request.
pub async fn poll(req: &Request, m: PollRequest) -> Result<Reply, ServiceError> {
    let collection = m.collection_name.clone();
    check_read(req, &collection)?;

    let (params, subscription_id) = match &m.by {
        PollBy::Parameters(p) => (p.clone(), None),
        PollBy::Subscription(id) => {
            let state = req.state.clone();
            let key = id.clone();
            let record = blocking(move || SubscriptionRecord::load(&state.store, &key)).await?;
            let record = record
                .filter(|r| r.collection == collection && r.user == req.caller.name())
                .ok_or_else(|| ServiceError::NotFound(id.clone()))?;
            if record.paused {
                return Err(ServiceError::Denied(format!("subscription {id} is paused")));
            }
            (record.parameters(), Some(id.clone()))
        }
    };
    if params.query_format.is_some() {
        return Err(ServiceError::UnsupportedQuery);
    }
    let bindings = served_bindings(&params.content_bindings)?;
    if let (Some(b), Some(e)) = (m.exclusive_begin, m.inclusive_end) {
        if b > e {
            return Err(ServiceError::BadMessage(format!(
                "Exclusive_Begin_Timestamp {b} is later than Inclusive_End_Timestamp {e}"
            )));
        }
    }

    // The window's end is a snapshot: every later block gets a later label.
    let after = m.exclusive_begin;
    let requested_end = m.inclusive_end;
    let mut response = PollResponse {
        header: response_header(req),
        collection_name: collection.clone(),
        more: false,
        result_id: None,
        result_part_number: None,
        begin: after,
        inclusive_end: None,
        subscription_id,
        message: None,
        record_count: None,
        blocks: Vec::new(),
    };

    if params.response_type == ResponseType::CountOnly {
        let st = req.state.clone();
        let (coll, filter) = (collection.clone(), bindings.clone());
        let (until, total) = blocking(move || {
            let snapshot = st.store.snapshot_end();
            let until = requested_end.map_or(snapshot, |e| e.min(snapshot));
            Ok((until, count(&st, &coll, after, until, &filter)?))
        })
        .await?;
        response.inclusive_end = Some(until);
        response.record_count = Some(RecordCount {
            count: total,
            partial: false,
        });
        return Ok(Reply::message(Message::PollResponse(response), collection));
    }

    // Count, plan part 1 and stream it in one task on the blocking pool: a small poll
    // costs one hand-over between threads, not three.
    let version = req.version;
    let user = req.caller.name().to_string();
    let filter = bindings.clone();
    stream_planned(req, bindings, move |st| {
        let snapshot = st.store.snapshot_end();
        let until = requested_end.map_or(snapshot, |e| e.min(snapshot));
        response.inclusive_end = Some(until);
        if version == Version::V10 {
            // TAXII 1.0 has no parts (nor a record count): one response with the window.
            let plan = PartPlan {
                after,
                end: Some(until),
            };
            return Ok((response, plan));
        }
        let total = count(st, &collection, after, until, &filter)?;
        response.record_count = Some(RecordCount {
            count: total,
            partial: false,
        });
        let limits = &st.config.limits;
        let (max_blocks, max_bytes) = (limits.max_blocks_per_part, limits.max_bytes_per_part);
        let planned = plan_part(
            st,
            &collection,
            after,
            until,
            &filter,
            max_blocks,
            max_bytes,
        )?;
        response.result_part_number = Some(1);
        if planned.more {
            let mut set = ResultSet::new(&collection, &user, after, until, filter, total);
            if let Some(end) = planned.end {
                set.ends.push(end);
            }
            response.result_id = Some(st.results.insert(set));
            response.more = true;
        }
        let plan = PartPlan {
            after,
            end: planned.end,
        };
        Ok((response, plan))
    })
    .await
}

/// Answer a Poll_Fulfillment for part `n` of a result set.
pub async fn fulfil(req: &Request, m: PollFulfillment) -> Result<Reply, ServiceError> {
    // The result set is the caller's own, but the right is decided in the one place.
    check_read(req, &m.collection_name)?;
    let state = req.state.clone();
    let set = state
        .results
        .get(&m.result_id)
        .filter(|s| s.collection == m.collection_name && s.user == req.caller.name())
        .ok_or_else(|| ServiceError::NotFound(m.result_id.clone()))?;
    let n = m.result_part_number;
    if n == 0 {
        return Err(ServiceError::BadMessage(
            "result_part_number starts at 1".into(),
        ));
    }

    // Learn the parts up to n that have not been planned yet, then stream part n, in one
    // task on the blocking pool.
    let id = m.result_id.clone();
    let header = response_header(req);
    let bindings = set.bindings.clone();
    stream_planned(req, bindings, move |st| {
        let limits = &st.config.limits;
        let (max_blocks, max_bytes) = (limits.max_blocks_per_part, limits.max_bytes_per_part);
        let mut set = set;
        while !set.complete && (set.ends.len() as u64) < n {
            let start = set.start_of(set.ends.len() as u64 + 1).unwrap_or(set.after);
            let planned = plan_part(
                st,
                &set.collection,
                start,
                set.until,
                &set.bindings,
                max_blocks,
                max_bytes,
            )?;
            match planned.end {
                Some(end) => set.ends.push(end),
                None => set.complete = true,
            }
            if !planned.more {
                set.complete = true;
            }
        }
        let (ends, complete) = (set.ends.clone(), set.complete);
        st.results.update(&id, |s| {
            if s.ends.len() < ends.len() {
                s.ends = ends;
            }
            s.complete |= complete;
        });

        let parts = set.ends.len() as u64;
        let (plan, more) = if n <= parts {
            let plan = PartPlan {
                after: set.start_of(n).unwrap_or(set.after),
                end: Some(set.ends[(n - 1) as usize]),
            };
            (plan, n < parts || !set.complete)
        } else if n == parts + 1 {
            // One past the last part: an empty response (clients that ignore `more` stop
            // here).
            (
                PartPlan {
                    after: None,
                    end: None,
                },
                false,
            )
        } else {
            return Err(ServiceError::InvalidResponsePart {
                asked: n,
                max: parts,
            });
        };

        let response = PollResponse {
            header,
            collection_name: set.collection.clone(),
            more,
            result_id: Some(id),
            result_part_number: Some(n),
            begin: set.after,
            inclusive_end: Some(set.until),
            subscription_id: None,
            message: None,
            record_count: Some(RecordCount {
                count: set.total,
                partial: false,
            }),
            blocks: Vec::new(),
        };
        Ok((response, plan))
    })
    .await
}

/// A part's range: `after < label <= end`; no end means an empty part.
struct PartPlan {
    after: Option<Timestamp>,
    end: Option<Timestamp>,
}

struct Planned {
    end: Option<Timestamp>,
    more: bool,
}

/// How a block is served under a binding filter: `None` not at all, `Some(false)` as
/// stored, `Some(true)` converted from STIX 1.2 to 1.1.1 (for clients that read only 1.1.1).
fn serve_as(bindings: &[String], binding: &str) -> Option<bool> {
    if bindings.is_empty() || bindings.iter().any(|b| b == binding) {
        Some(false)
    } else if binding == taxii::BINDING_STIX_12
        && bindings.iter().any(|b| b == taxii::BINDING_STIX_111)
    {
        Some(true)
    } else {
        None
    }
}

fn count(
    state: &State,
    collection: &str,
    after: Option<Timestamp>,
    until: Timestamp,
    bindings: &[String],
) -> Result<u64, ServiceError> {
    if after.is_some_and(|a| a >= until) {
        return Ok(0);
    }
    if bindings.is_empty() {
        return Ok(state.store.count(collection, after, until)?);
    }
    let mut n = 0;
    for block in state.store.range_summaries(collection, after, until)? {
        if serve_as(bindings, &block?.binding).is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Find where a part that starts after `after` ends, and whether more follows. Reads the
/// block records only (labels, bindings, sizes), not the content `stream_part` reads.
fn plan_part(
    state: &State,
    collection: &str,
    after: Option<Timestamp>,
    until: Timestamp,
    bindings: &[String],
    max_blocks: usize,
    max_bytes: usize,
) -> Result<Planned, ServiceError> {
    let mut planned = Planned {
        end: None,
        more: false,
    };
    if after.is_some_and(|a| a >= until) {
        return Ok(planned);
    }
    let (mut blocks, mut bytes) = (0usize, 0usize);
    for block in state.store.range_summaries(collection, after, until)? {
        let block = block?;
        if serve_as(bindings, &block.binding).is_none() {
            continue;
        }
        let size = usize::try_from(block.size).unwrap_or(usize::MAX);
        if blocks == max_blocks || (blocks > 0 && bytes.saturating_add(size) > max_bytes) {
            planned.more = true;
            break;
        }
        blocks += 1;
        bytes += size;
        planned.end = Some(block.label);
    }
    Ok(planned)
}

/// Plan a part with `plan` on the blocking pool, then stream the response head, the part's
/// blocks and the tail, one chunk of about [`CHUNK`] bytes per task on the blocking pool:
/// no thread is held while the client reads, so a few slow clients cannot take the pool,
/// and a small poll (plan, head, blocks, tail) costs one hand-over. A planning error is
/// the request's answer; a store failure mid-way aborts the body, so a client never gets
/// a cut document that looks complete.
async fn stream_planned<F>(
    req: &Request,
    bindings: Vec<String>,
    plan: F,
) -> Result<Reply, ServiceError>
where
    F: FnOnce(&State) -> Result<(PollResponse, PartPlan), ServiceError> + Send + 'static,
{
    let state = req.state.clone();
    let version = req.version;
    let user = req.caller.name().to_string();
    let started = Instant::now();
    let first = tokio::task::spawn_blocking(move || {
        let (head, plan) = plan(&state)?;
        let mut writer = PartWriter::new(state, version, user, bindings, started, head, plan);
        let chunk = writer.next_chunk();
        Ok::<_, ServiceError>((writer, chunk))
    })
    .await
    .map_err(|e| ServiceError::Failure(format!("poll task failed: {e}")))??;

    let (writer, chunk) = first;
    let rest = futures_util::stream::unfold(Some(writer), |writer| async move {
        let mut writer = writer?;
        if writer.finished() {
            return None;
        }
        let next = tokio::task::spawn_blocking(move || {
            let chunk = writer.next_chunk();
            (writer, chunk)
        })
        .await;
        match next {
            Ok((writer, Some(chunk))) => Some((chunk, Some(writer))),
            Ok((_, None)) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    let head = futures_util::stream::iter(chunk);
    Ok(Reply::Stream(Box::pin(head.chain(rest))))
}

/// Writes one poll response part chunk by chunk; see [`stream_planned`].
struct PartWriter {
    state: State,
    version: Version,
    user: String,
    bindings: Vec<String>,
    started: Instant,
    collection: String,
    part: u64,
    more: bool,
    /// Blocks still to read; `None` before the first chunk is written and after the last.
    range: Option<store::BlockIter>,
    plan: Option<PartPlan>,
    head: Option<PollResponse>,
    blocks: u64,
    bytes: u64,
    /// `None` while the part is being written; the outcome for the metrics after.
    outcome: Option<&'static str>,
}

impl PartWriter {
    fn new(
        state: State,
        version: Version,
        user: String,
        bindings: Vec<String>,
        started: Instant,
        head: PollResponse,
        plan: PartPlan,
    ) -> PartWriter {
        PartWriter {
            state,
            version,
            user,
            bindings,
            started,
            collection: head.collection_name.clone(),
            part: head.result_part_number.unwrap_or(1),
            more: head.more,
            range: None,
            plan: Some(plan),
            head: Some(head),
            blocks: 0,
            bytes: 0,
            outcome: None,
        }
    }

    fn finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The next chunk of the body (the head with the first blocks, ..., the tail); `None`
    /// once the tail was sent; an error ends the body.
    fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.finished() {
            return None;
        }
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 2);
        if let Some(head) = self.head.take() {
            taxii::write::poll_response_head(self.version, &head, &mut buf);
            let plan = self.plan.take();
            if let Some((after, end)) = plan.and_then(|p| p.end.map(|e| (p.after, e))) {
                match self.state.store.range(&self.collection, after, end) {
                    Ok(r) => self.range = Some(r),
                    Err(e) => return Some(Err(self.fail(e))),
                }
            }
        }
        while buf.len() < CHUNK {
            let Some(block) = self.range.as_mut().and_then(|r| r.next()) else {
                self.range = None;
                taxii::write::poll_response_tail(self.version, &mut buf);
                self.finish();
                return Some(Ok(Bytes::from(buf)));
            };
            let block = match block {
                Ok(b) => b,
                Err(e) => return Some(Err(self.fail(e))),
            };
            self.write_block(&block, &mut buf);
        }
        Some(Ok(Bytes::from(buf)))
    }

    fn write_block(&mut self, block: &store::StoredBlock, buf: &mut Vec<u8>) {
        let collection = &self.collection;
        let Some(convert) = serve_as(&self.bindings, &block.binding) else {
            return;
        };
        let converted = if convert {
            match stix::downgrade::to_stix_111(&block.content, &block.ns_context) {
                Ok(c) => Some(c),
                Err(e) => {
                    // TODO(server): a package stored as escaped text is not converted; it is
                    // served under its own binding rather than mislabelled (it is counted, so
                    // it cannot be left out).
                    tracing::warn!(collection, label = %block.label, cause = %e,
                        "STIX 1.2 block could not be converted to 1.1.1");
                    None
                }
            }
        } else {
            None
        };
        let (binding, content) = match &converted {
            Some(c) => (taxii::BINDING_STIX_111, c.as_slice()),
            None => (block.binding.as_str(), block.content.as_slice()),
        };
        self.blocks += 1;
        self.bytes += content.len() as u64;
        let view = taxii::write::BlockRef {
            binding,
            subtypes: &block.subtypes,
            content,
            ns_context: &block.ns_context,
            timestamp_label: Some(block.label),
            message: None,
        };
        taxii::write::content_block(self.version, &view, buf);
    }

    fn fail(&mut self, e: store::StoreError) -> std::io::Error {
        tracing::error!(collection = self.collection, cause = %e, "poll aborted: store read failed");
        self.range = None;
        self.outcome = Some("FAILURE");
        self.count();
        std::io::Error::other(e.to_string())
    }

    fn finish(&mut self) {
        self.outcome = Some("SUCCESS");
        self.count();
        info!(
            user = self.user,
            collection = self.collection,
            part = self.part,
            more = self.more,
            blocks = self.blocks,
            bytes = self.bytes,
            ms = self.started.elapsed().as_millis() as u64,
            "served poll"
        );
    }

    fn count(&self) {
        if let Some(outcome) = self.outcome {
            self.state.metrics.poll(
                &self.collection,
                &self.user,
                outcome,
                self.blocks,
                self.bytes,
            );
        }
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.outcome.is_none() {
            tracing::warn!(
                collection = self.collection,
                user = self.user,
                "poll abandoned by the client"
            );
            self.outcome = Some("ABANDONED");
            self.count();
        }
    }
}
