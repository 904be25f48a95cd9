//! Reader semantics: message forms, required fields, values, status messages.

use super::tests::{inbox_with_content, kind, ok, read, NS11};
use super::*;
use crate::msg::*;
use crate::status::StatusType;

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
