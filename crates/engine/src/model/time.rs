//! Event time and spans of it, in whole milliseconds since the Unix epoch (UTC).
//!
//! An instant's text (RFC 3339: `Display`, `parse_rfc3339`, serde's human-readable form)
//! is [`super::rfc3339`]'s. Nothing here reads a clock: the engine is driven by event time
//! alone, and the edges pass wall-clock readings in as values.

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant of event time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

/// A length of event time in milliseconds. Signed so that differences of instants are total.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("timestamp is not RFC 3339 with an offset: {0}")]
    Malformed(String),
    #[error("timestamp is outside the supported range")]
    OutOfRange,
}

impl Span {
    pub const ZERO: Span = Span(0);
    pub const MILLI: Span = Span(1);
    pub const SECOND: Span = Span(1_000);
    pub const MINUTE: Span = Span(60_000);
    pub const HOUR: Span = Span(3_600_000);
    pub const DAY: Span = Span(86_400_000);

    pub const fn millis(ms: i64) -> Span {
        Span(ms)
    }
    pub const fn seconds(s: i64) -> Span {
        Span(s * 1_000)
    }
    pub const fn minutes(m: i64) -> Span {
        Span(m * 60_000)
    }
    pub const fn hours(h: i64) -> Span {
        Span(h * 3_600_000)
    }
    pub const fn days(d: i64) -> Span {
        Span(d * 86_400_000)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// Whole days, rounded towards negative infinity.
    pub const fn whole_days(self) -> i64 {
        self.0.div_euclid(Span::DAY.0)
    }
    pub const fn times(self, n: i64) -> Span {
        Span(self.0 * n)
    }

    /// Parses a configuration duration: an integer followed by `ms`, `s`, `m`, `h` or `d`
    /// (`"7d"`, `"48h"`, `"500ms"`). Calendar units are deliberately absent: a "month" in
    /// this domain is a tenure month of exactly 30 days, spelled `30d`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration `{text}` has no unit (ms, s, m, h, d)"))?;
        let (digits, unit) = text.split_at(split);
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("duration `{text}` does not start with a whole number"))?;
        let unit_ms = match unit {
            "ms" => 1,
            "s" => Span::SECOND.0,
            "m" => Span::MINUTE.0,
            "h" => Span::HOUR.0,
            "d" => Span::DAY.0,
            other => return Err(format!("duration `{text}` has unknown unit `{other}`")),
        };
        n.checked_mul(unit_ms)
            .map(Span)
            .ok_or_else(|| format!("duration `{text}` is too large"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, name) in [
            (Span::DAY.0, "d"),
            (Span::HOUR.0, "h"),
            (Span::MINUTE.0, "m"),
            (1_000, "s"),
        ] {
            if ms != 0 && ms % unit == 0 {
                return write!(f, "{}{name}", ms / unit);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// Text in human-readable formats; milliseconds in binary ones (state snapshots).
impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            return i64::deserialize(d).map(Span);
        }
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl EventTime {
    pub const MIN: EventTime = EventTime(i64::MIN);
    pub const MAX: EventTime = EventTime(i64::MAX);

    pub const fn from_millis(ms: i64) -> EventTime {
        EventTime(ms)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, span: Span) -> EventTime {
        EventTime(self.0.saturating_add(span.0))
    }
    pub fn saturating_sub(self, span: Span) -> EventTime {
        EventTime(self.0.saturating_sub(span.0))
    }
}

impl Add<Span> for EventTime {
    type Output = EventTime;
    fn add(self, rhs: Span) -> EventTime {
        self.saturating_add(rhs)
    }
}

impl Sub<Span> for EventTime {
    type Output = EventTime;
    fn sub(self, rhs: Span) -> EventTime {
        self.saturating_sub(rhs)
    }
}

impl Sub<EventTime> for EventTime {
    type Output = Span;
    fn sub(self, rhs: EventTime) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc_millis() {
        let t = EventTime::parse_rfc3339("2026-03-01T08:00:00.123+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T00:00:00.123Z");
    }

    #[test]
    fn rfc3339_without_offset_is_rejected() {
        assert!(EventTime::parse_rfc3339("2026-03-01T08:00:00").is_err());
    }

    #[test]
    fn spans_parse_and_print_in_their_largest_whole_unit() {
        assert_eq!(Span::parse("7d").unwrap(), Span::days(7));
        assert_eq!(Span::parse("48h").unwrap(), Span::hours(48));
        assert_eq!(Span::parse("500ms").unwrap(), Span::millis(500));
        assert_eq!(Span::hours(48).to_string(), "2d");
        assert_eq!(Span::minutes(90).to_string(), "90m");
        assert!(Span::parse("7 weeks").is_err());
        assert!(Span::parse("d").is_err());
    }
}
