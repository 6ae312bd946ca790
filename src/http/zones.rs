//! Which clock each tutor reads on her page: her time zone from the tutor directory
//! (`http.tutor_directory`, the notifier's file), the directory's default zone for a
//! tutor it does not list, and Asia/Shanghai (the directory's own default) when no
//! directory is configured.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use crate::model::EventTime;
use crate::notify::local_time::format_local;
use crate::notify::Directory;

/// A tutor's zone when no directory says otherwise: the directory's default.
pub const DEFAULT_ZONE: Tz = chrono_tz::Asia::Shanghai;

#[derive(Clone, Debug)]
pub struct TutorZones {
    default: Tz,
    tutors: HashMap<String, Tz>,
}

impl Default for TutorZones {
    fn default() -> Self {
        TutorZones {
            default: DEFAULT_ZONE,
            tutors: HashMap::new(),
        }
    }
}

impl TutorZones {
    pub fn from_directory(directory: &Directory) -> TutorZones {
        TutorZones {
            // The fallback desk keeps the directory's `[defaults]` zone.
            default: directory.fallback.time_zone,
            tutors: directory
                .tutors
                .iter()
                .map(|(id, desk)| (id.clone(), desk.time_zone))
                .collect(),
        }
    }

    /// The zones of the directory at `path`, or the default for everyone without one.
    pub fn load(path: Option<&str>) -> anyhow::Result<TutorZones> {
        match path {
            None => Ok(TutorZones::default()),
            Some(path) => Ok(TutorZones::from_directory(&Directory::load(Path::new(
                path,
            ))?)),
        }
    }

    pub fn of(&self, tutor: &str) -> Tz {
        self.tutors.get(tutor).copied().unwrap_or(self.default)
    }

    pub fn listed(&self) -> usize {
        self.tutors.len()
    }
}

/// An RFC 3339 instant as the tutor reads it (`2026-03-01 23:00 CST`); text that is not
/// one is shown as it is.
pub fn local(tz: Tz, rfc3339: &str) -> String {
    match EventTime::parse_rfc3339(rfc3339) {
        Ok(at) => format_local(tz, at),
        Err(_) => rfc3339.to_owned(),
    }
}

/// The zone's abbreviations by UTC offset, keyed as a browser's `Intl` names offsets
/// (`GMT+08:00`, `GMT` for none), over the two years from `around`'s: the page's script
/// shows live alerts' times with the same names as the server.
pub fn abbreviations(tz: Tz, around: EventTime) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::new();
    let start = chrono::DateTime::from_timestamp_millis(around.as_millis())
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .with_timezone(&tz);
    for month in 0..24 {
        let (year, month) = (
            chrono::Datelike::year(&start) + month / 12,
            (month % 12) as u32 + 1,
        );
        let Some(naive) =
            chrono::NaiveDate::from_ymd_opt(year, month, 15).and_then(|d| d.and_hms_opt(12, 0, 0))
        else {
            continue;
        };
        let at = tz.from_utc_datetime(&naive);
        let seconds = at.offset().fix().local_minus_utc();
        let key = if seconds == 0 {
            "GMT".to_owned()
        } else {
            let (sign, s) = if seconds < 0 {
                ('-', -seconds)
            } else {
                ('+', seconds)
            };
            format!("GMT{sign}{:02}:{:02}", s / 3600, s / 60 % 60)
        };
        if !names.iter().any(|(k, _)| *k == key) {
            names.push((key, at.format("%Z").to_string()));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRECTORY: &str = r#"
page_url = "https://retention.example.com/tutors"
fallback = "lead"

[defaults]
time_zone = "Asia/Shanghai"

[channels.lead]
kind = "slack"
url_env = "SLACK_URL"

[tutors.t1]
name = "Li Na"
channels = ["lead"]

[tutors.t2]
name = "Anna"
time_zone = "Europe/Berlin"
channels = ["lead"]
"#;

    #[test]
    fn each_tutor_reads_her_own_zone_and_others_the_directorys_default() {
        let zones = TutorZones::from_directory(&Directory::from_toml(DIRECTORY).unwrap());
        assert_eq!(zones.of("t2"), chrono_tz::Europe::Berlin);
        assert_eq!(zones.of("t1"), chrono_tz::Asia::Shanghai);
        assert_eq!(zones.of("not-listed"), chrono_tz::Asia::Shanghai);
        let none = TutorZones::load(None).unwrap();
        assert_eq!(none.of("anyone"), DEFAULT_ZONE);
        let missing = TutorZones::load(Some("/no/such/tutors.toml")).unwrap_err();
        assert!(format!("{missing:#}").contains("/no/such/tutors.toml"));
    }

    #[test]
    fn instants_show_on_the_tutors_clock() {
        assert_eq!(
            local(DEFAULT_ZONE, "2026-03-01T15:00:00.000Z"),
            "2026-03-01 23:00 CST"
        );
        assert_eq!(
            local(chrono_tz::Europe::Berlin, "2026-07-01T15:00:00.000Z"),
            "2026-07-01 17:00 CEST"
        );
        assert_eq!(local(DEFAULT_ZONE, "-"), "-");
    }

    #[test]
    fn abbreviations_cover_both_sides_of_daylight_saving() {
        let at = EventTime::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        assert_eq!(
            abbreviations(DEFAULT_ZONE, at),
            vec![("GMT+08:00".to_owned(), "CST".to_owned())]
        );
        let berlin = abbreviations(chrono_tz::Europe::Berlin, at);
        assert!(berlin.contains(&("GMT+01:00".to_owned(), "CET".to_owned())));
        assert!(berlin.contains(&("GMT+02:00".to_owned(), "CEST".to_owned())));
        assert_eq!(
            abbreviations(chrono_tz::UTC, at),
            vec![("GMT".to_owned(), "UTC".to_owned())]
        );
        let ny = abbreviations(chrono_tz::America::St_Johns, at);
        assert!(
            ny.contains(&("GMT-03:30".to_owned(), "NST".to_owned())),
            "{ny:?}"
        );
    }
}
