//! What the engine emits: [`Warning`]s with deterministic ids. The JSON and Protobuf
//! encodings live in `crate::output`; this module owns the meaning.

use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use serde::Serialize;

use super::group::Grade;
use super::segment::{Segment, Severity};
use crate::model::{Category, EventTime, Fen, GroupId, MemberId, TutorId};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WarningKind {
    SegmentDowngrade,
    SegmentUpgrade,
    ActivationOverdue,
    RecallDue,
    LoginLapsed,
    AfterSalesOverdue,
    GroupBelowBenchmark,
    GroupRecovered,
    GroupOutputBelowTarget,
}

impl WarningKind {
    pub const ALL: [WarningKind; 9] = [
        WarningKind::SegmentDowngrade,
        WarningKind::SegmentUpgrade,
        WarningKind::ActivationOverdue,
        WarningKind::RecallDue,
        WarningKind::LoginLapsed,
        WarningKind::AfterSalesOverdue,
        WarningKind::GroupBelowBenchmark,
        WarningKind::GroupRecovered,
        WarningKind::GroupOutputBelowTarget,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WarningKind::SegmentDowngrade => "SEGMENT_DOWNGRADE",
            WarningKind::SegmentUpgrade => "SEGMENT_UPGRADE",
            WarningKind::ActivationOverdue => "ACTIVATION_OVERDUE",
            WarningKind::RecallDue => "RECALL_DUE",
            WarningKind::LoginLapsed => "LOGIN_LAPSED",
            WarningKind::AfterSalesOverdue => "AFTER_SALES_OVERDUE",
            WarningKind::GroupBelowBenchmark => "GROUP_BELOW_BENCHMARK",
            WarningKind::GroupRecovered => "GROUP_RECOVERED",
            WarningKind::GroupOutputBelowTarget => "GROUP_OUTPUT_BELOW_TARGET",
        }
    }

    pub fn is_group(self) -> bool {
        matches!(
            self,
            WarningKind::GroupBelowBenchmark
                | WarningKind::GroupRecovered
                | WarningKind::GroupOutputBelowTarget
        )
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `from` / `to` of a warning: a segment for members, a grade for groups.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Segment(Segment),
    Grade(Grade),
    /// A group below `min_group_size`: tracked, not graded.
    Ungraded,
}

impl Label {
    pub fn name(self) -> &'static str {
        match self {
            Label::Segment(s) => s.name(),
            Label::Grade(g) => g.name(),
            Label::Ungraded => "ungraded",
        }
    }
}

/// Kind-specific detail of a member warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    None,
    /// `RECALL_DUE`: which attempt of the recall schedule (1-based).
    RecallAttempt(u8),
    /// `LOGIN_LAPSED`: whole days since the last login (or since first seen).
    DaysSinceLogin(i64),
    /// `AFTER_SALES_OVERDUE`: the ticket and how long it has been open.
    Ticket {
        ticket_id: CompactString,
        open_hours: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberFigures {
    /// Whole days since the last order; `None` if the member never ordered.
    pub recency_days: Option<i64>,
    pub f30: u32,
    pub m30: Fen,
    pub f90: u32,
    pub lifetime_orders: u32,
    pub lifetime_amount: Fen,
    pub detail: Detail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupFigures {
    /// Counted members (past their first tenure month).
    pub members: u32,
    pub active: u32,
    /// Active share, in basis points (4010 = 40.10 %).
    pub activity_bp: i64,
    /// Benchmark active share, in basis points.
    pub benchmark_bp: i64,
    pub output_per_active: Fen,
    pub output_target: Fen,
    pub weakest_categories: Vec<Category>,
    /// Active members missing to reach the benchmark.
    pub members_needed: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Figures {
    Member(MemberFigures),
    Group(GroupFigures),
}

/// A 128-bit id derived only from what the warning says, so the same input always yields
/// the same id and downstream can de-duplicate redelivered warnings.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WarningId(pub u128);

impl fmt::Display for WarningId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl WarningId {
    /// Hashes the identity of a warning: kind, subject, event time, transition and detail.
    /// The figures, the action and `emitted_at` are not part of it: they describe the
    /// warning, they do not make it a different one.
    pub fn derive(
        kind: WarningKind,
        subject: &str,
        event_time: EventTime,
        from: Option<Label>,
        to: Option<Label>,
        detail: &Detail,
    ) -> WarningId {
        // Fields are separated by a NUL, which no id or label contains, so distinct
        // field tuples never hash the same byte stream. (Streaming: no allocation.)
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(kind.name().as_bytes());
        h.update(&[0]);
        h.update(subject.as_bytes());
        h.update(&[0]);
        h.update(&event_time.as_millis().to_le_bytes());
        for label in [from, to] {
            h.update(label.map_or("", Label::name).as_bytes());
            h.update(&[0]);
        }
        match detail {
            Detail::None => {}
            Detail::RecallAttempt(n) => h.update(&[*n]),
            Detail::DaysSinceLogin(d) => h.update(&d.to_le_bytes()),
            Detail::Ticket { ticket_id, .. } => h.update(ticket_id.as_bytes()),
        }
        WarningId(h.digest128())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub id: WarningId,
    pub kind: WarningKind,
    pub severity: Severity,
    pub member_id: Option<MemberId>,
    pub group_id: Option<GroupId>,
    pub tutor_id: Option<TutorId>,
    pub from: Option<Label>,
    pub to: Option<Label>,
    /// When the condition began: the event's time, the boundary instant for a change
    /// caused by time alone, or the watermark for a late event.
    pub event_time: EventTime,
    /// In replay, the engine's event-time clock when it emitted the warning (so output is
    /// reproducible); live edges overwrite it with the wall clock.
    pub emitted_at: EventTime,
    pub figures: Figures,
    pub action: Arc<str>,
    /// False when the member's contact cap is used up: CRM still gets the warning, tutor
    /// alerts skip it.
    pub notify: bool,
}
