//! Where the removable parts of a package are: each `stix:Indicator` under
//! `stix:Indicators` and each `cybox:Observable` under `stix:Observables`, with the byte
//! span it occupies and the observable values read inside it.

use std::ops::Range;

use quick_xml::events::BytesStart;

use super::observable::Observables;
use super::text::attr_value;
use crate::StixError;

/// Byte spans of a package's parts, filled during one summarize pass.
#[derive(Debug, Default)]
pub(crate) struct Track {
    /// The root start tag, `<` to `>` inclusive.
    pub root_tag: Option<(usize, usize)>,
    /// Top-level containers (`stix:Indicators`, `stix:Observables`), in document order.
    pub containers: Vec<Container>,
    /// Their children, in document order.
    pub items: Vec<Item>,
    open_container: Option<usize>,
    open_item: Option<OpenItem>,
}

/// A top-level list element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    pub span: (usize, usize),
    pub items: usize,
}

/// One child of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub span: (usize, usize),
    pub container: usize,
    /// Indexes into the summary's `observables` of the values read inside this item.
    pub values: Range<usize>,
    /// Objects inside it whose type we do not map.
    pub unmapped: u32,
    /// Its `timestamp` attribute, as written.
    pub timestamp: Option<String>,
}

#[derive(Debug)]
struct OpenItem {
    start: usize,
    timestamp: Option<String>,
    found: usize,
    unmapped: u32,
}

impl Track {
    /// An element started at byte `at`, at `depth` (the root is 1).
    pub(super) fn start(
        &mut self,
        depth: usize,
        is_stix: bool,
        local: &str,
        e: &BytesStart<'_>,
        at: usize,
        observables: &Observables,
    ) -> Result<(), StixError> {
        if depth == 2 && is_stix && matches!(local, "Indicators" | "Observables") {
            self.containers.push(Container {
                span: (at, at),
                items: 0,
            });
            self.open_container = Some(self.containers.len() - 1);
        } else if depth == 3 && self.open_container.is_some() {
            self.open_item = Some(OpenItem {
                start: at,
                timestamp: attr_value(e, "timestamp")?,
                found: observables.found_len(),
                unmapped: observables.unmapped_count(),
            });
        }
        Ok(())
    }

    /// The element at `depth` ended; `at` is the byte after its end tag.
    pub(super) fn end(&mut self, depth: usize, at: usize, observables: &Observables) {
        if depth == 3 {
            if let (Some(open), Some(c)) = (self.open_item.take(), self.open_container) {
                self.items.push(Item {
                    span: (open.start, at),
                    container: c,
                    values: open.found..observables.found_len(),
                    unmapped: observables.unmapped_count().saturating_sub(open.unmapped),
                    timestamp: open.timestamp,
                });
                self.containers[c].items += 1;
            }
        } else if depth == 2 {
            if let Some(c) = self.open_container.take() {
                self.containers[c].span.1 = at;
            }
        }
    }
}
