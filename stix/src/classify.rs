//! Value rules shared by extraction and building: what kind an address value is, which hash
//! a hex string is, and CIDR / range arithmetic.
//!
//! These rules trust the value over a missing or contradicting label: the schema default
//! `category="ipv4-addr"` has made other consumers call `::ffff:1.1.1.1` an IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::IndicatorKind;

/// Kind of an `AddressObj` value given its `category` attribute (if any).
///
/// `e-mail` is trusted as is. IP-like categories (and a missing one) are decided by the value:
/// an IPv6 literal is IPv6 even under `ipv4-addr`, an `addr/len` is a CIDR, a value with `@`
/// is an e-mail address. An explicit IP category with a value we cannot parse keeps the
/// category's kind (the producer said so); a missing category with such a value, and any
/// other category (`mac`, `asn`, ...), give `None` (unmapped).
pub fn address_kind(category: Option<&str>, value: &str) -> Option<IndicatorKind> {
    let by_value = address_kind_by_value(value);
    match category.map(str::trim) {
        Some("e-mail") => Some(IndicatorKind::Email),
        None | Some("") => by_value,
        Some("ipv4-addr") => by_value.or(Some(IndicatorKind::Ipv4)),
        Some("ipv6-addr") => by_value.or(Some(IndicatorKind::Ipv6)),
        Some("cidr" | "ipv4-net" | "ipv6-net") => by_value.or(Some(IndicatorKind::Cidr)),
        Some(_) => None,
    }
}

/// Kind of an address value judged by its text alone.
// TODO(stix): dotted quads with leading zeros ("010.0.0.1") are not read as IPv4, so without
// a category they count as unmapped.
pub fn address_kind_by_value(value: &str) -> Option<IndicatorKind> {
    if value.parse::<Ipv6Addr>().is_ok() {
        Some(IndicatorKind::Ipv6)
    } else if value.parse::<Ipv4Addr>().is_ok() {
        Some(IndicatorKind::Ipv4)
    } else if parse_cidr(value).is_some() {
        Some(IndicatorKind::Cidr)
    } else if looks_like_email(value) {
        Some(IndicatorKind::Email)
    } else {
        None
    }
}

/// `local@domain` with both parts non-empty and no whitespace.
pub fn looks_like_email(value: &str) -> bool {
    match value.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Hash kind named by a `HashNameVocab` term (`MD5`, `SHA1`, `SHA-256`, any case).
pub fn hash_kind_by_name(name: &str) -> Option<IndicatorKind> {
    let norm: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match norm.as_str() {
        "MD5" => Some(IndicatorKind::Md5),
        "SHA1" => Some(IndicatorKind::Sha1),
        "SHA256" => Some(IndicatorKind::Sha256),
        _ => None,
    }
}

/// Hash kind implied by a hex string's length (32 / 40 / 64 digits).
pub fn hash_kind_by_len(value: &str) -> Option<IndicatorKind> {
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match value.len() {
        32 => Some(IndicatorKind::Md5),
        40 => Some(IndicatorKind::Sha1),
        64 => Some(IndicatorKind::Sha256),
        _ => None,
    }
}

/// The `HashNameVocab-1.0` term we write for a hash kind.
pub fn hash_vocab_name(kind: IndicatorKind) -> Option<&'static str> {
    match kind {
        IndicatorKind::Md5 => Some("MD5"),
        IndicatorKind::Sha1 => Some("SHA1"),
        IndicatorKind::Sha256 => Some("SHA256"),
        _ => None,
    }
}

/// Parse `address/prefix` (IPv4 or IPv6) with a prefix that fits the family.
pub fn parse_cidr(value: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = value.trim().split_once('/')?;
    let addr: IpAddr = addr.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// First and last address of a CIDR block (host bits of the given address are ignored).
pub fn cidr_range(value: &str) -> Option<(IpAddr, IpAddr)> {
    let (addr, len) = parse_cidr(value)?;
    match addr {
        IpAddr::V4(v4) => {
            let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let first = u32::from(v4) & !host;
            Some((
                IpAddr::V4(Ipv4Addr::from(first)),
                IpAddr::V4(Ipv4Addr::from(first | host)),
            ))
        }
        IpAddr::V6(v6) => {
            let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let first = u128::from(v6) & !host;
            Some((
                IpAddr::V6(Ipv6Addr::from(first)),
                IpAddr::V6(Ipv6Addr::from(first | host)),
            ))
        }
    }
}

/// A CIDR in canonical form: network address (host bits cleared) and prefix length.
pub fn normalize_cidr(value: &str) -> Option<String> {
    let (_, len) = parse_cidr(value)?;
    let (first, _) = cidr_range(value)?;
    Some(format!("{first}/{len}"))
}

/// Text of an inclusive address range: `net/len` when it is exactly one CIDR block,
/// otherwise `first-last`. `None` when the ends are not addresses of one family in order.
pub fn range_text(first: &str, last: &str) -> Option<String> {
    let first: IpAddr = first.trim().parse().ok()?;
    let last: IpAddr = last.trim().parse().ok()?;
    let (lo, hi, bits) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return None,
    };
    if hi < lo {
        return None;
    }
    let span = hi - lo;
    let aligned = span & span.wrapping_add(1) == 0 && lo & span == 0;
    if aligned {
        let len = bits - span.count_ones();
        Some(format!("{first}/{len}"))
    } else {
        Some(format!("{first}-{last}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind::*;

    #[test]
    fn address_value_beats_missing_or_wrong_category() {
        assert_eq!(address_kind(None, "2001:db8::10"), Some(Ipv6));
        assert_eq!(address_kind(None, "198.51.100.7"), Some(Ipv4));
        assert_eq!(address_kind(None, "phish@example.test"), Some(Email));
        assert_eq!(
            address_kind(Some("ipv4-addr"), "::ffff:1.1.1.1"),
            Some(Ipv6)
        );
        assert_eq!(
            address_kind(Some("ipv4-addr"), "198.51.100.0/24"),
            Some(Cidr)
        );
        assert_eq!(
            address_kind(Some("e-mail"), "phish@example.test"),
            Some(Email)
        );
        assert_eq!(address_kind(Some("ipv4-addr"), "not-an-ip"), Some(Ipv4));
        assert_eq!(address_kind(None, "not-an-ip"), None);
        assert_eq!(address_kind(Some("mac"), "00:11:22:33:44:55"), None);
    }

    #[test]
    fn hashes_by_name_and_length() {
        assert_eq!(hash_kind_by_name("SHA-256"), Some(Sha256));
        assert_eq!(hash_kind_by_name("sha1"), Some(Sha1));
        assert_eq!(hash_kind_by_name("SSDEEP"), None);
        assert_eq!(hash_kind_by_len(&"a".repeat(32)), Some(Md5));
        assert_eq!(hash_kind_by_len(&"B".repeat(40)), Some(Sha1));
        assert_eq!(hash_kind_by_len(&"0".repeat(64)), Some(Sha256));
        assert_eq!(hash_kind_by_len(&"g".repeat(32)), None);
    }

    #[test]
    fn cidr_math() {
        let (a, b) = cidr_range("198.51.100.77/24").unwrap_or_else(|| panic!("parse"));
        assert_eq!(a.to_string(), "198.51.100.0");
        assert_eq!(b.to_string(), "198.51.100.255");
        assert_eq!(
            normalize_cidr("198.51.100.77/28").as_deref(),
            Some("198.51.100.64/28")
        );
        assert_eq!(normalize_cidr("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            normalize_cidr("2001:db8::1/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(parse_cidr("198.51.100.0/33"), None);
        assert_eq!(
            range_text("198.51.100.0", "198.51.100.255").as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(
            range_text("0.0.0.0", "255.255.255.255").as_deref(),
            Some("0.0.0.0/0")
        );
        assert_eq!(
            range_text("198.51.100.1", "198.51.100.9").as_deref(),
            Some("198.51.100.1-198.51.100.9")
        );
        assert_eq!(range_text("198.51.100.9", "198.51.100.1"), None);
        assert_eq!(range_text("198.51.100.1", "2001:db8::1"), None);
        assert_eq!(
            range_text("2001:db8::", "2001:db8::ff").as_deref(),
            Some("2001:db8::/120")
        );
    }
}
