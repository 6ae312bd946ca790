//! Durable state at the edge: snapshot files on local disk. The engine only turns its
//! state into bytes and back ([`crate::engine::Engine::write_image`]); files, paths,
//! checksums and the choice of a snapshot live here.

pub mod snapshot;

pub use snapshot::{PartitionOffset, Restored, Skip, SnapshotStore, Written};
