//! A vector stored in fixed-size chunks. Growth allocates one more chunk instead of
//! doubling and copying, so 10 M members never briefly need twice their memory and never
//! carry up to 2× spare capacity.
use serde::{Deserialize, Serialize};

use std::ops::{Index, IndexMut};

const CHUNK_BITS: u32 = 14;
const CHUNK: usize = 1 << CHUNK_BITS;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends and returns the new element's index.
    pub fn push(&mut self, value: T) -> usize {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = self.len;
        // The branch above guarantees a last chunk with room: `len % CHUNK` elements.
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(value);
        }
        self.len += 1;
        index
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks
            .get(index >> CHUNK_BITS)
            .and_then(|chunk| chunk.get(index & (CHUNK - 1)))
    }

    /// Bytes of the chunks themselves (not what the elements own).
    pub fn heap_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * size_of::<T>())
            .sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_stable_across_chunk_boundaries() {
        let mut slab = Slab::default();
        for i in 0..(3 * CHUNK + 5) {
            assert_eq!(slab.push(i), i);
        }
        assert_eq!(slab.len(), 3 * CHUNK + 5);
        assert_eq!(slab[CHUNK - 1], CHUNK - 1);
        assert_eq!(slab[CHUNK], CHUNK);
        slab[2 * CHUNK + 1] = 7;
        assert_eq!(slab[2 * CHUNK + 1], 7);
        assert_eq!(slab.iter().count(), 3 * CHUNK + 5);
        assert_eq!(slab.iter().nth(CHUNK + 3), Some(&(CHUNK + 3)));
    }
}
