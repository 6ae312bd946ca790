//! SPEC §4, lifecycle and recall: the stage boundaries time alone crosses (decline 30 days
//! after the last order, lost after 90) and, while she is in `decline`, `RECALL_DUE`
//! (NOTICE) at each offset of `lifecycle.recall_schedule` (1, 3, 5, 10, 15 and 30 days)
//! from where the decline began, or, when a late event put her in decline, from the instant it was applied: a
//! schedule never starts in the past (SPEC §3). An order ends the schedule; the next
//! decline starts it again.

use super::{Earliest, Pending};
use crate::engine::lifecycle::{decline_entry, Stage, LOST_AFTER};
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

/// Offers the next instant her lifecycle stage or her recall schedule changes, for a
/// member whose last order was at `last`, in `stage` at `now`: entering decline; once in
/// it, the next attempt and entering lost.
#[inline]
pub(in crate::engine) fn next(
    last: EventTime,
    stage: Stage,
    anchor: Option<EventTime>,
    fired: u8,
    schedule: &[Span],
    now: EventTime,
    member: &mut Earliest,
) {
    let declines = decline_entry(last);
    if declines > now {
        member.consider(declines);
        return;
    }
    member.consider(last + LOST_AFTER + Span::MILLI);
    if stage == Stage::Decline {
        if let Some(offset) = schedule.get(usize::from(fired)) {
            member.consider(anchor.unwrap_or(declines) + *offset);
        }
    }
}
