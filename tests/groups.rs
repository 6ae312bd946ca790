//! SPEC §5: group activity against the tenure benchmark, output against the target,
//! hysteresis, minimum size, membership moves.

mod common;

use churnwatch::config::Config;
use churnwatch::engine::{Figures, Grade, GroupFigures, Severity, Warning, WarningKind::*};
use churnwatch::model::{Category, EventTime, Fen, GroupId, Span};
use common::*;

/// Adds members `{group}-{from} .. {group}-{to-1}` of `tier`, joined at `joined`, at `ts`.
fn members(
    s: &mut Scenario,
    group: &str,
    range: std::ops::Range<usize>,
    tier: &str,
    joined: EventTime,
    ts: EventTime,
) {
    for i in range {
        s.profile_with_tutor(&format!("{group}-{i}"), group, "tutor-a", tier, joined, ts);
    }
}

fn figures(w: &Warning) -> &GroupFigures {
    match &w.figures {
        Figures::Group(f) => f,
        Figures::Member(_) => panic!("group figures expected"),
    }
}

fn grades(s: &Scenario, group: &str) -> (Option<Grade>, Option<Grade>) {
    let g = s.engine.group(&GroupId::new(group)).expect("group exists");
    (g.activity_grade, g.output_grade)
}

/// The grading rules themselves, without the engine's warm-up (tested on its own below).
fn scenario() -> Scenario {
    let mut config = Config::default();
    config.groups.warmup = Span::ZERO;
    Scenario::with_config(config)
}

fn over_a_year() -> EventTime {
    day(0) - Span::days(400)
}

#[test]
fn a_group_falls_below_its_benchmark_when_orders_leave_the_window_and_recovers_past_the_hysteresis()
{
    let mut s = scenario();
    // 100 tier-199 members over a year old: 36 % expected each, so 36 active is the line.
    // 37 active: two ordered on day 0, 35 on day 10.
    for i in 0..2 {
        s.order(&format!("g1-{i}"), &format!("early{i}"), 500, day(0));
    }
    for i in 2..37 {
        s.order(&format!("g1-{i}"), &format!("mid{i}"), 500, day(10));
    }
    members(&mut s, "g1", 0..100, "199", over_a_year(), day(10));
    assert_eq!(
        grades(&s, "g1").0,
        Some(Grade::Qualified),
        "37 % against 36 %: +1 point"
    );
    s.take();

    s.advance(day(30) - MS);
    assert!(
        s.for_group("g1").is_empty(),
        "the day-0 orders are inside the window until day 30"
    );
    s.advance(day(30));
    let w = s.for_group("g1");
    assert_eq!(
        summaries(&w),
        vec![(
            GroupBelowBenchmark,
            Some("qualified"),
            Some("failing"),
            day(30)
        )]
    );
    let f = figures(w[0]);
    assert_eq!(
        (
            f.members,
            f.active,
            f.activity_bp,
            f.benchmark_bp,
            f.members_needed
        ),
        (100, 35, 3500, 3600, 1)
    );
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(w[0].tutor_id.as_ref().map(|t| t.as_str()), Some("tutor-a"));
    assert!(
        w[0].action
            .contains("needs 1 more active member this month"),
        "{}",
        w[0].action
    );
    s.take();

    s.order("g1-0", "back0", 100, day(35));
    assert!(
        s.for_group("g1").is_empty(),
        "36 % = the benchmark, inside the 1-point band: still failing"
    );
    assert_eq!(grades(&s, "g1").0, Some(Grade::Failing));
    s.order("g1-1", "back1", 100, day(36));
    assert_eq!(
        summaries(&s.for_group("g1")),
        vec![(GroupRecovered, Some("failing"), Some("qualified"), day(36))]
    );
    assert_eq!(s.for_group("g1")[0].severity, Severity::Notice);
}

#[test]
fn members_enter_the_group_figures_only_after_their_first_tenure_month() {
    let mut s = scenario();
    members(&mut s, "g1", 0..12, "399", day(0), day(0));
    s.advance(day(30) - MS);
    assert!(
        s.for_group("g1").is_empty(),
        "a new group is not flagged for members who joined yesterday"
    );
    assert_eq!(s.engine.group(&GroupId::new("g1")).unwrap().counted, 0);
    s.advance(day(30));
    let w = s.for_group("g1");
    assert_eq!(
        summaries(&w),
        vec![
            (
                GroupBelowBenchmark,
                Some("ungraded"),
                Some("failing"),
                day(30)
            ),
            (
                GroupOutputBelowTarget,
                Some("ungraded"),
                Some("failing"),
                day(30)
            ),
        ],
        "becoming graded while failing warns as if it had just fallen"
    );
    let f = figures(w[0]);
    assert_eq!(
        (f.members, f.active, f.benchmark_bp, f.members_needed),
        (12, 0, 6500, 8),
        "tier 399 month 2 = 65 %"
    );
}

#[test]
fn the_benchmark_moves_from_month_12_to_month_13_at_exactly_360_days() {
    let mut config = Config::default();
    config.groups.hysteresis_pp = 0;
    config.groups.warmup = Span::ZERO;
    let mut s = Scenario::with_config(config);
    // Tier 199: month 12 expects 37 %, month 13 expects 36 %. Joined 330 days before day 0,
    // so month 13 starts on day 30. 36 of 100 members are active (orders on day 10).
    let joined = day(0) - Span::days(330);
    members(&mut s, "g1", 0..100, "199", joined, day(0));
    for i in 0..36 {
        s.order(&format!("g1-{i}"), &format!("o{i}"), 500, day(10));
    }
    assert_eq!(
        grades(&s, "g1").0,
        Some(Grade::Failing),
        "36 % against 37 %"
    );
    s.take();
    s.advance(day(30) - MS);
    assert!(s.for_group("g1").is_empty());
    assert_eq!(
        s.engine.group(&GroupId::new("g1")).unwrap().benchmark_bp(),
        3700
    );
    s.advance(day(30));
    assert_eq!(
        summaries(&s.for_group("g1")),
        vec![(GroupRecovered, Some("failing"), Some("qualified"), day(30))]
    );
    assert_eq!(
        s.engine.group(&GroupId::new("g1")).unwrap().benchmark_bp(),
        3600
    );
}

#[test]
fn output_below_target_names_the_weakest_categories() {
    let mut s = scenario();
    // Orders first, so the group is graded with them from its first instant.
    for i in 0..10 {
        let big = format!("big{i}");
        s.order_in(
            &format!("g1-{i}"),
            &big,
            Fen::yuan(460),
            Category::Nutrition,
            day(0),
        );
    }
    members(&mut s, "g1", 0..10, "199", over_a_year(), day(0));
    for i in 0..10 {
        let small = format!("small{i}");
        s.order_in(
            &format!("g1-{i}"),
            &small,
            Fen::yuan(10),
            Category::MotherBaby,
            day(20),
        );
    }
    assert_eq!(
        grades(&s, "g1").1,
        Some(Grade::Qualified),
        "470 per active member: +4.4 % over 450"
    );
    s.take();
    s.advance(day(30));
    let w = s.for_group("g1");
    assert_eq!(
        summaries(&w),
        vec![(
            GroupOutputBelowTarget,
            Some("qualified"),
            Some("failing"),
            day(30)
        )]
    );
    let f = figures(w[0]);
    assert_eq!(f.output_per_active, Fen::yuan(10));
    assert_eq!(f.output_target, Fen::yuan(450));
    assert_eq!(
        f.weakest_categories,
        vec![Category::ApparelBags, Category::FreshFood]
    );
    assert!(
        w[0].action
            .contains("weakest categories: apparel_bags, fresh_food"),
        "{}",
        w[0].action
    );
}

#[test]
fn groups_below_the_minimum_size_are_tracked_but_not_graded() {
    let mut s = scenario();
    members(&mut s, "g1", 0..9, "199", over_a_year(), day(0));
    s.advance(day(5));
    assert!(s.for_group("g1").is_empty());
    let g = s.engine.group(&GroupId::new("g1")).unwrap();
    assert_eq!((g.tracked, g.counted, g.activity_grade), (9, 9, None));
}

#[test]
fn a_member_who_moves_group_takes_her_figures_along() {
    let mut s = scenario();
    members(&mut s, "g1", 0..10, "199", over_a_year(), day(0));
    members(&mut s, "g2", 0..10, "199", over_a_year(), day(0));
    s.order_in("g1-0", "o1", Fen::yuan(300), Category::Home, day(1));
    s.profile_with_tutor("g1-0", "g2", "tutor-b", "199", over_a_year(), day(2));
    let g1 = s.engine.group(&GroupId::new("g1")).unwrap();
    let g2 = s.engine.group(&GroupId::new("g2")).unwrap();
    assert_eq!(
        (g1.counted, g1.active, g1.revenue_total()),
        (9, 0, Fen::ZERO)
    );
    assert_eq!(
        (g2.counted, g2.active, g2.revenue[Category::Home.index()]),
        (11, 1, Fen::yuan(300))
    );
    assert_eq!(g1.activity_grade, None, "9 counted: ungraded again");
}

#[test]
fn a_member_who_leaves_leaves_every_group_count() {
    let mut s = scenario();
    members(&mut s, "g1", 0..11, "199", over_a_year(), day(0));
    s.order("g1-0", "o1", 300, day(1));
    s.left("g1-0", day(2));
    let g = s.engine.group(&GroupId::new("g1")).unwrap();
    assert_eq!(
        (g.tracked, g.counted, g.active, g.revenue_total()),
        (10, 10, 0, Fen::ZERO)
    );
}

#[test]
fn events_before_the_profile_count_once_the_member_joins_her_group() {
    let mut s = scenario();
    s.order("m1", "o1", 250, day(0));
    s.login("m1", day(0));
    let g_none = s.engine.group(&GroupId::new("g1"));
    assert!(g_none.is_none());
    s.profile("m1", "g1", "399", over_a_year(), day(1));
    let g = s.engine.group(&GroupId::new("g1")).unwrap();
    assert_eq!(
        (g.counted, g.active, g.revenue_total()),
        (1, 1, Fen::yuan(250))
    );
}

#[test]
fn an_older_profile_redelivered_after_a_move_does_not_move_her_back() {
    let mut s = scenario();
    s.profile("m1", "g1", "399", over_a_year(), day(0));
    s.profile("m1", "g2", "399", over_a_year(), day(2));
    s.profile("m1", "g1", "399", over_a_year(), day(0));
    assert_eq!(s.engine.group(&GroupId::new("g1")).unwrap().tracked, 0);
    assert_eq!(s.engine.group(&GroupId::new("g2")).unwrap().tracked, 1);
}

#[test]
fn groups_are_graded_only_once_the_engine_has_observed_a_full_activity_window() {
    // A processor starting without history sees old members and no orders yet: their
    // group is not "below benchmark", it is unobserved.
    let mut s = Scenario::new();
    members(&mut s, "g1", 0..10, "199", over_a_year(), day(0));
    s.order("g1-0", "o1", 500, day(10));
    s.advance(day(30) - MS);
    assert!(s.for_group("g1").is_empty());
    assert_eq!(grades(&s, "g1"), (None, None));
    s.advance(day(30));
    assert_eq!(
        summaries(&s.for_group("g1")),
        vec![(GroupBelowBenchmark, Some("ungraded"), Some("failing"), day(30))],
        "at the end of the warm-up a failing group warns as if it had just fallen (output: 500 per active is fine)"
    );
    assert_eq!(
        grades(&s, "g1"),
        (Some(Grade::Failing), Some(Grade::Excellent))
    );
}
