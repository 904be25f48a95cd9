//! Reading TAXII messages from untrusted bodies.
//!
//! One entry point, [`read_message`], reads a complete body in two passes:
//! 1. a streaming pass (`tree`) that checks UTF-8, refuses any DOCTYPE, accepts only the five
//!    predefined entities and character references, enforces [`Limits`] on depth and text
//!    size, and keeps a small tree of the TAXII elements, with each `Content` kept as the
//!    exact input bytes;
//! 2. a mapping pass (`map`) from that tree to [`Message`](crate::msg::Message) values, per version.
//!
//! The limits bound depth and the size of any one text run or attribute; the total body
//! size is the caller's limit (the HTTP layer caps it before calling).
//!
//! The version is decided by the root element's namespace URI, never by its prefix or by
//! HTTP headers. Elements are matched by (namespace, local name). Unknown elements and
//! attributes are ignored; missing required ones and bad values are errors that name the
//! field, so a server can answer BAD_MESSAGE with a useful message.

mod checks;
mod map;
mod node;
mod parts;
mod tree;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fields;
#[cfg(test)]
mod tests_hostile;

use crate::msg::{Envelope, Version};

/// Bounds on what a message may contain, checked while streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting allowed in the whole document, content included.
    pub max_depth: usize,
    /// Largest run of character data, or attribute value, in bytes.
    pub max_text: usize,
}

impl Default for Limits {
    /// Depth 512 and 16 MiB of text: far beyond real STIX, far below what hurts.
    fn default() -> Self {
        Limits {
            max_depth: 512,
            max_text: 16 * 1024 * 1024,
        }
    }
}

/// Why a body could not be read as a TAXII message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct ReadError {
    pub kind: ReadErrorKind,
    /// The root's message_id if it could be read before the error (for in_response_to).
    pub message_id: Option<String>,
    /// The version of the root namespace if it was recognised.
    pub version: Option<Version>,
}

/// The kinds of [`ReadError`]. A server maps every one of them to BAD_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadErrorKind {
    /// A `<!DOCTYPE` was found; TAXII never needs one and nothing in it is expanded.
    #[error("document type declarations are not allowed")]
    Doctype,
    /// Elements nested deeper than [`Limits::max_depth`].
    #[error("elements nested deeper than {limit}")]
    TooDeep { limit: usize },
    /// A text run or attribute value longer than [`Limits::max_text`] bytes.
    #[error("text or attribute value larger than {limit} bytes")]
    TextTooLarge { limit: usize },
    /// The body is not UTF-8; `offset` is the first bad byte, counted from the very start.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The root is not a TAXII message we know.
    #[error("unknown message {name:?} in namespace {namespace:?}")]
    UnknownMessage { namespace: String, name: String },
    /// A required attribute or element is missing.
    #[error("missing required {field}")]
    Missing { field: &'static str },
    /// A value could not be understood.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
    /// The XML declaration names an encoding other than UTF-8.
    #[error("unsupported encoding {0:?}: only UTF-8 is accepted")]
    Encoding(String),
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Read one TAXII message (1.1 or 1.0, decided by the root element's namespace URI) from a
/// complete body.
pub fn read_message(body: &[u8], limits: &Limits) -> Result<Envelope, ReadError> {
    let mut ctx = tree::Context::default();
    let result = read_inner(body, limits, &mut ctx);
    result.map_err(|kind| ReadError {
        kind,
        message_id: ctx.message_id,
        version: ctx.version,
    })
}

fn read_inner(
    body: &[u8],
    limits: &Limits,
    ctx: &mut tree::Context,
) -> Result<Envelope, ReadErrorKind> {
    let skip = if body.starts_with(BOM) { BOM.len() } else { 0 };
    let text = std::str::from_utf8(&body[skip..]).map_err(|e| ReadErrorKind::InvalidUtf8 {
        offset: skip + e.valid_up_to(),
    })?;
    if let Some((at, ch)) = checks::first_illegal_char(text) {
        return Err(checks::malformed(format!(
            "character U+{:04X} at byte {} is not allowed in XML",
            u32::from(ch),
            skip + at
        )));
    }
    let doc = tree::build(text, limits, ctx)?;
    map::message(&doc, text.as_bytes())
}
