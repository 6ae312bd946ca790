//! When in the day members act: local (UTC+8) times of day with the evening peak of the
//! seeds, and where such a time falls in a day-long slice of the run. Shared by the
//! population (when each member is usually about) and the behaviour (each day's events).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) const DAY: i64 = 86_400_000;
pub(super) const HOUR: i64 = 3_600_000;
pub(super) const MINUTE: i64 = 60_000;
/// China Standard Time, UTC+8: the times of day here are local.
const LOCAL_OFFSET: i64 = 8 * HOUR;

/// Local time-of-day weights per hour outside the evening peak; the last entry is the
/// half hour 19:00–19:30.
const OFF_PEAK_WEIGHTS: [f64; 20] = [
    3.0, 1.2, 0.5, 0.3, 0.3, 0.4, 0.8, 1.5, 2.5, 3.5, 4.0, 4.0, 4.5, 4.0, 3.5, 3.5, 3.5, 3.5, 4.0,
    2.2,
];
const PEAK_START: i64 = 19 * HOUR + 30 * MINUTE;

/// A local (UTC+8) time of day in ms: with probability `peak_share` uniform in the evening
/// peak 19:30–24:00, otherwise by the hourly weights over the rest of the day.
pub(super) fn local_time_of_day(rng: &mut ChaCha8Rng, peak_share: f64) -> i64 {
    if rng.gen::<f64>() < peak_share {
        return rng.gen_range(PEAK_START..24 * HOUR);
    }
    let total: f64 = OFF_PEAK_WEIGHTS.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (hour, w) in OFF_PEAK_WEIGHTS.iter().enumerate() {
        if u < *w || hour == 19 {
            let len = if hour == 19 { 30 * MINUTE } else { HOUR };
            return hour as i64 * HOUR + rng.gen_range(0..len);
        }
        u -= w;
    }
    unreachable!("the loop returns at hour 19")
}

/// Where a local time of day falls within a day-long slice of the run (slices start at
/// `start` + k days, whatever local time that is).
pub(super) fn offset_in_slice(start_ms: i64, local_time_of_day: i64) -> i64 {
    let slice_local = (start_ms + LOCAL_OFFSET).rem_euclid(DAY);
    (local_time_of_day - slice_local).rem_euclid(DAY)
}
