//! Event-time timers: a calendar queue of `(instant, member)` with lazy deletion.
//!
//! Entries live in buckets of 2^26 ms (about 18.6 hours). A bucket not yet due is a list of
//! fixed-size chunks that entries are appended to: with a hundred or so buckets in use,
//! every list's last chunk stays in cache, so scheduling (once per event or more) is an
//! append to warm memory instead of a probe into a map of a hundred thousand buckets.
//! When a bucket comes due it is gathered into one vector and sorted (`near`), then
//! drained from the front; entries scheduled into it (or before it) while it drains go to
//! a small binary heap (`late`), and the two are merged. The sorted bucket also tells the
//! engine which members are due next, so it can fetch their state ahead of need.
//!
//! A bucket entry is 8 bytes, the instant's offset in its bucket above the slot, because
//! there is about one per member (10 M members). Invariant: every entry in `far` lies in a
//! bucket after `near_bucket`, and every entry at or before it is in `near` or `late`, so
//! the smaller of their minimums is the global minimum.
//!
//! Rescheduling only pushes; a superseded entry stays until it surfaces and is then
//! skipped by the caller, because the member's own state holds its one valid wake-up.
//! Entries pop in `(instant, member)` order, so members due at the same instant fire in a
//! fixed order and replay stays deterministic.
use serde::{Deserialize, Serialize};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashMap;

use crate::model::EventTime;

const BUCKET_BITS: u32 = 26;
/// Entries per chunk of a far bucket (8 KiB).
const CHUNK: usize = 1024;
/// Emptied chunks kept for reuse; the rest are freed.
const MAX_SPARE: usize = 64;

fn bucket_of(at: EventTime) -> i64 {
    // An arithmetic shift rounds towards negative infinity, like `div_euclid`.
    at.as_millis() >> BUCKET_BITS
}

/// A bucket entry: offset in the bucket above the slot, so that within one bucket the
/// packed values order exactly as `(instant, slot)`.
fn pack(at: EventTime, slot: u32) -> u64 {
    ((at.as_millis() & ((1 << BUCKET_BITS) - 1)) as u64) << 32 | u64::from(slot)
}

fn unpack(bucket: i64, entry: u64) -> (EventTime, u32) {
    let at = bucket << BUCKET_BITS | (entry >> 32) as i64;
    (EventTime::from_millis(at), entry as u32)
}

/// A far bucket: chunks of at most [`CHUNK`] entries, every one but the last full.
type Chunks = Vec<Vec<u64>>;

/// Bits of an entry's offset that choose its bin in [`sort_bucket`].
const BIN_BITS: u32 = 10;
/// An entry shifted right by this is its bin: the top bits of the offset (an entry is
/// below 2^(32 + BUCKET_BITS)).
const BIN_SHIFT: u32 = 32 + BUCKET_BITS - BIN_BITS;

/// Sorts a bucket's entries ascending: one counting pass distributes them into 1 024
/// bins by the top bits of their offset (about a minute of event time each), then each
/// bin, a handful of entries, is sorted on its own. About a quarter of the instructions
/// of one comparison sort over thousands of entries.
fn sort_bucket(entries: &mut Vec<u64>) {
    if entries.len() < 1 << BIN_BITS {
        entries.sort_unstable();
        return;
    }
    // Bin b's entries go to starts[b]..starts[b + 1].
    let mut starts = vec![0usize; (1 << BIN_BITS) + 1];
    for &e in entries.iter() {
        starts[(e >> BIN_SHIFT) as usize + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    let mut next = starts.clone();
    let mut binned = vec![0u64; entries.len()];
    for &e in entries.iter() {
        let bin = (e >> BIN_SHIFT) as usize;
        binned[next[bin]] = e;
        next[bin] += 1;
    }
    for bin in starts.windows(2) {
        if bin[1] - bin[0] > 1 {
            binned[bin[0]..bin[1]].sort_unstable();
        }
    }
    *entries = binned;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timers {
    /// The bucket being drained, sorted; entries before `cursor` are gone.
    near: Vec<u64>,
    cursor: usize,
    near_bucket: i64,
    /// Entries scheduled at or before `near_bucket` after it was sorted.
    late: BinaryHeap<Reverse<(EventTime, u32)>>,
    far: HashMap<i64, Chunks, foldhash::fast::FixedState>,
    /// Every key of `far`, once.
    far_order: BinaryHeap<Reverse<i64>>,
    /// Emptied chunks, for reuse.
    spare: Vec<Vec<u64>>,
    len: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            near: Vec::new(),
            cursor: 0,
            near_bucket: i64::MIN,
            late: BinaryHeap::new(),
            far: HashMap::default(),
            far_order: BinaryHeap::new(),
            spare: Vec::new(),
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
            self.late.push(Reverse((at, slot)));
        } else {
            let order = &mut self.far_order;
            let chunks = self.far.entry(bucket).or_insert_with(|| {
                order.push(Reverse(bucket));
                Vec::new()
            });
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < CHUNK => chunk.push(pack(at, slot)),
                _ => {
                    let mut chunk = self.spare.pop().unwrap_or_default();
                    chunk.push(pack(at, slot));
                    chunks.push(chunk);
                }
            }
        }
        self.len += 1;
    }

    /// The earliest entry (possibly stale), bucket loading aside.
    fn head(&self) -> Option<(EventTime, u32)> {
        let near = self
            .near
            .get(self.cursor)
            .map(|&e| unpack(self.near_bucket, e));
        let late = self.late.peek().map(|r| r.0);
        match (near, late) {
            (Some(n), Some(l)) => Some(n.min(l)),
            (n, l) => n.or(l),
        }
    }

    /// The earliest entry's instant (possibly stale), if it is at or before `limit`.
    pub fn next_due(&mut self, limit: EventTime) -> Option<EventTime> {
        if self.cursor == self.near.len() && self.late.is_empty() {
            let &Reverse(bucket) = self.far_order.peek()?;
            if bucket > bucket_of(limit) {
                return None;
            }
            self.load(bucket);
        }
        self.head().map(|(at, _)| at).filter(|at| *at <= limit)
    }

    /// Makes far bucket `bucket`, the earliest, the sorted one being drained. Once per
    /// 18.6 hours of event time: kept out of line so that `next_due`, called for every
    /// event, stays small.
    #[inline(never)]
    fn load(&mut self, bucket: i64) {
        self.far_order.pop();
        let chunks = self.far.remove(&bucket).unwrap_or_default();
        // Sized to this bucket, so a burst does not keep its capacity for later ones.
        let total = chunks.iter().map(Vec::len).sum();
        self.near = Vec::with_capacity(total);
        self.cursor = 0;
        for mut chunk in chunks {
            self.near.extend_from_slice(&chunk);
            if self.spare.len() < MAX_SPARE {
                chunk.clear();
                self.spare.push(chunk);
            }
        }
        sort_bucket(&mut self.near);
        self.near_bucket = bucket;
    }

    /// Removes every entry at exactly `at` and returns the slots in ascending order, each
    /// once (a slot rescheduled away and back leaves two identical entries). Call after
    /// `next_due` returned `at`.
    pub fn take_due_at(&mut self, at: EventTime, into: &mut Vec<u32>) {
        if self.late.is_empty() && bucket_of(at) == self.near_bucket {
            // Only the sorted bucket holds entries this early: its run at `at`, directly.
            let offset = (at.as_millis() & ((1 << BUCKET_BITS) - 1)) as u64;
            let run = self.near[self.cursor..]
                .iter()
                .take_while(|&&e| e >> 32 == offset)
                .count();
            for &e in &self.near[self.cursor..self.cursor + run] {
                let slot = e as u32;
                if into.last() != Some(&slot) {
                    into.push(slot);
                }
            }
            self.cursor += run;
            self.len -= run;
            if self.cursor == self.near.len() {
                self.near = Vec::new();
                self.cursor = 0;
            }
            return;
        }
        while let Some((first, slot)) = self.head() {
            if first != at {
                break;
            }
            // Equal heads in both: the sorted bucket's goes first, the duplicate follows.
            let from_near = self
                .near
                .get(self.cursor)
                .is_some_and(|&e| unpack(self.near_bucket, e) == (first, slot));
            if from_near {
                self.cursor += 1;
                if self.cursor == self.near.len() {
                    self.near = Vec::new();
                    self.cursor = 0;
                }
            } else {
                self.late.pop();
            }
            self.len -= 1;
            if into.last() != Some(&slot) {
                into.push(slot);
            }
        }
    }

    /// The slot of the entry `ahead` places after the next one in the bucket being
    /// drained, if any: a hint of who is due soon, for prefetching (it may be stale, and
    /// `late` entries are not looked at).
    pub fn upcoming(&self, ahead: usize) -> Option<u32> {
        self.near.get(self.cursor + ahead).map(|&e| e as u32)
    }

    /// Keeps only the entries `keep` accepts, and gives back the memory of the rest.
    pub fn retain(&mut self, mut keep: impl FnMut(u32, EventTime) -> bool) {
        let bucket = self.near_bucket;
        self.near.drain(..self.cursor);
        self.cursor = 0;
        self.near.retain(|&e| {
            let (at, slot) = unpack(bucket, e);
            keep(slot, at)
        });
        self.near.shrink_to_fit();
        let late: Vec<_> = std::mem::take(&mut self.late)
            .into_iter()
            .filter(|Reverse((at, slot))| keep(*slot, *at))
            .collect();
        self.late = BinaryHeap::from(late);
        self.spare = Vec::new();
        self.far.retain(|&bucket, chunks| {
            // Compacts in place: the write position never passes the read position.
            let (mut w_chunk, mut w_at) = (0, 0);
            for r_chunk in 0..chunks.len() {
                for r_at in 0..chunks[r_chunk].len() {
                    let e = chunks[r_chunk][r_at];
                    let (at, slot) = unpack(bucket, e);
                    if keep(slot, at) {
                        chunks[w_chunk][w_at] = e;
                        w_at += 1;
                        if w_at == CHUNK {
                            w_chunk += 1;
                            w_at = 0;
                        }
                    }
                }
            }
            if w_at > 0 {
                chunks[w_chunk].truncate(w_at);
                w_chunk += 1;
            }
            chunks.truncate(w_chunk);
            if let Some(last) = chunks.last_mut() {
                last.shrink_to_fit();
            }
            !chunks.is_empty()
        });
        self.far.shrink_to_fit();
        self.far_order = self.far.keys().map(|&b| Reverse(b)).collect();
        self.len = self.near.len()
            + self.late.len()
            + self
                .far
                .values()
                .flat_map(|chunks| chunks.iter().map(Vec::len))
                .sum::<usize>();
    }

    /// Bytes held (an estimate: capacity of every buffer plus map nodes).
    pub fn heap_bytes(&self) -> usize {
        let chunk_bytes = |c: &Vec<u64>| c.capacity() * size_of::<u64>() + size_of::<Vec<u64>>();
        let far: usize = self
            .far
            .values()
            .map(|chunks| chunks.iter().map(chunk_bytes).sum::<usize>())
            .sum::<usize>()
            // The map's slots (key, chunk list, control byte) and the key heap.
            + self.far.capacity() * (size_of::<(i64, Chunks)>() + 1)
            + self.far_order.capacity() * size_of::<i64>();
        self.near.capacity() * size_of::<u64>()
            + self.late.capacity() * size_of::<(EventTime, u32)>()
            + self.spare.iter().map(chunk_bytes).sum::<usize>()
            + far
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
    fn a_bucket_sorts_like_a_comparison_sort() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for n in [0, 1, 1023, 1024, 1025, 20_000] {
            for spread in [1i64, 1_000, BUCKET_MS] {
                let mut entries: Vec<u64> = (0..n)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let at = at(BUCKET_MS * 7 + (seed % spread as u64) as i64);
                        pack(at, (seed >> 40) as u32 % 5_000)
                    })
                    .collect();
                // The warm-up timer's slot, at the bucket's last millisecond.
                entries.push(pack(at(BUCKET_MS * 8 - 1), u32::MAX));
                let mut expected = entries.clone();
                expected.sort_unstable();
                sort_bucket(&mut entries);
                assert_eq!(entries, expected, "{n} entries over {spread} ms");
            }
        }
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

    /// Random schedules, drains and compactions, checked against an ordered set: buckets
    /// of several chunks, entries landing in the bucket being drained and before it.
    #[test]
    fn behaves_like_an_ordered_set_of_entries() {
        use std::collections::BTreeSet;
        let mut t = Timers::default();
        let mut model: BTreeSet<(EventTime, u32)> = BTreeSet::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut now = 0i64;
        for round in 0..200 {
            for _ in 0..next(3 * CHUNK as u64) {
                let at = at(now + next(4 * BUCKET_MS as u64) as i64 - BUCKET_MS / 8);
                let slot = next(5_000) as u32;
                t.schedule(slot, at);
                model.insert((at, slot));
            }
            if round % 7 == 3 {
                let parity = next(2) as u32;
                t.retain(|slot, _| slot % 2 == parity);
                model.retain(|(_, slot)| slot % 2 == parity);
                assert_eq!(t.len(), model.len());
            }
            now += next(BUCKET_MS as u64) as i64;
            let expected: Vec<_> = model.iter().copied().filter(|e| e.0 <= at(now)).collect();
            for e in &expected {
                model.remove(e);
            }
            assert_eq!(drain(&mut t, at(now)), expected, "round {round}");
        }
    }
}
