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

use serde::{Deserialize, Serialize};

use super::group::Contribution;
use crate::model::{EventTime, GroupId, MemberId, TutorId};

/// The contribution changes of one stage-1 task between two regradings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub group: GroupId,
    pub member: MemberId,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub(in crate::engine) fn with_next_seq(next_seq: u64) -> Outbox {
        Outbox {
            next_seq,
            ..Outbox::default()
        }
    }

    /// Whether any unit is open or closed and not taken.
    pub(in crate::engine) fn holds_units(&self) -> bool {
        self.has_open() || !self.closed.is_empty()
    }

    pub(in crate::engine) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(in crate::engine) fn resume_from(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
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

/// The group-stage partition of `group` among `partitions` (at least one): the internal
/// topic is churnwatch's own, so any stable function of the id will do; xxh3, as for
/// every other id digest.
pub fn group_partition(group: &GroupId, partitions: u32) -> u32 {
    (crate::model::stable_hash(group.as_str()) % u64::from(partitions.max(1))) as u32
}

/// Splits one source's units among `partitions` group-stage partitions: each partition
/// gets the units with entries for its groups, holding only those entries. A unit without
/// any goes to every partition all the same when it ends the warm-up (every group is
/// graded then) or is `first` of the source since it started (a stage grades from the
/// first start of grading it releases, and each source's first unit reaching every
/// partition makes that the same unit on all of them). A unit sent again is dropped by its
/// sequence; an empty one changes nothing else.
pub fn route(units: &[Unit], partitions: u32, mut first: bool) -> Vec<Vec<Unit>> {
    let partitions = partitions.max(1);
    let mut routed: Vec<Vec<Unit>> = vec![Vec::new(); partitions as usize];
    for unit in units {
        let mut entries: Vec<Vec<Entry>> = vec![Vec::new(); partitions as usize];
        for entry in &unit.entries {
            entries[group_partition(&entry.group, partitions) as usize].push(entry.clone());
        }
        for (q, entries) in entries.into_iter().enumerate() {
            if entries.is_empty() && !unit.warmup && !first {
                continue;
            }
            routed[q].push(Unit {
                entries,
                ..unit.clone_header()
            });
        }
        first = false;
    }
    routed
}

impl Unit {
    /// The unit without its entries.
    fn clone_header(&self) -> Unit {
        Unit {
            seq: self.seq,
            watermark: self.watermark,
            at: self.at,
            emitted_at: self.emitted_at,
            grading_from: self.grading_from,
            warmup: self.warmup,
            entries: Vec::new(),
            out_mark: self.out_mark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seq: u64, groups: &[&str], warmup: bool) -> Unit {
        Unit {
            seq,
            watermark: EventTime(seq as i64),
            at: EventTime(seq as i64),
            emitted_at: EventTime(seq as i64),
            grading_from: Some(EventTime(0)),
            warmup,
            entries: groups
                .iter()
                .map(|g| Entry {
                    group: GroupId::new(g),
                    member: MemberId::new("m"),
                    change: Change::Leaves,
                })
                .collect(),
            out_mark: 0,
        }
    }

    fn groups_on(partitions: u32) -> Vec<String> {
        // Ids until every partition holds one.
        let mut ids: Vec<Option<String>> = vec![None; partitions as usize];
        for i in 0.. {
            let id = format!("g{i}");
            let q = group_partition(&GroupId::new(&id), partitions) as usize;
            ids[q].get_or_insert(id);
            if ids.iter().all(Option::is_some) {
                break;
            }
        }
        ids.into_iter().flatten().collect()
    }

    #[test]
    fn a_unit_goes_where_its_groups_are_with_only_their_entries() {
        let g = groups_on(3);
        let routed = route(&[unit(5, &[&g[0], &g[2], &g[0]], false)], 3, false);
        let seqs: Vec<Vec<(u64, usize)>> = routed
            .iter()
            .map(|units| units.iter().map(|u| (u.seq, u.entries.len())).collect())
            .collect();
        assert_eq!(seqs, vec![vec![(5, 2)], vec![], vec![(5, 1)]]);
        assert!(routed[2][0]
            .entries
            .iter()
            .all(|e| e.group.as_str() == g[2]));
    }

    #[test]
    fn the_first_unit_and_the_end_of_the_warm_up_go_to_every_partition() {
        let g = groups_on(3);
        let units = [
            unit(1, &[&g[1]], false),
            unit(2, &[], false),
            unit(3, &[], true),
            unit(4, &[&g[1]], false),
        ];
        let routed = route(&units, 3, true);
        let seqs: Vec<Vec<u64>> = routed
            .iter()
            .map(|units| units.iter().map(|u| u.seq).collect())
            .collect();
        assert_eq!(seqs, vec![vec![1, 3], vec![1, 3, 4], vec![1, 3]]);
        // Not the first since the source started: only where its groups are.
        let later = route(&units[..1], 3, false);
        assert_eq!(
            later.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
    }
}
