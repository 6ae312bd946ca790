//! SPEC §6, login lapse: `LOGIN_LAPSED` once she has not logged in for each span of
//! `lifecycle.login_lapse` (default 30 and 60 days), one warning per span, counted from
//! her last login (or, never seen logging in, her first sighting); the last span's is a
//! WARNING, the others NOTICE. A login starts the count again.

use super::Pending;
use crate::engine::warning::{Detail, Label, WarningKind};
use crate::engine::{Segment, Severity};
use crate::model::{EventTime, Span};

/// Fires each lapse reached by `at` beyond the `fired` already sent (a late event may
/// reach several at once), counting them in `fired`.
#[inline]
pub(in crate::engine) fn fire(
    login_ref: EventTime,
    lapses: &[Span],
    fired: &mut u8,
    at: EventTime,
    target: Segment,
    pending: &mut Vec<Pending>,
) {
    while let Some(lapse) = lapses.get(usize::from(*fired)) {
        if login_ref + *lapse > at {
            break;
        }
        *fired += 1;
        let severity = if usize::from(*fired) == lapses.len() {
            Severity::Warning
        } else {
            Severity::Notice
        };
        pending.push(Pending {
            kind: WarningKind::LoginLapsed,
            severity,
            from: None,
            to: Some(Label::Segment(target)),
            detail: Detail::DaysSinceLogin(lapse.whole_days()),
            notify: false,
        });
    }
}

/// When the next lapse fires, if one is left.
#[inline]
pub(in crate::engine) fn next(
    login_ref: EventTime,
    lapses: &[Span],
    fired: u8,
) -> Option<EventTime> {
    lapses
        .get(usize::from(fired))
        .map(|lapse| login_ref + *lapse)
}
