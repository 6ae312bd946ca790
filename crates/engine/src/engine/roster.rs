//! Who is where, kept up to date as the engine changes state, so that neither a metric
//! nor a tutor's at-risk list has to scan every member: counts by segment and lifecycle
//! stage, and each tutor's members. (When a member last fell lives in her record.)
use serde::{Deserialize, Serialize};

use super::lifecycle::Stage;
use super::segment::Segment;
use crate::settings::MAX_RISK_LEVELS;

/// Members a tutor's list grows by.
const TUTOR_LIST_STEP: usize = 128;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Roster {
    by_segment: [u64; Segment::ALL.len()],
    by_stage: [u64; Stage::ALL.len()],
    /// By churn-risk level (how many thresholds P(alive) is below); all at 0 while the
    /// model is off.
    by_risk: [u64; MAX_RISK_LEVELS + 1],
    /// Tutor index → the members whose profile names her (as [`Engine::member_at`] takes
    /// them: a hot slot, or a dormant entry flagged), in no particular order. A
    /// tutor runs 5–8 groups (1 000–2 000 members), so removal by scan is cheap and
    /// rare (a member changing tutor).
    tutor_members: Vec<Vec<u32>>,
}

impl Roster {
    /// A new member: `new`, `acquisition`, no tutor yet.
    pub fn joined(&mut self) {
        self.by_segment[Segment::New as usize] += 1;
        self.by_stage[Stage::Acquisition as usize] += 1;
        self.by_risk[0] += 1;
    }

    /// The member's churn-risk level changed.
    pub fn risk_moved(&mut self, from: u8, to: u8) {
        if from != to {
            self.by_risk[usize::from(from)] -= 1;
            self.by_risk[usize::from(to)] += 1;
        }
    }

    /// The member's segment or stage changed.
    pub fn moved(&mut self, (from, to): (Segment, Segment), (was, is): (Stage, Stage)) {
        if from != to {
            self.by_segment[from as usize] -= 1;
            self.by_segment[to as usize] += 1;
        }
        if was != is {
            self.by_stage[was as usize] -= 1;
            self.by_stage[is as usize] += 1;
        }
    }

    /// The member was evicted: out of the counts and off her tutor's list.
    pub fn evicted(
        &mut self,
        idx: u32,
        segment: Segment,
        stage: Stage,
        risk: u8,
        tutor: Option<u32>,
    ) {
        self.by_segment[segment as usize] -= 1;
        self.by_risk[usize::from(risk)] -= 1;
        self.by_stage[stage as usize] -= 1;
        self.off_list(idx, tutor);
    }

    fn off_list(&mut self, idx: u32, tutor: Option<u32>) {
        if let Some(list) = tutor.and_then(|t| self.tutor_members.get_mut(t as usize)) {
            if let Some(pos) = list.iter().position(|&m| m == idx) {
                list.swap_remove(pos);
            }
        }
    }

    /// The member listed as `from` under tutor `tutor` is now held as `to` (she went
    /// dormant or came back).
    pub fn relocate(&mut self, tutor: u32, from: u32, to: u32) {
        if let Some(entry) = self
            .tutor_members
            .get_mut(tutor as usize)
            .and_then(|list| list.iter_mut().find(|m| **m == from))
        {
            *entry = to;
        }
    }

    /// The member's profile names tutor `to` (`from` before, if she had a profile).
    pub fn retutor(&mut self, idx: u32, from: Option<u32>, to: u32) {
        if from == Some(to) {
            return;
        }
        self.off_list(idx, from);
        let to = to as usize;
        if self.tutor_members.len() <= to {
            self.tutor_members.resize_with(to + 1, Vec::new);
        }
        let list = &mut self.tutor_members[to];
        if list.len() == list.capacity() {
            // Grow by a fixed step, not by doubling: a tutor's 1 000–2 000 members would
            // otherwise carry up to 2× spare room.
            list.reserve_exact(TUTOR_LIST_STEP);
        }
        list.push(idx);
    }

    pub fn members_by_segment(&self) -> impl Iterator<Item = (Segment, u64)> + '_ {
        Segment::ALL.into_iter().zip(self.by_segment)
    }

    /// Members by churn-risk level (index = thresholds below).
    pub fn members_by_risk(&self) -> &[u64; MAX_RISK_LEVELS + 1] {
        &self.by_risk
    }

    pub fn members_by_stage(&self) -> impl Iterator<Item = (Stage, u64)> + '_ {
        Stage::ALL.into_iter().zip(self.by_stage)
    }

    /// The members whose profile names tutor `tutor`.
    pub fn of_tutor(&self, tutor: u32) -> &[u32] {
        self.tutor_members
            .get(tutor as usize)
            .map_or(&[], Vec::as_slice)
    }

    pub fn heap_bytes(&self) -> usize {
        self.tutor_members
            .iter()
            .map(|l| l.capacity() * size_of::<u32>())
            .sum::<usize>()
            + self.tutor_members.capacity() * size_of::<Vec<u32>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_moves() {
        let mut r = Roster::default();
        r.joined();
        r.joined();
        r.moved(
            (Segment::New, Segment::ImportantValue),
            (Stage::Acquisition, Stage::Growth),
        );
        r.moved(
            (Segment::ImportantValue, Segment::ImportantMaintain),
            (Stage::Growth, Stage::Growth),
        );
        r.moved(
            (Segment::New, Segment::GeneralRetain),
            (Stage::Acquisition, Stage::Acquisition),
        );
        let seg: Vec<_> = r.members_by_segment().filter(|(_, n)| *n > 0).collect();
        assert_eq!(
            seg,
            vec![(Segment::GeneralRetain, 1), (Segment::ImportantMaintain, 1)]
        );
        let stages: Vec<_> = r.members_by_stage().filter(|(_, n)| *n > 0).collect();
        assert_eq!(stages, vec![(Stage::Acquisition, 1), (Stage::Growth, 1)]);
    }

    #[test]
    fn a_member_moves_between_tutors() {
        let mut r = Roster::default();
        r.retutor(7, None, 2);
        r.retutor(8, None, 2);
        assert_eq!(r.of_tutor(2), &[7, 8]);
        r.retutor(7, Some(2), 0);
        assert_eq!(r.of_tutor(2), &[8]);
        assert_eq!(r.of_tutor(0), &[7]);
        r.retutor(7, Some(0), 0);
        assert_eq!(r.of_tutor(0), &[7], "the same tutor again changes nothing");
        assert!(r.of_tutor(9).is_empty());
        r.joined();
        r.evicted(8, Segment::New, Stage::Acquisition, 0, Some(2));
        assert_eq!(r.members_by_segment().map(|(_, n)| n).sum::<u64>(), 0);
        assert!(
            r.of_tutor(2).is_empty(),
            "an evicted member leaves her tutor's list"
        );
    }
}
