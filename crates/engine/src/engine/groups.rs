//! The group side of the engine (SPEC §5): every group's figures, kept from what its
//! members contribute, and graded at an instant. It never looks at a member: its one
//! input is [`GroupInput`], a member's contribution changing (or the tutor a profile
//! names for a group), so the member side and the group side can be told apart by a
//! message, as the scale-out of two stages will carry it on a topic keyed by group.
//!
//! Groups are regraded at the instant their figures moved, all dirty ones together in
//! group order, so that the warnings of one instant do not depend on the order the
//! members moving them were seen in.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::group::{Contribution, GroupState};
use super::rule::group_grade::GroupEvent;
use crate::model::{EventTime, GroupId, Span};
use crate::settings::GroupsConfig;

/// What the group side is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupInput {
    /// A member's contribution to `group` changed from `before` to `after` (`None`:
    /// she was, or is now, no part of it). A move between groups is a removal from one
    /// and an addition to the other.
    Contribution {
        group: u32,
        before: Option<Contribution>,
        after: Option<Contribution>,
    },
    /// The latest profile placing a member in `group` names `tutor`: the group's tutor.
    Tutor { group: u32, tutor: u32 },
}

#[derive(Default)]
pub struct Groups {
    pub(in crate::engine) groups: Vec<GroupState>,
    /// A fixed-seed hasher: the group stage looks a group up for every entry.
    pub(in crate::engine) index: HashMap<GroupId, u32, FixedState>,
    /// Groups whose figures moved since they were last graded, in the order they moved.
    pub(in crate::engine) dirty: Vec<u32>,
    /// Groups are graded from this instant on (first event + warm-up).
    grading_from: Option<EventTime>,
    scratch_events: Vec<GroupEvent>,
}

impl Groups {
    /// Starts the warm-up at the first accepted event: groups are graded from `first_event +
    /// warmup` on. Returns that instant the first time (the caller schedules a wake-up for
    /// it), `None` once grading has a start.
    pub fn start_grading(&mut self, first_event: EventTime, warmup: Span) -> Option<EventTime> {
        if self.grading_from.is_some() {
            return None;
        }
        let from = first_event + warmup;
        self.grading_from = Some(from);
        Some(from)
    }

    /// The instant grading starts, once the first event has set it.
    pub fn grading_from(&self) -> Option<EventTime> {
        self.grading_from
    }

    /// Restores the start of grading from a snapshot.
    pub(in crate::engine) fn restore_grading_from(&mut self, from: Option<EventTime>) {
        self.grading_from = from;
    }

    /// The number of group `id`, a new group if it is the first time it is named.
    #[inline]
    pub fn intern(&mut self, id: &GroupId) -> u32 {
        if let Some(&idx) = self.index.get(id) {
            return idx;
        }
        let idx = self.groups.len() as u32;
        self.groups.push(GroupState::new(id.clone()));
        self.index.insert(id.clone(), idx);
        idx
    }

    #[inline]
    pub fn apply(&mut self, input: GroupInput) {
        match input {
            GroupInput::Contribution {
                group,
                before,
                after,
            } => {
                let g = &mut self.groups[group as usize];
                match (&before, &after) {
                    (Some(b), Some(a)) => g.replace(b, a),
                    (Some(b), None) => g.remove(b),
                    (None, Some(a)) => g.add(a),
                    (None, None) => return,
                }
                self.mark_dirty(group);
            }
            GroupInput::Tutor { group, tutor } => self.groups[group as usize].tutor = Some(tutor),
        }
    }

    /// A member's contribution moved from `before` to `after` (group and contribution
    /// each): the inputs that says, none if nothing moved.
    #[inline]
    pub fn moved(
        &mut self,
        before: Option<(u32, Contribution)>,
        after: Option<(u32, Contribution)>,
    ) {
        inputs_of_move(before, after, |input| self.apply(input));
    }

    fn mark_dirty(&mut self, group: u32) {
        let g = &mut self.groups[group as usize];
        if !g.dirty {
            g.dirty = true;
            self.dirty.push(group);
        }
    }

    /// The end of the warm-up: every group is graded for the first time.
    pub fn mark_all_dirty(&mut self) {
        for g in 0..self.groups.len() as u32 {
            self.mark_dirty(g);
        }
    }

    #[inline]
    pub fn any_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Regrades every group whose figures moved, at `at`, in group order, handing each
    /// change of grade worth a warning to `warn`.
    pub fn regrade_dirty(
        &mut self,
        at: EventTime,
        config: &GroupsConfig,
        mut warn: impl FnMut(&GroupState, GroupEvent),
    ) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        let mut events = std::mem::take(&mut self.scratch_events);
        let observed_enough = self.grading_from.is_some_and(|from| at >= from);
        for &g in &dirty {
            events.clear();
            let group = &mut self.groups[g as usize];
            group.regrade(config, observed_enough, &mut events);
            for event in events.iter().copied() {
                warn(group, event);
            }
        }
        dirty.clear();
        self.dirty = dirty;
        self.scratch_events = events;
    }

    pub fn get(&self, id: &GroupId) -> Option<&GroupState> {
        self.index.get(id).map(|&g| &self.groups[g as usize])
    }

    pub fn by_index(&self, group: u32) -> &GroupState {
        &self.groups[group as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &GroupState> {
        self.groups.iter()
    }

    pub fn heap_bytes(&self) -> usize {
        self.groups.capacity() * size_of::<GroupState>()
            + self.index.capacity() * (size_of::<GroupId>() + 8)
    }
}

/// The inputs that say a member's contribution moved from `before` to `after` (group and
/// contribution each), handed to `each`; none if nothing moved. A move between groups is
/// a removal from one and an addition to the other; within a group, one replacement. The
/// one definition for the groups and for a member stage's units.
#[inline]
pub fn inputs_of_move(
    before: Option<(u32, Contribution)>,
    after: Option<(u32, Contribution)>,
    mut each: impl FnMut(GroupInput),
) {
    if before == after {
        return;
    }
    match (before, after) {
        // The common case, a member moving with time inside her group: one pass.
        (Some((from, b)), Some((to, a))) if from == to => each(GroupInput::Contribution {
            group: to,
            before: Some(b),
            after: Some(a),
        }),
        (before, after) => {
            if let Some((group, c)) = before {
                each(GroupInput::Contribution {
                    group,
                    before: Some(c),
                    after: None,
                });
            }
            if let Some((group, c)) = after {
                each(GroupInput::Contribution {
                    group,
                    before: None,
                    after: Some(c),
                });
            }
        }
    }
}
