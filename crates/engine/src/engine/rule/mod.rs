//! The SPEC rules that fire on a member's own clock, one module each, holding both halves
//! side by side: what fires at an instant (`fire`, called by `Engine::evaluate`) and when
//! it next can (`next`, read by `Member::wake_plan`). A change to a rule changes both in
//! one file; a test at the boundary instant (the millisecond before, at, after) pins it.
//!
//! | rule | SPEC |
//! |---|---|
//! | [`activation`] | §4: a member without a first order by `lifecycle.activation_deadline` |
//! | [`recall`] | §4: `RECALL_DUE` on `lifecycle.recall_schedule` while in decline |
//! | [`login_lapse`] | §6: `LOGIN_LAPSED` after each `lifecycle.login_lapse` |
//! | [`after_sales`] | §6: `AFTER_SALES_OVERDUE` once a ticket is open past `alerts.after_sales_sla` |
//!
//! Segments, the contact cap, eviction and the group grades are still where they were
//! (`segment`, `cap`, `member`, `group`); they move here next.

pub mod activation;
pub mod after_sales;
pub mod login_lapse;
pub mod recall;

use super::warning::{Detail, Label, WarningKind};
use super::Severity;

/// A member warning decided at an instant, before the contact cap and her figures are
/// applied (`Engine::emit_member`).
pub(in crate::engine) struct Pending {
    pub kind: WarningKind,
    pub severity: Severity,
    pub from: Option<Label>,
    pub to: Option<Label>,
    pub detail: Detail,
    /// Within the contact cap (decided just before emitting).
    pub notify: bool,
}
