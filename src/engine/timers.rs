//! Event-time timers: a min-heap of `(instant, member)` with lazy deletion.
//!
//! Rescheduling only pushes; the superseded entry stays until it surfaces and is then
//! skipped, because the member's own state holds its one valid wake-up. Pushing into an
//! array is several times cheaper than a balanced tree's insert-and-remove on the hot
//! path, and stale entries are few: a wake-up is the member's *earliest* next change,
//! usually days away, so a superseded one surfaces soon. Entries pop in `(instant,
//! member)` order, so members due at the same instant fire in a fixed order and replay
//! stays deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::model::EventTime;

#[derive(Debug, Default, Clone)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(EventTime, u32)>>,
}

impl Timers {
    /// Adds a wake-up for `slot` at `at`. Any earlier entry for the same slot becomes
    /// stale; the caller tells stale from valid by the slot's own state.
    pub fn schedule(&mut self, slot: u32, at: EventTime) {
        self.heap.push(Reverse((at, slot)));
    }

    /// The earliest entry's instant (possibly stale), if it is at or before `limit`.
    pub fn next_due(&self, limit: EventTime) -> Option<EventTime> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| *at)
            .filter(|at| *at <= limit)
    }

    /// Removes every entry at exactly `at` and returns the slots in ascending order, each
    /// once (a slot rescheduled away and back leaves two identical entries).
    pub fn take_due_at(&mut self, at: EventTime, into: &mut Vec<u32>) {
        while let Some(Reverse((first, slot))) = self.heap.peek().copied() {
            if first != at {
                break;
            }
            self.heap.pop();
            if into.last() != Some(&slot) {
                into.push(slot);
            }
        }
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_pop_in_instant_then_slot_order_without_duplicates() {
        let mut t = Timers::default();
        let at = |ms| EventTime::from_millis(ms);
        t.schedule(7, at(20));
        t.schedule(3, at(10));
        t.schedule(5, at(10));
        t.schedule(3, at(10));
        assert_eq!(t.next_due(at(9)), None);
        assert_eq!(t.next_due(at(10)), Some(at(10)));
        let mut due = Vec::new();
        t.take_due_at(at(10), &mut due);
        assert_eq!(due, vec![3, 5]);
        assert_eq!(t.next_due(at(100)), Some(at(20)));
    }
}
