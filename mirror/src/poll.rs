//! Polling one window of one upstream collection, following result parts to the end.
//!
//! Each part is handed on as soon as it has arrived whole and passed the paging guards, so
//! the caller can store it while the next part is on its way. The last part is marked: the
//! caller writes the window's new checkpoint only with it, so a window that breaks off
//! half-way keeps its checkpoint (its parts that arrived are stored once; polling the window
//! again finds them as duplicates).

use std::collections::BTreeSet;
use std::time::Instant;

use taxii::{
    ContentBlock, Envelope, Header, Message, PollBy, PollFulfillment, PollParameters, PollRequest,
    PollResponse, Timestamp, Version,
};
use tokio::sync::mpsc;
use tracing::debug;

use crate::error::SourceError;
use crate::taxii_client::{status_error, TaxiiEndpoint};

/// One result part, as received.
#[derive(Debug, Default)]
pub(crate) struct Part {
    /// Its blocks, in order.
    pub blocks: Vec<ContentBlock>,
    /// Some bytes were not UTF-8 and were replaced (lenient decoding).
    pub repaired: bool,
    /// The last part of the window: nothing follows.
    pub last: bool,
    /// On the last part: the upstream's `Inclusive_End_Timestamp` (first part that carried
    /// one).
    pub inclusive_end: Option<Timestamp>,
}

/// What the whole window took, once its last part was handed on.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WindowEnd {
    /// Parts received (1 + fulfilments).
    pub parts: u64,
    /// Body bytes received.
    pub bytes: u64,
}

/// Poll `(begin, end]` of `collection`, following `more` with Poll_Fulfillment, and send
/// each part to `parts` as it arrives. Stops with [`SourceError::Cancelled`] when the
/// receiver is gone (the caller stopped taking parts).
pub(crate) async fn poll_window(
    ep: &TaxiiEndpoint,
    source: &str,
    collection: &str,
    begin: Timestamp,
    end: Timestamp,
    max_parts: u64,
    parts: mpsc::Sender<Part>,
) -> Result<WindowEnd, SourceError> {
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
    let mut out = WindowEnd::default();
    let mut inclusive_end = None;
    let (mut resp, repaired) = expect_poll_response(ep, &request, &mut out, &parts).await?;
    debug!(source = %source, upstream = %collection, %begin, %end, part = resp.result_part_number.unwrap_or(1),
        blocks = resp.blocks.len(), more = resp.more, ms = started.elapsed().as_millis() as u64,
        "poll response");

    let mut part = resp.result_part_number.unwrap_or(1);
    let mut seen = BTreeSet::from([part]);
    let mut empty_in_a_row = u32::from(resp.blocks.is_empty() && resp.more);
    out.parts = 1;
    hand_on(&parts, &mut resp, repaired, &mut inclusive_end).await?;

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
        let repaired;
        (resp, repaired) = expect_poll_response(ep, &fulfil, &mut out, &parts).await?;
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
        hand_on(&parts, &mut resp, repaired, &mut inclusive_end).await?;
    }
    Ok(out)
}

/// Send a part that passed the guards to the caller.
async fn hand_on(
    parts: &mpsc::Sender<Part>,
    resp: &mut PollResponse,
    repaired: bool,
    inclusive_end: &mut Option<Timestamp>,
) -> Result<(), SourceError> {
    if inclusive_end.is_none() {
        *inclusive_end = resp.inclusive_end;
    }
    let last = !resp.more;
    let part = Part {
        blocks: std::mem::take(&mut resp.blocks),
        repaired,
        last,
        inclusive_end: if last { *inclusive_end } else { None },
    };
    parts.send(part).await.map_err(|_| SourceError::Cancelled)
}

/// One exchange that must give a Poll_Response, abandoned as soon as the caller stops
/// taking parts.
async fn expect_poll_response(
    ep: &TaxiiEndpoint,
    request: &Envelope,
    out: &mut WindowEnd,
    parts: &mpsc::Sender<Part>,
) -> Result<(PollResponse, bool), SourceError> {
    let received = tokio::select! {
        r = ep.exchange(request) => r?,
        () = parts.closed() => return Err(SourceError::Cancelled),
    };
    out.bytes += received.bytes as u64;
    match received.message {
        Message::PollResponse(r) => Ok((r, received.repaired)),
        Message::StatusMessage(s) => Err(status_error(&s)),
        other => Err(SourceError::Malformed(format!(
            "expected Poll_Response, got {}",
            other.name(Version::V11)
        ))),
    }
}

/// The greatest `Timestamp_Label` after `begin` among `blocks`, folded into `acc`.
pub(crate) fn max_label_after(
    acc: Option<Timestamp>,
    begin: Timestamp,
    blocks: &[ContentBlock],
) -> Option<Timestamp> {
    blocks
        .iter()
        .filter_map(|b| b.timestamp_label)
        .filter(|l| *l > begin)
        .chain(acc)
        .max()
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
/// - when omitted: the greatest `Timestamp_Label` received inside the window
///   (`max_label`, from [`max_label_after`]), else our end.
pub(crate) fn next_cursor(
    begin: Timestamp,
    end: Timestamp,
    upstream_end: Option<Timestamp>,
    max_label: Option<Timestamp>,
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
        None => NextCursor {
            cursor: max_label.map_or(end, |l| l.min(end)),
            stop: false,
            omitted_end: true,
            end_not_after_begin: false,
        },
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
        let n = next_cursor(b, e, Some(e), None);
        assert_eq!((n.cursor, n.stop), (e, false));
        let mid = ts("2024-01-02T00:00:00Z");
        let n = next_cursor(b, e, Some(mid), None);
        assert_eq!((n.cursor, n.stop), (mid, true));
        let n = next_cursor(b, e, Some(ts("2030-01-01T00:00:00Z")), None);
        assert_eq!((n.cursor, n.stop), (e, false));
        let n = next_cursor(b, e, Some(b), None);
        assert!(n.end_not_after_begin && n.stop && n.cursor == b);
        // Labels gathered over two parts: the greatest inside the window wins.
        let first = max_label_after(None, b, &[labelled("2024-01-02T12:00:00Z")]);
        let both = max_label_after(
            first,
            b,
            &[
                labelled("2024-01-01T06:00:00Z"),
                labelled("2023-01-01T00:00:00Z"),
            ],
        );
        assert_eq!(
            max_label_after(None, b, &[labelled("2023-01-01T00:00:00Z")]),
            None
        );
        let n = next_cursor(b, e, None, both);
        assert_eq!(n.cursor, ts("2024-01-02T12:00:00Z"));
        assert!(n.omitted_end);
        let n = next_cursor(b, e, None, None);
        assert_eq!(n.cursor, e);
    }
}
