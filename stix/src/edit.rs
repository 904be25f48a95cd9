//! Byte-level edits of a content block: spans cut or replaced, start tags rewritten, and
//! every other byte kept exactly as it was.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One edit: replace `start..end` of the original bytes with `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub with: Vec<u8>,
}

impl Splice {
    /// Remove `start..end`.
    pub fn cut(start: usize, end: usize) -> Self {
        Splice {
            start,
            end,
            with: Vec::new(),
        }
    }
}

/// Apply edits to `original`. Edits are sorted by start; one that overlaps an earlier one
/// (a cut inside a span already cut) is dropped.
pub(crate) fn apply(original: &[u8], mut edits: Vec<Splice>) -> Vec<u8> {
    edits.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out = Vec::with_capacity(original.len());
    let mut at = 0usize;
    for s in edits {
        if s.start < at || s.end > original.len() || s.end < s.start {
            continue;
        }
        out.extend_from_slice(&original[at..s.start]);
        out.extend_from_slice(&s.with);
        at = s.end;
    }
    out.extend_from_slice(&original[at..]);
    out
}

/// What to do with one attribute of a start tag being rewritten.
pub(crate) enum Attr {
    Keep,
    Drop,
    /// Replace the value with this text (escaped on output).
    Set(String),
}

/// Rewrite one start tag (`<name a="v" ...>` or `.../>`), deciding per attribute by its
/// raw name. Kept attributes keep their raw value and quoting style. `None` when the bytes
/// are not a single start tag.
pub(crate) fn rewrite_tag(tag: &[u8], mut decide: impl FnMut(&str) -> Attr) -> Option<Vec<u8>> {
    let mut reader = Reader::from_reader(tag);
    let (start, empty) = match reader.read_event().ok()? {
        Event::Start(e) => (e, false),
        Event::Empty(e) => (e, true),
        _ => return None,
    };
    let mut out = Vec::with_capacity(tag.len() + 16);
    out.push(b'<');
    out.extend_from_slice(start.name().as_ref().as_bytes());
    for attr in start.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let key: &str = attr.key.as_ref();
        let (raw, quote): (Vec<u8>, u8) = match decide(key) {
            Attr::Drop => continue,
            Attr::Keep => {
                let raw = attr.value.as_bytes().to_vec();
                let quote = if raw.contains(&b'"') { b'\'' } else { b'"' };
                (raw, quote)
            }
            Attr::Set(text) => (escape_attr(&text).into_bytes(), b'"'),
        };
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.push(quote);
        out.extend_from_slice(&raw);
        out.push(quote);
    }
    out.extend_from_slice(if empty { b"/>" } else { b">" });
    Some(out)
}

/// Escape text for a double-quoted attribute value.
fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_apply_in_order_and_skip_overlaps() {
        let out = apply(
            b"0123456789",
            vec![
                Splice::cut(6, 8),
                Splice::cut(1, 3),
                Splice::cut(2, 4),
                Splice {
                    start: 9,
                    end: 9,
                    with: b"x".to_vec(),
                },
            ],
        );
        assert_eq!(out, b"03458x9");
    }

    #[test]
    fn tags_keep_raw_values_and_quotes() {
        let tag = br#"<stix:P a="1 &amp; 2" b='say "hi"' version="1.2" ordinality="1">"#;
        let out = rewrite_tag(tag, |k| match k {
            "version" => Attr::Set("1.1.1".into()),
            "ordinality" => Attr::Drop,
            _ => Attr::Keep,
        });
        assert_eq!(
            out.as_deref(),
            Some(&br#"<stix:P a="1 &amp; 2" b='say "hi"' version="1.1.1">"#[..])
        );
        let out = rewrite_tag(b"<a x=\"1\"/>", |_| Attr::Set("<\"".into()));
        assert_eq!(out.as_deref(), Some(&b"<a x=\"&lt;&quot;\"/>"[..]));
        assert_eq!(rewrite_tag(b"text", |_| Attr::Keep), None);
    }
}
