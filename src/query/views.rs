//! Read-only views of the live state (SPEC §8): what `/v1/members/{id}`,
//! `/v1/groups/{id}` and `/v1/tutors/{id}/at-risk` answer. Pure functions of the engine;
//! the figures are those at the engine's watermark, as a warning emitted now would
//! carry them.

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::engine::benchmark::tenure_month;
use crate::engine::churn_model::ChurnFigures;
use crate::engine::churn_risk;
use crate::engine::member::TicketState;
use crate::engine::{
    Engine, Grade, GroupStage, GroupState, Label, MemberCopy, MemberState, Rules, Segment,
};
use crate::model::{Category, EventTime, GroupId, MemberId, TutorId};
use crate::output::{millionths_number, percent_number};

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
    /// While the churn model is on: P(alive), the expected purchases in
    /// `churn_risk.horizon`, the parameters' version and the risk level.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Box<ChurnView>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChurnView {
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub model_version: String,
    pub churn_risk: &'static str,
}

impl ChurnView {
    fn of(engine: &Engine, m: &MemberState, at: EventTime) -> Option<Box<ChurnView>> {
        let figures = churn_risk::figures(engine.rules().churn.as_ref()?, m, at)?;
        Some(Box::new(ChurnView {
            p_alive: millionths_number(figures.p_alive_ppm.into()),
            expected_purchases: millionths_number(figures.expected_purchases_micro),
            model_version: figures.version.to_string(),
            churn_risk: Label::Risk(m.risk_level()).name(),
        }))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TicketView {
    pub ticket_id: String,
    pub opened_at: String,
    /// Open past the after-sales SLA (an `AFTER_SALES_OVERDUE` was sent).
    pub overdue: bool,
}

/// A name from a fixed set (a grade, a segment, a category): borrowed where the view is
/// made, owned where it was read back from another instance (two stages).
pub type Name = Cow<'static, str>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub activity_grade: Name,
    pub output_grade: Name,
    pub output_per_active: String,
    pub output_target: String,
    /// Active members short of the benchmark (0 when at or above it).
    pub members_needed: u32,
    /// 30-day revenue by category, yuan.
    pub revenue_30d: BTreeMap<Name, String>,
    pub weakest_categories: Vec<Name>,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtRiskMember {
    pub member_id: String,
    pub group_id: Option<String>,
    pub segment: Name,
    pub stage: Name,
    /// When she fell into her current segment; absent if she is listed for her P(alive)
    /// alone.
    pub fell_at: Option<String>,
    pub recency_days: Option<i64>,
    pub m30: String,
    pub open_tickets: usize,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_alive: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_purchases: Option<f64>,
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
        fee_tier: profile.then(|| rules.benchmark.tier_name(m.tier()).to_owned()),
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
            churn: ChurnView::of(engine, m, at),
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

/// What group views are read from: the engine (one stage) or a group stage (two stages,
/// where the groups live apart from their members).
pub trait GroupHolder {
    fn rules(&self) -> &Rules;
    fn group(&self, id: &GroupId) -> Option<&GroupState>;
    fn groups(&self) -> impl Iterator<Item = &GroupState>;
    fn tutor_id(&self, tutor: u32) -> Option<&TutorId>;
    fn tutor_index(&self, id: &TutorId) -> Option<u32>;
    /// The instant the groups' figures are as of.
    fn as_of(&self) -> EventTime;
}

impl GroupHolder for Engine {
    fn rules(&self) -> &Rules {
        Engine::rules(self)
    }
    fn group(&self, id: &GroupId) -> Option<&GroupState> {
        Engine::group(self, id)
    }
    fn groups(&self) -> impl Iterator<Item = &GroupState> {
        Engine::groups(self)
    }
    fn tutor_id(&self, tutor: u32) -> Option<&TutorId> {
        Engine::tutor_id(self, tutor)
    }
    fn tutor_index(&self, id: &TutorId) -> Option<u32> {
        Engine::tutor_index(self, id)
    }
    fn as_of(&self) -> EventTime {
        self.watermark()
    }
}

impl GroupHolder for GroupStage {
    fn rules(&self) -> &Rules {
        GroupStage::rules(self)
    }
    fn group(&self, id: &GroupId) -> Option<&GroupState> {
        GroupStage::group(self, id)
    }
    fn groups(&self) -> impl Iterator<Item = &GroupState> {
        GroupStage::groups(self)
    }
    fn tutor_id(&self, tutor: u32) -> Option<&TutorId> {
        GroupStage::tutor_id(self, tutor)
    }
    fn tutor_index(&self, id: &TutorId) -> Option<u32> {
        GroupStage::tutor_index(self, id)
    }
    fn as_of(&self) -> EventTime {
        GroupStage::as_of(self)
    }
}

pub fn group(holder: &impl GroupHolder, id: &GroupId) -> Option<GroupView> {
    holder.group(id).map(|g| group_view(holder, g))
}

fn group_view(holder: &impl GroupHolder, g: &GroupState) -> GroupView {
    let config = &holder.rules().settings.groups;
    GroupView {
        group_id: g.id.as_str().to_owned(),
        tutor_id: g
            .tutor
            .and_then(|t| holder.tutor_id(t))
            .map(|t| t.as_str().to_owned()),
        tracked: g.tracked,
        members: g.counted,
        active: g.active,
        activity: percent_number(g.activity_bp()),
        benchmark: percent_number(g.benchmark_bp()),
        activity_grade: grade_name(g.activity_grade).into(),
        output_grade: grade_name(g.output_grade).into(),
        output_per_active: g.output_per_active().to_string(),
        output_target: config.output_target.to_string(),
        members_needed: g.members_needed(),
        revenue_30d: Category::ALL
            .iter()
            .map(|c| (c.name().into(), g.revenue[c.index()].to_string()))
            .collect(),
        weakest_categories: g
            .weakest_categories(config)
            .iter()
            .map(|c| c.name().into())
            .collect(),
        as_of: holder.as_of().to_rfc3339(),
    }
}

/// How urgent an at-risk member is; the smaller, the sooner on the board. With the churn
/// model on, the lowest P(alive) first; then important segments, then the most recent
/// fall, then the id (so the order is total and stable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Urgency {
    /// `u32::MAX` where the model is off or she has no order (last).
    p_alive_ppm: u32,
    important: bool,
    /// `EventTime::MIN` if her latest change was not a fall.
    #[serde(with = "millis")]
    fell: EventTime,
    id: String,
}

/// Event time as epoch milliseconds, between instances.
mod millis {
    use super::EventTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &EventTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_millis())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EventTime, D::Error> {
        i64::deserialize(d).map(EventTime)
    }

    pub mod option {
        use super::EventTime;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(t: &Option<EventTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&t.as_millis()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EventTime>, D::Error> {
            Option::<i64>::deserialize(d).map(|t| t.map(EventTime))
        }
    }
}

impl Ord for Urgency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.p_alive_ppm
            .cmp(&other.p_alive_ppm)
            .then(other.important.cmp(&self.important))
            .then(other.fell.cmp(&self.fell))
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Urgency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Part of a tutor's board, from one holder of state: her groups there, and her most
/// urgent members at risk there, cut at the board's limit. The parts of every holder
/// merge into the board of their union: the first `limit` of all are among the first
/// `limit` of some part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TutorPart {
    /// Some holder had a profile naming the tutor.
    known: bool,
    /// With how far below its benchmark each is, in basis points.
    groups: Vec<(i64, GroupView)>,
    at_risk: Vec<(Urgency, AtRiskMember)>,
    at_risk_total: usize,
    /// The earliest instant among the parts that know her.
    #[serde(with = "millis::option")]
    as_of: Option<EventTime>,
}

impl TutorPart {
    pub fn merge(mut self, other: TutorPart, limit: usize) -> TutorPart {
        self.known |= other.known;
        self.groups.extend(other.groups);
        self.at_risk.extend(other.at_risk);
        self.at_risk.sort_by(|a, b| a.0.cmp(&b.0));
        self.at_risk.truncate(limit);
        self.at_risk_total += other.at_risk_total;
        self.as_of = match (self.as_of, other.as_of) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// The board, or `None` if no holder knew the tutor. Groups failing activity first,
    /// then by how far below the benchmark.
    pub fn into_board(mut self, id: &TutorId) -> Option<TutorBoard> {
        if !self.known {
            return None;
        }
        self.groups
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.group_id.cmp(&b.1.group_id)));
        Some(TutorBoard {
            tutor_id: id.as_str().to_owned(),
            groups: self.groups.into_iter().map(|(_, g)| g).collect(),
            at_risk: self.at_risk.into_iter().map(|(_, m)| m).collect(),
            at_risk_total: self.at_risk_total,
            as_of: self.as_of.unwrap_or(EventTime::MIN).to_rfc3339(),
        })
    }
}

/// The tutor's groups held by `holder`.
pub fn tutor_groups(holder: &impl GroupHolder, id: &TutorId) -> TutorPart {
    let Some(tutor) = holder.tutor_index(id) else {
        return TutorPart::default();
    };
    TutorPart {
        known: true,
        groups: holder
            .groups()
            .filter(|g| g.tutor == Some(tutor))
            .map(|g| (g.activity_bp() - g.benchmark_bp(), group_view(holder, g)))
            .collect(),
        as_of: Some(holder.as_of()),
        ..TutorPart::default()
    }
}

/// The tutor's members at risk held by `engine`, the first `limit` by urgency: those who
/// have not left and whose latest segment change was a fall, or (with the churn model on)
/// whose P(alive) is below a threshold.
pub fn tutor_members(engine: &Engine, id: &TutorId, limit: usize) -> TutorPart {
    let Some(tutor) = engine.tutor_index(id) else {
        return TutorPart::default();
    };
    let rules = engine.rules();
    let mut at_risk: Vec<(Urgency, Option<ChurnFigures>, MemberCopy<'_>)> = engine
        .roster()
        .of_tutor(tutor)
        .iter()
        .filter_map(|&at| engine.member_at(at))
        .filter(|m| !m.left() && m.segment != Segment::New)
        .filter(|m| m.fell_at().is_some() || m.risk_level() > 0)
        .map(|m| {
            let at = engine.watermark().max(m.clock());
            let churn = rules
                .churn
                .as_ref()
                .and_then(|c| churn_risk::figures(c, &m, at));
            let urgency = Urgency {
                p_alive_ppm: churn.as_ref().map_or(u32::MAX, |c| c.p_alive_ppm),
                important: m.segment.is_important(),
                fell: m.fell_at().unwrap_or(EventTime::MIN),
                id: m.id().to_owned(),
            };
            (urgency, churn, m)
        })
        .collect();
    at_risk.sort_by(|a, b| a.0.cmp(&b.0));
    let total = at_risk.len();
    let at_risk = at_risk
        .into_iter()
        .take(limit)
        .map(|(urgency, churn, m)| {
            let rfm = m.rfm(engine.watermark().max(m.clock()));
            let view = AtRiskMember {
                member_id: m.id().to_owned(),
                group_id: engine.group_id_of(&m).map(|g| g.as_str().to_owned()),
                segment: m.segment.name().into(),
                stage: m.stage().name().into(),
                fell_at: m.fell_at().map(EventTime::to_rfc3339),
                recency_days: rfm.recency.map(|r| r.whole_days()),
                m30: rfm.m30.to_string(),
                open_tickets: m
                    .tickets()
                    .iter()
                    .filter(|t| t.state != TicketState::Resolved)
                    .count(),
                action: rules.segment_action(m.segment).to_string(),
                p_alive: churn
                    .as_ref()
                    .map(|c| millionths_number(c.p_alive_ppm.into())),
                expected_purchases: churn
                    .as_ref()
                    .map(|c| millionths_number(c.expected_purchases_micro)),
            };
            (urgency, view)
        })
        .collect();
    TutorPart {
        known: true,
        at_risk,
        at_risk_total: total,
        as_of: Some(engine.watermark()),
        ..TutorPart::default()
    }
}

/// The tutor's groups (failing activity first, then by how far below the benchmark)
/// and her members at risk, the first `limit` by urgency (see [`tutor_members`]). `None`
/// if no profile ever named the tutor.
pub fn tutor(engine: &Engine, id: &TutorId, limit: usize) -> Option<TutorBoard> {
    tutor_groups(engine, id)
        .merge(tutor_members(engine, id, limit), limit)
        .into_board(id)
}
