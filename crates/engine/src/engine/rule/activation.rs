//! SPEC §4, activation: a member who has placed no first order
//! `lifecycle.activation_deadline` (14 days) after `joined_at` leaves `new` for
//! `general_retain` with `ACTIVATION_OVERDUE` (NOTICE), provided she was seen without an
//! order before the deadline (a member first heard of after it was never "new" to us).

use crate::engine::Severity;
use crate::model::{EventTime, Span};

pub(in crate::engine) const SEVERITY: Severity = Severity::Notice;

/// Whether the deadline has passed at `now` (strictly after `joined_at + deadline`).
#[inline]
pub(in crate::engine) fn expired(joined_at: EventTime, deadline: Span, now: EventTime) -> bool {
    now - joined_at > deadline
}

/// Whether leaving `new` without an order is news: she was seen unordered by the deadline.
#[inline]
pub(in crate::engine) fn overdue(
    joined_at: EventTime,
    deadline: Span,
    first_seen_unordered: Option<EventTime>,
) -> bool {
    let deadline = joined_at + deadline;
    first_seen_unordered.is_some_and(|seen| deadline >= seen)
}

/// The first instant the deadline has passed.
#[inline]
pub(in crate::engine) fn next(joined_at: EventTime, deadline: Span) -> EventTime {
    joined_at + deadline + Span::MILLI
}
