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
mod two_stage;

pub use commits::{CommitTracker, UnitId};
pub use pipeline::{Observers, RunStats};
pub use shutdown::Shutdown;

/// Runs the pipeline of `kafka.topology` until `shutdown` is requested.
pub fn run(
    config: &crate::config::Config,
    shutdown: Shutdown,
    observers: Observers,
) -> anyhow::Result<RunStats> {
    match config.kafka.topology {
        crate::config::Topology::Single => pipeline::run(config, shutdown, observers),
        crate::config::Topology::TwoStage => two_stage::run(config, shutdown, observers),
    }
}
