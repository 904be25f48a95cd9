//! Reader semantics: namespaces, content capture, required fields, values.

use super::*;
use crate::msg::*;
use crate::ts::Timestamp;

pub(super) const NS11: &str = crate::NS_11;

pub(super) fn read(xml: &str) -> Result<Envelope, ReadError> {
    read_message(xml.as_bytes(), &Limits::default())
}

pub(super) fn ok(xml: &str) -> Envelope {
    match read(xml) {
        Ok(env) => env,
        Err(e) => panic!("{e}\n{xml}"),
    }
}

pub(super) fn kind(xml: &str) -> ReadErrorKind {
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

pub(super) fn inbox_with_content(
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
