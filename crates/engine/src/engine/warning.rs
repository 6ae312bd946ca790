//! What the engine emits: [`Warning`]s with deterministic ids. The JSON and Protobuf
//! encodings live in the service's `output` module; this module owns the meaning.

use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use serde::Serialize;

use super::churn_model::{ChurnFigures, LEVEL_NAMES};
use super::group::Grade;
use super::segment::{Segment, Severity};
use super::short_copy::copy_short;
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
    /// P(alive) fell below a `churn_risk` threshold (issue 16).
    ChurnRisk,
}

impl WarningKind {
    pub const ALL: [WarningKind; 10] = [
        WarningKind::SegmentDowngrade,
        WarningKind::SegmentUpgrade,
        WarningKind::ActivationOverdue,
        WarningKind::RecallDue,
        WarningKind::LoginLapsed,
        WarningKind::AfterSalesOverdue,
        WarningKind::GroupBelowBenchmark,
        WarningKind::GroupRecovered,
        WarningKind::GroupOutputBelowTarget,
        WarningKind::ChurnRisk,
    ];

    pub const fn name(self) -> &'static str {
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
            WarningKind::ChurnRisk => "CHURN_RISK",
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

/// The `from` / `to` of a warning: a segment for members, a grade for groups, a risk
/// level for `CHURN_RISK`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Segment(Segment),
    Grade(Grade),
    /// A group below `min_group_size`: tracked, not graded.
    Ungraded,
    /// How many churn-risk thresholds P(alive) is below ([`LEVEL_NAMES`]).
    Risk(u8),
}

impl Label {
    pub const fn name(self) -> &'static str {
        match self {
            Label::Segment(s) => s.name(),
            Label::Grade(g) => g.name(),
            Label::Ungraded => "ungraded",
            Label::Risk(level) => {
                let i = level as usize;
                LEVEL_NAMES[if i < LEVEL_NAMES.len() {
                    i
                } else {
                    LEVEL_NAMES.len() - 1
                }]
            }
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
    /// `CHURN_RISK`: the threshold crossed, in millionths.
    ChurnRisk {
        threshold_ppm: u32,
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
    /// Her P(alive) and expected purchases, with the model's version, when the churn
    /// model is on.
    pub churn: Option<ChurnFigures>,
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
        // The byte stream is gathered in a buffer and hashed in one call: the streaming
        // hasher costs a 192-byte secret copy and a buffer per id. Names are copied as
        // fixed-width moves rather than one `memcpy` call per piece, which cost more than
        // the hash. Nearly every id fits the stack buffer; a long subject or ticket id
        // gets a heap buffer of its size, written by the same code.
        let ticket = detail.ticket_bytes();
        let room = IdentityBuf::FIXED + subject.len() + ticket.len();
        let digest = if room <= IdentityBuf::STACK {
            let mut buf = [0; IdentityBuf::STACK];
            IdentityBuf::write(&mut buf, kind, subject, event_time, from, to, detail)
        } else {
            let mut buf = vec![0; room];
            IdentityBuf::write(&mut buf, kind, subject, event_time, from, to, detail)
        };
        WarningId(digest)
    }
}

impl Detail {
    /// A ticket id's bytes (the only variable-length detail), else none.
    fn ticket_bytes(&self) -> &[u8] {
        match self {
            Detail::Ticket { ticket_id, .. } => ticket_id.as_bytes(),
            _ => &[],
        }
    }
}

/// Widest kind or label name; [`padded`] refuses a longer one at compile time.
const NAME_WIDTH: usize = 32;

/// A name zero-padded to [`NAME_WIDTH`], so that it is copied as one fixed-size move.
struct PaddedName {
    bytes: [u8; NAME_WIDTH],
    len: usize,
}

const fn padded(name: &str) -> PaddedName {
    let src = name.as_bytes();
    assert!(src.len() <= NAME_WIDTH, "a name wider than NAME_WIDTH");
    let mut bytes = [0; NAME_WIDTH];
    let mut i = 0;
    while i < src.len() {
        bytes[i] = src[i];
        i += 1;
    }
    PaddedName {
        bytes,
        len: src.len(),
    }
}

/// Padded names of every value of an enum (its `ALL`), by discriminant.
macro_rules! padded_names {
    ($all:expr) => {{
        let all = $all;
        let mut names = [const { padded("") }; $all.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = padded(all[i].name());
            i += 1;
        }
        names
    }};
}

static KIND_NAMES: [PaddedName; WarningKind::ALL.len()] = padded_names!(WarningKind::ALL);
static SEGMENT_NAMES: [PaddedName; Segment::ALL.len()] = padded_names!(Segment::ALL);
static GRADE_NAMES: [PaddedName; Grade::ALL.len()] = padded_names!(Grade::ALL);
static UNGRADED: PaddedName = padded(Label::Ungraded.name());
static RISK_NAMES: [PaddedName; LEVEL_NAMES.len()] = {
    let mut names = [const { padded("") }; LEVEL_NAMES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = padded(LEVEL_NAMES[i]);
        i += 1;
    }
    names
};
static NO_LABEL: PaddedName = padded("");

impl Label {
    fn padded(label: Option<Label>) -> &'static PaddedName {
        match label {
            None => &NO_LABEL,
            Some(Label::Segment(s)) => &SEGMENT_NAMES[s as usize],
            Some(Label::Grade(g)) => &GRADE_NAMES[g as usize],
            Some(Label::Ungraded) => &UNGRADED,
            Some(Label::Risk(level)) => &RISK_NAMES[usize::from(level).min(LEVEL_NAMES.len() - 1)],
        }
    }
}

/// The identity of a warning as bytes, the definition of what an id hashes: kind NUL
/// subject NUL time(8, little-endian) from NUL to NUL detail. Fields are separated by a
/// NUL, which no id or label contains, so distinct field tuples never give the same byte
/// stream.
struct IdentityBuf<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl IdentityBuf<'_> {
    /// The stack buffer most ids are gathered in.
    const STACK: usize = 256;
    /// Room the fixed-width parts need at their widest, including the slack a
    /// fixed-width move writes past what it keeps: three names, four NULs, the time and
    /// a detail word.
    const FIXED: usize = 3 * NAME_WIDTH + 4 + 8 + 8;

    /// Writes the identity into `buf` (at least `FIXED` + the subject's and ticket id's
    /// lengths) and hashes it; inlined so that the stack buffer's length is a constant.
    #[inline(always)]
    fn write(
        buf: &mut [u8],
        kind: WarningKind,
        subject: &str,
        event_time: EventTime,
        from: Option<Label>,
        to: Option<Label>,
        detail: &Detail,
    ) -> u128 {
        let mut b = IdentityBuf { buf, len: 0 };
        b.name(&KIND_NAMES[kind as usize]);
        b.nul();
        copy_short(&mut b.buf[b.len..], subject.as_bytes());
        b.len += subject.len();
        b.nul();
        b.word(event_time.as_millis().to_le_bytes(), 8);
        b.name(Label::padded(from));
        b.nul();
        b.name(Label::padded(to));
        b.nul();
        match detail {
            Detail::None => {}
            Detail::RecallAttempt(n) => b.word([*n, 0, 0, 0, 0, 0, 0, 0], 1),
            Detail::DaysSinceLogin(d) => b.word(d.to_le_bytes(), 8),
            Detail::ChurnRisk { threshold_ppm } => {
                b.word(u64::from(*threshold_ppm).to_le_bytes(), 4)
            }
            Detail::Ticket { .. } => {
                let ticket = detail.ticket_bytes();
                b.buf[b.len..b.len + ticket.len()].copy_from_slice(ticket);
                b.len += ticket.len();
            }
        }
        xxhash_rust::xxh3::xxh3_128(b.as_slice())
    }

    fn name(&mut self, name: &PaddedName) {
        self.buf[self.len..self.len + NAME_WIDTH].copy_from_slice(&name.bytes);
        self.len += name.len;
    }

    fn nul(&mut self) {
        self.buf[self.len] = 0;
        self.len += 1;
    }

    /// Writes all eight bytes, keeps the first `keep`.
    fn word(&mut self, bytes: [u8; 8], keep: usize) {
        self.buf[self.len..self.len + 8].copy_from_slice(&bytes);
        self.len += keep;
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
    /// reproducible); live, the wall-clock reading of the call that emitted it.
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

    /// Ids hash the byte stream spelt out here, from the stack buffer and from the heap
    /// one alike: ids are a contract with downstream de-duplication. Every kind and
    /// label, subjects up to the stack buffer's limit and past it.
    #[test]
    fn short_and_long_subjects_hash_as_one_byte_stream() {
        let labels: Vec<Option<Label>> = Segment::ALL
            .map(Label::Segment)
            .into_iter()
            .chain(Grade::ALL.map(Label::Grade))
            .chain([Label::Ungraded])
            .chain((0..4).map(Label::Risk))
            .map(Some)
            .chain([None])
            .collect();
        let at = EventTime(1_767_225_600_123);
        let edge = "e".repeat(IdentityBuf::STACK - IdentityBuf::FIXED);
        let long = "m".repeat(400);
        let ticket = |id: &str| Detail::Ticket {
            ticket_id: CompactString::from(id),
            open_hours: 49,
        };
        let mut cases = Vec::new();
        for (i, kind) in WarningKind::ALL.into_iter().enumerate() {
            for (j, &from) in labels.iter().enumerate() {
                let to = labels[(i + j) % labels.len()];
                cases.push((kind, "m0000001", from, to, Detail::None));
            }
        }
        for subject in ["m0000001", &edge[1..], edge.as_str(), long.as_str()] {
            for detail in [
                Detail::None,
                Detail::RecallAttempt(2),
                Detail::DaysSinceLogin(-30),
                Detail::ChurnRisk {
                    threshold_ppm: 200_000,
                },
                ticket("t"),
                ticket(&"t".repeat(90)),
            ] {
                cases.push((
                    WarningKind::RecallDue,
                    subject,
                    labels[3],
                    labels[9],
                    detail,
                ));
            }
        }
        for (kind, subject, from, to, detail) in cases {
            // The byte stream, spelt out: kind NUL subject NUL time from NUL to NUL detail.
            let mut expected = Vec::new();
            for piece in [
                kind.name().as_bytes(),
                &[0],
                subject.as_bytes(),
                &[0],
                &at.as_millis().to_le_bytes(),
                from.map_or("", Label::name).as_bytes(),
                &[0],
                to.map_or("", Label::name).as_bytes(),
                &[0],
            ] {
                expected.extend_from_slice(piece);
            }
            match &detail {
                Detail::None => {}
                Detail::RecallAttempt(n) => expected.push(*n),
                Detail::DaysSinceLogin(d) => expected.extend_from_slice(&d.to_le_bytes()),
                Detail::ChurnRisk { threshold_ppm } => {
                    expected.extend_from_slice(&threshold_ppm.to_le_bytes())
                }
                Detail::Ticket { ticket_id, .. } => {
                    expected.extend_from_slice(ticket_id.as_bytes())
                }
            }
            let digest = xxhash_rust::xxh3::xxh3_128(&expected);
            let id = WarningId::derive(kind, subject, at, from, to, &detail);
            assert_eq!(
                id.0, digest,
                "{kind} {subject:.12} {from:?} {to:?} {detail:?}"
            );
        }
    }

    /// Ids are a contract with downstream de-duplication: one pinned, so that a change
    /// of hash or byte stream cannot pass unnoticed.
    #[test]
    fn a_warning_id_is_stable() {
        let id = WarningId::derive(
            WarningKind::SegmentDowngrade,
            "m0000001",
            EventTime(1_767_225_600_123),
            Some(Label::Segment(Segment::ImportantValue)),
            Some(Label::Segment(Segment::ImportantMaintain)),
            &Detail::None,
        );
        assert_eq!(id.to_string(), "8c549474bc6ea3b80f458c6c6b59dc39");
    }
}
