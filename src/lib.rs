//! churnwatch: a streaming retention engine for social e-commerce.
//!
//! The path of an event: bytes → [`decode`] (typed [`reject::Rejection`] on bad input) →
//! [`engine::Engine`] (pure state machine: members, segments, groups, timers, watermark) →
//! [`engine::Warning`]s → [`output`] (JSON contract). The command-line edges live in
//! [`cli`]; nothing below `engine` performs I/O or reads a clock. Tutor alerts whose
//! warnings are committed reach the tutor page's live stream through [`alerts_feed`].

pub mod alerts_feed;
pub mod alloc;
pub mod cli;
pub mod config;
pub mod decode;
pub mod engine;
pub mod generate;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod output;
pub mod proto;
pub mod query;
pub mod reject;
pub mod state;
