//! What the member side tells the group side when the two run as separate stages (the
//! scale-out: stage 1 keyed by member, one engine per input partition; stage 2 keyed by
//! group, [`super::group_stage::GroupStage`]).
//!
//! A stage-1 engine closes a [`Unit`] wherever a single engine would regrade its groups:
//! the contribution changes since the previous regrading, the instant to regrade at, and
//! the keys the stage-2 merge orders units by. An entry is a member's *full* contribution
//! (or her leaving the group), never a difference, and carries her sequence, so a unit
//! delivered twice, or a stage-1 task that re-derives its output after a restore, changes
//! nothing downstream.

use super::group::Contribution;
use crate::model::{EventTime, GroupId, MemberId, TutorId};

/// The contribution changes of one stage-1 task between two regradings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Strictly increasing within the source: its order there, and every entry's member
    /// sequence (a member lives on one source, so her entries' sequences increase too).
    pub seq: u64,
    /// The source's watermark when the unit closed. Non-decreasing within the source; the
    /// merge releases units in (watermark, source, seq) order.
    pub watermark: EventTime,
    /// The instant the groups are regraded at: the instant a single engine regrades them.
    pub at: EventTime,
    /// The `emitted_at` of the group warnings the unit causes, as its source computed it.
    pub emitted_at: EventTime,
    /// The source's start of grading (its first accepted event plus the warm-up), once it
    /// has one. Stage 2 grades from the first start it releases.
    pub grading_from: Option<EventTime>,
    /// The source's warm-up ended at `at`: every group is graded for the first time.
    pub warmup: bool,
    pub entries: Vec<Entry>,
    /// How many of the member warnings that the engine call closing this unit appended
    /// come before the unit's group warnings: a single engine interleaves the two, and
    /// `replay --partitions 1` must give its bytes.
    pub out_mark: usize,
}

impl Unit {
    /// The merge's order: (watermark, source, seq).
    #[inline]
    pub fn key(&self, source: u32) -> (EventTime, u32, u64) {
        (self.watermark, source, self.seq)
    }
}

/// One member's change in one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub group: GroupId,
    pub member: MemberId,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Her whole contribution to the group from now on.
    Contributes(Contribution),
    /// She is no part of the group any more (left, moved to another group, forgotten).
    Leaves,
    /// Her latest profile places her in the group under this tutor: the group's tutor.
    Tutor(TutorId),
}

/// A stage-1 engine's outgoing units: the open one and those closed and not yet taken.
#[derive(Default)]
pub(in crate::engine) struct Outbox {
    next_seq: u64,
    open: Vec<Entry>,
    warmup: bool,
    closed: Vec<Unit>,
}

impl Outbox {
    pub(in crate::engine) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(in crate::engine) fn push(&mut self, group: &GroupId, member: &str, change: Change) {
        self.open.push(Entry {
            group: group.clone(),
            member: MemberId::new(member),
            change,
        });
    }

    pub(in crate::engine) fn warmup_ended(&mut self) {
        self.warmup = true;
    }

    pub(in crate::engine) fn has_open(&self) -> bool {
        self.warmup || !self.open.is_empty()
    }

    /// Closes the open unit, if it holds anything, as of `at`.
    pub(in crate::engine) fn close(
        &mut self,
        at: EventTime,
        watermark: EventTime,
        emitted_at: EventTime,
        grading_from: Option<EventTime>,
        out_mark: usize,
    ) {
        if !self.has_open() {
            return;
        }
        self.closed.push(Unit {
            seq: self.next_seq,
            watermark,
            at,
            emitted_at,
            grading_from,
            warmup: std::mem::take(&mut self.warmup),
            entries: std::mem::take(&mut self.open),
            out_mark,
        });
        self.next_seq += 1;
    }

    pub(in crate::engine) fn take(&mut self, into: &mut Vec<Unit>) {
        into.append(&mut self.closed);
    }
}
