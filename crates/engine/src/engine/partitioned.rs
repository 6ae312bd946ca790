//! Both stages of a scaled-out deployment in one process, on one thread: one member-stage
//! engine per input partition, each with its own watermark, feeding one
//! [`GroupStage`]. The reference every deployment of the two stages must agree with
//! (`churnwatch replay --partitions N`), and with one partition exactly a single
//! [`Engine`].
//!
//! The output of a call is its partition's member warnings with the group warnings of
//! every unit it released. A unit closed by this call goes where a single engine would
//! have regraded (its `out_mark`); the rest, units of other partitions that this call's
//! watermark let through, go at the point they were released, in release order.

use super::core::Engine;
use super::group_feed::Unit;
use super::group_stage::GroupStage;
use super::warning::Warning;
use super::watermark::TimeMode;
use crate::model::{Event, EventTime};
use crate::reject::Rejection;
use crate::settings::Settings;

pub struct Partitioned {
    engines: Vec<Engine>,
    stage: GroupStage,
    units: Vec<Unit>,
    group_out: Vec<Warning>,
}

impl Partitioned {
    /// `partitions` member-stage engines (at least one) and their group stage.
    pub fn new(config: &Settings, mode: TimeMode, partitions: u32) -> Partitioned {
        let partitions = partitions.max(1);
        Partitioned {
            engines: (0..partitions)
                .map(|_| Engine::new_member_stage(config, mode))
                .collect(),
            stage: GroupStage::new(config, partitions),
            units: Vec::new(),
            group_out: Vec::new(),
        }
    }

    pub fn partitions(&self) -> u32 {
        self.engines.len() as u32
    }

    /// Applies a batch of partition `partition`'s events, as [`Engine::process_batch`]
    /// does; returns the events refused, by index.
    pub fn process_batch(
        &mut self,
        partition: u32,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(usize, Rejection)> {
        let start = out.len();
        let refused = self.engines[partition as usize].process_batch(partition, events, wall, out);
        self.forward(partition, start, start, out);
        refused
    }

    /// Live mode's periodic tick, on every partition.
    pub fn tick(&mut self, wall: EventTime, out: &mut Vec<Warning>) {
        for p in 0..self.partitions() {
            let start = out.len();
            self.engines[p as usize].tick(wall, out);
            self.forward(p, start, start, out);
        }
    }

    /// Declares every partition's input complete through `to` (see
    /// [`Engine::advance_to`]).
    pub fn advance_to(&mut self, to: EventTime, out: &mut Vec<Warning>) {
        for p in 0..self.partitions() {
            let start = out.len();
            self.engines[p as usize].advance_to(to, out);
            self.forward(p, start, start, out);
        }
    }

    /// The input has ended: every source is finished and every pending unit released.
    pub fn finish(&mut self, out: &mut Vec<Warning>) {
        for p in 0..self.partitions() {
            self.stage.finish(p);
        }
        self.stage.release(out);
    }

    /// The latest watermark of any partition.
    pub fn max_watermark(&self) -> EventTime {
        self.engines
            .iter()
            .map(Engine::watermark)
            .max()
            .unwrap_or(EventTime::MIN)
    }

    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// The member stages, for a caller that runs their calls itself (on threads of its
    /// own: each engine depends only on its own partition's input) and then hands each
    /// call's output to [`Partitioned::forward_output`].
    pub fn engines_mut(&mut self) -> &mut [Engine] {
        &mut self.engines
    }

    /// After a call made directly on partition `p`'s engine: its member warnings
    /// (`members`: the vector the call appended to, empty before it; emptied) and the group warnings it lets through, appended to `out` as
    /// [`Partitioned::process_batch`] would have. Partitions handed over in the same
    /// order give the same output, wherever their calls ran.
    pub fn forward_output(&mut self, p: u32, members: &mut Vec<Warning>, out: &mut Vec<Warning>) {
        let start = out.len();
        out.append(members);
        self.forward(p, start, 0, out);
    }

    pub fn stage(&self) -> &GroupStage {
        &self.stage
    }

    /// Hands partition `p`'s new units and watermark to the stage and releases what it
    /// can, merging the group warnings into `out[start..]` (see the module's doc).
    /// The units' `out_mark`s count from `mark_base`: the length of the vector the
    /// engine's call appended to, before it.
    fn forward(&mut self, p: u32, start: usize, mark_base: usize, out: &mut Vec<Warning>) {
        let engine = &mut self.engines[p as usize];
        self.units.clear();
        engine.take_units(&mut self.units);
        let first_new = self.units.first().map(|u| u.seq);
        self.stage
            .receive(p, self.units.drain(..), engine.watermark());
        let mut members = out.split_off(start).into_iter();
        let mut placed = 0;
        while let Some(released) = self.stage.release_next(&mut self.group_out) {
            if released.source == p && first_new.is_some_and(|seq| released.seq >= seq) {
                let mark = released.out_mark - mark_base;
                out.extend(members.by_ref().take(mark.saturating_sub(placed)));
                placed = placed.max(mark);
            }
            out.append(&mut self.group_out);
        }
        out.extend(members);
    }
}
