//! Which input partition a member's events are on: the producers' partitioner, reproduced,
//! so that `replay --partitions N` places each member where Kafka does, and the pipeline
//! can check that a record is on the partition its key belongs to.
//!
//! Both of librdkafka's keyed partitioners: `consistent_random` (its default, and so of
//! every librdkafka-based producer: CRC-32 of the key, as zlib computes it, modulo the
//! partition count) and `murmur2_random` (the Java client's default: murmur2 of the key,
//! its sign bit cleared, modulo the count). A record without a key is placed at random by
//! both; a member id is never empty (the decoder requires it), so every member has one
//! place.

use serde::{Deserialize, Serialize};

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partitioner {
    /// librdkafka's default: `crc32(key) % partitions`.
    #[default]
    ConsistentRandom,
    /// The Java producer's default: `(murmur2(key) & 0x7fffffff) % partitions`.
    Murmur2Random,
}

impl Partitioner {
    /// The partition of `key` among `partitions` (at least one); `None` for an empty key,
    /// which the producers place at random.
    pub fn partition(self, key: &[u8], partitions: u32) -> Option<u32> {
        if key.is_empty() || partitions == 0 {
            return None;
        }
        let hash = match self {
            Partitioner::ConsistentRandom => crc32fast::hash(key),
            Partitioner::Murmur2Random => murmur2(key) & 0x7fff_ffff,
        };
        Some(hash % partitions)
    }

    pub fn name(self) -> &'static str {
        match self {
            Partitioner::ConsistentRandom => "consistent_random",
            Partitioner::Murmur2Random => "murmur2_random",
        }
    }
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`, librdkafka's
/// `rd_murmur2`): MurmurHash2 with Kafka's seed, the key read as little-endian words.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn murmur2_matches_librdkafkas_unit_test_vectors() {
        // librdkafka rdmurmur2.c, unittest_murmur2 ("java_murmur2_results").
        assert_eq!(murmur2(b"kafka"), 0xd067_cf64);
        assert_eq!(murmur2(b""), 0x106e_08d9);
    }

    #[test]
    fn murmur2_matches_the_java_clients_vectors() {
        // Kafka's UtilsTest.testMurmur2, as signed ints.
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
    }

    #[test]
    fn an_empty_key_has_no_partition() {
        assert_eq!(Partitioner::ConsistentRandom.partition(b"", 8), None);
        assert_eq!(Partitioner::Murmur2Random.partition(b"m1", 0), None);
    }

    #[test]
    fn one_partition_holds_every_key() {
        for key in ["m1", "member-000042", "会员"] {
            for p in [Partitioner::ConsistentRandom, Partitioner::Murmur2Random] {
                assert_eq!(p.partition(key.as_bytes(), 1), Some(0));
            }
        }
    }
}
