//! Reader semantics: namespaces, content capture, required fields, values.

use super::*;
use crate::msg::*;
use crate::status::StatusType;
use crate::ts::Timestamp;

const NS11: &str = crate::NS_11;

fn read(xml: &str) -> Result<Envelope, ReadError> {
    read_message(xml.as_bytes(), &Limits::default())
}

fn ok(xml: &str) -> Envelope {
    match read(xml) {
        Ok(env) => env,
        Err(e) => panic!("{e}\n{xml}"),
    }
}

fn kind(xml: &str) -> ReadErrorKind {
    match read(xml) {
        Ok(env) => panic!("accepted: {env:?}\n{xml}"),
        Err(e) => e.kind,
    }
}

fn poll_request(prefix_decl: &str, p: &str) -> String {
    format!(
        r#"<{p}Poll_Request {prefix_decl} message_id="m1" collection_name="otx">
  <{p}Exclusive_Begin_Timestamp>2024-01-01T00:00:00Z</{p}Exclusive_Begin_Timestamp>
  <{p}Poll_Parameters allow_asynch="0">
    <{p}Response_Type>FULL</{p}Response_Type>
    <{p}Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/>
  </{p}Poll_Parameters>
</{p}Poll_Request>"#
    )
}

#[test]
fn prefix_does_not_matter() {
    let a = ok(&poll_request(
        &format!("xmlns:taxii_11=\"{NS11}\""),
        "taxii_11:",
    ));
    let b = ok(&poll_request(&format!("xmlns:t=\"{NS11}\""), "t:"));
    let c = ok(&poll_request(&format!("xmlns=\"{NS11}\""), ""));
    assert_eq!(a, b);
    assert_eq!(a, c);
    let Message::PollRequest(p) = a.message else {
        panic!()
    };
    assert_eq!(p.collection_name, "otx");
    assert_eq!(
        p.by,
        PollBy::Parameters(PollParameters {
            content_bindings: vec!["urn:stix.mitre.org:xml:1.1.1".into()],
            ..PollParameters::default()
        })
    );
}

#[test]
fn version_comes_from_the_namespace_not_the_prefix() {
    let env = ok(&format!(
        r#"<taxii_11:Discovery_Request xmlns:taxii_11="{}" message_id="1"/>"#,
        crate::NS_10
    ));
    assert_eq!(env.version, Version::V10);
    let env = ok(&format!(
        r#"<taxii:Discovery_Request xmlns:taxii="{NS11}" message_id="1"/>"#
    ));
    assert_eq!(env.version, Version::V11);
}

#[test]
fn elements_of_another_namespace_are_not_taxii_fields() {
    // A Collection_Name-like element in the wrong namespace does not count.
    let xml = format!(
        r#"<t:Poll_Request xmlns:t="{NS11}" xmlns:o="urn:other" message_id="1" collection_name="c">
        <o:Subscription_ID>x</o:Subscription_ID></t:Poll_Request>"#
    );
    assert!(matches!(kind(&xml), ReadErrorKind::Missing { .. }));
}

fn inbox_with_content(
    root_decls: &str,
    block_decls: &str,
    content_tag: &str,
    body: &str,
) -> String {
    format!(
        r#"<taxii_11:Inbox_Message xmlns:taxii_11="{NS11}" {root_decls} message_id="m2"><taxii_11:Content_Block {block_decls}><taxii_11:Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/>{content_tag}{body}</taxii_11:Content></taxii_11:Content_Block></taxii_11:Inbox_Message>"#
    )
}

fn first_block(env: Envelope) -> ContentBlock {
    match env.message {
        Message::InboxMessage(m) => m.blocks.into_iter().next().expect("a block"),
        Message::PollResponse(m) => m.blocks.into_iter().next().expect("a block"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn content_bytes_are_exact() {
    let bodies = [
        r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="a"><stix:Title>x &amp; y</stix:Title></stix:STIX_Package>"#,
        "<![CDATA[<stix:STIX_Package>raw & <unparsed>]]>",
        "&lt;stix:STIX_Package/&gt; escaped &amp; text",
        "\n   <a>€ three-byte ✓ and 𝄞 four</a>\r\n  ",
        "",
        "<!-- a comment --><?pi data?><b/>",
    ];
    for body in bodies {
        let xml = inbox_with_content("", "", "<taxii_11:Content>", body);
        let block = first_block(ok(&xml));
        assert_eq!(String::from_utf8(block.content).unwrap(), body);
    }
    // A content end tag with trailing spaces still ends exactly at '<'.
    let xml = inbox_with_content("", "", "<taxii_11:Content >", "<a/>")
        .replace("</taxii_11:Content>", "</taxii_11:Content  >");
    assert_eq!(first_block(ok(&xml)).content, b"<a/>");
    // A self-closing Content is empty.
    let xml = format!(
        r#"<taxii_11:Inbox_Message xmlns:taxii_11="{NS11}" message_id="m"><taxii_11:Content_Block><taxii_11:Content_Binding binding_id="b"/><taxii_11:Content/></taxii_11:Content_Block></taxii_11:Inbox_Message>"#
    );
    assert!(first_block(ok(&xml)).content.is_empty());
}

#[test]
fn ns_context_comes_from_ancestors_and_content_itself() {
    let xml = inbox_with_content(
        r#"xmlns:stix="urn:stix-outer" xmlns:cybox="urn:cybox""#,
        r#"xmlns:stix="urn:stix-inner""#,
        r#"<taxii_11:Content xmlns="urn:default" xmlns:ind="urn:indicator">"#,
        "<stix:STIX_Package><ind:I/><Plain/></stix:STIX_Package>",
    );
    let block = first_block(ok(&xml));
    let mut ctx = block.ns_context.clone();
    ctx.sort();
    assert_eq!(
        ctx,
        vec![
            ("".to_string(), "urn:default".to_string()),
            ("cybox".to_string(), "urn:cybox".to_string()),
            ("ind".to_string(), "urn:indicator".to_string()),
            ("stix".to_string(), "urn:stix-inner".to_string()),
        ]
    );
}

#[test]
fn ns_context_drops_only_the_content_prefix_binding() {
    // Content in the default namespace: the default binding is the envelope's, dropped;
    // another prefix on the same TAXII namespace is kept.
    let xml = format!(
        r#"<Inbox_Message xmlns="{NS11}" xmlns:t="{NS11}" message_id="m"><Content_Block><Content_Binding binding_id="b"/><Content><t:x/></Content></Content_Block></Inbox_Message>"#
    );
    let block = first_block(ok(&xml));
    assert_eq!(block.ns_context, vec![("t".to_string(), NS11.to_string())]);
}

#[test]
fn content_read_from_a_foreign_envelope_is_reserved_well_formed() {
    // The package relies on prefixes declared by the upstream envelope.
    let xml = inbox_with_content(
        r#"xmlns:stix="http://stix.mitre.org/stix-1""#,
        "",
        "<taxii_11:Content>",
        "<stix:STIX_Package><stix:Title>t</stix:Title></stix:STIX_Package>",
    );
    let block = first_block(ok(&xml));
    let mut out = Vec::new();
    crate::write::content_block(Version::V10, &block.as_ref(), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#"<taxii:Content xmlns:stix="http://stix.mitre.org/stix-1">"#));
    // Serve it in a 1.0 poll response and read it back: same content, same context.
    let resp = PollResponse {
        header: Header::response("2", "1"),
        collection_name: "otx".into(),
        more: false,
        result_id: None,
        result_part_number: None,
        begin: None,
        inclusive_end: Some(Timestamp::from_micros(0)),
        subscription_id: None,
        message: None,
        record_count: None,
        blocks: vec![block.clone()],
    };
    let bytes = crate::write::write_message(&Envelope {
        version: Version::V10,
        message: Message::PollResponse(resp),
    });
    let again = first_block(read_message(&bytes, &Limits::default()).unwrap());
    assert_eq!(again.content, block.content);
    assert_eq!(again.ns_context, block.ns_context);
}

#[test]
fn poll_request_needs_exactly_one_of_subscription_or_parameters() {
    let both = format!(
        r#"<t:Poll_Request xmlns:t="{NS11}" message_id="1" collection_name="c"><t:Subscription_ID>s</t:Subscription_ID><t:Poll_Parameters/></t:Poll_Request>"#
    );
    assert!(matches!(kind(&both), ReadErrorKind::Invalid { .. }));
    let neither =
        format!(r#"<t:Poll_Request xmlns:t="{NS11}" message_id="1" collection_name="c"/>"#);
    assert!(matches!(kind(&neither), ReadErrorKind::Missing { .. }));
    let sub = format!(
        r#"<t:Poll_Request xmlns:t="{NS11}" message_id="1" collection_name="c"><t:Subscription_ID> s1 </t:Subscription_ID></t:Poll_Request>"#
    );
    let Message::PollRequest(p) = ok(&sub).message else {
        panic!()
    };
    assert_eq!(p.by, PollBy::Subscription("s1".into()));
}

#[test]
fn poll_request_1_0_forms() {
    let ns = crate::NS_10;
    let by_sub = format!(
        r#"<taxii:Poll_Request xmlns:taxii="{ns}" message_id="1" feed_name="f" subscription_id="s9"/>"#
    );
    let Message::PollRequest(p) = ok(&by_sub).message else {
        panic!()
    };
    assert_eq!(p.by, PollBy::Subscription("s9".into()));
    let by_bindings = format!(
        r#"<taxii:Poll_Request xmlns:taxii="{ns}" message_id="1" feed_name="f"><taxii:Inclusive_End_Timestamp>2024-01-01T00:00:00Z</taxii:Inclusive_End_Timestamp><taxii:Content_Binding>urn:a</taxii:Content_Binding><taxii:Content_Binding>urn:b</taxii:Content_Binding></taxii:Poll_Request>"#
    );
    let Message::PollRequest(p) = ok(&by_bindings).message else {
        panic!()
    };
    assert_eq!(p.collection_name, "f");
    assert!(p.inclusive_end.is_some());
    let PollBy::Parameters(params) = p.by else {
        panic!()
    };
    assert_eq!(params.content_bindings, vec!["urn:a", "urn:b"]);
}

fn poll_with_begin(value: &str) -> Result<Envelope, ReadError> {
    read(&format!(
        r#"<t:Poll_Request xmlns:t="{NS11}" message_id="m9" collection_name="c"><t:Exclusive_Begin_Timestamp>{value}</t:Exclusive_Begin_Timestamp><t:Poll_Parameters/></t:Poll_Request>"#
    ))
}

#[test]
fn poll_timestamps_accepted_and_rejected() {
    let begin = |v: &str| match poll_with_begin(v).map(|e| e.message) {
        Ok(Message::PollRequest(p)) => p.exclusive_begin.unwrap(),
        other => panic!("{v}: {other:?}"),
    };
    let midnight = begin("2024-01-01T00:00:00Z");
    assert_eq!(begin("2024-01-01T08:00:00+08:00"), midnight);
    assert_eq!(begin("2024-01-01T00:00:00-00:00"), midnight);
    assert_eq!(
        begin(" 2024-01-01T00:00:00.5Z\n").as_micros(),
        midnight.as_micros() + 500_000
    );
    assert_eq!(
        begin("2024-01-01T00:00:00.123456789Z").as_micros(),
        midnight.as_micros() + 123_456
    );
    for bad in ["2024-01-01T00:00:00", "2024-01-01", "2024-13-01T00:00:00Z"] {
        let err = poll_with_begin(bad).unwrap_err();
        assert_eq!(err.message_id.as_deref(), Some("m9"));
        assert_eq!(err.version, Some(Version::V11));
        match err.kind {
            ReadErrorKind::Invalid { field, value, .. } => {
                assert_eq!(field, "Exclusive_Begin_Timestamp");
                assert_eq!(value, bad);
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn booleans() {
    let with = |v: &str| {
        read(&format!(
            r#"<t:Poll_Response xmlns:t="{NS11}" message_id="1" in_response_to="0" collection_name="c" more="{v}"/>"#
        ))
        .map(|e| match e.message {
            Message::PollResponse(r) => r.more,
            _ => unreachable!(),
        })
    };
    assert!(with("true").unwrap());
    assert!(with("1").unwrap());
    assert!(!with("false").unwrap());
    assert!(!with("0").unwrap());
    assert!(matches!(
        with("yes").unwrap_err().kind,
        ReadErrorKind::Invalid { .. }
    ));
}

#[test]
fn unknown_extras_are_ignored() {
    let xml = format!(
        r#"<t:Discovery_Request xmlns:t="{NS11}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:o="urn:o" message_id="1" extra="x" o:attr="y"><t:Future_Element><t:Deeper/></t:Future_Element><o:Thing>text</o:Thing><ds:Signature><ds:SignedInfo/></ds:Signature></t:Discovery_Request>"#
    );
    assert_eq!(
        ok(&xml).message,
        Message::DiscoveryRequest(Header::request("1"))
    );
}

#[test]
fn duplicates_of_single_fields_are_refused() {
    let xml = format!(
        r#"<t:Poll_Request xmlns:t="{NS11}" message_id="1" collection_name="c"><t:Exclusive_Begin_Timestamp>2024-01-01T00:00:00Z</t:Exclusive_Begin_Timestamp><t:Exclusive_Begin_Timestamp>2025-01-01T00:00:00Z</t:Exclusive_Begin_Timestamp><t:Poll_Parameters/></t:Poll_Request>"#
    );
    assert!(matches!(kind(&xml), ReadErrorKind::Invalid { .. }));
}

#[test]
fn unknown_roots() {
    match kind(&format!(r#"<t:Nope xmlns:t="{NS11}" message_id="7"/>"#)) {
        ReadErrorKind::UnknownMessage { namespace, name } => {
            assert_eq!(namespace, NS11);
            assert_eq!(name, "Nope");
        }
        other => panic!("{other:?}"),
    }
    let err = read(r#"<Discovery_Request xmlns="urn:not-taxii" message_id="7"/>"#).unwrap_err();
    assert!(matches!(err.kind, ReadErrorKind::UnknownMessage { .. }));
    assert_eq!(err.message_id.as_deref(), Some("7"));
    assert_eq!(err.version, None);
    assert!(matches!(
        kind(r#"<Discovery_Request message_id="7"/>"#),
        ReadErrorKind::UnknownMessage { .. }
    ));
    // Poll_Fulfillment does not exist in 1.0.
    assert!(matches!(
        kind(&format!(
            r#"<taxii:Poll_Fulfillment xmlns:taxii="{}" message_id="7" collection_name="c" result_id="r"/>"#,
            crate::NS_10
        )),
        ReadErrorKind::UnknownMessage { .. }
    ));
}

#[test]
fn required_fields() {
    let err = read(&format!(r#"<t:Discovery_Request xmlns:t="{NS11}"/>"#)).unwrap_err();
    assert_eq!(
        err.kind,
        ReadErrorKind::Missing {
            field: "message_id"
        }
    );
    assert_eq!(err.version, Some(Version::V11));
    assert_eq!(
        kind(&format!(
            r#"<t:Discovery_Response xmlns:t="{NS11}" message_id="1"/>"#
        )),
        ReadErrorKind::Missing {
            field: "in_response_to"
        }
    );
    assert_eq!(
        kind(&format!(
            r#"<t:Collection_Information_Response xmlns:t="{NS11}" message_id="1" in_response_to="0"><t:Collection collection_name="c"/></t:Collection_Information_Response>"#
        )),
        ReadErrorKind::Missing {
            field: "Description"
        }
    );
    assert_eq!(
        kind(&format!(
            r#"<taxii:Poll_Response xmlns:taxii="{}" message_id="1" in_response_to="0" feed_name="f"/>"#,
            crate::NS_10
        )),
        ReadErrorKind::Missing {
            field: "Inclusive_End_Timestamp"
        }
    );
    assert_eq!(
        kind(
            &inbox_with_content("", "", "<taxii_11:Content>", "").replace(
                r#"<taxii_11:Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/>"#,
                ""
            )
        ),
        ReadErrorKind::Missing {
            field: "Content_Binding"
        }
    );
}

#[test]
fn status_messages() {
    let xml = format!(
        r#"<t:Status_Message xmlns:t="{NS11}" message_id="1" in_response_to="0" status_type="urn:custom:status"><t:Status_Detail><t:Detail name="ITEM"> nope </t:Detail></t:Status_Detail><t:Message>m</t:Message></t:Status_Message>"#
    );
    let Message::StatusMessage(s) = ok(&xml).message else {
        panic!()
    };
    assert_eq!(s.status_type, StatusType::Failure);
    assert_eq!(s.raw_status_type.as_deref(), Some("urn:custom:status"));
    assert_eq!(s.details, vec![crate::StatusDetail::new("ITEM", "nope")]);
    let xml = format!(
        r#"<taxii:Status_Message xmlns:taxii="{}" message_id="1" in_response_to="0" status_type="NOT_FOUND"><taxii:Status_Detail>plain</taxii:Status_Detail></taxii:Status_Message>"#,
        crate::NS_10
    );
    let Message::StatusMessage(s) = ok(&xml).message else {
        panic!()
    };
    assert_eq!(s.status_type, StatusType::NotFound);
    assert_eq!(s.details, vec![crate::StatusDetail::new("", "plain")]);
}

#[test]
fn manage_feed_subscription_spelling_is_accepted_for_1_0() {
    let xml = format!(
        r#"<taxii:Manage_Feed_Subscription_Request xmlns:taxii="{}" message_id="1" feed_name="f" action="STATUS"/>"#,
        crate::NS_10
    );
    assert!(matches!(
        ok(&xml).message,
        Message::SubscriptionManagementRequest(_)
    ));
}

#[test]
fn a_long_poll_response_reads_every_block() {
    let mut xml = format!(
        r#"<t:Poll_Response xmlns:t="{NS11}" xmlns:stix="urn:stix" message_id="1" in_response_to="0" collection_name="c"><t:Inclusive_End_Timestamp>2024-01-01T00:00:00Z</t:Inclusive_End_Timestamp>"#
    );
    for n in 0..2_000 {
        xml.push_str(&format!(
            r#"<t:Content_Block><t:Content_Binding binding_id="b"/><t:Content><stix:P n="{n}">{}</stix:P></t:Content><t:Timestamp_Label>2024-01-01T00:00:00.{n:06}Z</t:Timestamp_Label></t:Content_Block>"#,
            "x".repeat(500)
        ));
    }
    xml.push_str("</t:Poll_Response>");
    let Message::PollResponse(r) = ok(&xml).message else {
        panic!()
    };
    assert_eq!(r.blocks.len(), 2_000);
    assert!(r.blocks[1999].content.starts_with(br#"<stix:P n="1999">"#));
    assert_eq!(
        r.blocks[1999].timestamp_label.unwrap().as_micros() % 1_000_000,
        1999
    );
}
