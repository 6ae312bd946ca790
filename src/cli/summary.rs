//! The end-of-run summary printed on stderr: what came in, what was refused and why, what
//! went out, and where members and groups stand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::engine::{Engine, EngineStats, Grade, GroupState, Partitioned, Segment, Stage};
use crate::model::EventTime;
use crate::reject::RejectReason;

/// Counts kept by the edge: lines read and refusals before the engine saw them.
#[derive(Debug, Default, Clone)]
pub struct InputCounts {
    pub lines: u64,
    pub blank_lines: u64,
    /// Decoded events after the end of the window read (`churnwatch fit`).
    pub after_end: u64,
    pub decode_rejections: BTreeMap<RejectReason, u64>,
}

pub fn render(engine: &Engine, input: &InputCounts, elapsed: Duration) -> String {
    let state = State {
        stats: engine.stats().clone(),
        members: Box::new(engine.members().map(|m| (m.segment, m.stage()))),
        dormant: engine.dormant_count(),
        groups: Box::new(engine.groups()),
        watermark: engine.watermark(),
        pending_timers: engine.pending_timers(),
    };
    render_state(state, input, elapsed, "")
}

/// [`render`] for the two stages: the partitions' engines and the group stage summed.
pub fn render_partitioned(
    two: &Partitioned,
    partitioner: &str,
    input: &InputCounts,
    elapsed: Duration,
) -> String {
    let engines = two.engines();
    let mut stats = two.stage().stats().clone();
    for engine in engines {
        stats.absorb(engine.stats());
    }
    let state = State {
        stats,
        members: Box::new(
            engines
                .iter()
                .flat_map(|e| e.members().map(|m| (m.segment, m.stage()))),
        ),
        dormant: engines.iter().map(Engine::dormant_count).sum(),
        groups: Box::new(two.stage().groups()),
        watermark: two.max_watermark(),
        pending_timers: engines.iter().map(Engine::pending_timers).sum(),
    };
    let stages = format!(
        "  stages: {} member partitions ({}), one group stage holding {} contributions\n",
        engines.len(),
        partitioner,
        two.stage().held_contributions()
    );
    render_state(state, input, elapsed, &stages)
}

/// What the summary reads of the state.
struct State<'a> {
    stats: EngineStats,
    members: Box<dyn Iterator<Item = (Segment, Stage)> + 'a>,
    dormant: usize,
    groups: Box<dyn Iterator<Item = &'a GroupState> + 'a>,
    watermark: EventTime,
    pending_timers: usize,
}

fn render_state(state: State<'_>, input: &InputCounts, elapsed: Duration, extra: &str) -> String {
    let stats = &state.stats;
    let mut s = String::new();
    let applied = stats.total_events();
    let rate = if elapsed.as_secs_f64() > 0.0 {
        input.lines as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    let _ = writeln!(s, "churnwatch summary");
    let _ = writeln!(
        s,
        "  input: {} lines in {:.2} s ({:.0} events/s), {} blank skipped",
        input.lines,
        elapsed.as_secs_f64(),
        rate,
        input.blank_lines
    );
    if input.after_end > 0 {
        let _ = writeln!(
            s,
            "  after the window's end: {} events read, not applied",
            input.after_end
        );
    }
    let _ = writeln!(
        s,
        "  applied: {applied} events ({} changed nothing: duplicates or older profiles)",
        stats.unchanged
    );
    for (kind, n) in stats.events() {
        let _ = writeln!(s, "    {kind:<13} {n}");
    }
    let mut rejections = input.decode_rejections.clone();
    for (reason, n) in stats.rejections() {
        *rejections.entry(reason).or_default() += n;
    }
    let total_rejected: u64 = rejections.values().sum();
    let _ = writeln!(s, "  rejected: {total_rejected}");
    for (reason, n) in &rejections {
        let _ = writeln!(s, "    {:<26} {n}", reason.code());
    }
    let total_warnings = stats.total_warnings();
    let _ = writeln!(
        s,
        "  warnings: {total_warnings} ({} not notified: contact cap)",
        stats.capped
    );
    for (kind, n) in stats.warnings() {
        let _ = writeln!(s, "    {:<26} {n}", kind.name());
    }
    let mut segments: BTreeMap<Segment, u64> = BTreeMap::new();
    let mut stages: BTreeMap<Stage, u64> = BTreeMap::new();
    let mut members = 0u64;
    for (segment, stage) in state.members {
        members += 1;
        *segments.entry(segment).or_default() += 1;
        *stages.entry(stage).or_default() += 1;
    }
    let forgotten = stats
        .evictions()
        .find(|(reason, _)| *reason == "left")
        .map_or(0, |(_, n)| n);
    let _ = writeln!(
        s,
        "  members: {members} held, {} of them dormant (compact remainders); {forgotten} \
         forgotten after leaving",
        state.dormant
    );
    for (segment, n) in segments.iter().rev() {
        let _ = writeln!(s, "    {:<26} {n}", segment.name());
    }
    let _ = writeln!(s, "  stages:");
    for (stage, n) in &stages {
        let _ = writeln!(s, "    {:<26} {n}", stage.name());
    }
    let mut grades: BTreeMap<Option<Grade>, u64> = BTreeMap::new();
    let mut groups = 0u64;
    for g in state.groups {
        groups += 1;
        *grades.entry(g.activity_grade).or_default() += 1;
    }
    let _ = writeln!(s, "  groups: {groups} (by activity grade)");
    for (grade, n) in grades.iter().rev() {
        let _ = writeln!(s, "    {:<26} {n}", grade.map_or("ungraded", Grade::name));
    }
    let _ = writeln!(
        s,
        "  watermark: {}, pending timers: {}",
        state.watermark, state.pending_timers
    );
    s.push_str(extra);
    s
}
