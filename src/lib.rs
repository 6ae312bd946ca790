//! churnwatch: a streaming retention engine for social e-commerce.
//!
//! The path of an event: bytes → [`decode`] (typed [`reject::Rejection`] on bad input) →
//! [`engine::Engine`] (pure state machine: members, segments, groups, timers, watermark) →
//! [`engine::Warning`]s → [`output`] (JSON contract). The command-line edges live in
//! [`cli`]; nothing below `engine` performs I/O or reads a clock. Tutor alerts whose
//! warnings are committed reach the tutor page's live stream through [`alerts_feed`].

pub mod alerts_feed;
pub mod alloc;
pub mod churn_model;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contributions;
pub mod decode;
pub mod generate;
pub mod health;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod partitioner;
pub mod proto;
pub mod query;
pub mod state;

// The engine crate's modules under their old paths, so that `crate::engine::…` reads the
// same on both sides of the crate boundary.
pub use churnwatch_engine::{btyd, engine, model, reject, settings};
