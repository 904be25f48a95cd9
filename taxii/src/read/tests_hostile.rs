//! Hostile and broken inputs: every one must end in a clean error, quickly, without
//! expanding anything, and without deep recursion.

use std::time::{Duration, Instant};

use super::*;
use crate::msg::Message;

const NS11: &str = crate::NS_11;

fn kind_with(body: &[u8], limits: &Limits) -> ReadErrorKind {
    match read_message(body, limits) {
        Ok(env) => panic!("accepted: {env:?}"),
        Err(e) => e.kind,
    }
}

fn kind(body: &str) -> ReadErrorKind {
    kind_with(body.as_bytes(), &Limits::default())
}

fn malformed(body: &str) {
    match kind(body) {
        ReadErrorKind::Malformed(_) => {}
        other => panic!("{other:?} for {body:?}"),
    }
}

/// An Inbox_Message whose single content block holds `content`.
fn inbox(content: &str) -> String {
    format!(
        r#"<taxii_11:Inbox_Message xmlns:taxii_11="{NS11}" message_id="m2"><taxii_11:Content_Block><taxii_11:Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><taxii_11:Content>{content}</taxii_11:Content></taxii_11:Content_Block></taxii_11:Inbox_Message>"#
    )
}

#[test]
fn external_entity_is_refused_before_anything_is_read() {
    let body = format!(
        "<!DOCTYPE stix:STIX_Package [ <!ENTITY leak SYSTEM \"file:///etc/hostname\"> ]>{}",
        inbox("<stix:STIX_Package xmlns:stix=\"urn:stix\"><stix:Title>&leak;</stix:Title></stix:STIX_Package>")
    );
    assert_eq!(kind(&body), ReadErrorKind::Doctype);
}

#[test]
fn billion_laughs_is_refused() {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&lol{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">"));
    }
    dtd.push_str("]>");
    let body = format!(
        r#"{dtd}<t:Collection_Information_Response xmlns:t="{NS11}" message_id="1" in_response_to="0"><t:Collection collection_name="c"><t:Description>&lol9;</t:Description></t:Collection></t:Collection_Information_Response>"#
    );
    let started = Instant::now();
    assert_eq!(kind(&body), ReadErrorKind::Doctype);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn parameter_entity_and_external_dtd_are_refused() {
    let body = format!(
        r#"<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd" [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]>{}"#,
        inbox("<a/>")
    );
    assert_eq!(kind(&body), ReadErrorKind::Doctype);
}

#[test]
fn doctype_inside_content_is_refused() {
    let err = read_message(
        inbox("<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>").as_bytes(),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Doctype);
    assert_eq!(err.message_id.as_deref(), Some("m2"));
}

#[test]
fn undefined_entities_are_refused_in_text_and_attributes() {
    malformed(&inbox("<a>&leak;</a>"));
    malformed(&inbox("<a b=\"&leak;\"/>"));
    malformed(&format!(
        r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="&leak;"/>"#
    ));
    malformed(&inbox("<a>&#0;</a>"));
    malformed(&inbox("<a>&#x1;</a>"));
    malformed(&inbox("<a>&#xFFFE;</a>"));
    malformed(&inbox("<a>AT&T</a>"));
}

#[test]
fn xinclude_is_content_not_an_instruction() {
    let content =
        r#"<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>"#;
    let env = read_message(inbox(content).as_bytes(), &Limits::default()).unwrap();
    let Message::InboxMessage(m) = env.message else {
        panic!()
    };
    assert_eq!(m.blocks[0].content, content.as_bytes());
}

/// `<x>` n times then `</x>` n times.
fn nested(n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for _ in 0..n {
        s.push_str("<x>");
    }
    for _ in 0..n {
        s.push_str("</x>");
    }
    s
}

#[test]
fn hundred_thousand_levels_fail_fast_on_a_small_stack() {
    let body = inbox(&nested(100_000));
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let started = Instant::now();
            let result = read_message(body.as_bytes(), &Limits::default());
            (result.map(|_| ()), started.elapsed())
        })
        .unwrap();
    let (result, elapsed) = handle.join().expect("reader thread must not crash");
    let err = result.unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::TooDeep { limit: 512 });
    assert_eq!(err.message_id.as_deref(), Some("m2"));
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn depth_limit_counts_the_whole_document() {
    // Root, Content_Block and Content are three levels.
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    assert!(read_message(inbox(&nested(7)).as_bytes(), &limits).is_ok());
    assert_eq!(
        kind_with(inbox(&nested(8)).as_bytes(), &limits),
        ReadErrorKind::TooDeep { limit: 10 }
    );
    // An empty element at the limit also counts.
    let at_limit = format!("{}<y/>{}", "<x>".repeat(7), "</x>".repeat(7));
    assert_eq!(
        kind_with(inbox(&at_limit).as_bytes(), &limits),
        ReadErrorKind::TooDeep { limit: 10 }
    );
}

#[test]
fn ten_million_character_text_node() {
    let content = format!("&lt;{}", "x".repeat(10_000_000));
    let body = inbox(&content);

    let env = read_message(body.as_bytes(), &Limits::default()).expect("under the default limit");
    let Message::InboxMessage(m) = env.message else {
        panic!()
    };
    assert_eq!(m.blocks[0].content, content.as_bytes());

    let small = Limits {
        max_text: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let started = Instant::now();
    assert_eq!(
        kind_with(body.as_bytes(), &small),
        ReadErrorKind::TextTooLarge {
            limit: 8 * 1024 * 1024
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn large_attribute_value() {
    let limits = Limits {
        max_text: 1000,
        ..Limits::default()
    };
    let body = inbox(&format!("<a v=\"{}\"/>", "y".repeat(1001)));
    assert_eq!(
        kind_with(body.as_bytes(), &limits),
        ReadErrorKind::TextTooLarge { limit: 1000 }
    );
}

#[test]
fn invalid_utf8_reports_the_offset_from_the_real_start() {
    let mut body = inbox("<a>ok</a>").into_bytes();
    let at = body.len() - 40;
    body[at] = 0xFF;
    assert_eq!(
        kind_with(&body, &Limits::default()),
        ReadErrorKind::InvalidUtf8 { offset: at }
    );
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&body);
    assert_eq!(
        kind_with(&with_bom, &Limits::default()),
        ReadErrorKind::InvalidUtf8 { offset: at + 3 }
    );
    // A truncated multi-byte sequence at the very end.
    let mut cut = inbox("€").into_bytes();
    let euro = cut.windows(3).position(|w| w == "€".as_bytes()).unwrap();
    cut.truncate(euro + 2);
    assert_eq!(
        kind_with(&cut, &Limits::default()),
        ReadErrorKind::InvalidUtf8 { offset: euro }
    );
}

#[test]
fn bom_and_declaration_are_accepted() {
    let body = format!(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\n<!-- hi -->\n{}\n",
        inbox("<a>€</a>")
    );
    let env = read_message(body.as_bytes(), &Limits::default()).unwrap();
    let Message::InboxMessage(m) = env.message else {
        panic!()
    };
    assert_eq!(m.blocks[0].content, "<a>€</a>".as_bytes());
}

#[test]
fn other_encodings_are_refused() {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{}",
        inbox("")
    );
    assert_eq!(kind(&body), ReadErrorKind::Encoding("ISO-8859-1".into()));
}

#[test]
fn not_well_formed() {
    let good = format!(r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="1"/>"#);
    for body in [
        String::new(),
        "   \n ".to_string(),
        "garbage".to_string(),
        "\u{0}\u{1}binary".to_string(),
        format!("{good}{good}"),
        format!("{good} trailing text"),
        format!("{good}&amp;"),
        format!("text first {good}"),
        format!(r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="1">"#),
        format!(r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="1"></t:Other>"#),
        format!(
            r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="1"></t:Discovery_Request></x>"#
        ),
        format!(r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="1" message_id="2"/>"#),
        format!(r#"<t:Discovery_Request xmlns:t="{NS11}" message_id="<"/>"#),
        format!(r#"<u:Discovery_Request xmlns:t="{NS11}" message_id="1"/>"#),
        format!("{good}<?xml version=\"1.0\"?>"),
        inbox("<a><b></a></b>"),
        inbox("<undeclared:a/>"),
    ] {
        malformed(&body);
    }
}

#[test]
fn garbage_of_every_length_never_panics() {
    // A cheap deterministic fuzz: prefixes and byte flips of a valid message.
    let base = crate::write::write_message(&crate::samples::all()[6].1);
    for cut in (0..base.len()).step_by(7) {
        let _ = read_message(&base[..cut], &Limits::default());
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut body = base.clone();
        let at = (state % body.len() as u64) as usize;
        body[at] = (state >> 32) as u8;
        let _ = read_message(&body, &Limits::default());
    }
}

#[test]
fn namespace_declaration_flood_is_refused() {
    let decls: String = (0..10_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
        .collect();
    let started = Instant::now();
    malformed(&inbox(&format!("<a{decls}/>")));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn characters_xml_forbids_are_refused_even_when_written_literally() {
    for bad in [
        "\u{0}", "\u{1}", "\u{8}", "\u{B}", "\u{C}", "\u{1F}", "\u{FFFE}", "\u{FFFF}",
    ] {
        let in_text = inbox(&format!(
            "<stix:STIX_Package xmlns:stix=\"urn:stix\">a{bad}b</stix:STIX_Package>"
        ));
        let in_attr = format!(
            r#"<taxii_11:Discovery_Request xmlns:taxii_11="{NS11}" message_id="m{bad}1"/>"#
        );
        for body in [in_text, in_attr] {
            match kind(&body) {
                ReadErrorKind::Malformed(why) => assert!(why.contains("not allowed"), "{why}"),
                other => panic!("{other:?} for {body:?}"),
            }
        }
    }
    // Tab, newline, carriage return and the characters around the forbidden ones are fine.
    let ok = inbox("<stix:STIX_Package xmlns:stix=\"urn:stix\">\t\n\r \u{FFFD}\u{FFEF}\u{10000}</stix:STIX_Package>");
    read_message(ok.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn attribute_references_to_characters_xml_forbids_are_refused() {
    for bad in ["&#x0;", "&#x19;", "&#1;", "&#xFFFE;", "&#xFFFF;"] {
        let body = format!(
            r#"<taxii_11:Poll_Request xmlns:taxii_11="{NS11}" message_id="m1" collection_name="c{bad}"><taxii_11:Poll_Parameters/></taxii_11:Poll_Request>"#
        );
        match kind(&body) {
            ReadErrorKind::Malformed(why) => {
                assert!(
                    why.contains("not a legal") || why.contains("not permitted"),
                    "{why}"
                )
            }
            other => panic!("{other:?} for {body:?}"),
        }
    }
}
