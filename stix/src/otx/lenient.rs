//! Tolerant field readers: OTX sends `null` where a string or list is expected, booleans as
//! `0`/`1`, and list items as either strings or small objects.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A string; `null`, numbers and booleans are accepted (numbers as their text).
pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    })
}

/// An optional string; empty or non-string values become `None`.
pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        _ => None,
    })
}

/// A list of names; items that are objects give their `display_name`, `name` or `id`.
pub(super) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, &["display_name", "name", "id"])
}

/// A list of ids; items that are objects give their `id` (else `display_name`, `name`).
pub(super) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, &["id", "display_name", "name"])
}

fn list<'de, D: Deserializer<'de>>(d: D, keys: &[&str]) -> Result<Vec<String>, D::Error> {
    let Value::Array(items) = Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|item| item_text(item, keys))
        .collect())
}

fn item_text(item: Value, keys: &[&str]) -> Option<String> {
    match item {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(map) => keys.iter().find_map(|key| match map.get(*key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }),
        _ => None,
    }
}

/// An unsigned integer; numeric strings are accepted, anything else is 0.
pub(super) fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    })
}

/// A 0/1 flag sent as a number or a boolean; `null` or anything else counts as set (1),
/// since OTX omits `is_active` for indicators that are active.
pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => i64::from(b),
        Value::Number(n) => n.as_i64().unwrap_or(1),
        Value::String(s) => match s.trim() {
            "0" | "false" | "False" => 0,
            _ => 1,
        },
        _ => 1,
    })
}

/// Default of a flag that is absent: set.
pub(super) fn one() -> i64 {
    1
}
