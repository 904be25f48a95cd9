use super::*;
use crate::{summarize, Indicator, IndicatorKind};
use taxii::Timestamp;

const PAGE: &str = r#"{
  "count": 1, "next": null, "previous": null, "unknown_top": {"x": 1},
  "results": [{
    "id": "0123456789abcdef01234567",
    "name": "Kampagne: Größe & Straße 🚨",
    "description": "<script>alert(1)</script> & more",
    "author_name": "tester",
    "created": "2026-03-01T10:00:00.123456",
    "modified": "2026-03-02T11:30:00.654321",
    "revision": 3, "tlp": "green", "public": true, "adversary": null,
    "tags": ["a", "b"], "targeted_countries": null,
    "malware_families": [{"id": "x", "display_name": "Emotet"}, "Qakbot"],
    "attack_ids": [{"id": "T1566", "name": "Phishing"}],
    "references": ["https://example.test/ref"], "industries": [],
    "extra_field": [1, 2, 3],
    "indicators": [
      {"id": 11, "indicator": "198.51.100.7", "type": "IPv4", "created": "2026-03-01T10:00:00", "title": "", "description": "C2", "content": "", "expiration": null, "is_active": 1, "role": null},
      {"id": 12, "indicator": "2001:db8::10", "type": "IPv6", "created": "2026-03-01T10:00:00", "is_active": true},
      {"id": 13, "indicator": "evil.example.test", "type": "domain", "created": "2026-03-01T10:00:00"},
      {"id": 14, "indicator": "www.evil.example.test", "type": "hostname", "created": "2026-03-01T10:00:00"},
      {"id": 15, "indicator": "phish@example.test", "type": "email", "created": "2026-03-01T10:00:00"},
      {"id": 16, "indicator": "http://evil.example.test/a?b=1&c=2", "type": "URL", "created": "2026-03-01T10:00:00"},
      {"id": 17, "indicator": "d41d8cd98f00b204e9800998ecf8427e", "type": "FileHash-MD5", "created": "2026-03-01T10:00:00"},
      {"id": 18, "indicator": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "type": "FileHash-SHA1", "created": "2026-03-01T10:00:00"},
      {"id": 19, "indicator": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "type": "FileHash-SHA256", "created": "2026-03-01T10:00:00"},
      {"id": 20, "indicator": "203.0.113.77/24", "type": "CIDR", "created": "2026-03-01T10:00:00"},
      {"id": 21, "indicator": "Global\\mtx", "type": "Mutex", "created": "2026-03-01T10:00:00"},
      {"id": 22, "indicator": "/gate.php", "type": "URI", "created": "2026-03-01T10:00:00"},
      {"id": 23, "indicator": "CVE-2024-0001", "type": "CVE", "created": "2026-03-01T10:00:00"},
      {"id": 24, "indicator": "192.0.2.1", "type": "IPv4", "created": "2026-03-01T10:00:00", "expiration": "2026-04-01T00:00:00"},
      {"id": 25, "indicator": "192.0.2.2", "type": "IPv4", "created": "2026-03-01T10:00:00", "is_active": 0},
      {"id": 26, "indicator": "192.0.2.3", "type": "IPv4", "created": "2026-03-01T10:00:00", "is_active": false},
      {"id": 27, "indicator": "192.0.2.4", "type": "IPv4", "created": "2026-03-01T10:00:00", "expiration": "2027-01-01T00:00:00"},
      {"id": 28, "indicator": "not-an-ip", "type": "IPv4", "created": "2026-03-01T10:00:00"}
    ]
  }]
}"#;

fn page() -> Page {
    serde_json::from_str(PAGE).unwrap_or_else(|e| panic!("parse: {e}"))
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-01T00:00:00Z").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lenient_json() {
    let page = page();
    let pulse = &page.results[0];
    assert_eq!(pulse.public, 1);
    assert_eq!(pulse.adversary, "");
    assert!(pulse.targeted_countries.is_empty());
    assert_eq!(pulse.malware_families, vec!["Emotet", "Qakbot"]);
    assert_eq!(pulse.attack_ids, vec!["T1566"]);
    assert_eq!(pulse.indicators[1].is_active, 1);
    assert_eq!(
        pulse.indicators[2].is_active, 1,
        "missing is_active means active"
    );
    assert_eq!(pulse.indicators[15].is_active, 0);
    assert_eq!(pulse.indicators[0].role, None);

    let minimal: Pulse = serde_json::from_str(r#"{"id": "ab"}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(minimal.id, "ab");
    assert!(minimal.indicators.is_empty());

    // What we write reads back the same.
    let text = serde_json::to_string(&page).unwrap_or_else(|e| panic!("{e}"));
    let again: Page = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, page);
}

#[test]
fn pulse_maps_and_skips() {
    let page = page();
    let out = pulse_to_stix(&page.results[0], now());
    use IndicatorKind::*;
    let want = vec![
        Indicator::new(Ipv4, "198.51.100.7"),
        Indicator::new(Ipv6, "2001:db8::10"),
        Indicator::new(Domain, "evil.example.test"),
        Indicator::new(Domain, "www.evil.example.test"),
        Indicator::new(Email, "phish@example.test"),
        Indicator::new(Url, "http://evil.example.test/a?b=1&c=2"),
        Indicator::new(Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        Indicator::new(Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        Indicator::new(
            Sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        Indicator::new(Cidr, "203.0.113.0/24"),
        Indicator::new(Mutex, "Global\\mtx"),
        Indicator::new(Ipv4, "192.0.2.4"),
    ];
    assert_eq!(out.emitted, want);
    assert_eq!(out.skipped_expired, 1);
    assert_eq!(out.skipped_inactive, 2);
    assert_eq!(out.not_emitted, 3);

    let summary = summarize(&out.xml, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.observables, want);
    assert_eq!(summary.indicator_count as usize, want.len());
    assert_eq!(summary.version.as_deref(), Some("1.2"));
    assert_eq!(
        summary.timestamp.as_deref(),
        Some("2026-03-02T11:30:00.654321Z")
    );
    assert_eq!(
        summary.title.as_deref(),
        Some("Kampagne: Größe & Straße 🚨")
    );
    let id = summary.id.unwrap_or_default();
    assert!(id.starts_with("alienvault-otx:Package-"), "{id}");

    let text = String::from_utf8(out.xml).unwrap_or_else(|e| panic!("{e}"));
    for needle in [
        r#"xmlns:alienvault-otx="https://otx.alienvault.com""#,
        "<stix:Short_Description>https://otx.alienvault.com/pulse/0123456789abcdef01234567</stix:Short_Description>",
        "<stixCommon:Name>Alienvault OTX</stixCommon:Name>",
        "<stixCommon:Description>Alienvault OTX - https://otx.alienvault.com/</stixCommon:Description>",
        "<cyboxCommon:Produced_Time>2026-03-02T11:30:00.654321Z</cyboxCommon:Produced_Time>",
        "<indicator:Title>198.51.100.7 from https://otx.alienvault.com/pulse/0123456789abcdef01234567</indicator:Title>",
        "<cybox:Title>hostname - www.evil.example.test</cybox:Title>",
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more",
        r#"<cybox:Object id="alienvault-otx:Address-"#,
        r#"<cybox:Object id="alienvault-otx:File-"#,
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[test]
fn deterministic_ids_and_bytes() {
    let page = page();
    let a = pulse_to_stix(&page.results[0], now());
    let b = pulse_to_stix(&page.clone().results[0], now());
    assert_eq!(a, b);

    let mut other = page.results[0].clone();
    other.id = "fedcba9876543210fedcba98".into();
    let c = pulse_to_stix(&other, now());
    assert_ne!(a.xml, c.xml);

    let uuid = stable_uuid(&["x", "y"]);
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "8");
    assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    assert_eq!(uuid, stable_uuid(&["x", "y"]));
    assert_ne!(stable_uuid(&["xy"]), stable_uuid(&["x", "y"]));
}

#[test]
fn expiry_depends_on_now() {
    let page = page();
    let early = Timestamp::parse("2026-03-15T00:00:00Z").unwrap_or_else(|e| panic!("{e}"));
    let out = pulse_to_stix(&page.results[0], early);
    assert_eq!(out.skipped_expired, 0);
    assert_eq!(out.emitted.len(), 13);
}

#[test]
fn indicator_type_mapping() {
    assert!(
        map_indicator("IPv4", "2001:db8::1").is_some_and(|(i, _)| i.kind == IndicatorKind::Ipv6)
    );
    assert!(map_indicator("FileHash-MD5", "abc").is_none());
    assert!(map_indicator("FileHash-PEHASH", &"a".repeat(40)).is_none());
    assert!(map_indicator("FileHash-IMPHASH", &"a".repeat(32)).is_none());
    for t in ["URI", "FilePath", "YARA", "CVE", "JA3", "whatever"] {
        assert!(map_indicator(t, "x").is_none(), "{t}");
    }
    let (cidr, range) = map_indicator("CIDR", "198.51.100.0/30").unwrap_or_else(|| panic!("cidr"));
    assert_eq!(cidr.value, "198.51.100.0/30");
    assert_eq!(range, Some(("198.51.100.0".into(), "198.51.100.3".into())));
}

#[test]
fn values_with_control_characters_are_not_emitted() {
    // XML cannot carry most of them: the package would hold another value than the one
    // reported as emitted.
    for (kind, value) in [
        ("url", "portal.invoice.test/a&r\u{c}=3"),
        ("url", "http://evil.test/\u{fffe}"),
        ("domain", "evil\u{1}.test"),
        ("hostname", "evil\u{85}.test"),
        ("mutex", "Global\\m\u{7f}x"),
        ("email", "a\u{c}@evil.test"),
    ] {
        assert_eq!(map_indicator(kind, value), None, "{kind} {value:?}");
    }
    assert!(map_indicator("url", "http://evil.test/a b").is_some());
    assert!(map_indicator("mutex", "Global\\Über").is_some());
}
