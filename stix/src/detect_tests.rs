use super::*;
use IndicatorKind::*;

fn kind_of(value: &str) -> Option<(IndicatorKind, String)> {
    detect(value).ok().map(|i| (i.kind, i.value))
}

#[test]
fn every_kind_is_detected() {
    let cases = [
        ("evil.example.com", Domain, "evil.example.com"),
        (
            "http://evil.example.com/a?b=c",
            Url,
            "http://evil.example.com/a?b=c",
        ),
        ("198.51.100.7", Ipv4, "198.51.100.7"),
        ("2001:db8::10", Ipv6, "2001:db8::10"),
        ("198.51.100.0/24", Cidr, "198.51.100.0/24"),
        ("2001:db8::/32", Cidr, "2001:db8::/32"),
        (
            "d41d8cd98f00b204e9800998ecf8427e",
            Md5,
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        (
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            Sha1,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            Sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("phish@example.test", Email, "phish@example.test"),
    ];
    for (input, kind, value) in cases {
        assert_eq!(kind_of(input), Some((kind, value.to_owned())), "{input}");
    }
}

#[test]
fn values_come_out_canonical() {
    let cases = [
        ("  Evil.Example.COM. ", Domain, "evil.example.com"),
        (
            "HTTPS://Evil.Example.com:8443/Path",
            Url,
            "https://evil.example.com:8443/Path",
        ),
        ("2001:DB8:0:0:0:0:0:10", Ipv6, "2001:db8::10"),
        ("[2001:db8::10]", Ipv6, "2001:db8::10"),
        ("198.51.100.77/24", Cidr, "198.51.100.0/24"),
        (
            "D41D8CD98F00B204E9800998ECF8427E",
            Md5,
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        ("Phish@Example.TEST", Email, "phish@example.test"),
    ];
    for (input, kind, value) in cases {
        assert_eq!(kind_of(input), Some((kind, value.to_owned())), "{input}");
    }
}

#[test]
fn defanged_values_are_refanged() {
    assert_eq!(
        kind_of("hxxp://evil[.]example[.]com/x"),
        Some((Url, "http://evil.example.com/x".into()))
    );
    assert_eq!(
        kind_of("hXXps[://]evil.example.com"),
        Some((Url, "https://evil.example.com".into()))
    );
    assert_eq!(
        kind_of("evil(.)example{.}com"),
        Some((Domain, "evil.example.com".into()))
    );
    assert_eq!(
        kind_of("198.51.100[.]7"),
        Some((Ipv4, "198.51.100.7".into()))
    );
    assert_eq!(
        kind_of("phish[at]example[dot]test"),
        Some((Email, "phish@example.test".into()))
    );
}

#[test]
fn refanging_twice_changes_nothing_more() {
    // Tokens nested in tokens: one pass of replacements leaves a token behind.
    let tokens = [
        "[.]", "(.)", "{.}", "[dot]", "[:]", "[://]", "[@]", "[at]", "[", "]", "(", ")", "{", "}",
        ".", "hxxp", "fxp", "a",
    ];
    let mut checked = 0;
    for a in tokens {
        for b in tokens {
            for c in tokens {
                for value in [
                    format!("{a}{b}{c}"),
                    format!("[{a}{b}]{c}"),
                    format!("{a}[{b}]{c}"),
                ] {
                    let once = refang(&value);
                    assert_eq!(refang(&once), once, "{value:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000);
    assert_eq!(refang("[[dot]]@example.test"), ".@example.test");
    assert_eq!(refang("www[[.]]evil[[[.]]]test"), "www.evil.test");
    // Tokens in any case: a value that lower-casing would turn into a token is refanged
    // before, not after, it is put in canonical form.
    assert_eq!(refang("evil[DOT]example[Dot]test"), "evil.example.test");
    assert_eq!(
        kind_of("'[[doT]]e.t@example.test"),
        Some((Email, "'.e.t@example.test".into()))
    );
    let deep = format!("evil{}dot{}example", "[".repeat(20_000), "]".repeat(20_000));
    assert_eq!(refang(&deep), "evil.example");
}

#[test]
fn only_a_scheme_is_refanged_at_the_start() {
    for value in [
        "fxpro.com",
        "hxxpress.com",
        "hxxpfoo.example",
        "fxp@mail.example",
    ] {
        assert_eq!(refang(value), value);
    }
    assert_eq!(kind_of("fxpro.com"), Some((Domain, "fxpro.com".into())));
    assert_eq!(
        kind_of("fxp@mail.example"),
        Some((Email, "fxp@mail.example".into()))
    );
    assert_eq!(refang("hXXps://evil.test/"), "https://evil.test/");
    assert_eq!(refang("hxxp[:]//evil.test/"), "http://evil.test/");
    assert_eq!(refang("fxp://evil.test/x"), "ftp://evil.test/x");
}

#[test]
fn junk_is_unrecognised() {
    for junk in [
        "",
        "hello",
        "not a value",
        "1.2.3",
        "999.1.1.1",
        "198.51.100.0/33",
        "-bad-.example.com",
        "exa mple.com",
        "example..com",
        "javascript://alert(1)",
        "http://",
        "http://exa mple.com",
        "http://example.com:99999999",
        "@example.com",
        "phish@",
        "abcd1234",
        "g41d8cd98f00b204e9800998ecf8427e",
        "<script>",
    ] {
        assert_eq!(detect(junk), Err(Rejection::Unrecognised), "{junk:?}");
    }
    let long = format!("{}.com", "a".repeat(MAX_VALUE));
    assert_eq!(detect(&long), Err(Rejection::TooLong));
}

#[test]
fn hashes_are_never_domains_and_addresses_never_networks() {
    assert_eq!(kind_of(&"a".repeat(32)).map(|k| k.0), Some(Md5));
    assert_eq!(kind_of("10.0.0.1").map(|k| k.0), Some(Ipv4));
    assert_eq!(kind_of("10.0.0.1/32").map(|k| k.0), Some(Cidr));
}

#[test]
fn a_named_kind_must_fit() {
    assert_eq!(
        detect_as("hostname", "mail.example.com").map(|i| i.kind),
        Ok(Domain)
    );
    assert_eq!(
        detect_as("FileHash-SHA256", &"0".repeat(64)).map(|i| i.kind),
        Ok(Sha256)
    );
    assert_eq!(detect_as("ip", "2001:db8::1").map(|i| i.kind), Ok(Ipv6));
    assert_eq!(detect_as("IPv4", "198.51.100.1").map(|i| i.kind), Ok(Ipv4));
    assert_eq!(
        detect_as("sha1", &"0".repeat(64)),
        Err(Rejection::NotOfKind(Sha1))
    );
    assert_eq!(
        detect_as("domain", "http://example.com/"),
        Err(Rejection::NotOfKind(Domain))
    );
    assert_eq!(
        detect_as("yara", "rule x {}"),
        Err(Rejection::UnknownKind("yara".into()))
    );
    assert_eq!(
        detect_as("e-mail", "a@b.example").map(|i| i.kind),
        Ok(Email)
    );
    assert_eq!(
        detect_as("uri", "ftp://files.example/x").map(|i| i.kind),
        Ok(Url)
    );
    assert_eq!(
        detect_as("cidr", "10.1.2.3/8").map(|i| i.value),
        Ok("10.0.0.0/8".into())
    );
}

#[test]
fn canonical_agrees_with_extraction_forms() {
    // Ranges that are no single prefix stay `first-last`, as extraction writes them.
    assert_eq!(
        canonical(Cidr, "198.51.100.1-198.51.100.9").as_deref(),
        Some("198.51.100.1-198.51.100.9")
    );
    assert_eq!(canonical(Cidr, "198.51.100.1-2001:db8::1"), None);
    assert_eq!(
        canonical(Mutex, " Global\\x ").as_deref(),
        Some("Global\\x")
    );
    assert_eq!(
        canonical(Url, "http://intranet/login").as_deref(),
        Some("http://intranet/login")
    );
    assert_eq!(
        canonical(Url, "http://user:pw@[2001:DB8::1]:80/x").as_deref(),
        Some("http://user:pw@[2001:db8::1]:80/x")
    );
}

#[test]
fn invisible_characters_around_a_value_are_dropped_and_inside_an_address_refused() {
    // Found by fuzzing import_list: a byte-order mark at the start of a line (two lists
    // joined with `cat`) became part of an e-mail address.
    assert_eq!(
        kind_of("\u{feff}ir@uevil.example.ceom0"),
        Some((Email, "ir@uevil.example.ceom0".into()))
    );
    assert_eq!(
        kind_of("evil.example.com\u{200b}"),
        Some((Domain, "evil.example.com".into()))
    );
    assert_eq!(canonical(Email, "\u{feff}ir@evil.example.com"), None);
    assert_eq!(canonical(Email, "a\u{200d}b@evil.example.com"), None);
}

#[test]
fn an_address_whose_lower_case_is_longer_is_measured_in_lower_case() {
    // Found by fuzzing import_value: U+023E is 2 bytes, its lower case U+2C66 is 3, so a
    // local part of 64 bytes became 66 once lower-cased and its canonical form was refused.
    let local = format!("{}{}", "\u{23e}".repeat(2), "a".repeat(60));
    assert_eq!(local.len(), 64);
    assert_eq!(kind_of(&format!("{local}@example.test")), None);
    let fits = format!("{}{}", "\u{23e}".repeat(2), "a".repeat(58));
    let (kind, value) = kind_of(&format!("{fits}@example.test")).unwrap();
    assert_eq!(kind, Email);
    assert_eq!(canonical(Email, &value).as_deref(), Some(value.as_str()));
}

#[test]
fn values_with_control_characters_have_no_canonical_form() {
    for (kind, value) in [
        (Url, "http://evil.test/x\u{c}y"),
        (Url, "http://evil.test/\u{fffe}"),
        (Domain, "evil\u{1}.test"),
        (Mutex, "m\u{7f}x"),
        (Mutex, "m\u{9b}x"),
        (Email, "a\u{c}@evil.test"),
    ] {
        assert_eq!(canonical(kind, value), None, "{kind:?} {value:?}");
    }
    assert_eq!(
        canonical(Mutex, "Global\\Über").as_deref(),
        Some("Global\\Über")
    );
}
