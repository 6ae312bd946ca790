//! Event-time timers: at most one pending wake-up per member, fired in time order.
//!
//! Ordered by `(instant, member index)`, so members due at the same instant fire in a
//! fixed order and replay stays deterministic.

use std::collections::BTreeSet;

use crate::model::EventTime;

#[derive(Debug, Default, Clone)]
pub struct Timers {
    queue: BTreeSet<(EventTime, u32)>,
}

impl Timers {
    /// Moves `member`'s wake-up from `old` to `new` (either may be absent).
    pub fn reschedule(&mut self, member: u32, old: Option<EventTime>, new: Option<EventTime>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.queue.remove(&(at, member));
        }
        if let Some(at) = new {
            self.queue.insert((at, member));
        }
    }

    /// The earliest pending instant, if it is at or before `limit`.
    pub fn next_due(&self, limit: EventTime) -> Option<EventTime> {
        self.queue
            .first()
            .map(|(at, _)| *at)
            .filter(|at| *at <= limit)
    }

    /// Removes and returns every member due exactly at `at`, in index order.
    pub fn take_due_at(&mut self, at: EventTime, into: &mut Vec<u32>) {
        while let Some(&(first, member)) = self.queue.first() {
            if first != at {
                break;
            }
            self.queue.pop_first();
            into.push(member);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
