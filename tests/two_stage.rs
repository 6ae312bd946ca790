//! The two stages of the scale-out (member stage per input partition, group stage merging
//! them), over random event streams (proptest):
//! - with one partition they give exactly a single engine's warnings, in the same order,
//!   the same group figures and the same answer to every query (members from their
//!   partition's engine, groups from the group stage, tutors' boards merged);
//! - with N partitions they give the same member warnings per partition and the same group
//!   warnings in the same order, however the partitions' work interleaves, on however many
//!   threads, and whether or not the group stage is handed units twice;
//! - with N partitions the final group figures are a single engine's;
//! - splitting the group stage over M partitions (units routed by group) gives every
//!   group the warnings one group stage gives it;
//! - member stages and a group stage read back from their images go on exactly like the
//!   ones that never stopped.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use churnwatch::config::Config;
use churnwatch::engine::{
    group_partition, route, Engine, GroupStage, GroupState, Partitioned, TimeMode, Unit, Warning,
};
use churnwatch::model::*;
use churnwatch::query::views;
use common::streams::{stream, GROUPS, MEMBERS, TUTORS};
use common::{T0, WALL};
use proptest::prelude::*;

/// Groups of the random streams' few members are graded, after a short warm-up (so that
/// some streams end inside it).
fn config(evicting: bool) -> Config {
    let mut config = Config::default();
    config.groups.min_group_size = 1;
    config.groups.warmup = Span::days(3);
    if evicting {
        config.state.evict_left_after = Span::days(90);
        config.state.evict_dormant_after = Span::days(90);
    } else {
        config.state.evict_left_after = Span::ZERO;
        config.state.evict_dormant_after = Span::ZERO;
    }
    config.validate().expect("a valid configuration");
    config
}

fn end_of(events: &[Event], extra_days: i64) -> EventTime {
    events.iter().map(|e| e.ts).max().unwrap_or(T0) + Span::days(extra_days)
}

fn single(config: &Config, events: &[Event], until: EventTime) -> (Engine, Vec<Warning>) {
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let mut out = Vec::new();
    for e in events {
        let _ = engine.process(0, e, WALL, &mut out);
    }
    engine.advance_to(until, &mut out);
    (engine, out)
}

/// Where a member's events go: any fixed function of her id will do for the engine.
fn partition_of(member: &MemberId, partitions: u32) -> u32 {
    (stable_hash(member.as_str()) % u64::from(partitions)) as u32
}

fn split(events: &[Event], partitions: u32) -> Vec<Vec<Event>> {
    let mut parts = vec![Vec::new(); partitions as usize];
    for e in events {
        parts[partition_of(&e.member_id, partitions) as usize].push(e.clone());
    }
    parts
}

/// What a run of the two stages gives, in the form that does not depend on how the
/// partitions' work interleaved: each partition's member warnings in its order, the group
/// warnings in the order the group stage gave them.
#[derive(Debug, PartialEq)]
struct Outcome {
    members: BTreeMap<u32, Vec<Warning>>,
    groups: Vec<Warning>,
}

fn outcome(warnings: Vec<Warning>, partitions: u32) -> Outcome {
    let mut members: BTreeMap<u32, Vec<Warning>> = BTreeMap::new();
    let mut groups = Vec::new();
    for w in warnings {
        match &w.member_id {
            Some(m) => members
                .entry(partition_of(m, partitions))
                .or_default()
                .push(w),
            None => groups.push(w),
        }
    }
    Outcome { members, groups }
}

/// The two stages on one thread, the partitions' batches taken in `schedule`'s order
/// (each pick names a partition and a batch size).
fn interleaved(
    config: &Config,
    parts: &[Vec<Event>],
    schedule: &[(usize, usize)],
    until: EventTime,
) -> (Partitioned, Vec<Warning>) {
    interleaved_with(config, parts, schedule, until, false)
}

/// [`interleaved`], each call made on the partition's engine directly and its output
/// handed over with `forward_output` if `direct`.
fn interleaved_with(
    config: &Config,
    parts: &[Vec<Event>],
    schedule: &[(usize, usize)],
    until: EventTime,
    direct: bool,
) -> (Partitioned, Vec<Warning>) {
    let mut two = Partitioned::new(&config.engine(), TimeMode::Replay, parts.len() as u32);
    let mut next = vec![0usize; parts.len()];
    let mut out = Vec::new();
    let mut picks = schedule.iter().cycle();
    while next.iter().zip(parts).any(|(n, p)| *n < p.len()) {
        let &(pick, size) = picks.next().expect("a cycle never ends");
        // The pick's partition, or the next one with events left.
        let p = (0..parts.len())
            .map(|k| (pick + k) % parts.len())
            .find(|&p| next[p] < parts[p].len())
            .expect("some partition has events left");
        let end = (next[p] + size.max(1)).min(parts[p].len());
        let batch = &parts[p][next[p]..end];
        if direct {
            // As a caller running the member stages on threads of its own does.
            let mut members = Vec::new();
            let _ = two.engines_mut()[p].process_batch(p as u32, batch, WALL, &mut members);
            two.forward_output(p as u32, &mut members, &mut out);
        } else {
            let _ = two.process_batch(p as u32, batch, WALL, &mut out);
        }
        next[p] = end;
    }
    two.advance_to(until, &mut out);
    two.finish(&mut out);
    (two, out)
}

/// The member stages on `threads` threads (partition p on thread p % threads), each
/// sending its units and watermark after every batch to the group stage on this thread,
/// which takes them in arrival order; every other delivery is sent twice, as an
/// at-least-once transport would.
fn threaded(config: &Config, parts: &[Vec<Event>], threads: usize, until: EventTime) -> Outcome {
    let partitions = parts.len() as u32;
    let settings = config.engine();
    let (tx, rx) = mpsc::channel::<(u32, Vec<Unit>, EventTime, Vec<Warning>)>();
    let mut members = Vec::new();
    // Units sent a second time: each is one the stage must drop.
    let repeated = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let tx = tx.clone();
            let (settings, repeated) = (&settings, &repeated);
            scope.spawn(move || {
                let mut engines: Vec<(u32, Engine)> = (0..partitions)
                    .filter(|p| *p as usize % threads == t)
                    .map(|p| (p, Engine::new_member_stage(settings, TimeMode::Replay)))
                    .collect();
                let mut sent = 0usize;
                let mut send = |p: u32, engine: &mut Engine, out: Vec<Warning>| {
                    let mut units = Vec::new();
                    engine.take_units(&mut units);
                    if sent % 2 == 1 {
                        repeated.fetch_add(units.len() as u64, Ordering::Relaxed);
                        let again = (p, units.clone(), engine.watermark(), Vec::new());
                        tx.send(again)
                            .expect("the group stage outlives the threads");
                    }
                    sent += 1;
                    tx.send((p, units, engine.watermark(), out))
                        .expect("the group stage outlives the threads");
                };
                for (p, engine) in &mut engines {
                    for batch in parts[*p as usize].chunks(3) {
                        let mut out = Vec::new();
                        let _ = engine.process_batch(*p, batch, WALL, &mut out);
                        send(*p, engine, out);
                    }
                }
                for (p, engine) in &mut engines {
                    let mut out = Vec::new();
                    engine.advance_to(until, &mut out);
                    send(*p, engine, out);
                }
            });
        }
        drop(tx);
        let mut stage = GroupStage::new(&settings, partitions);
        let mut groups = Vec::new();
        for (p, units, watermark, out) in rx {
            members.extend(out);
            stage.receive(p, units, watermark);
            stage.release(&mut groups);
        }
        for p in 0..partitions {
            stage.finish(p);
        }
        stage.release(&mut groups);
        // Every repeated delivery was recognised, and no entry contradicted what the stage
        // held (a leaving of a group she was not in, an older contribution).
        assert_eq!(stage.redelivered_units(), repeated.load(Ordering::Relaxed));
        assert_eq!(stage.stale_entries(), 0);
        members.extend(groups);
    });
    outcome(members, partitions)
}

/// The member stages feeding `stages` group-stage partitions, each unit routed to the
/// partitions of its groups; the group warnings by group, each group's in order.
fn by_group_stage(
    config: &Config,
    parts: &[Vec<Event>],
    stages: u32,
    until: EventTime,
) -> BTreeMap<String, Vec<Warning>> {
    let settings = config.engine();
    let partitions = parts.len() as u32;
    let mut engines: Vec<Engine> = (0..partitions)
        .map(|_| Engine::new_member_stage(&settings, TimeMode::Replay))
        .collect();
    let mut group_stages: Vec<GroupStage> = (0..stages)
        .map(|_| GroupStage::new(&settings, partitions))
        .collect();
    let mut warnings = Vec::new();
    let mut forward = |p: u32, engine: &mut Engine, first: bool, warnings: &mut Vec<Warning>| {
        let mut units = Vec::new();
        engine.take_units(&mut units);
        // One stage takes every unit as it is: the reference for the routing.
        let routed = if stages == 1 {
            vec![units]
        } else {
            route(&units, stages, first)
        };
        for (q, units) in routed.into_iter().enumerate() {
            group_stages[q].receive(p, units, engine.watermark());
            group_stages[q].release(warnings);
        }
    };
    for (p, engine) in engines.iter_mut().enumerate() {
        for (i, batch) in parts[p].chunks(4).enumerate() {
            let _ = engine.process_batch(p as u32, batch, WALL, &mut Vec::new());
            forward(p as u32, engine, i == 0, &mut warnings);
        }
    }
    for (p, engine) in engines.iter_mut().enumerate() {
        engine.advance_to(until, &mut Vec::new());
        forward(p as u32, engine, parts[p].is_empty(), &mut warnings);
    }
    for stage in &mut group_stages {
        for p in 0..partitions {
            stage.finish(p);
        }
        stage.release(&mut warnings);
    }
    let mut by_group: BTreeMap<String, Vec<Warning>> = BTreeMap::new();
    for w in warnings {
        let group = w.group_id.clone().expect("a group warning names its group");
        assert_eq!(
            group_partition(&group, stages) as usize,
            group_stages
                .iter()
                .position(|s| s.group(&group).is_some_and(|g| g.id == group))
                .expect("some stage holds the group"),
            "a group lives on the partition its id routes to"
        );
        by_group.entry(group.to_string()).or_default().push(w);
    }
    by_group
}

/// The two stages over `parts`, a batch of three events of each partition in turn; after
/// `cut` rounds every engine and the group stage are written to images and read back.
fn restarted(config: &Config, parts: &[Vec<Event>], cut: usize, until: EventTime) -> Outcome {
    let settings = config.engine();
    let partitions = parts.len() as u32;
    let mut engines: Vec<Engine> = (0..partitions)
        .map(|_| Engine::new_member_stage(&settings, TimeMode::Replay))
        .collect();
    let mut stage = GroupStage::new(&settings, partitions);
    let mut out = Vec::new();
    let forward =
        |p: usize, engine: &mut Engine, stage: &mut GroupStage, out: &mut Vec<Warning>| {
            let mut units = Vec::new();
            engine.take_units(&mut units);
            stage.receive(p as u32, units, engine.watermark());
            stage.release(out);
        };
    let rounds = parts.iter().map(|p| p.len().div_ceil(3)).max().unwrap_or(0);
    for round in 0..rounds {
        if round == cut {
            for engine in &mut engines {
                let mut image = Vec::new();
                engine.write_image(&mut image).expect("an image in memory");
                *engine = Engine::read_image(&settings, TimeMode::Replay, &image[..])
                    .expect("the image reads back");
                assert!(engine.is_member_stage());
            }
            let mut image = Vec::new();
            stage.write_image(&mut image).expect("an image in memory");
            stage = GroupStage::read_image(&settings, partitions, &image[..])
                .expect("the image reads back");
        }
        for (p, engine) in engines.iter_mut().enumerate() {
            let batch = parts[p].chunks(3).nth(round).unwrap_or(&[]);
            let _ = engine.process_batch(p as u32, batch, WALL, &mut out);
            forward(p, engine, &mut stage, &mut out);
        }
    }
    for (p, engine) in engines.iter_mut().enumerate() {
        engine.advance_to(until, &mut out);
        forward(p, engine, &mut stage, &mut out);
    }
    for p in 0..partitions {
        stage.finish(p);
    }
    stage.release(&mut out);
    outcome(out, partitions)
}

fn figures<'a>(
    groups: impl Iterator<Item = &'a GroupState>,
    tutor: impl Fn(u32) -> Option<&'a TutorId>,
) -> Vec<String> {
    let mut lines: Vec<String> = groups
        .map(|g| {
            format!(
                "{} tutor={:?} {} {} {} {} {:?} {:?} {:?}",
                g.id,
                g.tutor.and_then(&tutor),
                g.tracked,
                g.counted,
                g.active,
                g.expected_sum,
                g.revenue,
                g.activity_grade,
                g.output_grade
            )
        })
        .collect();
    lines.sort();
    lines
}

/// Every member's view, as `/v1/members/{id}` answers it under two stages: from the
/// engine of her partition.
fn member_views(two: &Partitioned) -> Vec<String> {
    let partitions = two.partitions();
    (0..MEMBERS)
        .map(|i| {
            let id = MemberId::new(&format!("m{i}"));
            let engine = &two.engines()[partition_of(&id, partitions) as usize];
            format!("{:?}", views::member(engine, &id))
        })
        .collect()
}

/// What every query answers under two stages: members from their partitions' engines,
/// groups from the group stage, tutors' boards merged from every part.
fn queries(two: &Partitioned) -> Vec<String> {
    let mut answers = member_views(two);
    for g in GROUPS {
        answers.push(format!("{:?}", views::group(two.stage(), &GroupId::new(g))));
    }
    for t in TUTORS {
        let id = TutorId::new(t);
        let limit = 2;
        let board = two
            .engines()
            .iter()
            .fold(
                over_the_wire(views::tutor_groups(two.stage(), &id)),
                |part, engine| {
                    part.merge(
                        over_the_wire(views::tutor_members(engine, &id, limit)),
                        limit,
                    )
                },
            )
            .into_board(&id);
        answers.push(format!("{board:?}"));
    }
    answers
}

/// A part as another instance receives it.
fn over_the_wire(part: views::TutorPart) -> views::TutorPart {
    let json = serde_json::to_vec(&part).expect("a part serialises");
    serde_json::from_slice(&json).expect("a part reads back")
}

fn queries_of_single(engine: &Engine) -> Vec<String> {
    let mut answers: Vec<String> = (0..MEMBERS)
        .map(|i| {
            format!(
                "{:?}",
                views::member(engine, &MemberId::new(&format!("m{i}")))
            )
        })
        .collect();
    for g in GROUPS {
        answers.push(format!("{:?}", views::group(engine, &GroupId::new(g))));
    }
    for t in TUTORS {
        answers.push(format!("{:?}", views::tutor(engine, &TutorId::new(t), 2)));
    }
    answers
}

fn schedule() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0usize..8, 1usize..6), 1..20)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn with_one_partition_the_two_stages_give_exactly_a_single_engines_warnings(
        events in stream(),
        extra in 0i64..200,
        evicting in any::<bool>(),
        sizes in schedule(),
    ) {
        let config = config(evicting);
        let until = end_of(&events, extra);
        let (engine, expected) = single(&config, &events, until);
        let (two, got) = interleaved(&config, &[events], &sizes, until);
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(
            figures(two.stage().groups(), |t| two.stage().tutor_id(t)),
            figures(engine.groups(), |t| engine.tutor_id(t))
        );
        prop_assert_eq!(queries(&two), queries_of_single(&engine));
    }

    #[test]
    fn with_n_partitions_the_warnings_do_not_depend_on_how_the_partitions_interleave(
        events in stream(),
        extra in 0i64..200,
        partitions in 2u32..6,
        evicting in any::<bool>(),
        first in schedule(),
        second in schedule(),
        threads in 1usize..4,
    ) {
        let config = config(evicting);
        let until = end_of(&events, extra);
        let parts = split(&events, partitions);
        let (two_first, a) = interleaved(&config, &parts, &first, until);
        let (two, b) = interleaved(&config, &parts, &second, until);
        let a = outcome(a, partitions);
        prop_assert_eq!(&a, &outcome(b, partitions));
        prop_assert_eq!(&a, &threaded(&config, &parts, threads, until));
        // The end figures are the input's, however it was placed. (Not the tutor: a
        // group's is the one its latest profile named, and with several partitions
        // "latest" is the group stage's order, not the order of the file.)
        let (engine, _) = single(&config, &events, until);
        prop_assert_eq!(
            figures(two.stage().groups(), |_| None),
            figures(engine.groups(), |_| None)
        );
        // And so are the queries' answers. (Not a single engine's: a member's events
        // can be late against her partition's watermark and not against the whole
        // input's, or the other way round.)
        prop_assert_eq!(queries(&two), queries(&two_first));
    }

    #[test]
    fn stages_read_back_from_their_images_go_on_exactly_like_the_originals(
        events in stream(),
        extra in 0i64..200,
        partitions in 1u32..5,
        evicting in any::<bool>(),
        cut in 0usize..40,
    ) {
        let config = config(evicting);
        let until = end_of(&events, extra);
        let parts = split(&events, partitions);
        prop_assert_eq!(
            restarted(&config, &parts, cut, until),
            restarted(&config, &parts, usize::MAX, until)
        );
    }

    #[test]
    fn calls_made_on_the_engines_directly_give_the_same_output_in_the_same_order(
        events in stream(),
        extra in 0i64..200,
        partitions in 1u32..5,
        sizes in schedule(),
    ) {
        let config = config(false);
        let until = end_of(&events, extra);
        let parts = split(&events, partitions);
        let (_, through) = interleaved_with(&config, &parts, &sizes, until, false);
        let (_, direct) = interleaved_with(&config, &parts, &sizes, until, true);
        prop_assert_eq!(direct, through);
    }

    #[test]
    fn splitting_the_group_stage_by_group_gives_every_group_the_same_warnings(
        events in stream(),
        extra in 0i64..200,
        partitions in 1u32..5,
        stages in 2u32..5,
    ) {
        let config = config(false);
        let until = end_of(&events, extra);
        let parts = split(&events, partitions);
        prop_assert_eq!(
            by_group_stage(&config, &parts, stages, until),
            by_group_stage(&config, &parts, 1, until)
        );
    }
}

/// The random streams do make the group stage grade: a property over streams whose
/// groups never warn would hold for a broken merge too.
#[test]
fn the_random_streams_give_group_warnings_from_several_partitions() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let config = config(false);
    let mut runner = TestRunner::deterministic();
    let (mut with_group_warnings, mut runs) = (0, 0);
    for _ in 0..64 {
        let events = stream().new_tree(&mut runner).expect("a stream").current();
        let parts = split(&events, 3);
        let until = end_of(&events, 60);
        let (two, out) = interleaved(&config, &parts, &[(0, 2), (1, 1), (2, 3)], until);
        runs += 1;
        if out
            .iter()
            .any(|w| w.group_id.is_some() && w.member_id.is_none())
        {
            with_group_warnings += 1;
        }
        assert_eq!(
            two.stage().pending(),
            0,
            "every unit is released at the end"
        );
        assert!(two.stage().groups().count() <= GROUPS.len());
    }
    assert!(
        with_group_warnings * 4 >= runs,
        "only {with_group_warnings} of {runs} streams gave a group warning"
    );
}
