//! First pass: stream the document once, enforce every limit and security rule, and keep
//! a small tree of the TAXII elements.
//!
//! Only elements in the message's TAXII namespace, no deeper than [`KEEP_DEPTH`], become
//! [`Node`]s; everything else is counted and skipped. A `Content` element is not parsed
//! into nodes: its byte range in the input is recorded, together with the namespace
//! declarations in scope. The loop is iterative, so input depth never becomes stack depth.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use super::checks::{
    first_illegal_char, is_xml_space, malformed, ns_context, resolve_reference, shorten,
};
use super::{Limits, ReadErrorKind};
use crate::msg::Version;
use crate::{NS_10, NS_11};

/// TAXII message schemas nest at most five levels; anything deeper is not ours to read.
const KEEP_DEPTH: usize = 8;

/// Elements whose content is free-form: their descendants only contribute text.
const MIXED: &[&str] = &[
    "Extended_Header",
    "Detail",
    "Query",
    "Supported_Query",
    "Padding",
];

/// A TAXII element kept for mapping.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// Local name.
    pub name: String,
    /// Unprefixed attributes: (local name, normalised and unescaped value).
    pub attrs: Vec<(String, String)>,
    /// All character data directly inside, and inside skipped descendants.
    pub text: String,
    pub children: Vec<Node>,
    /// For `Content` elements: where the content is in the input.
    pub content: Option<Captured>,
}

/// The raw content of a `Content` element.
#[derive(Debug)]
pub(super) struct Captured {
    /// Byte range between the start tag's `>` and the end tag's `<`.
    pub range: Range<usize>,
    /// Namespace declarations in scope, (prefix, uri), `""` for the default namespace.
    pub ns_context: Vec<(String, String)>,
}

/// What is known about the message before it is fully read; reported with any error.
#[derive(Debug, Default)]
pub(super) struct Context {
    pub message_id: Option<String>,
    pub version: Option<Version>,
}

/// The message root, once the whole document has been checked.
pub(super) struct Document {
    pub root: Node,
    pub namespace: String,
}

/// Where a start tag sits relative to the message's TAXII namespace.
enum Place {
    /// No root yet: this is the root, in this namespace.
    Root(String),
    /// In the message's TAXII namespace.
    Taxii,
    /// Anywhere else.
    Other,
}

/// Read `text` (already known to be UTF-8, BOM removed) into a [`Document`].
pub(super) fn build(
    text: &str,
    limits: &Limits,
    ctx: &mut Context,
) -> Result<Document, ReadErrorKind> {
    let mut b = Builder {
        limits,
        depth: 0,
        run: 0,
        open: Vec::new(),
        skip: 0,
        capture_from: None,
        namespace: None,
        root: None,
        seen_event: false,
    };
    let mut reader = NsReader::from_str(text);
    // The namespace resolver counts levels in a u16; our own limit must stay below it.
    let max_depth = limits.max_depth.min(usize::from(u16::MAX) - 1);

    loop {
        let before = position(&reader);
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let place = match resolved {
            ResolveResult::Bound(Namespace(ns)) => match b.namespace.as_deref() {
                None => Place::Root(ns.to_string()),
                Some(taxii) if taxii == ns => Place::Taxii,
                Some(_) => Place::Other,
            },
            ResolveResult::Unbound if b.namespace.is_none() => Place::Root(String::new()),
            ResolveResult::Unbound => Place::Other,
            ResolveResult::Unknown(prefix) => {
                return Err(malformed(format!("undeclared namespace prefix {prefix:?}")))
            }
        };
        let first = !b.seen_event;
        b.seen_event = true;

        match event {
            Event::Start(e) | Event::Empty(e) if b.depth >= max_depth => {
                let _ = e;
                return Err(ReadErrorKind::TooDeep {
                    limit: limits.max_depth,
                });
            }
            Event::Start(e) => {
                b.depth += 1;
                b.start(&e, place, &reader, ctx, false)?;
            }
            Event::Empty(e) => {
                b.start(&e, place, &reader, ctx, true)?;
            }
            Event::End(_) => {
                b.depth = b.depth.saturating_sub(1);
                b.end(before)?;
            }
            Event::Text(t) => b.text(&t.xml10_content(), t.len(), false)?,
            Event::CData(t) => b.text(&t.xml10_content(), t.len(), true)?,
            Event::GeneralRef(r) => {
                let ch = resolve_reference(&r)?;
                let mut buf = [0u8; 4];
                b.text(ch.encode_utf8(&mut buf), r.len() + 2, true)?;
            }
            Event::DocType(_) => return Err(ReadErrorKind::Doctype),
            Event::Decl(d) => {
                if !first {
                    return Err(malformed("XML declaration not at the start of the body"));
                }
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(malformed)?;
                    if !enc.eq_ignore_ascii_case("UTF-8") {
                        return Err(ReadErrorKind::Encoding(shorten(&enc)));
                    }
                }
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }

    if b.depth != 0 || !b.open.is_empty() {
        return Err(malformed("unexpected end of body inside an element"));
    }
    match (b.root, b.namespace) {
        (Some(root), Some(namespace)) => Ok(Document { root, namespace }),
        _ => Err(malformed("empty body: no root element")),
    }
}

fn position<R>(reader: &NsReader<R>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

struct Builder<'l> {
    limits: &'l Limits,
    /// Open elements in the whole document.
    depth: usize,
    /// Length of the current run of character data.
    run: usize,
    /// Open kept nodes, root first.
    open: Vec<Node>,
    /// Open elements below the innermost kept node that are not kept.
    skip: usize,
    /// Start offset of the `Content` element being captured (the innermost open node).
    capture_from: Option<usize>,
    /// The root element's namespace, once seen.
    namespace: Option<String>,
    root: Option<Node>,
    seen_event: bool,
}

impl Builder<'_> {
    fn start<R>(
        &mut self,
        e: &BytesStart<'_>,
        place: Place,
        reader: &NsReader<R>,
        ctx: &mut Context,
        empty: bool,
    ) -> Result<(), ReadErrorKind> {
        self.run = 0;
        if self.root.is_some() {
            return Err(malformed("more than one root element"));
        }
        let (Some(taxii_ns), Place::Taxii | Place::Other) = (self.namespace.as_deref(), &place)
        else {
            let attrs = self.check_attributes(e, true)?;
            let namespace = match place {
                Place::Root(ns) => ns,
                Place::Taxii | Place::Other => String::new(),
            };
            return self.start_root(e, namespace, attrs, ctx, empty);
        };

        let keep = self.skip == 0
            && self.capture_from.is_none()
            && matches!(place, Place::Taxii)
            && self.open.len() < KEEP_DEPTH
            && self
                .open
                .last()
                .is_some_and(|parent| !MIXED.contains(&parent.name.as_str()));
        let attrs = self.check_attributes(e, keep)?;
        if !keep {
            if !empty {
                self.skip += 1;
            }
            return Ok(());
        }

        let name = e.local_name().as_ref().to_string();
        let mut node = Node {
            attrs,
            ..Node::default()
        };
        if name == "Content" {
            let at = position(reader);
            node.content = Some(Captured {
                range: at..at,
                ns_context: ns_context(e, reader, taxii_ns),
            });
            if !empty {
                self.capture_from = Some(at);
            }
        }
        node.name = name;
        if empty {
            self.attach(node);
        } else {
            self.open.push(node);
        }
        Ok(())
    }

    fn start_root(
        &mut self,
        e: &BytesStart<'_>,
        namespace: String,
        attrs: Vec<(String, String)>,
        ctx: &mut Context,
        empty: bool,
    ) -> Result<(), ReadErrorKind> {
        let name = e.local_name().as_ref().to_string();
        ctx.message_id = attrs
            .iter()
            .find(|(k, _)| k == "message_id")
            .map(|(_, v)| v.trim().to_string());
        ctx.version = match namespace.as_str() {
            NS_11 => Some(Version::V11),
            NS_10 => Some(Version::V10),
            _ => {
                return Err(ReadErrorKind::UnknownMessage {
                    namespace: shorten(&namespace),
                    name: shorten(&name),
                })
            }
        };
        self.namespace = Some(namespace);
        let node = Node {
            name,
            attrs,
            ..Node::default()
        };
        if empty {
            self.root = Some(node);
        } else {
            self.open.push(node);
        }
        Ok(())
    }

    fn end(&mut self, before: usize) -> Result<(), ReadErrorKind> {
        self.run = 0;
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        let mut node = self
            .open
            .pop()
            .ok_or_else(|| malformed("end tag without a start tag"))?;
        if let (Some(from), Some(captured)) = (self.capture_from.take(), node.content.as_mut()) {
            captured.range = from..before;
        }
        self.attach(node);
        Ok(())
    }

    /// Add a finished node to its parent, or make it the root.
    fn attach(&mut self, node: Node) {
        match self.open.last_mut() {
            Some(parent) => parent.children.push(node),
            None => self.root = Some(node),
        }
    }

    /// Character data: `raw_len` bytes of input decoding to `decoded`; `markup` for a
    /// reference or CDATA section, which are never allowed outside the root.
    fn text(&mut self, decoded: &str, raw_len: usize, markup: bool) -> Result<(), ReadErrorKind> {
        self.run = self.run.saturating_add(raw_len);
        if self.run > self.limits.max_text {
            return Err(ReadErrorKind::TextTooLarge {
                limit: self.limits.max_text,
            });
        }
        if self.depth == 0 {
            if !markup && decoded.trim_matches(is_xml_space).is_empty() {
                return Ok(());
            }
            return Err(malformed("character data outside the root element"));
        }
        if self.capture_from.is_some() {
            return Ok(());
        }
        if let Some(node) = self.open.last_mut() {
            node.text.push_str(decoded);
        }
        Ok(())
    }

    /// Check every attribute of an element (size, syntax, entities); when `keep`, return
    /// the unprefixed ones, decoded.
    fn check_attributes(
        &self,
        e: &BytesStart<'_>,
        keep: bool,
    ) -> Result<Vec<(String, String)>, ReadErrorKind> {
        let mut kept = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(malformed)?;
            if attr.value.len() > self.limits.max_text {
                return Err(ReadErrorKind::TextTooLarge {
                    limit: self.limits.max_text,
                });
            }
            if attr.value.contains('<') {
                return Err(malformed("'<' in an attribute value"));
            }
            if !keep && !attr.value.contains('&') {
                continue;
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(malformed)?;
            // Literal characters were checked on the whole document; references were
            // resolved just now, and may name one XML does not allow.
            if let Some((_, ch)) = first_illegal_char(&value) {
                return Err(malformed(format!(
                    "character reference to U+{:04X} in an attribute is not a legal XML character",
                    u32::from(ch)
                )));
            }
            if keep && attr.key.prefix().is_none() && attr.key.as_ref() != "xmlns" {
                kept.push((attr.key.as_ref().to_string(), value.into_owned()));
            }
        }
        Ok(kept)
    }
}
