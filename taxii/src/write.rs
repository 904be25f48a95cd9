//! Writing TAXII messages.
//!
//! Output is compact XML without an XML declaration (UTF-8 is the default, and bodies can
//! be embedded as they are). Every element uses our own prefix on the TAXII namespace,
//! `taxii_11` for 1.1 and `taxii` for 1.0, declared once on the root. Children follow the
//! XSD sequence; optional items are left out when `None` or empty.
//!
//! Poll responses can be large, so they are also written in three steps:
//! [`poll_response_head`], one [`content_block`] per block, [`poll_response_tail`];
//! [`write_message`] produces the same bytes in one go.
//!
//! Things a message value can hold that a version cannot carry are dropped when writing
//! that version (see each function's docs); the reader gives them their defaults back.

mod messages;
mod parts;
mod xml;

use crate::msg::{ContentBlock, Envelope, PollResponse, Version};
use crate::ts::Timestamp;
use xml::Xml;

/// Borrowed view of a content block to write; the server streams these from the store
/// without building [`ContentBlock`] values.
#[derive(Debug, Clone, Copy)]
pub struct BlockRef<'a> {
    /// Content binding id, e.g. `urn:stix.mitre.org:xml:1.1.1`.
    pub binding: &'a str,
    /// Only the first subtype is written: the schema allows one per block.
    pub subtypes: &'a [String],
    /// Written verbatim between `<Content>` and `</Content>`.
    pub content: &'a [u8],
    /// Declared on the `Content` element (except a binding of our own envelope prefix).
    pub ns_context: &'a [(String, String)],
    /// Written as `Timestamp_Label` (UTC, six digits, `Z`).
    pub timestamp_label: Option<Timestamp>,
    /// 1.1 only.
    pub message: Option<&'a str>,
}

impl ContentBlock {
    /// A borrowed view for [`content_block`].
    pub fn as_ref(&self) -> BlockRef<'_> {
        BlockRef {
            binding: &self.binding,
            subtypes: &self.subtypes,
            content: &self.content,
            ns_context: &self.ns_context,
            timestamp_label: self.timestamp_label,
            message: self.message.as_deref(),
        }
    }
}

/// Write a whole message. For a poll response this is head, blocks and tail.
///
/// Responses need `header.in_response_to` set (the schema requires it, and the reader
/// refuses a response without it); on requests it is never written.
pub fn write_message(env: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    messages::write(env.version, &env.message, &mut out);
    out
}

/// Everything of a Poll_Response before its first Content_Block (`resp.blocks` is ignored).
///
/// 1.0 carries no `more`, `result_id`, `result_part_number` or `Record_Count`; its begin
/// is `Inclusive_Begin_Timestamp` and its `Inclusive_End_Timestamp` is required, so the
/// caller must set `inclusive_end` for a valid 1.0 response.
pub fn poll_response_head(version: Version, resp: &PollResponse, out: &mut Vec<u8>) {
    let mut x = Xml::new(out, version);
    x.open("Poll_Response").declare_self(version);
    parts::header_attrs(&mut x, &resp.header, true);
    let begin = resp.begin.map(|t| t.to_string());
    let end = resp.inclusive_end.map(|t| t.to_string());
    match version {
        Version::V11 => {
            let part = resp.result_part_number.map(|n| n.to_string());
            x.attr("collection_name", &resp.collection_name)
                .attr("more", if resp.more { "true" } else { "false" })
                .attr_opt("result_id", resp.result_id.as_deref())
                .attr_opt("result_part_number", part.as_deref())
                .open_done();
            parts::extended_headers(&mut x, &resp.header);
            x.leaf_opt("Subscription_ID", resp.subscription_id.as_deref());
            x.leaf_opt("Exclusive_Begin_Timestamp", begin.as_deref());
            x.leaf_opt("Inclusive_End_Timestamp", end.as_deref());
            if let Some(rc) = resp.record_count {
                parts::record_count(&mut x, rc);
            }
            x.leaf_opt("Message", resp.message.as_deref());
        }
        Version::V10 => {
            x.attr("feed_name", &resp.collection_name)
                .attr_opt("subscription_id", resp.subscription_id.as_deref())
                .open_done();
            parts::extended_headers(&mut x, &resp.header);
            x.leaf_opt("Message", resp.message.as_deref());
            x.leaf_opt("Inclusive_Begin_Timestamp", begin.as_deref());
            x.leaf_opt("Inclusive_End_Timestamp", end.as_deref());
        }
    }
}

/// One Content_Block. The content bytes are copied verbatim; each `ns_context` entry is
/// declared on the `Content` element unless its prefix is our envelope prefix. 1.0 has no
/// subtypes and no block message: they are dropped.
// TODO(write): content that itself uses our envelope prefix (`taxii_11` / `taxii`) for a
// different namespace, without declaring it inside the content, cannot be re-served
// faithfully: that binding is skipped because it would rename the Content element.
pub fn content_block(version: Version, block: &BlockRef<'_>, out: &mut Vec<u8>) {
    let mut x = Xml::new(out, version);
    x.open("Content_Block").open_done();
    match version {
        Version::V11 => {
            x.open("Content_Binding").attr("binding_id", block.binding);
            match block.subtypes.first() {
                Some(subtype) => {
                    x.open_done();
                    x.open("Subtype").attr("subtype_id", subtype).empty_done();
                    x.close("Content_Binding");
                }
                None => x.empty_done(),
            }
        }
        Version::V10 => x.leaf("Content_Binding", block.binding),
    }

    x.open("Content");
    let own = xml::prefix(version);
    for (prefix, uri) in block.ns_context {
        if prefix == own {
            continue;
        }
        if prefix.is_empty() {
            x.attr("xmlns", uri);
        } else {
            x.attr(&format!("xmlns:{prefix}"), uri);
        }
    }
    x.open_done();
    x.out.extend_from_slice(block.content);
    x.close("Content");

    if let Some(label) = block.timestamp_label {
        x.leaf("Timestamp_Label", &label.to_string());
    }
    if version == Version::V11 {
        x.leaf_opt("Message", block.message);
    }
    x.close("Content_Block");
}

/// The end of a Poll_Response.
pub fn poll_response_tail(version: Version, out: &mut Vec<u8>) {
    Xml::new(out, version).close("Poll_Response");
}

#[cfg(test)]
mod tests;
