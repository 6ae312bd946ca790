//! Deterministic random sub-streams.
//!
//! One ChaCha8 generator seeded from the user's seed yields a 64-bit key; every random
//! decision is then drawn from a ChaCha8 sub-stream whose seed mixes that key with what
//! the decision is about (a purpose tag and one or two numbers: member and tenure month,
//! member and day, ...). The output therefore depends only on the options, never on the
//! order in which the generator happens to visit members or days.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// SplitMix64's finaliser: a bijective, well-avalanched 64-bit mix. Stable forever: the
/// byte-identical-output promise depends on it.
pub(super) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a sub-stream is for. The discriminants are part of the output format: never
/// renumber them.
#[derive(Copy, Clone, Debug)]
pub(super) enum Purpose {
    Layout = 1,
    Member = 2,
    Group = 3,
    Plan = 4,
    Day = 5,
    Handover = 6,
    Redelivery = 7,
}

#[derive(Clone, Debug)]
pub(super) struct Streams {
    key: u64,
}

impl Streams {
    pub(super) fn new(seed: u64) -> Streams {
        let key = ChaCha8Rng::seed_from_u64(seed).next_u64();
        Streams { key }
    }

    /// A stable 64-bit digest of (purpose, a, b) under this seed.
    pub(super) fn hash(&self, purpose: Purpose, a: u64, b: u64) -> u64 {
        mix64(mix64(mix64(self.key ^ purpose as u64) ^ a) ^ b)
    }

    /// The sub-stream for (purpose, a, b).
    pub(super) fn rng(&self, purpose: Purpose, a: u64, b: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.hash(purpose, a, b))
    }

    /// True with probability `p`, decided by the digest of (purpose, a, b) alone: for
    /// decisions taken while emitting, where keeping a generator around would cost more.
    pub(super) fn chance(&self, p: f64, purpose: Purpose, a: u64, b: u64) -> bool {
        // 53 high bits → uniform in [0, 1).
        let u = (self.hash(purpose, a, b) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        u < p
    }
}
