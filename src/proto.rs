//! The Protobuf schema of proto/, compiled by prost (see build.rs).

/// `churnwatch.v1`: input events and warnings.
#[allow(clippy::doc_lazy_continuation, clippy::enum_variant_names)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/churnwatch.v1.rs"));
}
