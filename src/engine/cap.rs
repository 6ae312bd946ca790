//! The contact cap (SPEC §6, seed 002: over-contacting drives members away): at most
//! `member_warning_cap` non-critical warnings per member per `cap_window` notify a tutor.
//!
//! Each member keeps the instants of her last notified warnings inline, as 48-bit
//! milliseconds in three u16 (no padding inside the member record): exact for 1970–2106,
//! 25 bytes for four entries instead of a boxed vector that costs over 100 bytes with its
//! allocations. Instants outside that range are clamped, which can only affect the cap's
//! count.

use crate::model::{EventTime, Span};

/// The most notifications per window the inline log can count.
pub const MAX_CAP: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapLog {
    at: [[u16; 3]; MAX_CAP],
    len: u8,
}

fn encode(at: EventTime) -> [u16; 3] {
    let ms = at.as_millis().clamp(0, i64::from(u32::MAX) * 1000 + 999) as u64;
    [ms as u16, (ms >> 16) as u16, (ms >> 32) as u16]
}

impl CapLog {
    fn get(&self, i: usize) -> EventTime {
        let [a, b, c] = self.at[i].map(i64::from);
        EventTime(c << 32 | b << 16 | a)
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets notifications at or before `window_start`: they count for no window that
    /// can still come.
    pub fn forget_until(&mut self, window_start: EventTime) {
        let mut kept = 0;
        for i in 0..self.len() {
            if self.get(i) > window_start {
                self.at[kept] = self.at[i];
                kept += 1;
            }
        }
        self.len = kept as u8;
    }

    /// Whether a non-critical warning at `when` may notify: fewer than `cap` notified
    /// warnings in `(when − window, when]`. Records it if so.
    pub fn admit(&mut self, when: EventTime, cap: usize, window: Span) -> bool {
        self.forget_until(when - window);
        if self.len() >= cap.min(MAX_CAP) {
            return false;
        }
        let i = self.len();
        self.at[i] = encode(when);
        self.len += 1;
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
        // 4 × 6 + 1 bytes, padded to the u16 alignment.
        assert_eq!(std::mem::size_of::<CapLog>(), 26);
    }
}
