//! Member ids, stored once each in an append-only byte arena: a member record holds a
//! 4-byte [`IdRef`] instead of a 24-byte string (10 M members, SPEC §9: ≤ 2 GB). Ids are
//! never removed, so the arena never fragments.
//!
//! Each id is a length byte and the bytes (an id of 255 bytes or more: 255, then the
//! length as four bytes). Chunks are 1 MiB and never reallocated; an id too long for a
//! chunk gets a chunk of its own.

const CHUNK_BITS: u32 = 20;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks an [`IdRef`] can name: 4 GiB of ids.
const MAX_CHUNKS: usize = 1 << (32 - CHUNK_BITS);
const LONG: u8 = u8::MAX;

/// Where one id is in the [`IdArena`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IdRef(u32);

#[derive(Clone, Debug, Default)]
pub struct IdArena {
    chunks: Vec<Vec<u8>>,
}

impl IdArena {
    pub fn push(&mut self, id: &str) -> IdRef {
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

    pub fn get(&self, id: IdRef) -> &str {
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
        let refs: Vec<IdRef> = ids.iter().map(|id| arena.push(id)).collect();
        for (id, r) in ids.iter().zip(&refs) {
            assert_eq!(arena.get(*r), id);
        }
        assert!(arena.chunks.len() > 2);
    }
}
