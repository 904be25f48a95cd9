//! Tests of the block record encoding.

use super::*;

fn sample() -> NewBlock {
    NewBlock {
        binding: "urn:stix.mitre.org:xml:1.1.1".into(),
        subtypes: vec!["a".into(), "ünïcode".into()],
        content: b"<stix:STIX_Package id=\"x\">\0\xff raw bytes</stix:STIX_Package>".to_vec(),
        ns_context: vec![("stix".into(), "http://stix.mitre.org/stix-1".into())],
        upstream_label: Some(Timestamp::from_micros(-42)),
        package_id: Some("example:Package-1".into()),
        indicators: 7,
        source: None,
        hash: [9u8; 32],
        title: None,
        indicator_values: Vec::new(),
    }
}

#[test]
fn round_trip_keeps_every_field() {
    let b = sample();
    let bytes = encode(&b, 12, 1_700_000_000_000_001).unwrap();
    let d = decode(5, &bytes).unwrap();
    assert_eq!(d.label, Timestamp::from_micros(5));
    assert_eq!(d.ordinal, 12);
    assert_eq!(d.ingested, Timestamp::from_micros(1_700_000_000_000_001));
    assert_eq!(d.binding, b.binding);
    assert_eq!(d.subtypes, b.subtypes);
    assert_eq!(d.content, b.content);
    assert_eq!(d.ns_context, b.ns_context);
    assert_eq!(d.upstream_label, b.upstream_label);
    assert_eq!(d.package_id, b.package_id);
    assert_eq!(d.indicators, 7);
    assert_eq!(d.source, None);
    assert_eq!(ordinal_of(&bytes).unwrap(), 12);
    assert_eq!(hash_of(&bytes).unwrap(), [9u8; 32]);
}

#[test]
fn content_is_stored_verbatim_at_the_end() {
    let b = sample();
    let bytes = encode(&b, 1, 0).unwrap();
    assert!(bytes.ends_with(&b.content));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = encode(&sample(), 1, 0).unwrap();
    for cut in 0..bytes.len() {
        let r = decode(0, &bytes[..cut]);
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "cut at {cut}");
    }
}

#[test]
fn trailing_bytes_and_unknown_version_are_errors() {
    let mut bytes = encode(&sample(), 1, 0).unwrap();
    bytes.push(0);
    assert!(matches!(decode(0, &bytes), Err(StoreError::Corrupt(_))));
    let mut bytes = encode(&sample(), 1, 0).unwrap();
    bytes[0] = 2;
    assert!(matches!(decode(0, &bytes), Err(StoreError::Corrupt(_))));
    assert!(matches!(ordinal_of(&bytes), Err(StoreError::Corrupt(_))));
}

#[test]
fn huge_list_count_is_refused_without_allocating() {
    let mut b = sample();
    b.subtypes.clear();
    let bytes = encode(&b, 1, 0).unwrap();
    // The subtype count sits right after the binding string.
    let at = FIXED_HEAD + 4 + 1 + 8 + 4 + b.binding.len();
    assert_eq!(&bytes[at..at + 4], &[0, 0, 0, 0]);
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(decode(0, &bad), Err(StoreError::Corrupt(_))));
}

#[test]
fn flipped_bytes_never_panic() {
    let bytes = encode(&sample(), 3, 0).unwrap();
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] = v;
            let _ = decode(0, &bad);
        }
    }
}
