//! Writing STIX packages: one `STIX_Package` element (UTF-8, no XML declaration) that
//! validates against the STIX 1.1.1 or 1.2 schemas and uses the object forms SIEMs read.
//!
//! Every namespace the package uses is declared on its root, so the element can be served
//! as-is inside any TAXII `Content` element.

mod object;
mod xml;

#[cfg(test)]
mod tests;

use crate::{ns, Indicator};
pub use object::object_word;
use xml::XmlOut;

/// Which STIX release a package claims (`version` attribute) and which binding it is served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StixVersion {
    /// STIX 1.1.1 (`urn:stix.mitre.org:xml:1.1.1`).
    V111,
    /// STIX 1.2 (`urn:stix.mitre.org:xml:1.2`).
    V12,
}

impl StixVersion {
    /// The value of the package's `version` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            StixVersion::V111 => "1.1.1",
            StixVersion::V12 => "1.2",
        }
    }

    /// The TAXII content binding id for packages of this version.
    pub fn binding(self) -> &'static str {
        match self {
            StixVersion::V111 => taxii::BINDING_STIX_111,
            StixVersion::V12 => taxii::BINDING_STIX_12,
        }
    }

    /// Version named by a `version` attribute or a binding id.
    pub fn parse(text: &str) -> Option<StixVersion> {
        match text.trim() {
            "1.1.1" | taxii::BINDING_STIX_111 => Some(StixVersion::V111),
            "1.2" | taxii::BINDING_STIX_12 => Some(StixVersion::V12),
            _ => None,
        }
    }
}

/// Everything a package carries. Times are already formatted (`xs:dateTime`, with zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    /// Package id, a QName such as `alienvault-otx:Package-<uuid>`.
    pub id: String,
    /// `(prefix, uri)` of the prefix used in every id of this package; declared on the root.
    pub id_namespace: (String, String),
    /// STIX release to claim.
    pub version: StixVersion,
    /// Package `timestamp` attribute.
    pub timestamp: String,
    /// `STIX_Header/Title`.
    pub title: Option<String>,
    /// `STIX_Header/Description`.
    pub description: Option<String>,
    /// `STIX_Header/Short_Description`.
    pub short_description: Option<String>,
    /// `Information_Source/Time/Produced_Time`.
    pub produced_time: Option<String>,
    /// `Information_Source/Identity/Name`.
    pub source_name: Option<String>,
    /// `Information_Source/Description`.
    pub source_description: Option<String>,
    /// One `stix:Indicator` each, in this order.
    pub indicators: Vec<IndicatorSpec>,
}

/// One indicator with a single observable object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorSpec {
    /// Indicator id (QName).
    pub id: String,
    /// Indicator `timestamp` attribute.
    pub timestamp: String,
    /// `indicator:Title`.
    pub title: Option<String>,
    /// `indicator:Description`.
    pub description: Option<String>,
    /// `indicator:Observable` id (QName).
    pub observable_id: String,
    /// `cybox:Object` id (QName).
    pub object_id: String,
    /// `cybox:Title` of the observable.
    pub observable_title: Option<String>,
    /// The value and its kind.
    pub value: Indicator,
    /// For [`crate::IndicatorKind::Cidr`]: first and last address, written as an
    /// `InclusiveBetween` range on an `ipv4-addr`/`ipv6-addr` address. `None` writes the
    /// CIDR text with `category="cidr"`.
    pub cidr_range: Option<(String, String)>,
    /// `indicator:Valid_Time_Position/End_Time`: when the indicator stops being valid
    /// (`xs:dateTime`, with zone). `None` writes no valid time.
    pub valid_until: Option<String>,
}

/// Namespace declarations of every package we write, in a fixed order.
const DECLARATIONS: &[(&str, &str)] = &[
    ("xmlns:stix", ns::STIX),
    ("xmlns:stixCommon", ns::STIX_COMMON),
    ("xmlns:stixVocabs", ns::STIX_VOCABS),
    ("xmlns:indicator", ns::INDICATOR),
    ("xmlns:cybox", ns::CYBOX),
    ("xmlns:cyboxCommon", ns::CYBOX_COMMON),
    ("xmlns:cyboxVocabs", ns::CYBOX_VOCABS),
    ("xmlns:AddressObj", ns::ADDRESS_OBJ),
    ("xmlns:DomainNameObj", ns::DOMAIN_NAME_OBJ),
    ("xmlns:URIObj", ns::URI_OBJ),
    ("xmlns:FileObj", ns::FILE_OBJ),
    ("xmlns:MutexObj", ns::MUTEX_OBJ),
    ("xmlns:xsi", ns::XSI),
];

/// Write one package. The output is deterministic: same spec, same bytes.
pub fn package(spec: &PackageSpec) -> Vec<u8> {
    let mut out = XmlOut::new();
    let id_decl = format!("xmlns:{}", spec.id_namespace.0);
    let mut root_attrs: Vec<(&str, &str)> = DECLARATIONS.to_vec();
    if !DECLARATIONS.iter().any(|(decl, _)| *decl == id_decl) {
        root_attrs.push((&id_decl, &spec.id_namespace.1));
    }
    root_attrs.push(("id", &spec.id));
    root_attrs.push(("version", spec.version.as_str()));
    root_attrs.push(("timestamp", &spec.timestamp));
    out.open("stix:STIX_Package", &root_attrs);

    write_header(&mut out, spec);
    if !spec.indicators.is_empty() {
        out.open("stix:Indicators", &[]);
        for indicator in &spec.indicators {
            write_indicator(&mut out, indicator);
        }
        out.close("stix:Indicators");
    }

    out.close("stix:STIX_Package");
    out.finish()
}

fn write_header(out: &mut XmlOut, spec: &PackageSpec) {
    out.open("stix:STIX_Header", &[]);
    if let Some(title) = &spec.title {
        out.leaf("stix:Title", &[], title);
    }
    out.leaf(
        "stix:Package_Intent",
        &[("xsi:type", "stixVocabs:PackageIntentVocab-1.0")],
        "Indicators",
    );
    if let Some(description) = &spec.description {
        out.leaf("stix:Description", &[], description);
    }
    if let Some(short) = &spec.short_description {
        out.leaf("stix:Short_Description", &[], short);
    }
    let has_source = spec.source_description.is_some()
        || spec.source_name.is_some()
        || spec.produced_time.is_some();
    if has_source {
        out.open("stix:Information_Source", &[]);
        if let Some(description) = &spec.source_description {
            out.leaf("stixCommon:Description", &[], description);
        }
        if let Some(name) = &spec.source_name {
            out.open("stixCommon:Identity", &[]);
            out.leaf("stixCommon:Name", &[], name);
            out.close("stixCommon:Identity");
        }
        if let Some(produced) = &spec.produced_time {
            out.open("stixCommon:Time", &[]);
            out.leaf("cyboxCommon:Produced_Time", &[], produced);
            out.close("stixCommon:Time");
        }
        out.close("stix:Information_Source");
    }
    out.close("stix:STIX_Header");
}

fn write_indicator(out: &mut XmlOut, spec: &IndicatorSpec) {
    out.open(
        "stix:Indicator",
        &[
            ("id", &spec.id),
            ("timestamp", &spec.timestamp),
            ("xsi:type", "indicator:IndicatorType"),
        ],
    );
    if let Some(title) = &spec.title {
        out.leaf("indicator:Title", &[], title);
    }
    if let Some(description) = &spec.description {
        out.leaf("indicator:Description", &[], description);
    }
    if let Some(until) = &spec.valid_until {
        out.open("indicator:Valid_Time_Position", &[]);
        out.leaf("indicator:End_Time", &[], until);
        out.close("indicator:Valid_Time_Position");
    }
    out.open("indicator:Observable", &[("id", &spec.observable_id)]);
    if let Some(title) = &spec.observable_title {
        out.leaf("cybox:Title", &[], title);
    }
    out.open("cybox:Object", &[("id", &spec.object_id)]);
    object::write_properties(out, spec);
    out.close("cybox:Object");
    out.close("indicator:Observable");
    out.close("stix:Indicator");
}
