//! Small checks used while streaming: entity references, namespace scope, echo limits.

use quick_xml::events::{BytesRef, BytesStart};
use quick_xml::name::{Namespace, PrefixDeclaration};
use quick_xml::NsReader;

use super::ReadErrorKind;

pub(super) fn malformed(reason: impl std::fmt::Display) -> ReadErrorKind {
    ReadErrorKind::Malformed(reason.to_string())
}

/// Cut long input echoed in an error.
pub(super) fn shorten(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// Resolve `&name;`: the five predefined entities and legal character references only.
pub(super) fn resolve_reference(r: &BytesRef<'_>) -> Result<char, ReadErrorKind> {
    if r.is_char_ref() {
        let ch = r
            .resolve_char_ref()
            .map_err(|e| malformed(format!("bad character reference &{};: {e}", shorten(r))))?
            .ok_or_else(|| malformed("bad character reference"))?;
        let legal = matches!(ch, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&ch)
            || ('\u{E000}'..='\u{FFFD}').contains(&ch)
            || ch >= '\u{10000}';
        if !legal {
            return Err(malformed(format!(
                "character reference &{}; is not a legal XML character",
                shorten(r)
            )));
        }
        return Ok(ch);
    }
    match &**r {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(malformed(format!("undefined entity &{};", shorten(other)))),
    }
}

/// The first character XML 1.0 does not allow anywhere in a document, written literally:
/// C0 controls other than tab, newline and carriage return, and U+FFFE, U+FFFF. (A
/// character reference to one is refused by [`resolve_reference`].) Returns its byte offset.
pub(super) fn first_illegal_char(text: &str) -> Option<(usize, char)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
            return Some((i, char::from(b)));
        }
        // U+FFFE and U+FFFF are EF BF BE and EF BF BF; in UTF-8 no other sequence starts so.
        if b == 0xEF && bytes.get(i + 1) == Some(&0xBF) {
            if let Some(&last @ (0xBE | 0xBF)) = bytes.get(i + 2) {
                let ch = if last == 0xBE { '\u{FFFE}' } else { '\u{FFFF}' };
                return Some((i, ch));
            }
        }
        i += 1;
    }
    None
}

pub(super) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Namespace declarations in scope at a `Content` element, innermost winning, minus the
/// binding of the element's own prefix to the TAXII namespace (the writer declares that).
pub(super) fn ns_context<R>(
    e: &BytesStart<'_>,
    reader: &NsReader<R>,
    taxii_ns: &str,
) -> Vec<(String, String)> {
    let own_prefix = e
        .name()
        .prefix()
        .map(|p| p.as_ref().to_string())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (decl, Namespace(uri)) in reader.resolver().bindings() {
        let prefix = match decl {
            PrefixDeclaration::Default => "",
            PrefixDeclaration::Named(p) => p,
        };
        if prefix == own_prefix && uri == taxii_ns {
            continue;
        }
        // Declared values are raw attribute text; store what they mean.
        let uri = quick_xml::escape::unescape(uri)
            .map(|u| u.into_owned())
            .unwrap_or_else(|_| uri.to_string());
        out.push((prefix.to_string(), uri));
    }
    out
}
