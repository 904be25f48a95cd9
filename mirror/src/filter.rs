//! Curation at ingest: the allowlist, the collection's withdrawn values and its feed
//! profile, applied to blocks before they are stored.

use std::sync::Arc;

use stix::curate::{curate, Allowlist, Profile, Removal};
use stix::IndicatorKind;
use store::{NewBlock, Store, StoreError};
use taxii::Timestamp;

/// What a collection refuses: the allowlist of the whole server and the collection's
/// profile. Its withdrawn values are read from the store at each use.
#[derive(Debug, Clone, Default)]
pub struct Curation {
    /// Values never stored or served, in any collection.
    pub allowlist: Arc<Allowlist>,
    /// What the collection keeps.
    pub profile: Profile,
}

/// Blocks left after curation, with counts for logs.
#[derive(Debug, Default)]
pub struct Curated {
    pub blocks: Vec<NewBlock>,
    /// Indicators in `blocks`.
    pub indicators: u64,
    /// Blocks dropped whole.
    pub dropped: u64,
    /// Blocks stored with some indicators cut out.
    pub edited: u64,
    /// Listed values found.
    pub listed: u64,
    /// Items removed by the profile (kind or age).
    pub by_profile: u64,
    /// The blocks dropped whole, by cause.
    pub dropped_by: Dropped,
}

/// Blocks dropped whole by curation, by cause (they add up to [`Curated::dropped`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Holding allowlisted or withdrawn values.
    pub listed: u64,
    /// Holding no indicator of a kind the profile keeps.
    pub kind: u64,
    /// Older than the profile's maximum age.
    pub age: u64,
    /// Unreadable.
    pub unreadable: u64,
}

impl Curation {
    /// The allowlist plus the values withdrawn from `collection`.
    pub fn effective(&self, store: &Store, collection: &str) -> Result<Allowlist, StoreError> {
        let withdrawn = if store.has_collection(collection)? {
            store.withdrawn_values(collection)?
        } else {
            Vec::new()
        };
        let mut list = (*self.allowlist).clone();
        for (value, _) in withdrawn {
            list.add_exact(&value);
        }
        Ok(list)
    }

    /// Curate blocks bound for `collection` (blocking: run off the async threads). A block
    /// whose content cannot be read is dropped with a warning rather than stored unchecked.
    pub fn apply(
        &self,
        store: &Store,
        collection: &str,
        blocks: Vec<NewBlock>,
        now: Timestamp,
    ) -> Result<Curated, StoreError> {
        let allow = self.effective(store, collection)?;
        Ok(self.apply_with(&allow, collection, blocks, now))
    }

    /// [`Curation::apply`] with the effective list already read (once for many batches:
    /// reading it from the store waits for any append in progress).
    pub fn apply_with(
        &self,
        allow: &Allowlist,
        collection: &str,
        blocks: Vec<NewBlock>,
        now: Timestamp,
    ) -> Curated {
        let mut out = Curated::default();
        if allow.is_empty() && self.profile.is_open() {
            out.indicators = blocks.iter().map(|b| u64::from(b.indicators)).sum();
            out.blocks = blocks;
            return out;
        }
        let wanted =
            |k: IndicatorKind| self.profile.kinds.as_ref().is_none_or(|ks| ks.contains(&k));
        // TODO(mirror): a block that needs an edit is read a second time after ingest's
        // summary; the summary's byte spans would let the first pass do it.
        for mut block in blocks {
            // Ingest's summary already lists the block's values: most blocks need no edit
            // and are not read again.
            let untouched = self.profile.max_age_secs.is_none()
                && !block.indicator_values.is_empty()
                && block.indicator_values.iter().all(|(kind, value)| {
                    IndicatorKind::parse(kind).is_some_and(|k| {
                        wanted(k) && !allow.matches(&stix::Indicator::new(k, value.as_str()))
                    })
                });
            if untouched {
                out.indicators += u64::from(block.indicators);
                out.blocks.push(block);
                continue;
            }
            let c = match curate(&block.content, &block.ns_context, allow, &self.profile, now) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(collection, package = ?block.package_id, cause = %e,
                        "block dropped: unreadable during curation");
                    out.dropped += 1;
                    out.dropped_by.unreadable += 1;
                    continue;
                }
            };
            out.listed += c.listed.len() as u64;
            out.by_profile += u64::from(c.removed_kind + c.removed_age);
            if !c.keep {
                out.dropped += 1;
                match c.dropped_for {
                    Some(Removal::Kind) => out.dropped_by.kind += 1,
                    Some(Removal::Age) => out.dropped_by.age += 1,
                    Some(Removal::Listed) | None => out.dropped_by.listed += 1,
                }
                continue;
            }
            if let Some(content) = c.content {
                block.hash = stix::content_hash(&block.binding, &content);
                block.indicator_values = stix::summarize(&content, &block.ns_context)
                    .map(|s| stix::index_entries(&s.observables))
                    .unwrap_or_default();
                block.content = content;
                block.indicators = c.remaining;
                out.edited += 1;
            }
            out.indicators += u64::from(block.indicators);
            out.blocks.push(block);
        }
        if out.dropped + out.edited > 0 {
            tracing::info!(
                collection,
                dropped = out.dropped,
                edited = out.edited,
                listed = out.listed,
                by_profile = out.by_profile,
                "ingest curated"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(values: &[&str]) -> NewBlock {
        let mut body = String::new();
        for (i, v) in values.iter().enumerate() {
            body.push_str(&format!(r#"<stix:Indicator id="t:i{i}" xsi:type="indicator:IndicatorType"><indicator:Observable><cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType"><DomainNameObj:Value>{v}</DomainNameObj:Value></cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator>"#));
        }
        let content = format!(
            r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:cybox="http://cybox.mitre.org/cybox-2" xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:t="urn:t" id="t:p{}" version="1.2"><stix:Indicators>{body}</stix:Indicators></stix:STIX_Package>"#,
            values.join("-")
        );
        NewBlock {
            binding: taxii::BINDING_STIX_12.into(),
            subtypes: vec![],
            hash: stix::content_hash(taxii::BINDING_STIX_12, content.as_bytes()),
            content: content.into_bytes(),
            ns_context: vec![],
            upstream_label: None,
            package_id: None,
            indicators: values.len() as u32,
            source: None,
            title: None,
            indicator_values: vec![],
        }
    }

    #[test]
    fn allowlisted_and_withdrawn_values_never_reach_the_store() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        store
            .ensure_collection("c")
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .withdraw("c", &[], vec![], &[("gone.test".into(), vec![])])
            .unwrap_or_else(|e| panic!("{e}"));
        let mut allow = Allowlist::new();
        allow.add_domain("partner.example").unwrap_or_default();
        let curation = Curation {
            allowlist: Arc::new(allow),
            profile: Profile::default(),
        };
        let blocks = vec![
            block(&["a.test", "www.partner.example"]),
            block(&["gone.test"]),
            block(&["b.test"]),
        ];
        let untouched = blocks[2].clone();
        let out = curation
            .apply(&store, "c", blocks, Timestamp::now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((out.dropped, out.edited, out.listed), (1, 1, 2));
        assert_eq!(
            out.dropped_by,
            Dropped {
                listed: 1,
                ..Dropped::default()
            }
        );
        assert_eq!(out.indicators, 2);
        assert_eq!(out.blocks[1], untouched);
        let first = &out.blocks[0];
        assert!(!String::from_utf8_lossy(&first.content).contains("Value>www.partner"));
        assert_eq!(
            first.hash,
            stix::content_hash(&first.binding, &first.content)
        );
    }
}
