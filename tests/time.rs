//! SPEC §3 and §2: event time, watermark, late events, duplicates, rejections, ids.

mod common;

use churnwatch::engine::{Segment, WarningKind::*};
use churnwatch::model::{EventBody, Fen, MemberId, Span};
use churnwatch::reject::RejectReason;
use common::*;

/// A change due at `t` fires once the watermark has passed `t`: an event at exactly the
/// watermark is not late (late is *older* than the watermark), so the change waits for the
/// events of its own instant.
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
    assert_eq!(s.engine.watermark(), day(7) + MS);
    assert!(
        s.of_kind(SegmentDowngrade).is_empty(),
        "an order of m1 at day 7 + 1 ms would still be on time"
    );
    s.login("other", day(7) + Span::minutes(5) + Span::millis(2));
    assert_eq!(
        summaries(&s.of_kind(SegmentDowngrade)),
        vec![(
            SegmentDowngrade,
            Some("important_value"),
            Some("important_maintain"),
            day(7) + MS
        )]
    );
}

/// The issue's minimal case, as JSON lines: an order exactly when the 7-day bound of
/// `important_value` runs out keeps her there; no downgrade and upgrade at that instant.
#[test]
fn an_event_at_an_instant_is_part_of_the_state_at_that_instant() {
    let mut s = Scenario::new();
    s.send_json_lines(
        r#"
{"event_id":"p1","member_id":"m1","ts":"2026-03-01T00:00:00.000Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"199","joined_at":"2024-06-01T00:00:00.000Z"}
{"event_id":"e2","member_id":"m1","ts":"2026-03-01T02:00:00.000Z","type":"order","order_id":"o1","amount":"1200.00","category":"skincare"}
{"event_id":"e3","member_id":"m1","ts":"2026-03-08T02:00:00.001Z","type":"order","order_id":"o2","amount":"10.00","category":"skincare"}
"#,
    );
    // Seen first a year and a half after joining, she was `general_retain` (the
    // activation deadline had long passed); her first order lifts her.
    let t = |s: &str| churnwatch::model::EventTime::parse_rfc3339(s).unwrap();
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![(
            SegmentUpgrade,
            Some("general_retain"),
            Some("important_value"),
            t("2026-03-01T02:00:00Z")
        )],
        "and nothing at 03-08T02:00:00.001Z"
    );
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
    s.take();
    // Her next boundary is counted from the new order.
    s.advance(t("2026-03-16T00:00:00Z"));
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![(
            SegmentDowngrade,
            Some("important_value"),
            Some("important_maintain"),
            t("2026-03-15T02:00:00.002Z")
        )]
    );
}

/// The real-log case: her big order leaves the 30-day window at the instant a new one
/// arrives. Applied one after the other this was a CRITICAL fall into `general_*` and an
/// upgrade back, both at that millisecond.
#[test]
fn an_order_arriving_as_an_older_one_leaves_the_window_causes_no_fall_and_rise() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    s.order("m1", "o2", 50, day(25));
    s.login("m1", day(25));
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
    s.take();
    s.order("m1", "o3", 1000, day(30));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
}

/// The same instant, two orders: each is applied and evaluated in turn. The first alone
/// does not hold her (M30 80 yuan), the second does.
#[test]
fn two_orders_at_one_instant_are_applied_one_by_one_each_followed_by_an_evaluation() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    s.order("m1", "o2", 50, day(25));
    s.login("m1", day(25));
    s.take();
    s.order("m1", "o3", 30, day(30));
    s.order("m1", "o4", 1000, day(30));
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![
            (
                SegmentDowngrade,
                Some("important_value"),
                Some("general_development"),
                day(30)
            ),
            (
                SegmentUpgrade,
                Some("general_development"),
                Some("important_value"),
                day(30)
            ),
        ]
    );
}

/// With no allowed lateness the watermark is the latest event time itself: the first
/// event of an instant must not fire the changes of that instant ahead of the others.
#[test]
fn a_change_due_at_the_watermark_waits_for_the_events_of_that_instant() {
    let mut config = churnwatch::config::Config::default();
    config.time.allowed_lateness = Span::ZERO;
    let mut s = Scenario::with_config(config);
    s.order("m1", "o1", 1000, day(0));
    s.order("m1", "o2", 50, day(25));
    s.login("m1", day(25));
    s.take();
    // Another member's event opens day 30, then m1's order of day 30 arrives.
    s.login("m2", day(30));
    assert_eq!(s.engine.watermark(), day(30));
    s.order("m1", "o3", 1000, day(30));
    s.login("m2", day(31));
    assert!(s.for_member("m1").is_empty(), "{:?}", s.for_member("m1"));
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

/// SPEC §3, the late-event rule, on the issue's case: an order of 05-20 arrives when the
/// watermark is at 06-28T23:55. Her upgrade and her recall schedule start at the
/// watermark, not on 06-20 (when her decline would have begun had the order been seen).
#[test]
fn a_late_orders_consequences_are_stamped_at_the_watermark_and_its_recall_schedule_counts_from_it()
{
    let t = |s: &str| churnwatch::model::EventTime::parse_rfc3339(s).unwrap();
    let mut s = Scenario::new();
    s.order("m1", "o1", 80, t("2026-01-10T00:00:00Z"));
    s.login("m2", t("2026-06-29T00:00:00Z"));
    let watermark = t("2026-06-28T23:55:00Z");
    assert_eq!(s.engine.watermark(), watermark);
    assert_eq!(s.segment("m1"), Segment::GeneralRetain);
    s.take();
    s.order("m1", "late", 100, t("2026-05-20T00:00:00Z"));
    s.advance(t("2026-09-01T00:00:00Z"));
    let w = s.for_member("m1");
    let recall: Vec<_> = w
        .iter()
        .filter(|w| w.kind == RecallDue)
        .map(|w| w.event_time)
        .collect();
    assert_eq!(
        summaries(&w)[0],
        (
            SegmentUpgrade,
            Some("general_retain"),
            Some("general_maintain"),
            watermark
        )
    );
    assert_eq!(
        recall,
        [1, 3, 5, 10, 15, 30].map(|d| watermark + Span::days(d)),
        "the schedule counts from the watermark"
    );
    assert!(w.iter().all(|w| w.event_time >= watermark), "{w:?}");
}

/// Her first event is an order 89 days old: the login lapses it implies (her lapse
/// clock starts at the first event seen) come at the watermark, and the recall schedule
/// counts from there, so only its first attempt comes before she is lost.
#[test]
fn a_member_first_seen_through_an_89_day_old_order_gets_every_consequence_at_the_watermark() {
    let mut s = Scenario::new();
    s.login("m2", day(100));
    let watermark = s.engine.watermark();
    s.take();
    s.order("m1", "o1", 60, watermark - Span::days(89));
    s.advance(watermark + Span::days(40));
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![
            (LoginLapsed, None, Some("general_maintain"), watermark),
            (LoginLapsed, None, Some("general_maintain"), watermark),
            (
                RecallDue,
                None,
                Some("general_maintain"),
                watermark + Span::days(1)
            ),
            (
                SegmentDowngrade,
                Some("general_maintain"),
                Some("general_retain"),
                watermark + Span::days(1) + MS
            ),
        ]
    );
}

/// A late login restarts her lapse clock from its own time; if that clock has already run
/// out at the watermark, the lapse comes at the watermark.
#[test]
fn a_late_login_whose_lapse_clock_has_run_out_lapses_at_the_watermark() {
    let mut s = Scenario::new();
    s.login("m1", day(0));
    s.login("m2", day(100));
    let watermark = s.engine.watermark();
    s.take();
    s.login("m1", day(50));
    assert_eq!(
        summaries(&s.for_member("m1")),
        vec![(LoginLapsed, None, Some("new"), watermark)]
    );
    s.advance(day(111));
    assert_eq!(
        summaries(&s.for_member("m1"))[1],
        (LoginLapsed, None, Some("new"), day(110)),
        "the 60-day level from the late login itself"
    );
}

/// SPEC §2: the same event delivered again changes nothing, whatever its type.
#[test]
fn the_same_event_again_changes_nothing() {
    let mut s = Scenario::new();
    let profile = || {
        EventBody::Member(churnwatch::model::Profile {
            group_id: "g1".into(),
            tutor_id: "t1".into(),
            fee_tier: "399".into(),
            joined_at: day(-40),
        })
    };
    let order = || {
        EventBody::Order(churnwatch::model::Order {
            order_key: churnwatch::model::stable_hash("o1"),
            amount: Fen::yuan(700),
            category: churnwatch::model::Category::Home,
        })
    };
    let ticket = || {
        EventBody::AfterSales(churnwatch::model::AfterSales {
            ticket_id: "k1".into(),
            order_key: churnwatch::model::stable_hash("o1"),
            status: churnwatch::model::TicketStatus::Opened,
            reason: churnwatch::model::AfterSalesReason::Quality,
            refund: None,
        })
    };
    let events = [
        ("e1", day(0), profile()),
        ("e2", day(1), order()),
        ("e3", day(1), EventBody::Login),
        ("e4", day(2), ticket()),
        ("e5", day(3), EventBody::MemberLeft),
    ];
    for (id, ts, body) in events.clone() {
        s.send_as(id, "m1", ts, body);
    }
    let state = format!("{:?}", s.engine.member(&MemberId::new("m1")).unwrap());
    let group = format!("{:?}", s.engine.group(&"g1".into()));
    let warnings = s.warnings.len();
    for (id, ts, body) in events {
        s.send_as(id, "m1", ts, body);
    }
    assert_eq!(
        format!("{:?}", s.engine.member(&MemberId::new("m1")).unwrap()),
        state
    );
    assert_eq!(format!("{:?}", s.engine.group(&"g1".into())), group);
    assert_eq!(s.warnings.len(), warnings);
    assert_eq!(s.engine.stats().unchanged, 5);
}

/// SPEC §2: an `event_id` reused for a different event is a new event; churnwatch judges
/// duplicates by what an event says, not by its id.
#[test]
fn an_event_id_reused_for_a_different_event_is_a_new_event() {
    let mut s = Scenario::new();
    let order = |id: &str, yuan: i64| {
        EventBody::Order(churnwatch::model::Order {
            order_key: churnwatch::model::stable_hash(id),
            amount: Fen::yuan(yuan),
            category: churnwatch::model::Category::Home,
        })
    };
    s.send_as("e1", "m1", day(0), order("o1", 600));
    s.send_as("e1", "m1", day(1), order("o2", 600));
    s.send_as("e1", "m1", day(2), EventBody::Login);
    let m = s.engine.member(&MemberId::new("m1")).unwrap();
    assert_eq!(
        (m.lifetime_orders, m.lifetime_amount(), m.login_ref()),
        (2, Fen::yuan(1200), day(2))
    );
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
    assert_eq!(s.engine.stats().unchanged, 0);
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

/// `emitted_at`: in replay the engine's event-time clock (the watermark, or the event's
/// time when later: reproducible output), live the
/// wall-clock reading the engine was given with the event or tick that emitted the
/// warning, for events and timers alike.
#[test]
fn emitted_at_is_the_event_time_clock_in_replay_and_the_given_wall_clock_live() {
    use churnwatch::config::Config;
    use churnwatch::decode::JsonDecoder;
    use churnwatch::engine::{Engine, TimeMode};
    use churnwatch::model::EventTime;

    let decoder = JsonDecoder::new(4096);
    let lines = [
        r#"{"event_id":"p1","member_id":"m1","ts":"2026-01-01T10:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"399","joined_at":"2025-12-01T00:00:00Z"}"#,
        r#"{"event_id":"o1","member_id":"m1","ts":"2026-01-02T10:00:00Z","type":"order","order_id":"o1","amount":"1200","category":"home"}"#,
    ];
    let events: Vec<_> = lines
        .iter()
        .map(|l| decoder.decode(l.as_bytes()).expect("a good line"))
        .collect();
    let wall = EventTime::parse_rfc3339("2026-01-02T10:00:07Z").unwrap();
    let later = wall + Span::days(60);
    for mode in [TimeMode::Replay, TimeMode::Live] {
        let mut engine = Engine::new(&Config::default().engine(), mode);
        let mut out = Vec::new();
        for e in &events {
            engine.process(0, e, wall, &mut out).expect("applied");
        }
        let on_event = out.len();
        assert!(on_event > 0, "the first order upgrades her");
        // Sixty days on, her segment falls: a timer's warning, on a tick live, at the end
        // of the input in replay.
        match mode {
            TimeMode::Live => engine.tick(later, &mut out),
            TimeMode::Replay => engine.advance_to(later, &mut out),
        }
        assert!(out.len() > on_event, "time alone lowers her segment");
        for (i, w) in out.iter().enumerate() {
            let expected = match (mode, i < on_event) {
                (TimeMode::Live, true) => wall,
                (TimeMode::Live, false) => later,
                // The engine's clock: the watermark, or the event's own time if later.
                (TimeMode::Replay, true) => w.event_time,
                (TimeMode::Replay, false) => later,
            };
            assert_eq!(
                w.emitted_at, expected,
                "{mode:?} {} at {}",
                w.kind, w.event_time
            );
        }
    }
}
