//! SPEC §6, after-sales: `AFTER_SALES_OVERDUE` once a ticket has been open for
//! `alerts.after_sales_sla` (48 h) without being resolved, once per ticket; CRITICAL for a
//! member of the two highest segments, WARNING for the next two, NOTICE otherwise. The
//! warning says how many hours the ticket had been open (the SLA, or more for a late
//! "opened" event).

use super::Pending;
use crate::engine::member::{Ticket, TicketState};
use crate::engine::warning::{Detail, Label, WarningKind};
use crate::engine::{Segment, Severity};
use crate::model::{EventTime, Span};

/// Warns of every open ticket past its SLA at `at`, marking it warned.
#[inline]
pub(in crate::engine) fn fire(
    tickets: &mut [Ticket],
    sla: Span,
    at: EventTime,
    target: Segment,
    pending: &mut Vec<Pending>,
) {
    for ticket in tickets.iter_mut() {
        if ticket.state == TicketState::Open && ticket.opened_at + sla <= at {
            ticket.state = TicketState::OpenWarned;
            pending.push(Pending {
                kind: WarningKind::AfterSalesOverdue,
                severity: severity(target),
                from: None,
                to: Some(Label::Segment(target)),
                detail: Detail::Ticket {
                    ticket_id: ticket.id.clone(),
                    open_hours: (at - ticket.opened_at).as_millis() / 3_600_000,
                },
                notify: false,
            });
        }
    }
}

fn severity(target: Segment) -> Severity {
    match target {
        Segment::ImportantValue | Segment::ImportantDevelopment => Severity::Critical,
        Segment::ImportantMaintain | Segment::ImportantRetain => Severity::Warning,
        _ => Severity::Notice,
    }
}

/// When each open ticket not yet warned about reaches its SLA.
#[inline]
pub(in crate::engine) fn next(
    tickets: &[Ticket],
    sla: Span,
) -> impl Iterator<Item = EventTime> + '_ {
    tickets
        .iter()
        .filter(|t| t.state == TicketState::Open)
        .map(move |t| t.opened_at + sla)
}
