//! SPEC §6, the contact cap (seed 002: over-contacting drives members away): at most
//! `alerts.member_warning_cap` non-critical warnings per member per `alerts.cap_window`
//! notify her tutor; the rest are still emitted, with `notify: false`. A CRITICAL warning
//! always notifies (a fall out of the important segments is never held back) and takes no
//! place in the log ([`CapLog`], kept inline in her record).

pub use crate::engine::cap_log::{CapLog, MAX_CAP, MAX_WINDOW};

use super::Pending;
use crate::engine::Severity;
use crate::model::EventTime;
use crate::settings::AlertsConfig;

/// Marks which of the warnings `pending`, all at `at`, notify her tutor, recording those
/// that count in her log; returns how many the cap held back.
#[inline]
pub(in crate::engine) fn admit(
    pending: &mut [Pending],
    log: &mut CapLog,
    at: EventTime,
    alerts: &AlertsConfig,
) -> u64 {
    let cap = alerts.member_warning_cap as usize;
    let mut capped = 0;
    for p in pending.iter_mut() {
        p.notify = p.severity == Severity::Critical || log.admit(at, cap, alerts.cap_window);
        if !p.notify {
            capped += 1;
        }
    }
    capped
}

/// Entries at or before this instant count for no window that can still come at `at`.
#[inline]
pub(in crate::engine) fn window_start(at: EventTime, alerts: &AlertsConfig) -> EventTime {
    at - alerts.cap_window
}

/// When every entry of `log` has left its window (`None`: the log is empty).
#[inline]
pub(in crate::engine) fn empties_at(log: &CapLog, alerts: &AlertsConfig) -> Option<EventTime> {
    log.latest().map(|latest| latest + alerts.cap_window)
}
