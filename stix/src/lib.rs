//! STIX 1.1.1 / 1.2 for taxii-mirror: what ingest reads out of a package, how we write one,
//! and how an OTX pulse becomes one.
//!
//! # Layout
//! - [`summarize()`]: one streaming, namespace-aware pass over a content block that yields the
//!   package identity and every mapped CybOX observable value ([`PackageSummary`]).
//! - [`classify`]: value rules shared by reading and writing (address kinds, hashes, CIDR).
//! - [`detect`]: the kind of a bare value (imports, look-ups) and the canonical spelling
//!   indexes key on.
//! - [`build`]: writes a schema-valid `STIX_Package` from a [`build::PackageSpec`].
//! - [`list`]: a team's list of values as STIX 1.2 packages.
//! - [`list_file`]: reading a team's list files (plain, CSV) for `import`.
//! - [`otx`]: the OTX DirectConnect JSON model and the pulse → STIX 1.2 mapping.
//! - [`curate`]: allowlists, withdrawn values and feed profiles applied to a block.
//! - [`downgrade`]: a STIX 1.2 package served as STIX 1.1.1.
//! - [`ns`]: the namespace URIs we match on and declare.
//! - [`content_hash`]: the dedupe key of a stored block.
#![forbid(unsafe_code)]

pub mod build;
pub mod classify;
pub mod curate;
pub mod detect;
pub mod downgrade;
mod edit;
mod error;
pub mod list;
pub mod list_file;
pub mod ns;
pub mod otx;
mod summarize;

use sha2::{Digest, Sha256};

pub use error::StixError;
pub use summarize::{summarize, PackageSummary, MAX_DEPTH};
/// The timestamp type of [`otx::pulse_to_stix`], re-exported for callers that need no
/// other part of `taxii`.
pub use taxii::Timestamp;

/// The indicator kinds the mirror understands; everything else is "unmapped".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// A single IPv4 address.
    Ipv4,
    /// A single IPv6 address (including IPv4-mapped forms such as `::ffff:1.1.1.1`).
    Ipv6,
    /// A network, written `address/prefix` (or `first-last` for a range that is no prefix).
    Cidr,
    /// A domain or host name.
    Domain,
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// MD5 file hash.
    Md5,
    /// SHA-1 file hash.
    Sha1,
    /// SHA-256 file hash.
    Sha256,
    /// A named mutex.
    Mutex,
}

impl IndicatorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [IndicatorKind; 10] = [
        IndicatorKind::Ipv4,
        IndicatorKind::Ipv6,
        IndicatorKind::Cidr,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Email,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Mutex,
    ];

    /// Stable lower-case name, used in stored records, counters and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ipv4 => "ipv4",
            IndicatorKind::Ipv6 => "ipv6",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Email => "email",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Mutex => "mutex",
        }
    }

    /// Inverse of [`IndicatorKind::as_str`]; `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observable value and what kind of thing it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Indicator {
    /// What the value denotes.
    pub kind: IndicatorKind,
    /// The value, trimmed, as the document carries it.
    pub value: String,
}

impl Indicator {
    /// Convenience constructor.
    pub fn new(kind: IndicatorKind, value: impl Into<String>) -> Self {
        Indicator {
            kind,
            value: value.into(),
        }
    }
}

/// The `(kind, canonical value)` pairs an indicator index keys a block on, without repeats,
/// in first-seen order. A value with no canonical form is kept trimmed as written.
pub fn index_entries(indicators: &[Indicator]) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::with_capacity(indicators.len());
    let mut out = Vec::with_capacity(indicators.len());
    for i in indicators {
        let value =
            detect::canonical(i.kind, &i.value).unwrap_or_else(|| i.value.trim().to_owned());
        if value.is_empty() {
            continue;
        }
        let entry = (i.kind.as_str().to_owned(), value);
        if seen.insert(entry.clone()) {
            out.push(entry);
        }
    }
    out
}

/// Dedupe key of a content block: SHA-256 over the binding id, a 0 byte, and the content bytes.
///
/// The binding is part of the key so the same bytes under two bindings stay two blocks.
pub fn content_hash(binding: &str, content: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(binding.as_bytes());
    hasher.update([0u8]);
    hasher.update(content);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in IndicatorKind::ALL {
            assert_eq!(IndicatorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(IndicatorKind::parse("port"), None);
    }

    #[test]
    fn content_hash_separates_binding_from_content() {
        let a = content_hash("urn:a", b"bc");
        let b = content_hash("urn:ab", b"c");
        assert_ne!(a, b);
        assert_eq!(a, content_hash("urn:a", b"bc"));
    }
}
