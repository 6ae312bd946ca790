//! A tutor's own clock: times of day, quiet hours and the next local occurrence of a time,
//! in her IANA time zone. Pure functions of an instant; the clock is read at the edge.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::model::EventTime;

/// A time of day on a wall clock, to the minute: `"08:00"`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const fn hm(hours: u16, minutes: u16) -> TimeOfDay {
        TimeOfDay(hours * 60 + minutes)
    }

    fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(text: &str) -> Result<TimeOfDay, String> {
        let bad = || format!("`{text}` is not a time of day (HH:MM, 00:00 to 23:59)");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 || text.len() != 5 {
            return Err(bad());
        }
        Ok(TimeOfDay::hm(h, m))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Quiet hours, `[start, end)` on the local clock; a start after the end spans midnight
/// (`22:00-08:00`), equal ends mean none.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl QuietHours {
    pub const NONE: QuietHours = QuietHours {
        start: TimeOfDay(0),
        end: TimeOfDay(0),
    };

    /// Whether `at` falls in them on `tz`'s clock.
    pub fn contains(&self, tz: Tz, at: EventTime) -> bool {
        let local = local(tz, at);
        let m = (local.hour() * 60 + local.minute()) as u16;
        let (s, e) = (self.start.minutes(), self.end.minutes());
        match s.cmp(&e) {
            std::cmp::Ordering::Less => s <= m && m < e,
            std::cmp::Ordering::Greater => m >= s || m < e,
            std::cmp::Ordering::Equal => false,
        }
    }

    /// When quiet hours that hold at `at` end.
    pub fn end_after(&self, tz: Tz, at: EventTime) -> EventTime {
        next_local(tz, at, self.end)
    }
}

impl FromStr for QuietHours {
    type Err = String;

    fn from_str(text: &str) -> Result<QuietHours, String> {
        if text == "none" {
            return Ok(QuietHours::NONE);
        }
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| format!("`{text}` is not quiet hours (HH:MM-HH:MM, or none)"))?;
        Ok(QuietHours {
            start: start.parse()?,
            end: end.parse()?,
        })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            f.write_str("none")
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

fn utc(at: EventTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.as_millis()).unwrap_or(DateTime::UNIX_EPOCH)
}

fn local(tz: Tz, at: EventTime) -> DateTime<Tz> {
    utc(at).with_timezone(&tz)
}

/// The first instant at which `naive` (a local wall time) or, in a gap the clocks
/// skipped, the first wall time after it exists; the earlier of two when it repeats.
fn resolve(tz: Tz, naive: NaiveDateTime) -> EventTime {
    let mut wall = naive;
    // A DST gap is an hour (at most a few in history): step past it a minute at a time.
    for _ in 0..(4 * 60) {
        match tz.from_local_datetime(&wall) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return EventTime::from_millis(t.timestamp_millis())
            }
            LocalResult::None => wall += Duration::minutes(1),
        }
    }
    EventTime::from_millis(tz.from_utc_datetime(&naive).timestamp_millis())
}

/// The first instant after `at` at which `tz`'s clock shows `time` (the next day's if
/// today's has passed).
pub fn next_local(tz: Tz, at: EventTime, time: TimeOfDay) -> EventTime {
    let date = local(tz, at).date_naive();
    let m = u32::from(time.minutes());
    for day in 0..3 {
        let Some(wall) = (date + Duration::days(day)).and_hms_opt(m / 60, m % 60, 0) else {
            continue;
        };
        let candidate = resolve(tz, wall);
        if candidate > at {
            return candidate;
        }
    }
    // Unreachable for any real zone (a day later always comes after `at`); a day on.
    at + crate::model::Span::days(1)
}

/// An instant as a tutor reads it: `2026-03-01 09:00 CST`.
pub fn format_local(tz: Tz, at: EventTime) -> String {
    local(tz, at).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> EventTime {
        EventTime::parse_rfc3339(text).unwrap()
    }

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn quiet_hours_span_midnight_on_the_tutors_own_clock() {
        let quiet: QuietHours = "22:00-08:00".parse().unwrap();
        // 21:59 and 08:00 in Shanghai (UTC+8) are outside, 22:00 and 07:59 inside.
        assert!(!quiet.contains(SHANGHAI, t("2026-03-01T13:59:00Z")));
        assert!(quiet.contains(SHANGHAI, t("2026-03-01T14:00:00Z")));
        assert!(quiet.contains(SHANGHAI, t("2026-03-01T23:59:59Z")));
        assert!(!quiet.contains(SHANGHAI, t("2026-03-02T00:00:00Z")));
        assert_eq!(
            quiet.end_after(SHANGHAI, t("2026-03-01T15:00:00Z")),
            t("2026-03-02T00:00:00Z"),
            "08:00 the next morning, Shanghai time"
        );
        // The same UTC instant is daytime in Berlin.
        assert!(!quiet.contains(BERLIN, t("2026-03-01T15:00:00Z")));
        assert!(!QuietHours::NONE.contains(SHANGHAI, t("2026-03-01T15:00:00Z")));
    }

    #[test]
    fn the_next_local_time_follows_daylight_saving() {
        let nine = TimeOfDay::hm(9, 0);
        // Berlin is UTC+1 in March until the 29th, UTC+2 after.
        assert_eq!(
            next_local(BERLIN, t("2026-03-28T09:00:00Z"), nine),
            t("2026-03-29T07:00:00Z"),
            "09:00 CEST on the day the clocks went forward"
        );
        assert_eq!(
            next_local(BERLIN, t("2026-03-27T07:59:00Z"), nine),
            t("2026-03-27T08:00:00Z")
        );
        // 02:30 does not exist on 2026-03-29 in Berlin: the first wall time after the gap.
        assert_eq!(
            next_local(BERLIN, t("2026-03-28T12:00:00Z"), TimeOfDay::hm(2, 30)),
            t("2026-03-29T01:00:00Z")
        );
        // Strictly after: at 09:00 sharp the next is tomorrow's.
        assert_eq!(
            next_local(SHANGHAI, t("2026-03-01T01:00:00Z"), nine),
            t("2026-03-02T01:00:00Z")
        );
    }

    #[test]
    fn times_of_day_and_quiet_hours_parse_strictly() {
        assert_eq!("08:05".parse::<TimeOfDay>(), Ok(TimeOfDay::hm(8, 5)));
        for bad in ["8:05", "24:00", "12:60", "noon", "12:00:00"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        assert_eq!("none".parse::<QuietHours>(), Ok(QuietHours::NONE));
        assert_eq!(
            "22:00-08:00".parse::<QuietHours>().unwrap().to_string(),
            "22:00-08:00"
        );
        assert!("22:00".parse::<QuietHours>().is_err());
        assert_eq!(
            format_local(SHANGHAI, t("2026-03-01T01:00:00Z")),
            "2026-03-01 09:00 CST"
        );
    }
}
