//! At-least-once bookkeeping: which input offsets may be committed.
//!
//! The pipeline handles its input in *units* (a run of messages from one partition, or a
//! wall-clock tick), in order. Each unit produces zero or more records (warnings,
//! dead letters). A unit is done when the broker has acknowledged every record it
//! produced; an input offset may be committed once its unit *and every unit before it*
//! are done. The "every unit before" matters for ticks: a timer that fired before a later
//! message was processed must not be skipped by a restart that resumes after that
//! message.
//!
//! Pure: no Kafka types, no clock. Units of an earlier consumer-group generation (before a
//! rebalance) are forgotten, not committed: the new owner re-reads from the last commit.

use std::collections::{BTreeMap, VecDeque};

/// Identifies a unit for the records it produced: sent as the delivery opaque.
pub type UnitId = u64;

#[derive(Debug)]
struct Unit {
    pending: u32,
    /// Every record of the unit has been sent; until then more may come.
    closed: bool,
    /// Partition index and the next offset to read (last offset + 1) after this unit; a
    /// unit is one message or one wall-clock tick, so at most one.
    advance: Option<(u32, i64)>,
}

#[derive(Debug, Default)]
pub struct CommitTracker {
    /// Id of `units[0]`.
    first: UnitId,
    units: VecDeque<Unit>,
    /// Units before `first` whose ids may still be acknowledged: the generation boundary.
    forgotten_below: UnitId,
    /// The highest safe offset of each partition.
    safe: BTreeMap<u32, i64>,
    /// `safe` moved since [`Self::take_commit`] last handed it out.
    changed: bool,
}

impl CommitTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a unit that, once done, lets `advance` (partition index, next offset) be
    /// committed.
    pub fn open(&mut self, advance: Option<(u32, i64)>) -> UnitId {
        let id = self.first + self.units.len() as UnitId;
        self.units.push_back(Unit {
            pending: 0,
            closed: false,
            advance,
        });
        id
    }

    /// A record of unit `id` was handed to the producer.
    pub fn sent(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id) {
            unit.pending += 1;
        }
    }

    /// The broker acknowledged a record of unit `id`.
    pub fn acked(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id) {
            debug_assert!(unit.pending > 0, "ack without a matching send");
            unit.pending = unit.pending.saturating_sub(1);
        }
        self.settle();
    }

    /// The unit will produce nothing more (all its records have been sent).
    pub fn close(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id) {
            unit.closed = true;
        }
        self.settle();
    }

    /// Units below this id are done, as are all before them (the next one to settle is
    /// this one).
    pub fn settled_below(&self) -> UnitId {
        self.first
    }

    /// Records still awaiting acknowledgement.
    pub fn in_flight(&self) -> u64 {
        self.units.iter().map(|u| u64::from(u.pending)).sum()
    }

    /// The safe offsets if any moved since the last call (or since a failed commit was
    /// reported with [`Self::commit_failed`]); empty otherwise.
    pub fn take_commit(&mut self) -> BTreeMap<u32, i64> {
        if std::mem::take(&mut self.changed) {
            self.safe.clone()
        } else {
            BTreeMap::new()
        }
    }

    /// The offsets last handed out were not committed: hand them out again.
    pub fn commit_failed(&mut self) {
        self.changed = !self.safe.is_empty();
    }

    /// The highest safe offset of each partition.
    pub fn safe_offsets(&self) -> &BTreeMap<u32, i64> {
        &self.safe
    }

    /// A rebalance: nothing of the old assignment is committed any more; acknowledgements
    /// for its records still arriving are ignored.
    pub fn reset(&mut self) {
        self.first += self.units.len() as UnitId;
        self.forgotten_below = self.first;
        self.units.clear();
        self.safe.clear();
        self.changed = false;
    }

    fn unit_mut(&mut self, id: UnitId) -> Option<&mut Unit> {
        if id < self.forgotten_below || id < self.first {
            return None;
        }
        self.units.get_mut((id - self.first) as usize)
    }

    /// Pops done units (closed, nothing pending) off the front, in order.
    fn settle(&mut self) {
        while self
            .units
            .front()
            .is_some_and(|u| u.closed && u.pending == 0)
        {
            let Some(unit) = self.units.pop_front() else {
                break;
            };
            self.first += 1;
            if let Some((partition, next)) = unit.advance {
                let safe = self.safe.entry(partition).or_insert(next);
                *safe = (*safe).max(next);
                self.changed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_is_committable_only_after_its_records_are_acknowledged() {
        let mut t = CommitTracker::new();
        let u = t.open(Some((0, 10)));
        t.sent(u);
        t.sent(u);
        t.close(u);
        assert!(t.take_commit().is_empty());
        t.acked(u);
        assert!(t.take_commit().is_empty(), "one record still in flight");
        t.acked(u);
        assert_eq!(t.take_commit(), BTreeMap::from([(0, 10)]));
        assert!(t.take_commit().is_empty(), "handed out once");
        t.commit_failed();
        assert_eq!(
            t.take_commit(),
            BTreeMap::from([(0, 10)]),
            "handed out again after a failed commit"
        );
    }

    #[test]
    fn a_unit_waits_for_every_unit_before_it() {
        let mut t = CommitTracker::new();
        let tick = t.open(None);
        t.sent(tick);
        t.close(tick);
        let later = t.open(Some((1, 5)));
        t.close(later);
        assert!(
            t.take_commit().is_empty(),
            "the tick's warning is not acknowledged yet"
        );
        t.acked(tick);
        assert_eq!(t.take_commit(), BTreeMap::from([(1, 5)]));
    }

    #[test]
    fn settled_below_moves_past_a_unit_only_with_every_unit_before_it() {
        let mut t = CommitTracker::new();
        let first = t.open(None);
        t.sent(first);
        t.close(first);
        let second = t.open(Some((0, 3)));
        t.sent(second);
        t.close(second);
        assert_eq!(t.settled_below(), first, "nothing acknowledged yet");
        t.acked(second);
        assert_eq!(t.settled_below(), first, "the first still waits");
        t.acked(first);
        assert_eq!(t.settled_below(), second + 1, "both done");
    }

    #[test]
    fn a_unit_still_being_sent_is_not_done_even_with_nothing_in_flight() {
        let mut t = CommitTracker::new();
        let u = t.open(Some((0, 9)));
        t.sent(u);
        t.acked(u);
        assert!(t.take_commit().is_empty(), "more records may follow");
        t.close(u);
        assert_eq!(t.take_commit(), BTreeMap::from([(0, 9)]));
    }

    #[test]
    fn units_without_records_are_done_at_once() {
        let mut t = CommitTracker::new();
        let a = t.open(Some((0, 3)));
        t.close(a);
        let b = t.open(Some((2, 1)));
        t.close(b);
        let c = t.open(Some((0, 7)));
        t.close(c);
        assert_eq!(t.take_commit(), BTreeMap::from([(0, 7), (2, 1)]));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn acknowledgements_from_before_a_rebalance_commit_nothing() {
        let mut t = CommitTracker::new();
        let old = t.open(Some((0, 10)));
        t.sent(old);
        t.close(old);
        t.reset();
        let new = t.open(Some((0, 4)));
        t.sent(new);
        t.close(new);
        t.acked(old);
        assert!(t.take_commit().is_empty());
        t.acked(new);
        assert_eq!(t.take_commit(), BTreeMap::from([(0, 4)]));
    }
}
