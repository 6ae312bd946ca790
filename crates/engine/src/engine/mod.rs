//! The pure retention engine: events and time in, warnings out, no I/O.
//!
//! | file | owns |
//! |---|---|
//! | `core` | the [`Engine`]: order of work, member/group bookkeeping, emitting |
//! | `member` | per-member state and what derives from it at an instant; the remainder |
//! | `dormant` | members held as remainders after a long silence |
//! | `segment` | the RFM segment table, ranks, severities |
//! | `lifecycle` | lifecycle stages and the recall anchor |
//! | `benchmark` | tenure months and the tier × month benchmark table |
//! | `group` | one group's aggregates and the figures read from them |
//! | `groups` | the group side: every group, its one input (contribution changes), grading at an instant |
//! | `group_feed` | the member side's contribution changes as units, when the two sides are separate stages |
//! | `group_stage` | stage 2: the group side fed by many member-stage engines, merged in one order |
//! | `partitioned` | both stages in one process, members placed on N partitions (`replay --partitions N`) |
//! | `timers` | per-member wake-ups in event-time order |
//! | `watermark` | per-partition watermark, idleness, live vs replay |
//! | `warning` | the warning type and its deterministic id |
//! | `churn_model` | the fitted churn-probability model by fee tier, its thresholds and figures |
//! | `rule` | the SPEC rules, one module each, both halves each: segments, activation, lifecycle and recall, login lapse, after-sales, contact cap, eviction, group grades; and the churn risk |

mod arena;
pub mod benchmark;
mod cap_log;
pub mod churn_model;
mod core;
mod dormant;
mod fixed_array;
pub mod group;
pub mod group_feed;
pub mod group_stage;
pub mod groups;
mod index;
pub mod lifecycle;
pub mod member;
pub mod orders;
pub mod partitioned;
mod prefetch;
pub mod roster;
mod rule;
pub use rule::churn_risk;
pub use rule::contact_cap;
pub mod rules;
pub mod segment;
mod short_copy;
mod slab;
pub mod stats;
pub mod timers;
pub mod warning;
pub mod watermark;

pub use self::core::{CensusSlice, Engine, ImageError, MemoryEstimate, DORMANT_REF};
pub use group::{Grade, GroupState};
pub use group_feed::{group_partition, route, Change, Entry, Unit};
pub use group_stage::{GroupStage, Released};
pub use index::MAX_MEMBERS;
pub use lifecycle::Stage;
pub use member::{Member, MemberCopy, MemberState, Remainder};
pub use partitioned::Partitioned;
pub use roster::Roster;
pub use rules::Rules;
pub use segment::{Rfm, Segment, SegmentTable, Severity};
pub use stats::EngineStats;
pub use warning::{
    Detail, Figures, GroupFigures, Label, MemberFigures, Warning, WarningId, WarningKind,
};
pub use watermark::{TimeMode, WatermarkTracker};
