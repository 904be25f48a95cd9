//! Values that must never be served: domains with their subdomains, URL prefixes, IP
//! addresses and networks, hashes, and exact values (withdrawn ones).

use std::collections::HashSet;
use std::net::IpAddr;

use crate::classify::{cidr_range, parse_cidr};
use crate::{Indicator, IndicatorKind};

/// A set of values to keep out of every collection. Matching ignores ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Lower case, no trailing dot; each matches itself and every subdomain.
    domains: HashSet<String>,
    /// Lower case.
    url_prefixes: Vec<String>,
    /// Networks (a single address is a /32 or /128).
    nets: Vec<(IpAddr, IpAddr)>,
    /// Lower case, trimmed: hashes and withdrawn values of any kind.
    exact: HashSet<String>,
}

impl Allowlist {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
            && self.url_prefixes.is_empty()
            && self.nets.is_empty()
            && self.exact.is_empty()
    }

    /// A domain: it and its subdomains match. `*.` in front is accepted and means the same.
    pub fn add_domain(&mut self, domain: &str) -> Result<(), String> {
        let d = normalize_domain(domain.trim().trim_start_matches("*."));
        let valid = !d.is_empty()
            && !d.starts_with('.')
            && !d.contains("..")
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(format!("{domain:?} is not a domain name"));
        }
        self.domains.insert(d);
        Ok(())
    }

    /// A URL prefix: every URL starting with it matches.
    pub fn add_url_prefix(&mut self, prefix: &str) -> Result<(), String> {
        let p = prefix.trim().to_ascii_lowercase();
        if !p.contains("://") || p.len() <= p.find("://").unwrap_or(0) + 3 {
            return Err(format!("{prefix:?} is not a URL prefix (scheme://host...)"));
        }
        self.url_prefixes.push(p);
        Ok(())
    }

    /// An IP address or a network in CIDR notation.
    pub fn add_ip(&mut self, ip: &str) -> Result<(), String> {
        let text = ip.trim();
        if let Ok(addr) = text.parse::<IpAddr>() {
            self.nets.push((addr, addr));
            return Ok(());
        }
        match cidr_range(text) {
            Some(range) => {
                self.nets.push(range);
                Ok(())
            }
            None => Err(format!("{ip:?} is not an IP address or a CIDR network")),
        }
    }

    /// A file hash (MD5, SHA-1 or SHA-256, hex).
    pub fn add_hash(&mut self, hash: &str) -> Result<(), String> {
        let h = hash.trim();
        if crate::classify::hash_kind_by_len(h).is_none() {
            return Err(format!(
                "{hash:?} is not an MD5, SHA-1 or SHA-256 hex digest"
            ));
        }
        self.exact.insert(h.to_ascii_lowercase());
        Ok(())
    }

    /// One exact value of any kind (a withdrawn value).
    pub fn add_exact(&mut self, value: &str) {
        let v = value.trim();
        let v = v.strip_suffix('.').unwrap_or(v);
        self.exact.insert(v.to_ascii_lowercase());
    }

    /// Every entry as text, sorted: equal lists give equal text (for change detection).
    pub fn entries(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .domains
            .iter()
            .map(|d| format!("domain {d}"))
            .chain(self.url_prefixes.iter().map(|u| format!("url {u}")))
            .chain(self.nets.iter().map(|(a, b)| format!("net {a}-{b}")))
            .chain(self.exact.iter().map(|e| format!("exact {e}")))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Add everything listed in `other`.
    pub fn extend(&mut self, other: &Allowlist) {
        self.domains.extend(other.domains.iter().cloned());
        self.url_prefixes.extend(other.url_prefixes.iter().cloned());
        self.nets.extend(other.nets.iter().copied());
        self.exact.extend(other.exact.iter().cloned());
    }

    /// Whether the indicator is listed.
    pub fn matches(&self, indicator: &Indicator) -> bool {
        let value = indicator.value.trim();
        let lower = value.to_ascii_lowercase();
        if self.exact.contains(&lower)
            || self
                .exact
                .contains(lower.strip_suffix('.').unwrap_or(&lower))
        {
            return true;
        }
        match indicator.kind {
            IndicatorKind::Domain => self.domain_matches(&lower),
            IndicatorKind::Url => {
                self.url_prefixes
                    .iter()
                    .any(|p| lower.starts_with(p.as_str()))
                    || url_host(&lower).is_some_and(|h| self.host_matches(h))
            }
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => value
                .parse::<IpAddr>()
                .is_ok_and(|a| self.net_contains(a, a)),
            IndicatorKind::Cidr => {
                let range = if parse_cidr(value).is_some() {
                    cidr_range(value)
                } else {
                    value
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                };
                range.is_some_and(|(a, b)| self.net_contains(a, b))
            }
            IndicatorKind::Email => lower
                .rsplit_once('@')
                .is_some_and(|(_, d)| self.domain_matches(d)),
            _ => false,
        }
    }

    /// The domain or one of its parents is listed: one set look-up per label.
    fn domain_matches(&self, domain: &str) -> bool {
        if self.domains.is_empty() {
            return false;
        }
        let d = normalize_domain(domain);
        let mut rest = d.as_str();
        loop {
            if self.domains.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }

    fn host_matches(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(a) => self.net_contains(a, a) || self.exact.contains(bare),
            Err(_) => self.domain_matches(host) || self.exact.contains(&normalize_domain(host)),
        }
    }

    fn net_contains(&self, first: IpAddr, last: IpAddr) -> bool {
        let (first, last) = (canonical(first), canonical(last));
        self.nets.iter().any(|&(lo, hi)| {
            let (lo, hi) = (canonical(lo), canonical(hi));
            same_family(lo, first) && lo <= first && last <= hi
        })
    }
}

fn normalize_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// The host of a lower-case URL (no user info, no port); `None` without `scheme://`.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind::*;

    fn list() -> Allowlist {
        let mut a = Allowlist::new();
        a.add_domain("Partner.Example").unwrap();
        a.add_url_prefix("https://cdn.example.net/safe/").unwrap();
        a.add_ip("198.51.100.0/24").unwrap();
        a.add_ip("2001:db8::1").unwrap();
        a.add_hash(&"A".repeat(32)).unwrap();
        a.add_exact("withdrawn.example.org");
        a
    }

    fn hit(kind: IndicatorKind, value: &str) -> bool {
        list().matches(&Indicator::new(kind, value))
    }

    #[test]
    fn domains_match_themselves_and_subdomains_only() {
        assert!(hit(Domain, "partner.example"));
        assert!(hit(Domain, "MAIL.partner.example."));
        assert!(!hit(Domain, "notpartner.example"));
        assert!(!hit(Domain, "partner.example.evil.test"));
        assert!(hit(Email, "billing@partner.example"));
        assert!(hit(Url, "http://www.partner.example:8080/login?x=1"));
        assert!(hit(Url, "http://user@partner.example/"));
        assert!(!hit(Url, "http://evil.test/partner.example"));
    }

    #[test]
    fn url_prefixes_ips_and_networks() {
        assert!(hit(Url, "HTTPS://cdn.example.net/safe/file.js"));
        assert!(!hit(Url, "https://cdn.example.net/other/file.js"));
        assert!(hit(Ipv4, "198.51.100.77"));
        assert!(!hit(Ipv4, "198.51.101.1"));
        assert!(hit(Ipv6, "::ffff:198.51.100.9"));
        assert!(hit(Ipv6, "2001:db8::1"));
        assert!(!hit(Ipv6, "2001:db8::2"));
        assert!(hit(Cidr, "198.51.100.128/25"));
        assert!(!hit(Cidr, "198.51.0.0/16"));
        assert!(hit(Cidr, "198.51.100.1-198.51.100.9"));
        assert!(hit(Url, "http://198.51.100.5/x"));
    }

    #[test]
    fn hashes_and_exact_values_ignore_case() {
        assert!(hit(Md5, &"a".repeat(32)));
        assert!(!hit(Md5, &"b".repeat(32)));
        assert!(hit(Domain, "Withdrawn.Example.org"));
        assert!(!hit(Domain, "sub.withdrawn.example.org"));
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut a = Allowlist::new();
        assert!(a.add_domain("a..b").is_err());
        assert!(a.add_domain("").is_err());
        assert!(a.add_domain("http://x").is_err());
        assert!(a.add_url_prefix("example.com/x").is_err());
        assert!(a.add_ip("300.1.1.1").is_err());
        assert!(a.add_ip("10.0.0.0/33").is_err());
        assert!(a.add_hash("xyz").is_err());
        assert!(a.is_empty());
    }
}
