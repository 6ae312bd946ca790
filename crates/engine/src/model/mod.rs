//! Domain vocabulary shared by every layer: time, money, ids, categories and the decoded
//! input event. Types here carry meaning so that a wrong unit fails to compile.

pub mod category;
pub mod digits;
pub mod event;
pub mod ids;
pub mod money;
pub mod rfc3339;
pub mod segment;
pub mod time;

pub use category::{AfterSalesReason, Category, TicketStatus};
pub use event::{AfterSales, Event, EventBody, Order, Profile};
pub use ids::{stable_hash, FeeTier, GroupId, MemberId, TutorId};
pub use money::Fen;
pub use segment::Segment;
pub use time::{EventTime, Span};
