//! Namespace URIs of STIX 1.1.1 / 1.2 and CybOX 2.1 that we read and write.
//!
//! Matching is always on these URIs, never on prefixes: producers choose their own prefixes.

/// STIX core (`stix:`).
pub const STIX: &str = "http://stix.mitre.org/stix-1";
/// STIX common (`stixCommon:`).
pub const STIX_COMMON: &str = "http://stix.mitre.org/common-1";
/// STIX default vocabularies (`stixVocabs:`).
pub const STIX_VOCABS: &str = "http://stix.mitre.org/default_vocabularies-1";
/// STIX Indicator (`indicator:`).
pub const INDICATOR: &str = "http://stix.mitre.org/Indicator-2";
/// CybOX core (`cybox:`).
pub const CYBOX: &str = "http://cybox.mitre.org/cybox-2";
/// CybOX common (`cyboxCommon:`), home of `Hash`, `Type`, `Simple_Hash_Value`, `Produced_Time`.
pub const CYBOX_COMMON: &str = "http://cybox.mitre.org/common-2";
/// CybOX default vocabularies (`cyboxVocabs:`), home of `HashNameVocab-1.0`.
pub const CYBOX_VOCABS: &str = "http://cybox.mitre.org/default_vocabularies-2";
/// Address object (`AddressObj:`): IPs, networks and e-mail addresses.
pub const ADDRESS_OBJ: &str = "http://cybox.mitre.org/objects#AddressObject-2";
/// Domain name object (`DomainNameObj:`).
pub const DOMAIN_NAME_OBJ: &str = "http://cybox.mitre.org/objects#DomainNameObject-1";
/// URI object (`URIObj:`).
pub const URI_OBJ: &str = "http://cybox.mitre.org/objects#URIObject-2";
/// File object (`FileObj:`).
pub const FILE_OBJ: &str = "http://cybox.mitre.org/objects#FileObject-2";
/// Mutex object (`MutexObj:`).
pub const MUTEX_OBJ: &str = "http://cybox.mitre.org/objects#MutexObject-2";
/// XML Schema instance (`xsi:`), for `xsi:type`.
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Namespace of OTX ids (`alienvault-otx:`).
pub const ALIENVAULT_OTX: &str = "https://otx.alienvault.com";

/// A namespace-aware reader over `content` that also knows the prefixes declared around it:
/// a TAXII content block's namespace context (`(prefix, uri)`, an empty prefix for the
/// default namespace). Reserved prefixes (`xml`, `xmlns`) cannot be rebound; the
/// envelope's copy of them is moot and left out.
pub(crate) fn reader_in_context<'a>(
    content: &'a [u8],
    ns_context: &[(String, String)],
) -> quick_xml::NsReader<&'a [u8]> {
    use quick_xml::name::{Namespace, PrefixDeclaration};
    let mut reader = quick_xml::NsReader::from_reader(content);
    for (prefix, uri) in ns_context {
        let decl = if prefix.is_empty() {
            PrefixDeclaration::Default
        } else {
            PrefixDeclaration::Named(prefix)
        };
        let _ = reader.resolver_mut().add(decl, Namespace(uri));
    }
    reader
}

/// One element deeper: `depth` counts it, and content nested deeper than
/// [`crate::MAX_DEPTH`] is an error.
pub(crate) fn descend(depth: &mut usize) -> Result<(), crate::StixError> {
    *depth += 1;
    if *depth > crate::MAX_DEPTH {
        return Err(crate::StixError::TooDeep(crate::MAX_DEPTH));
    }
    Ok(())
}
