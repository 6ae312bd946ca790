//! `--state-out`: the final state of every member and group as JSON lines, members first
//! in first-seen order, then groups in first-seen order. Deterministic for a given input.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::engine::member::TicketState;
use crate::engine::{Engine, GroupState, Member};
use crate::model::EventTime;

#[derive(Serialize)]
struct MemberLine<'a> {
    member_id: &'a str,
    group_id: Option<&'a str>,
    tutor_id: Option<&'a str>,
    fee_tier: Option<&'a str>,
    joined_at: Option<String>,
    left: bool,
    segment: &'static str,
    stage: &'static str,
    recency_days: Option<i64>,
    f30: u32,
    m30: String,
    f90: u32,
    lifetime_orders: u32,
    lifetime_amount: String,
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

pub fn member_line(engine: &Engine, m: &Member) -> serde_json::Value {
    let at = engine.watermark().max(m.clock);
    let rfm = m.rfm(at);
    let profile = m.has_profile();
    let line = MemberLine {
        member_id: m.id(),
        group_id: engine.group_id_of(m).map(|g| g.as_str()),
        tutor_id: if profile {
            engine.tutor_id(m.tutor).map(|t| t.as_str())
        } else {
            None
        },
        fee_tier: profile.then(|| engine.rules().benchmark.tier_name(m.tier)),
        joined_at: profile.then(|| m.joined_at().to_rfc3339()),
        left: m.left(),
        segment: m.segment.name(),
        stage: m.stage.name(),
        recency_days: rfm.recency.map(|r| r.whole_days()),
        f30: rfm.f30,
        m30: rfm.m30.to_string(),
        f90: rfm.f90,
        lifetime_orders: m.lifetime_orders,
        lifetime_amount: m.lifetime_amount().to_string(),
        first_order_at: m.first_order_at().map(EventTime::to_rfc3339),
        last_order_at: m.last_order_at().map(EventTime::to_rfc3339),
        last_login_or_first_seen: m.login_ref().to_rfc3339(),
        open_tickets: m
            .tickets()
            .iter()
            .filter(|t| t.state != TicketState::Resolved)
            .count(),
        next_wake: m.wake().map(EventTime::to_rfc3339),
    };
    serde_json::to_value(line).unwrap_or(serde_json::Value::Null)
}

pub fn group_line(engine: &Engine, g: &GroupState) -> serde_json::Value {
    let grade = |grade: Option<crate::engine::Grade>| grade.map_or("ungraded", |g| g.name());
    let line = GroupLine {
        group_id: g.id.as_str(),
        tutor_id: g.tutor.and_then(|t| engine.tutor_id(t)).map(|t| t.as_str()),
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
    for m in engine.members() {
        serde_json::to_writer(&mut *out, &member_line(engine, &m))?;
        out.write_all(b"\n")?;
    }
    for g in engine.groups() {
        serde_json::to_writer(&mut *out, &group_line(engine, g))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
