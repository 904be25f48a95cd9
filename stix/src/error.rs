//! The one error type of this crate.

/// Why a content block could not be read as STIX.
///
/// Content that is well-formed XML but not a STIX package is *not* an error; see
/// [`crate::summarize`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StixError {
    /// The XML is not well-formed (or not UTF-8) at the given byte offset.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset into the (possibly unescaped) content where the reader stopped.
        position: u64,
        /// What the XML reader reported.
        message: String,
    },
    /// A `<!DOCTYPE` was found; content never needs a DTD and we never expand one.
    #[error("DOCTYPE is not allowed in content")]
    Doctype,
    /// An entity reference other than the five predefined ones or a character reference.
    #[error("undefined entity reference &{0};")]
    UndefinedEntity(String),
    /// Elements nest deeper than [`crate::MAX_DEPTH`], or escaped content is wrapped too often.
    #[error("content nests deeper than {0} levels")]
    TooDeep(usize),
    /// Text and elements are mixed at the top level, so it is neither a package nor an
    /// escaped package.
    #[error("content mixes text and elements at the top level")]
    MixedContent,
}
