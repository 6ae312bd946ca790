//! The Kafka edge (`churnwatch run`): consume the input topics, apply the engine, produce
//! warnings and dead letters, commit offsets at least once. Everything Kafka-specific
//! lives here; the engine does not know it exists.

mod assignment;
pub mod clients;
mod commits;
mod copartition;
mod emitter;
mod phase;
mod pipeline;
pub mod records;
mod shutdown;
mod snapshots;

pub use commits::{CommitTracker, UnitId};
pub use pipeline::{run, Observers, RunStats};
pub use shutdown::Shutdown;
