//! The contact cap's log (the rule is `rule/contact_cap.rs`): the instants of a member's
//! last notified warnings, and whether one more fits a cap within a window.
//!
//! Each member keeps the instants of her last notified warnings inline, in 18 bytes of her
//! record instead of a boxed vector that costs over 100 bytes with its allocations: the
//! newest as milliseconds in three u16 (exact for 1970–2109; instants outside are
//! clamped, which can only affect the cap's count), with the log's length in its top
//! bits, and the older ones as milliseconds before it in 32 bits each. Every entry is
//! within one window of the newest once a warning is admitted (older ones are forgotten
//! first), and the window is shorter than 2^32 ms ([`MAX_WINDOW`]), so the offsets are
//! exact.
use serde::{Deserialize, Serialize};

use crate::model::{EventTime, Span};

/// The most notifications per window the inline log can count.
pub const MAX_CAP: usize = 4;

/// The longest `cap_window` the log can hold exactly: just under 2^32 ms (49.7 days).
pub const MAX_WINDOW: Span = Span::days(49);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapLog {
    /// The newest entry's milliseconds in the low 42 bits; the length in the top bits.
    newest: [u16; 3],
    /// The older entries, oldest first, as milliseconds before the newest.
    back: [[u16; 2]; MAX_CAP - 1],
}

/// Bits of the newest entry's top u16 that belong to the instant (42 − 32).
const HIGH_MASK: u16 = (1 << 10) - 1;
const LEN_SHIFT: u32 = 13;
const MAX_MS: i64 = u32::MAX as i64 * 1000 + 999;

impl CapLog {
    pub fn len(&self) -> usize {
        usize::from(self.newest[2] >> LEN_SHIFT)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn newest_ms(&self) -> i64 {
        let [a, b, c] = self.newest;
        i64::from(c & HIGH_MASK) << 32 | i64::from(b) << 16 | i64::from(a)
    }

    /// Entry `i` of `len`, oldest first.
    fn get(&self, i: usize, len: usize) -> EventTime {
        let newest = self.newest_ms();
        if i + 1 == len {
            return EventTime(newest);
        }
        let [lo, hi] = self.back[i];
        EventTime(newest - i64::from(u32::from(hi) << 16 | u32::from(lo)))
    }

    /// The entries, oldest first, in `out`; returns how many.
    fn entries(&self, out: &mut [EventTime; MAX_CAP]) -> usize {
        let len = self.len();
        for (i, slot) in out.iter_mut().enumerate().take(len) {
            *slot = self.get(i, len);
        }
        len
    }

    /// Rewrites the log from `entries`, oldest first, all within [`MAX_WINDOW`] of the
    /// last (the callers forget older ones first).
    fn set(&mut self, entries: &[EventTime]) {
        debug_assert!(entries.len() <= MAX_CAP);
        *self = CapLog::default();
        let Some(&newest) = entries.last() else {
            return;
        };
        let ms = newest.as_millis().clamp(0, MAX_MS);
        self.newest = [
            ms as u16,
            (ms >> 16) as u16,
            (ms >> 32) as u16 | (entries.len() as u16) << LEN_SHIFT,
        ];
        for (slot, at) in self.back.iter_mut().zip(&entries[..entries.len() - 1]) {
            let back = (ms - at.as_millis()).clamp(0, i64::from(u32::MAX)) as u32;
            *slot = [back as u16, (back >> 16) as u16];
        }
    }

    /// The latest notification held.
    pub fn latest(&self) -> Option<EventTime> {
        (!self.is_empty()).then(|| EventTime(self.newest_ms()))
    }

    /// Forgets notifications at or before `window_start`: they count for no window that
    /// can still come.
    pub fn forget_until(&mut self, window_start: EventTime) {
        let len = self.len();
        // Usually there is nothing to forget: an empty log, or its oldest entry is recent.
        if len == 0 || self.get(0, len) > window_start {
            return;
        }
        let mut all = [EventTime::MIN; MAX_CAP];
        let len = self.entries(&mut all);
        let keep_from = all[..len].partition_point(|at| *at <= window_start);
        if keep_from > 0 {
            self.set(&all[keep_from..len]);
        }
    }

    /// Whether a non-critical warning at `when` may notify: fewer than `cap` notified
    /// warnings in `(when − window, when]`. Records it if so. `window` is at most
    /// [`MAX_WINDOW`] (the configuration says so).
    pub fn admit(&mut self, when: EventTime, cap: usize, window: Span) -> bool {
        debug_assert!(window <= MAX_WINDOW);
        self.forget_until(when - window);
        if self.is_empty() {
            // The common case: her first notification in a window.
            if cap == 0 {
                return false;
            }
            self.set(&[when]);
            return true;
        }
        let mut all = [EventTime::MIN; MAX_CAP];
        let len = self.entries(&mut all);
        if len >= cap.min(MAX_CAP) {
            return false;
        }
        all[len] = when;
        self.set(&all[..=len]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries a whole window apart, the widest the log allows, keep their instants.
    #[test]
    fn entries_as_far_apart_as_the_longest_window_are_exact() {
        let window = MAX_WINDOW;
        let mut log = CapLog::default();
        let spaced = Span::millis(window.as_millis() / 3 - 1);
        let times: Vec<EventTime> = (0..4).map(|k| T0 + spaced.times(k)).collect();
        for &t in &times {
            assert!(log.admit(t, 4, window));
        }
        let mut all = [EventTime::MIN; MAX_CAP];
        assert_eq!(log.entries(&mut all), 4);
        assert_eq!(all.to_vec(), times);
        assert!(!log.admit(times[3] + Span::MILLI, 4, window), "full");
    }

    const T0: EventTime = EventTime(1_767_225_600_123);

    #[test]
    fn at_most_cap_notifications_in_any_window_exact_to_the_millisecond() {
        let mut log = CapLog::default();
        let week = Span::days(7);
        assert!(log.admit(T0, 3, week));
        assert!(log.admit(T0 + Span::days(1), 3, week));
        assert!(log.admit(T0 + Span::days(2), 3, week));
        assert!(
            !log.admit(T0 + Span::days(3), 3, week),
            "fourth within 7 days"
        );
        assert!(
            !log.admit(T0 + Span::days(7) - Span::MILLI, 3, week),
            "T0 still inside (t − 7 d, t]"
        );
        assert!(
            log.admit(T0 + Span::days(7), 3, week),
            "T0 is exactly 7 days old: outside"
        );
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn the_log_holds_its_size() {
        // 6 bytes for the newest, 3 × 4 for the others; the length needs none of its own.
        assert_eq!(std::mem::size_of::<CapLog>(), 18);
    }

    #[test]
    fn a_full_log_keeps_its_instants_and_length_apart() {
        // The latest instant the log holds exactly: every instant bit set.
        let late = EventTime(MAX_MS);
        let mut log = CapLog::default();
        let n = MAX_CAP as i64;
        for k in 0..n {
            assert!(log.admit(late - Span::millis(n - 1 - k), 8, Span::days(7)));
        }
        assert_eq!(log.len(), MAX_CAP);
        for i in 0..n {
            assert_eq!(log.get(i as usize, MAX_CAP), late - Span::millis(n - 1 - i));
        }
        log.forget_until(late - Span::millis(2));
        assert_eq!(log.len(), 2);
        assert_eq!(log.get(0, 2), late - Span::millis(1));
        assert_eq!(log.get(1, 2), late);
        assert_eq!(log.latest(), Some(late));
    }
}
