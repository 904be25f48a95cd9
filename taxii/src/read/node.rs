//! Accessors on kept nodes and value parsers, each failing with a field-named error.

use super::checks::shorten;
use super::tree::Node;
use super::ReadErrorKind;
use crate::ts::Timestamp;

pub(super) type Result<T> = std::result::Result<T, ReadErrorKind>;

/// XML whitespace only (not every Unicode space).
pub(super) fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

pub(super) fn invalid(field: &str, value: &str, reason: impl Into<String>) -> ReadErrorKind {
    ReadErrorKind::Invalid {
        field: field.to_string(),
        value: shorten(value),
        reason: reason.into(),
    }
}

// === impl Node ===

impl Node {
    /// An optional attribute, trimmed.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| trim(v))
    }

    /// A required attribute, trimmed.
    pub fn req_attr(&self, name: &'static str) -> Result<&str> {
        self.attr(name)
            .ok_or(ReadErrorKind::Missing { field: name })
    }

    /// Children with a given local name, in document order.
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Node> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// At most one child with that name (a second one is an error).
    pub fn one(&self, name: &'static str) -> Result<Option<&Node>> {
        let mut found = self.all(name);
        let first = found.next();
        if found.next().is_some() {
            return Err(invalid(name, name, "appears more than once"));
        }
        Ok(first)
    }

    /// Exactly one child with that name.
    pub fn req(&self, name: &'static str) -> Result<&Node> {
        self.one(name)?
            .ok_or(ReadErrorKind::Missing { field: name })
    }

    /// The trimmed text of an optional child: identifiers, URIs, numbers.
    pub fn one_token(&self, name: &'static str) -> Result<Option<String>> {
        Ok(self.one(name)?.map(|n| trim(&n.text).to_string()))
    }

    /// The trimmed text of a required child.
    pub fn req_token(&self, name: &'static str) -> Result<String> {
        Ok(trim(&self.req(name)?.text).to_string())
    }

    /// The text, untouched, of an optional free-text child (Message, Description).
    pub fn one_text(&self, name: &'static str) -> Result<Option<String>> {
        Ok(self.one(name)?.map(|n| n.text.clone()))
    }

    /// An optional timestamp child.
    pub fn one_ts(&self, name: &'static str) -> Result<Option<Timestamp>> {
        match self.one(name)? {
            Some(n) => parse_ts(name, trim(&n.text)).map(Some),
            None => Ok(None),
        }
    }

    /// An optional boolean attribute.
    pub fn bool_attr(&self, name: &'static str) -> Result<Option<bool>> {
        self.attr(name).map(|v| parse_bool(name, v)).transpose()
    }

    /// An optional unsigned attribute.
    pub fn u64_attr(&self, name: &'static str) -> Result<Option<u64>> {
        self.attr(name).map(|v| parse_u64(name, v)).transpose()
    }
}

// === values ===

/// xs:boolean: `true`, `false`, `1`, `0`.
pub(super) fn parse_bool(field: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(field, value, "expected true, false, 1 or 0")),
    }
}

/// A non-negative integer that fits in 64 bits.
pub(super) fn parse_u64(field: &str, value: &str) -> Result<u64> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, value, "expected a non-negative integer"));
    }
    digits
        .parse()
        .map_err(|_| invalid(field, value, "number too large"))
}

/// A timestamp label; the zone is required.
pub(super) fn parse_ts(field: &str, value: &str) -> Result<Timestamp> {
    Timestamp::parse(value).map_err(|e| invalid(field, value, e.reason))
}
