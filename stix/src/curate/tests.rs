use super::*;
use crate::IndicatorKind::*;

const DECLS: &str = r#"xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:cybox="http://cybox.mitre.org/cybox-2" xmlns:cyboxCommon="http://cybox.mitre.org/common-2" xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2" xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:t="urn:t""#;

fn domain_indicator(n: usize, value: &str, ts: &str) -> String {
    format!(
        r#"<stix:Indicator id="t:i{n}" timestamp="{ts}" xsi:type="indicator:IndicatorType"><indicator:Observable id="t:o{n}"><cybox:Object id="t:x{n}"><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType"><DomainNameObj:Value>{value}</DomainNameObj:Value></cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator>"#
    )
}

fn ip_indicator(n: usize, value: &str) -> String {
    format!(
        r#"<stix:Indicator id="t:i{n}" timestamp="2026-06-01T00:00:00Z" xsi:type="indicator:IndicatorType"><indicator:Observable id="t:o{n}"><cybox:Object id="t:x{n}"><cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv6-addr"><AddressObj:Address_Value>{value}</AddressObj:Address_Value></cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator>"#
    )
}

fn package(indicators: &[String]) -> String {
    format!(
        r#"<stix:STIX_Package {DECLS} id="t:p" version="1.2" timestamp="2026-06-01T00:00:00Z"><stix:STIX_Header><stix:Title>x</stix:Title></stix:STIX_Header><stix:Indicators>{}</stix:Indicators></stix:STIX_Package>"#,
        indicators.concat()
    )
}

fn now() -> Timestamp {
    Timestamp::parse("2026-07-01T00:00:00Z").unwrap_or_else(|_| Timestamp::from_micros(0))
}

fn allow(domain: &str) -> Allowlist {
    let mut a = Allowlist::new();
    a.add_domain(domain).unwrap_or_default();
    a
}

fn run(xml: &str, a: &Allowlist, p: &Profile) -> Curated {
    curate(xml.as_bytes(), &[], a, p, now()).unwrap_or_else(|e| panic!("curate: {e}"))
}

fn values(xml: &[u8]) -> Vec<String> {
    crate::summarize(xml, &[])
        .unwrap_or_default()
        .observables
        .into_iter()
        .map(|i| i.value)
        .collect()
}

#[test]
fn nothing_listed_keeps_the_bytes() {
    let xml = package(&[domain_indicator(1, "a.test", "2026-06-01T00:00:00Z")]);
    let c = run(&xml, &allow("partner.example"), &Profile::default());
    assert!(c.unchanged());
    assert_eq!(c.remaining, 1);
}

#[test]
fn a_listed_value_is_cut_with_its_indicator() {
    let xml = package(&[
        domain_indicator(1, "a.test", "2026-06-01T00:00:00Z"),
        domain_indicator(2, "www.partner.example", "2026-06-01T00:00:00Z"),
        domain_indicator(3, "b.test", "2026-06-01T00:00:00Z"),
    ]);
    let c = run(&xml, &allow("partner.example"), &Profile::default());
    assert!(c.keep);
    assert_eq!(
        c.listed,
        vec![Indicator::new(Domain, "www.partner.example")]
    );
    assert_eq!(c.remaining, 2);
    let out = c.content.unwrap_or_default();
    assert_eq!(values(&out), ["a.test", "b.test"]);
    let out = restamp(&out, "2026-07-01T00:00:00.000000Z").unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(r#"id="t:p" version="1.2" timestamp="2026-07-01T00:00:00.000000Z">"#));
    assert!(!text.contains("t:i2"));
    // Everything else is byte for byte what it was.
    let expected = xml
        .replace(
            &domain_indicator(2, "www.partner.example", "2026-06-01T00:00:00Z"),
            "",
        )
        .replace(
            "2026-06-01T00:00:00Z\"><stix:STIX_Header",
            "2026-07-01T00:00:00.000000Z\"><stix:STIX_Header",
        );
    assert_eq!(text, expected);
}

#[test]
fn a_block_left_empty_is_dropped() {
    let xml = package(&[domain_indicator(
        1,
        "partner.example",
        "2026-06-01T00:00:00Z",
    )]);
    let c = run(&xml, &allow("partner.example"), &Profile::default());
    assert!(!c.keep);
    assert_eq!(c.listed.len(), 1);
    assert_eq!(c.dropped_for, Some(Removal::Listed));
}

#[test]
fn a_dropped_block_says_why() {
    let esa = Profile {
        kinds: Profile::named_kinds("esa").flatten(),
        max_age_secs: Some(30 * 86_400),
    };
    // Only a kind the profile does not keep.
    let c = run(
        &package(&[ip_indicator(1, "2001:db8::1")]),
        &Allowlist::new(),
        &esa,
    );
    assert_eq!((c.keep, c.dropped_for), (false, Some(Removal::Kind)));
    // Only old indicators.
    let old = package(&[domain_indicator(1, "old.test", "2025-01-01T00:00:00Z")]);
    let c = run(&old, &Allowlist::new(), &esa);
    assert_eq!((c.keep, c.dropped_for), (false, Some(Removal::Age)));
    // A listed value wins over the other causes.
    let mixed = package(&[
        domain_indicator(1, "partner.example", "2026-06-20T00:00:00Z"),
        ip_indicator(2, "2001:db8::1"),
    ]);
    let c = run(&mixed, &allow("partner.example"), &esa);
    assert_eq!((c.keep, c.dropped_for), (false, Some(Removal::Listed)));
    // Kept blocks carry no cause.
    let fresh = package(&[domain_indicator(1, "new.test", "2026-06-20T00:00:00Z")]);
    assert_eq!(run(&fresh, &Allowlist::new(), &esa).dropped_for, None);
    // Escaped content is judged whole, with the same causes.
    let escaped = package(&[ip_indicator(1, "2001:db8::1")])
        .replace('&', "&amp;")
        .replace('<', "&lt;");
    let c = run(&escaped, &Allowlist::new(), &esa);
    assert_eq!((c.keep, c.dropped_for), (false, Some(Removal::Kind)));
}

#[test]
fn esa_profile_and_age() {
    let xml = package(&[
        domain_indicator(1, "new.test", "2026-06-20T00:00:00Z"),
        domain_indicator(2, "old.test", "2025-01-01T00:00:00Z"),
        ip_indicator(3, "2001:db8::1"),
    ]);
    let profile = Profile {
        kinds: Profile::named_kinds("esa").flatten(),
        max_age_secs: Some(30 * 86_400),
    };
    let c = run(&xml, &Allowlist::new(), &profile);
    assert!(c.keep);
    assert_eq!((c.removed_kind, c.removed_age, c.remaining), (1, 1, 1));
    let out = c.content.unwrap_or_default();
    assert_eq!(values(&out), ["new.test"]);
    // The package's timestamp is kept.
    assert!(String::from_utf8_lossy(&out).contains(r#"timestamp="2026-06-01T00:00:00Z">"#));
    assert_eq!(restamp(b"<a/>", "x"), None);
    assert_eq!(Profile::named_kinds("nope"), None);
}

#[test]
fn an_emptied_list_goes_with_its_items() {
    let obs = r#"<stix:Observables cybox_major_version="2" cybox_minor_version="1"><cybox:Observable id="t:o9"><cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType"><DomainNameObj:Value>partner.example</DomainNameObj:Value></cybox:Properties></cybox:Object></cybox:Observable></stix:Observables>"#;
    let xml = package(&[domain_indicator(1, "a.test", "2026-06-01T00:00:00Z")])
        .replace("</stix:Indicators>", &format!("</stix:Indicators>{obs}"));
    let c = run(&xml, &allow("partner.example"), &Profile::default());
    let out = String::from_utf8(c.content.unwrap_or_default()).unwrap_or_default();
    assert!(!out.contains("Observables"));
    assert!(out.contains("a.test"));
}

#[test]
fn escaped_content_is_kept_or_dropped_whole() {
    let xml = package(&[
        domain_indicator(1, "a.test", "2026-06-01T00:00:00Z"),
        domain_indicator(2, "partner.example", "2026-06-01T00:00:00Z"),
    ]);
    let escaped = xml.replace('&', "&amp;").replace('<', "&lt;");
    let c = run(&escaped, &allow("partner.example"), &Profile::default());
    assert!(!c.keep);
    let c = run(&escaped, &allow("other.example"), &Profile::default());
    assert!(c.unchanged());
}
