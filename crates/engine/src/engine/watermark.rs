//! The watermark (SPEC §3): the largest event time seen minus the allowed lateness, taken
//! per input partition, then the minimum over the partitions this instance owns.
//!
//! Partitions silent for `idle_timeout` of wall-clock time stop holding it back; when
//! every partition is idle and the mode is live, it follows the wall clock minus the
//! allowed lateness, so time-driven warnings fire at 3 a.m. In replay mode only event
//! time moves it. Wall-clock readings are passed in; nothing here reads a clock.
use serde::{Deserialize, Serialize};

use crate::model::{EventTime, Span};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeMode {
    /// Kafka: idle partitions release the watermark, and an all-idle input lets the wall
    /// clock drive it.
    Live,
    /// Files and backfills: event time alone, so output is reproducible.
    Replay,
}

#[derive(Copy, Clone, Debug, Serialize, Deserialize)]
struct PartitionClock {
    max_event_time: EventTime,
    last_seen_wall: EventTime,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatermarkTracker {
    mode: TimeMode,
    lateness: Span,
    idle_timeout: Span,
    /// By partition, ascending: a few dozen at most, read on every event, so a vector
    /// (stored as a map, as the image format has it).
    #[serde(with = "partition_map")]
    partitions: Vec<(u32, PartitionClock)>,
    current: EventTime,
}

impl WatermarkTracker {
    pub fn is_live(&self) -> bool {
        self.mode == TimeMode::Live
    }

    pub fn new(mode: TimeMode, lateness: Span, idle_timeout: Span) -> WatermarkTracker {
        WatermarkTracker {
            mode,
            lateness,
            idle_timeout,
            partitions: Vec::new(),
            current: EventTime::MIN,
        }
    }

    pub fn current(&self) -> EventTime {
        self.current
    }

    /// Records an event of `partition` and returns the (never decreasing) watermark.
    #[inline]
    pub fn observe(&mut self, partition: u32, event_time: EventTime, wall: EventTime) -> EventTime {
        let seen_is_busy = self.mode == TimeMode::Replay || self.idle_timeout > Span::ZERO;
        if let [(only, clock)] = self.partitions.as_mut_slice() {
            if *only == partition && seen_is_busy {
                // The one partition was just seen, so it is not idle: the watermark is its
                // own mark. What `recompute` gives, without the loop.
                clock.max_event_time = clock.max_event_time.max(event_time);
                clock.last_seen_wall = wall;
                self.current = self.current.max(clock.max_event_time - self.lateness);
                return self.current;
            }
        }
        self.observe_among_many(partition, event_time, wall)
    }

    #[inline(never)]
    fn observe_among_many(
        &mut self,
        partition: u32,
        event_time: EventTime,
        wall: EventTime,
    ) -> EventTime {
        let clock = self.clock(partition, wall);
        clock.max_event_time = clock.max_event_time.max(event_time);
        clock.last_seen_wall = wall;
        self.recompute(wall)
    }

    /// A partition this instance now owns holds the watermark back from the start, before
    /// its first event: otherwise the first partition to deliver would set the watermark
    /// alone and fire timers ahead of the others' unread events. In live mode it still
    /// stops holding it back after `idle_timeout` without events.
    pub fn own_partition(&mut self, partition: u32, wall: EventTime) {
        self.clock(partition, wall);
    }

    /// The partition's clock, created as of `wall` if it had none.
    fn clock(&mut self, partition: u32, wall: EventTime) -> &mut PartitionClock {
        let at = match self.partitions.binary_search_by_key(&partition, |p| p.0) {
            Ok(at) => at,
            Err(at) => {
                let fresh = PartitionClock {
                    max_event_time: EventTime::MIN,
                    last_seen_wall: wall,
                };
                self.partitions.insert(at, (partition, fresh));
                at
            }
        };
        &mut self.partitions[at].1
    }

    /// Re-evaluates idleness at `wall` (live mode's periodic tick).
    pub fn tick(&mut self, wall: EventTime) -> EventTime {
        self.recompute(wall)
    }

    /// Partitions this instance no longer owns stop counting (rebalance).
    pub fn forget_partition(&mut self, partition: u32) {
        self.partitions.retain(|p| p.0 != partition);
    }

    fn recompute(&mut self, wall: EventTime) -> EventTime {
        let live = self.mode == TimeMode::Live;
        let mut candidate: Option<EventTime> = None;
        for (_, clock) in &self.partitions {
            let idle = live && wall - clock.last_seen_wall >= self.idle_timeout;
            if !idle {
                let mark = clock.max_event_time - self.lateness;
                candidate = Some(candidate.map_or(mark, |c| c.min(mark)));
            }
        }
        let next = match candidate {
            Some(mark) => mark,
            None if live => wall - self.lateness,
            None => self.current,
        };
        self.current = self.current.max(next);
        self.current
    }
}

/// Serializes the partition clocks as a map from partition to clock, as the image format
/// has held them since it was a `BTreeMap`.
mod partition_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::PartitionClock;

    pub fn serialize<S: Serializer>(
        partitions: &[(u32, PartitionClock)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(partitions.iter().map(|(p, c)| (p, c)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(u32, PartitionClock)>, D::Error> {
        Ok(BTreeMap::<u32, PartitionClock>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: EventTime = EventTime(1_767_225_600_000);
    const LATE: Span = Span::minutes(5);
    const IDLE: Span = Span::seconds(30);

    #[test]
    fn the_watermark_is_the_largest_event_time_minus_the_lateness() {
        let mut w = WatermarkTracker::new(TimeMode::Replay, LATE, IDLE);
        assert_eq!(w.observe(0, T0, T0), T0 - LATE);
        assert_eq!(
            w.observe(0, T0 - Span::hours(1), T0),
            T0 - LATE,
            "never moves back"
        );
        assert_eq!(
            w.observe(0, T0 + Span::minutes(1), T0),
            T0 - Span::minutes(4)
        );
    }

    #[test]
    fn a_lone_partition_with_no_idle_grace_is_idle_at_once() {
        let mut w = WatermarkTracker::new(TimeMode::Live, LATE, Span::ZERO);
        assert_eq!(w.observe(0, T0 - Span::hours(2), T0), T0 - LATE);
        let mut replay = WatermarkTracker::new(TimeMode::Replay, LATE, Span::ZERO);
        assert_eq!(
            replay.observe(0, T0 - Span::hours(2), T0),
            T0 - Span::hours(2) - LATE
        );
    }

    #[test]
    fn the_slowest_partition_holds_the_watermark_back() {
        let mut w = WatermarkTracker::new(TimeMode::Live, LATE, IDLE);
        w.observe(0, T0, T0);
        assert_eq!(w.observe(1, T0 + Span::hours(1), T0), T0 - LATE);
    }

    #[test]
    fn an_idle_partition_stops_holding_it_back_in_live_mode() {
        let mut w = WatermarkTracker::new(TimeMode::Live, LATE, IDLE);
        w.observe(0, T0, T0);
        w.observe(1, T0 + Span::hours(1), T0);
        assert_eq!(
            w.observe(1, T0 + Span::hours(1), T0 + Span::seconds(29)),
            T0 - LATE
        );
        assert_eq!(
            w.observe(1, T0 + Span::hours(1), T0 + Span::seconds(30)),
            T0 + Span::hours(1) - LATE
        );
    }

    #[test]
    fn with_every_partition_idle_live_mode_follows_the_wall_clock() {
        let mut w = WatermarkTracker::new(TimeMode::Live, LATE, IDLE);
        w.observe(0, T0, T0);
        let three_am = T0 + Span::hours(3);
        assert_eq!(w.tick(three_am), three_am - LATE);
    }

    #[test]
    fn an_owned_partition_holds_the_watermark_back_before_its_first_event() {
        let mut w = WatermarkTracker::new(TimeMode::Replay, LATE, IDLE);
        w.own_partition(0, T0);
        w.own_partition(1, T0);
        assert_eq!(w.observe(0, T0 + Span::days(30), T0), EventTime::MIN);
        assert_eq!(w.observe(1, T0, T0), T0 - LATE);
        let mut live = WatermarkTracker::new(TimeMode::Live, LATE, IDLE);
        live.own_partition(0, T0);
        live.own_partition(1, T0);
        assert_eq!(live.observe(0, T0, T0), EventTime::MIN);
        assert_eq!(
            live.observe(0, T0, T0 + IDLE),
            T0 - LATE,
            "an owned partition that never delivers goes idle"
        );
    }

    #[test]
    fn replay_mode_ignores_the_wall_clock() {
        let mut w = WatermarkTracker::new(TimeMode::Replay, LATE, IDLE);
        w.observe(0, T0, T0);
        assert_eq!(w.tick(T0 + Span::days(3)), T0 - LATE);
    }
}
