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
        // The byte stream is gathered on the stack and hashed in one call: the streaming
        // hasher costs a 192-byte secret copy and a buffer per id, about a third of a
        // member warning's construction. Both give the same digest for the same bytes;
        // ids too long for the stack buffer (rare, long ids) still stream.
        let mut stack = StackBytes::default();
        let fits = identity_bytes(kind, subject, event_time, from, to, detail, |bytes| {
            stack.push(bytes)
        });
        if fits {
            return WarningId(xxhash_rust::xxh3::xxh3_128(stack.as_slice()));
        }
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        identity_bytes(kind, subject, event_time, from, to, detail, |bytes| {
            h.update(bytes);
            true
        });
        WarningId(h.digest128())
    }
}

/// Feeds the identity of a warning to `sink` piece by piece; stops and returns false as
/// soon as `sink` does.
///
/// Fields are separated by a NUL, which no id or label contains, so distinct field tuples
/// never give the same byte stream.
fn identity_bytes(
    kind: WarningKind,
    subject: &str,
    event_time: EventTime,
    from: Option<Label>,
    to: Option<Label>,
    detail: &Detail,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> bool {
    let time = event_time.as_millis().to_le_bytes();
    let head: [&[u8]; 5] = [
        kind.name().as_bytes(),
        &[0],
        subject.as_bytes(),
        &[0],
        &time,
    ];
    if !head.into_iter().all(&mut sink) {
        return false;
    }
    for label in [from, to] {
        if !(sink(label.map_or("", Label::name).as_bytes()) && sink(&[0])) {
            return false;
        }
    }
    match detail {
        Detail::None => true,
        Detail::RecallAttempt(n) => sink(&[*n]),
        Detail::DaysSinceLogin(d) => sink(&d.to_le_bytes()),
        Detail::Ticket { ticket_id, .. } => sink(ticket_id.as_bytes()),
    }
}

/// A fixed stack buffer for [`identity_bytes`]: room for ids of up to about 150 bytes
/// with every other field at its longest.
struct StackBytes {
    buf: [u8; 256],
    len: usize,
}

impl Default for StackBytes {
    fn default() -> Self {
        StackBytes {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl StackBytes {
    /// Appends `bytes`, or returns false (and keeps what it has) if they do not fit.
    fn push(&mut self, bytes: &[u8]) -> bool {
        let Some(room) = self.buf.get_mut(self.len..self.len + bytes.len()) else {
            return false;
        };
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-shot hash over the stack buffer and the streaming fallback must agree: ids
    /// are a contract with downstream de-duplication.
    #[test]
    fn short_and_long_subjects_hash_as_one_byte_stream() {
        let long = "m".repeat(400);
        for subject in ["m0000001", long.as_str()] {
            for detail in [
                Detail::None,
                Detail::RecallAttempt(2),
                Detail::DaysSinceLogin(30),
                Detail::Ticket {
                    ticket_id: CompactString::from("tk-9"),
                    open_hours: 49,
                },
            ] {
                let (from, to) = (Some(Label::Segment(Segment::New)), Some(Label::Ungraded));
                let at = EventTime(1_767_225_600_123);
                // The same bytes, streamed and gathered: both digests must be the id.
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                let mut bytes = Vec::new();
                identity_bytes(
                    WarningKind::RecallDue,
                    subject,
                    at,
                    from,
                    to,
                    &detail,
                    |b| {
                        h.update(b);
                        bytes.extend_from_slice(b);
                        true
                    },
                );
                let id = WarningId::derive(WarningKind::RecallDue, subject, at, from, to, &detail);
                assert_eq!(id.0, h.digest128());
                assert_eq!(id.0, xxhash_rust::xxh3::xxh3_128(&bytes));
            }
        }
    }
}
