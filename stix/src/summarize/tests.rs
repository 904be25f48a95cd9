use super::*;
use crate::IndicatorKind::{self, *};

const DECLS: &str = r#"xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:cybox="http://cybox.mitre.org/cybox-2" xmlns:cyboxCommon="http://cybox.mitre.org/common-2" xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2" xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" xmlns:URIObj="http://cybox.mitre.org/objects#URIObject-2" xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2" xmlns:MutexObj="http://cybox.mitre.org/objects#MutexObject-2" xmlns:PortObj="http://cybox.mitre.org/objects#PortObject-2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:test="http://example.test""#;

/// A package whose `stix:Observables` holds one observable per given Properties element.
fn package_with(properties: &[&str]) -> String {
    let mut body = String::new();
    for (i, props) in properties.iter().enumerate() {
        body.push_str(&format!(
            r#"<cybox:Observable id="test:Observable-{i}"><cybox:Object id="test:Object-{i}">{props}</cybox:Object></cybox:Observable>"#
        ));
    }
    format!(
        r#"<stix:STIX_Package {DECLS} id="test:Package-1" version="1.2" timestamp="2026-01-02T03:04:05Z"><stix:STIX_Header><stix:Title>T &amp; U</stix:Title></stix:STIX_Header><stix:Observables cybox_major_version="2" cybox_minor_version="1">{body}</stix:Observables></stix:STIX_Package>"#
    )
}

fn run(xml: &str) -> PackageSummary {
    match summarize(xml.as_bytes(), &[]) {
        Ok(summary) => summary,
        Err(err) => panic!("summarize failed: {err}"),
    }
}

fn ind(kind: IndicatorKind, value: &str) -> Indicator {
    Indicator::new(kind, value)
}

#[test]
fn reads_identity_and_title() {
    let s = run(&package_with(&[]));
    assert_eq!(s.id.as_deref(), Some("test:Package-1"));
    assert_eq!(s.version.as_deref(), Some("1.2"));
    assert_eq!(s.timestamp.as_deref(), Some("2026-01-02T03:04:05Z"));
    assert_eq!(s.title.as_deref(), Some("T & U"));
    assert!(s.observables.is_empty());
}

#[test]
fn odd_address_categories_are_classified_by_value() {
    let s = run(&package_with(&[
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType"><AddressObj:Address_Value>2001:db8::10</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="e-mail"><AddressObj:Address_Value>phish@example.test</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value>198.51.100.7</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="MutexObj:MutexObjectType"><MutexObj:Name>m1</MutexObj:Name></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType"><AddressObj:Address_Value>::ffff:1.1.1.1</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value>::ffff:1.1.1.1</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType"><AddressObj:Address_Value>someone@example.test</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="cidr"><AddressObj:Address_Value>203.0.113.0/24</AddressObj:Address_Value></cybox:Properties>"#,
    ]));
    assert_eq!(
        s.observables,
        vec![
            ind(Ipv6, "2001:db8::10"),
            ind(Email, "phish@example.test"),
            ind(Ipv4, "198.51.100.7"),
            ind(Mutex, "m1"),
            ind(Ipv6, "::ffff:1.1.1.1"),
            ind(Ipv6, "::ffff:1.1.1.1"),
            ind(Email, "someone@example.test"),
            ind(Cidr, "203.0.113.0/24"),
        ]
    );
    assert_eq!(s.unmapped, 0);
}

#[test]
fn every_kind_with_conditions_lists_and_whitespace() {
    let s = run(&package_with(&[
        r#"<cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN"><DomainNameObj:Value condition="Equals"> evil.example.test
        </DomainNameObj:Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="URIObj:URIObjectType" type="URL"><URIObj:Value condition="Equals">http://a.example.test/x?a=1&amp;b=2</URIObj:Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="URIObj:URIObjectType"><URIObj:Value><![CDATA[http://b.example.test/]]></URIObj:Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="URIObj:URIObjectType" type="General URN"><URIObj:Value>urn:x:y</URIObj:Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value condition="Equals" apply_condition="ANY">192.0.2.1##comma##192.0.2.2 ##comma## 192.0.2.3</AddressObj:Address_Value></cybox:Properties>"#,
        r###"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value condition="InclusiveBetween" delimiter="##comma##">198.51.100.0##comma##198.51.100.255</AddressObj:Address_Value></cybox:Properties>"###,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value condition="Equals" delimiter="|">192.0.2.8|192.0.2.9</AddressObj:Address_Value></cybox:Properties>"#,
    ]));
    assert_eq!(
        s.observables,
        vec![
            ind(Domain, "evil.example.test"),
            ind(Url, "http://a.example.test/x?a=1&b=2"),
            ind(Url, "http://b.example.test/"),
            ind(Ipv4, "192.0.2.1"),
            ind(Ipv4, "192.0.2.2"),
            ind(Ipv4, "192.0.2.3"),
            ind(Cidr, "198.51.100.0/24"),
            ind(Ipv4, "192.0.2.8"),
            ind(Ipv4, "192.0.2.9"),
        ]
    );
    assert_eq!(s.unmapped, 1, "the General URN is not a URL");
}

#[test]
fn file_hashes_typed_untyped_and_unsupported() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let file = format!(
        r#"<cybox:Properties xsi:type="FileObj:FileObjectType"><FileObj:File_Name>a.exe</FileObj:File_Name><FileObj:Hashes><cyboxCommon:Hash><cyboxCommon:Type xsi:type="cyboxVocabs:HashNameVocab-1.0">MD5</cyboxCommon:Type><cyboxCommon:Simple_Hash_Value condition="Equals">{md5}</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash><cyboxCommon:Hash><cyboxCommon:Simple_Hash_Value>{sha1}</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash><cyboxCommon:Hash><cyboxCommon:Type>SHA-256</cyboxCommon:Type><cyboxCommon:Simple_Hash_Value>{sha256}</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash><cyboxCommon:Hash><cyboxCommon:Type>SSDEEP</cyboxCommon:Type><cyboxCommon:Simple_Hash_Value>3:abc:def</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash></FileObj:Hashes></cybox:Properties>"#
    );
    let name_only = r#"<cybox:Properties xsi:type="FileObj:FileObjectType"><FileObj:File_Name>b.exe</FileObj:File_Name></cybox:Properties>"#;
    let s = run(&package_with(&[&file, name_only]));
    assert_eq!(
        s.observables,
        vec![ind(Md5, md5), ind(Sha1, sha1), ind(Sha256, sha256)]
    );
    assert_eq!(s.unmapped, 1);
}

#[test]
fn derived_file_type_is_read_through_its_file_children() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let xml = package_with(&[&format!(
        r#"<cybox:Properties xmlns:WinFileObj="http://cybox.mitre.org/objects#WinFileObject-2" xsi:type="WinFileObj:WindowsFileObjectType"><FileObj:File_Name>c.dll</FileObj:File_Name><FileObj:Hashes><cyboxCommon:Hash><cyboxCommon:Simple_Hash_Value>{md5}</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash></FileObj:Hashes></cybox:Properties>"#
    )]);
    assert_eq!(run(&xml).observables, vec![ind(Md5, md5)]);
}

#[test]
fn unmapped_objects_are_counted_not_errors() {
    let s = run(&package_with(&[
        r#"<cybox:Properties xsi:type="PortObj:PortObjectType"><PortObj:Port_Value>443</PortObj:Port_Value></cybox:Properties>"#,
        r#"<cybox:Properties xmlns:NetworkConnectionObj="http://cybox.mitre.org/objects#NetworkConnectionObject-2" xmlns:SocketAddressObj="http://cybox.mitre.org/objects#SocketAddressObject-1" xsi:type="NetworkConnectionObj:NetworkConnectionObjectType"><NetworkConnectionObj:Destination_Socket_Address><SocketAddressObj:IP_Address category="ipv4-addr"><AddressObj:Address_Value>192.0.2.50</AddressObj:Address_Value></SocketAddressObj:IP_Address></NetworkConnectionObj:Destination_Socket_Address></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="mac"><AddressObj:Address_Value>00:11:22:33:44:55</AddressObj:Address_Value></cybox:Properties>"#,
        r#"<cybox:Properties xsi:type="AddressObj:AddressObjectType"/>"#,
    ]));
    assert!(s.observables.is_empty());
    assert_eq!(s.unmapped, 4);
}

#[test]
fn unusual_prefixes_and_default_namespaces() {
    let xml = r#"<p:STIX_Package xmlns:p="http://stix.mitre.org/stix-1" id="x:1" xmlns:x="http://example.test">
      <p:Observables>
        <o:Observable xmlns:o="http://cybox.mitre.org/cybox-2"><o:Object>
          <o:Properties xmlns:addr="http://cybox.mitre.org/objects#AddressObject-2" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="addr:AddressObjectType" category="ipv4-addr">
            <addr:Address_Value>203.0.113.9</addr:Address_Value>
          </o:Properties>
        </o:Object></o:Observable>
        <Observable xmlns="http://cybox.mitre.org/cybox-2"><Object>
          <Properties xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="DomainNameObjectType" xmlns="http://cybox.mitre.org/objects#DomainNameObject-1">
            <Value>default.example.test</Value>
          </Properties>
        </Object></Observable>
      </p:Observables>
    </p:STIX_Package>"#;
    // The second Properties is in the DomainName namespace, not CybOX: it is not an object.
    let s = run(xml);
    assert_eq!(s.observables, vec![ind(Ipv4, "203.0.113.9")]);

    let xml = r#"<p:STIX_Package xmlns:p="http://stix.mitre.org/stix-1" id="x:1" xmlns:x="http://example.test">
        <Observable xmlns="http://cybox.mitre.org/cybox-2"><Object>
          <Properties xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:d="http://cybox.mitre.org/objects#DomainNameObject-1" xsi:type="d:DomainNameObjectType">
            <d:Value>default.example.test</d:Value>
          </Properties>
        </Object></Observable>
    </p:STIX_Package>"#;
    assert_eq!(
        run(xml).observables,
        vec![ind(Domain, "default.example.test")]
    );
}

#[test]
fn namespaces_declared_only_in_the_envelope() {
    let xml = r#"<stix:STIX_Package id="test:Package-9" version="1.1.1"><stix:Indicators><stix:Indicator id="test:i1" xsi:type="indicator:IndicatorType"><indicator:Observable><cybox:Object><cybox:Properties xsi:type="URIObj:URIObjectType" type="URL"><URIObj:Value>http://envelope.example.test/</URIObj:Value></cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator></stix:Indicators></stix:STIX_Package>"#;
    let ctx: Vec<(String, String)> = [
        ("stix", ns::STIX),
        ("indicator", ns::INDICATOR),
        ("cybox", ns::CYBOX),
        ("URIObj", ns::URI_OBJ),
        ("xsi", ns::XSI),
        ("test", "http://example.test"),
        ("xml", "http://www.w3.org/XML/1998/namespace"),
        ("xmlns", "http://www.w3.org/2000/xmlns/"),
    ]
    .iter()
    .map(|(p, u)| ((*p).to_owned(), (*u).to_owned()))
    .collect();
    let s = summarize(xml.as_bytes(), &ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.id.as_deref(), Some("test:Package-9"));
    assert_eq!(s.indicator_count, 1);
    assert_eq!(
        s.observables,
        vec![ind(Url, "http://envelope.example.test/")]
    );

    // Without the context nothing resolves, so it is not a package (and not an error).
    let s = summarize(xml.as_bytes(), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s, PackageSummary::default());
}

#[test]
fn escaped_and_cdata_content_is_unwrapped() {
    let inner = package_with(&[
        r#"<cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType"><DomainNameObj:Value>esc.example.test</DomainNameObj:Value></cybox:Properties>"#,
    ]);
    let escaped = inner
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let want = vec![ind(Domain, "esc.example.test")];

    let s = run(&format!("\n  {escaped}\n"));
    assert_eq!(s.observables, want);
    assert_eq!(s.title.as_deref(), Some("T & U"));

    let s = run(&format!("<![CDATA[{inner}]]>"));
    assert_eq!(s.observables, want);

    let s = run(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->{inner}"
    ));
    assert_eq!(s.observables, want);

    let twice = escaped.replace('&', "&amp;");
    assert_eq!(run(&twice).observables, want);
    let thrice = twice.replace('&', "&amp;");
    assert_eq!(
        summarize(thrice.as_bytes(), &[]),
        Err(StixError::TooDeep(2))
    );
}

#[test]
fn doctype_and_entities_are_refused() {
    let xxe = r#"<!DOCTYPE stix:STIX_Package [ <!ENTITY leak SYSTEM "file:///etc/hostname"> ]><stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"><stix:STIX_Header><stix:Title>&leak;</stix:Title></stix:STIX_Header></stix:STIX_Package>"#;
    assert_eq!(summarize(xxe.as_bytes(), &[]), Err(StixError::Doctype));

    let undefined = r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"><stix:STIX_Header><stix:Title>&leak;</stix:Title></stix:STIX_Header></stix:STIX_Package>"#;
    assert_eq!(
        summarize(undefined.as_bytes(), &[]),
        Err(StixError::UndefinedEntity("leak".into()))
    );

    let in_attr = r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="&leak;"/>"#;
    assert_eq!(
        summarize(in_attr.as_bytes(), &[]),
        Err(StixError::UndefinedEntity("leak".into()))
    );

    let mut laughs = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]><stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\"><stix:STIX_Header><stix:Description>&lol9;</stix:Description></stix:STIX_Header></stix:STIX_Package>");
    assert_eq!(summarize(laughs.as_bytes(), &[]), Err(StixError::Doctype));

    // A DOCTYPE hidden inside escaped content is refused after unwrapping.
    let hidden = xxe.replace('&', "&amp;").replace('<', "&lt;");
    assert_eq!(summarize(hidden.as_bytes(), &[]), Err(StixError::Doctype));

    // An entity reference in escaped text that is not predefined is refused outright.
    assert_eq!(
        summarize(b"&lt;a&gt;&leak;&lt;/a&gt;", &[]),
        Err(StixError::UndefinedEntity("leak".into()))
    );
}

#[test]
fn header_only_package_has_no_observables() {
    let xml = r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:marking="http://data-marking.mitre.org/Marking-1" id="test:Package-empty" version="1.1.1"><stix:STIX_Header><stix:Title>nothing</stix:Title><stix:Handling><marking:Marking/></stix:Handling></stix:STIX_Header></stix:STIX_Package>"#;
    let s = run(xml);
    assert_eq!(s.id.as_deref(), Some("test:Package-empty"));
    assert_eq!(s.title.as_deref(), Some("nothing"));
    assert!(s.observables.is_empty());
    assert_eq!((s.unmapped, s.indicator_count), (0, 0));

    let s = run(r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="test:e"/>"#);
    assert_eq!(s.id.as_deref(), Some("test:e"));
}

#[test]
fn idref_observables_count_once() {
    let xml = format!(
        r#"<stix:STIX_Package {DECLS} id="test:p"><stix:Observables><cybox:Observable id="test:obs-1"><cybox:Object><cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr"><AddressObj:Address_Value>192.0.2.77</AddressObj:Address_Value></cybox:Properties></cybox:Object></cybox:Observable></stix:Observables><stix:Indicators><stix:Indicator id="test:ind-1" xsi:type="indicator:IndicatorType"><indicator:Observable idref="test:obs-1"/></stix:Indicator><stix:Indicator id="test:ind-2" xsi:type="indicator:IndicatorType"><indicator:Observable idref="test:obs-1"/></stix:Indicator><stix:Indicator idref="test:ind-1"/></stix:Indicators></stix:STIX_Package>"#
    );
    let s = run(&xml);
    assert_eq!(s.observables, vec![ind(Ipv4, "192.0.2.77")]);
    assert_eq!(s.indicator_count, 2);
}

#[test]
fn other_xml_is_not_a_package() {
    let s = run(r#"<html xmlns="http://www.w3.org/1999/xhtml"><body>hi</body></html>"#);
    assert_eq!(s, PackageSummary::default());
    let s = run(r#"<STIX_Package><STIX_Header/></STIX_Package>"#);
    assert_eq!(s.id, None);
    assert_eq!(run("   "), PackageSummary::default());
}

#[test]
fn malformed_content_is_an_error() {
    let bad = [
        "<stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\"><a></b></stix:STIX_Package>",
        "<stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\"><a>",
        "text <stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\"/>",
    ];
    for xml in bad {
        assert!(summarize(xml.as_bytes(), &[]).is_err(), "{xml}");
    }
    let mut latin1 = package_with(&[]).into_bytes();
    let at = latin1.len() - 40;
    latin1.insert(at, 0x93);
    assert!(matches!(
        summarize(&latin1, &[]),
        Err(StixError::Xml { .. })
    ));
}

#[test]
fn depth_is_bounded() {
    let mut xml = String::from(r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1">"#);
    xml.push_str(&"<a>".repeat(MAX_DEPTH + 5));
    xml.push_str(&"</a>".repeat(MAX_DEPTH + 5));
    xml.push_str("</stix:STIX_Package>");
    assert_eq!(
        summarize(xml.as_bytes(), &[]),
        Err(StixError::TooDeep(MAX_DEPTH))
    );
}

#[test]
fn byte_order_mark_is_accepted() {
    let mut bytes = vec![0xef, 0xbb, 0xbf];
    bytes.extend_from_slice(package_with(&[]).as_bytes());
    let s = summarize(&bytes, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.id.as_deref(), Some("test:Package-1"));
}
