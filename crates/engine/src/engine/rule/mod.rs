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
//! | [`churn_risk`] | issue 16: `CHURN_RISK` when P(alive) falls below each `churn_risk.thresholds` |
//! | [`eviction`] | §4: forgetting who left, holding the long-silent as remainders, invisibly |
//! | [`group_grade`] | §5: group activity against the tenure benchmark, output against its target |
//!
//! The tables the rules read (segment rows, benchmark rows, actions) are compiled once
//! into [`Rules`](crate::engine::Rules) from the configuration.

pub mod activation;
pub mod after_sales;
pub mod churn_risk;
pub mod contact_cap;
pub mod eviction;
pub mod group_grade;
pub mod login_lapse;
pub mod recall;
pub mod segment;

use super::member::{Member, Wake};
use super::segment::{Rfm, Segment};
use super::warning::{Detail, Label, WarningKind};
use super::{Rules, Severity};
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

/// A member read through the rules: her segment at an instant (the segment and
/// activation rules' judgement) and her next wake-up (the earliest `next` of every rule).
impl Member<'_> {
    /// The segment the rules give at `now`. A member who never ordered stays `new` until
    /// the activation deadline has passed, then is `general_retain`.
    pub fn target_segment(&self, now: EventTime, rules: &Rules) -> Segment {
        self.target_segment_rfm(now, rules).0
    }

    /// [`Member::target_segment`], with the RFM figures it was read from (`None` for a
    /// member who never ordered: none were needed).
    pub fn target_segment_rfm(&self, now: EventTime, rules: &Rules) -> (Segment, Option<Rfm>) {
        if self.last_order_at().is_none() {
            let deadline_passed = self.has_profile()
                && activation::expired(
                    self.joined_at(),
                    rules.settings.lifecycle.activation_deadline,
                    now,
                );
            let segment = if deadline_passed || self.segment != Segment::New {
                Segment::GeneralRetain
            } else {
                Segment::New
            };
            return (segment, None);
        }
        let rfm = self.rfm(now);
        (rules.segments.classify(&rfm), Some(rfm))
    }

    /// The earliest instant after `now` at which anything derived from this state can
    /// change: the current segment row's recency bound or window, a stage boundary, an
    /// order leaving the 30-day window of her group's figures, the activation deadline, a
    /// tenure month, a recall attempt, a login lapse or an after-sales SLA.
    pub fn next_wake(&self, now: EventTime, rules: &Rules) -> Option<EventTime> {
        self.wake_plan(now, rules).map(|wake| wake.at)
    }

    /// [`Member::next_wake`], and whether at that instant only her contribution to her
    /// group's figures can change (a tenure month, or an order leaving a 30-day window no
    /// segment rule of hers reads): then every member-side candidate is later, so her
    /// evaluation would find nothing to do and the timer step skips it.
    pub fn wake_plan(&self, now: EventTime, rules: &Rules) -> Option<Wake> {
        let config = &rules.settings;
        let mut member = Earliest::after(now);
        let mut group = Earliest::after(now);
        // Each packed instant is decoded once: this runs after every change of hers.
        let last = self.last_order_at();
        let login_ref = self.login_ref();
        let mut segment_reads_30 = false;
        if let Some(last) = last {
            let row = rules.segments.rule_for(self.segment);
            segment_reads_30 = segment::next(row, last, self.orders(), now, &mut member);
            let lifecycle = &config.lifecycle;
            recall::next(
                last,
                self.stage_at(now),
                self.recall_from(),
                self.recall_fired(),
                &lifecycle.recall_schedule,
                now,
                &mut member,
            );
            if let Some(model) = &rules.churn {
                churn_risk::next(model, self, now, &mut member);
            }
        } else if self.has_profile() && self.segment == Segment::New {
            member.consider(activation::next(
                self.joined_at(),
                config.lifecycle.activation_deadline,
            ));
        }
        if self.in_group() {
            group_grade::next(
                self.joined_at(),
                self.orders(),
                !segment_reads_30,
                now,
                &mut group,
            );
        }
        let lapses = &config.lifecycle.login_lapse;
        if let Some(at) = login_lapse::next(login_ref, lapses, self.lapse_fired()) {
            member.consider(at);
        }
        let mut ticket_open = false;
        for at in after_sales::next(self.tickets(), config.alerts.after_sales_sla) {
            ticket_open = true;
            member.consider(at);
        }
        let last_seen = self
            .profile_ts()
            .max(last.unwrap_or(EventTime::MIN))
            .max(login_ref);
        eviction::plan(self, &member, &group, ticket_open, last_seen, now, rules)
    }
}
