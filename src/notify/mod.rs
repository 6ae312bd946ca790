//! Tutor alerts (issue 14): the warnings a tutor must act on, delivered where she works.
//!
//! | file | owns |
//! |---|---|
//! | `alert` | a warning as read back from its JSON or Protobuf contract |
//! | `directory` | the tutor directory: desks, channels, secrets' sources |
//! | `local_time` | a tutor's clock: quiet hours, the next 09:00, across DST |
//! | `policy` | what goes to whom and when: threshold, quiet hours, digest, fallback |
//! | `outbox` | one queue per channel: rate limits met by merging, pages |
//! | `channel` | each receiver's markup, envelope, limits and signature |
//! | `request` | a payload as its channel's HTTP request (secrets read here only) |
//! | `retry` | what an answer means: delivered, retry after backoff, permanent |
//! | `ledger` | which input offsets may be committed: every delivery they owe done |
//! | `recent` | bounded memories of ids seen (redeliveries, deliveries before a restart) |
//! | `metrics` | the notifier's Prometheus metrics |
//! | `sender` | the edge: one task per channel, HTTP with retries |
//! | `service` | the edge: `churnwatch notify`, its Kafka consumer, topics and commits |
//!
//! All but the last two are pure, on a clock passed in; `cli::notify` drives the pure
//! part over a file of warnings (`--dry-run`), `service` over the warnings topic.

pub mod alert;
pub mod channel;
pub mod directory;
pub mod ledger;
pub mod local_time;
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod recent;
pub mod request;
pub mod retry;
pub mod sender;
pub mod service;

pub use alert::Alert;
pub use directory::Directory;
pub use outbox::{Outbox, Payload};
pub use policy::{Message, MessageKind, Policy};
