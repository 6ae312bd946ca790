//! Encodings of warnings for the outside world: the JSON contract of SPEC §7 (files,
//! `replay`, the optional JSON topic) and Protobuf `churnwatch.v1.Warning` (the warnings
//! topic).

mod json;
mod protobuf;

pub use json::{write_json_line, JsonWriter};
pub use protobuf::{to_protobuf, WARNING_SCHEMA};
