//! Identifiers of members, groups and tutors, kept distinct so one cannot be passed for
//! another. Short ids (up to 24 bytes) live inline without a heap allocation.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub CompactString);

        impl $name {
            pub fn new(id: &str) -> Self {
                $name(CompactString::from(id))
            }
            #[inline]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name::new(id)
            }
        }
    };
}

id_type!(
    /// A member: the Kafka key of every input event.
    MemberId
);
id_type!(
    /// A community group (one tutor, 100–400 members).
    GroupId
);
id_type!(
    /// A tutor: a staff member who runs several groups.
    TutorId
);
id_type!(
    /// A membership fee tier such as "199" or "399"; which tiers exist is configuration.
    FeeTier
);

/// A stable 64-bit digest of an external id (order id, ticket id) for duplicate detection.
/// xxh3 is specified and portable, so the same id hashes the same on every machine and
/// in every release, which replay determinism and warning ids rely on.
pub fn stable_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}
