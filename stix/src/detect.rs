//! Values typed by people: what kind a bare value is, and the one spelling of each value
//! that indexes and comparisons use.
//!
//! Blocklists arrive as plain text and CSV exports, often defanged (`hxxp://`,
//! `example[.]com`) so that mail and chat clients do not turn them into links. [`detect`]
//! undoes the usual defanging, decides the kind from the text alone and returns the value in
//! canonical form ([`canonical`]): domains, e-mail addresses and hashes lower-cased,
//! addresses in their standard notation, networks with host bits cleared, URLs with the
//! scheme and host lower-cased.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::classify::{hash_kind_by_len, normalize_cidr, parse_cidr};
use crate::{Indicator, IndicatorKind};

/// Longest domain name (RFC 1035, without the trailing dot).
const MAX_DOMAIN: usize = 253;
/// Longest label of a domain name.
const MAX_LABEL: usize = 63;
/// Longest value we accept at all (URLs included).
pub const MAX_VALUE: usize = 8192;

/// Why a value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing recognisable: not a domain, URL, address, network, hash or e-mail address.
    Unrecognised,
    /// A kind was named but the value does not fit it.
    NotOfKind(IndicatorKind),
    /// A kind name we do not know.
    UnknownKind(String),
    /// Longer than [`MAX_VALUE`] bytes.
    TooLong,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Unrecognised => f.write_str(
                "not a domain, URL, IPv4, IPv6, CIDR, MD5, SHA-1, SHA-256 or e-mail address",
            ),
            Rejection::NotOfKind(kind) => write!(f, "not a valid {kind} value"),
            Rejection::UnknownKind(name) => write!(
                f,
                "unknown type {name:?} (domain, url, ipv4, ipv6, cidr, md5, sha1, sha256, email)"
            ),
            Rejection::TooLong => write!(f, "longer than {MAX_VALUE} bytes"),
        }
    }
}

/// The kind a type column names: our own names plus the usual synonyms (`hostname`,
/// `fqdn`, `uri`, `ip`, `sha-256`, `e-mail`, OTX's `FileHash-MD5` ...). `None` when the
/// name is not one of them. `ip` is returned as IPv4 and settled by the value.
pub fn kind_by_name(name: &str) -> Option<IndicatorKind> {
    let norm: String = name
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let norm = norm.strip_prefix("filehash").unwrap_or(&norm);
    Some(match norm {
        "domain" | "domainname" | "hostname" | "host" | "fqdn" => IndicatorKind::Domain,
        "url" | "uri" => IndicatorKind::Url,
        "ip" | "ipv4" | "ipaddress" | "ipv4addr" => IndicatorKind::Ipv4,
        "ipv6" | "ipv6addr" => IndicatorKind::Ipv6,
        "cidr" | "network" | "subnet" | "ipv4net" | "ipv6net" => IndicatorKind::Cidr,
        "md5" => IndicatorKind::Md5,
        "sha1" => IndicatorKind::Sha1,
        "sha256" => IndicatorKind::Sha256,
        "email" | "emailaddress" | "mail" => IndicatorKind::Email,
        _ => return None,
    })
}

/// Detect the kind of one value and return it in canonical form.
pub fn detect(raw: &str) -> Result<Indicator, Rejection> {
    // A byte-order mark or zero-width space around a value (lists joined with `cat`, text
    // copied from a web page) is not part of it.
    let value = refang(raw.trim_matches(|c: char| c.is_whitespace() || invisible(c)));
    if value.len() > MAX_VALUE {
        return Err(Rejection::TooLong);
    }
    for kind in DETECTION_ORDER {
        if let Some(canonical) = canonical_refanged(kind, &value) {
            return Ok(Indicator::new(kind, canonical));
        }
    }
    Err(Rejection::Unrecognised)
}

/// Like [`detect`], but the kind is named (a CSV type column): the value must fit it. An
/// IPv4 / IPv6 name is settled by the value, since lists mix both under `ip`.
pub fn detect_as(kind_name: &str, raw: &str) -> Result<Indicator, Rejection> {
    let kind =
        kind_by_name(kind_name).ok_or_else(|| Rejection::UnknownKind(kind_name.to_owned()))?;
    let value = refang(raw.trim());
    if value.len() > MAX_VALUE {
        return Err(Rejection::TooLong);
    }
    let kinds: &[IndicatorKind] = match kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => &[IndicatorKind::Ipv4, IndicatorKind::Ipv6],
        _ => std::slice::from_ref(&kind),
    };
    kinds
        .iter()
        .find_map(|&k| canonical_refanged(k, &value).map(|v| Indicator::new(k, v)))
        .ok_or(Rejection::NotOfKind(kind))
}

/// The canonical form of a refanged value, when reading it again gives the same value: a
/// value read from a list must not change when written out and read back.
fn canonical_refanged(kind: IndicatorKind, value: &str) -> Option<String> {
    canonical(kind, value).filter(|c| refang(c) == *c)
}

/// Kinds tried by [`detect`], most specific first: a hash is never read as a domain, an
/// address never as a network.
const DETECTION_ORDER: [IndicatorKind; 9] = [
    IndicatorKind::Md5,
    IndicatorKind::Sha1,
    IndicatorKind::Sha256,
    IndicatorKind::Ipv4,
    IndicatorKind::Ipv6,
    IndicatorKind::Cidr,
    IndicatorKind::Url,
    IndicatorKind::Email,
    IndicatorKind::Domain,
];

/// Characters that print as nothing: byte-order mark, zero-width and direction marks, soft
/// hyphen, word joiners.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{feff}' | '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
    )
}

/// The canonical spelling of `value` as a `kind`, or `None` when it is not one.
///
/// This is the form indexes key on: two spellings of one value give the same text.
pub fn canonical(kind: IndicatorKind, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() || !carriable(value) {
        return None;
    }
    match kind {
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            (hash_kind_by_len(value) == Some(kind)).then(|| value.to_ascii_lowercase())
        }
        IndicatorKind::Ipv4 => value.parse::<Ipv4Addr>().ok().map(|a| a.to_string()),
        IndicatorKind::Ipv6 => value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(value)
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| a.to_string()),
        IndicatorKind::Cidr => {
            if parse_cidr(value).is_some() {
                normalize_cidr(value)
            } else {
                // A range that is not one prefix, as extraction writes it: `first-last`.
                let (first, last) = value.split_once('-')?;
                let first: IpAddr = first.trim().parse().ok()?;
                let last: IpAddr = last.trim().parse().ok()?;
                (first.is_ipv4() == last.is_ipv4()).then(|| format!("{first}-{last}"))
            }
        }
        IndicatorKind::Url => canonical_url(value),
        IndicatorKind::Email => {
            let (local, domain) = value.rsplit_once('@')?;
            let domain = canonical_domain(domain)?;
            // Lower-cased first: some letters take more bytes in lower case (U+023E), and the
            // limit holds for the spelling stored.
            let local = local.to_lowercase();
            let local_ok = !local.is_empty()
                && local.len() <= 64
                && !local.chars().any(|c| {
                    c.is_whitespace()
                        || c.is_control()
                        || invisible(c)
                        || matches!(c, '<' | '>' | '@')
                });
            local_ok.then(|| format!("{local}@{domain}"))
        }
        IndicatorKind::Domain => canonical_domain(value),
        IndicatorKind::Mutex => Some(value.to_owned()),
    }
}

/// A host name of at least two labels: letters, digits, `-` and `_` (seen in real
/// host names), no label starting or ending with `-`, a top-level label that is not all
/// digits. Lower-cased, trailing dot removed.
fn canonical_domain(value: &str) -> Option<String> {
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    if name.is_empty() || name.len() > MAX_DOMAIN || !name.contains('.') {
        return None;
    }
    let mut labels = name.split('.').peekable();
    while let Some(label) = labels.next() {
        let fits = !label.is_empty()
            && label.len() <= MAX_LABEL
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !fits {
            return None;
        }
        if labels.peek().is_none() && label.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some(name)
}

/// `scheme://host[:port][/rest]` with a known web or file-transfer scheme and a host that
/// is a domain or an address; scheme and host lower-cased, the rest kept as written.
fn canonical_url(value: &str) -> Option<String> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = value.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "ftp" | "ftps" | "sftp") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // Credentials in the authority are kept as written; only the host is checked.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        h.parse::<Ipv6Addr>().ok()?;
        (format!("[{}]", h.to_ascii_lowercase()), after)
    } else {
        let h = hostport.split_once(':').map_or(hostport, |(h, _)| h);
        let host = if h.parse::<Ipv4Addr>().is_ok() {
            h.to_owned()
        } else {
            canonical_domain(h).or_else(|| {
                // A single-label intranet host is still a URL host.
                let ok = !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                ok.then(|| h.to_ascii_lowercase())
            })?
        };
        (host, &hostport[h.len()..])
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let mut out = String::with_capacity(value.len());
    out.push_str(&scheme);
    out.push_str("://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&host);
    out.push_str(port);
    out.push_str(path);
    Some(out)
}

/// Whether `value` can be an indicator value: no control characters (which no indicator
/// holds, and most of which XML 1.0 cannot carry), nor U+FFFE / U+FFFF. A package writer
/// would have to replace them, so the value served would not be the value read.
pub fn carriable(value: &str) -> bool {
    !value
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}'))
}

/// Undo the usual defanging: `[.]` `(.)` `{.}` `[dot]`, `[:]`, `[://]`, `[@]` and `[at]`
/// (in any case), then a `hxxp://`, `hxxps://` or `fxp://` scheme. Nested tokens collapse
/// too (`[[dot]]` is one dot), so refanging the result changes nothing more.
pub fn refang(value: &str) -> String {
    // One pass over the value, replacing a token as soon as the output ends with one: a
    // replacement can complete an outer token only when its closing bracket comes next.
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        out.push(c);
        if matches!(c, ']' | ')' | '}') {
            if let Some((token, to)) = DEFANG_TOKENS.iter().find(|(token, _)| {
                out.len() >= token.len()
                    && out.as_bytes()[out.len() - token.len()..]
                        .eq_ignore_ascii_case(token.as_bytes())
            }) {
                out.truncate(out.len() - token.len());
                out.push_str(to);
            }
        }
    }
    let lower = out.get(..8).unwrap_or(&out).to_ascii_lowercase();
    if lower.starts_with("hxxp://") || lower.starts_with("hxxps://") {
        out.replace_range(..4, "http");
    } else if lower.starts_with("fxp://") {
        out.replace_range(..3, "ftp");
    }
    out
}

/// Defanging tokens and what they stand for.
const DEFANG_TOKENS: [(&str, &str); 8] = [
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("[:]", ":"),
    ("[://]", "://"),
    ("[@]", "@"),
    ("[at]", "@"),
];

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
