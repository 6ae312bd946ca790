//! Member id → slot: an open-addressing table of slot numbers with a one-byte tag per
//! bucket (5 bytes a bucket, at most 7/8 full, like `hashbrown`), written here so that a
//! lookup can be split in stages. A batch of events first prefetches each id's home
//! bucket (computable from the hash alone), then each first candidate's member record,
//! and only then compares ids: the cache misses of the whole batch overlap instead of
//! forming one chain of three per event. Members are never removed, so there are no
//! tombstones: linear probing stops at the first empty bucket.

use super::prefetch::prefetch;

const EMPTY: u8 = 0;

#[derive(Clone, Debug, Default)]
pub struct MemberIndex {
    /// `EMPTY`, or `0x80 |` the top 7 bits of the hash.
    tags: Vec<u8>,
    slots: Vec<u32>,
    len: usize,
}

fn tag(hash: u64) -> u8 {
    0x80 | (hash >> 57) as u8
}

impl MemberIndex {
    /// Buckets allocated (each a tag byte and a 4-byte slot).
    pub fn buckets(&self) -> usize {
        self.tags.len()
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.tags.len() - 1)
    }

    /// Starts loading the buckets a lookup of `hash` reads first.
    pub fn prefetch(&self, hash: u64) {
        if !self.tags.is_empty() {
            let home = self.home(hash);
            prefetch(std::ptr::from_ref(&self.tags[home]).cast());
            prefetch(std::ptr::from_ref(&self.slots[home]).cast());
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
        if self.tags.is_empty() {
            return None;
        }
        let mask = self.tags.len() - 1;
        let tag = tag(hash);
        let mut i = self.home(hash);
        // Terminates: the table is never full (at most 7/8), so an empty bucket follows.
        loop {
            match self.tags[i] {
                EMPTY => return None,
                t if t == tag && eq(self.slots[i]) => return Some(self.slots[i]),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `slot` under `hash`; the caller has checked it is not there. `rehash` gives the
    /// hash of a stored slot, for growing.
    pub fn insert_unique(&mut self, hash: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 8 > self.tags.len() * 7 {
            self.grow(rehash);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.tags.len() - 1;
        let mut i = self.home(hash);
        while self.tags[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.tags[i] = tag(hash);
        self.slots[i] = slot;
    }

    fn grow(&mut self, rehash: impl Fn(u32) -> u64) {
        let buckets = (self.tags.len() * 2).max(16);
        let old_tags = std::mem::replace(&mut self.tags, vec![EMPTY; buckets]);
        let old_slots = std::mem::replace(&mut self.slots, vec![0; buckets]);
        for (t, slot) in old_tags.into_iter().zip(old_slots) {
            if t != EMPTY {
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
}
