//! The engine's settings: the SPEC rules' parameters (segments, lifecycle, groups,
//! alerts, time) and the members' limits, in the TOML sections of the service's
//! configuration that carry them. The service's `Config` embeds these types and hands
//! the engine a [`Settings`]; the engine never sees Kafka, HTTP or file settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::btyd::{Model, Params};
use crate::model::Segment;
use crate::model::{Category, Fen, Span};

/// Everything the engine reads, and nothing else.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub time: TimeConfig,
    pub segments: SegmentsConfig,
    pub lifecycle: LifecycleConfig,
    pub groups: GroupsConfig,
    pub alerts: AlertsConfig,
    pub actions: Actions,
    pub members: MemberLimits,
    /// The churn-probability model and its thresholds; `None` leaves it off.
    pub churn_risk: Option<ChurnRiskSettings>,
}

/// The most fee tiers a configuration can name (the member record holds the index in six
/// bits).
pub const MAX_TIERS: usize = 64;

/// `CHURN_RISK`: a fitted BG/NBD or MBG/NBD model (the service reads it from the file
/// `churnwatch fit` wrote) and the P(alive) thresholds that warn.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnRiskSettings {
    pub model: Model,
    /// Named by every warning computed with these parameters.
    pub version: String,
    /// `alpha` in milliseconds.
    pub population: Params,
    /// Fee tier name → its own parameters, where fitted per tier.
    pub tiers: BTreeMap<String, Params>,
    /// Strictly decreasing, each in (0, 1); at most [`MAX_RISK_LEVELS`].
    pub thresholds: Vec<f64>,
    /// The horizon of the expected purchases the figures show.
    pub horizon: Span,
}

/// The most churn-risk thresholds (the member record counts them in two bits).
pub const MAX_RISK_LEVELS: usize = 3;

/// The most members one engine holds, hot and dormant: 2^25 − 1, what the member index's
/// 25 slot bits can number.
pub const MAX_MEMBERS: usize = (1 << 25) - 1;

/// How many members the engine holds and when it forgets one (the service's `[state]`
/// section carries these keys beside its snapshot settings).
#[derive(Clone, Debug, PartialEq)]
pub struct MemberLimits {
    /// The first event of a member beyond this many is refused (`member_capacity`).
    pub max_members: usize,
    /// A member who left is forgotten once silent this long; zero keeps her.
    pub evict_left_after: Span,
    /// Any other member is held as a compact remainder once silent this long; zero
    /// keeps every member whole.
    pub evict_dormant_after: Span,
}

impl Default for MemberLimits {
    fn default() -> Self {
        MemberLimits {
            max_members: MAX_MEMBERS,
            evict_left_after: Span::days(90),
            evict_dormant_after: Span::days(365),
        }
    }
}

/// SPEC §3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    /// The watermark trails the largest event time seen by this much.
    pub allowed_lateness: Span,
    /// A partition silent this long stops holding the watermark back (live mode).
    pub idle_timeout: Span,
    /// Events further ahead of the wall clock than this are rejected: one bad clock must
    /// not fire every timer.
    pub max_future_skew: Span,
    /// Events older than watermark minus this are rejected; also how long order ids are
    /// remembered for duplicate detection. At least 90 days (the F90 window).
    pub retention_horizon: Span,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            allowed_lateness: Span::minutes(5),
            idle_timeout: Span::seconds(30),
            max_future_skew: Span::minutes(10),
            retention_horizon: Span::days(90),
        }
    }
}

/// One row of the ordered segment table (SPEC §4). Upper bound on recency, lower bounds on
/// the window figures, never the other way round: so time alone can only lower a rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    pub segment: Segment,
    /// Recency `R` must be at most this (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recency: Option<Span>,
    /// `M30` must be at least this (yuan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_m30: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_f30: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_f90: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentsConfig {
    /// First matching row wins; a member matching none is `general_retain`.
    pub rules: Vec<SegmentRule>,
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        let rule = |segment, days: Option<i64>, m30: Option<i64>| SegmentRule {
            segment,
            max_recency: days.map(Span::days),
            min_m30: m30.map(Fen::yuan),
            min_f30: None,
            min_f90: None,
        };
        SegmentsConfig {
            rules: vec![
                rule(Segment::ImportantValue, Some(7), Some(1000)),
                rule(Segment::ImportantDevelopment, Some(7), Some(500)),
                rule(Segment::ImportantMaintain, Some(14), Some(500)),
                rule(Segment::ImportantRetain, Some(14), Some(100)),
                rule(Segment::GeneralValue, Some(30), Some(100)),
                rule(Segment::GeneralDevelopment, Some(30), None),
                rule(Segment::GeneralMaintain, Some(90), None),
                rule(Segment::GeneralRetain, None, None),
            ],
        }
    }
}

/// SPEC §4 lifecycle and §6 login lapse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// A member with no order this long after `joined_at` becomes `general_retain` with
    /// `ACTIVATION_OVERDUE`.
    pub activation_deadline: Span,
    /// `RECALL_DUE` fires this long after entering `decline`, one per entry.
    pub recall_schedule: Vec<Span>,
    /// `LOGIN_LAPSED` fires after this long without a login, one per entry.
    pub login_lapse: Vec<Span>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            activation_deadline: Span::days(14),
            recall_schedule: [1, 3, 5, 10, 15, 30].map(Span::days).to_vec(),
            login_lapse: vec![Span::days(30), Span::days(60)],
        }
    }
}

/// Grade cut-offs, inclusive lower bounds above the reference (SPEC §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeCuts {
    pub excellent: i64,
    pub good: i64,
}

/// SPEC §5.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsConfig {
    /// Expected active probability in percent per fee tier, tenure months 1..=13
    /// (13 = over a year). Thesis table 3.2.1.
    pub benchmark: BTreeMap<String, Vec<u32>>,
    /// Activity grades, in percentage points above the benchmark; `qualified` is ≥ 0.
    pub activity_grades_pp: GradeCuts,
    /// A failing group recovers only at this many points above the benchmark.
    pub hysteresis_pp: i64,
    /// Groups with fewer counted members are tracked but not graded.
    pub min_group_size: u32,
    /// Monthly output per active member to grade against (yuan).
    pub output_target: Fen,
    /// Output grades, in percent above the target; `qualified` is ≥ 0.
    pub output_grades_pct: GradeCuts,
    /// A failing output recovers only at this many percent above the target. Wider than
    /// the activity band: one order moves a group's output per active member by more
    /// than 1 % of 450 yuan, so a 1 % band would let it flap.
    pub output_hysteresis_pct: i64,
    /// Expected 30-day revenue per active member per category (yuan), thesis table 3.2.3,
    /// mean of March–May. The weakest categories are those furthest below it.
    pub category_benchmark: BTreeMap<Category, Fen>,
    /// How many weakest categories a group warning names.
    pub weakest_categories: usize,
    /// Groups are graded only once the engine has observed this much event time since
    /// its first event: a 30-day activity figure needs 30 days of observation, and a
    /// processor starting without history would otherwise flag every group at once.
    pub warmup: Span,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        let mut benchmark = BTreeMap::new();
        benchmark.insert(
            "399".to_owned(),
            vec![40, 65, 65, 58, 55, 52, 51, 50, 48, 46, 44, 42, 40],
        );
        benchmark.insert(
            "199".to_owned(),
            vec![40, 57, 55, 50, 48, 46, 44, 42, 41, 39, 38, 37, 36],
        );
        let category_benchmark = [
            (Category::ApparelBags, 13756),
            (Category::FreshFood, 9321),
            (Category::Home, 7903),
            (Category::Nutrition, 29765),
            (Category::Skincare, 23153),
            (Category::Cosmetics, 11749),
            (Category::PersonalCare, 8551),
            (Category::MotherBaby, 34656),
        ]
        .into_iter()
        .map(|(c, fen)| (c, Fen(fen)))
        .collect();
        GroupsConfig {
            benchmark,
            activity_grades_pp: GradeCuts {
                excellent: 5,
                good: 2,
            },
            hysteresis_pp: 1,
            min_group_size: 10,
            output_target: Fen::yuan(450),
            output_grades_pct: GradeCuts {
                excellent: 10,
                good: 5,
            },
            output_hysteresis_pct: 5,
            category_benchmark,
            weakest_categories: 2,
            warmup: Span::days(30),
        }
    }
}

/// SPEC §6.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub after_sales_sla: Span,
    /// Non-critical member warnings marked `notify: true` per member per `cap_window`.
    pub member_warning_cap: u32,
    pub cap_window: Span,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            after_sales_sla: Span::hours(48),
            member_warning_cap: 3,
            cap_window: Span::days(7),
        }
    }
}

/// Recommended actions (thesis 4.5.2), by the segment a member lands in and by the kind
/// of the other warnings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    pub important_value: String,
    pub important_development: String,
    pub important_maintain: String,
    pub important_retain: String,
    pub general_value: String,
    pub general_development: String,
    pub general_maintain: String,
    pub general_retain: String,
    pub activation_overdue: String,
    pub recall_due: String,
    pub login_lapsed: String,
    pub after_sales_overdue: String,
    pub group_below_benchmark: String,
    pub group_output_below_target: String,
    pub group_recovered: String,
    pub churn_risk: String,
}

impl Default for Actions {
    fn default() -> Self {
        let s = str::to_owned;
        Actions {
            important_value: s("reward and involve: invite her to share selling tips in the group; gifts, badges, early access"),
            important_development: s("personal recommendations matched to her needs to lift monthly spend; no mass broadcasts"),
            important_maintain: s("personal check-in; look for an unresolved after-sales issue"),
            important_retain: s("personal call or message today; targeted coupon; fix any service problem"),
            general_value: s("keep engaged with group activities and new-product pushes"),
            general_development: s("coupons and need discovery to lift order frequency"),
            general_maintain: s("periodic benefit reminders by automated push"),
            general_retain: s("low priority; no tutor time"),
            activation_overdue: s("no first order yet: welcome call and first-order guidance from the tutor"),
            recall_due: s("recall attempt: contact her with a personalised offer"),
            login_lapsed: s("not seen in the shop: check the mini-program works for her and send a reason to come back"),
            after_sales_overdue: s("after-sales ticket past its SLA: escalate to customer service and tell the member"),
            group_below_benchmark: s("group activity below benchmark: activate members personally and push the weakest categories"),
            group_output_below_target: s("output per active member below target: promote the weakest categories"),
            group_recovered: s("group back at benchmark: keep the current routine"),
            churn_risk: s("likely to stop buying: a personal check-in about what she needs, before any offer"),
        }
    }
}
