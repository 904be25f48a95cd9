//! A small indenting XML text writer with correct escaping; enough for the fixed shapes we
//! write, and nothing that could emit markup from data.

/// Output buffer with the current nesting level.
pub(super) struct XmlOut {
    buf: String,
    level: usize,
}

impl XmlOut {
    pub(super) fn new() -> Self {
        XmlOut {
            buf: String::with_capacity(4096),
            level: 0,
        }
    }

    /// `<name attrs>` on a new line; `attrs` values are escaped here.
    pub(super) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.buf.push('>');
        self.level += 1;
    }

    /// `</name>` on a new line.
    pub(super) fn close(&mut self, name: &str) {
        self.level = self.level.saturating_sub(1);
        self.newline();
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name attrs>text</name>` on one line; `text` is escaped here.
    pub(super) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(name, attrs);
        self.buf.push('>');
        push_escaped(&mut self.buf, text, false);
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.buf.into_bytes()
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.newline();
        self.buf.push('<');
        self.buf.push_str(name);
        for (key, value) in attrs {
            self.buf.push(' ');
            self.buf.push_str(key);
            self.buf.push_str("=\"");
            push_escaped(&mut self.buf, value, true);
            self.buf.push('"');
        }
    }

    fn newline(&mut self) {
        if !self.buf.is_empty() {
            self.buf.push('\n');
        }
        for _ in 0..self.level {
            self.buf.push_str("  ");
        }
    }
}

/// Escape for XML 1.0 text or a double-quoted attribute. Characters XML 1.0 cannot carry
/// (most C0 controls, U+FFFE, U+FFFF) become U+FFFD so the output stays well-formed; in
/// attributes, tab / CR / LF are kept as character references so they survive normalization.
pub(crate) fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(ch),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut out = String::new();
        push_escaped(&mut out, "a<b>&\"c\"\u{1}\r\n", false);
        assert_eq!(out, "a&lt;b&gt;&amp;\"c\"\u{fffd}&#13;\n");
        let mut out = String::new();
        push_escaped(&mut out, "x\"y\tz\n", true);
        assert_eq!(out, "x&quot;y&#9;z&#10;");
    }
}
