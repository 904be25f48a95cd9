//! TAXII and STIX bytes for the fake upstream, written by hand so tests control the wire.

use taxii::{Message, Timestamp};

pub const NS11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";

/// Minimal STIX 1.1.1 package `test:Package-000n` with one domain `bad-n.example.test`.
pub fn pkg(n: u32) -> String {
    pkg_with(n, "2024-01-01T00:00:00Z", &format!("bad-{n}.example.test"))
}

/// The same package shape with a chosen STIX timestamp and domain.
pub fn pkg_with(n: u32, timestamp: &str, domain: &str) -> String {
    format!(
        r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"
    xmlns:indicator="http://stix.mitre.org/Indicator-2"
    xmlns:cybox="http://cybox.mitre.org/cybox-2"
    xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:test="http://example.test/ns"
    id="test:Package-{n:04}" version="1.1.1" timestamp="{timestamp}">
  <stix:Indicators>
    <stix:Indicator xsi:type="indicator:IndicatorType" id="test:indicator-{n:04}">
      <indicator:Observable id="test:Observable-{n:04}">
        <cybox:Object>
          <cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">
            <DomainNameObj:Value>{domain}</DomainNameObj:Value>
          </cybox:Properties>
        </cybox:Object>
      </indicator:Observable>
    </stix:Indicator>
  </stix:Indicators>
</stix:STIX_Package>"#
    )
}

/// A package with a header and no indicators.
pub fn header_only_pkg() -> String {
    r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="test:Package-empty" version="1.1.1"><stix:STIX_Header><stix:Title>nothing here</stix:Title></stix:STIX_Header></stix:STIX_Package>"#.to_string()
}

/// One Content_Block; `label` optional.
pub fn block(content: &str, label: Option<&str>) -> String {
    let label = label
        .map(|l| format!("<taxii_11:Timestamp_Label>{l}</taxii_11:Timestamp_Label>"))
        .unwrap_or_default();
    format!(
        "<taxii_11:Content_Block><taxii_11:Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.1.1\"/><taxii_11:Content>{content}</taxii_11:Content>{label}</taxii_11:Content_Block>"
    )
}

/// A Poll_Response.
pub struct PollResp<'a> {
    pub in_response_to: &'a str,
    pub more: bool,
    pub result_id: Option<&'a str>,
    pub part: u64,
    pub end: Option<String>,
    pub blocks: Vec<String>,
}

impl PollResp<'_> {
    pub fn xml(&self) -> String {
        let rid = self
            .result_id
            .map(|r| format!(" result_id=\"{r}\""))
            .unwrap_or_default();
        let end = self
            .end
            .as_ref()
            .map(|e| {
                format!("<taxii_11:Inclusive_End_Timestamp>{e}</taxii_11:Inclusive_End_Timestamp>")
            })
            .unwrap_or_default();
        format!(
            "<taxii_11:Poll_Response xmlns:taxii_11=\"{NS11}\" message_id=\"m-{part}\" in_response_to=\"{irt}\" collection_name=\"user_TestUser\" more=\"{more}\"{rid} result_part_number=\"{part}\">{end}<taxii_11:Record_Count partial_count=\"false\">{n}</taxii_11:Record_Count>{blocks}</taxii_11:Poll_Response>",
            part = self.part,
            irt = self.in_response_to,
            more = self.more,
            n = self.blocks.len(),
            blocks = self.blocks.concat(),
        )
    }
}

/// A Status_Message.
pub fn status(status_type: &str, message: &str) -> String {
    format!(
        "<taxii_11:Status_Message xmlns:taxii_11=\"{NS11}\" message_id=\"s1\" in_response_to=\"0\" status_type=\"{status_type}\"><taxii_11:Message>{message}</taxii_11:Message></taxii_11:Status_Message>"
    )
}

/// What a poll-type request asks for.
#[derive(Debug, Clone)]
pub enum Asked {
    Poll {
        id: String,
        begin: Option<Timestamp>,
        end: Option<Timestamp>,
        collection: String,
    },
    Fulfil {
        id: String,
        result_id: String,
        part: u64,
    },
    Other,
}

pub fn asked(msg: Option<Message>) -> Asked {
    match msg {
        Some(Message::PollRequest(p)) => Asked::Poll {
            id: p.header.message_id,
            begin: p.exclusive_begin,
            end: p.inclusive_end,
            collection: p.collection_name,
        },
        Some(Message::PollFulfillment(f)) => Asked::Fulfil {
            id: f.header.message_id,
            result_id: f.result_id,
            part: f.result_part_number,
        },
        _ => Asked::Other,
    }
}

/// An empty, well-formed answer to a poll: zero blocks, end = the request's end.
pub fn empty_answer(r: &super::server::Recorded) -> String {
    match asked(r.message()) {
        Asked::Poll { id, end, .. } => PollResp {
            in_response_to: &id,
            more: false,
            result_id: None,
            part: 1,
            end: end.map(|e| e.to_string()),
            blocks: vec![],
        }
        .xml(),
        _ => status("BAD_MESSAGE", "unexpected"),
    }
}
