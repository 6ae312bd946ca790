//! Lifecycle stages (thesis 2.2) and the recall schedule that starts on entering `decline`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{EventTime, Span};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Joined, no order yet.
    Acquisition,
    /// Exactly one order, within the last 30 days.
    Growth,
    /// Two or more orders, the last within 30 days.
    Mature,
    /// Last order more than 30 and at most 90 days ago.
    Decline,
    /// Last order more than 90 days ago.
    Lost,
}

/// Stage boundaries on recency: fixed by the thesis, not configuration.
pub const DECLINE_AFTER: Span = Span::days(30);
pub const LOST_AFTER: Span = Span::days(90);

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Acquisition,
        Stage::Growth,
        Stage::Mature,
        Stage::Decline,
        Stage::Lost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Acquisition => "acquisition",
            Stage::Growth => "growth",
            Stage::Mature => "mature",
            Stage::Decline => "decline",
            Stage::Lost => "lost",
        }
    }

    /// The stage at `now` of a member with `lifetime_orders` orders, the last at `last_order`.
    pub fn at(now: EventTime, last_order: Option<EventTime>, lifetime_orders: u32) -> Stage {
        match last_order {
            None => Stage::Acquisition,
            Some(last) => {
                let recency = now - last;
                if recency > LOST_AFTER {
                    Stage::Lost
                } else if recency > DECLINE_AFTER {
                    Stage::Decline
                } else if lifetime_orders <= 1 {
                    Stage::Growth
                } else {
                    Stage::Mature
                }
            }
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first millisecond of `decline` for a member whose last order was at `last_order`:
/// where the recall schedule is anchored. Only orders end a decline, so this instant is a
/// function of the last order alone and needs no state of its own.
pub fn decline_entry(last_order: EventTime) -> EventTime {
    last_order + DECLINE_AFTER + Span::MILLI
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: EventTime = EventTime(1_767_225_600_000); // 2026-01-01T00:00:00Z

    #[test]
    fn a_member_without_orders_is_in_acquisition() {
        assert_eq!(Stage::at(T0, None, 0), Stage::Acquisition);
    }

    #[test]
    fn one_recent_order_is_growth_and_two_are_mature() {
        assert_eq!(Stage::at(T0 + Span::days(3), Some(T0), 1), Stage::Growth);
        assert_eq!(Stage::at(T0 + Span::days(3), Some(T0), 2), Stage::Mature);
    }

    #[test]
    fn decline_starts_the_millisecond_after_thirty_days() {
        assert_eq!(Stage::at(T0 + Span::days(30), Some(T0), 5), Stage::Mature);
        assert_eq!(
            Stage::at(T0 + Span::days(30) + Span::MILLI, Some(T0), 5),
            Stage::Decline
        );
        assert_eq!(decline_entry(T0), T0 + Span::days(30) + Span::MILLI);
    }

    #[test]
    fn lost_starts_the_millisecond_after_ninety_days() {
        assert_eq!(Stage::at(T0 + Span::days(90), Some(T0), 1), Stage::Decline);
        assert_eq!(
            Stage::at(T0 + Span::days(90) + Span::MILLI, Some(T0), 1),
            Stage::Lost
        );
    }
}
