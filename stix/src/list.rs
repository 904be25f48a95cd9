//! Lists of values (a team's own blocklist) as STIX 1.2 packages, in the observable forms
//! mail gateways read: `DomainNameObj` FQDN, `URIObj` URL, `AddressObj` with its category
//! (`ipv4-addr`, `ipv6-addr`, `cidr`, `e-mail`), `FileObj` typed hashes.
//!
//! Ids are derived with SHA-256 from the collection, the value and the import time, so the
//! same call gives the same bytes.

use taxii::Timestamp;

use crate::build::{self, object_word, IndicatorSpec, PackageSpec, StixVersion};
use crate::otx::stable_uuid;
use crate::Indicator;

/// Prefix of every id in a package made from a list.
pub const LIST_PREFIX: &str = "taxii-mirror";
/// Namespace URI bound to [`LIST_PREFIX`].
pub const LIST_NAMESPACE: &str = "urn:taxii-mirror:list";

/// One value of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The value, in canonical form (see [`crate::detect`]).
    pub indicator: Indicator,
    /// Free text kept as the indicator's description.
    pub description: Option<String>,
    /// When the indicator stops being valid.
    pub valid_until: Option<Timestamp>,
}

/// Where a list came from, for package headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOrigin {
    /// The local collection it goes to.
    pub collection: String,
    /// What the team called it (file names), for the title.
    pub name: String,
    /// The time of the import: package and indicator timestamps.
    pub produced: Timestamp,
}

/// One package of a list, with its id and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPackage {
    /// The `STIX_Package` element (UTF-8, no XML declaration).
    pub xml: Vec<u8>,
    /// Its `id` attribute.
    pub id: String,
    /// Its `STIX_Header/Title`.
    pub title: String,
    /// The values it holds, in order.
    pub indicators: Vec<Indicator>,
}

/// Split `entries` into packages of at most `per_package` indicators (at least one each).
pub fn list_packages(
    entries: &[ListEntry],
    per_package: usize,
    origin: &ListOrigin,
) -> Vec<ListPackage> {
    let per_package = per_package.max(1);
    let parts = entries.len().div_ceil(per_package);
    let stamp = origin.produced.to_string();
    entries
        .chunks(per_package)
        .enumerate()
        .map(|(n, chunk)| {
            let part = (n + 1).to_string();
            let package_uuid = stable_uuid(&["list-package", &origin.collection, &stamp, &part]);
            let title = if parts > 1 {
                format!("{} ({} of {parts})", origin.name, n + 1)
            } else {
                origin.name.clone()
            };
            let indicators: Vec<IndicatorSpec> = chunk
                .iter()
                .map(|e| indicator_spec(e, origin, &stamp))
                .collect();
            let spec = PackageSpec {
                id: format!("{LIST_PREFIX}:Package-{package_uuid}"),
                id_namespace: (LIST_PREFIX.to_owned(), LIST_NAMESPACE.to_owned()),
                version: StixVersion::V12,
                timestamp: stamp.clone(),
                title: Some(title.clone()),
                description: None,
                short_description: Some(format!("collection {}", origin.collection)),
                produced_time: Some(stamp.clone()),
                source_name: Some(format!("taxii-mirror collection {}", origin.collection)),
                source_description: None,
                indicators,
            };
            ListPackage {
                xml: build::package(&spec),
                id: spec.id,
                title,
                indicators: chunk.iter().map(|e| e.indicator.clone()).collect(),
            }
        })
        .collect()
}

fn indicator_spec(entry: &ListEntry, origin: &ListOrigin, stamp: &str) -> IndicatorSpec {
    let value = &entry.indicator;
    let uuid = |what: &str| {
        stable_uuid(&[
            what,
            &origin.collection,
            stamp,
            value.kind.as_str(),
            &value.value,
        ])
    };
    IndicatorSpec {
        id: format!("{LIST_PREFIX}:indicator-{}", uuid("list-indicator")),
        timestamp: stamp.to_owned(),
        title: Some(value.value.clone()),
        description: entry.description.clone(),
        observable_id: format!("{LIST_PREFIX}:Observable-{}", uuid("list-observable")),
        object_id: format!(
            "{LIST_PREFIX}:{}-{}",
            object_word(value.kind),
            uuid("list-object")
        ),
        observable_title: Some(format!("{} - {}", value.kind, value.value)),
        value: value.clone(),
        // Gateways read a CIDR as `category="cidr"` text, not as a range.
        cidr_range: None,
        valid_until: entry.valid_until.map(|t| t.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndicatorKind::*;

    fn entries(n: usize) -> Vec<ListEntry> {
        (0..n)
            .map(|i| ListEntry {
                indicator: Indicator::new(Domain, format!("host{i}.example.test")),
                description: (i == 0).then(|| "first <one> & only".to_owned()),
                valid_until: (i == 1).then(|| Timestamp::from_micros(1_900_000_000_000_000)),
            })
            .collect()
    }

    fn origin() -> ListOrigin {
        ListOrigin {
            collection: "blocklist".into(),
            name: "list.txt".into(),
            produced: Timestamp::from_micros(1_800_000_000_000_000),
        }
    }

    #[test]
    fn lists_split_into_packages_that_read_back_whole() {
        let all = entries(5);
        let packages = list_packages(&all, 2, &origin());
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].title, "list.txt (1 of 3)");
        let mut read_back = Vec::new();
        for p in &packages {
            let summary = crate::summarize(&p.xml, &[]).unwrap();
            assert_eq!(summary.id.as_deref(), Some(p.id.as_str()));
            assert_eq!(summary.title.as_deref(), Some(p.title.as_str()));
            assert_eq!(summary.version.as_deref(), Some("1.2"));
            assert_eq!(summary.observables, p.indicators);
            read_back.extend(summary.observables);
        }
        let values: Vec<Indicator> = all.into_iter().map(|e| e.indicator).collect();
        assert_eq!(read_back, values);
        // Same call, same bytes; distinct ids across packages.
        assert_eq!(packages, list_packages(&entries(5), 2, &origin()));
        assert_ne!(packages[0].id, packages[1].id);
        let one = list_packages(&entries(1), 1000, &origin());
        assert_eq!(one[0].title, "list.txt");
        assert!(list_packages(&[], 10, &origin()).is_empty());
    }

    #[test]
    fn every_kind_is_written_in_the_form_gateways_read() {
        let kinds = [
            (Domain, "evil.example.test", "type=\"FQDN\""),
            (Url, "http://evil.example.test/x", "type=\"URL\""),
            (Ipv4, "198.51.100.7", "category=\"ipv4-addr\""),
            (Ipv6, "2001:db8::7", "category=\"ipv6-addr\""),
            (Cidr, "198.51.100.0/24", "category=\"cidr\""),
            (Email, "phish@example.test", "category=\"e-mail\""),
            (Md5, "d41d8cd98f00b204e9800998ecf8427e", ">MD5<"),
            (Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", ">SHA1<"),
            (
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ">SHA256<",
            ),
        ];
        let list: Vec<ListEntry> = kinds
            .iter()
            .map(|(kind, value, _)| ListEntry {
                indicator: Indicator::new(*kind, *value),
                description: None,
                valid_until: None,
            })
            .collect();
        let packages = list_packages(&list, 100, &origin());
        let xml = String::from_utf8(packages[0].xml.clone()).unwrap();
        for (_, value, form) in kinds {
            assert!(xml.contains(form), "{form} missing");
            assert!(xml.contains(value), "{value} missing");
        }
        assert!(!xml.contains("InclusiveBetween"));
    }

    #[test]
    fn descriptions_and_expiry_are_kept() {
        let packages = list_packages(&entries(2), 10, &origin());
        let xml = String::from_utf8(packages[0].xml.clone()).unwrap();
        assert!(xml.contains("first &lt;one&gt; &amp; only"));
        assert!(
            xml.contains("<indicator:End_Time>2030-03-17T17:46:40.000000Z</indicator:End_Time>")
        );
    }
}
