//! Serde for arrays longer than serde's built-in 32 elements, as a length-prefixed
//! sequence: `#[serde(with = "fixed_array")]`.

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
    array: &[T; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    array.as_slice().serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
    d: D,
) -> Result<[T; N], D::Error> {
    let items = Vec::<T>::deserialize(d)?;
    let len = items.len();
    items
        .try_into()
        .map_err(|_| D::Error::custom(format!("expected {N} elements, found {len}")))
}
