//! TAXII 1.1 and 1.0 messages for taxii-mirror.
//!
//! # Layout
//! - [`ts`]: timestamp labels (RFC 3339 in, UTC `Z` with at most 6 fraction digits out).
//! - [`msg`]: the messages as plain Rust values, one type per TAXII message.
//! - [`status`]: status types and their details.
//! - [`read`]: a bounded, namespace-aware reader built on quick-xml (`NsReader`).
//! - [`write`](mod@write): a streaming writer; poll responses are written head, blocks, tail.
//! - [`http`]: the HTTP binding's header names and values.
//! - [`samples`]: one sample of every message in both versions, for tests.
#![forbid(unsafe_code)]

pub mod http;
pub mod msg;
pub mod read;
pub mod samples;
pub mod status;
pub mod ts;
pub mod write;

pub use msg::*;
pub use status::{StatusDetail, StatusMessage, StatusType};
pub use ts::Timestamp;

/// Namespace of TAXII 1.1 XML messages.
pub const NS_11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
/// Namespace of TAXII 1.0 XML messages.
pub const NS_10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";

/// STIX content binding identifiers we hold and serve.
pub const BINDING_STIX_111: &str = "urn:stix.mitre.org:xml:1.1.1";
/// STIX 1.2 content binding.
pub const BINDING_STIX_12: &str = "urn:stix.mitre.org:xml:1.2";
/// Every content binding a collection can hold, in the order we advertise them.
pub const SUPPORTED_BINDINGS: &[&str] = &[BINDING_STIX_12, BINDING_STIX_111];

/// Generate a fresh message id: a random UUID v4 string for 1.1, digits for 1.0.
pub fn new_message_id(version: Version) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    match version {
        Version::V11 => {
            let b: [u8; 16] = rng.gen();
            format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                u16::from_be_bytes([b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
                (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
                u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
            )
        }
        Version::V10 => format!("{}", rng.gen_range(1_000_000_000u64..9_999_999_999u64)),
    }
}
