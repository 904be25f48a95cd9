//! Turning received blocks into store blocks: each block is read once for its package id
//! and indicators, hashed, and dropped when it holds no indicator (a header-only package must
//! not be re-served to appliances as if it were data).

use store::NewBlock;
use taxii::{ContentBlock, Timestamp, BINDING_STIX_111, BINDING_STIX_12};

use crate::error::{sanitize, SourceError};

/// Blocks ready for one append, with counts for status and logs.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub blocks: Vec<NewBlock>,
    /// Indicators in `blocks`.
    pub indicators: u64,
    /// Blocks dropped for holding no indicator.
    pub no_indicators: u64,
    /// Blocks whose bytes were repaired (U+FFFD) by lenient decoding.
    pub repaired: u64,
    /// Package ids of the repaired blocks (for the log).
    pub repaired_ids: Vec<String>,
    /// Greatest upstream time seen (REST: pulse `modified`).
    pub max_upstream: Option<Timestamp>,
}

/// UTF-8 encoding of U+FFFD, the replacement character lenient decoding inserts.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Read TAXII content blocks of one result part (blocking: run under `spawn_blocking`). A
/// block that is not readable STIX (DOCTYPE, undefined entity, broken XML) fails the part,
/// and so the window; `first_index` is the window-wide index of the part's first block, for
/// the error.
pub(crate) fn prepare_taxii(
    source: &str,
    blocks: Vec<ContentBlock>,
    body_repaired: bool,
    first_index: usize,
) -> Result<Prepared, SourceError> {
    let mut out = Prepared::default();
    for (index, b) in (first_index..).zip(blocks) {
        let summary =
            stix::summarize(&b.content, &b.ns_context).map_err(|e| SourceError::Content {
                index,
                reason: sanitize(&e.to_string(), 200),
            })?;
        if summary.observables.is_empty() {
            out.no_indicators += 1;
            continue;
        }
        let binding = if b.binding.trim().is_empty() {
            match summary.version.as_deref().map(str::trim) {
                Some("1.2") => BINDING_STIX_12.to_string(),
                _ => BINDING_STIX_111.to_string(),
            }
        } else {
            b.binding
        };
        // TODO(mirror): the store has no per-block "repaired" flag yet; repaired blocks are
        // counted in status and logged with their package id instead.
        if body_repaired && contains(&b.content, REPLACEMENT) {
            out.repaired += 1;
            out.repaired_ids.push(
                summary
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("block {index}")),
            );
        }
        let indicators = u32::try_from(summary.observables.len()).unwrap_or(u32::MAX);
        out.indicators += u64::from(indicators);
        out.blocks.push(NewBlock {
            hash: stix::content_hash(&binding, &b.content),
            binding,
            subtypes: b.subtypes,
            content: b.content,
            ns_context: b.ns_context,
            upstream_label: b.timestamp_label,
            package_id: summary.id,
            indicators,
            source: Some(source.to_string()),
            title: summary.title,
            indicator_values: stix::index_entries(&summary.observables),
        });
    }
    Ok(out)
}

/// Parts at least this long are read on two threads (see [`prepare_taxii_split`]).
const SPLIT_MIN_BLOCKS: usize = 64;

/// [`prepare_taxii`] with the second half of a long part read on a second thread: the same
/// result (blocks in order, counts summed, the first failing block's error), in about half
/// the time when a core is free. The read of a part is the back-fill's longest stage.
pub(crate) fn prepare_taxii_split(
    source: &str,
    mut blocks: Vec<ContentBlock>,
    body_repaired: bool,
    first_index: usize,
) -> Result<Prepared, SourceError> {
    if blocks.len() < SPLIT_MIN_BLOCKS {
        return prepare_taxii(source, blocks, body_repaired, first_index);
    }
    let second = blocks.split_off(blocks.len() / 2);
    let second_index = first_index + blocks.len();
    let (first, later) = std::thread::scope(|scope| {
        let later = scope.spawn(|| prepare_taxii(source, second, body_repaired, second_index));
        let first = prepare_taxii(source, blocks, body_repaired, first_index);
        (first, later.join())
    });
    let mut out = first?;
    let later = later.map_err(|_| SourceError::Content {
        index: second_index,
        reason: "reading the part failed".into(),
    })??;
    out.blocks.extend(later.blocks);
    out.indicators += later.indicators;
    out.no_indicators += later.no_indicators;
    out.repaired += later.repaired;
    out.repaired_ids.extend(later.repaired_ids);
    out.max_upstream = match (out.max_upstream, later.max_upstream) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Ok(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What one REST page gave after mapping.
#[derive(Debug, Default)]
pub(crate) struct PulseCounts {
    pub skipped_expired: u64,
    pub skipped_inactive: u64,
    pub not_emitted: u64,
}

/// Map OTX pulses to STIX 1.2 blocks (blocking: run under `spawn_blocking`). Expired and
/// inactive indicators are skipped by the mapping; a pulse left with none is not stored.
///
/// TODO(mirror): pulses that re-carry old indicators are kept whole; filtering on the
/// indicator's `created` needs a policy (how old is stale) first.
pub(crate) fn prepare_pulses(
    source: &str,
    pulses: &[stix::otx::Pulse],
    now: Timestamp,
) -> (Prepared, PulseCounts) {
    let mut out = Prepared::default();
    let mut counts = PulseCounts::default();
    for pulse in pulses {
        let modified = Timestamp::parse_assume_utc(pulse.modified.trim()).ok();
        if let Some(m) = modified {
            out.max_upstream = Some(out.max_upstream.map_or(m, |x| x.max(m)));
        }
        let mapped = stix::otx::pulse_to_stix(pulse, now);
        counts.skipped_expired += u64::from(mapped.skipped_expired);
        counts.skipped_inactive += u64::from(mapped.skipped_inactive);
        counts.not_emitted += u64::from(mapped.not_emitted);
        if mapped.emitted.is_empty() {
            out.no_indicators += 1;
            continue;
        }
        let indicators = u32::try_from(mapped.emitted.len()).unwrap_or(u32::MAX);
        out.indicators += u64::from(indicators);
        let package_id = package_id_of(&mapped.xml);
        out.blocks.push(NewBlock {
            hash: stix::content_hash(BINDING_STIX_12, &mapped.xml),
            binding: BINDING_STIX_12.to_string(),
            subtypes: Vec::new(),
            content: mapped.xml,
            ns_context: Vec::new(),
            upstream_label: modified,
            package_id,
            indicators,
            source: Some(source.to_string()),
            title: Some(pulse.name.clone()),
            indicator_values: stix::index_entries(&mapped.emitted),
        });
    }
    (out, counts)
}

/// The `id` attribute of the package root we just built (first `id="` in the bytes: our own
/// writer puts it on the root element).
fn package_id_of(xml: &[u8]) -> Option<String> {
    let end_of_root = xml.iter().position(|&c| c == b'>')?;
    let root = std::str::from_utf8(&xml[..end_of_root]).ok()?;
    let at = root.match_indices("id=\"").find_map(|(i, _)| {
        let before = root[..i].chars().next_back()?;
        before.is_whitespace().then_some(i + 4)
    })?;
    let rest = &root[at..];
    Some(rest[..rest.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(binding: &str, version: &str) -> ContentBlock {
        let content = format!(
            r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:cybox="http://cybox.mitre.org/cybox-2" xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="t:p" version="{version}"><stix:Indicators><stix:Indicator xsi:type="indicator:IndicatorType" id="t:i"><indicator:Observable id="t:o"><cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType"><DomainNameObj:Value>a.example.test</DomainNameObj:Value></cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator></stix:Indicators></stix:STIX_Package>"#
        );
        ContentBlock {
            binding: binding.into(),
            content: content.into_bytes(),
            ..Default::default()
        }
    }

    #[test]
    fn binding_kept_or_inferred_from_the_package() {
        let blocks = vec![
            block("urn:example:custom", "1.2"),
            block("", "1.2"),
            block(" ", "1.1.1"),
        ];
        let p = prepare_taxii("s", blocks, false, 0).unwrap();
        let bindings: Vec<_> = p.blocks.iter().map(|b| b.binding.as_str()).collect();
        assert_eq!(
            bindings,
            ["urn:example:custom", BINDING_STIX_12, BINDING_STIX_111]
        );
        assert_eq!(p.indicators, 3);
        assert!(p
            .blocks
            .iter()
            .all(|b| b.hash == stix::content_hash(&b.binding, &b.content)));
    }

    #[test]
    fn a_part_read_on_two_threads_gives_what_one_thread_gives() {
        let mut blocks = Vec::new();
        for n in 0..150 {
            let mut b = block("", if n % 2 == 0 { "1.2" } else { "1.1.1" });
            let text = String::from_utf8(b.content).unwrap();
            b.content = text
                .replace("t:p", &format!("t:p{n}"))
                .replace("a.example.test", &format!("a{n}.example.test"))
                .into_bytes();
            if n % 10 == 3 {
                // A header-only package: counted, not kept.
                b.content = format!(
                    r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="t:e{n}" version="1.2"/>"#
                )
                .into_bytes();
            }
            blocks.push(b);
        }
        let one = prepare_taxii("s", blocks.clone(), false, 5).unwrap();
        let two = prepare_taxii_split("s", blocks.clone(), false, 5).unwrap();
        assert_eq!(two.blocks, one.blocks);
        assert_eq!(
            (two.indicators, two.no_indicators, two.repaired),
            (one.indicators, one.no_indicators, one.repaired)
        );
        assert_eq!(one.no_indicators, 15);

        // A broken block in either half fails the part with its own index.
        let refused = |r: Result<Prepared, SourceError>| match r {
            Err(e) => e,
            Ok(_) => panic!("a block with a DOCTYPE was accepted"),
        };
        for at in [10usize, 120] {
            let mut bad = blocks.clone();
            bad[at].content = b"<!DOCTYPE x [<!ENTITY e \"x\">]><stix:STIX_Package/>".to_vec();
            let one = refused(prepare_taxii("s", bad.clone(), false, 5));
            let two = refused(prepare_taxii_split("s", bad, false, 5));
            assert_eq!(two.to_string(), one.to_string());
            assert!(matches!(two, SourceError::Content { index, .. } if index == at + 5));
        }
    }

    #[test]
    fn package_id_from_root() {
        let xml = br#"<stix:STIX_Package xmlns:stix="x" id="alienvault-otx:Package-1" version="1.2"><a id="no"/>"#;
        let nl = b"<stix:STIX_Package\n  id=\"p-2\">";
        assert_eq!(package_id_of(nl).as_deref(), Some("p-2"));
        assert_eq!(
            package_id_of(xml).as_deref(),
            Some("alienvault-otx:Package-1")
        );
        assert_eq!(package_id_of(b"<x/>"), None);
    }
}
