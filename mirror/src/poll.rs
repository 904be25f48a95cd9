//! Polling one window of one upstream collection, following result parts to the end.
//!
//! A window counts only when every part arrived well-formed: the caller commits the blocks
//! of a [`WindowResult`] in one batch, or nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use taxii::{
    ContentBlock, Envelope, Header, Message, PollBy, PollFulfillment, PollParameters, PollRequest,
    PollResponse, Timestamp, Version,
};
use tracing::debug;

use crate::error::SourceError;
use crate::taxii_client::{status_error, TaxiiEndpoint};

/// Everything one window returned.
#[derive(Debug, Default)]
pub(crate) struct WindowResult {
    /// Blocks of every part, in order.
    pub blocks: Vec<ContentBlock>,
    /// The upstream's `Inclusive_End_Timestamp` (first part that carried one).
    pub inclusive_end: Option<Timestamp>,
    /// Parts received (1 + fulfilments).
    pub parts: u64,
    /// Some bytes were not UTF-8 and were replaced (lenient decoding).
    pub repaired: bool,
    /// Body bytes received.
    pub bytes: u64,
}

/// Poll `(begin, end]` of `collection`, following `more` with Poll_Fulfillment.
pub(crate) async fn poll_window(
    ep: &TaxiiEndpoint,
    source: &str,
    collection: &str,
    begin: Timestamp,
    end: Timestamp,
    max_parts: u64,
) -> Result<WindowResult, SourceError> {
    let request = Envelope {
        version: Version::V11,
        message: Message::PollRequest(PollRequest {
            header: Header::request(taxii::new_message_id(Version::V11)),
            collection_name: collection.to_string(),
            exclusive_begin: Some(begin),
            inclusive_end: Some(end),
            by: PollBy::Parameters(PollParameters::default()),
        }),
    };
    let started = Instant::now();
    let mut out = WindowResult::default();
    let mut resp = expect_poll_response(ep, &request, &mut out).await?;
    debug!(source = %source, upstream = %collection, %begin, %end, part = resp.result_part_number.unwrap_or(1),
        blocks = resp.blocks.len(), more = resp.more, ms = started.elapsed().as_millis() as u64,
        "poll response");

    let mut part = resp.result_part_number.unwrap_or(1);
    let mut seen = BTreeSet::from([part]);
    let mut empty_in_a_row = u32::from(resp.blocks.is_empty() && resp.more);
    out.parts = 1;
    absorb(&mut out, &mut resp);

    while resp.more {
        let Some(result_id) = resp.result_id.clone().filter(|r| !r.is_empty()) else {
            return Err(SourceError::Paging("more=true without a result_id".into()));
        };
        if out.parts >= max_parts {
            return Err(SourceError::Paging(format!(
                "more than max_parts ({max_parts}) result parts"
            )));
        }
        let next = part.saturating_add(1);
        let fulfil = Envelope {
            version: Version::V11,
            message: Message::PollFulfillment(PollFulfillment {
                header: Header::request(taxii::new_message_id(Version::V11)),
                collection_name: collection.to_string(),
                result_id,
                result_part_number: next,
            }),
        };
        let started = Instant::now();
        resp = expect_poll_response(ep, &fulfil, &mut out).await?;
        let got = resp.result_part_number.unwrap_or(next);
        debug!(
            source = %source,
            upstream = %collection,
            part = got,
            blocks = resp.blocks.len(),
            more = resp.more,
            ms = started.elapsed().as_millis() as u64,
            "poll fulfilment"
        );
        if !seen.insert(got) {
            return Err(SourceError::Paging(format!("result part {got} came twice")));
        }
        if resp.blocks.is_empty() && resp.more {
            empty_in_a_row += 1;
            if empty_in_a_row >= 2 {
                return Err(SourceError::Paging(
                    "two empty result parts in a row with more=true".into(),
                ));
            }
        } else {
            empty_in_a_row = 0;
        }
        part = got.max(next);
        out.parts += 1;
        absorb(&mut out, &mut resp);
    }
    Ok(out)
}

fn absorb(out: &mut WindowResult, resp: &mut PollResponse) {
    if out.inclusive_end.is_none() {
        out.inclusive_end = resp.inclusive_end;
    }
    out.blocks.append(&mut resp.blocks);
}

async fn expect_poll_response(
    ep: &TaxiiEndpoint,
    request: &Envelope,
    out: &mut WindowResult,
) -> Result<PollResponse, SourceError> {
    let received = ep.exchange(request).await?;
    out.repaired |= received.repaired;
    out.bytes += received.bytes as u64;
    match received.message {
        Message::PollResponse(r) => Ok(r),
        Message::StatusMessage(s) => Err(status_error(&s)),
        other => Err(SourceError::Malformed(format!(
            "expected Poll_Response, got {}",
            other.name(Version::V11)
        ))),
    }
}

/// Where the next window starts, and whether this run should stop after this window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextCursor {
    pub cursor: Timestamp,
    /// The upstream is caught up (its end is before ours) or gave an unusable end.
    pub stop: bool,
    /// The upstream omitted `Inclusive_End_Timestamp`.
    pub omitted_end: bool,
    /// The upstream's end was not after our begin: cursor kept.
    pub end_not_after_begin: bool,
}

/// The next checkpoint after window `(begin, end]`:
/// - the upstream's `Inclusive_End_Timestamp`, never beyond our own end (blocks past our end
///   may not have been sent) and never backwards (then the cursor stays and the run stops);
///   an end before ours means the upstream is caught up, so the run stops there;
/// - when omitted: the greatest `Timestamp_Label` received inside the window, else our end.
pub(crate) fn next_cursor(
    begin: Timestamp,
    end: Timestamp,
    upstream_end: Option<Timestamp>,
    blocks: &[ContentBlock],
) -> NextCursor {
    match upstream_end {
        Some(e) if e > begin => NextCursor {
            cursor: e.min(end),
            stop: e < end,
            omitted_end: false,
            end_not_after_begin: false,
        },
        Some(_) => NextCursor {
            cursor: begin,
            stop: true,
            omitted_end: false,
            end_not_after_begin: true,
        },
        None => {
            let max_label = blocks
                .iter()
                .filter_map(|b| b.timestamp_label)
                .filter(|l| *l > begin)
                .max();
            NextCursor {
                cursor: max_label.map_or(end, |l| l.min(end)),
                stop: false,
                omitted_end: true,
                end_not_after_begin: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn labelled(label: &str) -> ContentBlock {
        ContentBlock {
            timestamp_label: Some(ts(label)),
            ..Default::default()
        }
    }

    #[test]
    fn cursor_rules() {
        let b = ts("2024-01-01T00:00:00Z");
        let e = ts("2024-01-03T00:00:00Z");
        let n = next_cursor(b, e, Some(e), &[]);
        assert_eq!((n.cursor, n.stop), (e, false));
        let mid = ts("2024-01-02T00:00:00Z");
        let n = next_cursor(b, e, Some(mid), &[]);
        assert_eq!((n.cursor, n.stop), (mid, true));
        let n = next_cursor(b, e, Some(ts("2030-01-01T00:00:00Z")), &[]);
        assert_eq!((n.cursor, n.stop), (e, false));
        let n = next_cursor(b, e, Some(b), &[]);
        assert!(n.end_not_after_begin && n.stop && n.cursor == b);
        let n = next_cursor(
            b,
            e,
            None,
            &[
                labelled("2024-01-02T12:00:00Z"),
                labelled("2023-01-01T00:00:00Z"),
            ],
        );
        assert_eq!(n.cursor, ts("2024-01-02T12:00:00Z"));
        assert!(n.omitted_end);
        let n = next_cursor(b, e, None, &[]);
        assert_eq!(n.cursor, e);
    }
}
