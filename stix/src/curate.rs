//! Curation of content blocks: keeping listed values out (allowlist, withdrawn values) and
//! keeping only what a feed profile wants (indicator kinds, maximum age).
//!
//! A block is edited in place at the byte level: each `stix:Indicator` (under
//! `stix:Indicators`) or `cybox:Observable` (under `stix:Observables`) that must go is cut
//! out, a list left empty goes with it, and every other byte stays as received.

mod allowlist;

use std::collections::BTreeSet;

use crate::edit::{self, Attr, Splice};
use crate::summarize::summarize_tracked;
use crate::{summarize, Indicator, IndicatorKind, StixError, Timestamp};
pub use allowlist::Allowlist;

/// What a collection keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Indicator kinds kept; `None` keeps every kind.
    pub kinds: Option<BTreeSet<IndicatorKind>>,
    /// Indicators older than this (by their `timestamp`, else the package's) are dropped.
    pub max_age_secs: Option<i64>,
}

impl Profile {
    /// The kinds of a named profile: `esa` (what Cisco ESA's external threat feeds read:
    /// domains and host names, URLs, IPv4 addresses, MD5 and SHA-256) or `all`.
    pub fn named_kinds(name: &str) -> Option<Option<BTreeSet<IndicatorKind>>> {
        use IndicatorKind::*;
        match name {
            "esa" => Some(Some([Domain, Url, Ipv4, Md5, Sha256].into_iter().collect())),
            "all" => Some(None),
            _ => None,
        }
    }

    /// Whether the profile changes anything.
    pub fn is_open(&self) -> bool {
        self.kinds.is_none() && self.max_age_secs.is_none()
    }
}

/// Why an item was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It holds a listed (allowlisted or withdrawn) value.
    Listed,
    /// It holds values, none of a kind the profile keeps (an item holding only objects we
    /// do not map stays).
    Kind,
    /// It is older than the profile's maximum age.
    Age,
}

/// The outcome of curating one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Curated {
    /// `false`: the whole block goes (nothing wanted is left, or a listed value sits where it
    /// cannot be cut out).
    pub keep: bool,
    /// The edited content, when something was cut and the block is kept.
    pub content: Option<Vec<u8>>,
    /// Mapped values left in the block.
    pub remaining: u32,
    /// Listed values found (removed with their item, or with the block).
    pub listed: Vec<Indicator>,
    /// Items removed for the profile's kinds.
    pub removed_kind: u32,
    /// Items removed for their age.
    pub removed_age: u32,
    /// Why the whole block goes, when it does (`keep` is false).
    pub dropped_for: Option<Removal>,
}

impl Curated {
    /// Whether the block is kept exactly as it was.
    pub fn unchanged(&self) -> bool {
        self.keep && self.content.is_none()
    }
}

/// Curate one block. The result depends only on the bytes, the lists and `now` (through
/// the maximum age), so the same block curated twice gives the same bytes.
pub fn curate(
    content: &[u8],
    ns_context: &[(String, String)],
    allow: &Allowlist,
    profile: &Profile,
    now: Timestamp,
) -> Result<Curated, StixError> {
    let cutoff = profile
        .max_age_secs
        .map(|s| now.as_micros().saturating_sub(s.saturating_mul(1_000_000)));
    let too_old = |ts: Option<&str>| match (cutoff, ts) {
        (Some(c), Some(t)) => {
            Timestamp::parse_assume_utc(t.trim()).is_ok_and(|t| t.as_micros() < c)
        }
        _ => false,
    };
    let wanted = |kind: IndicatorKind| profile.kinds.as_ref().is_none_or(|k| k.contains(&kind));

    let Some((summary, track)) = summarize_tracked(content, ns_context)? else {
        // Escaped content cannot be edited in place: keep or drop it whole.
        let summary = summarize(content, ns_context)?;
        let listed: Vec<Indicator> = summary
            .observables
            .iter()
            .filter(|i| allow.matches(i))
            .cloned()
            .collect();
        let dropped_for = if !listed.is_empty() {
            Some(Removal::Listed)
        } else if !summary.observables.iter().any(|i| wanted(i.kind)) {
            Some(Removal::Kind)
        } else if too_old(summary.timestamp.as_deref()) {
            Some(Removal::Age)
        } else {
            None
        };
        let keep = dropped_for.is_none();
        return Ok(Curated {
            keep,
            dropped_for,
            content: None,
            remaining: if keep {
                summary.observables.len() as u32
            } else {
                0
            },
            listed,
            ..Curated::default()
        });
    };

    let values = &summary.observables;
    if values.is_empty() {
        // Nothing we map: only a kind profile or the age can refuse it.
        let dropped_for = if profile.kinds.is_some() {
            Some(Removal::Kind)
        } else if too_old(summary.timestamp.as_deref()) {
            Some(Removal::Age)
        } else {
            None
        };
        return Ok(Curated {
            keep: dropped_for.is_none(),
            dropped_for,
            ..Curated::default()
        });
    }
    let mut out = Curated {
        keep: true,
        listed: values
            .iter()
            .filter(|i| allow.matches(i))
            .cloned()
            .collect(),
        ..Curated::default()
    };
    let mut covered = vec![false; values.len()];
    let mut removed = vec![false; track.items.len()];
    let mut removed_listed = 0u32;
    // TODO(stix): an indicator is kept or cut whole, so the other values of a composite
    // observable that holds a listed one go with it.
    for (n, item) in track.items.iter().enumerate() {
        let mine = &values[item.values.clone()];
        covered[item.values.clone()]
            .iter_mut()
            .for_each(|c| *c = true);
        let reason = if mine.iter().any(|i| allow.matches(i)) {
            Some(Removal::Listed)
        } else if !mine.is_empty() && !mine.iter().any(|i| wanted(i.kind)) {
            Some(Removal::Kind)
        } else if too_old(item.timestamp.as_deref().or(summary.timestamp.as_deref())) {
            Some(Removal::Age)
        } else {
            None
        };
        match reason {
            Some(Removal::Kind) => out.removed_kind += 1,
            Some(Removal::Age) => out.removed_age += 1,
            Some(Removal::Listed) => removed_listed += 1,
            None => {}
        }
        removed[n] = reason.is_some();
    }
    let loose_listed = values
        .iter()
        .zip(&covered)
        .any(|(i, c)| !c && allow.matches(i));
    let remaining = values.len()
        - track
            .items
            .iter()
            .zip(&removed)
            .filter(|(_, r)| **r)
            .map(|(i, _)| i.values.len())
            .sum::<usize>();
    out.remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
    let loose_too_old = track.items.is_empty() && too_old(summary.timestamp.as_deref());
    if loose_listed || remaining == 0 || loose_too_old {
        // The block goes for its most telling cause: a listed value, then the kinds,
        // then the age.
        out.dropped_for = Some(if loose_listed || removed_listed > 0 {
            Removal::Listed
        } else if out.removed_kind > 0 {
            Removal::Kind
        } else {
            Removal::Age
        });
        out.keep = false;
        out.remaining = 0;
        return Ok(out);
    }
    if !removed.iter().any(|r| *r) {
        return Ok(out);
    }

    let mut splices = Vec::new();
    for (c, container) in track.containers.iter().enumerate() {
        let gone: Vec<_> = track
            .items
            .iter()
            .zip(&removed)
            .filter(|(i, r)| i.container == c && **r)
            .map(|(i, _)| i.span)
            .collect();
        if gone.len() == container.items && container.items > 0 {
            splices.push(Splice::cut(container.span.0, container.span.1));
        } else {
            splices.extend(gone.into_iter().map(|(a, b)| Splice::cut(a, b)));
        }
    }
    out.content = Some(edit::apply(content, splices));
    Ok(out)
}

/// Set the `timestamp` attribute of a package's root (a revision of a package already
/// served carries a later timestamp, so consumers replace the earlier one). `None` when the
/// content does not start with an element that has a `timestamp`.
pub fn restamp(content: &[u8], stamp: &str) -> Option<Vec<u8>> {
    let mut reader = quick_xml::Reader::from_reader(content);
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_) => {
                let after = reader.buffer_position() as usize;
                let mut found = false;
                let tag = edit::rewrite_tag(&content[before..after], |key| match key {
                    "timestamp" => {
                        found = true;
                        Attr::Set(stamp.to_owned())
                    }
                    _ => Attr::Keep,
                })?;
                return found.then(|| {
                    edit::apply(
                        content,
                        vec![Splice {
                            start: before,
                            end: after,
                            with: tag,
                        }],
                    )
                });
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
