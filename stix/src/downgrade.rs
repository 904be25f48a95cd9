//! Serving a STIX 1.2 package to a client that reads only STIX 1.1.1.
//!
//! The two releases share their namespaces; what differs is the `version` attributes and a
//! few constructs 1.2 added. The conversion edits the bytes in place: the package's
//! `version` becomes `1.1.1`, component `version` attributes (optional in both, with
//! 1.2-only values) are dropped, `stix:Reports` (new in 1.2) is cut, and of structured
//! texts (`Description`, `Short_Description`), which 1.2 made repeatable with `id` and
//! `ordinality`, the first of each run is kept without those attributes.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

use crate::edit::{self, Attr, Splice};
use crate::{ns, StixError};

/// Convert a STIX 1.2 package to 1.1.1. Content that is not a package element (escaped
/// text, another document) cannot be converted and is an error; a package that already
/// says 1.1.1 comes back unchanged.
pub fn to_stix_111(content: &[u8], ns_context: &[(String, String)]) -> Result<Vec<u8>, StixError> {
    let mut reader = ns::reader_in_context(content, ns_context);
    let not_package = || StixError::Xml {
        position: 0,
        message: "content is not a STIX_Package element".into(),
    };

    let mut splices = Vec::new();
    let mut depth = 0usize;
    // Per open element: the QName of the last structured-text child seen and whether it
    // was cut (a run of repeats is cut whole after its first).
    let mut last_text_child: Vec<Option<String>> = Vec::new();
    // Depth of an element being cut, while inside it.
    let mut cutting: Option<(usize, usize)> = None;
    let mut seen_root = false;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| StixError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                ns::descend(&mut depth)?;
                if cutting.is_some() {
                    if is_empty {
                        depth -= 1;
                    }
                    continue;
                }
                let (resolved, local) = reader.resolver().resolve_element(e.name());
                let uri: &str = match resolved {
                    ResolveResult::Bound(Namespace(u)) => u,
                    _ => "",
                };
                let is_stix = uri.starts_with("http://stix.mitre.org/");
                let local: String = local.as_ref().to_owned();
                let qname: String = e.name().as_ref().to_owned();

                if depth == 1 {
                    if uri != ns::STIX || local != "STIX_Package" {
                        return Err(not_package());
                    }
                    seen_root = true;
                    let tag = edit::rewrite_tag(&content[before..after], |k| match k {
                        "version" => Attr::Set("1.1.1".into()),
                        _ => Attr::Keep,
                    })
                    .ok_or_else(not_package)?;
                    splices.push(Splice {
                        start: before,
                        end: after,
                        with: tag,
                    });
                } else {
                    let parent = last_text_child.last_mut().and_then(|p| p.as_mut());
                    let structured =
                        is_stix && matches!(local.as_str(), "Description" | "Short_Description");
                    let repeat = structured && parent.is_some_and(|p| *p == qname);
                    let reports = depth == 2 && is_stix && local == "Reports";
                    if repeat || reports {
                        if is_empty {
                            splices.push(Splice::cut(before, after));
                        } else {
                            cutting = Some((depth, before));
                        }
                        depth -= usize::from(is_empty);
                        continue;
                    }
                    let mut changed = false;
                    let tag = edit::rewrite_tag(&content[before..after], |k| {
                        let drop = (is_stix && k == "version")
                            || (structured && matches!(k, "id" | "ordinality"));
                        changed |= drop;
                        if drop {
                            Attr::Drop
                        } else {
                            Attr::Keep
                        }
                    });
                    if changed {
                        if let Some(tag) = tag {
                            splices.push(Splice {
                                start: before,
                                end: after,
                                with: tag,
                            });
                        }
                    }
                    if let Some(slot) = last_text_child.last_mut() {
                        *slot = structured.then_some(qname);
                    }
                }
                if is_empty {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                } else {
                    last_text_child.push(None);
                }
            }
            Event::End(_) => {
                if let Some((d, start)) = cutting {
                    if d == depth {
                        splices.push(Splice::cut(start, after));
                        cutting = None;
                    }
                } else {
                    last_text_child.pop();
                }
                depth = depth.saturating_sub(1);
                if depth == 0 && seen_root {
                    break;
                }
            }
            Event::Text(ref t) if !seen_root && !t.as_ref().trim().is_empty() => {
                return Err(not_package());
            }
            Event::CData(_) if !seen_root => return Err(not_package()),
            Event::DocType(_) => return Err(StixError::Doctype),
            Event::Eof => {
                if seen_root {
                    return Err(StixError::Xml {
                        position: reader.buffer_position(),
                        message: "content ends inside STIX_Package".into(),
                    });
                }
                return Err(not_package());
            }
            _ => {}
        }
    }
    Ok(edit::apply(content, splices))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:report="http://stix.mitre.org/Report-1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:t="urn:t" id="t:p" version="1.2" timestamp="2026-01-01T00:00:00Z">"#;

    fn convert(body: &str) -> String {
        let xml = format!("{HEAD}{body}</stix:STIX_Package>");
        match to_stix_111(xml.as_bytes(), &[]) {
            Ok(out) => String::from_utf8(out).unwrap_or_default(),
            Err(e) => panic!("conversion failed: {e}"),
        }
    }

    #[test]
    fn version_attributes_and_repeated_texts() {
        let out = convert(
            r#"<stix:STIX_Header><stix:Title>x</stix:Title><stix:Description ordinality="1" id="t:d1">one</stix:Description><stix:Description ordinality="2">two</stix:Description><stix:Short_Description>s</stix:Short_Description></stix:STIX_Header><stix:Indicators><stix:Indicator id="t:i" version="2.2" xsi:type="indicator:IndicatorType"><indicator:Description>a</indicator:Description><indicator:Description>b<x/></indicator:Description></stix:Indicator></stix:Indicators><stix:Reports><stix:Report id="t:r"><report:Header/></stix:Report></stix:Reports>"#,
        );
        assert!(out.contains(r#"id="t:p" version="1.1.1" timestamp="2026-01-01T00:00:00Z">"#));
        assert!(out.contains("<stix:Description>one</stix:Description><stix:Short_Description>s"));
        assert!(!out.contains("two"));
        assert!(out.contains(r#"<stix:Indicator id="t:i" xsi:type="indicator:IndicatorType"><indicator:Description>a</indicator:Description></stix:Indicator>"#));
        assert!(!out.contains("stix:Report"));
        assert!(out.ends_with("</stix:Indicators></stix:STIX_Package>"));
    }

    #[test]
    fn what_cannot_be_converted() {
        assert!(to_stix_111(b"&lt;stix:STIX_Package/&gt;", &[]).is_err());
        assert!(to_stix_111(b"<other/>", &[]).is_err());
        let empty = format!("{}/>", &HEAD[..HEAD.len() - 1]);
        let out = to_stix_111(empty.as_bytes(), &[]).unwrap_or_default();
        assert!(String::from_utf8_lossy(&out).contains(r#"version="1.1.1""#));
    }
}
