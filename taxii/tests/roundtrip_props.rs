//! Property tests: every message we write reads back equal, and every timestamp we print
//! reads back as the same instant.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use taxii::read::{read_message, Limits};
use taxii::status::StatusMessage;
use taxii::write::write_message;
use taxii::*;

/// Text XML can carry, with markup characters, non-ASCII and inner spaces; no leading or
/// trailing whitespace (element text of names is compared as written).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9&<>\"'_:./é€😀-]{1,12}( [A-Za-z0-9&<>é€-]{1,8}){0,2}"
}

fn ts() -> impl Strategy<Value = Timestamp> {
    // Years 1970 to 2100, to the microsecond.
    (0i64..4_102_444_800_000_000).prop_map(Timestamp::from_micros)
}

fn header(response: bool) -> impl Strategy<Value = Header> {
    (text(), text(), vec((text(), text()), 0..3)).prop_map(move |(id, irt, extended_headers)| {
        Header {
            message_id: id,
            in_response_to: response.then_some(irt),
            extended_headers,
        }
    })
}

/// Well-formed content: a package element in its own namespace, escaped text inside.
fn content() -> impl Strategy<Value = (Vec<u8>, Vec<(String, String)>)> {
    (text(), any::<bool>()).prop_map(|(t, declared_outside)| {
        let escaped = t
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        if declared_outside {
            (
                format!("<p:Package id=\"x\"><p:Title>{escaped}</p:Title></p:Package>")
                    .into_bytes(),
                vec![("p".to_string(), "urn:example:package".to_string())],
            )
        } else {
            (
                format!("<Package xmlns=\"urn:example:package\">{escaped}</Package>").into_bytes(),
                Vec::new(),
            )
        }
    })
}

fn block() -> impl Strategy<Value = ContentBlock> {
    (
        prop::sample::select(vec![
            BINDING_STIX_111,
            BINDING_STIX_12,
            "urn:example:binding",
        ]),
        option::of(text()),
        content(),
        option::of(ts()),
        option::of(text()),
    )
        .prop_map(
            |(binding, subtype, (content, ns_context), label, message)| ContentBlock {
                binding: binding.to_string(),
                subtypes: subtype.into_iter().collect(),
                content,
                ns_context,
                timestamp_label: label,
                message,
            },
        )
}

fn poll_request() -> impl Strategy<Value = Message> {
    (
        header(false),
        text(),
        option::of(ts()),
        option::of(ts()),
        prop_oneof![
            text().prop_map(PollBy::Subscription),
            (
                any::<bool>(),
                vec(text(), 0..3),
                prop::sample::select(vec![ResponseType::Full, ResponseType::CountOnly])
            )
                .prop_map(|(allow_asynch, content_bindings, response_type)| {
                    PollBy::Parameters(PollParameters {
                        allow_asynch,
                        response_type,
                        content_bindings,
                        query_format: None,
                        delivery_requested: false,
                    })
                }),
        ],
    )
        .prop_map(
            |(header, collection_name, exclusive_begin, inclusive_end, by)| {
                Message::PollRequest(PollRequest {
                    header,
                    collection_name,
                    exclusive_begin,
                    inclusive_end,
                    by,
                })
            },
        )
}

fn poll_response() -> impl Strategy<Value = Message> {
    (
        header(true),
        text(),
        (any::<bool>(), option::of(text()), option::of(1u64..1000)),
        (option::of(ts()), option::of(ts())),
        (option::of(text()), option::of(text())),
        option::of((0u64..1_000_000, any::<bool>())),
        vec(block(), 0..4),
    )
        .prop_map(
            |(
                header,
                collection_name,
                (more, result_id, part),
                (begin, end),
                (sub, message),
                count,
                blocks,
            )| {
                Message::PollResponse(PollResponse {
                    header,
                    collection_name,
                    more,
                    result_id,
                    result_part_number: part,
                    begin,
                    inclusive_end: end,
                    subscription_id: sub,
                    message,
                    record_count: count.map(|(count, partial)| RecordCount { count, partial }),
                    blocks,
                })
            },
        )
}

fn inbox() -> impl Strategy<Value = Message> {
    (
        header(false),
        vec(text(), 0..3),
        option::of(text()),
        option::of((0u64..1_000_000, any::<bool>())),
        vec(block(), 0..4),
    )
        .prop_map(
            |(header, destination_collections, message, count, blocks)| {
                Message::InboxMessage(InboxMessage {
                    header,
                    destination_collections,
                    message,
                    source_subscription: None,
                    record_count: count.map(|(count, partial)| RecordCount { count, partial }),
                    blocks,
                })
            },
        )
}

fn status() -> impl Strategy<Value = Message> {
    (
        header(true),
        prop::sample::select(vec![
            StatusType::Success,
            StatusType::BadMessage,
            StatusType::Denied,
            StatusType::NotFound,
            StatusType::Unauthorized,
            StatusType::Failure,
        ]),
        vec(("[A-Z_]{1,12}", text()), 0..3),
        option::of(text()),
    )
        .prop_map(|(header, status_type, details, message)| {
            let irt = header.in_response_to.clone().unwrap_or_default();
            let mut s = StatusMessage::new(&irt, status_type);
            s.header = header;
            for (name, value) in details {
                s = s.detail(&name, value);
            }
            if let Some(m) = message {
                s = s.with_message(m);
            }
            Message::StatusMessage(s)
        })
}

fn fulfillment() -> impl Strategy<Value = Message> {
    (header(false), text(), text(), 1u64..10_000).prop_map(|(header, c, r, n)| {
        Message::PollFulfillment(PollFulfillment {
            header,
            collection_name: c,
            result_id: r,
            result_part_number: n,
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_message_we_write_reads_back_equal(
        message in prop_oneof![poll_request(), poll_response(), inbox(), status(), fulfillment()]
    ) {
        let env = Envelope { version: Version::V11, message };
        let bytes = write_message(&env);
        let back = read_message(&bytes, &Limits::default());
        prop_assert!(back.is_ok(), "{:?}\n{}", back, String::from_utf8_lossy(&bytes));
        let back = back.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(&back, &env, "{}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(write_message(&back), bytes);
    }

    #[test]
    fn printed_timestamps_read_back_equal(t in ts()) {
        let printed = t.to_string();
        prop_assert_eq!(Timestamp::parse(&printed), Ok(t));
    }

    #[test]
    fn any_zone_and_precision_reads_as_the_same_instant(
        t in ts(),
        offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        digits in 0usize..=9,
    ) {
        // Write t in another zone with `digits` fraction digits, cut (never rounded).
        let micros = t.as_micros();
        let shifted = Timestamp::from_micros(micros + offset_minutes * 60_000_000).to_string();
        let (clock, frac) = shifted.trim_end_matches('Z').split_once('.').unwrap_or_default();
        let frac9 = format!("{frac}000");
        let zone = format!(
            "{}{:02}:{:02}",
            if offset_minutes < 0 { '-' } else { '+' },
            offset_minutes.abs() / 60,
            offset_minutes.abs() % 60
        );
        let text = if digits == 0 {
            format!("{clock}{zone}")
        } else {
            format!("{clock}.{}{zone}", &frac9[..digits])
        };
        let kept = 10i64.pow(6u32.saturating_sub(digits as u32));
        let expected = Timestamp::from_micros(
            (micros + offset_minutes * 60_000_000).div_euclid(kept) * kept - offset_minutes * 60_000_000,
        );
        prop_assert_eq!(Timestamp::parse(&text), Ok(expected), "{}", text);
    }
}
