//! The contact cap (SPEC §6, seed 002: over-contacting drives members away): at most
//! `member_warning_cap` non-critical warnings per member per `cap_window` notify a tutor.
//!
//! Each member keeps the instants of her last notified warnings inline, as milliseconds in
//! three u16 (no padding inside the member record): exact for 1970–2106, 24 bytes for four
//! entries instead of a boxed vector that costs over 100 bytes with its allocations.
//! Instants outside that range are clamped, which can only affect the cap's count. Those
//! instants need 42 bits, so the log's length rides in the top bits of the first entry:
//! the member record has no byte to spare for it.
use serde::{Deserialize, Serialize};

use crate::model::{EventTime, Span};

/// The most notifications per window the inline log can count.
pub const MAX_CAP: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapLog {
    /// Milliseconds in the low 42 bits of each entry; the first entry's top bits hold the
    /// length.
    at: [[u16; 3]; MAX_CAP],
}

/// Bits of an entry's top u16 that belong to the instant (42 − 32).
const HIGH_MASK: u16 = (1 << 10) - 1;
const LEN_SHIFT: u32 = 13;
const MAX_MS: i64 = u32::MAX as i64 * 1000 + 999;

impl CapLog {
    fn get(&self, i: usize) -> EventTime {
        let [a, b, c] = self.at[i];
        let c = c & HIGH_MASK;
        EventTime(i64::from(c) << 32 | i64::from(b) << 16 | i64::from(a))
    }

    /// Writes entry `i`, keeping the length bits of the first entry.
    fn set(&mut self, i: usize, at: EventTime) {
        let ms = at.as_millis().clamp(0, MAX_MS) as u64;
        let keep = self.at[i][2] & !HIGH_MASK;
        self.at[i] = [ms as u16, (ms >> 16) as u16, (ms >> 32) as u16 | keep];
    }

    fn set_len(&mut self, len: usize) {
        debug_assert!(len <= MAX_CAP);
        self.at[0][2] = self.at[0][2] & HIGH_MASK | (len as u16) << LEN_SHIFT;
    }

    pub fn len(&self) -> usize {
        usize::from(self.at[0][2] >> LEN_SHIFT)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latest notification held.
    pub fn latest(&self) -> Option<EventTime> {
        (0..self.len()).map(|i| self.get(i)).max()
    }

    /// Forgets notifications at or before `window_start`: they count for no window that
    /// can still come.
    pub fn forget_until(&mut self, window_start: EventTime) {
        if self.is_empty() {
            return;
        }
        let mut kept = 0;
        for i in 0..self.len() {
            let at = self.get(i);
            if at > window_start {
                self.set(kept, at);
                kept += 1;
            }
        }
        self.set_len(kept);
    }

    /// Whether a non-critical warning at `when` may notify: fewer than `cap` notified
    /// warnings in `(when − window, when]`. Records it if so.
    pub fn admit(&mut self, when: EventTime, cap: usize, window: Span) -> bool {
        self.forget_until(when - window);
        if self.len() >= cap.min(MAX_CAP) {
            return false;
        }
        let i = self.len();
        self.set(i, when);
        self.set_len(i + 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // 4 × 6 bytes; the length needs none of its own.
        assert_eq!(std::mem::size_of::<CapLog>(), 24);
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
            assert_eq!(log.get(i as usize), late - Span::millis(n - 1 - i));
        }
        log.forget_until(late - Span::millis(2));
        assert_eq!(log.len(), 2);
        assert_eq!(log.get(0), late - Span::millis(1));
        assert_eq!(log.get(1), late);
    }
}
