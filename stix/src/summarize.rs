//! One streaming pass over a content block: package identity, header title, indicator count
//! and every mapped observable value.
//!
//! The reader is hardened the same way as the TAXII envelope reader: a DOCTYPE is refused,
//! only the five predefined entities and character references are accepted, element depth is
//! bounded, and escaped (or CDATA-wrapped) packages are unwrapped a bounded number of times.
//! Nothing here recurses on input structure.

mod observable;
mod text;
pub(crate) mod track;

#[cfg(test)]
mod tests;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::NsReader;

use crate::{ns, Indicator, StixError};
use observable::Observables;
use text::{attr_value, push_ref};
use track::Track;

/// Deepest element nesting we accept inside one content block.
pub const MAX_DEPTH: usize = 256;

/// How many times escaped content may wrap another escaped layer before we give up.
const MAX_UNWRAP: usize = 2;

/// What ingest needs from one STIX package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSummary {
    /// `id` attribute of the `STIX_Package` root; `None` when the content is not a package.
    pub id: Option<String>,
    /// `timestamp` attribute of the root, as written.
    pub timestamp: Option<String>,
    /// `version` attribute of the root, as written.
    pub version: Option<String>,
    /// `STIX_Header/Title`, trimmed.
    pub title: Option<String>,
    /// Every mapped CybOX observable value, in document order.
    pub observables: Vec<Indicator>,
    /// Observable objects of types we do not map (ports, processes, ...), or mapped types
    /// that carried no usable value. Never an error.
    pub unmapped: u32,
    /// Number of `stix:Indicator` elements that define an indicator (idref-only ones excluded).
    pub indicator_count: u32,
}

/// Read one content block once, streaming, and summarize it.
///
/// `content` is the inside of a TAXII `Content` element: a `STIX_Package` element, or the
/// same as escaped text or CDATA. `ns_context` holds the `(prefix, uri)` declarations in scope
/// from the enclosing TAXII message, since packages may use prefixes declared only there
/// (use `""` as prefix for a default namespace).
///
/// Well-formed content that is not a `STIX_Package` gives an empty summary with `id: None`.
pub fn summarize(
    content: &[u8],
    ns_context: &[(String, String)],
) -> Result<PackageSummary, StixError> {
    let mut unwrapped: Option<Vec<u8>> = None;
    for _ in 0..=MAX_UNWRAP {
        let input = unwrapped.as_deref().unwrap_or(content);
        match read_once(input, ns_context, None)? {
            Pass::Summary(summary) => return Ok(summary),
            Pass::Escaped(inner) => unwrapped = Some(inner.into_bytes()),
        }
    }
    Err(StixError::TooDeep(MAX_UNWRAP))
}

/// Outcome of one pass: a result, or the unescaped text to read again.
enum Pass {
    Summary(PackageSummary),
    Escaped(String),
}

/// Summarize content that is a package element (not escaped), recording where its parts
/// are; `Ok(None)` when the content is escaped text, whose bytes cannot be edited in place.
pub(crate) fn summarize_tracked(
    content: &[u8],
    ns_context: &[(String, String)],
) -> Result<Option<(PackageSummary, Track)>, StixError> {
    let mut track = Track::default();
    match read_once(content, ns_context, Some(&mut track))? {
        Pass::Summary(summary) => Ok(Some((summary, track))),
        Pass::Escaped(_) => Ok(None),
    }
}

fn read_once(
    input: &[u8],
    ns_context: &[(String, String)],
    mut track: Option<&mut Track>,
) -> Result<Pass, StixError> {
    let mut reader = ns::reader_in_context(input, ns_context);

    // Find the root element, collecting any top-level text in case the package is escaped.
    let mut top_text = String::new();
    loop {
        let before = reader.buffer_position();
        let event = reader.read_event().map_err(|e| xml_error(&reader, e))?;
        if let (Some(t), Event::Start(_) | Event::Empty(_)) = (track.as_deref_mut(), &event) {
            t.root_tag = Some((before as usize, reader.buffer_position() as usize));
        }
        match event {
            Event::Start(root) => {
                if !top_text.trim().is_empty() {
                    return Err(StixError::MixedContent);
                }
                return read_package(&mut reader, &root, false, track).map(Pass::Summary);
            }
            Event::Empty(root) => {
                if !top_text.trim().is_empty() {
                    return Err(StixError::MixedContent);
                }
                return read_package(&mut reader, &root, true, track).map(Pass::Summary);
            }
            Event::Text(t) => top_text.push_str(&t.xml10_content()),
            Event::CData(c) => top_text.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => push_ref(&mut top_text, &r)?,
            Event::DocType(_) => return Err(StixError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::End(_) => {
                return Err(StixError::Xml {
                    position: reader.buffer_position(),
                    message: "end tag without start tag".into(),
                })
            }
            Event::Eof => {
                let inner = top_text.trim();
                return Ok(if inner.is_empty() {
                    Pass::Summary(PackageSummary::default())
                } else {
                    Pass::Escaped(inner.to_owned())
                });
            }
        }
    }
}

/// Read from just after the root start tag to its end tag.
fn read_package(
    reader: &mut NsReader<&[u8]>,
    root: &BytesStart<'_>,
    root_is_empty: bool,
    mut track: Option<&mut Track>,
) -> Result<PackageSummary, StixError> {
    let mut summary = PackageSummary::default();
    if !is(reader.resolver().resolve_element(root.name()).0, ns::STIX)
        || root.local_name().as_ref() != "STIX_Package"
    {
        return Ok(summary);
    }
    summary.id = attr_value(root, "id")?;
    summary.timestamp = attr_value(root, "timestamp")?;
    summary.version = attr_value(root, "version")?;
    if root_is_empty {
        return Ok(summary);
    }

    let mut depth = 1usize;
    let mut in_header = false;
    let mut title: Option<String> = None;
    let mut observables = Observables::default();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| xml_error(reader, e))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                ns::descend(&mut depth)?;
                let (ns_result, local) = reader.resolver().resolve_element(e.name());
                let ns_uri = namespace_of(&ns_result);
                let local = local.as_ref();
                if let Some(t) = track.as_deref_mut() {
                    t.start(depth, ns_uri == ns::STIX, local, e, before, &observables)?;
                }

                if depth == 2 && ns_uri == ns::STIX && local == "STIX_Header" {
                    in_header = !is_empty;
                } else if depth == 3 && in_header && ns_uri == ns::STIX && local == "Title" {
                    title = Some(String::new());
                } else if ns_uri == ns::STIX && local == "Indicator" && defines_object(e)? {
                    summary.indicator_count += 1;
                }
                let xsi_type = xsi_type_namespace(reader, e)?;
                observables.start(ns_uri, local, e, xsi_type.as_deref(), depth)?;

                if is_empty {
                    close(
                        &mut observables,
                        &mut title,
                        &mut summary,
                        &mut in_header,
                        depth,
                    );
                    if let Some(t) = track.as_deref_mut() {
                        t.end(depth, after, &observables);
                    }
                    depth -= 1;
                }
            }
            Event::End(_) => {
                close(
                    &mut observables,
                    &mut title,
                    &mut summary,
                    &mut in_header,
                    depth,
                );
                if let Some(t) = track.as_deref_mut() {
                    t.end(depth, after, &observables);
                }
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Event::Text(t) => append_text(&mut observables, &mut title, &t.xml10_content()),
            Event::CData(c) => append_text(&mut observables, &mut title, &c.xml10_content()),
            Event::GeneralRef(r) => {
                // Resolved (and checked) even where the text is not kept.
                let mut resolved = String::new();
                push_ref(&mut resolved, &r)?;
                append_text(&mut observables, &mut title, &resolved);
            }
            Event::DocType(_) => return Err(StixError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return Err(StixError::Xml {
                    position: reader.buffer_position(),
                    message: "content ends inside STIX_Package".into(),
                })
            }
        }
    }

    let (found, unmapped) = observables.finish();
    summary.observables = found;
    summary.unmapped = unmapped;
    Ok(summary)
}

/// Text goes to the open observable value, else to the header title, else nowhere.
fn append_text(observables: &mut Observables, title: &mut Option<String>, text: &str) {
    if let Some(buf) = observables.text_sink() {
        buf.push_str(text);
    } else if let Some(buf) = title.as_mut() {
        buf.push_str(text);
    }
}

/// Bookkeeping when the element at `depth` ends.
fn close(
    observables: &mut Observables,
    title: &mut Option<String>,
    summary: &mut PackageSummary,
    in_header: &mut bool,
    depth: usize,
) {
    observables.end(depth);
    if depth == 3 {
        if let Some(text) = title.take() {
            let text = text.trim();
            if !text.is_empty() && summary.title.is_none() {
                summary.title = Some(text.to_owned());
            }
        }
    }
    if depth == 2 {
        *in_header = false;
    }
}

/// `true` unless the element is only a reference (`idref` without `id`).
fn defines_object(e: &BytesStart<'_>) -> Result<bool, StixError> {
    Ok(attr_value(e, "id")?.is_some() || attr_value(e, "idref")?.is_none())
}

/// Namespace URI named by the element's `xsi:type` value, resolved in the element's scope.
fn xsi_type_namespace(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
) -> Result<Option<String>, StixError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| StixError::Xml {
            position: reader.buffer_position(),
            message: err.to_string(),
        })?;
        let (attr_ns, local) = reader.resolver().resolve_attribute(attr.key);
        if local.as_ref() == "type" && is(attr_ns, ns::XSI) {
            let value = text::normalized(&attr)?;
            let (type_ns, _) = reader.resolver().resolve_element(QName(value.trim()));
            return Ok(Some(namespace_of(&type_ns).to_owned()));
        }
    }
    Ok(None)
}

fn namespace_of<'a>(result: &'a ResolveResult<'_>) -> &'a str {
    match result {
        ResolveResult::Bound(Namespace(uri)) => uri,
        _ => "",
    }
}

fn is(result: ResolveResult<'_>, uri: &str) -> bool {
    matches!(result, ResolveResult::Bound(Namespace(found)) if found == uri)
}

fn xml_error(reader: &NsReader<&[u8]>, err: quick_xml::Error) -> StixError {
    StixError::Xml {
        position: reader.error_position(),
        message: err.to_string(),
    }
}
