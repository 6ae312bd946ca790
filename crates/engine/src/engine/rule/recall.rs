//! SPEC §4, recall: while she is in `decline`, `RECALL_DUE` (NOTICE) at each offset of
//! `lifecycle.recall_schedule` (1, 3, 5, 10, 15 and 30 days) from where the decline
//! began, or, when a late event put her in decline, from the instant it was applied: a
//! schedule never starts in the past (SPEC §3). An order ends the schedule; the next
//! decline starts it again.

use super::Pending;
use crate::engine::lifecycle::{decline_entry, Stage};
use crate::engine::warning::{Detail, Label, WarningKind};
use crate::engine::{Segment, Severity};
use crate::model::{EventTime, Span};

/// Fires each attempt due by `at`; returns the schedule's anchor (`None` outside decline)
/// and the attempts sent so far.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(in crate::engine) fn fire(
    stage: Stage,
    last_order: Option<EventTime>,
    anchor: Option<EventTime>,
    fired: u8,
    schedule: &[Span],
    at: EventTime,
    target: Segment,
    pending: &mut Vec<Pending>,
) -> (Option<EventTime>, u8) {
    let (Stage::Decline, Some(last)) = (stage, last_order) else {
        return (None, 0);
    };
    let from = anchor.unwrap_or_else(|| decline_entry(last).max(at));
    let mut fired = fired;
    while let Some(offset) = schedule.get(usize::from(fired)) {
        if from + *offset > at {
            break;
        }
        fired += 1;
        pending.push(Pending {
            kind: WarningKind::RecallDue,
            severity: Severity::Notice,
            from: None,
            to: Some(Label::Segment(target)),
            detail: Detail::RecallAttempt(fired),
            notify: false,
        });
    }
    (Some(from), fired)
}

/// When the next attempt is due for a member in decline since `declines`, the schedule
/// anchored at `anchor` if a late event moved it.
#[inline]
pub(in crate::engine) fn next(
    anchor: Option<EventTime>,
    declines: EventTime,
    fired: u8,
    schedule: &[Span],
) -> Option<EventTime> {
    let offset = schedule.get(usize::from(fired))?;
    Some(anchor.unwrap_or(declines) + *offset)
}
