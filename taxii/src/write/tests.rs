use super::*;
use crate::msg::{Message, Version};
use crate::read::{read_message, Limits};
use crate::samples;

fn text(env: &Envelope) -> String {
    String::from_utf8(write_message(env)).expect("writer emits UTF-8")
}

#[test]
fn every_sample_round_trips() {
    for (label, env) in samples::all() {
        let bytes = write_message(&env);
        let back = match read_message(&bytes, &Limits::default()) {
            Ok(back) => back,
            Err(e) => panic!("{label}: {e}\n{}", String::from_utf8_lossy(&bytes)),
        };
        assert_eq!(back, env, "{label}\n{}", String::from_utf8_lossy(&bytes));
        // Writing what was read gives the same bytes again.
        assert_eq!(write_message(&back), bytes, "{label}");
    }
}

#[test]
fn streaming_poll_response_equals_whole_message() {
    for (label, env) in samples::all() {
        let Message::PollResponse(resp) = &env.message else {
            continue;
        };
        let mut streamed = Vec::new();
        poll_response_head(env.version, resp, &mut streamed);
        for block in &resp.blocks {
            content_block(env.version, &block.as_ref(), &mut streamed);
        }
        poll_response_tail(env.version, &mut streamed);
        assert_eq!(streamed, write_message(&env), "{label}");
    }
}

#[test]
fn prefixes_and_no_declaration() {
    for (label, env) in samples::all() {
        let xml = text(&env);
        let (prefix, ns) = match env.version {
            Version::V11 => (
                "<taxii_11:",
                "xmlns:taxii_11=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\"",
            ),
            Version::V10 => (
                "<taxii:",
                "xmlns:taxii=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\"",
            ),
        };
        assert!(xml.starts_with(prefix), "{label}: {xml}");
        assert!(xml.contains(ns), "{label}");
        assert!(!xml.contains("<?xml"), "{label}");
    }
}

#[test]
fn content_is_verbatim_with_its_namespaces() {
    let block = samples::block(Version::V11, 0);
    let mut out = Vec::new();
    content_block(Version::V11, &block.as_ref(), &mut out);
    let xml = String::from_utf8(out).unwrap();
    let expected = format!(
        "<taxii_11:Content xmlns:stix=\"http://stix.mitre.org/stix-1\">{}</taxii_11:Content>",
        String::from_utf8_lossy(&block.content)
    );
    assert!(xml.contains(&expected), "{xml}");
}

#[test]
fn envelope_prefix_in_ns_context_is_not_redeclared_and_default_is() {
    let ctx = vec![
        ("taxii_11".to_string(), "urn:other".to_string()),
        (String::new(), "urn:default".to_string()),
    ];
    let block = BlockRef {
        binding: "urn:b",
        subtypes: &[],
        content: b"<x/>",
        ns_context: &ctx,
        timestamp_label: None,
        message: None,
    };
    let mut out = Vec::new();
    content_block(Version::V11, &block, &mut out);
    let xml = String::from_utf8(out).unwrap();
    assert!(
        xml.contains("<taxii_11:Content xmlns=\"urn:default\"><x/></taxii_11:Content>"),
        "{xml}"
    );
    assert!(!xml.contains("urn:other"));
}

#[test]
fn status_details_sit_inside_status_detail() {
    let env = samples::all()
        .into_iter()
        .find(|(l, _)| l == "11-status_message")
        .map(|(_, e)| e)
        .unwrap();
    let xml = text(&env);
    assert!(xml.contains(
        "<taxii_11:Status_Detail><taxii_11:Detail name=\"ACCEPTABLE_DESTINATION\">otx-mirror</taxii_11:Detail>"
    ), "{xml}");
    let detail_at = xml.find("<taxii_11:Status_Detail>").unwrap();
    let headers_end = xml.find("</taxii_11:Extended_Headers>").unwrap();
    assert!(
        headers_end < detail_at,
        "details must not be in Extended_Headers"
    );
}

#[test]
fn text_and_attributes_are_escaped() {
    let mut status = crate::StatusMessage::new("a\"<&>", crate::StatusType::Failure)
        .with_message("x < y & z > w\r\n\u{1}");
    status.header.message_id = "1".into();
    let env = Envelope {
        version: Version::V11,
        message: Message::StatusMessage(status),
    };
    let xml = text(&env);
    assert!(
        xml.contains("in_response_to=\"a&quot;&lt;&amp;&gt;\""),
        "{xml}"
    );
    assert!(
        xml.contains("<taxii_11:Message>x &lt; y &amp; z &gt; w&#xD;\n\u{FFFD}</taxii_11:Message>"),
        "{xml}"
    );
    let back = read_message(xml.as_bytes(), &Limits::default()).unwrap();
    let Message::StatusMessage(s) = back.message else {
        panic!()
    };
    assert_eq!(s.header.in_response_to.as_deref(), Some("a\"<&>"));
    assert_eq!(s.message.as_deref(), Some("x < y & z > w\r\n\u{FFFD}"));
}

#[test]
fn timestamps_are_utc_six_digits() {
    let env = samples::all()
        .into_iter()
        .find(|(l, _)| l == "11-poll_response")
        .map(|(_, e)| e)
        .unwrap();
    let xml = text(&env);
    assert!(xml.contains("<taxii_11:Inclusive_End_Timestamp>2024-01-01T00:00:01.000000Z</taxii_11:Inclusive_End_Timestamp>"), "{xml}");
}
