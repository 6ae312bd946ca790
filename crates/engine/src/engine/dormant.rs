//! Members who have gone quiet. A member silent for `state.evict_dormant_after`, with no
//! change of hers left to come with time, leaves the hot state (her 120-byte record, the
//! hot index, the timer queue) for a [`Remainder`] of 48 bytes beside her 12-byte id
//! slot, found through an index of its own. Nothing else about her moves: her
//! contribution stays in her group's figures (it no longer changes with time), she stays
//! on her tutor's roster and in the counts by segment and stage, and any event of hers
//! brings her back exactly as she was. That is SPEC §4's "invisible in every output";
//! only members who left are ever forgotten (`state.evict_left_after`).
//!
//! This file holds the storage only; the engine decides who moves in and out.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use super::arena::{IdArena, IdKey, IdSlot};
use super::index::MemberIndex;
use super::member::Remainder;
use super::slab::Slab;

/// One dormant member: her id and her remainder (60 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dormant {
    pub id: IdSlot,
    pub remainder: Remainder,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DormantStore {
    entries: Slab<Dormant>,
    index: MemberIndex,
    /// Free entries, smallest first. Derived from the entries ([`Remainder::is_vacant`])
    /// when read back, so an engine read from an image reuses them in the same order.
    #[serde(skip)]
    vacant: BinaryHeap<Reverse<u32>>,
}

impl DormantStore {
    /// Members held.
    pub fn len(&self) -> usize {
        self.entries.len() - self.vacant.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry holding the member `key` (hashed to `hash`), if she is dormant.
    pub fn find(&self, hash: u64, key: &IdKey<'_>, ids: &IdArena) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        self.index.find(hash, |slot| {
            ids.matches(&self.entries[slot as usize].id, key)
        })
    }

    /// Entries in the store, free ones included: dormant slots are `0..slots()`.
    pub fn slots(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, slot: u32) -> Option<&Dormant> {
        self.entries
            .get(slot as usize)
            .filter(|d| !d.remainder.is_vacant())
    }

    /// Holds `entry`; returns its slot.
    pub fn insert(&mut self, entry: Dormant, ids: &IdArena, hasher: &FixedState) -> u32 {
        debug_assert!(!entry.remainder.is_vacant());
        let hash = hasher.hash_one(ids.resolve(&entry.id));
        let slot = match self.vacant.pop() {
            Some(Reverse(slot)) => {
                self.entries[slot as usize] = entry;
                slot
            }
            // The engine holds at most `MAX_MEMBERS` members (< 2^25), hot and dormant
            // together, so a new entry's index fits a u32 and the index's slot bits.
            None => self.entries.push(entry) as u32,
        };
        let entries = &self.entries;
        self.index.insert_unique(hash, slot, |s| {
            hasher.hash_one(ids.resolve(&entries[s as usize].id))
        });
        slot
    }

    /// Takes the member at `slot`, a slot [`DormantStore::find`] gave, out; the slot is
    /// free again.
    pub fn remove(&mut self, slot: u32, ids: &IdArena, hasher: &FixedState) -> Dormant {
        let hash = hasher.hash_one(ids.resolve(&self.entries[slot as usize].id));
        let entries = &self.entries;
        let removed = self.index.remove(hash, slot, |s| {
            hasher.hash_one(ids.resolve(&entries[s as usize].id))
        });
        debug_assert!(removed, "a dormant member was in the index");
        let entry = std::mem::replace(
            &mut self.entries[slot as usize],
            Dormant {
                id: IdSlot::default(),
                remainder: Remainder::vacant(),
            },
        );
        self.vacant.push(Reverse(slot));
        entry
    }

    /// Every dormant member, by slot.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Dormant)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.remainder.is_vacant())
            .map(|(slot, d)| (slot as u32, d))
    }

    /// Every id slot, for the id arena's compaction (free entries hold an empty id).
    pub fn id_slots_mut(&mut self) -> impl Iterator<Item = &mut IdSlot> {
        self.entries.iter_mut().map(|d| &mut d.id)
    }

    /// After reading an image: the free entries, from the entries themselves. Returns
    /// whether the index holds exactly the members held.
    pub fn restore_vacancies(&mut self) -> bool {
        self.vacant = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, d)| d.remainder.is_vacant())
            .map(|(slot, _)| Reverse(slot as u32))
            .collect();
        self.index.len() == self.len()
    }

    /// Bytes held: the entries and the index.
    pub fn heap_bytes(&self) -> usize {
        self.entries.heap_bytes() + self.index.buckets() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remainder of a member who never did anything.
    fn settled() -> Remainder {
        let m = crate::engine::MemberState::new(IdSlot::default(), crate::model::EventTime(0));
        m.remainder(0).expect("a fresh record is settled")
    }

    #[test]
    fn a_dormant_entry_is_its_id_slot_and_a_48_byte_remainder() {
        assert_eq!(size_of::<Remainder>(), 48);
        assert_eq!(size_of::<Dormant>(), 60);
    }

    #[test]
    fn members_go_in_and_out_and_free_entries_are_reused_smallest_first() {
        let hasher = FixedState::default();
        let mut ids = IdArena::default();
        let mut store = DormantStore::default();
        let names: Vec<String> = (0..50)
            .map(|i| format!("a-member-with-a-long-id-{i}"))
            .collect();
        let mut slots = Vec::new();
        for name in &names {
            let entry = Dormant {
                id: ids.store(name),
                remainder: settled(),
            };
            slots.push(store.insert(entry, &ids, &hasher));
        }
        assert_eq!(store.len(), 50);
        for (name, &slot) in names.iter().zip(&slots) {
            let hash = hasher.hash_one(name.as_str());
            assert_eq!(store.find(hash, &IdKey::new(name), &ids), Some(slot));
        }
        for i in [7usize, 3, 30] {
            let hash = hasher.hash_one(names[i].as_str());
            let out = store.remove(slots[i], &ids, &hasher);
            assert_eq!(ids.resolve(&out.id), names[i]);
            assert_eq!(store.find(hash, &IdKey::new(&names[i]), &ids), None);
        }
        assert_eq!(store.len(), 47);
        assert!(store.get(slots[3]).is_none());
        let entry = Dormant {
            id: ids.store(&names[3]),
            remainder: settled(),
        };
        assert_eq!(store.insert(entry, &ids, &hasher), slots[3]);
        for (i, name) in names.iter().enumerate() {
            let hash = hasher.hash_one(name.as_str());
            let found = store.find(hash, &IdKey::new(name), &ids);
            assert_eq!(found.is_some(), i != 7 && i != 30, "{name}");
        }
        assert!(store.restore_vacancies());
        assert_eq!(store.len(), 48);
    }
}
