//! Writing the pieces messages share.

use super::xml::Xml;
use crate::msg::*;

/// `message_id`, and `in_response_to` on responses when set.
pub(super) fn header_attrs(x: &mut Xml<'_>, header: &Header, response: bool) {
    x.attr("message_id", &header.message_id);
    if response {
        x.attr_opt("in_response_to", header.in_response_to.as_deref());
    }
}

/// `Extended_Headers`, first child of every message, when there are any.
pub(super) fn extended_headers(x: &mut Xml<'_>, header: &Header) {
    if header.extended_headers.is_empty() {
        return;
    }
    x.open("Extended_Headers").open_done();
    for (name, value) in &header.extended_headers {
        x.open("Extended_Header").attr("name", name).open_done();
        x.text(value);
        x.close("Extended_Header");
    }
    x.close("Extended_Headers");
}

pub(super) fn record_count(x: &mut Xml<'_>, rc: RecordCount) {
    // Written both ways: some clients read a missing attribute as "unknown".
    x.open("Record_Count")
        .attr("partial_count", if rc.partial { "true" } else { "false" })
        .open_done();
    x.text(&rc.count.to_string());
    x.close("Record_Count");
}

/// Protocol_Binding, Address, Message_Binding+ (inside an already opened element).
fn address_children(x: &mut Xml<'_>, a: &ServiceAddress) {
    x.leaf("Protocol_Binding", &a.protocol_binding);
    x.leaf("Address", &a.address);
    for m in &a.message_bindings {
        x.leaf("Message_Binding", m);
    }
}

/// A service contact element such as `Polling_Service`.
pub(super) fn address(x: &mut Xml<'_>, name: &str, a: &ServiceAddress) {
    x.open(name).open_done();
    address_children(x, a);
    x.close(name);
}

/// Content bindings: empty elements with `@binding_id` in 1.1, text elements in 1.0.
pub(super) fn bindings(x: &mut Xml<'_>, v: Version, bindings: &[String]) {
    for b in bindings {
        match v {
            Version::V11 => x.open("Content_Binding").attr("binding_id", b).empty_done(),
            Version::V10 => x.leaf("Content_Binding", b),
        }
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// One `Service_Instance`. 1.0 has no supported queries: they are dropped.
pub(super) fn service_instance(x: &mut Xml<'_>, v: Version, s: &ServiceInstance) {
    let service_type = match (s.service_type, v) {
        (ServiceType::Discovery, _) => "DISCOVERY",
        (ServiceType::CollectionManagement, Version::V11) => "COLLECTION_MANAGEMENT",
        (ServiceType::CollectionManagement, Version::V10) => "FEED_MANAGEMENT",
        (ServiceType::Inbox, _) => "INBOX",
        (ServiceType::Poll, _) => "POLL",
    };
    x.open("Service_Instance")
        .attr("service_type", service_type)
        .attr("service_version", &s.service_version)
        .attr_opt("available", s.available.map(bool_str))
        .open_done();
    address_children(x, &s.endpoint);
    if v == Version::V11 {
        for q in &s.supported_queries {
            x.open("Supported_Query").attr("format_id", q).empty_done();
        }
    }
    bindings(x, v, &s.content_bindings);
    x.leaf_opt("Message", s.message.as_deref());
    x.close("Service_Instance");
}

/// 1.1 `Collection` or 1.0 `Feed`.
///
/// 1.0 feeds are always data feeds, have no volume and no receiving inbox services (all
/// dropped), and need at least one content binding: an empty list, meaning "all", is
/// written as every binding in [`crate::SUPPORTED_BINDINGS`]. A valid 1.0 feed also needs
/// at least one polling service.
pub(super) fn collection(x: &mut Xml<'_>, v: Version, c: &CollectionInfo) {
    let available = c.available.map(bool_str);
    match v {
        Version::V11 => {
            let collection_type = match c.collection_type {
                CollectionType::DataFeed => "DATA_FEED",
                CollectionType::DataSet => "DATA_SET",
            };
            x.open("Collection")
                .attr("collection_name", &c.name)
                .attr("collection_type", collection_type)
                .attr_opt("available", available)
                .open_done();
            x.leaf("Description", &c.description);
            if let Some(volume) = c.volume {
                x.leaf("Collection_Volume", &volume.to_string());
            }
            bindings(x, v, &c.content_bindings);
        }
        Version::V10 => {
            x.open("Feed")
                .attr("feed_name", &c.name)
                .attr_opt("available", available)
                .open_done();
            x.leaf("Description", &c.description);
            if c.content_bindings.is_empty() {
                for b in crate::SUPPORTED_BINDINGS {
                    x.leaf("Content_Binding", b);
                }
            } else {
                bindings(x, v, &c.content_bindings);
            }
        }
    }
    for a in &c.polling_services {
        address(x, "Polling_Service", a);
    }
    for a in &c.subscription_services {
        address(x, "Subscription_Service", a);
    }
    match v {
        Version::V11 => {
            for a in &c.receiving_inbox_services {
                address(x, "Receiving_Inbox_Service", a);
            }
            x.close("Collection");
        }
        Version::V10 => x.close("Feed"),
    }
}

/// The children of 1.1 `Poll_Parameters` / `Subscription_Parameters`: Response_Type,
/// Content_Binding*, Query?.
///
/// Only the query's format is kept, so `Query` is written empty: schema-valid, but
/// libtaxii cannot parse an empty default query (we never send queries ourselves).
// TODO(write): `delivery_requested` is not written: Delivery_Parameters needs an address
// and bindings we do not keep, and this server never delivers asynchronously.
pub(super) fn parameter_children(x: &mut Xml<'_>, p: &PollParameters) {
    let response_type = match p.response_type {
        ResponseType::Full => "FULL",
        ResponseType::CountOnly => "COUNT_ONLY",
    };
    x.leaf("Response_Type", response_type);
    bindings(x, Version::V11, &p.content_bindings);
    if let Some(format) = &p.query_format {
        x.open("Query").attr("format_id", format).empty_done();
    }
}

/// One `Subscription` record. 1.0 records carry only the id and poll instances.
pub(super) fn subscription(x: &mut Xml<'_>, v: Version, s: &SubscriptionInfo) {
    match v {
        Version::V11 => {
            let status = match s.status {
                SubscriptionStatus::Active => "ACTIVE",
                SubscriptionStatus::Paused => "PAUSED",
                SubscriptionStatus::Unsubscribed => "UNSUBSCRIBED",
            };
            x.open("Subscription").attr("status", status).open_done();
            x.leaf("Subscription_ID", &s.subscription_id);
            if let Some(p) = &s.parameters {
                x.open("Subscription_Parameters").open_done();
                parameter_children(x, p);
                x.close("Subscription_Parameters");
            }
        }
        Version::V10 => {
            x.open("Subscription")
                .attr("subscription_id", &s.subscription_id)
                .open_done();
        }
    }
    for a in &s.poll_instances {
        address(x, "Poll_Instance", a);
    }
    x.close("Subscription");
}
