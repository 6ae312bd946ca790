//! SPEC §6: after-sales SLA and the per-member contact cap.

mod common;

use churnwatch::engine::{Severity, WarningKind::*};
use churnwatch::model::{Span, TicketStatus};
use common::*;

#[test]
fn an_after_sales_ticket_still_open_after_48_hours_warns_once() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 80, day(0));
    s.ticket("m1", "k1", TicketStatus::Opened, at(1, 0));
    s.advance(at(3, 0) - MS);
    assert!(s.of_kind(AfterSalesOverdue).is_empty());
    s.advance(day(20));
    let w = s.of_kind(AfterSalesOverdue);
    assert_eq!(
        w.iter().map(|w| w.event_time).collect::<Vec<_>>(),
        vec![at(3, 0)]
    );
    assert_eq!(
        w[0].severity,
        Severity::Notice,
        "a general member's ticket is a notice"
    );
}

#[test]
fn a_ticket_resolved_within_the_sla_does_not_warn_and_cannot_be_reopened_by_redelivery() {
    let mut s = Scenario::new();
    s.ticket("m1", "k1", TicketStatus::Opened, at(1, 0));
    s.ticket("m1", "k1", TicketStatus::Resolved, at(2, 0));
    s.ticket("m1", "k1", TicketStatus::Opened, at(2, 1));
    s.advance(day(10));
    assert!(s.of_kind(AfterSalesOverdue).is_empty());
}

/// SPEC §3: a resolution at the very instant the SLA runs out is part of the state then.
#[test]
fn a_ticket_resolved_exactly_at_opened_plus_48_hours_is_not_overdue() {
    let mut s = Scenario::new();
    s.ticket("m1", "k1", TicketStatus::Opened, at(1, 0));
    s.ticket("m1", "k1", TicketStatus::Resolved, at(3, 0));
    s.ticket("m1", "k2", TicketStatus::Opened, at(4, 0));
    s.ticket("m1", "k2", TicketStatus::Resolved, at(6, 0) + MS);
    s.advance(day(10));
    let overdue = s.of_kind(AfterSalesOverdue);
    assert_eq!(
        overdue.iter().map(|w| w.event_time).collect::<Vec<_>>(),
        vec![at(6, 0)],
        "only the one resolved a millisecond too late"
    );
}

#[test]
fn after_sales_severity_rises_with_the_members_segment() {
    let mut s = Scenario::new();
    s.order("vip", "o1", 1500, day(0));
    s.ticket("vip", "k1", TicketStatus::Opened, day(0));
    s.order("keep", "o2", 600, day(0));
    s.ticket("keep", "k2", TicketStatus::Opened, day(6));
    s.order("low", "o3", 20, day(0));
    s.ticket("low", "k3", TicketStatus::Opened, day(0));
    s.advance(day(9));
    let by_member = |m: &str| {
        s.for_member(m)
            .into_iter()
            .find(|w| w.kind == AfterSalesOverdue)
            .map(|w| w.severity)
    };
    assert_eq!(
        by_member("vip"),
        Some(Severity::Critical),
        "important_value"
    );
    assert_eq!(
        by_member("keep"),
        Some(Severity::Warning),
        "important_maintain on day 8"
    );
    assert_eq!(
        by_member("low"),
        Some(Severity::Notice),
        "general_development"
    );
}

#[test]
fn at_most_three_non_critical_warnings_per_member_per_seven_days_notify() {
    let mut s = Scenario::new();
    // general_development member; lapse at 30 d, R crossing 30 d, recall attempts after.
    s.order("m1", "o1", 50, day(0));
    s.advance(day(40));
    let w = s.for_member("m1");
    let flags: Vec<_> = w.iter().map(|w| (w.kind, w.event_time, w.notify)).collect();
    assert_eq!(
        flags,
        vec![
            (LoginLapsed, day(30), true),
            (SegmentDowngrade, day(30) + MS, true),
            (RecallDue, day(31) + MS, true),
            (RecallDue, day(33) + MS, false),
            (RecallDue, day(35) + MS, false),
            (RecallDue, day(40) + MS, false),
        ]
        .into_iter()
        .filter(|(_, t, _)| *t <= day(40))
        .collect::<Vec<_>>()
    );
    assert_eq!(s.engine.stats().capped, 2);
    s.advance(day(50));
    let last = s.of_kind(RecallDue).into_iter().last().unwrap();
    assert_eq!(
        (last.event_time, last.notify),
        (day(45) + MS, true),
        "the window (t − 7 d, t] has room again"
    );
}

#[test]
fn critical_warnings_always_notify_and_do_not_use_up_the_cap() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 600, day(0));
    for (i, d) in [1, 2, 3].iter().enumerate() {
        s.ticket(
            "m1",
            &format!("k{i}"),
            TicketStatus::Opened,
            at(*d, 0) - Span::hours(48),
        );
    }
    s.advance(day(15));
    let w = s.for_member("m1");
    let critical: Vec<_> = w
        .iter()
        .filter(|w| w.severity == Severity::Critical)
        .collect();
    // Three overdue tickets while important_development, plus the day-14 fall into general.
    assert_eq!(
        critical
            .iter()
            .filter(|w| w.kind == AfterSalesOverdue)
            .count(),
        3,
        "{w:?}"
    );
    assert_eq!(critical.len(), 4, "{w:?}");
    assert!(critical.iter().all(|w| w.notify));
    assert!(
        w.iter()
            .filter(|w| w.severity != Severity::Critical)
            .all(|w| w.notify),
        "criticals took no slot: {w:?}"
    );
}

/// SPEC §3: everything a late event causes is stamped at the watermark it is applied at,
/// never before (the SLA passed on day 2, but churnwatch learnt of the ticket on day 6).
#[test]
fn a_ticket_reported_late_and_already_past_its_sla_warns_at_once_stamped_at_the_watermark() {
    let mut s = Scenario::new();
    s.login("other", day(6));
    let watermark = s.engine.watermark();
    s.order("m1", "o1", 20, day(0));
    s.ticket("m1", "k1", TicketStatus::Opened, day(0));
    let w = s.of_kind(AfterSalesOverdue);
    assert_eq!(
        w.len(),
        1,
        "the SLA passed on day 2, before the event arrived"
    );
    assert_eq!(
        (w[0].event_time, w[0].emitted_at),
        (watermark, watermark),
        "stamped and emitted at the watermark the late event was applied at"
    );
    let open_hours = match &w[0].figures {
        churnwatch::engine::Figures::Member(f) => match &f.detail {
            churnwatch::engine::Detail::Ticket { open_hours, .. } => *open_hours,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(
        open_hours, 143,
        "open for 6 days less 5 minutes at the warning"
    );
}
