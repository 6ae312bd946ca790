//! SPEC §4, RFM segments: every change of segment is a warning, `SEGMENT_DOWNGRADE` to a
//! lower rank and `SEGMENT_UPGRADE` to a higher one, with the severity of the fall;
//! leaving `new` through a first order is none, leaving it at the activation deadline is
//! [`activation`](super::activation)'s. The segment table itself (the ordered rows,
//! ranks, classification) is [`SegmentTable`](crate::engine::SegmentTable); this module
//! is what a change means and when the next one can come.
//!
//! Configured rows bound R from above and M30, F30, F90 from below (SPEC §4), so time
//! alone can only lower a member's rank, and only the current row's bounds can move her:
//! the recency bound passing, or an order leaving a window that row reads.

use super::{activation, Earliest, Pending};
use crate::engine::member::{OrderRec, WINDOW_30, WINDOW_90};
use crate::engine::warning::{Detail, Label, WarningKind};
use crate::engine::{Segment, Severity};
use crate::model::{EventTime, Span};
use crate::settings::SegmentRule;

/// Severity of a segment change: `CRITICAL` for a fall from `important_*` into
/// `general_*`, `WARNING` for other falls out of `important_*`, `NOTICE` otherwise.
pub fn change_severity(from: Segment, to: Segment) -> Severity {
    let downgrade = matches!((from.rank(), to.rank()), (Some(a), Some(b)) if b < a);
    match (downgrade, from.is_important(), to.is_important()) {
        (true, true, false) => Severity::Critical,
        (true, true, true) => Severity::Warning,
        _ => Severity::Notice,
    }
}

/// What she knows about her activation: the deadline, and when she was first seen
/// without an order (see [`activation::overdue`]).
pub(in crate::engine) struct Unordered {
    pub ordered: bool,
    pub joined_at: EventTime,
    pub deadline: Span,
    pub first_seen_unordered: Option<EventTime>,
}

/// The warning of a move from `from` to `target` at `at`, if any. `fell_at` (the tutor's
/// at-risk list: who fell, and when) is set by a fall and cleared by any other change.
#[inline]
pub(in crate::engine) fn fire(
    from: Segment,
    target: Segment,
    unordered: &Unordered,
    at: EventTime,
    fell_at: &mut Option<EventTime>,
    pending: &mut Vec<Pending>,
) {
    if target == from {
        return;
    }
    let kind = match (from, target) {
        (Segment::New, Segment::GeneralRetain) if !unordered.ordered => activation::overdue(
            unordered.joined_at,
            unordered.deadline,
            unordered.first_seen_unordered,
        )
        .then_some(WarningKind::ActivationOverdue),
        // Leaving `new` through a first order is not news.
        (Segment::New, _) => None,
        (f, t) if t.rank() < f.rank() => Some(WarningKind::SegmentDowngrade),
        _ => Some(WarningKind::SegmentUpgrade),
    };
    *fell_at = match kind {
        Some(WarningKind::SegmentDowngrade | WarningKind::ActivationOverdue) => Some(at),
        _ => None,
    };
    let Some(kind) = kind else {
        return;
    };
    let severity = match kind {
        WarningKind::ActivationOverdue => activation::SEVERITY,
        _ => change_severity(from, target),
    };
    pending.push(Pending {
        kind,
        severity,
        from: Some(Label::Segment(from)),
        to: Some(Label::Segment(target)),
        detail: Detail::None,
        notify: false,
    });
}

/// Offers the instants after `now` at which the current row `rule` can stop holding for
/// a member whose last order was at `last` and whose orders are `orders` (ascending):
/// the recency bound passing, the oldest order of a window the row reads leaving it.
/// Returns whether the row reads the 30-day window (then the group's figures need no
/// instant of their own for it: her evaluation then moves them too).
#[inline]
pub(in crate::engine) fn next(
    rule: Option<&SegmentRule>,
    last: EventTime,
    orders: &[OrderRec],
    now: EventTime,
    member: &mut Earliest,
) -> bool {
    let Some(rule) = rule else {
        return false;
    };
    if let Some(bound) = rule.max_recency {
        member.consider(last + bound + Span::MILLI);
    }
    let reads_30 = rule.min_m30.is_some() || rule.min_f30.is_some();
    if reads_30 {
        if let Some(leaves) = first_leaving(orders, now, WINDOW_30) {
            member.consider(leaves);
        }
    }
    if rule.min_f90.is_some() {
        if let Some(leaves) = first_leaving(orders, now, WINDOW_90) {
            member.consider(leaves);
        }
    }
    reads_30
}

/// When the oldest order inside the half-open window `(now - window, now]` leaves it.
#[inline]
pub(in crate::engine) fn first_leaving(
    orders: &[OrderRec],
    now: EventTime,
    window: Span,
) -> Option<EventTime> {
    let since = now - window;
    orders
        .iter()
        .find(|o| o.at() > since)
        .map(|o| o.at() + window)
}
