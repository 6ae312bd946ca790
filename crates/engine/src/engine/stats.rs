//! Counters the engine keeps about its own work: the replay summary and (later) metrics
//! read them. Fixed arrays indexed by the closed enums: counting is on the per-event path.

use super::member::Eviction;
use super::warning::{Warning, WarningKind};
use crate::model::event::{EventBody, TYPE_NAMES};
use crate::reject::RejectReason;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    events: [u64; TYPE_NAMES.len()],
    /// Events that changed nothing: redelivered, duplicate order, older profile.
    pub unchanged: u64,
    rejections: [u64; RejectReason::ALL.len()],
    warnings: [u64; WarningKind::ALL.len()],
    /// Non-critical member warnings sent with `notify: false` because of the contact cap.
    pub capped: u64,
    /// Members forgotten: left, dormant.
    evicted: [u64; 2],
}

impl EngineStats {
    /// Adds `other`'s counts to these: the totals of several engines (the stages of a
    /// scaled-out run).
    pub fn absorb(&mut self, other: &EngineStats) {
        let add = |into: &mut [u64], from: &[u64]| {
            for (a, b) in into.iter_mut().zip(from) {
                *a += b;
            }
        };
        add(&mut self.events, &other.events);
        add(&mut self.rejections, &other.rejections);
        add(&mut self.warnings, &other.warnings);
        add(&mut self.evicted, &other.evicted);
        self.unchanged += other.unchanged;
        self.capped += other.capped;
    }

    pub fn count_event(&mut self, body: &EventBody, changed: bool) {
        self.events[body.type_index()] += 1;
        if !changed {
            self.unchanged += 1;
        }
    }

    pub fn count_rejection(&mut self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            self.rejections[i] += 1;
        }
    }

    pub fn count_eviction(&mut self, why: Eviction) {
        self.evicted[why as usize] += 1;
    }

    /// Members evicted, by reason (`left`, `dormant`).
    pub fn evictions(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [Eviction::Left, Eviction::Dormant]
            .into_iter()
            .map(|why| (why.name(), self.evicted[why as usize]))
    }

    pub fn count_warning(&mut self, warning: &Warning) {
        self.warnings[warning.kind as usize] += 1;
    }

    /// Applied events by type, types never seen left out.
    pub fn events(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        TYPE_NAMES
            .iter()
            .copied()
            .zip(self.events)
            .filter(|(_, n)| *n > 0)
    }

    pub fn rejections(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .into_iter()
            .zip(self.rejections)
            .filter(|(_, n)| *n > 0)
    }

    pub fn warnings(&self) -> impl Iterator<Item = (WarningKind, u64)> + '_ {
        WarningKind::ALL
            .into_iter()
            .zip(self.warnings)
            .filter(|(_, n)| *n > 0)
    }

    pub fn total_events(&self) -> u64 {
        self.events.iter().sum()
    }

    pub fn total_rejections(&self) -> u64 {
        self.rejections.iter().sum()
    }

    pub fn total_warnings(&self) -> u64 {
        self.warnings.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WarningKind;

    #[test]
    fn the_counter_order_matches_the_enums() {
        for (i, kind) in WarningKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind} indexes its own counter");
        }
        let mut stats = EngineStats::default();
        stats.count_event(&EventBody::Login, true);
        stats.count_event(&EventBody::Login, false);
        stats.count_rejection(RejectReason::NegativeAmount);
        assert_eq!(stats.events().collect::<Vec<_>>(), vec![("login", 2)]);
        assert_eq!(stats.unchanged, 1);
        assert_eq!(
            stats.rejections().collect::<Vec<_>>(),
            vec![(RejectReason::NegativeAmount, 1)]
        );
    }
}
