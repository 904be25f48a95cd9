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

fn at() -> Loc {
    Loc {
        segment: 3,
        offset: 1 << 33,
        len: sample().content.len() as u32,
    }
}

/// A version 3 record with its place set.
fn placed(b: &NewBlock, ordinal: u64, ingested: i64) -> Vec<u8> {
    let mut bytes = encode(b, ordinal, ingested).unwrap();
    set_loc(&mut bytes, at());
    bytes
}

/// The same block as a version 1 record (content inline), as earlier builds wrote it.
fn inline_v1(b: &NewBlock, ordinal: u64, ingested: i64) -> Vec<u8> {
    let mut bytes = encode_version(b, ordinal, ingested, RECORD_V2).unwrap();
    bytes.truncate(bytes.len() - 16 - 4);
    bytes[0] = RECORD_V1;
    put_bytes(&mut bytes, &b.content, "content").unwrap();
    bytes
}

#[test]
fn round_trip_keeps_every_field() {
    let b = sample();
    let bytes = placed(&b, 12, 1_700_000_000_000_001);
    let (d, loc) = decode(5, &bytes).unwrap();
    assert_eq!(loc, Some(at()));
    assert!(d.content.is_empty(), "content lives in the segment");
    assert_eq!(d.label, Timestamp::from_micros(5));
    assert_eq!(d.ordinal, 12);
    assert_eq!(d.ingested, Timestamp::from_micros(1_700_000_000_000_001));
    assert_eq!(d.binding, b.binding);
    assert_eq!(d.subtypes, b.subtypes);
    assert_eq!(d.ns_context, b.ns_context);
    assert_eq!(d.upstream_label, b.upstream_label);
    assert_eq!(d.package_id, b.package_id);
    assert_eq!(d.indicators, 7);
    assert_eq!(d.source, None);
    assert_eq!(ordinal_of(&bytes).unwrap(), 12);
    assert_eq!(hash_of(&bytes).unwrap(), [9u8; 32]);
}

#[test]
fn version_1_records_still_read_with_their_content() {
    let b = sample();
    let bytes = inline_v1(&b, 4, 99);
    assert!(bytes.ends_with(&b.content));
    let (d, loc) = decode(8, &bytes).unwrap();
    assert_eq!(loc, None);
    assert_eq!(d.content, b.content);
    assert_eq!(d.ordinal, 4);
    assert_eq!(d.package_id, b.package_id);
    assert_eq!(ordinal_of(&bytes).unwrap(), 4);
    assert_eq!(hash_of(&bytes).unwrap(), [9u8; 32]);
}

#[test]
fn every_truncation_is_an_error() {
    for bytes in [placed(&sample(), 1, 0), inline_v1(&sample(), 1, 0)] {
        for cut in 0..bytes.len() {
            let r = decode(0, &bytes[..cut]);
            assert!(matches!(r, Err(StoreError::Corrupt(_))), "cut at {cut}");
        }
    }
}

#[test]
fn a_length_that_disagrees_with_the_place_is_an_error() {
    let mut bytes = encode(&sample(), 1, 0).unwrap();
    set_loc(&mut bytes, Loc { len: 1, ..at() });
    assert!(matches!(decode(0, &bytes), Err(StoreError::Corrupt(_))));
}

#[test]
fn trailing_bytes_and_unknown_version_are_errors() {
    let mut bytes = placed(&sample(), 1, 0);
    bytes.push(0);
    assert!(matches!(decode(0, &bytes), Err(StoreError::Corrupt(_))));
    let mut bytes = placed(&sample(), 1, 0);
    bytes[0] = 4;
    assert!(matches!(decode(0, &bytes), Err(StoreError::Corrupt(_))));
    assert!(matches!(ordinal_of(&bytes), Err(StoreError::Corrupt(_))));
}

#[test]
fn huge_list_count_is_refused_without_allocating() {
    let mut b = sample();
    b.subtypes.clear();
    let bytes = placed(&b, 1, 0);
    // The subtype count sits right after the binding string.
    let at = FIXED_HEAD + 4 + 1 + 8 + 4 + b.binding.len();
    assert_eq!(&bytes[at..at + 4], &[0, 0, 0, 0]);
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(decode(0, &bad), Err(StoreError::Corrupt(_))));
}

#[test]
fn flipped_bytes_never_panic() {
    let bytes = placed(&sample(), 3, 0);
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] = v;
            let _ = decode(0, &bad);
        }
    }
}

#[test]
fn version_3_keeps_the_title_and_version_2_reads_without_it() {
    let mut b = sample();
    b.title = Some("Pulse ünï".into());
    let bytes = placed(&b, 2, 7);
    let d = decode_full(1, &bytes).unwrap();
    assert_eq!(d.title, Some(Some("Pulse ünï".to_string())));
    assert_eq!(d.loc, Some(at()));

    let old = as_version_2(1, &bytes);
    let d2 = decode_full(1, &old).unwrap();
    assert_eq!(d2.title, None, "a version 2 record has no title field");
    assert_eq!(d2.block, d.block);
    assert_eq!(d2.loc, d.loc);

    b.title = Some("é".repeat(MAX_TITLE));
    let d = decode_full(1, &placed(&b, 2, 7)).unwrap();
    let kept = d.title.unwrap().unwrap();
    assert!(kept.len() <= MAX_TITLE && b.title.unwrap().starts_with(&kept));
    b.title = None;
    let d = decode_full(1, &placed(&b, 2, 7)).unwrap();
    assert_eq!(d.title, Some(None));
}
