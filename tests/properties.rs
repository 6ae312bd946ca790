//! Properties of the engine over random event streams (proptest):
//! - replay is deterministic;
//! - the output does not depend on how the input is split into batches;
//! - a member's segment equals the one recomputed from scratch from her order history,
//!   and her pending timer the earliest change recomputed from scratch;
//! - group figures equal a brute-force recount over the members;
//! - the roster (counts by segment and stage, each tutor's members, the instant of a
//!   member's last fall) equals a recount over the members and the warnings;
//! - an engine written to an image at any point and read back goes on exactly like the
//!   one that never stopped: the same warnings, the same final state.
//!
//! Determinism, batching, images and the roster's counts run with eviction after 90 days
//! of silence (the shortest allowed), so that members are forgotten, come back afresh and
//! reuse freed slots throughout; the recomputations from scratch, whose models know
//! nothing of eviction, run with it off.

mod common;

use std::collections::{BTreeMap, HashSet};

use churnwatch::config::Config;
use churnwatch::engine::benchmark::tenure_month;
use churnwatch::engine::{Engine, Rfm, Segment, SegmentTable, TimeMode, Warning, WarningKind};
use churnwatch::model::*;
use common::streams::{stream, stream_with_spells, GROUPS, TUTORS};
use common::{T0, WALL};
use proptest::prelude::*;

/// Members forgotten after 90 days of silence, left or not.
fn evicting() -> Config {
    let mut config = Config::default();
    config.state.evict_left_after = Span::days(90);
    config.state.evict_dormant_after = Span::days(90);
    config.validate().expect("a valid configuration");
    config
}

/// Silent members moved to remainders after `dormant` (members who left never forgotten,
/// which is allowed to show).
fn dormant_after(dormant: Span) -> Config {
    let mut config = Config::default();
    config.state.evict_left_after = Span::ZERO;
    config.state.evict_dormant_after = dormant;
    config.validate().expect("a valid configuration");
    config
}

/// Everything a reader can see of an engine: the state export, and the answer to every
/// query for every member, group and tutor.
fn every_output(engine: &Engine) -> (String, Vec<String>) {
    use churnwatch::query::views;
    let mut answers = Vec::new();
    for (id, _) in engine.member_ids() {
        let view = views::member(engine, &MemberId::new(id));
        answers.push(format!("{view:?}"));
    }
    answers.sort();
    for group in GROUPS {
        answers.push(format!("{:?}", views::group(engine, &GroupId::new(group))));
    }
    for tutor in TUTORS {
        answers.push(format!(
            "{:?}",
            views::tutor(engine, &TutorId::new(tutor), 1000)
        ));
    }
    (state_lines(engine), answers)
}

/// Members kept for ever.
fn keeping() -> Config {
    let mut config = Config::default();
    config.state.evict_left_after = Span::ZERO;
    config.state.evict_dormant_after = Span::ZERO;
    config
}

fn run(events: &[Event], until: EventTime) -> (Engine, Vec<Warning>, Vec<bool>) {
    run_with(&evicting(), events, until)
}

fn run_with(
    config: &Config,
    events: &[Event],
    until: EventTime,
) -> (Engine, Vec<Warning>, Vec<bool>) {
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let mut out = Vec::new();
    let accepted = events
        .iter()
        .map(|e| engine.process(0, e, WALL, &mut out).is_ok())
        .collect();
    engine.advance_to(until, &mut out);
    (engine, out, accepted)
}

fn end_of(events: &[Event], extra_days: i64) -> EventTime {
    events.iter().map(|e| e.ts).max().unwrap_or(T0) + Span::days(extra_days)
}

/// The segment from scratch: the default table applied to the accepted orders.
fn segment_from_scratch(
    orders: &[(EventTime, Fen)],
    joined: Option<EventTime>,
    now: EventTime,
) -> Segment {
    let Some(last) = orders.iter().map(|o| o.0).filter(|t| *t <= now).max() else {
        let overdue = joined.is_some_and(|j| now - j > Span::days(14));
        return if overdue {
            Segment::GeneralRetain
        } else {
            Segment::New
        };
    };
    let in_window = |days: i64| {
        orders
            .iter()
            .filter(move |o| o.0 <= now && o.0 > now - Span::days(days))
    };
    let rfm = Rfm {
        recency: Some(now - last),
        f30: in_window(30).count() as u32,
        m30: in_window(30).map(|o| o.1).sum(),
        f90: in_window(90).count() as u32,
    };
    SegmentTable::new(&Config::default().segments.rules).classify(&rfm)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn replay_is_deterministic(events in stream(), extra in 0i64..200) {
        let until = end_of(&events, extra);
        let (_, a, _) = run(&events, until);
        let (_, b, _) = run(&events, until);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn the_output_does_not_depend_on_how_the_input_is_split_into_batches(
        events in stream(),
        cuts in prop::collection::vec(0usize..400, 0..12),
    ) {
        let until = end_of(&events, 100);
        let (_, whole, _) = run(&events, until);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (events.len() + 1)).collect();
        bounds.push(0);
        bounds.push(events.len());
        bounds.sort_unstable();
        let mut engine = Engine::new(&evicting().engine(), TimeMode::Replay);
        let mut out = Vec::new();
        for pair in bounds.windows(2) {
            engine.process_batch(0, &events[pair[0]..pair[1]], WALL, &mut out);
        }
        engine.advance_to(until, &mut out);
        prop_assert_eq!(whole, out);
    }

    #[test]
    fn an_engine_read_back_from_its_image_goes_on_exactly_like_the_original(
        events in stream(),
        cut in 0usize..400,
        extra in 0i64..150,
    ) {
        let until = end_of(&events, extra);
        let cut = cut % (events.len() + 1);
        let config = evicting();
        let mut original = Engine::new(&config.engine(), TimeMode::Replay);
        let mut before = Vec::new();
        original.process_batch(0, &events[..cut], WALL, &mut before);
        let mut bytes = Vec::new();
        original.write_image(&mut bytes).expect("an image in memory");
        let mut restored = Engine::read_image(&config.engine(), TimeMode::Replay, bytes.as_slice())
            .expect("the image reads back");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        original.process_batch(0, &events[cut..], WALL, &mut a);
        original.advance_to(until, &mut a);
        restored.process_batch(0, &events[cut..], WALL, &mut b);
        restored.advance_to(until, &mut b);
        prop_assert_eq!(a, b);
        prop_assert_eq!(state_lines(&original), state_lines(&restored));
        prop_assert_eq!(original.stats().clone(), restored.stats().clone());
    }

    /// SPEC §3: an event's consequences are stamped at or after the watermark it is
    /// applied at; a change caused by time alone at its boundary instant, which the
    /// watermark has just passed. Each event's step is split in two to tell them apart:
    /// first the timers the event's watermark brings due, then the event itself.
    #[test]
    fn no_warning_is_stamped_before_the_watermark_at_which_its_cause_was_applied(
        events in stream(),
        extra in 0i64..150,
    ) {
        let config = evicting();
        let lateness = config.time.allowed_lateness;
        let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
        let mut out = Vec::new();
        for event in &events {
            let before = engine.watermark();
            let applied_at = before.max(event.ts - lateness);
            // What the event's own watermark fires: the timers strictly before it.
            if applied_at > before {
                engine.advance_to(applied_at - Span::MILLI, &mut out);
            }
            for w in out.drain(..) {
                prop_assert!(w.event_time >= before, "time-driven {:?} before the watermark {}", w, before);
                prop_assert!(w.event_time < applied_at, "{:?} fired ahead of its time", w);
            }
            if engine.process(0, event, WALL, &mut out).is_ok() {
                let applied_at = engine.watermark();
                for w in out.drain(..) {
                    prop_assert!(w.event_time >= applied_at, "{:?} stamped before the watermark {} of its cause", w, applied_at);
                }
            }
            prop_assert!(out.is_empty(), "a refused event caused {:?}", out);
        }
        let before = engine.watermark();
        engine.advance_to(end_of(&events, extra), &mut out);
        prop_assert!(out.iter().all(|w| w.event_time >= before));
    }

    /// SPEC §4: moving silent members to remainders is invisible in every output. The
    /// same stream, with members silent for over a year and back, gives the same
    /// warnings (byte for byte, in the same order), the same exported state and the same
    /// query answers with dormant eviction at its default (365 d), at its shortest (90 d),
    /// and off. Members evicted at the shortest horizon come back mid-stream often.
    #[test]
    fn eviction_of_dormant_members_is_invisible_in_every_output(
        events in stream_with_spells(200),
        extra in 0i64..800,
    ) {
        let until = end_of(&events, extra);
        let (never, never_out, _) = run_with(&dormant_after(Span::ZERO), &events, until);
        for after in [Span::days(365), Span::days(90)] {
            let (evicting, out, _) = run_with(&dormant_after(after), &events, until);
            prop_assert_eq!(&out, &never_out, "warnings, dormant after {}", after);
            prop_assert_eq!(every_output(&evicting), every_output(&never), "state, dormant after {}", after);
        }
    }

    #[test]
    fn a_members_segment_equals_the_segment_recomputed_from_her_order_history(
        events in stream(),
        extra in 0i64..150,
    ) {
        let mut engine = Engine::new(&keeping().engine(), TimeMode::Replay);
        let mut out = Vec::new();
        let mut orders: BTreeMap<String, Vec<(EventTime, Fen)>> = BTreeMap::new();
        let mut seen: HashSet<(String, u64)> = HashSet::new();
        let mut joined: BTreeMap<String, EventTime> = BTreeMap::new();
        let mut profile_ts: BTreeMap<String, (EventTime, bool)> = BTreeMap::new();
        let check = |engine: &Engine, orders: &BTreeMap<String, Vec<(EventTime, Fen)>>, joined: &BTreeMap<String, EventTime>| -> Result<(), TestCaseError> {
            for m in engine.members() {
                let now = engine.watermark().max(m.clock());
                let history = orders.get(m.id()).map(Vec::as_slice).unwrap_or(&[]);
                let expected = segment_from_scratch(history, joined.get(m.id()).copied(), now);
                prop_assert_eq!(m.segment, expected, "member {} at {}", m.id(), now);
                // Settled: nothing due at or before her clock is left unfired.
                let config = engine.rules().settings.clone();
                let sla = config.alerts.after_sales_sla;
                for t in m.tickets() {
                    let overdue = t.state == churnwatch::engine::member::TicketState::Open && t.opened_at + sla <= m.clock();
                    prop_assert!(!overdue, "member {}: ticket {} open past its SLA unwarned", m.id(), t.id);
                }
                let lapses_due = config.lifecycle.login_lapse.iter().filter(|l| m.login_ref() + **l <= m.clock()).count();
                prop_assert_eq!(usize::from(m.lapse_fired()), lapses_due, "member {}: lapse levels", m.id());
                // The pending timer is always the earliest future change, however it was
                // scheduled (full recomputation or the login fast path).
                // Its kind too: a wake marked group-only skips her evaluation.
                let plan = m.view().wake_plan(m.clock(), engine.rules());
                prop_assert_eq!(m.wake(), plan.map(|w| w.at), "wake of member {}", m.id());
                prop_assert_eq!(plan.map(|w| w.group_only), m.wake().map(|_| m.group_wake()), "wake kind of member {}", m.id());
            }
            Ok(())
        };
        for event in &events {
            if engine.process(0, event, WALL, &mut out).is_ok() {
                match &event.body {
                    EventBody::Order(o) if seen.insert((event.member_id.to_string(), o.order_key)) => {
                        orders.entry(event.member_id.to_string()).or_default().push((event.ts, o.amount));
                    }
                    // Profiles and leaves are last-writer-wins by event time: one older
                    // than the latest of them changes nothing, not even joined_at; a
                    // second leave changes nothing either.
                    EventBody::Member(p) => {
                        let (latest, _) = profile_ts.get(event.member_id.as_str()).copied().unwrap_or((EventTime::MIN, false));
                        if event.ts >= latest {
                            joined.insert(event.member_id.to_string(), p.joined_at);
                            profile_ts.insert(event.member_id.to_string(), (event.ts, false));
                        }
                    }
                    EventBody::MemberLeft => {
                        let (latest, left) = profile_ts.get(event.member_id.as_str()).copied().unwrap_or((EventTime::MIN, false));
                        if event.ts >= latest && !left {
                            profile_ts.insert(event.member_id.to_string(), (event.ts, true));
                        }
                    }
                    _ => {}
                }
            }
            check(&engine, &orders, &joined)?;
        }
        engine.advance_to(end_of(&events, extra), &mut out);
        check(&engine, &orders, &joined)?;
    }

    #[test]
    fn group_figures_equal_a_brute_force_recount(events in stream(), extra in 0i64..150) {
        let until = end_of(&events, extra);
        let (engine, _, accepted) = run_with(&keeping(), &events, until);
        let config = Config::default();
        let table = churnwatch::engine::benchmark::BenchmarkTable::new(&config.groups.benchmark);
        // Replays membership with the engine's documented rule: last writer by event time.
        #[derive(Default)]
        struct Brute { profile: Option<Profile>, left: bool, ts: Option<EventTime>, orders: Vec<(EventTime, Fen, Category)>, keys: HashSet<u64> }
        let mut members: BTreeMap<String, Brute> = BTreeMap::new();
        for (event, ok) in events.iter().zip(accepted) {
            if !ok { continue; }
            let b = members.entry(event.member_id.to_string()).or_default();
            let newer = b.ts.is_none_or(|t| event.ts >= t);
            match &event.body {
                EventBody::Member(p) if newer => { b.profile = Some(p.clone()); b.left = false; b.ts = Some(event.ts); }
                EventBody::MemberLeft if newer && !b.left => { b.left = true; b.ts = Some(event.ts); }
                EventBody::Order(o) if b.keys.insert(o.order_key) => b.orders.push((event.ts, o.amount, o.category)),
                _ => {}
            }
        }
        for group in GROUPS {
            let (mut tracked, mut counted, mut active, mut expected) = (0u32, 0u32, 0u32, 0u32);
            let mut revenue = [Fen::ZERO; Category::COUNT];
            for b in members.values() {
                let Some(p) = b.profile.as_ref().filter(|p| p.group_id.as_str() == group && !b.left) else { continue };
                tracked += 1;
                if until - p.joined_at < Span::days(30) { continue; }
                counted += 1;
                let tier = table.tier_index(p.fee_tier.as_str()).unwrap();
                expected += u32::from(table.expected_pct(tier, tenure_month(p.joined_at, until)));
                let window: Vec<_> = b.orders.iter().filter(|o| o.0 <= until && o.0 > until - Span::days(30)).collect();
                if !window.is_empty() { active += 1; }
                for o in window { revenue[o.2.index()] += o.1; }
            }
            match engine.group(&GroupId::new(group)) {
                Some(g) => {
                    prop_assert_eq!((g.tracked, g.counted, g.active, g.expected_sum), (tracked, counted, active, expected), "group {}", group);
                    prop_assert_eq!(g.revenue, revenue, "group {}", group);
                }
                None => prop_assert_eq!(tracked, 0),
            }
        }
    }

    #[test]
    fn the_roster_equals_a_recount(events in stream(), extra in 0i64..150) {
        let (engine, _, _) = run(&events, end_of(&events, extra));
        let roster = engine.roster();
        for (segment, n) in roster.members_by_segment() {
            let recount = engine.members().filter(|m| m.segment == segment).count() as u64;
            prop_assert_eq!(n, recount, "segment {:?}", segment);
        }
        for (stage, n) in roster.members_by_stage() {
            let recount = engine.members().filter(|m| m.stage() == stage).count() as u64;
            prop_assert_eq!(n, recount, "stage {:?}", stage);
        }
        for tutor in TUTORS {
            let Some(t) = engine.tutor_index(&TutorId::new(tutor)) else { continue };
            let mut listed: Vec<String> = roster
                .of_tutor(t)
                .iter()
                .filter_map(|&i| engine.member_at(i))
                .map(|m| m.id().to_owned())
                .collect();
            listed.sort();
            let mut expected: Vec<String> = engine
                .members()
                .filter(|m| m.has_profile() && m.tutor == t)
                .map(|m| m.id().to_owned())
                .collect();
            expected.sort();
            prop_assert_eq!(listed, expected, "tutor {}", tutor);
        }
        // A member who never left fell at her last segment warning, unless it was a rise
        // (with eviction off: one who came back afresh has no fall of her old life).
        let (engine, warnings, _) = run_with(&keeping(), &events, end_of(&events, extra));
        let left: HashSet<&str> = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::MemberLeft))
            .map(|e| e.member_id.as_str())
            .collect();
        for m in engine.members().filter(|m| !left.contains(m.id())) {
            let last = warnings.iter().rev().find(|w| {
                w.member_id.as_ref().is_some_and(|id| id.as_str() == m.id())
                    && matches!(
                        w.kind,
                        WarningKind::SegmentDowngrade
                            | WarningKind::SegmentUpgrade
                            | WarningKind::ActivationOverdue
                    )
            });
            let expected = last
                .filter(|w| w.kind != WarningKind::SegmentUpgrade)
                .map(|w| w.event_time);
            prop_assert_eq!(m.fell_at(), expected, "member {}", m.id());
        }
    }
}

/// The invisibility property above needs members to go dormant and to come back: this
/// shows its streams do both, at either horizon.
#[test]
fn the_sparse_streams_send_members_dormant_and_bring_them_back() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut back, mut dormant_at_end, runs) = (0, 0, 100);
    for _ in 0..runs {
        let events = stream_with_spells(200)
            .new_tree(&mut runner)
            .expect("a stream")
            .current();
        let (engine, _, _) = run_with(
            &dormant_after(Span::days(365)),
            &events,
            end_of(&events, 400),
        );
        let went = engine
            .stats()
            .evictions()
            .find(|(r, _)| *r == "dormant")
            .map_or(0, |(_, n)| n) as usize;
        if went > engine.dormant_count() {
            back += 1;
        }
        if engine.dormant_count() > 0 {
            dormant_at_end += 1;
        }
    }
    assert!(
        back * 4 >= runs && dormant_at_end * 2 >= runs,
        "{back} of {runs} streams brought a dormant member back, {dormant_at_end} ended with one"
    );
}

/// The properties above run with eviction on; this shows their streams do evict, so that
/// they cover it.
#[test]
fn the_random_streams_evict_members() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut evicting_runs, mut runs) = (0, 0);
    for _ in 0..100 {
        let events = stream().new_tree(&mut runner).expect("a stream").current();
        let (engine, _, _) = run(&events, end_of(&events, 100));
        runs += 1;
        if engine.stats().evictions().any(|(_, n)| n > 0) {
            evicting_runs += 1;
        }
    }
    assert!(
        evicting_runs * 3 >= runs,
        "only {evicting_runs} of {runs} streams evicted a member"
    );
}

/// Every member's and group's state as `replay --state-out` writes it.
fn state_lines(engine: &Engine) -> String {
    let mut out = Vec::new();
    churnwatch::cli::state_out::write(engine, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("JSON is UTF-8")
}
