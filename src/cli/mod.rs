//! The command-line edges: files and terminals in, the pure engine in the middle.

pub mod demo;
mod demo_notify;
pub mod fit;
pub mod notify;
pub mod replay;
pub mod run;
pub mod state_out;
pub mod summary;

use crate::model::EventTime;

/// Parses a command-line instant: RFC 3339 with offset, or epoch milliseconds.
pub fn parse_instant(text: &str) -> Result<EventTime, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(EventTime::from_millis(ms));
    }
    EventTime::parse_rfc3339(text).map_err(|e| e.to_string())
}
