//! Encodings of warnings for the outside world: the JSON contract of SPEC §7 (files,
//! `replay`, the optional JSON topic) and Protobuf `churnwatch.v1.Warning` (the warnings
//! topic).

#[cfg(test)]
pub(crate) mod fixtures;
mod json;
mod protobuf;

pub use json::{millionths_number, percent_number, write_json_line, JsonWriter};
pub use protobuf::{fill_protobuf, to_protobuf, WARNING_SCHEMA};
