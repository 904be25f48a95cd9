//! Mapping of the pieces messages share: header, services, collections, parameters, blocks.

use super::node::{invalid, parse_u64, trim, Result};
use super::tree::Node;
use super::ReadErrorKind;
use crate::msg::*;

/// Message id, in_response_to (responses only), extended headers.
pub(super) fn header(root: &Node, response: bool) -> Result<Header> {
    let message_id = root.req_attr("message_id")?.to_string();
    if message_id.is_empty() {
        return Err(invalid("message_id", "", "must not be empty"));
    }
    let in_response_to = if response {
        Some(root.req_attr("in_response_to")?.to_string())
    } else {
        None
    };
    let mut extended_headers = Vec::new();
    if let Some(headers) = root.one("Extended_Headers")? {
        for h in headers.all("Extended_Header") {
            extended_headers.push((h.req_attr("name")?.to_string(), h.text.clone()));
        }
    }
    Ok(Header {
        message_id,
        in_response_to,
        extended_headers,
    })
}

/// Protocol_Binding, Address, Message_Binding+.
pub(super) fn address(node: &Node) -> Result<ServiceAddress> {
    let message_bindings: Vec<String> = node
        .all("Message_Binding")
        .map(|m| trim(&m.text).to_string())
        .collect();
    if message_bindings.is_empty() {
        return Err(ReadErrorKind::Missing {
            field: "Message_Binding",
        });
    }
    Ok(ServiceAddress {
        protocol_binding: node.req_token("Protocol_Binding")?,
        address: node.req_token("Address")?,
        message_bindings,
    })
}

fn addresses(node: &Node, name: &'static str) -> Result<Vec<ServiceAddress>> {
    node.all(name).map(address).collect()
}

/// Content bindings: `@binding_id` in 1.1, element text in 1.0.
pub(super) fn bindings(node: &Node, v: Version) -> Result<Vec<String>> {
    node.all("Content_Binding")
        .map(|b| match v {
            Version::V11 => b.req_attr("binding_id").map(str::to_string),
            Version::V10 => Ok(trim(&b.text).to_string()),
        })
        .collect()
}

pub(super) fn service_instance(node: &Node, v: Version) -> Result<ServiceInstance> {
    let service_type = match node.req_attr("service_type")? {
        "DISCOVERY" => ServiceType::Discovery,
        "COLLECTION_MANAGEMENT" | "FEED_MANAGEMENT" => ServiceType::CollectionManagement,
        "INBOX" => ServiceType::Inbox,
        "POLL" => ServiceType::Poll,
        other => return Err(invalid("service_type", other, "unknown service type")),
    };
    let supported_queries = node
        .all("Supported_Query")
        .map(|q| q.req_attr("format_id").map(str::to_string))
        .collect::<Result<_>>()?;
    Ok(ServiceInstance {
        service_type,
        service_version: node.req_attr("service_version")?.to_string(),
        available: node.bool_attr("available")?,
        endpoint: address(node)?,
        supported_queries,
        content_bindings: bindings(node, v)?,
        message: node.one_text("Message")?,
    })
}

/// 1.1 `Collection` or 1.0 `Feed`.
pub(super) fn collection(node: &Node, v: Version) -> Result<CollectionInfo> {
    let (name, collection_type, volume) = match v {
        Version::V11 => {
            let collection_type = match node.attr("collection_type") {
                None | Some("DATA_FEED") => CollectionType::DataFeed,
                Some("DATA_SET") => CollectionType::DataSet,
                Some(other) => {
                    return Err(invalid("collection_type", other, "unknown collection type"))
                }
            };
            let volume = match node.one_token("Collection_Volume")? {
                Some(text) => Some(parse_u64("Collection_Volume", &text)?),
                None => None,
            };
            (node.req_attr("collection_name")?, collection_type, volume)
        }
        Version::V10 => (node.req_attr("feed_name")?, CollectionType::DataFeed, None),
    };
    Ok(CollectionInfo {
        name: name.to_string(),
        collection_type,
        available: node.bool_attr("available")?,
        description: node.req("Description")?.text.clone(),
        volume,
        content_bindings: bindings(node, v)?,
        polling_services: addresses(node, "Polling_Service")?,
        subscription_services: addresses(node, "Subscription_Service")?,
        receiving_inbox_services: addresses(node, "Receiving_Inbox_Service")?,
    })
}

/// 1.1 `Poll_Parameters` or `Subscription_Parameters`.
pub(super) fn poll_parameters(node: &Node) -> Result<PollParameters> {
    let response_type = match node.one_token("Response_Type")?.as_deref() {
        None | Some("FULL") => ResponseType::Full,
        Some("COUNT_ONLY") => ResponseType::CountOnly,
        Some(other) => {
            return Err(invalid(
                "Response_Type",
                other,
                "expected FULL or COUNT_ONLY",
            ))
        }
    };
    let query_format = match node.one("Query")? {
        Some(q) => Some(q.req_attr("format_id")?.to_string()),
        None => None,
    };
    Ok(PollParameters {
        allow_asynch: node.bool_attr("allow_asynch")?.unwrap_or(false),
        response_type,
        content_bindings: bindings(node, Version::V11)?,
        query_format,
        delivery_requested: node.one("Delivery_Parameters")?.is_some(),
    })
}

pub(super) fn record_count(node: &Node) -> Result<Option<RecordCount>> {
    let Some(rc) = node.one("Record_Count")? else {
        return Ok(None);
    };
    Ok(Some(RecordCount {
        count: parse_u64("Record_Count", trim(&rc.text))?,
        partial: rc.bool_attr("partial_count")?.unwrap_or(false),
    }))
}

/// Every `Content_Block` child, content copied verbatim from `src`.
pub(super) fn blocks(node: &Node, v: Version, src: &[u8]) -> Result<Vec<ContentBlock>> {
    node.all("Content_Block")
        .map(|b| block(b, v, src))
        .collect()
}

fn block(node: &Node, v: Version, src: &[u8]) -> Result<ContentBlock> {
    let binding_node = node.req("Content_Binding")?;
    let (binding, subtypes) = match v {
        Version::V11 => (
            binding_node.req_attr("binding_id")?.to_string(),
            binding_node
                .all("Subtype")
                .map(|s| s.req_attr("subtype_id").map(str::to_string))
                .collect::<Result<_>>()?,
        ),
        Version::V10 => (trim(&binding_node.text).to_string(), Vec::new()),
    };
    if binding.is_empty() {
        return Err(ReadErrorKind::Missing {
            field: "Content_Binding",
        });
    }
    let content_node = node.req("Content")?;
    let (content, ns_context) = match &content_node.content {
        Some(c) => (
            src.get(c.range.clone()).unwrap_or_default().to_vec(),
            c.ns_context.clone(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(ContentBlock {
        binding,
        subtypes,
        content,
        ns_context,
        timestamp_label: node.one_ts("Timestamp_Label")?,
        message: node.one_text("Message")?,
    })
}

/// One `Subscription` of a subscription management response.
pub(super) fn subscription(node: &Node, v: Version) -> Result<SubscriptionInfo> {
    let (status, subscription_id, parameters) = match v {
        Version::V11 => {
            let status = match node.attr("status") {
                None | Some("ACTIVE") => SubscriptionStatus::Active,
                Some("PAUSED") => SubscriptionStatus::Paused,
                Some("UNSUBSCRIBED") => SubscriptionStatus::Unsubscribed,
                Some(other) => return Err(invalid("status", other, "unknown subscription status")),
            };
            let parameters = match node.one("Subscription_Parameters")? {
                Some(p) => Some(poll_parameters(p)?),
                None => None,
            };
            (status, node.req_token("Subscription_ID")?, parameters)
        }
        Version::V10 => (
            SubscriptionStatus::Active,
            node.req_attr("subscription_id")?.to_string(),
            None,
        ),
    };
    Ok(SubscriptionInfo {
        status,
        subscription_id,
        parameters,
        poll_instances: addresses(node, "Poll_Instance")?,
    })
}
