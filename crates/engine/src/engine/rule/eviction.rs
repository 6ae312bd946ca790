//! SPEC §4, eviction: who may leave the hot state, and when. Neither half emits anything:
//! eviction must be invisible in every output.
//!
//! - A member who left is forgotten once silent for `state.evict_left_after` (unless that
//!   is 0 s), provided no open ticket of hers still awaits its warning. Having left, she
//!   counts in no group's figures, so forgetting her moves none.
//! - Anyone else silent for `state.evict_dormant_after` (unless 0 s) is held as a compact
//!   [`Remainder`] once nothing of hers changes with time any more (no wake-up of hers
//!   or her group's pending, no order, ticket or contact-cap entry left in the state):
//!   she keeps counting in her group, and comes back exactly as she was.

use super::{contact_cap, Earliest};
use crate::engine::member::{Member, MemberState, Remainder, TicketState, Wake};
use crate::engine::Rules;
use crate::model::{EventTime, Span};

/// When she is to be forgotten: a member who left, once silent for
/// `state.evict_left_after` (unless that is 0 s). Nobody else is ever forgotten.
#[inline]
pub(in crate::engine) fn forget_at(m: &MemberState, rules: &Rules) -> Option<EventTime> {
    let after = rules.settings.members.evict_left_after;
    (m.left() && after != Span::ZERO).then(|| m.last_seen() + after)
}

/// Whether she is to be forgotten at `now`: she left, her silence has reached its
/// horizon, and no ticket of hers still awaits its warning.
pub(in crate::engine) fn forgettable(m: &Member<'_>, now: EventTime, rules: &Rules) -> bool {
    forget_at(m, rules).is_some_and(|at| at <= now)
        && !m.tickets().iter().any(|t| t.state == TicketState::Open)
}

/// The first instant from which she can be held as a [`Remainder`], once nothing of hers
/// changes with time: her silence (since `last_seen`) at `state.evict_dormant_after`,
/// and what the remainder drops gone by the horizons that keep it (a resolved ticket at
/// the retention horizon, a contact-cap entry at the end of its window). `None` when
/// that never comes without an event: dormant eviction off, a ticket still open,
/// lifetime figures too large for the remainder.
fn dormant_from(m: &Member<'_>, last_seen: EventTime, rules: &Rules) -> Option<EventTime> {
    let config = &rules.settings;
    let after = config.members.evict_dormant_after;
    if after == Span::ZERO || !m.fits_remainder() {
        return None;
    }
    let mut from = last_seen + after;
    for ticket in m.tickets() {
        if ticket.state != TicketState::Resolved {
            return None;
        }
        from = from.max(ticket.opened_at + config.time.retention_horizon);
    }
    if let Some(empty) = contact_cap::empties_at(&m.cap_log, &config.alerts) {
        from = from.max(empty);
    }
    Some(from)
}

/// Her remainder, if she can leave the hot state at `now`: nothing of hers changes with
/// time any more and her silence has reached its horizon.
pub(in crate::engine) fn remainder_at(
    m: &Member<'_>,
    now: EventTime,
    rules: &Rules,
) -> Option<Remainder> {
    let last_seen = m.last_seen();
    let after = rules.settings.members.evict_dormant_after;
    // Most timer steps are of members heard from within the horizon: that test first.
    if after == Span::ZERO || last_seen + after > now {
        return None;
    }
    let due = dormant_from(m, last_seen, rules).is_some_and(|at| at <= now)
        && forget_at(m, rules).is_none();
    let settled = || m.wake_plan(now, rules).is_none_or(|w| w.eviction);
    if !(due && settled()) {
        return None;
    }
    m.remainder(rules.settings.lifecycle.login_lapse.len())
}

/// Her next wake-up, given the earliest change of hers (`member`) and of her group
/// contribution (`group`) after `now`. Eviction changes no figure of hers, so it is no
/// change of hers: forgetting one who left is due at its horizon (a ticket still to be
/// warned about holds it off, until its SLA, which `member` holds), moving anyone else
/// into a remainder only once nothing about her changes with time any more. An instant
/// already behind her clock (a late `member_left`) is due at once.
#[inline]
pub(in crate::engine) fn plan(
    m: &Member<'_>,
    member: &Earliest,
    group: &Earliest,
    ticket_open: bool,
    last_seen: EventTime,
    now: EventTime,
    rules: &Rules,
) -> Option<Wake> {
    let (m_at, g_at) = (member.get(), group.get());
    let evict = match forget_at(m, rules) {
        Some(at) => (!ticket_open).then_some(at),
        None if m_at.is_none() && g_at.is_none() => dormant_from(m, last_seen, rules),
        None => None,
    }
    .map(|at| at.max(now + Span::MILLI));
    match (m_at, g_at, evict) {
        (m, g, Some(e)) if [m, g].into_iter().flatten().all(|c| e < c) => Some(Wake::eviction(e)),
        (Some(m), Some(g), _) if g < m => Some(Wake::group(g)),
        (Some(at), _, _) => Some(Wake::member(at)),
        (None, Some(at), _) => Some(Wake::group(at)),
        (None, None, _) => None,
    }
}
