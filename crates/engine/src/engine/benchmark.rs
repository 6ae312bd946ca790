//! Tenure benchmarks (thesis table 3.2.1): the expected probability that a member of a
//! given fee tier is active in a given tenure month.

use crate::model::{EventTime, Span};

/// A tenure month is exactly 30 days: month k covers days `[30(k-1), 30k)` since joining.
pub const TENURE_MONTH: Span = Span::days(30);
/// Month 13 stands for "over a year" and is the last row of the table.
pub const LAST_TENURE_MONTH: u8 = 13;

/// Tenure month (1..=13) at `now` of a member who joined at `joined_at`. Before joining
/// (a profile with a future `joined_at`) counts as month 1.
pub fn tenure_month(joined_at: EventTime, now: EventTime) -> u8 {
    let elapsed = (now - joined_at).as_millis().max(0);
    let month = elapsed / TENURE_MONTH.as_millis() + 1;
    u8::try_from(month.min(i64::from(LAST_TENURE_MONTH))).unwrap_or(LAST_TENURE_MONTH)
}

/// The next instant after `now` at which the tenure month changes, if any.
pub fn next_tenure_boundary(joined_at: EventTime, now: EventTime) -> Option<EventTime> {
    let month = tenure_month(joined_at, now);
    if month >= LAST_TENURE_MONTH {
        return None;
    }
    let boundary = joined_at + TENURE_MONTH.times(i64::from(month));
    (boundary > now).then_some(boundary)
}

/// The per-tier rows, indexed by a tier number the engine assigns at start-up.
#[derive(Clone, Debug)]
pub struct BenchmarkTable {
    tiers: Vec<String>,
    rows: Vec<[u8; LAST_TENURE_MONTH as usize]>,
}

impl BenchmarkTable {
    /// `rows` must hold 13 percentages each (validated by the service's configuration check).
    pub fn new<'a>(rows: impl IntoIterator<Item = (&'a String, &'a Vec<u32>)>) -> BenchmarkTable {
        let mut table = BenchmarkTable {
            tiers: Vec::new(),
            rows: Vec::new(),
        };
        for (tier, values) in rows {
            let mut row = [0u8; LAST_TENURE_MONTH as usize];
            for (slot, value) in row.iter_mut().zip(values) {
                *slot = u8::try_from((*value).min(100)).unwrap_or(100);
            }
            table.tiers.push(tier.clone());
            table.rows.push(row);
        }
        table
    }

    pub fn tier_index(&self, tier: &str) -> Option<u8> {
        self.tiers
            .iter()
            .position(|t| t == tier)
            .and_then(|i| u8::try_from(i).ok())
    }

    pub fn tier_count(&self) -> usize {
        self.tiers.len()
    }

    pub fn tier_name(&self, index: u8) -> &str {
        self.tiers
            .get(usize::from(index))
            .map_or("", String::as_str)
    }

    /// Expected active probability in percent for `tier` in tenure `month` (1..=13).
    pub fn expected_pct(&self, tier: u8, month: u8) -> u8 {
        let month = usize::from(month.clamp(1, LAST_TENURE_MONTH)) - 1;
        self.rows.get(usize::from(tier)).map_or(0, |row| row[month])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::GroupsConfig;

    const T0: EventTime = EventTime(1_767_225_600_000);

    fn table() -> BenchmarkTable {
        BenchmarkTable::new(&GroupsConfig::default().benchmark)
    }

    #[test]
    fn tenure_month_k_covers_days_30k_minus_30_to_30k() {
        assert_eq!(tenure_month(T0, T0), 1);
        assert_eq!(tenure_month(T0, T0 + Span::days(30) - Span::MILLI), 1);
        assert_eq!(tenure_month(T0, T0 + Span::days(30)), 2);
        assert_eq!(tenure_month(T0, T0 + Span::days(360) - Span::MILLI), 12);
        assert_eq!(tenure_month(T0, T0 + Span::days(360)), 13);
        assert_eq!(tenure_month(T0, T0 + Span::days(3000)), 13);
    }

    #[test]
    fn month_twelve_and_thirteen_use_their_own_columns() {
        let t = table();
        let t399 = t.tier_index("399").unwrap();
        let t199 = t.tier_index("199").unwrap();
        assert_eq!(t.expected_pct(t399, 12), 42);
        assert_eq!(t.expected_pct(t399, 13), 40);
        assert_eq!(t.expected_pct(t199, 12), 37);
        assert_eq!(t.expected_pct(t199, 13), 36);
        assert_eq!(t.expected_pct(t399, 2), 65);
        assert_eq!(t.expected_pct(t199, 2), 57);
    }

    #[test]
    fn tenure_boundaries_stop_at_month_thirteen() {
        assert_eq!(next_tenure_boundary(T0, T0), Some(T0 + Span::days(30)));
        assert_eq!(
            next_tenure_boundary(T0, T0 + Span::days(30)),
            Some(T0 + Span::days(60))
        );
        assert_eq!(
            next_tenure_boundary(T0, T0 + Span::days(359)),
            Some(T0 + Span::days(360))
        );
        assert_eq!(next_tenure_boundary(T0, T0 + Span::days(360)), None);
    }
}
