//! Bounded state: a member who left is forgotten after `state.evict_left_after` (90 d) of
//! silence, any other member after `state.evict_dormant_after` (365 d); silence means no
//! profile, order or login event. A forgotten member leaves her group's figures; one who
//! comes back starts afresh; her slot and index entry go to the next new member.

mod common;

use churnwatch::config::Config;
use churnwatch::engine::{Segment, WarningKind};
use churnwatch::model::{
    stable_hash, Category, EventBody, Fen, GroupId, MemberId, Order, Span, TicketStatus,
};
use churnwatch::reject::RejectReason;
use common::*;

fn held(s: &Scenario, id: &str) -> bool {
    s.engine.member(&MemberId::new(id)).is_some()
}

fn evicted(s: &Scenario, reason: &str) -> u64 {
    s.engine
        .stats()
        .evictions()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| n)
}

/// (tracked, counted, expected_sum) of a group.
fn group(s: &Scenario, id: &str) -> (u32, u32, u32) {
    let g = s.engine.group(&GroupId::new(id)).expect("group exists");
    (g.tracked, g.counted, g.expected_sum)
}

/// m1 joins g1, orders on day 2 and leaves on day 10: forgotten on day 100.
fn left_on_day_ten() -> Scenario {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(-100), day(0));
    s.order("m1", "o1", 200, day(2));
    s.left("m1", day(10));
    s
}

#[test]
fn a_member_who_left_is_forgotten_after_ninety_days_of_silence() {
    let mut s = left_on_day_ten();
    assert_eq!(group(&s, "g1"), (0, 0, 0), "leaving takes her out at once");
    s.advance(day(100) - MS);
    assert!(held(&s, "m1"), "not a millisecond early");
    s.advance(day(100));
    assert!(!held(&s, "m1"), "90 days after her last event");
    assert_eq!((evicted(&s, "left"), evicted(&s, "dormant")), (1, 0));
    assert_eq!(s.engine.member_count(), 0);
    assert_eq!(
        s.engine
            .roster()
            .members_by_segment()
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
}

#[test]
fn her_redelivered_events_are_refused_rather_than_creating_her_again() {
    let mut s = left_on_day_ten();
    s.advance(day(100));
    let order = s.try_send(
        "m1",
        day(2),
        EventBody::Order(Order {
            order_key: stable_hash("o1"),
            amount: Fen::yuan(200),
            category: Category::Skincare,
        }),
    );
    assert_eq!(
        order.map_err(|r| r.reason),
        Err(RejectReason::BeyondRetentionHorizon)
    );
    let left = s.try_send("m1", day(10), EventBody::MemberLeft);
    assert_eq!(
        left.map_err(|r| r.reason),
        Err(RejectReason::BeyondRetentionHorizon)
    );
    assert!(!held(&s, "m1"));
}

#[test]
fn a_member_who_comes_back_after_eviction_starts_afresh() {
    let mut s = left_on_day_ten();
    s.advance(day(100));
    s.take();
    s.login("m1", day(120));
    let m = s.engine.member(&MemberId::new("m1")).expect("held again");
    assert_eq!(
        (m.lifetime_orders, m.segment, m.has_profile(), m.left()),
        (0, Segment::New, false, false)
    );
    s.profile("m1", "g1", "399", day(120), day(121));
    assert_eq!(group(&s, "g1").0, 1, "tracked in her group again");
    s.order("m1", "o2", 2000, day(122));
    assert_eq!(
        s.engine
            .member(&MemberId::new("m1"))
            .map(|m| m.lifetime_orders),
        Some(1)
    );
    assert!(
        s.for_member("m1").is_empty(),
        "a first order out of `new` is not news: {:?}",
        s.for_member("m1")
    );
}

#[test]
fn a_dormant_member_is_forgotten_after_a_year_and_leaves_her_groups_figures() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "199", day(-400), day(0));
    s.profile("m2", "g1", "199", day(-400), day(0));
    s.login("m2", day(200));
    s.advance(day(365) - MS);
    assert_eq!(
        group(&s, "g1"),
        (2, 2, 72),
        "two members over a year old: 36 % each"
    );
    s.advance(day(365));
    assert!(!held(&s, "m1") && held(&s, "m2"));
    assert_eq!(
        group(&s, "g1"),
        (1, 1, 36),
        "she left the figures when forgotten"
    );
    s.advance(day(565) - MS);
    assert!(held(&s, "m2"), "her login at day 200 kept her");
    s.advance(day(565));
    assert!(!held(&s, "m2"));
    assert_eq!((evicted(&s, "left"), evicted(&s, "dormant")), (0, 2));
    assert_eq!(group(&s, "g1"), (0, 0, 0));
}

#[test]
fn profiles_orders_and_logins_break_the_silence_but_tickets_do_not() {
    let mut s = Scenario::new();
    for m in ["m1", "m2", "m3"] {
        s.profile(m, "g1", "199", day(-400), day(0));
    }
    s.login("m1", day(100));
    s.order("m1", "o1", 100, day(200));
    s.profile("m3", "g2", "199", day(-400), day(250));
    s.ticket("m2", "k1", TicketStatus::Opened, day(300));
    s.ticket("m2", "k1", TicketStatus::Resolved, day(301));
    s.advance(day(365));
    assert!(!held(&s, "m2"), "a ticket is not a sign of life");
    s.advance(day(565) - MS);
    assert!(held(&s, "m1") && held(&s, "m3"));
    s.advance(day(615) - MS);
    assert!(!held(&s, "m1") && held(&s, "m3"), "m1's order at day 200");
    s.advance(day(615));
    assert!(!held(&s, "m3"), "m3's move to another group at day 250");
}

#[test]
fn an_open_ticket_keeps_her_until_its_warning_is_sent() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "199", day(-400), day(0));
    s.ticket("m1", "k1", TicketStatus::Opened, day(364));
    s.advance(day(365));
    assert!(held(&s, "m1"), "the ticket's SLA has not passed");
    s.advance(day(366));
    let overdue = s.of_kind(WarningKind::AfterSalesOverdue);
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].event_time, day(366));
    assert!(!held(&s, "m1"), "forgotten once the warning went out");
}

#[test]
fn eviction_can_be_turned_off() {
    let mut config = Config::default();
    config.state.evict_left_after = Span::ZERO;
    config.state.evict_dormant_after = Span::ZERO;
    let mut s = Scenario::with_config(config);
    s.profile("m1", "g1", "199", day(-400), day(0));
    s.profile("m2", "g1", "199", day(-400), day(0));
    s.left("m2", day(1));
    s.advance(day(2000));
    assert!(held(&s, "m1") && held(&s, "m2"));
    assert_eq!(s.engine.pending_timers(), 0, "nothing left to wake for");
}

#[test]
fn freed_slots_go_to_new_members_and_every_member_is_still_found() {
    let mut config = Config::default();
    config.state.max_members = 3_000;
    let mut s = Scenario::with_config(config);
    for i in 0..3_000 {
        // Long ids too, which live in the id arena rather than in the record.
        s.login(&format!("member-with-a-long-id-{i}"), day(0));
    }
    for i in (0..3_000).step_by(3) {
        s.login(&format!("member-with-a-long-id-{i}"), day(100));
    }
    s.advance(day(365));
    assert_eq!(s.engine.member_count(), 1_000);
    let slots = s.engine.memory_estimate().member_slots;
    // At the cap again: only because 2 000 slots were freed can these join.
    for i in 0..2_000 {
        s.login(&format!("n{i}"), day(370));
    }
    assert_eq!(s.engine.member_count(), 3_000);
    assert_eq!(
        s.engine.memory_estimate().member_slots,
        slots,
        "no new slots"
    );
    let refused = s.try_send("one-too-many", day(370), EventBody::Login);
    assert_eq!(
        refused.map_err(|r| r.reason),
        Err(RejectReason::MemberCapacity)
    );
    for i in 0..3_000 {
        let id = format!("member-with-a-long-id-{i}");
        let m = s.engine.member(&MemberId::new(&id));
        assert_eq!(m.is_some(), i % 3 == 0, "{id}");
        if let Some(m) = m {
            assert_eq!(m.id(), id);
            assert_eq!(m.login_ref(), day(100));
        }
    }
    for i in 0..2_000 {
        let id = format!("n{i}");
        let m = s.engine.member(&MemberId::new(&id)).expect("a new member");
        assert_eq!((m.id(), m.login_ref()), (id.as_str(), day(370)));
    }
}
