//! Poll and Poll_Fulfillment: a time window turned into a range read over labels and
//! streamed, split into parts that stay stable while new blocks arrive.
//!
//! A client that asks for STIX 1.1.1 and not 1.2 gets the STIX 1.2 blocks converted
//! ([`stix::downgrade`]); that conversion is the one read of stored STIX on this path, and
//! only for those clients.

use std::time::Instant;

use bytes::Bytes;
use taxii::{
    Message, PollBy, PollFulfillment, PollRequest, PollResponse, RecordCount, ResponseType,
    Timestamp, Version,
};
use tracing::info;

use super::subscriptions::SubscriptionRecord;
use super::{blocking, response_header, BodyStream, Reply};
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
    let state = req.state.clone();
    let after = m.exclusive_begin;
    let requested_end = m.inclusive_end;
    let st = state.clone();
    let (coll, filter) = (collection.clone(), bindings.clone());
    let (until, total) = blocking(move || {
        let snapshot = st.store.snapshot_end();
        let until = requested_end.map_or(snapshot, |e| e.min(snapshot));
        Ok((until, count(&st, &coll, after, until, &filter)?))
    })
    .await?;

    let mut response = PollResponse {
        header: response_header(req),
        collection_name: collection.clone(),
        more: false,
        result_id: None,
        result_part_number: None,
        begin: after,
        inclusive_end: Some(until),
        subscription_id,
        message: None,
        record_count: Some(RecordCount {
            count: total,
            partial: false,
        }),
        blocks: Vec::new(),
    };

    if params.response_type == ResponseType::CountOnly {
        return Ok(Reply::message(Message::PollResponse(response), collection));
    }

    if req.version == Version::V10 {
        // TAXII 1.0 has no parts: one response with the whole window.
        let plan = PartPlan {
            after,
            end: Some(until),
        };
        response.record_count = None;
        return Ok(Reply::Stream(stream_part(req, response, plan, bindings)));
    }

    // Part 1.
    let limits = &state.config.limits;
    let (max_blocks, max_bytes) = (limits.max_blocks_per_part, limits.max_bytes_per_part);
    let st = state.clone();
    let (coll, filter) = (collection.clone(), bindings.clone());
    let planned =
        blocking(move || plan_part(&st, &coll, after, until, &filter, max_blocks, max_bytes))
            .await?;
    response.result_part_number = Some(1);
    if planned.more {
        let mut set = ResultSet::new(
            &collection,
            req.caller.name(),
            after,
            until,
            bindings.clone(),
            total,
        );
        if let Some(end) = planned.end {
            set.ends.push(end);
        }
        response.result_id = Some(state.results.insert(set));
        response.more = true;
    }
    let plan = PartPlan {
        after,
        end: planned.end,
    };
    Ok(Reply::Stream(stream_part(req, response, plan, bindings)))
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

    // Learn the parts up to n that have not been planned yet.
    let limits = &state.config.limits;
    let (max_blocks, max_bytes) = (limits.max_blocks_per_part, limits.max_bytes_per_part);
    let st = state.clone();
    let id = m.result_id.clone();
    let set = blocking(move || {
        let mut set = set;
        while !set.complete && (set.ends.len() as u64) < n {
            let start = set.start_of(set.ends.len() as u64 + 1).unwrap_or(set.after);
            let planned = plan_part(
                &st,
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
        Ok(set)
    })
    .await?;

    let parts = set.ends.len() as u64;
    let (plan, more) = if n <= parts {
        let plan = PartPlan {
            after: set.start_of(n).unwrap_or(set.after),
            end: Some(set.ends[(n - 1) as usize]),
        };
        (plan, n < parts || !set.complete)
    } else if n == parts + 1 {
        // One past the last part: an empty response (clients that ignore `more` stop here).
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
        header: response_header(req),
        collection_name: set.collection.clone(),
        more,
        result_id: Some(m.result_id.clone()),
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
    Ok(Reply::Stream(stream_part(
        req,
        response,
        plan,
        set.bindings,
    )))
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

/// Write the response head, the part's blocks and the tail on a blocking thread, sending
/// chunks as they fill. A store failure mid-way aborts the body, so a client never gets a
/// cut document that looks complete.
fn stream_part(
    req: &Request,
    head: PollResponse,
    plan: PartPlan,
    bindings: Vec<String>,
) -> BodyStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let state = req.state.clone();
    let version = req.version;
    let user = req.caller.name().to_string();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let collection = head.collection_name.clone();
        let part = head.result_part_number.unwrap_or(1);
        let mut buf = Vec::with_capacity(CHUNK * 2);
        taxii::write::poll_response_head(version, &head, &mut buf);
        let (mut blocks, mut bytes) = (0u64, 0u64);
        if let Some(end) = plan.end {
            let range = match state.store.range(&collection, plan.after, end) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(collection, cause = %e, "poll aborted: store read failed");
                    state.metrics.poll(&collection, &user, "FAILURE", 0, 0);
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            for block in range {
                let block = match block {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(collection, cause = %e, "poll aborted: store read failed");
                        state
                            .metrics
                            .poll(&collection, &user, "FAILURE", blocks, bytes);
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        return;
                    }
                };
                let Some(convert) = serve_as(&bindings, &block.binding) else {
                    continue;
                };
                let converted = if convert {
                    match stix::downgrade::to_stix_111(&block.content, &block.ns_context) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            // TODO(server): a package stored as escaped text is not
                            // converted; it is served under its own binding rather than
                            // mislabelled (it is counted, so it cannot be left out).
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
                blocks += 1;
                bytes += content.len() as u64;
                let view = taxii::write::BlockRef {
                    binding,
                    subtypes: &block.subtypes,
                    content,
                    ns_context: &block.ns_context,
                    timestamp_label: Some(block.label),
                    message: None,
                };
                taxii::write::content_block(version, &view, &mut buf);
                if buf.len() >= CHUNK {
                    let chunk =
                        Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(CHUNK * 2)));
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        tracing::warn!(collection, user, "poll abandoned by the client");
                        state
                            .metrics
                            .poll(&collection, &user, "ABANDONED", blocks, bytes);
                        return;
                    }
                }
            }
        }
        taxii::write::poll_response_tail(version, &mut buf);
        let _ = tx.blocking_send(Ok(Bytes::from(buf)));
        state
            .metrics
            .poll(&collection, &user, "SUCCESS", blocks, bytes);
        info!(
            user,
            collection,
            part,
            more = head.more,
            blocks,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "served poll"
        );
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
