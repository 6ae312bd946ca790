//! The two stages of the scale-out on one machine, pre-decoded events (no Kafka):
//!
//! - engine events/s of a single engine (the same run's reference), and of the two stages
//!   with the input on `CHURNWATCH_BENCH_PARTITIONS` partitions (default 8) with the member
//!   stages on 1, 2, … threads (up to the cores; partition p on thread p mod T) feeding one
//!   group stage on a thread of its own;
//! - the internal topic's cost: records and bytes (Protobuf, before compression) per input
//!   event, with each source writing one batch per group-stage partition every
//!   `CHURNWATCH_BENCH_COMMIT` input events (default 5 000, a 100 ms commit interval at
//!   50 k events/s per task), watermark-only batches included.
//!
//! `cargo bench --bench stages`. Input: the generator's default workload at
//! `CHURNWATCH_BENCH_MEMBERS` members (default 100 000). Medians of five runs each.

use std::sync::mpsc;
use std::time::Instant;

use churnwatch::config::Config;
use churnwatch::contributions;
use churnwatch::engine::{route, Engine, GroupStage, TimeMode, Unit};
use churnwatch::model::{Event, EventTime};
use churnwatch::partitioner::Partitioner;

#[path = "support/workload.rs"]
mod workload;

const RUNS: usize = 5;
const BATCH: usize = 64;
/// Events a member stage takes from one partition before handing its units over, as a
/// consumer poll would: the hand-over costs a wake-up of the group stage's thread.
const POLL: usize = 1024;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn split(events: &[Event], partitions: u32) -> Vec<Vec<Event>> {
    let mut parts = vec![Vec::new(); partitions as usize];
    for e in events {
        let p = Partitioner::ConsistentRandom
            .partition(e.member_id.as_str().as_bytes(), partitions)
            .unwrap_or(0);
        parts[p as usize].push(e.clone());
    }
    parts
}

const WALL: EventTime = EventTime(i64::MAX / 2);

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// One engine over the whole input: events/s.
fn single(config: &Config, events: &[Event]) -> f64 {
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let mut out = Vec::new();
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        let _ = engine.process_batch(0, batch, WALL, &mut out);
        out.clear();
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// The member stages on `threads` threads, the group stage on this one: events/s, and
/// the group warnings (a check that the stage did its work).
fn two_stages(config: &Config, parts: &[Vec<Event>], threads: usize) -> (f64, usize) {
    let settings = config.engine();
    let partitions = parts.len() as u32;
    let total: usize = parts.iter().map(Vec::len).sum();
    let (tx, rx) = mpsc::sync_channel::<(u32, Vec<Unit>, EventTime)>(1024);
    let started = Instant::now();
    let mut warnings = Vec::new();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (tx, settings) = (tx.clone(), &settings);
            scope.spawn(move || {
                let mine: Vec<u32> = (0..partitions)
                    .filter(|p| *p as usize % threads == t)
                    .collect();
                let mut engines: Vec<Engine> = mine
                    .iter()
                    .map(|_| Engine::new_member_stage(settings, TimeMode::Replay))
                    .collect();
                let mut out = Vec::new();
                let mut at = vec![0usize; mine.len()];
                // The thread's partitions a poll at a time, in turn.
                while at
                    .iter()
                    .zip(&mine)
                    .any(|(i, p)| *i < parts[*p as usize].len())
                {
                    for (k, &p) in mine.iter().enumerate() {
                        let events = &parts[p as usize];
                        let end = (at[k] + POLL).min(events.len());
                        if at[k] == end {
                            continue;
                        }
                        for batch in events[at[k]..end].chunks(BATCH) {
                            let _ = engines[k].process_batch(p, batch, WALL, &mut out);
                            out.clear();
                        }
                        at[k] = end;
                        let mut units = Vec::new();
                        engines[k].take_units(&mut units);
                        let watermark = engines[k].watermark();
                        if tx.send((p, units, watermark)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut stage = GroupStage::new(&settings, partitions);
        for (p, units, watermark) in rx {
            stage.receive(p, units, watermark);
            stage.release(&mut warnings);
        }
    });
    (
        total as f64 / started.elapsed().as_secs_f64(),
        warnings.len(),
    )
}

/// Records and bytes per input event on the internal topic.
fn topic_cost(
    config: &Config,
    parts: &[Vec<Event>],
    group_partitions: u32,
    commit: usize,
) -> (f64, f64, f64) {
    let settings = config.engine();
    let partitions = parts.len() as u32;
    let (mut records, mut bytes, mut entries, mut total) = (0usize, 0usize, 0usize, 0usize);
    for (p, events) in parts.iter().enumerate() {
        let mut engine = Engine::new_member_stage(&settings, TimeMode::Replay);
        let mut out = Vec::new();
        let mut first = true;
        for chunk in events.chunks(commit) {
            for batch in chunk.chunks(BATCH) {
                let _ = engine.process_batch(p as u32, batch, WALL, &mut out);
                out.clear();
            }
            let mut units = Vec::new();
            engine.take_units(&mut units);
            entries += units.iter().map(|u| u.entries.len()).sum::<usize>();
            for routed in route(&units, group_partitions, first) {
                records += 1;
                bytes +=
                    contributions::encode(p as u32, partitions, engine.watermark(), &routed).len();
            }
            first = false;
            total += chunk.len();
        }
    }
    let per = |n: usize| n as f64 / total as f64;
    (per(records), per(bytes), per(entries))
}

/// The member stages alone on this thread, their units dropped: events/s.
fn member_stages_alone(config: &Config, parts: &[Vec<Event>]) -> f64 {
    let settings = config.engine();
    let total: usize = parts.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut units = Vec::new();
    for (p, events) in parts.iter().enumerate() {
        let mut engine = Engine::new_member_stage(&settings, TimeMode::Replay);
        for batch in events.chunks(BATCH) {
            let _ = engine.process_batch(p as u32, batch, WALL, &mut out);
            out.clear();
            units.clear();
            engine.take_units(&mut units);
        }
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let members = workload::members();
    let partitions = env("CHURNWATCH_BENCH_PARTITIONS", 8) as u32;
    let commit = env("CHURNWATCH_BENCH_COMMIT", 5_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = Config::default();
    let events = workload::decoded_events(members);
    let parts = split(&events, partitions);
    println!(
        "stages: {} events, {members} members, {partitions} partitions, {cores} cores",
        events.len()
    );
    let mut reference = Vec::new();
    let mut by_threads: Vec<Vec<f64>> = vec![Vec::new(); cores];
    let mut group_warnings = 0;
    let mut alone = Vec::new();
    for _ in 0..RUNS {
        reference.push(single(&config, &events));
        alone.push(member_stages_alone(&config, &parts));
        for (t, rates) in by_threads.iter_mut().enumerate() {
            let (rate, warnings) = two_stages(&config, &parts, t + 1);
            rates.push(rate);
            group_warnings = warnings;
        }
    }
    let reference = median(reference);
    println!(
        "  single engine:                 {:>6.2} M events/s",
        reference / 1e6
    );
    let alone = median(alone);
    println!(
        "  member stages alone, 1 thread:  {:>6.2} M events/s ({:.2} of the single engine)",
        alone / 1e6,
        alone / reference
    );
    for (t, rates) in by_threads.into_iter().enumerate() {
        let rate = median(rates);
        println!(
            "  two stages, {} member thread{}: {:>6.2} M events/s ({:.2} of the single engine)",
            t + 1,
            if t == 0 { " " } else { "s" },
            rate / 1e6,
            rate / reference
        );
    }
    println!("  group warnings from the group stage: {group_warnings}");
    for group_partitions in [1, partitions] {
        let (records, bytes, entries) = topic_cost(&config, &parts, group_partitions, commit);
        println!(
            "  internal topic, {group_partitions} group partition(s), a batch per {commit} events: \
             {records:.4} records, {bytes:.1} bytes, {entries:.3} entries per input event"
        );
    }
}
