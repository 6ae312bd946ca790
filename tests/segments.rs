//! SPEC §4: RFM segments, their boundaries, severities and actions.

mod common;

use churnwatch::config::Config;
use churnwatch::engine::{Segment, Severity, WarningKind::*};
use churnwatch::model::{Fen, Span};
use common::*;

#[test]
fn member_drops_from_important_value_on_day_8_without_any_event() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
    s.advance(day(7));
    assert!(s.warnings.is_empty(), "R = 7 d is still within `R ≤ 7 d`");
    s.advance(day(8));
    let w = s.for_member("m1");
    assert_eq!(
        summaries(&w),
        vec![(
            SegmentDowngrade,
            Some("important_value"),
            Some("important_maintain"),
            day(7) + MS
        )]
    );
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(s.segment("m1"), Segment::ImportantMaintain);
}

#[test]
fn a_time_driven_change_is_stamped_at_the_first_millisecond_of_the_new_segment() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, at(0, 13));
    s.advance(day(30));
    let times: Vec<_> = s.for_member("m1").iter().map(|w| w.event_time).collect();
    assert_eq!(times[0], at(7, 13) + MS);
    assert_eq!(times[1], at(14, 13) + MS);
    assert!(
        s.for_member("m1").iter().all(|w| w.emitted_at == day(30)),
        "emitted when the watermark got there"
    );
}

#[test]
fn an_order_leaves_the_thirty_day_window_at_exactly_thirty_days() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 600, day(0))
        .order("m1", "o2", 500, day(29));
    assert_eq!(
        s.segment("m1"),
        Segment::ImportantValue,
        "M30 = 1100 with R = 0"
    );
    s.take();
    s.advance(day(30) - MS);
    assert!(
        s.warnings.is_empty(),
        "the day-0 order is still inside (now − 30 d, now]"
    );
    s.advance(day(30));
    assert_eq!(
        summaries(&s.of_kind(SegmentDowngrade)),
        vec![(
            SegmentDowngrade,
            Some("important_value"),
            Some("important_development"),
            day(30)
        )]
    );
}

#[test]
fn falling_out_of_important_into_general_is_critical() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 600, day(0));
    assert_eq!(s.segment("m1"), Segment::ImportantDevelopment);
    s.advance(day(15));
    let w = s.for_member("m1");
    assert_eq!(
        summaries(&w),
        vec![
            (
                SegmentDowngrade,
                Some("important_development"),
                Some("important_maintain"),
                day(7) + MS
            ),
            (
                SegmentDowngrade,
                Some("important_maintain"),
                Some("general_value"),
                day(14) + MS
            ),
        ]
    );
    assert_eq!(severity_of(&w), vec![Severity::Warning, Severity::Critical]);
}

#[test]
fn downgrades_among_general_segments_are_notices_down_to_general_retain_after_ninety_days() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 50, day(0));
    assert_eq!(s.segment("m1"), Segment::GeneralDevelopment);
    s.advance(day(91));
    let w = s.for_member("m1");
    let changes: Vec<_> = w
        .iter()
        .filter(|w| w.kind == SegmentDowngrade)
        .map(|w| {
            (
                w.from.unwrap().name(),
                w.to.unwrap().name(),
                w.event_time,
                w.severity,
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                "general_development",
                "general_maintain",
                day(30) + MS,
                Severity::Notice
            ),
            (
                "general_maintain",
                "general_retain",
                day(90) + MS,
                Severity::Notice
            ),
        ]
    );
}

#[test]
fn a_member_between_segments_is_upgraded_by_a_big_order_with_a_notice() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 50, day(0));
    s.advance(day(40));
    s.take();
    s.order("m1", "o2", 1200, day(40));
    let w = s.for_member("m1");
    assert_eq!(
        summaries(&w),
        vec![(
            SegmentUpgrade,
            Some("general_maintain"),
            Some("important_value"),
            day(40)
        )]
    );
    assert_eq!(w[0].severity, Severity::Notice);
    assert_eq!(
        &*w[0].action,
        Config::default().actions.important_value.as_str()
    );
}

#[test]
fn leaving_new_through_a_first_order_emits_nothing() {
    let mut s = Scenario::new();
    s.profile("m1", "g1", "399", day(0), day(0));
    s.order("m1", "o1", 1500, day(3));
    assert_eq!(s.segment("m1"), Segment::ImportantValue);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn every_segment_of_the_table_is_reachable_with_its_default_thresholds() {
    // (R in days at evaluation, M30 in yuan) → expected segment.
    let cases = [
        (0, 1000, Segment::ImportantValue),
        (7, 999, Segment::ImportantDevelopment),
        (0, 500, Segment::ImportantDevelopment),
        (8, 500, Segment::ImportantMaintain),
        (14, 499, Segment::ImportantRetain),
        (14, 100, Segment::ImportantRetain),
        (15, 100, Segment::GeneralValue),
        (29, 99, Segment::GeneralDevelopment),
        (30, 0, Segment::GeneralDevelopment),
        (31, 5000, Segment::GeneralMaintain),
        (90, 5000, Segment::GeneralMaintain),
    ];
    for (r, m30, expected) in cases {
        let mut s = Scenario::new();
        // One order carrying M30, placed r days before the evaluation instant. For r ≥ 30
        // the order has left the window: M30 is then 0 whatever its amount.
        s.order("m", "o", m30, day(0));
        s.advance(day(r));
        assert_eq!(s.segment("m"), expected, "R = {r} d, M30 = {m30}");
    }
}

#[test]
fn configured_thresholds_replace_the_defaults() {
    let mut config = Config::default();
    for rule in &mut config.segments.rules {
        if rule.segment == Segment::ImportantValue {
            rule.min_m30 = Some(Fen::yuan(2000));
            rule.max_recency = Some(Span::days(3));
        }
    }
    let mut s = Scenario::with_config(config);
    s.order("m1", "o1", 1500, day(0));
    assert_eq!(s.segment("m1"), Segment::ImportantDevelopment);
    s.order("m2", "o2", 2000, day(0));
    s.advance(day(4));
    assert_eq!(
        summaries(&s.for_member("m2")),
        vec![(
            SegmentDowngrade,
            Some("important_value"),
            Some("important_development"),
            day(3) + MS
        )],
        "R > 3 d fails the stricter first row; R ≤ 7 d and M30 ≥ 500 is the second"
    );
}

#[test]
fn bounds_on_f30_and_f90_from_configuration_are_honoured() {
    let mut config = Config::default();
    for rule in &mut config.segments.rules {
        if rule.segment == Segment::GeneralValue {
            rule.min_f90 = Some(3);
        }
    }
    let mut s = Scenario::with_config(config.clone());
    s.order("m1", "o1", 40, day(0))
        .order("m1", "o2", 40, day(1))
        .order("m1", "o3", 120, day(10));
    s.advance(day(26));
    assert_eq!(
        s.segment("m1"),
        Segment::GeneralValue,
        "R = 16 d, M30 = 200 ≥ 100, F90 = 3"
    );
    let mut s = Scenario::with_config(config);
    s.order("m1", "o1", 60, day(0))
        .order("m1", "o3", 140, day(10));
    s.advance(day(26));
    assert_eq!(
        s.segment("m1"),
        Segment::GeneralDevelopment,
        "M30 = 200 but F90 = 2 < 3"
    );
}

#[test]
fn each_warning_carries_the_action_for_the_segment_it_lands_in() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 1000, day(0));
    s.advance(day(8));
    let actions = Config::default().actions;
    assert_eq!(
        &*s.for_member("m1")[0].action,
        actions.important_maintain.as_str()
    );
    assert!(actions.important_maintain.contains("after-sales"));
}

#[test]
fn member_figures_are_those_at_the_instant_of_the_change() {
    let mut s = Scenario::new();
    s.order("m1", "o1", 700, day(0))
        .order("m1", "o2", 400, day(2));
    s.advance(day(10));
    let w = s.of_kind(SegmentDowngrade);
    let churnwatch::engine::Figures::Member(f) = &w[0].figures else {
        panic!("member figures")
    };
    assert_eq!(w[0].event_time, day(9) + MS);
    assert_eq!(
        (f.recency_days, f.f30, f.m30, f.f90),
        (Some(7), 2, Fen::yuan(1100), 2)
    );
    assert_eq!((f.lifetime_orders, f.lifetime_amount), (2, Fen::yuan(1100)));
}
