//! A minimal XML emitter for our own element names: prefixed tags, escaped values.

use crate::msg::Version;
use crate::{NS_10, NS_11};

/// Appends markup to a buffer, every element in the version's TAXII namespace prefix.
pub(crate) struct Xml<'o> {
    pub out: &'o mut Vec<u8>,
    prefix: &'static str,
}

/// The prefix we write for a version's TAXII namespace.
pub(crate) fn prefix(v: Version) -> &'static str {
    match v {
        Version::V11 => "taxii_11",
        Version::V10 => "taxii",
    }
}

/// The namespace URI of a version.
pub(crate) fn namespace(v: Version) -> &'static str {
    match v {
        Version::V11 => NS_11,
        Version::V10 => NS_10,
    }
}

impl<'o> Xml<'o> {
    pub fn new(out: &'o mut Vec<u8>, v: Version) -> Self {
        Xml {
            out,
            prefix: prefix(v),
        }
    }

    /// `<p:name` — follow with [`Xml::attr`] calls and [`Xml::open_done`] or
    /// [`Xml::empty_done`].
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push(b'<');
        self.out.extend_from_slice(self.prefix.as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(name.as_bytes());
        self
    }

    /// ` key="value"`, escaped.
    pub fn attr(&mut self, key: &str, value: &str) -> &mut Self {
        self.out.push(b' ');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_into(self.out, value, true);
        self.out.push(b'"');
        self
    }

    /// An attribute only when there is a value.
    pub fn attr_opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.attr(key, value);
        }
        self
    }

    /// `xmlns:p="uri"` declaring our prefix; written on the root element.
    pub fn declare_self(&mut self, v: Version) -> &mut Self {
        let key = format!("xmlns:{}", self.prefix);
        self.attr(&key, namespace(v))
    }

    pub fn open_done(&mut self) {
        self.out.push(b'>');
    }

    pub fn empty_done(&mut self) {
        self.out.extend_from_slice(b"/>");
    }

    /// `</p:name>`
    pub fn close(&mut self, name: &str) {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(self.prefix.as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    /// Escaped character data.
    pub fn text(&mut self, text: &str) {
        escape_into(self.out, text, false);
    }

    /// `<p:name>text</p:name>`
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name).open_done();
        self.text(text);
        self.close(name);
    }

    /// A leaf only when there is a value.
    pub fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }
}

/// Escape markup characters, and keep whitespace that XML would otherwise normalise
/// (`\r` everywhere, tab and newline in attributes) as character references. Characters
/// that XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str, attribute: bool) {
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let replacement: &[u8] = match c {
            '&' => b"&amp;",
            '<' => b"&lt;",
            '>' => b"&gt;",
            '"' if attribute => b"&quot;",
            '\r' => b"&#xD;",
            '\t' if attribute => b"&#x9;",
            '\n' if attribute => b"&#xA;",
            '\t' | '\n' => continue,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => "\u{FFFD}".as_bytes(),
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[plain_from..i]);
        out.extend_from_slice(replacement);
        plain_from = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[plain_from..]);
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    fn esc(s: &str, attribute: bool) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, s, attribute);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_markup_and_fragile_whitespace() {
        assert_eq!(esc("a<b>&\"c\"", false), "a&lt;b&gt;&amp;\"c\"");
        assert_eq!(esc("a<b>&\"c\"", true), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(esc("x\r\ny\tz", false), "x&#xD;\ny\tz");
        assert_eq!(esc("x\r\ny\tz", true), "x&#xD;&#xA;y&#x9;z");
        assert_eq!(
            esc("bell\u{7}end\u{FFFF}", false),
            "bell\u{FFFD}end\u{FFFD}"
        );
        assert_eq!(esc("plain ünïcödé €", false), "plain ünïcödé €");
    }
}
