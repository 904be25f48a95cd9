//! TAXII HTTP binding: header names and values.

use crate::msg::Version;

pub const X_TAXII_CONTENT_TYPE: &str = "X-TAXII-Content-Type";
pub const X_TAXII_ACCEPT: &str = "X-TAXII-Accept";
pub const X_TAXII_SERVICES: &str = "X-TAXII-Services";
pub const X_TAXII_PROTOCOL: &str = "X-TAXII-Protocol";

pub const MESSAGE_XML_11: &str = "urn:taxii.mitre.org:message:xml:1.1";
pub const MESSAGE_XML_10: &str = "urn:taxii.mitre.org:message:xml:1.0";
pub const SERVICES_11: &str = "urn:taxii.mitre.org:services:1.1";
pub const SERVICES_10: &str = "urn:taxii.mitre.org:services:1.0";
pub const PROTOCOL_HTTPS: &str = "urn:taxii.mitre.org:protocol:https:1.0";
pub const PROTOCOL_HTTP: &str = "urn:taxii.mitre.org:protocol:http:1.0";
pub const QUERY_DEFAULT: &str = "urn:taxii.mitre.org:query:default:1.0";

/// The `X-TAXII-Content-Type` value of a version.
pub fn message_binding(version: Version) -> &'static str {
    match version {
        Version::V10 => MESSAGE_XML_10,
        Version::V11 => MESSAGE_XML_11,
    }
}

/// The `X-TAXII-Services` value of a version.
pub fn services(version: Version) -> &'static str {
    match version {
        Version::V10 => SERVICES_10,
        Version::V11 => SERVICES_11,
    }
}

/// The version named by an `X-TAXII-Content-Type` value, if any.
pub fn version_of_binding(value: &str) -> Option<Version> {
    match value.trim() {
        MESSAGE_XML_11 => Some(Version::V11),
        MESSAGE_XML_10 => Some(Version::V10),
        _ => None,
    }
}
