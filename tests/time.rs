//! SPEC §3 and §2: event time, watermark, late events, duplicates, rejections, ids.

mod common;

use churnwatch::engine::{Segment, WarningKind::*};
use churnwatch::model::{EventBody, Fen, MemberId, Span};
use churnwatch::reject::RejectReason;
use common::*;

#[test]
fn the_watermark_trails_the_largest_event_time_by_the_allowed_lateness() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    // The downgrade is due at day 7 + 1 ms; an event at day 7 + 4 min moves the
    // watermark only to day 7 − 1 min.
    s.login("other", day(7) + Span::minutes(4));
    assert!(s.of_kind(SegmentDowngrade).is_empty());
    assert_eq!(s.engine.watermark(), day(7) - Span::minutes(1));
    s.login("other", day(7) + Span::minutes(5) + MS);
    assert_eq!(s.of_kind(SegmentDowngrade).len(), 1);
}

#[test]
fn an_event_ahead_of_the_watermark_first_brings_its_member_up_to_its_own_time() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    s.order("m1", "o2", 100, day(7) + Span::minutes(2));
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![
            (
                SegmentDowngrade,
                Some("important_value"),
                Some("important_maintain"),
                day(7) + MS
            ),
            (
                SegmentUpgrade,
                Some("important_maintain"),
                Some("important_value"),
                day(7) + Span::minutes(2)
            ),
        ]
    );
}

#[test]
fn a_late_event_is_applied_and_its_transition_stamped_at_the_watermark() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 50, day(0));
    s.login("other", day(10));
    let watermark = day(10) - Span::minutes(5);
    assert_eq!(s.engine.watermark(), watermark);
    s.take();
    s.order("m1", "late", 2000, day(9));
    let w = s.for_member("m1");
    assert_eq!(
        summaries(&w),
        vec![(
            SegmentUpgrade,
            Some("general_development"),
            Some("important_value"),
            watermark
        )]
    );
    assert_eq!(
        s.engine
            .member(&MemberId::new("m1"))
            .unwrap()
            .lifetime_amount(),
        Fen::yuan(2050)
    );
}

#[test]
fn a_redelivered_event_changes_nothing() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(-40), day(0));
    s.order("m1", "o1", 700, day(1));
    s.login("m1", day(1));
    let before = format!("{:?}", s.engine.member(&MemberId::new("m1")).unwrap());
    let warnings_before = s.warnings.len();
    s.profile("m1", "g1", "399", day(-40), day(0));
    s.order("m1", "o1", 700, day(1));
    s.login("m1", day(1));
    assert_eq!(
        format!("{:?}", s.engine.member(&MemberId::new("m1")).unwrap()),
        before
    );
    assert_eq!(s.warnings.len(), warnings_before);
    assert_eq!(s.engine.stats().unchanged, 3);
}

#[test]
fn an_order_id_already_seen_for_the_member_is_a_duplicate_even_with_another_event_id_and_time() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 700, day(1));
    s.order("m1", "o1", 700, day(3));
    let m = s.engine.member(&MemberId::new("m1")).unwrap();
    assert_eq!(
        (m.lifetime_orders, m.lifetime_amount()),
        (1, Fen::yuan(700))
    );
    assert_eq!(s.segment("m1"), Segment::ImportantDevelopment);
}

#[test]
fn events_from_the_future_are_rejected_and_do_not_move_the_watermark() {
    let mut s = Scenario::new();
    let wall = day(100);
    let event = |ts| churnwatch::model::Event {
        event_id: "x".into(),
        member_id: MemberId::new("m1"),
        ts,
        body: EventBody::Login,
    };
    let ahead = wall + Span::minutes(10) + MS;
    let err = s
        .engine
        .process(0, &event(ahead), wall, &mut s.warnings)
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::FutureTimestamp);
    assert_eq!(s.engine.watermark(), churnwatch::model::EventTime::MIN);
    s.engine
        .process(0, &event(wall + Span::minutes(10)), wall, &mut s.warnings)
        .expect("exactly at the skew limit");
}

#[test]
fn events_older_than_the_retention_horizon_are_rejected() {
    let mut s = Scenario::new();
    s.login("m1", day(200));
    let err = s
        .try_send(
            "m2",
            day(200) - Span::minutes(5) - Span::days(90),
            EventBody::Login,
        )
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::BeyondRetentionHorizon);
    s.try_send("m2", day(200) - Span::days(90), EventBody::Login)
        .expect("inside the horizon");
    assert_eq!(
        s.engine.stats().rejections().collect::<Vec<_>>(),
        vec![(RejectReason::BeyondRetentionHorizon, 1)]
    );
}

#[test]
fn instants_the_compact_state_cannot_hold_are_rejected() {
    let mut s = Scenario::new();
    let too_early = churnwatch::model::EventTime::from_millis(-(1i64 << 47));
    assert_eq!(
        s.try_send("m1", too_early, EventBody::Login)
            .unwrap_err()
            .reason,
        RejectReason::InvalidField
    );
    let body = EventBody::Member(churnwatch::model::Profile {
        group_id: "g1".into(),
        tutor_id: "t1".into(),
        fee_tier: "399".into(),
        joined_at: churnwatch::model::EventTime::from_millis(1i64 << 47),
    });
    assert_eq!(
        s.try_send("m1", day(0), body).unwrap_err().reason,
        RejectReason::InvalidField
    );
    assert!(s.engine.member(&MemberId::new("m1")).is_none());
    s.try_send(
        "m1",
        churnwatch::model::EventTime::from_millis(-(1i64 << 47) + 1),
        EventBody::Login,
    )
    .expect("the earliest instant held");
}

#[test]
fn a_fee_tier_without_a_benchmark_row_is_rejected() {
    let mut s = Scenario::new();
    let body = EventBody::Member(churnwatch::model::Profile {
        group_id: "g1".into(),
        tutor_id: "t1".into(),
        fee_tier: "999".into(),
        joined_at: day(0),
    });
    assert_eq!(
        s.try_send("m1", day(0), body).unwrap_err().reason,
        RejectReason::UnknownFeeTier
    );
    assert!(
        s.engine.member(&MemberId::new("m1")).is_none(),
        "a rejected event leaves no trace"
    );
}

#[test]
fn a_new_member_beyond_max_members_is_refused_and_known_members_go_on() {
    let mut config = churnwatch::config::Config::default();
    config.state.max_members = 2;
    let mut s = Scenario::with_config(config);
    s.login("m1", day(0)).login("m2", day(0));
    let refused = s.try_send("m3", day(1), EventBody::Login).unwrap_err();
    assert_eq!(refused.reason, RejectReason::MemberCapacity);
    assert!(refused.detail.contains("m3"), "{}", refused.detail);
    assert!(s.engine.member(&MemberId::new("m3")).is_none());
    s.try_send("m1", day(1), EventBody::Login)
        .expect("a member already held is still served");
}

#[test]
fn warning_ids_are_deterministic_and_distinct() {
    let run = || {
        let mut s = Scenario::new();
        s.order("m1", "o1", 1000, day(0))
            .order("m2", "o2", 600, day(0))
            .login("m3", day(1));
        s.advance(day(120));
        s.take()
    };
    let (a, b) = (run(), run());
    assert!(a.len() > 10);
    assert_eq!(a, b);
    let mut ids: Vec<_> = a.iter().map(|w| w.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.len(), "no two warnings share an id");
    assert!(a.iter().all(|w| w.emitted_at >= w.event_time));
}
