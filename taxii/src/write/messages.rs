//! Writing every message except Poll_Response (which streams, see the parent module).

use super::parts;
use super::xml::Xml;
use crate::msg::*;
use crate::status::StatusMessage;

/// Write `msg` in version `v`. A Poll_Response is delegated to the streaming functions.
pub(super) fn write(v: Version, msg: &Message, out: &mut Vec<u8>) {
    let name = msg.name(v);
    let response = matches!(
        msg,
        Message::DiscoveryResponse(_)
            | Message::CollectionInformationResponse(_)
            | Message::PollResponse(_)
            | Message::StatusMessage(_)
            | Message::SubscriptionManagementResponse(_)
    );
    if let Message::PollResponse(resp) = msg {
        super::poll_response_head(v, resp, out);
        for block in &resp.blocks {
            super::content_block(v, &block.as_ref(), out);
        }
        super::poll_response_tail(v, out);
        return;
    }

    let mut x = Xml::new(out, v);
    x.open(name).declare_self(v);
    parts::header_attrs(&mut x, msg.header(), response);
    root_attrs(&mut x, v, msg);
    x.open_done();
    parts::extended_headers(&mut x, msg.header());
    children(&mut x, v, msg);
    x.close(name);
}

/// Message-specific attributes of the root element.
fn root_attrs(x: &mut Xml<'_>, v: Version, msg: &Message) {
    let collection_key = match v {
        Version::V11 => "collection_name",
        Version::V10 => "feed_name",
    };
    match msg {
        Message::PollRequest(m) => {
            x.attr(collection_key, &m.collection_name);
            if let (Version::V10, PollBy::Subscription(id)) = (v, &m.by) {
                x.attr("subscription_id", id);
            }
        }
        Message::PollFulfillment(m) => {
            x.attr(collection_key, &m.collection_name)
                .attr("result_id", &m.result_id)
                .attr("result_part_number", &m.result_part_number.to_string());
        }
        Message::StatusMessage(m) => {
            let raw = m.raw_status_type.as_deref();
            x.attr("status_type", raw.unwrap_or(m.status_type.as_str()));
        }
        Message::SubscriptionManagementRequest(m) => {
            let action = match m.action {
                SubscriptionAction::Subscribe => "SUBSCRIBE",
                SubscriptionAction::Unsubscribe => "UNSUBSCRIBE",
                SubscriptionAction::Status => "STATUS",
                SubscriptionAction::Pause => "PAUSE",
                SubscriptionAction::Resume => "RESUME",
            };
            x.attr("action", action)
                .attr(collection_key, &m.collection_name);
            if v == Version::V10 {
                x.attr_opt("subscription_id", m.subscription_id.as_deref());
            }
        }
        Message::SubscriptionManagementResponse(m) => {
            x.attr(collection_key, &m.collection_name);
        }
        _ => {}
    }
}

/// Message-specific children, after Extended_Headers.
fn children(x: &mut Xml<'_>, v: Version, msg: &Message) {
    match msg {
        Message::DiscoveryRequest(_)
        | Message::CollectionInformationRequest(_)
        | Message::PollFulfillment(_)
        | Message::PollResponse(_) => {}
        Message::DiscoveryResponse(m) => {
            for s in &m.services {
                parts::service_instance(x, v, s);
            }
        }
        Message::CollectionInformationResponse(m) => {
            for c in &m.collections {
                parts::collection(x, v, c);
            }
        }
        Message::PollRequest(m) => poll_request(x, v, m),
        Message::InboxMessage(m) => inbox(x, v, m),
        Message::StatusMessage(m) => status(x, v, m),
        Message::SubscriptionManagementRequest(m) => {
            if v == Version::V11 {
                x.leaf_opt("Subscription_ID", m.subscription_id.as_deref());
                if let Some(p) = &m.parameters {
                    x.open("Subscription_Parameters").open_done();
                    parts::parameter_children(x, p);
                    x.close("Subscription_Parameters");
                }
            }
        }
        Message::SubscriptionManagementResponse(m) => {
            x.leaf_opt("Message", m.message.as_deref());
            for s in &m.subscriptions {
                parts::subscription(x, v, s);
            }
        }
    }
}

/// 1.0 polls by subscription carry it as an attribute (written with the root) and drop
/// every poll parameter except the content bindings.
fn poll_request(x: &mut Xml<'_>, v: Version, m: &PollRequest) {
    let begin = m.exclusive_begin.map(|t| t.to_string());
    let end = m.inclusive_end.map(|t| t.to_string());
    x.leaf_opt("Exclusive_Begin_Timestamp", begin.as_deref());
    x.leaf_opt("Inclusive_End_Timestamp", end.as_deref());
    match (v, &m.by) {
        (Version::V11, PollBy::Subscription(id)) => x.leaf("Subscription_ID", id),
        (Version::V11, PollBy::Parameters(p)) => {
            x.open("Poll_Parameters")
                .attr(
                    "allow_asynch",
                    if p.allow_asynch { "true" } else { "false" },
                )
                .open_done();
            parts::parameter_children(x, p);
            x.close("Poll_Parameters");
        }
        (Version::V10, PollBy::Parameters(p)) => parts::bindings(x, v, &p.content_bindings),
        (Version::V10, PollBy::Subscription(_)) => {}
    }
}

/// 1.0 has no destination collections and no record count: both are dropped.
// TODO(write): Source_Subscription is never written; it needs a collection name and
// window we do not keep, and this server never pushes.
fn inbox(x: &mut Xml<'_>, v: Version, m: &InboxMessage) {
    if v == Version::V11 {
        for d in &m.destination_collections {
            x.leaf("Destination_Collection_Name", d);
        }
    }
    x.leaf_opt("Message", m.message.as_deref());
    if v == Version::V11 {
        if let Some(rc) = m.record_count {
            parts::record_count(x, rc);
        }
    }
    // Blocks are written through the same code as poll responses.
    for block in &m.blocks {
        super::content_block(v, &block.as_ref(), x.out);
    }
}

/// 1.1 details go inside Status_Detail as `Detail[@name]`; 1.0 Status_Detail is the plain
/// text of the first detail.
fn status(x: &mut Xml<'_>, v: Version, m: &StatusMessage) {
    match v {
        Version::V11 if !m.details.is_empty() => {
            x.open("Status_Detail").open_done();
            for d in &m.details {
                x.open("Detail").attr("name", &d.name).open_done();
                x.text(&d.value);
                x.close("Detail");
            }
            x.close("Status_Detail");
        }
        Version::V10 => {
            if let Some(first) = m.details.first() {
                x.leaf("Status_Detail", &first.value);
            }
        }
        Version::V11 => {}
    }
    x.leaf_opt("Message", m.message.as_deref());
}
