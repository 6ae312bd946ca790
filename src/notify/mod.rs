//! Tutor alerts (issue 14): the warnings a tutor must act on, delivered where she works.
//!
//! | file | owns |
//! |---|---|
//! | `alert` | a warning as read back from the JSON contract |
//! | `directory` | the tutor directory: desks, channels, secrets' sources |
//! | `local_time` | a tutor's clock: quiet hours, the next 09:00, across DST |
//! | `policy` | what goes to whom and when: threshold, quiet hours, digest, fallback |
//! | `outbox` | one queue per channel: rate limits met by merging, pages |
//! | `channel` | each receiver's markup, envelope, limits and signature |
//!
//! All of it is pure, on a clock passed in; `cli::notify` drives it over a file of
//! warnings (`--dry-run`). Delivery over HTTP and the Kafka consumer are not built yet.

pub mod alert;
pub mod channel;
pub mod directory;
pub mod local_time;
pub mod outbox;
pub mod policy;

pub use alert::Alert;
pub use directory::Directory;
pub use outbox::{Outbox, Payload};
pub use policy::{Message, MessageKind, Policy};
