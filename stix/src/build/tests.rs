use super::*;
use crate::{summarize, IndicatorKind};

fn sample_values() -> Vec<(Indicator, Option<(String, String)>)> {
    use IndicatorKind::*;
    let plain = |kind, value: &str| (Indicator::new(kind, value), None);
    vec![
        plain(Ipv4, "198.51.100.7"),
        plain(Ipv6, "2001:db8::10"),
        plain(Ipv6, "::ffff:192.0.2.1"),
        (
            Indicator::new(Cidr, "203.0.113.0/24"),
            Some(("203.0.113.0".into(), "203.0.113.255".into())),
        ),
        (
            Indicator::new(Cidr, "2001:db8:1::/48"),
            Some((
                "2001:db8:1::".into(),
                "2001:db8:1:ffff:ffff:ffff:ffff:ffff".into(),
            )),
        ),
        plain(Cidr, "192.0.2.0/25"),
        plain(Domain, "evil.example.test"),
        plain(Url, "http://evil.example.test/a?b=1&c=<2>\"'"),
        plain(Email, "phish@example.test"),
        plain(Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        plain(Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        plain(
            Sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        plain(Mutex, "Global\\mtx-ü-🦀"),
    ]
}

pub(crate) fn sample_spec(version: StixVersion) -> PackageSpec {
    let indicators = sample_values()
        .into_iter()
        .enumerate()
        .map(|(i, (value, cidr_range))| IndicatorSpec {
            id: format!("test:indicator-{i}"),
            timestamp: "2026-01-02T03:04:05.000000Z".into(),
            title: Some(format!("{} <&> title", value.value)),
            description: Some("Beschreibung: Größe & Straße; 説明".into()),
            observable_id: format!("test:Observable-{i}"),
            object_id: format!("test:{}-{i}", object_word(value.kind)),
            observable_title: Some(format!("{} - {}", value.kind, value.value)),
            value,
            cidr_range,
            valid_until: (i % 2 == 0).then(|| "2027-01-02T03:04:05.000000Z".into()),
        })
        .collect();
    PackageSpec {
        id: "test:Package-1".into(),
        id_namespace: ("test".into(), "http://example.test".into()),
        version,
        timestamp: "2026-01-02T03:04:05.000000Z".into(),
        title: Some("Pulse \"quoted\" & <angled> 🚨".into()),
        description: Some("line one\nline two\r\nfeed\u{1}control".into()),
        short_description: Some("https://otx.alienvault.com/pulse/0123456789abcdef01234567".into()),
        produced_time: Some("2026-01-02T03:04:05.000000Z".into()),
        source_name: Some("Alienvault OTX".into()),
        source_description: Some("Alienvault OTX - https://otx.alienvault.com/".into()),
        indicators,
    }
}

#[test]
fn round_trip_every_kind_both_versions() {
    for version in [StixVersion::V111, StixVersion::V12] {
        let spec = sample_spec(version);
        let xml = package(&spec);
        let text = String::from_utf8(xml.clone()).unwrap_or_else(|e| panic!("utf-8: {e}"));
        assert!(
            text.starts_with("<stix:STIX_Package "),
            "no declaration, root first"
        );

        let summary = summarize(&xml, &[]).unwrap_or_else(|e| panic!("{version:?}: {e}"));
        let want: Vec<Indicator> = spec.indicators.iter().map(|i| i.value.clone()).collect();
        assert_eq!(summary.observables, want, "{version:?}");
        assert_eq!(summary.unmapped, 0);
        assert_eq!(summary.indicator_count as usize, spec.indicators.len());
        assert_eq!(summary.id.as_deref(), Some("test:Package-1"));
        assert_eq!(summary.version.as_deref(), Some(version.as_str()));
        assert_eq!(summary.title, spec.title);
    }
}

#[test]
fn categories_and_types_match_values() {
    let text = String::from_utf8(package(&sample_spec(StixVersion::V12)))
        .unwrap_or_else(|e| panic!("utf-8: {e}"));
    for needle in [
        r#"<AddressObj:Address_Value condition="Equals">198.51.100.7</AddressObj:Address_Value>"#,
        r#"xsi:type="AddressObj:AddressObjectType" category="ipv6-addr""#,
        r#"xsi:type="AddressObj:AddressObjectType" category="e-mail""#,
        r#"xsi:type="AddressObj:AddressObjectType" category="cidr""#,
        r###"condition="InclusiveBetween" delimiter="##comma##">203.0.113.0##comma##203.0.113.255<"###,
        r#"xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN""#,
        r#"xsi:type="URIObj:URIObjectType" type="URL""#,
        r#"xsi:type="MutexObj:MutexObjectType" named="true""#,
        r#"<cyboxCommon:Type xsi:type="cyboxVocabs:HashNameVocab-1.0">SHA256</cyboxCommon:Type>"#,
        r#"xmlns:test="http://example.test""#,
        "a?b=1&amp;c=&lt;2&gt;\"'",
        "feed\u{fffd}control",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    // The IPv4-mapped IPv6 literal is never labelled ipv4-addr.
    let mapped = text.find("::ffff:192.0.2.1").unwrap_or(0);
    let before = &text[..mapped];
    let last_category = before.rfind("category=").unwrap_or(0);
    assert!(before[last_category..].starts_with("category=\"ipv6-addr\""));
}

#[test]
fn same_spec_same_bytes() {
    let spec = sample_spec(StixVersion::V12);
    assert_eq!(package(&spec), package(&spec.clone()));
}

#[test]
fn version_names_and_bindings() {
    assert_eq!(StixVersion::V111.binding(), taxii::BINDING_STIX_111);
    assert_eq!(StixVersion::parse("1.2"), Some(StixVersion::V12));
    assert_eq!(
        StixVersion::parse(taxii::BINDING_STIX_111),
        Some(StixVersion::V111)
    );
    assert_eq!(StixVersion::parse("2.1"), None);
}
