//! The SPEC rules, one module each, holding both halves side by side: what fires at an
//! instant (`fire`, called by `Engine::evaluate` in the order below) and when it next can
//! (`next`, offered to `Member::wake_plan`), with the rule's severity and wording. A
//! change to a rule changes both in one file; a test at the boundary instant (the
//! millisecond before, at, after) pins it.
//!
//! | rule | SPEC |
//! |---|---|
//! | [`segment`] | §4: `SEGMENT_DOWNGRADE` / `SEGMENT_UPGRADE` on every change of RFM segment |
//! | [`activation`] | §4: a member without a first order by `lifecycle.activation_deadline` |
//! | [`recall`] | §4: lifecycle stages, `RECALL_DUE` on `lifecycle.recall_schedule` while in decline |
//! | [`login_lapse`] | §6: `LOGIN_LAPSED` after each `lifecycle.login_lapse` |
//! | [`after_sales`] | §6: `AFTER_SALES_OVERDUE` once a ticket is open past `alerts.after_sales_sla` |
//! | [`contact_cap`] | §6: at most `alerts.member_warning_cap` notifying warnings per `alerts.cap_window` |
//! | [`eviction`] | §4: forgetting who left, holding the long-silent as remainders, invisibly |
//! | [`group_grade`] | §5: group activity against the tenure benchmark, output against its target |
//!
//! The tables the rules read (segment rows, benchmark rows, actions) are compiled once
//! into [`Rules`](crate::engine::Rules) from the configuration.

pub mod activation;
pub mod after_sales;
pub mod contact_cap;
pub mod eviction;
pub mod group_grade;
pub mod login_lapse;
pub mod recall;
pub mod segment;

use super::warning::{Detail, Label, WarningKind};
use super::Severity;
use crate::model::EventTime;

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

/// The earliest of the instants considered that lie after a given instant: each rule's
/// `next` offers its candidates, `Member::wake_plan` takes the earliest.
pub(in crate::engine) struct Earliest {
    after: EventTime,
    /// `EventTime::MAX` until an instant is considered (none can be that late).
    earliest: EventTime,
}

impl Earliest {
    #[inline]
    pub fn after(now: EventTime) -> Earliest {
        Earliest {
            after: now,
            earliest: EventTime::MAX,
        }
    }

    #[inline]
    pub fn consider(&mut self, at: EventTime) {
        if at > self.after && at < self.earliest {
            self.earliest = at;
        }
    }

    #[inline]
    pub fn get(&self) -> Option<EventTime> {
        (self.earliest != EventTime::MAX).then_some(self.earliest)
    }
}
