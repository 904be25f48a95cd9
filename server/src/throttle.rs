//! A per-address limit on failed logins.
//!
//! Every address has a bucket of `burst` failures that refills at `burst` per minute. A
//! wrong password takes one; an address whose bucket is empty is refused at once, without a
//! password check, until the bucket refills. Other addresses are not affected, so the
//! legitimate users keep getting in while one address guesses passwords. IPv6 addresses are
//! counted per /64, the smallest block a single host usually holds.
//!
//! The table is bounded: when it is full, entries whose bucket has refilled are dropped, and
//! if that is not enough the oldest half goes (an attacker with that many addresses gains
//! little: each of them still pays a password check per guess).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses tracked at once.
const MAX_TRACKED: usize = 65_536;

/// What a failed login did to its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; the address may still try.
    Counted,
    /// This failure emptied the bucket: the address is refused from now on, for a while.
    Throttled,
}

/// Failed-login buckets by address.
pub struct LoginThrottle {
    burst: f64,
    per_second: f64,
    table: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LoginThrottle {
    /// `per_minute` failed logins allowed per address (0 turns the limit off).
    pub fn new(per_minute: u32) -> LoginThrottle {
        LoginThrottle {
            burst: f64::from(per_minute),
            per_second: f64::from(per_minute) / 60.0,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the limit is on.
    pub fn enabled(&self) -> bool {
        self.burst > 0.0
    }

    /// Whether `addr` may try a password now.
    pub fn allows(&self, addr: IpAddr) -> bool {
        self.allows_at(addr, Instant::now())
    }

    /// Count a failed login from `addr`.
    pub fn failed(&self, addr: IpAddr) -> Failure {
        self.failed_at(addr, Instant::now())
    }

    /// How long until `addr` may try again (zero when it may now).
    pub fn retry_after(&self, addr: IpAddr) -> Duration {
        if !self.enabled() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let Ok(table) = self.table.lock() else {
            return Duration::ZERO;
        };
        match table.get(&key(addr)) {
            Some(b) => {
                let missing = 1.0 - self.refilled(b, now);
                if missing <= 0.0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(missing / self.per_second)
                }
            }
            None => Duration::ZERO,
        }
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.per_second).min(self.burst)
    }

    fn allows_at(&self, addr: IpAddr, now: Instant) -> bool {
        if !self.enabled() {
            return true;
        }
        let Ok(table) = self.table.lock() else {
            return true;
        };
        table
            .get(&key(addr))
            .is_none_or(|b| self.refilled(b, now) >= 1.0)
    }

    fn failed_at(&self, addr: IpAddr, now: Instant) -> Failure {
        if !self.enabled() {
            return Failure::Counted;
        }
        let Ok(mut table) = self.table.lock() else {
            return Failure::Counted;
        };
        if table.len() >= MAX_TRACKED {
            self.prune(&mut table, now);
        }
        let bucket = table.entry(key(addr)).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = (self.refilled(bucket, now) - 1.0).max(0.0);
        *bucket = Bucket { tokens, at: now };
        if tokens < 1.0 {
            Failure::Throttled
        } else {
            Failure::Counted
        }
    }

    fn prune(&self, table: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        table.retain(|_, b| self.refilled(b, now) < self.burst);
        if table.len() >= MAX_TRACKED {
            let mut ages: Vec<Instant> = table.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            table.retain(|_, b| b.at > cut);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

/// The key an address is counted under: itself, or its /64 for IPv6.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn burst_then_refused_then_refilled() {
        let t = LoginThrottle::new(6); // one failure forgiven every 10 s
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..5 {
            assert!(t.allows_at(a, now));
            assert_eq!(t.failed_at(a, now), Failure::Counted);
        }
        assert!(t.allows_at(a, now));
        assert_eq!(t.failed_at(a, now), Failure::Throttled);
        assert!(!t.allows_at(a, now));
        assert!(!t.allows_at(a, now + Duration::from_secs(9)));
        assert!(t.allows_at(a, now + Duration::from_secs(10)));
        // One more failure right away empties it again.
        assert_eq!(
            t.failed_at(a, now + Duration::from_secs(10)),
            Failure::Throttled
        );
        assert!(t.allows_at(a, now + Duration::from_secs(60)));
    }

    #[test]
    fn other_addresses_are_not_affected() {
        let t = LoginThrottle::new(2);
        let now = Instant::now();
        t.failed_at(ip("192.0.2.1"), now);
        t.failed_at(ip("192.0.2.1"), now);
        assert!(!t.allows_at(ip("192.0.2.1"), now));
        assert!(t.allows_at(ip("192.0.2.2"), now));
        assert!(t.allows_at(ip("2001:db8::1"), now));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let t = LoginThrottle::new(2);
        let now = Instant::now();
        t.failed_at(ip("2001:db8:1:2::1"), now);
        t.failed_at(ip("2001:db8:1:2::ffff"), now);
        assert!(!t.allows_at(ip("2001:db8:1:2:aaaa::7"), now));
        assert!(t.allows_at(ip("2001:db8:1:3::1"), now));
        t.failed_at(ip("::ffff:192.0.2.9"), now);
        t.failed_at(ip("192.0.2.9"), now);
        assert!(!t.allows_at(ip("192.0.2.9"), now));
    }

    #[test]
    fn zero_turns_it_off() {
        let t = LoginThrottle::new(0);
        let a = ip("192.0.2.1");
        for _ in 0..100 {
            assert_eq!(t.failed(a), Failure::Counted);
        }
        assert!(t.allows(a));
        assert_eq!(t.retry_after(a), Duration::ZERO);
    }

    #[test]
    fn table_stays_bounded() {
        let t = LoginThrottle::new(10);
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 1000) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed_at(addr, now + Duration::from_micros(u64::from(i)));
        }
        assert!(t.tracked() <= MAX_TRACKED, "{}", t.tracked());
    }
}
