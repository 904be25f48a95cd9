//! The `cybox:Properties` of each indicator kind, in the forms appliances read:
//! explicit `category` matching the value, `type="FQDN"`, `type="URL"`, typed hashes,
//! `named="true"` mutexes.

use super::xml::XmlOut;
use super::IndicatorSpec;
use crate::classify::{address_kind_by_value, hash_vocab_name};
use crate::IndicatorKind;

/// CybOX list delimiter, used for the two ends of an address range.
const DELIMITER: &str = "##comma##";

/// The word used in object ids for each kind (`Address-…`, `File-…`).
pub fn object_word(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr | IndicatorKind::Email => {
            "Address"
        }
        IndicatorKind::Domain => "DomainName",
        IndicatorKind::Url => "URI",
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => "File",
        IndicatorKind::Mutex => "Mutex",
    }
}

/// Write the Properties element of one indicator.
pub(super) fn write_properties(out: &mut XmlOut, spec: &IndicatorSpec) {
    const PROPS: &str = "cybox:Properties";
    let value = spec.value.value.as_str();
    let equals = [("condition", "Equals")];
    match spec.value.kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => {
            let category = match address_kind_by_value(value) {
                Some(IndicatorKind::Ipv6) => "ipv6-addr",
                Some(IndicatorKind::Ipv4) => "ipv4-addr",
                _ if spec.value.kind == IndicatorKind::Ipv6 => "ipv6-addr",
                _ => "ipv4-addr",
            };
            address(out, category, &equals, value);
        }
        IndicatorKind::Email => address(out, "e-mail", &equals, value),
        IndicatorKind::Cidr => match &spec.cidr_range {
            Some((first, last)) => {
                let category = if first.contains(':') {
                    "ipv6-addr"
                } else {
                    "ipv4-addr"
                };
                let range = format!("{}{DELIMITER}{}", first.trim(), last.trim());
                let attrs = [("condition", "InclusiveBetween"), ("delimiter", DELIMITER)];
                address(out, category, &attrs, &range);
            }
            None => address(out, "cidr", &equals, value),
        },
        IndicatorKind::Domain => {
            out.open(
                PROPS,
                &[
                    ("xsi:type", "DomainNameObj:DomainNameObjectType"),
                    ("type", "FQDN"),
                ],
            );
            out.leaf("DomainNameObj:Value", &equals, value);
            out.close(PROPS);
        }
        IndicatorKind::Url => {
            out.open(
                PROPS,
                &[("xsi:type", "URIObj:URIObjectType"), ("type", "URL")],
            );
            out.leaf("URIObj:Value", &equals, value);
            out.close(PROPS);
        }
        IndicatorKind::Mutex => {
            out.open(
                PROPS,
                &[("xsi:type", "MutexObj:MutexObjectType"), ("named", "true")],
            );
            out.leaf("MutexObj:Name", &equals, value);
            out.close(PROPS);
        }
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            let name = hash_vocab_name(spec.value.kind).unwrap_or("MD5");
            out.open(PROPS, &[("xsi:type", "FileObj:FileObjectType")]);
            out.open("FileObj:Hashes", &[]);
            out.open("cyboxCommon:Hash", &[]);
            out.leaf(
                "cyboxCommon:Type",
                &[("xsi:type", "cyboxVocabs:HashNameVocab-1.0")],
                name,
            );
            out.leaf("cyboxCommon:Simple_Hash_Value", &equals, value);
            out.close("cyboxCommon:Hash");
            out.close("FileObj:Hashes");
            out.close(PROPS);
        }
    }
}

fn address(out: &mut XmlOut, category: &str, value_attrs: &[(&str, &str)], value: &str) {
    out.open(
        "cybox:Properties",
        &[
            ("xsi:type", "AddressObj:AddressObjectType"),
            ("category", category),
        ],
    );
    out.leaf("AddressObj:Address_Value", value_attrs, value);
    out.close("cybox:Properties");
}
