//! RFC 3339 timestamps, parsed and written in one place: the input's event times, the
//! JSON output's, the queries' and the notifier's. The common forms have fast paths of
//! their own (parsing `YYYY-MM-DDTHH:MM:SS[.fff]Z`; writing with the date of the last
//! instant cached), proven equal to chrono's general parser and formatter by the tests
//! below; everything else goes to chrono.

use std::fmt;

use chrono::DateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::digits::two_digits;
use super::time::{EventTime, TimeError};

pub const MS_PER_DAY: i64 = 86_400_000;

/// Parses RFC 3339 with an explicit offset (`Z` or `±hh:mm`), any sub-second precision;
/// digits beyond the millisecond are truncated.
#[inline]
pub fn parse(text: &str) -> Result<EventTime, TimeError> {
    match utc_millis(text.as_bytes()) {
        Some(t) => Ok(t),
        None => parse_general(text),
    }
}

#[cold]
fn parse_general(text: &str) -> Result<EventTime, TimeError> {
    let parsed =
        DateTime::parse_from_rfc3339(text).map_err(|_| TimeError::Malformed(text.to_owned()))?;
    Ok(EventTime(parsed.timestamp_millis()))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` computed here, the form nearly every event carries;
/// `None` for any other, which [`parse`] hands to chrono.
fn utc_millis(b: &[u8]) -> Option<EventTime> {
    let (frac, len) = match b.len() {
        20 => (false, 20),
        24 => (true, 24),
        _ => return None,
    };
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punct.iter().any(|&(at, c)| b[at] != c) || b[len - 1] != b'Z' {
        return None;
    }
    if frac && b[19] != b'.' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let millis = if frac { num(20, 23)? } else { 0 };
    // A leap second (:60) and anything out of range go to the general parser.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(EventTime::from_millis(
        ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis,
    ))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), as (year, month, day). Exact for every day of `i64 / MS_PER_DAY`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The instants written as a date: chrono's range,
/// `-262143-01-01T00:00:00.000Z ..= +262142-12-31T23:59:59.999Z`. Outside it the raw
/// millisecond count is written.
pub const MIN_MS: i64 = days_from_civil(-262_143, 1, 1) * MS_PER_DAY;
pub const MAX_MS: i64 = (days_from_civil(262_142, 12, 31) + 1) * MS_PER_DAY - 1;

/// The last day written and its `YYYY-MM-DD`: an event time and its emission, and
/// successive warnings of a replay, mostly fall on the same day.
#[derive(Debug)]
pub struct DateCache {
    day: i64,
    date: [u8; 10],
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

impl DateCache {
    pub const fn new() -> DateCache {
        // No instant in the written range falls on day i64::MIN.
        DateCache {
            day: i64::MIN,
            date: [0; 10],
        }
    }
}

/// Appends `t` in UTC with exactly three fractional digits, `2026-01-08T10:00:00.001Z`
/// (the JSON output contract); years outside 0..=9999 signed and at least four digits
/// (`-0001-…`, `+10000-…`), as chrono writes them.
#[inline]
pub fn write(buf: &mut Vec<u8>, dates: &mut DateCache, t: EventTime) {
    let ms = t.as_millis();
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return write_raw(buf, ms);
    }
    let day = ms.div_euclid(MS_PER_DAY);
    let ms_of_day = ms.rem_euclid(MS_PER_DAY) as u32;
    let secs = ms_of_day / 1_000;
    let milli = ms_of_day % 1_000;
    let mut text = *b"YYYY-MM-DDTHH:MM:SS.mmmZ";
    text[11..13].copy_from_slice(&two_digits(secs / 3_600));
    text[14..16].copy_from_slice(&two_digits(secs / 60 % 60));
    text[17..19].copy_from_slice(&two_digits(secs % 60));
    text[20] = b'0' + (milli / 100) as u8;
    text[21..23].copy_from_slice(&two_digits(milli % 100));
    if day != dates.day {
        let (year, month, day) = civil_from_days(day);
        if !(0..=9999).contains(&year) {
            text[5..7].copy_from_slice(&two_digits(month));
            text[8..10].copy_from_slice(&two_digits(day));
            return write_far_year(buf, year, &text[4..]);
        }
        let year = year as u32;
        let date = &mut dates.date;
        date[0..2].copy_from_slice(&two_digits(year / 100));
        date[2..4].copy_from_slice(&two_digits(year % 100));
        date[4] = b'-';
        date[5..7].copy_from_slice(&two_digits(month));
        date[7] = b'-';
        date[8..10].copy_from_slice(&two_digits(day));
    }
    dates.day = day;
    text[0..10].copy_from_slice(&dates.date);
    buf.extend_from_slice(&text);
}

/// Beyond chrono's range (year 262143): the raw number rather than a panic in an output
/// path.
#[cold]
fn write_raw(buf: &mut Vec<u8>, ms: i64) {
    buf.extend_from_slice(ms.to_string().as_bytes());
}

/// chrono's `{:+05}` for years outside 0..=9999: a sign and at least four digits.
#[cold]
fn write_far_year(buf: &mut Vec<u8>, year: i64, rest: &[u8]) {
    buf.extend_from_slice(format!("{year:+05}").as_bytes());
    buf.extend_from_slice(rest);
}

/// `t` as an owned string.
pub fn to_string(t: EventTime) -> String {
    let mut buf = Vec::with_capacity(24);
    write(&mut buf, &mut DateCache::new(), t);
    // Only ASCII digits, signs and punctuation are written.
    String::from_utf8(buf).unwrap_or_default()
}

/// EventTime as text: RFC 3339 is its only textual form.
impl EventTime {
    /// Parses RFC 3339 with an explicit offset (`Z` or `±hh:mm`), any sub-second precision;
    /// digits beyond the millisecond are truncated.
    #[inline]
    pub fn parse_rfc3339(text: &str) -> Result<EventTime, TimeError> {
        parse(text)
    }

    /// RFC 3339 in UTC with exactly three fractional digits: the JSON output contract.
    pub fn to_rfc3339(self) -> String {
        to_string(self)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Text in human-readable formats; milliseconds in binary ones (state snapshots).
impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            return i64::deserialize(d).map(EventTime);
        }
        let text = String::deserialize(d)?;
        EventTime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;

    use super::*;

    /// chrono's formatting: the reference the writer must equal.
    fn chrono_text(ms: i64) -> String {
        match DateTime::from_timestamp_millis(ms) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => ms.to_string(),
        }
    }

    #[track_caller]
    fn assert_written(ms: i64, dates: &mut DateCache) {
        let mut cached = Vec::new();
        write(&mut cached, dates, EventTime(ms));
        let fresh = to_string(EventTime(ms));
        assert_eq!(
            String::from_utf8(cached).unwrap(),
            fresh,
            "{ms} ms, cached vs fresh date"
        );
        assert_eq!(fresh, chrono_text(ms), "{ms} ms");
    }

    #[test]
    fn written_times_match_chrono_over_a_wide_sweep() {
        let mut dates = DateCache::new();
        let day = MS_PER_DAY;
        for d in days_from_civil(1890, 1, 1)..days_from_civil(2110, 1, 1) {
            let midnight = d * day;
            for ms in [midnight - 1, midnight, midnight + 1, midnight + 45_296_789] {
                assert_written(ms, &mut dates);
            }
        }
        for year in -2000..=2400 {
            for (m, d) in [(2, 28), (2, 29), (3, 1), (12, 31), (1, 1)] {
                let ms = days_from_civil(year, m, d) * day;
                for ms in [ms - 1, ms, ms + 43_200_000, ms + day - 1] {
                    assert_written(ms, &mut dates);
                }
            }
        }
        let stride = 1_234_567_890_123;
        let mut ms = MIN_MS;
        while ms <= MAX_MS {
            assert_written(ms, &mut dates);
            ms += stride;
        }
        for edge in [MIN_MS, MAX_MS, 0, -62_167_219_200_000] {
            for delta in -2..=2 {
                assert_written(edge + delta, &mut dates);
            }
        }
        for ms in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, -1, 1] {
            assert_written(ms, &mut dates);
        }
        for year in [
            -262_143, -100_000, -10_000, -1_000, -999, -10, -1, 0, 9999, 10_000,
        ] {
            assert_written(days_from_civil(year, 6, 15) * day + 1, &mut dates);
        }
        assert_eq!(
            to_string(EventTime(1_767_866_400_001)),
            "2026-01-08T10:00:00.001Z"
        );
    }

    /// The fast parser agrees with chrono's wherever it answers, and declines the rest.
    #[test]
    fn utc_timestamps_match_the_general_parser() {
        let mut ms = -62_135_596_800_000i64; // 0001-01-01
        while ms < 253_402_300_799_000 {
            // 9999-12-31
            let t = EventTime::from_millis(ms);
            let text = to_string(t);
            assert_eq!(utc_millis(text.as_bytes()), Some(t), "{text}");
            let whole = text.replace(&text[19..23], "");
            assert_eq!(
                utc_millis(whole.as_bytes()),
                parse_general(&whole).ok(),
                "{whole}"
            );
            ms += 86_400_000 * 13 + 3_600_000 * 7 + 60_000 * 11 + 1_000 * 17 + 389;
        }
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-12-31T23:59:60Z",
            "2026-01-01T00:00:00.1234Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+08:00",
            "+026-01-01T00:00:00Z",
        ] {
            assert_eq!(utc_millis(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(
            utc_millis(b"2024-02-29T12:34:56.789Z"),
            parse_general("2024-02-29T12:34:56.789Z").ok()
        );
    }
}
