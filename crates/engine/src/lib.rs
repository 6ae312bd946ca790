//! churnwatch's engine: the SPEC rules as a pure state machine. Events and time go in
//! ([`engine::Engine::process_batch`], [`engine::Engine::tick`], [`engine::Engine::advance_to`]), warnings come out;
//! no I/O, no clock, no threads, so that it can be tested exhaustively and replayed
//! deterministically. Decoding, Kafka, HTTP, metrics and files live in the service crate
//! (`churnwatch`), which embeds [`settings::Settings`] in its configuration.
//!
//! - [`model`]: ids, money, categories, event time and the typed event;
//! - [`reject`]: why an event is refused;
//! - [`settings`]: the rules' parameters;
//! - [`btyd`]: the churn-probability models (BG/NBD, MBG/NBD) as closed forms;
//! - [`engine`]: members, segments, groups, timers, the watermark and the warnings.

pub mod btyd;
pub mod engine;
pub mod model;
pub mod reject;
pub mod settings;
