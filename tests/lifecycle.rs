//! SPEC §4 (new members, lifecycle, recall schedule) and §6 (login lapse).

mod common;

use churnwatch::engine::{Figures, Segment, Severity, Stage, WarningKind::*};
use churnwatch::model::{MemberId, Span};
use common::*;

fn stage(s: &Scenario, member: &str) -> Stage {
    s.engine.member(&MemberId::new(member)).unwrap().stage()
}

#[test]
fn a_member_without_an_order_is_new_until_the_activation_deadline_passes() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0), day(0));
    assert_eq!(s.segment("m1"), Segment::New);
    s.advance(day(14));
    assert!(
        s.of_kind(ActivationOverdue).is_empty(),
        "14 d after joining the deadline has not yet passed"
    );
    s.advance(day(15));
    let w = s.of_kind(ActivationOverdue);
    assert_eq!(
        summaries(&w),
        vec![(
            ActivationOverdue,
            Some("new"),
            Some("general_retain"),
            day(14) + MS
        )]
    );
    assert_eq!(w[0].severity, Severity::Notice);
    assert_eq!(s.segment("m1"), Segment::GeneralRetain);
}

#[test]
fn a_first_order_before_the_deadline_prevents_activation_overdue() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "199", day(0), day(0));
    s.order("m1", "o1", 80, day(13));
    s.advance(day(20));
    assert!(s.of_kind(ActivationOverdue).is_empty());
    assert!(
        s.warnings.is_empty(),
        "first order from `new` emits nothing: {:?}",
        s.warnings
    );
}

#[test]
fn an_activation_deadline_that_passed_before_the_member_was_first_seen_is_not_news() {
    let mut s = Scenario::new();
    // A member who joined a year ago shows up for the first time (e.g. a tutor change).
    s.profile("m1", "g1", "399", day(0) - Span::days(365), day(0));
    assert!(s.of_kind(ActivationOverdue).is_empty());
    assert_eq!(
        s.segment("m1"),
        Segment::GeneralRetain,
        "the state still follows the rule"
    );
}

/// SPEC §3: the first order at the very instant the deadline passes is part of the state
/// at that instant, so she was never overdue.
#[test]
fn a_first_order_exactly_when_the_activation_deadline_passes_is_not_overdue() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0), day(0));
    s.order("m1", "o1", 80, day(14) + MS);
    s.advance(day(20));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // A millisecond later she was.
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0), day(0));
    s.order("m1", "o1", 80, day(14) + Span::millis(2));
    assert_eq!(
        summaries(&s.of_kind(ActivationOverdue)),
        vec![(
            ActivationOverdue,
            Some("new"),
            Some("general_retain"),
            day(14) + MS
        )]
    );
}

#[test]
fn without_a_profile_a_member_never_becomes_activation_overdue() {
    let mut s = Scenario::new();
    s.login("m1", day(0));
    s.advance(day(40));
    assert!(s.of_kind(ActivationOverdue).is_empty());
    assert_eq!(s.segment("m1"), Segment::New);
}

#[test]
fn stages_follow_order_count_and_recency() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0), day(0));
    assert_eq!(stage(&s, "m1"), Stage::Acquisition);
    s.order("m1", "o1", 100, day(1));
    assert_eq!(stage(&s, "m1"), Stage::Growth);
    s.order("m1", "o2", 100, day(2));
    assert_eq!(stage(&s, "m1"), Stage::Mature);
    s.advance(day(32));
    assert_eq!(
        stage(&s, "m1"),
        Stage::Mature,
        "R = 30 d exactly is still mature"
    );
    s.advance(day(32) + MS);
    assert_eq!(stage(&s, "m1"), Stage::Decline);
    s.advance(day(92) + MS);
    assert_eq!(stage(&s, "m1"), Stage::Lost);
}

#[test]
fn entering_decline_starts_recall_attempts_at_1_3_5_10_15_and_30_days() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 100, day(0));
    s.advance(day(100));
    let w = s.of_kind(RecallDue);
    let entry = day(30) + MS;
    let expected: Vec<_> = [1, 3, 5, 10, 15, 30]
        .iter()
        .map(|d| entry + Span::days(*d))
        .collect();
    assert_eq!(w.iter().map(|w| w.event_time).collect::<Vec<_>>(), expected);
    let attempts: Vec<_> = w
        .iter()
        .map(|w| match &w.figures {
            Figures::Member(f) => f.detail.clone(),
            Figures::Group(_) => panic!("member figures"),
        })
        .collect();
    assert_eq!(
        attempts,
        (1..=6)
            .map(churnwatch::engine::Detail::RecallAttempt)
            .collect::<Vec<_>>()
    );
}

#[test]
fn any_order_ends_the_recall_schedule() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 100, day(0));
    s.advance(day(30) + MS + Span::days(4));
    assert_eq!(
        s.of_kind(RecallDue).len(),
        2,
        "attempts 1 and 3 are due by day 4 of decline"
    );
    s.order("m1", "o2", 100, day(35));
    s.advance(day(64));
    assert_eq!(
        s.of_kind(RecallDue).len(),
        2,
        "no further attempt after the order"
    );
    s.advance(day(67));
    assert_eq!(
        s.of_kind(RecallDue).len(),
        3,
        "a new decline starts a new schedule"
    );
    assert_eq!(
        s.of_kind(RecallDue)[2].event_time,
        day(65) + MS + Span::days(1)
    );
}

#[test]
fn login_lapsed_fires_at_30_and_again_at_60_days_without_a_login() {
    let mut s = Scenario::new();
    s.login("m1", day(0));
    s.advance(day(30) - MS);
    assert!(s.of_kind(LoginLapsed).is_empty());
    s.advance(day(61));
    let w = s.of_kind(LoginLapsed);
    assert_eq!(
        w.iter().map(|w| w.event_time).collect::<Vec<_>>(),
        vec![day(30), day(60)]
    );
    assert_eq!(
        severity_of(&w),
        vec![Severity::Notice, Severity::Warning],
        "60 days without login = churned"
    );
}

#[test]
fn a_login_resets_the_lapse_clock() {
    let mut s = Scenario::new();
    s.login("m1", day(0));
    s.advance(day(31));
    s.login("m1", day(31));
    s.advance(day(61) - MS);
    assert_eq!(
        s.of_kind(LoginLapsed).len(),
        1,
        "only the day-30 lapse so far"
    );
    s.advance(day(62));
    assert_eq!(
        s.of_kind(LoginLapsed)
            .iter()
            .map(|w| w.event_time)
            .collect::<Vec<_>>(),
        vec![day(30), day(61)]
    );
}

/// SPEC §3: a login at the very instant of the 30-day lapse is part of the state then.
#[test]
fn a_login_exactly_at_the_lapse_instant_is_not_a_lapse() {
    let mut s = Scenario::new();
    s.login("m1", day(0));
    s.login("m1", day(30));
    s.advance(day(59));
    assert!(s.of_kind(LoginLapsed).is_empty(), "{:?}", s.warnings);
    s.login("m1", day(90) + MS);
    assert_eq!(
        s.of_kind(LoginLapsed)
            .iter()
            .map(|w| w.event_time)
            .collect::<Vec<_>>(),
        vec![day(60), day(90)],
        "a millisecond late, both levels of the day-30 login's clock had passed"
    );
}

#[test]
fn a_member_never_seen_logging_in_lapses_from_when_she_was_first_seen() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 10, day(5));
    s.advance(day(36));
    assert_eq!(
        s.of_kind(LoginLapsed)
            .iter()
            .map(|w| w.event_time)
            .collect::<Vec<_>>(),
        vec![day(35)]
    );
}

#[test]
fn a_member_who_left_gets_no_more_warnings() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0) - Span::days(100), day(0));
    s.order("m1", "o1", 2000, day(0));
    s.take();
    s.left("m1", day(1));
    // Kept until 90 days of silence (state.evict_left_after; tests/eviction.rs).
    s.advance(day(91) - MS);
    assert!(s.for_member("m1").is_empty(), "{:?}", s.for_member("m1"));
    assert_eq!(
        s.segment("m1"),
        Segment::GeneralRetain,
        "her state still moves with time"
    );
}
