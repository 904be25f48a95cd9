//! The CybOX part of a package: every `cybox:Properties` element is one observable object.
//!
//! The object type comes from the Properties' `xsi:type` (by namespace), or, when that names
//! no type we map (derived types such as a Windows file), from the namespace of its first
//! child. Values are read only where the schema puts them, as direct children of Properties
//! (or `Hashes/Hash/...` for files), so addresses nested inside other objects (a socket
//! inside a network connection) stay with their unmapped parent.

use quick_xml::events::BytesStart;

use super::text::attr_value;
use crate::classify::{address_kind, hash_kind_by_len, hash_kind_by_name, range_text};
use crate::{ns, Indicator, IndicatorKind, StixError};

/// CybOX's default list delimiter.
const DEFAULT_DELIMITER: &str = "##comma##";

/// Collector for all observable objects of one package.
#[derive(Default)]
pub(super) struct Observables {
    found: Vec<Indicator>,
    unmapped: u32,
    current: Option<Properties>,
}

/// The `cybox:Properties` element being read.
struct Properties {
    depth: usize,
    object: ObjectType,
    /// `category` (address) or `type` (URI) attribute.
    subtype: Option<String>,
    values: Vec<Indicator>,
    hashes_depth: Option<usize>,
    hash: Option<HashEntry>,
    field: Option<Field>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ObjectType {
    Undecided,
    Address,
    DomainName,
    Uri,
    File,
    Mutex,
    Other,
}

impl ObjectType {
    fn from_namespace(uri: &str) -> Option<ObjectType> {
        match uri {
            ns::ADDRESS_OBJ => Some(ObjectType::Address),
            ns::DOMAIN_NAME_OBJ => Some(ObjectType::DomainName),
            ns::URI_OBJ => Some(ObjectType::Uri),
            ns::FILE_OBJ => Some(ObjectType::File),
            ns::MUTEX_OBJ => Some(ObjectType::Mutex),
            _ => None,
        }
    }
}

/// One `cyboxCommon:Hash` of a file.
struct HashEntry {
    depth: usize,
    name: Option<String>,
    values: Vec<String>,
}

/// A value element whose text we are collecting.
struct Field {
    depth: usize,
    role: Role,
    delimiter: String,
    condition: Option<String>,
    text: String,
}

#[derive(Clone, Copy)]
enum Role {
    AddressValue,
    DomainValue,
    UriValue,
    MutexName,
    HashType,
    HashValue,
}

impl Observables {
    /// Where text of the current value element goes, if one is open.
    pub(super) fn text_sink(&mut self) -> Option<&mut String> {
        self.current
            .as_mut()
            .and_then(|p| p.field.as_mut())
            .map(|f| &mut f.text)
    }

    /// An element opened at `depth` (the root is depth 1).
    pub(super) fn start(
        &mut self,
        ns_uri: &str,
        local: &str,
        e: &BytesStart<'_>,
        xsi_type_ns: Option<&str>,
        depth: usize,
    ) -> Result<(), StixError> {
        let Some(props) = self.current.as_mut() else {
            if ns_uri == ns::CYBOX && local == "Properties" {
                let object = xsi_type_ns
                    .and_then(ObjectType::from_namespace)
                    .unwrap_or(ObjectType::Undecided);
                let subtype = match object {
                    ObjectType::Uri => attr_value(e, "type")?,
                    _ => attr_value(e, "category")?,
                };
                self.current = Some(Properties {
                    depth,
                    object,
                    subtype,
                    values: Vec::new(),
                    hashes_depth: None,
                    hash: None,
                    field: None,
                });
            }
            return Ok(());
        };
        if props.field.is_some() {
            return Ok(());
        }
        let rel = depth.saturating_sub(props.depth);
        if rel == 1 && props.object == ObjectType::Undecided {
            props.object = ObjectType::from_namespace(ns_uri).unwrap_or(ObjectType::Other);
            if props.object == ObjectType::Uri {
                props.subtype = None;
            }
        }
        let role = match (props.object, rel, ns_uri, local) {
            (ObjectType::Address, 1, ns::ADDRESS_OBJ, "Address_Value") => Some(Role::AddressValue),
            (ObjectType::DomainName, 1, ns::DOMAIN_NAME_OBJ, "Value") => Some(Role::DomainValue),
            (ObjectType::Uri, 1, ns::URI_OBJ, "Value") => Some(Role::UriValue),
            (ObjectType::Mutex, 1, ns::MUTEX_OBJ, "Name") => Some(Role::MutexName),
            (ObjectType::File, 1, ns::FILE_OBJ, "Hashes") => {
                props.hashes_depth = Some(depth);
                None
            }
            (ObjectType::File, 2, ns::CYBOX_COMMON, "Hash") if props.hashes_depth.is_some() => {
                props.hash = Some(HashEntry {
                    depth,
                    name: None,
                    values: Vec::new(),
                });
                None
            }
            (ObjectType::File, 3, ns::CYBOX_COMMON, "Type") if props.hash.is_some() => {
                Some(Role::HashType)
            }
            (ObjectType::File, 3, ns::CYBOX_COMMON, "Simple_Hash_Value")
                if props.hash.is_some() =>
            {
                Some(Role::HashValue)
            }
            _ => None,
        };
        if let Some(role) = role {
            props.field = Some(Field {
                depth,
                role,
                delimiter: attr_value(e, "delimiter")?
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| DEFAULT_DELIMITER.to_owned()),
                condition: attr_value(e, "condition")?,
                text: String::new(),
            });
        }
        Ok(())
    }

    /// The element opened at `depth` closed.
    pub(super) fn end(&mut self, depth: usize) {
        let Some(props) = self.current.as_mut() else {
            return;
        };
        if props.field.as_ref().is_some_and(|f| f.depth == depth) {
            if let Some(field) = props.field.take() {
                props.take_field(field);
            }
        } else if props.hash.as_ref().is_some_and(|h| h.depth == depth) {
            if let Some(hash) = props.hash.take() {
                props.take_hash(hash);
            }
        } else if props.hashes_depth == Some(depth) {
            props.hashes_depth = None;
        } else if props.depth == depth {
            if let Some(done) = self.current.take() {
                if done.values.is_empty() {
                    self.unmapped = self.unmapped.saturating_add(1);
                } else {
                    self.found.extend(done.values);
                }
            }
        }
    }

    /// Number of values found so far.
    pub(super) fn found_len(&self) -> usize {
        self.found.len()
    }

    /// Number of objects so far that yielded nothing we map.
    pub(super) fn unmapped_count(&self) -> u32 {
        self.unmapped
    }

    /// Everything found, and the count of objects that yielded nothing we map.
    pub(super) fn finish(self) -> (Vec<Indicator>, u32) {
        (self.found, self.unmapped)
    }
}

impl Properties {
    fn take_field(&mut self, field: Field) {
        let items: Vec<&str> = field
            .text
            .split(field.delimiter.as_str())
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        match field.role {
            Role::AddressValue => self.take_addresses(&items, field.condition.as_deref()),
            Role::DomainValue => self.push_all(IndicatorKind::Domain, &items),
            Role::UriValue => {
                let is_url = self
                    .subtype
                    .as_deref()
                    .is_none_or(|t| t.trim().eq_ignore_ascii_case("URL"));
                if is_url {
                    self.push_all(IndicatorKind::Url, &items);
                }
            }
            Role::MutexName => self.push_all(IndicatorKind::Mutex, &items),
            Role::HashType => {
                if let Some(hash) = self.hash.as_mut() {
                    hash.name = Some(field.text.trim().to_owned());
                }
            }
            Role::HashValue => {
                if let Some(hash) = self.hash.as_mut() {
                    hash.values.extend(items.iter().map(|s| (*s).to_owned()));
                }
            }
        }
    }

    fn take_addresses(&mut self, items: &[&str], condition: Option<&str>) {
        let is_range = condition.is_some_and(|c| c.trim() == "InclusiveBetween");
        if let (true, [first, last]) = (is_range, items) {
            if let Some(range) = range_text(first, last) {
                self.values.push(Indicator::new(IndicatorKind::Cidr, range));
                return;
            }
        }
        for item in items {
            if let Some(kind) = address_kind(self.subtype.as_deref(), item) {
                self.values.push(Indicator::new(kind, *item));
            }
        }
    }

    fn take_hash(&mut self, hash: HashEntry) {
        let named = hash.name.as_deref().filter(|n| !n.is_empty());
        for value in hash.values {
            let kind = match named {
                Some(name) => hash_kind_by_name(name),
                None => hash_kind_by_len(&value),
            };
            if let Some(kind) = kind {
                self.values.push(Indicator::new(kind, value));
            }
        }
    }

    // TODO(stix): values are kept as written, case included, so a downstream dedupe by value
    // sees an upper- and a lower-case hash (or domain) as two indicators.
    fn push_all(&mut self, kind: IndicatorKind, items: &[&str]) {
        self.values
            .extend(items.iter().map(|item| Indicator::new(kind, *item)));
    }
}
