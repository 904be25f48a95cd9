//! Second pass: from the kept tree to a [`Message`], by root name and version.

use super::checks::shorten;
use super::node::{invalid, trim, Result};
use super::parts::{
    bindings, blocks, collection, header, poll_parameters, record_count, service_instance,
    subscription,
};
use super::tree::{Document, Node};
use super::ReadErrorKind;
use crate::msg::*;
use crate::status::{StatusDetail, StatusMessage, StatusType};
use crate::NS_11;

/// Map the document's root to a message.
pub(super) fn message(doc: &Document, src: &[u8]) -> Result<Envelope> {
    let v = if doc.namespace == NS_11 {
        Version::V11
    } else {
        Version::V10
    };
    let root = &doc.root;
    let v11 = v == Version::V11;
    let message = match root.name.as_str() {
        "Discovery_Request" => Message::DiscoveryRequest(header(root, false)?),
        "Discovery_Response" => Message::DiscoveryResponse(DiscoveryResponse {
            header: header(root, true)?,
            services: root
                .all("Service_Instance")
                .map(|s| service_instance(s, v))
                .collect::<Result<_>>()?,
        }),
        "Collection_Information_Request" if v11 => {
            Message::CollectionInformationRequest(header(root, false)?)
        }
        "Feed_Information_Request" if !v11 => {
            Message::CollectionInformationRequest(header(root, false)?)
        }
        "Collection_Information_Response" if v11 => collection_response(root, v, "Collection")?,
        "Feed_Information_Response" if !v11 => collection_response(root, v, "Feed")?,
        "Poll_Request" => Message::PollRequest(poll_request(root, v)?),
        "Poll_Response" => Message::PollResponse(poll_response(root, v, src)?),
        "Poll_Fulfillment" if v11 => Message::PollFulfillment(poll_fulfillment(root)?),
        "Inbox_Message" => Message::InboxMessage(inbox(root, v, src)?),
        "Status_Message" => Message::StatusMessage(status(root, v)?),
        // libtaxii also knows the 1.0 pair by its class name; accept that spelling too.
        "Subscription_Management_Request" | "Manage_Feed_Subscription_Request" => {
            Message::SubscriptionManagementRequest(subscription_request(root, v)?)
        }
        "Subscription_Management_Response" | "Manage_Feed_Subscription_Response" => {
            Message::SubscriptionManagementResponse(subscription_response(root, v)?)
        }
        other => {
            return Err(ReadErrorKind::UnknownMessage {
                namespace: doc.namespace.clone(),
                name: shorten(other),
            })
        }
    };
    Ok(Envelope {
        version: v,
        message,
    })
}

/// `@collection_name` in 1.1, `@feed_name` in 1.0.
fn collection_name(root: &Node, v: Version) -> Result<String> {
    let name = match v {
        Version::V11 => root.req_attr("collection_name")?,
        Version::V10 => root.req_attr("feed_name")?,
    };
    Ok(name.to_string())
}

fn collection_response(root: &Node, v: Version, child: &'static str) -> Result<Message> {
    Ok(Message::CollectionInformationResponse(
        CollectionInformationResponse {
            header: header(root, true)?,
            collections: root
                .all(child)
                .map(|c| collection(c, v))
                .collect::<Result<_>>()?,
        },
    ))
}

fn poll_request(root: &Node, v: Version) -> Result<PollRequest> {
    let by = match v {
        Version::V11 => {
            let subscription = root.one_token("Subscription_ID")?;
            let parameters = root.one("Poll_Parameters")?;
            match (subscription, parameters) {
                (Some(id), None) => PollBy::Subscription(id),
                (None, Some(p)) => PollBy::Parameters(poll_parameters(p)?),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "Poll_Request",
                        "Subscription_ID and Poll_Parameters",
                        "exactly one of Subscription_ID or Poll_Parameters is allowed",
                    ))
                }
                (None, None) => {
                    return Err(ReadErrorKind::Missing {
                        field: "Subscription_ID or Poll_Parameters",
                    })
                }
            }
        }
        Version::V10 => {
            // The schema has an attribute; tolerate the 1.1-style element as well.
            let attr = root.attr("subscription_id").map(str::to_string);
            match attr.or(root.one_token("Subscription_ID")?) {
                Some(id) if !id.is_empty() => PollBy::Subscription(id),
                _ => PollBy::Parameters(PollParameters {
                    content_bindings: bindings(root, v)?,
                    ..PollParameters::default()
                }),
            }
        }
    };
    Ok(PollRequest {
        header: header(root, false)?,
        collection_name: collection_name(root, v)?,
        exclusive_begin: root.one_ts("Exclusive_Begin_Timestamp")?,
        inclusive_end: root.one_ts("Inclusive_End_Timestamp")?,
        by,
    })
}

fn poll_response(root: &Node, v: Version, src: &[u8]) -> Result<PollResponse> {
    let header = header(root, true)?;
    let collection_name = collection_name(root, v)?;
    let message = root.one_text("Message")?;
    let blocks = blocks(root, v, src)?;
    Ok(match v {
        Version::V11 => {
            let result_part_number = root.u64_attr("result_part_number")?;
            if result_part_number == Some(0) {
                return Err(invalid(
                    "result_part_number",
                    "0",
                    "parts are numbered from 1",
                ));
            }
            PollResponse {
                header,
                collection_name,
                more: root.bool_attr("more")?.unwrap_or(false),
                result_id: root.attr("result_id").map(str::to_string),
                result_part_number,
                begin: root.one_ts("Exclusive_Begin_Timestamp")?,
                inclusive_end: root.one_ts("Inclusive_End_Timestamp")?,
                subscription_id: root.one_token("Subscription_ID")?,
                message,
                record_count: record_count(root)?,
                blocks,
            }
        }
        Version::V10 => PollResponse {
            header,
            collection_name,
            more: false,
            result_id: None,
            result_part_number: None,
            begin: root.one_ts("Inclusive_Begin_Timestamp")?,
            inclusive_end: Some(root.one_ts("Inclusive_End_Timestamp")?.ok_or(
                ReadErrorKind::Missing {
                    field: "Inclusive_End_Timestamp",
                },
            )?),
            subscription_id: root.attr("subscription_id").map(str::to_string),
            message,
            record_count: None,
            blocks,
        },
    })
}

fn poll_fulfillment(root: &Node) -> Result<PollFulfillment> {
    let part = root.u64_attr("result_part_number")?.unwrap_or(1);
    if part == 0 {
        return Err(invalid(
            "result_part_number",
            "0",
            "parts are numbered from 1",
        ));
    }
    Ok(PollFulfillment {
        header: header(root, false)?,
        collection_name: collection_name(root, Version::V11)?,
        result_id: root.req_attr("result_id")?.to_string(),
        result_part_number: part,
    })
}

fn inbox(root: &Node, v: Version, src: &[u8]) -> Result<InboxMessage> {
    let source_subscription = match (root.one("Source_Subscription")?, v) {
        (Some(s), Version::V11) => Some(s.req_token("Subscription_ID")?),
        (Some(s), Version::V10) => Some(
            s.attr("subscription_id")
                .or(s.attr("feed_name"))
                .unwrap_or_default()
                .to_string(),
        ),
        (None, _) => None,
    };
    Ok(InboxMessage {
        header: header(root, false)?,
        destination_collections: root
            .all("Destination_Collection_Name")
            .map(|d| trim(&d.text).to_string())
            .collect(),
        message: root.one_text("Message")?,
        source_subscription,
        record_count: record_count(root)?,
        blocks: blocks(root, v, src)?,
    })
}

fn status(root: &Node, v: Version) -> Result<StatusMessage> {
    let raw = root.req_attr("status_type")?;
    let (status_type, raw_status_type) = match StatusType::parse(raw) {
        Some(t) => (t, None),
        None => (StatusType::Failure, Some(raw.to_string())),
    };
    let mut details = Vec::new();
    if let Some(sd) = root.one("Status_Detail")? {
        match v {
            Version::V11 => {
                for d in sd.all("Detail") {
                    details.push(StatusDetail::new(d.req_attr("name")?, trim(&d.text)));
                }
            }
            Version::V10 => details.push(StatusDetail::new("", trim(&sd.text))),
        }
    }
    Ok(StatusMessage {
        header: header(root, true)?,
        status_type,
        raw_status_type,
        details,
        message: root.one_text("Message")?,
    })
}

fn subscription_request(root: &Node, v: Version) -> Result<SubscriptionManagementRequest> {
    let action = match root.req_attr("action")? {
        "SUBSCRIBE" => SubscriptionAction::Subscribe,
        "UNSUBSCRIBE" => SubscriptionAction::Unsubscribe,
        "STATUS" => SubscriptionAction::Status,
        "PAUSE" if v == Version::V11 => SubscriptionAction::Pause,
        "RESUME" if v == Version::V11 => SubscriptionAction::Resume,
        other => return Err(invalid("action", other, "unknown subscription action")),
    };
    let (subscription_id, parameters) = match v {
        Version::V11 => (
            root.one_token("Subscription_ID")?,
            match root.one("Subscription_Parameters")? {
                Some(p) => Some(poll_parameters(p)?),
                None => None,
            },
        ),
        Version::V10 => (root.attr("subscription_id").map(str::to_string), None),
    };
    Ok(SubscriptionManagementRequest {
        header: header(root, false)?,
        action,
        collection_name: collection_name(root, v)?,
        subscription_id,
        parameters,
    })
}

fn subscription_response(root: &Node, v: Version) -> Result<SubscriptionManagementResponse> {
    Ok(SubscriptionManagementResponse {
        header: header(root, true)?,
        collection_name: collection_name(root, v)?,
        message: root.one_text("Message")?,
        subscriptions: root
            .all("Subscription")
            .map(|s| subscription(s, v))
            .collect::<Result<_>>()?,
    })
}
