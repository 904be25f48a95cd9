//! Text and attribute decoding with the only entities XML defines without a DTD.

use quick_xml::escape::{resolve_xml_entity, EscapeError};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart};
use quick_xml::XmlVersion;

use crate::StixError;

/// Append the text an entity or character reference stands for; refuse anything else.
pub(super) fn push_ref(out: &mut String, reference: &BytesRef<'_>) -> Result<(), StixError> {
    let name: &str = reference;
    match reference.resolve_char_ref() {
        Ok(Some(ch)) => {
            out.push(ch);
            return Ok(());
        }
        Ok(None) => {}
        Err(_) => return Err(StixError::UndefinedEntity(name.to_owned())),
    }
    match resolve_xml_entity(name) {
        Some(text) => {
            out.push_str(text);
            Ok(())
        }
        None => Err(StixError::UndefinedEntity(name.to_owned())),
    }
}

/// Value of the unprefixed attribute `name`, normalized and unescaped.
pub(super) fn attr_value(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, StixError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| StixError::Xml {
            position: 0,
            message: err.to_string(),
        })?;
        if attr.key.as_ref() == name {
            return normalized(&attr).map(Some);
        }
    }
    Ok(None)
}

/// An attribute's value with references resolved; undefined entities are an error.
pub(super) fn normalized(attr: &Attribute<'_>) -> Result<String, StixError> {
    match attr.normalized_value(XmlVersion::Implicit1_0) {
        Ok(value) => Ok(value.into_owned()),
        Err(quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name))) => {
            Err(StixError::UndefinedEntity(name))
        }
        Err(err) => Err(StixError::Xml {
            position: 0,
            message: err.to_string(),
        }),
    }
}
