//! The wall clock, read only at the edges (Kafka, HTTP, the notifier, the command line)
//! and passed to the engine as a value, so that the engine itself never reads a clock.

use crate::model::EventTime;

/// Now, as an instant.
pub fn wall_clock() -> EventTime {
    EventTime::from_millis(wall_ms())
}

/// Now, in epoch milliseconds (0 for a clock before 1970).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
