//! Member id → slot: an open-addressing table of 4-byte buckets, each a slot number with
//! a 7-bit tag of the hash in its top bits (at most 7/8 full, like `hashbrown`), written
//! here so that a lookup can be split in stages. A batch of events first prefetches each
//! id's home bucket (computable from the hash alone), then each first candidate's member
//! record, and only then compares ids: the cache misses of the whole batch overlap
//! instead of forming one chain of three per event. Removal (an evicted member) shifts
//! the rest of the probe run back instead of leaving a tombstone, so linear probing
//! still stops at the first empty bucket and a table never fills with dead entries.
//!
//! The tag shares the bucket with the slot (one byte per bucket less than a separate tag
//! array: 2 bytes per member at 1 M members), which bounds an engine to [`MAX_MEMBERS`].
use serde::{Deserialize, Serialize};

use super::prefetch::prefetch;

const EMPTY: u32 = 0;
const TAG_SHIFT: u32 = 25;
/// Slot + 1 in the low bits, so that an occupied bucket is never `EMPTY`.
const SLOT_MASK: u32 = (1 << TAG_SHIFT) - 1;
/// The most members one index holds: 2^25 − 1 (33.5 M, about 6.7 GB of state).
pub use crate::settings::MAX_MEMBERS;
// The limit the settings promise must be what a bucket's slot bits can number.
const _: () = assert!(MAX_MEMBERS == SLOT_MASK as usize);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MemberIndex {
    /// `EMPTY`, or the top 7 bits of the hash above the slot + 1.
    buckets: Vec<u32>,
    len: usize,
}

fn tag(hash: u64) -> u32 {
    ((hash >> 57) as u32) << TAG_SHIFT
}

fn slot_of(bucket: u32) -> u32 {
    (bucket & SLOT_MASK) - 1
}

impl MemberIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Buckets allocated (4 bytes each).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.buckets.len() - 1)
    }

    /// Starts loading the bucket a lookup of `hash` reads first.
    pub fn prefetch(&self, hash: u64) {
        if !self.buckets.is_empty() {
            let home = self.home(hash);
            prefetch(std::ptr::from_ref(&self.buckets[home]).cast());
        }
    }

    /// The first slot whose tag matches `hash`: most likely the one a lookup will return,
    /// for prefetching its state. Reads no member.
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        self.probe(hash, |_| true)
    }

    /// The slot for which `eq` holds among those whose tag matches `hash`.
    pub fn find(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.probe(hash, eq)
    }

    fn probe(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let tag = tag(hash);
        let mut i = self.home(hash);
        // Terminates: the table is never full (at most 7/8), so an empty bucket follows.
        loop {
            match self.buckets[i] {
                EMPTY => return None,
                b if b & !SLOT_MASK == tag && eq(slot_of(b)) => return Some(slot_of(b)),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `slot` under `hash`; the caller has checked it is not there and that
    /// `slot < MAX_MEMBERS`. `rehash` gives the hash of a stored slot, for growing.
    pub fn insert_unique(&mut self, hash: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
        debug_assert!((slot as usize) < MAX_MEMBERS);
        if (self.len + 1) * 8 > self.buckets.len() * 7 {
            self.grow(rehash);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    /// Removes `slot`, stored under `hash`, if it is there. `rehash` gives the hash of a
    /// stored slot: each entry after it in the probe run moves back into the hole when
    /// its home allows (backward-shift deletion).
    pub fn remove(&mut self, hash: u64, slot: u32, rehash: impl Fn(u32) -> u64) -> bool {
        let Some(mut hole) = self.position(hash, slot) else {
            return false;
        };
        let mask = self.buckets.len() - 1;
        let mut i = (hole + 1) & mask;
        // Terminates: the table is never full, so the run ends at an empty bucket.
        while self.buckets[i] != EMPTY {
            let home = self.home(rehash(slot_of(self.buckets[i])));
            // The entry may fill the hole if the hole lies on its probe path, i.e. is no
            // further from `i` than its home is.
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.buckets[hole] = self.buckets[i];
                hole = i;
            }
            i = (i + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    fn position(&self, hash: u64, slot: u32) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let want = tag(hash) | (slot + 1) & SLOT_MASK;
        let mut i = self.home(hash);
        loop {
            match self.buckets[i] {
                EMPTY => return None,
                b if b == want => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.buckets.len() - 1;
        let mut i = self.home(hash);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = tag(hash) | (slot + 1) & SLOT_MASK;
    }

    fn grow(&mut self, rehash: impl Fn(u32) -> u64) {
        let buckets = (self.buckets.len() * 2).max(16);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; buckets]);
        for b in old {
            if b != EMPTY {
                let slot = slot_of(b);
                self.place(rehash(slot), slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deliberately poor hash (many collisions, shared tags) against a plain map.
    #[test]
    fn finds_exactly_what_was_inserted() {
        let hash = |key: u32| {
            u64::from(key % 97).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(key / 97)
        };
        let mut index = MemberIndex::default();
        for key in 0..5_000u32 {
            assert_eq!(index.find(hash(key), |s| s == key), None);
            index.insert_unique(hash(key), key, hash);
            assert_eq!(index.len, key as usize + 1);
            assert!(index.len * 8 <= index.buckets() * 7);
        }
        for key in 0..5_000u32 {
            assert_eq!(index.find(hash(key), |s| s == key), Some(key));
            index.prefetch(hash(key));
            assert!(index.candidate(hash(key)).is_some());
        }
        assert_eq!(index.find(hash(5_000), |s| s == 5_000), None);
        assert_eq!(MemberIndex::default().find(1, |_| true), None);
    }

    /// Inserts and removals in random order against a plain map, with a poor hash so
    /// that probe runs are long and wrap around the end of the table.
    #[test]
    fn removal_keeps_every_other_entry_findable() {
        use std::collections::HashSet;
        let hash = |key: u32| {
            u64::from(key % 13).wrapping_mul(0x9E37_79B9_7F4A_7C15) | u64::from(key & 1) << 63
        };
        let mut index = MemberIndex::default();
        let mut model: HashSet<u32> = HashSet::new();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 600) as u32;
            if model.contains(&key) {
                assert!(
                    index.remove(hash(key), key, hash),
                    "step {step}: {key} present"
                );
                model.remove(&key);
            } else {
                assert!(
                    !index.remove(hash(key), key, hash),
                    "step {step}: {key} absent"
                );
                index.insert_unique(hash(key), key, hash);
                model.insert(key);
            }
            assert_eq!(index.len(), model.len());
            if step % 97 == 0 {
                for key in 0..600u32 {
                    let found = index.find(hash(key), |s| s == key);
                    assert_eq!(found.is_some(), model.contains(&key), "step {step}: {key}");
                }
            }
        }
    }

    #[test]
    fn the_first_and_last_slots_survive_packing_with_any_tag() {
        let mut index = MemberIndex::default();
        let last = MAX_MEMBERS as u32 - 1;
        // Top hash bits all set and all clear: the tags that sit next to the slot bits.
        let (h0, h1) = (u64::MAX, 0x0123_4567);
        index.insert_unique(h0, 0, |_| h0);
        index.insert_unique(h1, last, |_| h1);
        assert_eq!(index.find(h0, |s| s == 0), Some(0));
        assert_eq!(index.find(h1, |s| s == last), Some(last));
        assert_eq!(index.find(h0, |s| s == last), None, "tags differ");
    }
}
