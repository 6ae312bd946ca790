//! Counters the engine keeps about its own work: the replay summary and (later) metrics
//! read them. Plain integers: the engine is single-threaded.

use std::collections::BTreeMap;

use super::warning::{Warning, WarningKind};
use crate::reject::RejectReason;

#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    /// Applied events by type.
    pub events: BTreeMap<&'static str, u64>,
    /// Events that changed nothing: redelivered, duplicate order, older profile.
    pub unchanged: u64,
    pub rejections: BTreeMap<RejectReason, u64>,
    pub warnings: BTreeMap<WarningKind, u64>,
    /// Non-critical member warnings sent with `notify: false` because of the contact cap.
    pub capped: u64,
}

impl EngineStats {
    pub fn count_event(&mut self, type_name: &'static str, changed: bool) {
        *self.events.entry(type_name).or_default() += 1;
        if !changed {
            self.unchanged += 1;
        }
    }

    pub fn count_rejection(&mut self, reason: RejectReason) {
        *self.rejections.entry(reason).or_default() += 1;
    }

    pub fn count_warning(&mut self, warning: &Warning) {
        *self.warnings.entry(warning.kind).or_default() += 1;
    }
}
