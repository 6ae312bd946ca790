//! Member ids in 12 bytes of the member record instead of a 24-byte string (10 M
//! members, SPEC §9: ≤ 2 GB): an id of up to 11 bytes inline, a longer one in an
//! append-only byte arena. Inline ids cost no second cache miss on lookup, which every
//! event does. An evicted member's long id stays behind as garbage, counted; once the
//! garbage outweighs the live ids the engine copies the live ones into a new arena.
//!
//! Each id is a length byte and the bytes (an id of 255 bytes or more: 255, then the
//! length as four bytes). Chunks are 1 MiB and never reallocated; an id too long for a
//! chunk gets a chunk of its own.
use serde::{Deserialize, Serialize};

use super::short_copy::copy_short;

const CHUNK_BITS: u32 = 20;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks an [`IdRef`] can name: 4 GiB of ids.
const MAX_CHUNKS: usize = 1 << (32 - CHUNK_BITS);
const LONG: u8 = u8::MAX;

/// Where one id is in the [`IdArena`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRef(u32);

const INLINE: usize = 11;
/// In the last byte of an [`IdSlot`]: the id is in the arena.
const IN_ARENA: u8 = u8::MAX;

/// A member id as her record holds it: up to [`INLINE`] bytes inline with the length in
/// the last byte, or [`IN_ARENA`] there and an [`IdRef`] in the first four.
///
/// An inline id is always valid UTF-8: only this file builds slots, `store` and
/// `IdKey::new` copy whole `str`s, the default is empty, and a deserialized slot is
/// checked ([`RawIdSlot`]). So [`IdArena::resolve`] need not validate it again; it is
/// read for every member warning.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawIdSlot")]
pub struct IdSlot([u8; INLINE + 1]);

/// An [`IdSlot`] as stored, before it is checked.
#[derive(Deserialize)]
#[serde(rename = "IdSlot")]
struct RawIdSlot([u8; INLINE + 1]);

impl TryFrom<RawIdSlot> for IdSlot {
    type Error = &'static str;

    fn try_from(raw: RawIdSlot) -> Result<IdSlot, Self::Error> {
        let bytes = raw.0;
        match bytes[INLINE] {
            IN_ARENA => Ok(IdSlot(bytes)),
            len if usize::from(len) <= INLINE
                && std::str::from_utf8(&bytes[..usize::from(len)]).is_ok() =>
            {
                Ok(IdSlot(bytes))
            }
            _ => Err("a member id slot that holds no valid id"),
        }
    }
}

/// How an id is compared with the stored ones during a lookup.
#[derive(Copy, Clone, Debug)]
pub enum IdKey<'a> {
    /// Short enough to be inline: equal exactly when the slots are equal.
    Inline(IdSlot),
    /// In the arena: only arena slots can hold it; compared as text.
    Long(&'a str),
}

impl<'a> IdKey<'a> {
    pub fn new(id: &'a str) -> IdKey<'a> {
        if id.len() <= INLINE {
            let mut slot = [0; INLINE + 1];
            copy_short(&mut slot, id.as_bytes());
            slot[INLINE] = id.len() as u8;
            IdKey::Inline(IdSlot(slot))
        } else {
            IdKey::Long(id)
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IdArena {
    chunks: Vec<Vec<u8>>,
    /// Bytes of ids released since the arena was built.
    garbage: usize,
}

/// Garbage below this is never worth a copy.
const COMPACT_MIN_GARBAGE: usize = CHUNK;

impl IdArena {
    /// The slot for `id`, storing it in the arena if it is too long for the slot.
    pub fn store(&mut self, id: &str) -> IdSlot {
        match IdKey::new(id) {
            IdKey::Inline(slot) => slot,
            IdKey::Long(id) => {
                let mut slot = [0; INLINE + 1];
                slot[..4].copy_from_slice(&self.push(id).0.to_le_bytes());
                slot[INLINE] = IN_ARENA;
                IdSlot(slot)
            }
        }
    }

    /// The id in `slot` is no longer needed (its member was evicted).
    pub fn release(&mut self, slot: &IdSlot) {
        if slot.0[INLINE] == IN_ARENA {
            let len = self.resolve(slot).len();
            self.garbage += len + if len < usize::from(LONG) { 1 } else { 5 };
        }
    }

    /// Whether released ids make up most of the arena, so that copying the live ones
    /// into a new arena ([`IdArena::compacted`]) pays: amortised over the releases, each
    /// byte is copied at most once per byte released.
    pub fn wants_compaction(&self) -> bool {
        let used: usize = self.chunks.iter().map(Vec::len).sum();
        self.garbage >= COMPACT_MIN_GARBAGE && self.garbage * 2 >= used
    }

    /// A new arena with the ids of `slots` only, each slot rewritten to point into it.
    pub fn compacted<'s>(&self, slots: impl Iterator<Item = &'s mut IdSlot>) -> IdArena {
        let mut fresh = IdArena::default();
        for slot in slots {
            if slot.0[INLINE] == IN_ARENA {
                *slot = fresh.store(self.resolve(slot));
            }
        }
        fresh
    }

    /// Whether `slot` holds the id of `key`. An inline id is compared as 12 bytes,
    /// without decoding the slot.
    pub fn matches(&self, slot: &IdSlot, key: &IdKey<'_>) -> bool {
        match key {
            IdKey::Inline(inline) => slot == inline,
            IdKey::Long(id) => slot.0[INLINE] == IN_ARENA && self.resolve(slot) == *id,
        }
    }

    pub fn resolve<'a>(&'a self, slot: &'a IdSlot) -> &'a str {
        match slot.0[INLINE] {
            IN_ARENA => {
                let mut at = [0; 4];
                at.copy_from_slice(&slot.0[..4]);
                self.get(IdRef(u32::from_le_bytes(at)))
            }
            len => {
                let bytes = &slot.0[..usize::from(len)];
                // SAFETY: an inline slot holds valid UTF-8 (see `IdSlot`: built only here
                // from whole `str`s, or checked when deserialized).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
        }
    }

    fn push(&mut self, id: &str) -> IdRef {
        let bytes = id.as_bytes();
        let header = if bytes.len() < usize::from(LONG) {
            1
        } else {
            5
        };
        let need = header + bytes.len();
        // An oversized id's own chunk is longer than CHUNK, so nothing joins it.
        let fits = self.chunks.last().is_some_and(|c| c.len() + need <= CHUNK);
        if !fits {
            assert!(
                self.chunks.len() < MAX_CHUNKS,
                "over 4 GiB of member ids in one engine"
            );
            self.chunks.push(Vec::with_capacity(need.max(CHUNK)));
        }
        let index = self.chunks.len() - 1;
        // The branch above guarantees a last chunk with room for `need` bytes.
        let chunk = &mut self.chunks[index];
        let pos = chunk.len();
        if header == 1 {
            chunk.push(bytes.len() as u8);
        } else {
            chunk.push(LONG);
            // Ids reach the engine from messages of at most `max_message_bytes`.
            let len = u32::try_from(bytes.len()).unwrap_or_else(|_| panic!("id over 4 GiB"));
            chunk.extend_from_slice(&len.to_le_bytes());
        }
        chunk.extend_from_slice(bytes);
        IdRef((index as u32) << CHUNK_BITS | pos as u32)
    }

    fn get(&self, id: IdRef) -> &str {
        let chunk = &self.chunks[(id.0 >> CHUNK_BITS) as usize];
        let pos = (id.0 as usize) & (CHUNK - 1);
        let (start, len) = match chunk[pos] {
            LONG => {
                let mut len = [0; 4];
                len.copy_from_slice(&chunk[pos + 1..pos + 5]);
                (pos + 5, u32::from_le_bytes(len) as usize)
            }
            short => (pos + 1, usize::from(short)),
        };
        // Every id was pushed as a whole `str`, so the range is valid UTF-8; a failure
        // would be a bug in this file, and an empty id is the safe answer.
        std::str::from_utf8(&chunk[start..start + len]).unwrap_or_default()
    }

    pub fn heap_bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `resolve` trusts an inline slot to hold UTF-8: a stored slot that does not, or
    /// whose length byte overruns it, must be refused when read back.
    #[test]
    fn a_deserialized_slot_must_hold_a_valid_id() {
        let arena = IdArena::default();
        let good = arena_slot("m0000001");
        // bincode, as snapshots are written: the twelve bytes as they are.
        let bytes = bincode::serialize(&good).unwrap();
        assert_eq!(bytes.len(), INLINE + 1);
        let back: IdSlot = bincode::deserialize(&bytes).unwrap();
        assert_eq!(arena.resolve(&back), "m0000001");
        let mut bad_utf8 = bytes.clone();
        bad_utf8[0] = 0xFF;
        assert!(bincode::deserialize::<IdSlot>(&bad_utf8).is_err());
        let mut overrun = bytes;
        overrun[INLINE] = INLINE as u8 + 1;
        assert!(bincode::deserialize::<IdSlot>(&overrun).is_err());
    }

    fn arena_slot(id: &str) -> IdSlot {
        IdArena::default().store(id)
    }

    #[test]
    fn ids_of_every_length_come_back_exactly() {
        let mut arena = IdArena::default();
        let ids: Vec<String> = (0..3000)
            .map(|i| match i % 5 {
                0 => String::new(),
                1 => format!("m{i:07}"),
                2 => "é".repeat(i % 300),
                3 => "x".repeat(254 + i % 3),
                _ => "long".repeat(i * 7),
            })
            .chain(["y".repeat(CHUNK + 10)])
            .chain(["after the oversized one".to_string()])
            .collect();
        let slots: Vec<IdSlot> = ids.iter().map(|id| arena.store(id)).collect();
        for (id, slot) in ids.iter().zip(&slots) {
            assert_eq!(arena.resolve(slot), id);
            assert!(arena.matches(slot, &IdKey::new(id)), "{id}");
        }
        // Every stored id matches its own key only.
        for (i, slot) in slots.iter().enumerate().take(200) {
            for (j, id) in ids.iter().enumerate().take(200) {
                assert_eq!(
                    arena.matches(slot, &IdKey::new(id)),
                    ids[i] == *id,
                    "{i} {j}"
                );
            }
        }
        assert_eq!(arena.resolve(&arena.clone().store("m0000001")), "m0000001");

        // Release every other id and compact: the kept ones resolve to the same text.
        let mut kept: Vec<(IdSlot, &String)> = Vec::new();
        for (i, (slot, id)) in slots.iter().zip(&ids).enumerate() {
            if i % 2 == 0 {
                arena.release(slot);
            } else {
                kept.push((*slot, id));
            }
        }
        assert!(arena.wants_compaction(), "half the bytes released");
        let fresh = arena.compacted(kept.iter_mut().map(|(slot, _)| slot));
        for (slot, id) in &kept {
            assert_eq!(fresh.resolve(slot), id.as_str());
        }
        assert!(!fresh.wants_compaction());
        assert!(fresh.heap_bytes() < arena.heap_bytes());
        assert_eq!(arena.resolve(&arena.clone().store("ééééé")), "ééééé");
        assert!(arena.chunks.len() > 2);
    }
}
