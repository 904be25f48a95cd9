//! Tests of list file reading.

use super::*;
use crate::IndicatorKind::*;

const NOW: Timestamp = Timestamp::from_micros(1_800_000_000_000_000); // 2027-01-15

fn kinds(file: &ListFile) -> Vec<(usize, crate::IndicatorKind, &str)> {
    file.values
        .iter()
        .map(|v| (v.line, v.indicator.kind, v.indicator.value.as_str()))
        .collect()
}

#[test]
fn plain_list_with_comments_and_blank_lines() {
    let text = "\u{feff}# our blocklist\n\nevil.example.com\n  198.51.100.7   # seen 2026-11\nhttp://evil.example.com/#frag\n# 203.0.113.9\nd41d8cd98f00b204e9800998ecf8427e\r\n";
    let file = parse(text, Format::Plain, NOW);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    assert_eq!(
        kinds(&file),
        [
            (3, Domain, "evil.example.com"),
            (4, Ipv4, "198.51.100.7"),
            (5, Url, "http://evil.example.com/#frag"),
            (7, Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        ]
    );
}

#[test]
fn plain_list_errors_name_their_lines() {
    let text = "evil.example.com\nnot a value\n198.51.100.300\nok.example.org\n";
    let file = parse(text, Format::Plain, NOW);
    let lines: Vec<usize> = file.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3]);
    assert!(
        file.errors[0].message.contains("\"not a value\""),
        "{:?}",
        file.errors
    );
    assert_eq!(file.values.len(), 2);
}

#[test]
fn csv_without_header_is_value_type_description_expiry() {
    let text = "evil.example.com,domain,phishing kit,2027-06-01\n\
                198.51.100.7,,\"C2, seen twice\",\n\
                2001:db8::1,ip\n\
                old.example.com,,expired,2026-01-01\n";
    let file = parse(text, Format::Csv(b','), NOW);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    assert_eq!(
        kinds(&file),
        [
            (1, Domain, "evil.example.com"),
            (2, Ipv4, "198.51.100.7"),
            (3, Ipv6, "2001:db8::1"),
        ]
    );
    assert_eq!(file.values[0].description.as_deref(), Some("phishing kit"));
    assert_eq!(
        file.values[0].valid_until.map(|t| t.to_string()).as_deref(),
        Some("2027-06-01T00:00:00.000000Z")
    );
    assert_eq!(
        file.values[1].description.as_deref(),
        Some("C2, seen twice")
    );
    assert_eq!(file.expired, [4]);
}

#[test]
fn csv_header_maps_columns_by_name() {
    let text = "Comment;Indicator Type;IOC;Expires;Extra\n\
                \"multi\nline \"\"note\"\"\";sha256;E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855;2027-02-01T10:00:00Z;x\n\
                # a comment row\n\
                ;url;hxxp://evil[.]example.com/p;;\n";
    let file = parse(text, Format::Csv(b';'), NOW);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    assert_eq!(
        kinds(&file),
        [
            (
                2,
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            (5, Url, "http://evil.example.com/p"),
        ]
    );
    assert_eq!(
        file.values[0].description.as_deref(),
        Some("multi\nline \"note\"")
    );
}

#[test]
fn csv_errors_name_their_lines() {
    let text = "value,type,description,expiry\n\
                evil.example.com,domain,,\n\
                evil.example.com,md5,,\n\
                ,domain,,\n\
                198.51.100.7,,,next week\n\
                x.example.com,yara,,\n\
                \"unterminated,domain\n";
    let file = parse(text, Format::Csv(b','), NOW);
    let got: Vec<(usize, &str)> = file
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0].0, 3);
    assert!(got[0].1.contains("not a valid md5"), "{got:?}");
    assert_eq!(got[1], (4, "no value in the value column"));
    assert_eq!(got[2].0, 5);
    assert!(got[2].1.contains("expiry"), "{got:?}");
    assert_eq!(got[3].0, 6);
    assert!(got[3].1.contains("unknown type"), "{got:?}");
    assert_eq!(got[4].0, 7);
    assert!(got[4].1.contains("not closed"), "{got:?}");
    assert_eq!(kinds(&file), [(2, Domain, "evil.example.com")]);
}

#[test]
fn header_without_value_column_is_refused() {
    let file = parse("type,description\ndomain,x\n", Format::Csv(b','), NOW);
    assert_eq!(file.errors.len(), 1);
    assert_eq!(file.errors[0].line, 1);
    assert!(file.values.is_empty());
}

#[test]
fn format_by_extension_then_by_content() {
    let p = |name: &str| std::path::PathBuf::from(name);
    assert_eq!(format_of(&p("a.csv"), "x"), Format::Csv(b','));
    assert_eq!(format_of(&p("a.csv"), "a;b\n"), Format::Csv(b';'));
    assert_eq!(format_of(&p("a.tsv"), "x"), Format::Csv(b'\t'));
    assert_eq!(
        format_of(&p("a.txt"), "evil.example.com,domain"),
        Format::Plain
    );
    assert_eq!(
        format_of(&p("feed"), "# c\nevil.example.com,domain\n"),
        Format::Csv(b',')
    );
    assert_eq!(
        format_of(&p("feed"), "indicator;type\nx;y\n"),
        Format::Csv(b';')
    );
    assert_eq!(format_of(&p("feed"), "evil.example.com\n"), Format::Plain);
    assert_eq!(format_of(&p("feed"), "hello, world\n"), Format::Plain);
}

#[test]
fn files_that_are_not_text_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, b"evil.example.com\nok.example.org\n\xff\xfe\n").unwrap();
    let err = read_file(&path, NOW).unwrap_err();
    assert!(err.ends_with("bad.txt:3: not UTF-8 text"), "{err}");
    let missing = read_file(&dir.path().join("missing.txt"), NOW).unwrap_err();
    assert!(missing.contains("missing.txt"), "{missing}");
}

#[test]
fn utf16_files_are_refused_with_a_hint() {
    for bom in [&b"\xff\xfe"[..], &b"\xfe\xff"[..]] {
        let mut bytes = bom.to_vec();
        bytes.extend_from_slice(b"e\0v\0i\0l\0\n\0");
        let err = read_bytes(Path::new("list.txt"), bytes, NOW).unwrap_err();
        assert_eq!(err, "list.txt:1: UTF-16 text; save the list as UTF-8");
    }
    let latin1 = b"caf\xe9.example.com\n".to_vec();
    let err = read_bytes(Path::new("list"), latin1, NOW).unwrap_err();
    assert_eq!(err, "list:1: not UTF-8 text");
}

#[test]
fn a_byte_order_mark_inside_the_file_is_not_part_of_a_value() {
    // Found by fuzzing (import_list): lists joined with `cat` carry a mark on later lines.
    let text = "\u{2}va\u{2}valulue,type,desle.ceom0\n\u{feff}ir@uevil.example.ceom0\n\u{feff}evrom,domain,ines wavee,";
    let file = read_bytes(Path::new("list.csv"), text.as_bytes().to_vec(), NOW).unwrap();
    let values: Vec<&str> = file
        .values
        .iter()
        .map(|v| v.indicator.value.as_str())
        .collect();
    assert!(values.iter().all(|v| !v.contains('\u{feff}')), "{values:?}");
    let plain = "evil.example.com\n\u{feff}second.example.com\n";
    let file = parse(plain, Format::Plain, NOW);
    assert_eq!(file.values[1].indicator.value, "second.example.com");
}

#[test]
fn a_value_defanged_twice_is_read_as_written_back() {
    // "[[dot]]" reads as "[.]" after one pass, which a second reading would change again.
    let file = read_bytes(
        Path::new("list.csv"),
        b"[[dot]]@example.test\nwww[[.]]evil[(.)]test\n".to_vec(),
        NOW,
    )
    .unwrap();
    let written: String = file
        .values
        .iter()
        .map(|v| format!("{}\n", v.indicator.value))
        .collect();
    let again = parse(&written, Format::Plain, NOW);
    assert_eq!(kinds(&file), kinds(&again));
    assert!(file.values.iter().all(|v| !v.indicator.value.contains('[')));
}
