//! Sample messages of every kind in both versions, for tests and schema checks.
//!
//! Each sample uses only what its version can carry, so writing then reading it gives the
//! same value back. `tests/write_samples.rs` writes them to `$TAXII_SAMPLES_DIR` for
//! `tests/validate_samples.py`, which checks them against libtaxii's XSDs.

use crate::msg::*;
use crate::status::{StatusMessage, StatusType};
use crate::ts::Timestamp;
use crate::{BINDING_STIX_111, BINDING_STIX_12};

const STIX_NS: &str = "http://stix.mitre.org/stix-1";
const PACKAGE: &[u8] = br#"<stix:STIX_Package id="example:package-1" version="1.2"><stix:STIX_Header><stix:Title>Tom &amp; Jerry &lt;3 caf&#xE9; &#x20AC;</stix:Title></stix:STIX_Header></stix:STIX_Package>"#;

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_micros(1_704_067_200_000_000 + micros)
}

fn id(v: Version, n: u32) -> String {
    match v {
        Version::V11 => format!("urn:uuid:00000000-0000-4000-8000-{n:012}"),
        Version::V10 => format!("{}", 1000 + n),
    }
}

fn request(v: Version) -> Header {
    Header::request(id(v, 1))
}

fn response(v: Version) -> Header {
    Header {
        message_id: id(v, 2),
        in_response_to: Some(id(v, 1)),
        extended_headers: vec![(
            "urn:example:header".to_string(),
            "value with <markup> & \"quotes\"".to_string(),
        )],
    }
}

fn address(path: &str, v: Version) -> ServiceAddress {
    ServiceAddress {
        protocol_binding: crate::http::PROTOCOL_HTTPS.to_string(),
        address: format!("https://127.0.0.1:8443/services/{path}"),
        message_bindings: vec![crate::http::message_binding(v).to_string()],
    }
}

/// A content block carrying a STIX package whose prefix is declared by the envelope.
pub fn block(v: Version, n: i64) -> ContentBlock {
    ContentBlock {
        binding: BINDING_STIX_12.to_string(),
        subtypes: match v {
            Version::V11 => vec!["urn:example:subtype".to_string()],
            Version::V10 => Vec::new(),
        },
        content: PACKAGE.to_vec(),
        ns_context: vec![("stix".to_string(), STIX_NS.to_string())],
        timestamp_label: Some(ts(n)),
        message: match v {
            Version::V11 => Some(format!("block {n}")),
            Version::V10 => None,
        },
    }
}

fn parameters(v: Version) -> PollParameters {
    match v {
        Version::V11 => PollParameters {
            allow_asynch: false,
            response_type: ResponseType::CountOnly,
            content_bindings: vec![BINDING_STIX_111.to_string(), BINDING_STIX_12.to_string()],
            query_format: Some(crate::http::QUERY_DEFAULT.to_string()),
            delivery_requested: false,
        },
        Version::V10 => PollParameters {
            content_bindings: vec![BINDING_STIX_111.to_string()],
            ..PollParameters::default()
        },
    }
}

fn services(v: Version) -> Vec<ServiceInstance> {
    let service = |service_type, path: &str| ServiceInstance {
        service_type,
        service_version: crate::http::services(v).to_string(),
        available: Some(true),
        endpoint: address(path, v),
        supported_queries: match (v, service_type) {
            (Version::V11, ServiceType::Poll) => vec![crate::http::QUERY_DEFAULT.to_string()],
            _ => Vec::new(),
        },
        content_bindings: match service_type {
            ServiceType::Inbox => vec![BINDING_STIX_12.to_string()],
            _ => Vec::new(),
        },
        message: Some("a service".to_string()),
    };
    vec![
        service(ServiceType::Discovery, "discovery"),
        service(ServiceType::CollectionManagement, "collection-management"),
        service(ServiceType::Inbox, "inbox"),
        service(ServiceType::Poll, "poll"),
    ]
}

fn collection(v: Version) -> CollectionInfo {
    let v11 = v == Version::V11;
    CollectionInfo {
        name: "otx".to_string(),
        collection_type: CollectionType::DataFeed,
        available: Some(true),
        description: "Mirror of OTX pulses & indicators".to_string(),
        volume: v11.then_some(42),
        content_bindings: vec![BINDING_STIX_12.to_string(), BINDING_STIX_111.to_string()],
        polling_services: vec![address("poll", v)],
        subscription_services: vec![address("collection-management", v)],
        receiving_inbox_services: if v11 {
            vec![address("inbox", v)]
        } else {
            Vec::new()
        },
    }
}

fn poll_response(v: Version, blocks: usize) -> PollResponse {
    let v11 = v == Version::V11;
    PollResponse {
        header: response(v),
        collection_name: "otx".to_string(),
        more: v11,
        result_id: v11.then(|| "result-1".to_string()),
        result_part_number: v11.then_some(1),
        begin: Some(ts(-1)),
        inclusive_end: Some(ts(1_000_000)),
        subscription_id: Some("sub-1".to_string()),
        message: Some("part one".to_string()),
        record_count: v11.then_some(RecordCount {
            count: 2,
            partial: true,
        }),
        blocks: (0..blocks).map(|n| block(v, n as i64)).collect(),
    }
}

fn status(v: Version) -> StatusMessage {
    let mut s = StatusMessage::new(&id(v, 1), StatusType::DestinationCollectionError)
        .detail("ACCEPTABLE_DESTINATION", "otx-mirror")
        .with_message("no destination given");
    s.header = response(v);
    if v == Version::V11 {
        s = s.detail("ACCEPTABLE_DESTINATION", "other");
    } else {
        s.details[0].name = String::new();
    }
    s
}

/// Every sample of one version, each with a short file-name-friendly label.
pub fn of_version(v: Version) -> Vec<(&'static str, Message)> {
    let v11 = v == Version::V11;
    let mut out = vec![
        ("discovery_request", Message::DiscoveryRequest(request(v))),
        (
            "discovery_response",
            Message::DiscoveryResponse(DiscoveryResponse {
                header: response(v),
                services: services(v),
            }),
        ),
        (
            "collection_information_request",
            Message::CollectionInformationRequest(request(v)),
        ),
        (
            "collection_information_response",
            Message::CollectionInformationResponse(CollectionInformationResponse {
                header: response(v),
                collections: vec![collection(v)],
            }),
        ),
        (
            "poll_request_parameters",
            Message::PollRequest(PollRequest {
                header: request(v),
                collection_name: "otx".to_string(),
                exclusive_begin: Some(ts(0)),
                inclusive_end: Some(ts(123_456)),
                by: PollBy::Parameters(parameters(v)),
            }),
        ),
        (
            "poll_request_subscription",
            Message::PollRequest(PollRequest {
                header: request(v),
                collection_name: "otx".to_string(),
                exclusive_begin: None,
                inclusive_end: None,
                by: PollBy::Subscription("sub-1".to_string()),
            }),
        ),
        ("poll_response", Message::PollResponse(poll_response(v, 2))),
        (
            "poll_response_empty",
            Message::PollResponse(poll_response(v, 0)),
        ),
        (
            "inbox_message",
            Message::InboxMessage(InboxMessage {
                header: request(v),
                destination_collections: if v11 {
                    vec!["otx".to_string()]
                } else {
                    Vec::new()
                },
                message: Some("pushed".to_string()),
                source_subscription: None,
                record_count: v11.then_some(RecordCount {
                    count: 3,
                    partial: false,
                }),
                blocks: (0..3).map(|n| block(v, n)).collect(),
            }),
        ),
        ("status_message", Message::StatusMessage(status(v))),
        (
            "status_message_minimal",
            Message::StatusMessage(StatusMessage {
                header: Header::response(id(v, 3), "0"),
                ..StatusMessage::new("0", StatusType::BadMessage)
            }),
        ),
        (
            "subscription_management_request",
            Message::SubscriptionManagementRequest(SubscriptionManagementRequest {
                header: request(v),
                action: SubscriptionAction::Subscribe,
                collection_name: "otx".to_string(),
                subscription_id: Some("sub-1".to_string()),
                parameters: v11.then(|| parameters(v)),
            }),
        ),
        (
            "subscription_management_response",
            Message::SubscriptionManagementResponse(SubscriptionManagementResponse {
                header: response(v),
                collection_name: "otx".to_string(),
                message: Some("subscribed".to_string()),
                subscriptions: vec![SubscriptionInfo {
                    status: if v11 {
                        SubscriptionStatus::Paused
                    } else {
                        SubscriptionStatus::Active
                    },
                    subscription_id: "sub-1".to_string(),
                    parameters: v11.then(|| parameters(v)),
                    poll_instances: vec![address("poll", v)],
                }],
            }),
        ),
    ];
    if v11 {
        out.push((
            "poll_fulfillment",
            Message::PollFulfillment(PollFulfillment {
                header: request(v),
                collection_name: "otx".to_string(),
                result_id: "result-1".to_string(),
                result_part_number: 2,
            }),
        ));
    }
    out
}

/// Every sample of both versions, labelled `11-<kind>` or `10-<kind>`.
pub fn all() -> Vec<(String, Envelope)> {
    let mut out = Vec::new();
    for (tag, version) in [("11", Version::V11), ("10", Version::V10)] {
        for (label, message) in of_version(version) {
            out.push((format!("{tag}-{label}"), Envelope { version, message }));
        }
    }
    out
}
