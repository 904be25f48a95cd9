//! Timestamp labels.
//!
//! TAXII timestamp labels are RFC 3339 date-times with a zone and at most six fraction
//! digits. Producers vary (0, 3, 6 or 9 digits, `Z` or offsets), so reading is tolerant
//! within RFC 3339 while writing is canonical: always UTC, six digits, `Z`.
//!
//! Parsing rules (see [`Timestamp::parse`]):
//! - date `YYYY-MM-DD`, separator `T`, `t` or a space, time `hh:mm:ss`;
//! - an optional fraction of 1 to 9 digits; digits past the sixth are dropped, which moves
//!   the instant toward the past (never an error);
//! - a required zone: `Z`, `z`, `+hh:mm` or `-hh:mm` (`-00:00` is UTC);
//! - a leap second (`:60`) is clamped to `:59.999999` of the same minute, so it still sorts
//!   after every earlier label and before the next minute;
//! - years 0001 to 9999, both before and after applying the offset.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;
/// Longest input echoed back in an error message.
const MAX_ECHO: usize = 64;

/// Microseconds since the Unix epoch, UTC.
///
/// Ordering is chronological, which is what poll windows and label ordering need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a timestamp could not be read. The message names the value (cut to 64 characters)
/// and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {value:?}: {reason}")]
pub struct TsError {
    /// The offending input, shortened if long.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TsError {
    fn new(input: &str, reason: &'static str) -> Self {
        let value = match input.char_indices().nth(MAX_ECHO) {
            Some((cut, _)) => format!("{}...", &input[..cut]),
            None => input.to_string(),
        };
        TsError { value, reason }
    }
}

// === impl Timestamp ===

impl Timestamp {
    /// The instant `us` microseconds after the Unix epoch.
    pub const fn from_micros(us: i64) -> Self {
        Timestamp(us)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
        };
        Timestamp(micros)
    }

    /// Parse an RFC 3339 timestamp that carries a zone (see the module docs for the rules).
    pub fn parse(s: &str) -> Result<Self, TsError> {
        parse_with(s, false)
    }

    /// Like [`Timestamp::parse`], but a value without a zone is read as UTC. For sources
    /// that omit the zone (OTX indicator times, cursors saved by older configurations).
    pub fn parse_assume_utc(s: &str) -> Result<Self, TsError> {
        parse_with(s, true)
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDThh:mm:ss.ffffffZ`, always UTC with six fraction digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let in_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = in_day / MICROS_PER_SECOND;
        let micros = in_day % MICROS_PER_SECOND;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            year,
            month,
            day,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            micros
        )
    }
}

impl FromStr for Timestamp {
    type Err = TsError;

    /// Same as [`Timestamp::parse`]: a zone is required.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

// === parsing ===

/// A cursor over the ASCII bytes of a timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Exactly `n` decimal digits as a number.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let slice = self.bytes.get(self.pos..self.pos + n)?;
        let mut value = 0i64;
        for &b in slice {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(b - b'0');
        }
        self.pos += n;
        Some(value)
    }

    fn expect(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

fn parse_with(s: &str, assume_utc: bool) -> Result<Timestamp, TsError> {
    let err = |reason| TsError::new(s, reason);
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };

    // Date.
    let year = c.digits(4).ok_or_else(|| err("expected a 4-digit year"))?;
    if !c.expect(b'-') {
        return Err(err("expected '-' after the year"));
    }
    let month = c.digits(2).ok_or_else(|| err("expected a 2-digit month"))?;
    if !c.expect(b'-') {
        return Err(err("expected '-' after the month"));
    }
    let day = c.digits(2).ok_or_else(|| err("expected a 2-digit day"))?;
    if c.at_end() {
        return Err(err("a date without a time is not a timestamp"));
    }
    if !(1..=9999).contains(&year) {
        return Err(err("year out of range 0001..=9999"));
    }
    if !(1..=12).contains(&month) {
        return Err(err("month out of range 01..=12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err("day does not exist in that month"));
    }

    // Time.
    if !(c.expect(b'T') || c.expect(b't') || c.expect(b' ')) {
        return Err(err("expected 'T' between date and time"));
    }
    let hour = c.digits(2).ok_or_else(|| err("expected a 2-digit hour"))?;
    if !c.expect(b':') {
        return Err(err("expected ':' after the hour"));
    }
    let minute = c.digits(2).ok_or_else(|| err("expected 2-digit minutes"))?;
    if !c.expect(b':') {
        return Err(err("expected ':' after the minutes"));
    }
    let second = c.digits(2).ok_or_else(|| err("expected 2-digit seconds"))?;
    if hour > 23 {
        return Err(err("hour out of range 00..=23"));
    }
    if minute > 59 {
        return Err(err("minutes out of range 00..=59"));
    }
    if second > 60 {
        return Err(err("seconds out of range 00..=60"));
    }

    // Fraction: keep six digits, drop the rest (toward the past).
    let mut micros = 0i64;
    if c.expect(b'.') {
        let start = c.pos;
        while c.peek().is_some_and(|b| b.is_ascii_digit()) {
            let digit = i64::from(c.bytes[c.pos] - b'0');
            if c.pos - start < 6 {
                micros = micros * 10 + digit;
            }
            c.pos += 1;
        }
        let count = c.pos - start;
        if count == 0 {
            return Err(err("expected digits after '.'"));
        }
        if count > 9 {
            return Err(err("more than 9 fraction digits"));
        }
        for _ in count..6 {
            micros *= 10;
        }
    }
    if second == 60 {
        // Leap second: the last representable instant of the minute.
        micros = MICROS_PER_SECOND - 1;
    }
    let second = second.min(59);

    // Zone.
    let offset_minutes = match c.peek() {
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let oh = c
                .digits(2)
                .ok_or_else(|| err("expected a 2-digit offset hour"))?;
            if !c.expect(b':') {
                return Err(err("expected ':' in the zone offset"));
            }
            let om = c
                .digits(2)
                .ok_or_else(|| err("expected 2-digit offset minutes"))?;
            if oh > 23 || om > 59 {
                return Err(err("zone offset out of range"));
            }
            let total = oh * 60 + om;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        None if assume_utc => 0,
        None => return Err(err("no time zone (expected 'Z' or an offset like +00:00)")),
        Some(_) => return Err(err("unexpected character where the zone should be")),
    };
    if !c.at_end() {
        return Err(err("unexpected characters after the zone"));
    }

    let local_seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    let utc_seconds = local_seconds - offset_minutes * 60;
    let first = days_from_civil(1, 1, 1) * SECONDS_PER_DAY;
    let last = days_from_civil(9999, 12, 31) * SECONDS_PER_DAY + SECONDS_PER_DAY - 1;
    if utc_seconds < first || utc_seconds > last {
        return Err(err(
            "instant outside years 0001..=9999 once the offset is applied",
        ));
    }
    Ok(Timestamp(utc_seconds * MICROS_PER_SECOND + micros))
}

// === calendar ===

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
///
/// Counts in 400-year eras that start on March 1st, so the leap day is the last day of
/// its era-year and needs no special case.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0 ... February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
