//! Read-only views of the live state (SPEC §8): what `/v1/members/{id}`,
//! `/v1/groups/{id}` and `/v1/tutors/{id}/at-risk` answer. Pure functions of the engine;
//! the figures are those at the engine's watermark, as a warning emitted now would
//! carry them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::benchmark::tenure_month;
use crate::engine::member::TicketState;
use crate::engine::{Engine, Grade, GroupState, MemberCopy, Segment};
use crate::model::{Category, EventTime, GroupId, MemberId, TutorId};
use crate::output::percent_number;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberView {
    pub member_id: String,
    pub group_id: Option<String>,
    pub tutor_id: Option<String>,
    pub fee_tier: Option<String>,
    pub joined_at: Option<String>,
    /// Tenure month at `as_of` (13 = over a year); absent without a profile.
    pub tenure_month: Option<u8>,
    pub left: bool,
    pub segment: &'static str,
    pub stage: &'static str,
    /// When she fell into her current segment, if her latest change was a fall.
    pub fell_at: Option<String>,
    pub action: String,
    pub figures: MemberFigures,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    pub last_login_or_first_seen: String,
    pub open_tickets: Vec<TicketView>,
    pub next_wake: Option<String>,
    /// The instant the figures are computed at: the watermark (or her own clock, if
    /// later).
    pub as_of: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberFigures {
    pub recency_days: Option<i64>,
    pub f30: u32,
    pub m30: String,
    pub f90: u32,
    pub lifetime_orders: u32,
    pub lifetime_amount: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TicketView {
    pub ticket_id: String,
    pub opened_at: String,
    /// Open past the after-sales SLA (an `AFTER_SALES_OVERDUE` was sent).
    pub overdue: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupView {
    pub group_id: String,
    pub tutor_id: Option<String>,
    /// Members with a profile naming the group (including those in their first month).
    pub tracked: u32,
    /// Members in the group's figures: past their first tenure month, not left.
    pub members: u32,
    pub active: u32,
    /// Percent of counted members active, and the benchmark, in percent.
    pub activity: serde_json::Number,
    pub benchmark: serde_json::Number,
    pub activity_grade: &'static str,
    pub output_grade: &'static str,
    pub output_per_active: String,
    pub output_target: String,
    /// Active members short of the benchmark (0 when at or above it).
    pub members_needed: u32,
    /// 30-day revenue by category, yuan.
    pub revenue_30d: BTreeMap<&'static str, String>,
    pub weakest_categories: Vec<&'static str>,
    pub as_of: String,
}

/// A tutor's page: her groups, weakest first, and her members at risk, most urgent
/// first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TutorBoard {
    pub tutor_id: String,
    pub groups: Vec<GroupView>,
    pub at_risk: Vec<AtRiskMember>,
    /// At-risk members in all; `at_risk` holds the first `limit`.
    pub at_risk_total: usize,
    pub as_of: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AtRiskMember {
    pub member_id: String,
    pub group_id: Option<String>,
    pub segment: &'static str,
    pub stage: &'static str,
    pub fell_at: String,
    pub recency_days: Option<i64>,
    pub m30: String,
    pub open_tickets: usize,
    pub action: String,
}

fn grade_name(grade: Option<Grade>) -> &'static str {
    grade.map_or("ungraded", Grade::name)
}

pub fn member(engine: &Engine, id: &MemberId) -> Option<MemberView> {
    let idx = engine.member_index(id)?;
    engine.member_at(idx).map(|m| member_view(engine, &m))
}

/// Her view as of the watermark (or her own clock, if later).
pub fn member_view(engine: &Engine, m: &MemberCopy<'_>) -> MemberView {
    let at = engine.watermark().max(m.clock());
    let rfm = m.rfm(at);
    let profile = m.has_profile();
    let rules = engine.rules();
    MemberView {
        member_id: m.id().to_owned(),
        group_id: engine.group_id_of(m).map(|g| g.as_str().to_owned()),
        tutor_id: profile
            .then(|| engine.tutor_id(m.tutor))
            .flatten()
            .map(|t| t.as_str().to_owned()),
        fee_tier: profile.then(|| rules.benchmark.tier_name(m.tier).to_owned()),
        joined_at: profile.then(|| m.joined_at().to_rfc3339()),
        tenure_month: profile.then(|| tenure_month(m.joined_at(), at)),
        left: m.left(),
        segment: m.segment.name(),
        stage: m.stage().name(),
        fell_at: m.fell_at().map(EventTime::to_rfc3339),
        action: rules.segment_action(m.segment).to_string(),
        figures: MemberFigures {
            recency_days: rfm.recency.map(|r| r.whole_days()),
            f30: rfm.f30,
            m30: rfm.m30.to_string(),
            f90: rfm.f90,
            lifetime_orders: m.lifetime_orders,
            lifetime_amount: m.lifetime_amount().to_string(),
        },
        first_order_at: m.first_order_at().map(EventTime::to_rfc3339),
        last_order_at: m.last_order_at().map(EventTime::to_rfc3339),
        last_login_or_first_seen: m.login_ref().to_rfc3339(),
        open_tickets: m
            .tickets()
            .iter()
            .filter(|t| t.state != TicketState::Resolved)
            .map(|t| TicketView {
                ticket_id: t.id.to_string(),
                opened_at: t.opened_at.to_rfc3339(),
                overdue: t.state == TicketState::OpenWarned,
            })
            .collect(),
        // A wake-up only for eviction changes nothing of hers: not shown, as eviction
        // never shows.
        next_wake: m
            .wake()
            .filter(|_| !m.eviction_wake())
            .map(EventTime::to_rfc3339),
        as_of: at.to_rfc3339(),
    }
}

pub fn group(engine: &Engine, id: &GroupId) -> Option<GroupView> {
    engine.group(id).map(|g| group_view(engine, g))
}

fn group_view(engine: &Engine, g: &GroupState) -> GroupView {
    let config = &engine.rules().settings.groups;
    GroupView {
        group_id: g.id.as_str().to_owned(),
        tutor_id: g
            .tutor
            .and_then(|t| engine.tutor_id(t))
            .map(|t| t.as_str().to_owned()),
        tracked: g.tracked,
        members: g.counted,
        active: g.active,
        activity: percent_number(g.activity_bp()),
        benchmark: percent_number(g.benchmark_bp()),
        activity_grade: grade_name(g.activity_grade),
        output_grade: grade_name(g.output_grade),
        output_per_active: g.output_per_active().to_string(),
        output_target: config.output_target.to_string(),
        members_needed: g.members_needed(),
        revenue_30d: Category::ALL
            .iter()
            .map(|c| (c.name(), g.revenue[c.index()].to_string()))
            .collect(),
        weakest_categories: g
            .weakest_categories(config)
            .iter()
            .map(|c| c.name())
            .collect(),
        as_of: engine.watermark().to_rfc3339(),
    }
}

/// Urgency order: important segments first, then the most recent fall, then the id (so
/// the order is total and stable).
fn urgency(a: &(bool, EventTime, &str), b: &(bool, EventTime, &str)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2))
}

/// The tutor's groups (failing activity first, then by how far below the benchmark)
/// and her members at risk: those whose latest segment change was a fall and who have
/// not left, the first `limit` by urgency. `None` if no profile ever named the tutor.
pub fn tutor(engine: &Engine, id: &TutorId, limit: usize) -> Option<TutorBoard> {
    let tutor = engine.tutor_index(id)?;
    let mut groups: Vec<&GroupState> = engine.groups().filter(|g| g.tutor == Some(tutor)).collect();
    groups.sort_by(|a, b| {
        let gap = |g: &GroupState| g.activity_bp() - g.benchmark_bp();
        gap(a).cmp(&gap(b)).then_with(|| a.id.cmp(&b.id))
    });

    let mut fallen: Vec<(bool, EventTime, MemberCopy<'_>)> = engine
        .roster()
        .of_tutor(tutor)
        .iter()
        .filter_map(|&at| engine.member_at(at))
        .filter(|m| !m.left() && m.segment != Segment::New)
        .filter_map(|m| Some((m.segment.is_important(), m.fell_at()?, m)))
        .collect();
    fallen.sort_by(|a, b| urgency(&(a.0, a.1, a.2.id()), &(b.0, b.1, b.2.id())));
    let total = fallen.len();
    let rules = engine.rules();
    let at_risk = fallen
        .into_iter()
        .take(limit)
        .map(|(_, fell, m)| {
            let rfm = m.rfm(engine.watermark().max(m.clock()));
            AtRiskMember {
                member_id: m.id().to_owned(),
                group_id: engine.group_id_of(&m).map(|g| g.as_str().to_owned()),
                segment: m.segment.name(),
                stage: m.stage().name(),
                fell_at: fell.to_rfc3339(),
                recency_days: rfm.recency.map(|r| r.whole_days()),
                m30: rfm.m30.to_string(),
                open_tickets: m
                    .tickets()
                    .iter()
                    .filter(|t| t.state != TicketState::Resolved)
                    .count(),
                action: rules.segment_action(m.segment).to_string(),
            }
        })
        .collect();
    Some(TutorBoard {
        tutor_id: id.as_str().to_owned(),
        groups: groups.into_iter().map(|g| group_view(engine, g)).collect(),
        at_risk,
        at_risk_total: total,
        as_of: engine.watermark().to_rfc3339(),
    })
}
