//! Values passed into and out of the store.

use taxii::Timestamp;

/// A content block to append: what the server's inbox or a mirror source received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// Content binding id, e.g. `urn:stix.mitre.org:xml:1.1.1`.
    pub binding: String,
    /// Content binding subtypes, in the order received.
    pub subtypes: Vec<String>,
    /// The exact content bytes; stored and served as-is.
    pub content: Vec<u8>,
    /// Namespace prefixes in scope where the content was cut out of its message, so that it
    /// can be written back as a standalone element: (prefix, uri).
    pub ns_context: Vec<(String, String)>,
    /// The label an upstream or a client gave the block; kept as metadata only, never used
    /// for ordering.
    pub upstream_label: Option<Timestamp>,
    /// STIX package id, when the content is a package that has one.
    pub package_id: Option<String>,
    /// Number of indicators found in the content.
    pub indicators: u32,
    /// Where the block came from: a mirror source name or `inbox:<user>`.
    pub source: Option<String>,
    /// Content hash computed by the caller; the collection's dedupe key.
    pub hash: [u8; 32],
    /// STIX header title (for an OTX pulse, its name); kept in the indicator index only.
    pub title: Option<String>,
    /// `(kind, canonical value)` of every indicator in the content, written to the
    /// indicator index in the same batch as the block (see `Store::blocks_with_indicator`).
    pub indicator_values: Vec<(String, String)>,
}

/// A block read back from a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// Local timestamp label: the block's position in the collection.
    pub label: Timestamp,
    /// 1-based position of the block in its collection.
    pub ordinal: u64,
    /// Content binding id.
    pub binding: String,
    /// Content binding subtypes.
    pub subtypes: Vec<String>,
    /// The exact content bytes as appended.
    pub content: Vec<u8>,
    /// Namespace prefixes the content needs: (prefix, uri).
    pub ns_context: Vec<(String, String)>,
    /// The label the upstream or client sent, if any.
    pub upstream_label: Option<Timestamp>,
    /// STIX package id, if known.
    pub package_id: Option<String>,
    /// Number of indicators found in the content.
    pub indicators: u32,
    /// Where the block came from.
    pub source: Option<String>,
    /// Wall-clock time of the append that stored the block.
    pub ingested: Timestamp,
}

/// What a block is without its content: enough to plan a poll part, count a filtered
/// window or add up indicators, read without touching the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// Local timestamp label.
    pub label: Timestamp,
    /// Content binding id.
    pub binding: String,
    /// Content length in bytes.
    pub size: u64,
    /// Number of indicators found in the content.
    pub indicators: u32,
    /// STIX package id, if known.
    pub package_id: Option<String>,
}

/// A metadata write that rides in the same atomic batch as an append (a source checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaPut {
    /// Namespace, e.g. `checkpoint`.
    pub ns: String,
    /// Key inside the namespace, e.g. the source name.
    pub key: String,
    /// Opaque value bytes.
    pub value: Vec<u8>,
}

/// What one append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Blocks newly stored.
    pub stored: u64,
    /// Blocks skipped because their hash was already in the collection (or earlier in the
    /// same call).
    pub duplicates: u64,
    /// Labels of the stored blocks, in the order the blocks were given (ascending).
    pub labels: Vec<Timestamp>,
}
