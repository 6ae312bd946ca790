//! Event-time timers: a calendar queue of `(instant, member)` with lazy deletion.
//!
//! Entries live in buckets of 2^16 ms (about a minute). Only the bucket being drained is
//! kept as a small binary heap (`near`), so popping touches a few cache lines instead of
//! sifting through a heap of every member's wake-up; later buckets are plain vectors in a
//! hash map (`far`), with their keys in a min-heap (`far_order`) for draining in order:
//! a push, once per event or more, is then one hash probe instead of a walk down an
//! ordered map of some hundred thousand buckets. A far entry is 8 bytes, the instant's offset in its bucket and the
//! slot, because there is about one per member (10 M members). Invariant: every entry in `far` lies in a bucket after `near_bucket`, and every
//! entry at or before it is in `near`, so `near`'s minimum is the global minimum.
//!
//! Rescheduling only pushes; a superseded entry stays until it surfaces and is then
//! skipped by the caller, because the member's own state holds its one valid wake-up.
//! Entries pop in `(instant, member)` order, so members due at the same instant fire in a
//! fixed order and replay stays deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashMap;

use crate::model::EventTime;

const BUCKET_BITS: u32 = 16;

fn bucket_of(at: EventTime) -> i64 {
    // An arithmetic shift rounds towards negative infinity, like `div_euclid`.
    at.as_millis() >> BUCKET_BITS
}

/// A far entry: offset in the bucket above the slot, so that within one bucket the
/// packed values order exactly as `(instant, slot)`.
fn pack(at: EventTime, slot: u32) -> u64 {
    ((at.as_millis() & ((1 << BUCKET_BITS) - 1)) as u64) << 32 | u64::from(slot)
}

fn unpack(bucket: i64, entry: u64) -> (EventTime, u32) {
    let at = bucket << BUCKET_BITS | (entry >> 32) as i64;
    (EventTime::from_millis(at), entry as u32)
}

#[derive(Debug, Clone)]
pub struct Timers {
    near: BinaryHeap<Reverse<(EventTime, u32)>>,
    near_bucket: i64,
    far: HashMap<i64, Vec<u64>, foldhash::fast::FixedState>,
    /// Every key of `far`, once.
    far_order: BinaryHeap<Reverse<i64>>,
    len: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            near: BinaryHeap::new(),
            near_bucket: i64::MIN,
            far: HashMap::default(),
            far_order: BinaryHeap::new(),
            len: 0,
        }
    }
}

impl Timers {
    /// Adds a wake-up for `slot` at `at`. Any earlier entry for the same slot becomes
    /// stale; the caller tells stale from valid by the slot's own state.
    pub fn schedule(&mut self, slot: u32, at: EventTime) {
        let bucket = bucket_of(at);
        if bucket <= self.near_bucket {
            self.near.push(Reverse((at, slot)));
        } else {
            let order = &mut self.far_order;
            self.far
                .entry(bucket)
                .or_insert_with(|| {
                    order.push(Reverse(bucket));
                    Vec::new()
                })
                .push(pack(at, slot));
        }
        self.len += 1;
    }

    /// The earliest entry's instant (possibly stale), if it is at or before `limit`.
    pub fn next_due(&mut self, limit: EventTime) -> Option<EventTime> {
        if self.near.is_empty() {
            let &Reverse(bucket) = self.far_order.peek()?;
            if bucket > bucket_of(limit) {
                return None;
            }
            self.far_order.pop();
            let entries = self.far.remove(&bucket).unwrap_or_default();
            self.near = entries
                .into_iter()
                .map(|e| Reverse(unpack(bucket, e)))
                .collect();
            self.near_bucket = bucket;
        }
        self.near
            .peek()
            .map(|Reverse((at, _))| *at)
            .filter(|at| *at <= limit)
    }

    /// Removes every entry at exactly `at` and returns the slots in ascending order, each
    /// once (a slot rescheduled away and back leaves two identical entries). Call after
    /// `next_due` returned `at`.
    pub fn take_due_at(&mut self, at: EventTime, into: &mut Vec<u32>) {
        while let Some(Reverse((first, slot))) = self.near.peek().copied() {
            if first != at {
                break;
            }
            self.near.pop();
            self.len -= 1;
            if into.last() != Some(&slot) {
                into.push(slot);
            }
        }
    }

    /// Keeps only the entries `keep` accepts, and gives back the memory of the rest.
    pub fn retain(&mut self, mut keep: impl FnMut(u32, EventTime) -> bool) {
        let near: Vec<_> = std::mem::take(&mut self.near)
            .into_iter()
            .filter(|Reverse((at, slot))| keep(*slot, *at))
            .collect();
        self.near = BinaryHeap::from(near);
        self.far.retain(|&bucket, entries| {
            entries.retain(|&e| {
                let (at, slot) = unpack(bucket, e);
                keep(slot, at)
            });
            entries.shrink_to_fit();
            !entries.is_empty()
        });
        self.far.shrink_to_fit();
        self.far_order = self.far.keys().map(|&b| Reverse(b)).collect();
        self.len = self.near.len() + self.far.values().map(Vec::len).sum::<usize>();
    }

    /// Bytes held (an estimate: capacity of every buffer plus map nodes).
    pub fn heap_bytes(&self) -> usize {
        let far: usize = self
            .far
            .values()
            .map(|v| v.capacity() * size_of::<u64>())
            .sum::<usize>()
            // The map's slots (key, vector, control byte) and the key heap.
            + self.far.capacity() * (size_of::<(i64, Vec<u64>)>() + 1)
            + self.far_order.capacity() * size_of::<i64>();
        self.near.capacity() * size_of::<(EventTime, u32)>() + far
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET_MS: i64 = 1 << BUCKET_BITS;

    fn at(ms: i64) -> EventTime {
        EventTime::from_millis(ms)
    }

    fn drain(t: &mut Timers, limit: EventTime) -> Vec<(EventTime, u32)> {
        let mut out = Vec::new();
        while let Some(when) = t.next_due(limit) {
            let mut due = Vec::new();
            t.take_due_at(when, &mut due);
            out.extend(due.into_iter().map(|s| (when, s)));
        }
        out
    }

    #[test]
    fn entries_pop_in_instant_then_slot_order_without_duplicates() {
        let mut t = Timers::default();
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

    #[test]
    fn order_holds_across_buckets_and_entries_added_while_draining() {
        let mut t = Timers::default();
        for (i, ms) in [
            5 * BUCKET_MS + 7,
            3,
            BUCKET_MS - 1,
            BUCKET_MS,
            -BUCKET_MS - 1,
            2 * BUCKET_MS,
        ]
        .iter()
        .enumerate()
        {
            t.schedule(i as u32, at(*ms));
        }
        let first = drain(&mut t, at(BUCKET_MS - 1));
        assert_eq!(
            first,
            vec![(at(-BUCKET_MS - 1), 4), (at(3), 1), (at(BUCKET_MS - 1), 2)]
        );
        // Scheduled into the bucket being drained, and into an earlier one: both still
        // come out in time order.
        t.schedule(9, at(BUCKET_MS + 5));
        t.schedule(8, at(BUCKET_MS - 1));
        let rest = drain(&mut t, at(10 * BUCKET_MS));
        let times: Vec<_> = rest.iter().map(|e| e.0).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
        assert_eq!(rest.len(), 5);
        assert!(t.is_empty());
    }

    #[test]
    fn packed_entries_keep_every_instant_exactly() {
        for ms in [
            i64::MIN + 1,
            -BUCKET_MS - 1,
            -1,
            0,
            BUCKET_MS - 1,
            1_767_225_600_123,
            i64::MAX,
        ] {
            let at = at(ms);
            assert_eq!(
                unpack(bucket_of(at), pack(at, u32::MAX - 1)),
                (at, u32::MAX - 1)
            );
        }
    }

    #[test]
    fn retain_drops_rejected_entries_wherever_they_are() {
        let mut t = Timers::default();
        for slot in 0..10u32 {
            t.schedule(slot, at(i64::from(slot) * BUCKET_MS));
        }
        assert_eq!(
            t.next_due(at(0)),
            Some(at(0)),
            "loads bucket 0 into the near heap"
        );
        t.retain(|slot, _| slot % 2 == 1);
        assert_eq!(t.len(), 5);
        let left: Vec<u32> = drain(&mut t, at(100 * BUCKET_MS))
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(left, vec![1, 3, 5, 7, 9]);
    }
}
