//! `--state-out`: the final state of every member and group as JSON lines, members first
//! in id order, then groups in first-seen order. Deterministic for a given input, and the
//! same whether or not silent members were moved to remainders on the way.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::engine::{Engine, GroupState, MemberCopy, Partitioned};
use crate::model::TutorId;
use crate::query::views::{self, MemberFigures, MemberView};

/// A member's line: her query view with the figures inline and the open tickets
/// counted.
#[derive(Serialize)]
struct MemberLine {
    member_id: String,
    group_id: Option<String>,
    tutor_id: Option<String>,
    fee_tier: Option<String>,
    joined_at: Option<String>,
    left: bool,
    segment: &'static str,
    stage: &'static str,
    #[serde(flatten)]
    figures: MemberFigures,
    first_order_at: Option<String>,
    last_order_at: Option<String>,
    last_login_or_first_seen: String,
    open_tickets: usize,
    next_wake: Option<String>,
}

#[derive(Serialize)]
struct GroupLine<'a> {
    group_id: &'a str,
    tutor_id: Option<&'a str>,
    tracked: u32,
    members: u32,
    active: u32,
    activity_bp: i64,
    benchmark_bp: i64,
    activity_grade: &'static str,
    output_grade: &'static str,
    output_per_active: String,
    revenue_30d: BTreeMap<&'static str, String>,
    members_needed: u32,
}

impl From<MemberView> for MemberLine {
    fn from(v: MemberView) -> MemberLine {
        MemberLine {
            member_id: v.member_id,
            group_id: v.group_id,
            tutor_id: v.tutor_id,
            fee_tier: v.fee_tier,
            joined_at: v.joined_at,
            left: v.left,
            segment: v.segment,
            stage: v.stage,
            figures: v.figures,
            first_order_at: v.first_order_at,
            last_order_at: v.last_order_at,
            last_login_or_first_seen: v.last_login_or_first_seen,
            open_tickets: v.open_tickets.len(),
            next_wake: v.next_wake,
        }
    }
}

pub fn member_line(engine: &Engine, m: &MemberCopy) -> serde_json::Value {
    let line = MemberLine::from(views::member_view(engine, m));
    serde_json::to_value(line).unwrap_or(serde_json::Value::Null)
}

pub fn group_line(engine: &Engine, g: &GroupState) -> serde_json::Value {
    group_line_with(g, |t| engine.tutor_id(t))
}

/// A group's line, its interned tutor resolved by `tutor_id`.
fn group_line_with<'a>(
    g: &'a GroupState,
    tutor_id: impl Fn(u32) -> Option<&'a TutorId>,
) -> serde_json::Value {
    let grade = |grade: Option<crate::engine::Grade>| grade.map_or("ungraded", |g| g.name());
    let line = GroupLine {
        group_id: g.id.as_str(),
        tutor_id: g.tutor.and_then(tutor_id).map(|t| t.as_str()),
        tracked: g.tracked,
        members: g.counted,
        active: g.active,
        activity_bp: g.activity_bp(),
        benchmark_bp: g.benchmark_bp(),
        activity_grade: grade(g.activity_grade),
        output_grade: grade(g.output_grade),
        output_per_active: g.output_per_active().to_string(),
        revenue_30d: crate::model::Category::ALL
            .iter()
            .map(|c| (c.name(), g.revenue[c.index()].to_string()))
            .collect(),
        members_needed: g.members_needed(),
    };
    serde_json::to_value(line).unwrap_or(serde_json::Value::Null)
}

pub fn write(engine: &Engine, out: &mut impl Write) -> io::Result<()> {
    let mut members: Vec<(&str, u32)> = engine.member_ids().collect();
    members.sort_unstable();
    for m in members.iter().filter_map(|&(_, at)| engine.member_at(at)) {
        serde_json::to_writer(&mut *out, &member_line(engine, &m))?;
        out.write_all(b"\n")?;
    }
    for g in engine.groups() {
        serde_json::to_writer(&mut *out, &group_line(engine, g))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// [`write`] for the two stages: the members of every partition's engine in id order,
/// then the group stage's groups in first-seen order.
pub fn write_partitioned(two: &Partitioned, out: &mut impl Write) -> io::Result<()> {
    let mut members: Vec<(&str, usize, u32)> = two
        .engines()
        .iter()
        .enumerate()
        .flat_map(|(p, engine)| engine.member_ids().map(move |(id, at)| (id, p, at)))
        .collect();
    members.sort_unstable();
    for &(_, p, at) in &members {
        let engine = &two.engines()[p];
        if let Some(m) = engine.member_at(at) {
            serde_json::to_writer(&mut *out, &member_line(engine, &m))?;
            out.write_all(b"\n")?;
        }
    }
    let stage = two.stage();
    for g in stage.groups() {
        serde_json::to_writer(&mut *out, &group_line_with(g, |t| stage.tutor_id(t)))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
