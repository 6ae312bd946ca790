//! The two kinds of task a worker thread runs, without Kafka types: a member-stage task per
//! input partition (an engine of its own, its units for the contributions topic) and a
//! group-stage task per contributions partition (a [`GroupStage`]).
//!
//! A task that a worker is given rebuilds its state by reading its partitions from the
//! start up to the offsets committed with the last output of whoever held it before (its
//! *targets*): what it reads below them changes its state and outputs nothing, as that
//! output was committed already. A member-stage task also commits, with its offsets, the
//! sequence its next unit will carry; rebuilt, it publishes no unit below that sequence
//! (they reached the contributions topic before) and numbers its new ones from it, so
//! none is taken downstream for a redelivery even where the rebuild closed units at other
//! points than the first run did (a live-mode tick falls elsewhere).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::contributions::{self, WireError};
use crate::engine::{route, Engine, GroupStage, TimeMode, Unit, Warning};
use crate::model::{Event, EventTime};
use crate::reject::Rejection;
use crate::settings::Settings;
use crate::state::PartitionOffset;

use super::layout::Layout;

/// The commit metadata of a member-stage task's first input partition: the sequence of
/// its next unit.
const SEQ_METADATA: &str = "churnwatch.next_unit_seq=";

pub fn seq_metadata(seq: u64) -> String {
    format!("{SEQ_METADATA}{seq}")
}

/// The sequence in a commit's metadata, if it carries one.
pub fn parse_seq_metadata(metadata: &str) -> Option<u64> {
    metadata.strip_prefix(SEQ_METADATA)?.parse().ok()
}

/// Where a task is in one of its partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The next offset to handle: everything below it is in the task's state.
    pub next: i64,
    /// The offset committed when the task was given to this worker: below it, state only.
    pub target: i64,
}

impl Progress {
    pub fn new(target: i64) -> Progress {
        Progress {
            next: 0,
            target: target.max(0),
        }
    }

    pub fn restoring(&self) -> bool {
        self.next < self.target
    }

    /// Records the record at `offset`; whether it is below the target.
    fn handle(&mut self, offset: i64) -> bool {
        self.next = self.next.max(offset + 1);
        offset < self.target
    }

    /// The consumer is at `position`: records below it were handled or were not data
    /// (transaction markers).
    pub fn reached(&mut self, position: i64) {
        self.next = self.next.max(position);
    }

    /// The offset to commit: never below the target, which a task still rebuilding has
    /// not reached (committing less would make its output count as new after a restart).
    pub fn commit_offset(&self) -> i64 {
        self.next.max(self.target)
    }
}

/// What a member-stage task made of one input record.
pub struct Applied {
    /// Below the target: its output was committed before, only its state was wanted.
    pub restoring: bool,
    /// The event's type index, or why it was refused.
    pub result: Result<usize, Rejection>,
}

pub struct MemberTask {
    partition: u32,
    engine: Engine,
    /// The task's input partitions assigned here, by topic.
    inputs: BTreeMap<String, Progress>,
    /// How many input topics there are: the task runs once it holds all of them.
    topics: usize,
    /// The next unit sequence committed with the targets: units below it were published.
    committed_seq: u64,
    resumed: bool,
    outgoing: Vec<Unit>,
    /// No unit published since the task started (see [`route`]).
    first: bool,
    /// Per group-stage partition, the watermark last published to it.
    published: Vec<EventTime>,
    scratch: Vec<Unit>,
    /// When its state last went to a snapshot (or, before any, when the task started).
    snapshot_at: Instant,
}

impl MemberTask {
    pub fn new(
        partition: u32,
        config: &Settings,
        mode: TimeMode,
        topics: usize,
        layout: &Layout,
        wall: EventTime,
    ) -> MemberTask {
        let mut engine = Engine::new_member_stage(config, mode);
        engine.own_partition(partition, wall);
        MemberTask {
            partition,
            engine,
            inputs: BTreeMap::new(),
            topics,
            committed_seq: 0,
            resumed: false,
            outgoing: Vec::new(),
            first: true,
            published: vec![EventTime::MIN; layout.group_partitions as usize],
            scratch: Vec::new(),
            snapshot_at: Instant::now(),
        }
    }

    /// Starts from a snapshot's engine instead of nothing: each input partition is read
    /// from the snapshot's offset (below its target, as before, only to rebuild). Refused
    /// (false) for an engine that is not a member stage's or once a record was handled.
    pub fn restore(&mut self, engine: Engine, offsets: &[PartitionOffset]) -> bool {
        let fresh = self.inputs.values().all(|p| p.next == 0);
        if !fresh || !engine.is_member_stage() {
            return false;
        }
        for (topic, progress) in &mut self.inputs {
            let next = offsets
                .iter()
                .find(|o| &o.topic == topic && o.partition == self.partition as i32)
                .map_or(0, |o| o.next);
            progress.next = next;
        }
        self.engine = engine;
        true
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// What a snapshot of the task holds: each input partition's next offset, which
    /// right after a commit is the committed one.
    pub fn snapshot_offsets(&self) -> Vec<PartitionOffset> {
        self.inputs
            .iter()
            .map(|(topic, progress)| PartitionOffset {
                topic: topic.clone(),
                partition: self.partition as i32,
                next: progress.commit_offset(),
            })
            .collect()
    }

    /// Whether a snapshot is due: the task runs whole, is rebuilt, and `every` passed.
    pub fn snapshot_due(&self, every: Duration) -> bool {
        self.complete() && !self.restoring() && self.snapshot_at.elapsed() >= every
    }

    pub fn snapshot_taken(&mut self) {
        self.snapshot_at = Instant::now();
    }

    /// Partition `topic` of the task is assigned here, committed up to `target`, with
    /// the unit sequence committed beside it (its first topic carries one).
    pub fn add_input(&mut self, topic: &str, target: i64, committed_seq: Option<u64>) {
        self.inputs.insert(topic.to_owned(), Progress::new(target));
        if let Some(seq) = committed_seq {
            self.committed_seq = self.committed_seq.max(seq);
        }
    }

    pub fn inputs(&self) -> impl Iterator<Item = (&str, &Progress)> {
        self.inputs.iter().map(|(t, p)| (t.as_str(), p))
    }

    pub fn progress_mut(&mut self, topic: &str) -> Option<&mut Progress> {
        self.inputs.get_mut(topic)
    }

    /// Every input topic's partition is here: the task may read.
    pub fn complete(&self) -> bool {
        self.inputs.len() == self.topics
    }

    pub fn restoring(&self) -> bool {
        self.inputs.values().any(Progress::restoring)
    }

    /// The sequence to commit beside the offsets.
    pub fn next_seq(&self) -> u64 {
        self.engine
            .next_unit_seq()
            .unwrap_or(0)
            .max(self.committed_seq)
    }

    /// Applies one input record (its decoded event, or why it could not be decoded).
    pub fn apply(
        &mut self,
        topic: &str,
        offset: i64,
        event: Result<Event, Rejection>,
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Applied {
        let restoring = self.inputs.get_mut(topic).is_some_and(|p| p.handle(offset));
        // One event at a time gives the same output as batches (`Engine::process_batch`
        // moves the watermark per event), and allocates nothing per record.
        let result = event.and_then(|event| {
            self.engine
                .process(self.partition, &event, wall, out)
                .map(|()| event.body.type_index())
        });
        self.collect_units();
        Applied { restoring, result }
    }

    /// Live mode's tick: idle time moves the watermark with the wall clock.
    pub fn tick(&mut self, wall: EventTime, out: &mut Vec<Warning>) {
        self.engine.tick(wall, out);
        self.collect_units();
    }

    /// Once rebuilt: new units are numbered above every unit published before.
    pub fn resume_if_rebuilt(&mut self) {
        if !self.resumed && !self.restoring() {
            self.engine.resume_unit_seq(self.committed_seq);
            self.resumed = true;
        }
    }

    fn collect_units(&mut self) {
        self.scratch.clear();
        self.engine.take_units(&mut self.scratch);
        let committed = self.committed_seq;
        self.outgoing
            .extend(self.scratch.drain(..).filter(|u| u.seq >= committed));
    }

    /// The records to publish now, as (contributions partition, payload): the new units
    /// of each group-stage partition, with the task's watermark; with `watermarks`, the
    /// watermark alone to every partition it moved for, so that the group stage does not
    /// wait on a task with nothing to say.
    pub fn publish(&mut self, layout: &Layout, watermarks: bool) -> Vec<(u32, Vec<u8>)> {
        let watermark = self.engine.watermark();
        let mut records = Vec::new();
        if self.outgoing.is_empty() && !watermarks {
            return records;
        }
        let routed = route(&self.outgoing, layout.group_partitions, self.first);
        if !self.outgoing.is_empty() {
            self.first = false;
        }
        self.outgoing.clear();
        for (q, units) in routed.into_iter().enumerate() {
            let moved = watermarks && watermark > self.published[q];
            if units.is_empty() && !moved {
                continue;
            }
            self.published[q] = self.published[q].max(watermark);
            records.push((
                q as u32,
                contributions::encode(self.partition, layout.sources, watermark, &units),
            ));
        }
        records
    }
}

pub struct GroupTask {
    stage: GroupStage,
    pub progress: Progress,
    sources: u32,
}

impl GroupTask {
    pub fn stage(&self) -> &GroupStage {
        &self.stage
    }

    pub fn new(config: &Settings, layout: &Layout, target: i64) -> GroupTask {
        GroupTask {
            stage: GroupStage::new(config, layout.sources),
            progress: Progress::new(target),
            sources: layout.sources,
        }
    }

    /// Applies one contributions record, appending the group warnings it releases to
    /// `out`; whether it is below the target (its warnings were committed before).
    pub fn apply(
        &mut self,
        offset: i64,
        payload: &[u8],
        out: &mut Vec<Warning>,
    ) -> Result<bool, WireError> {
        let restoring = self.progress.handle(offset);
        let batch = contributions::decode(payload)?;
        if batch.sources != self.sources || batch.source >= self.sources {
            return Err(WireError::Source {
                partition: batch.source,
                sources: batch.sources,
            });
        }
        self.stage
            .receive(batch.source, batch.units, batch.watermark);
        self.stage.release(out);
        Ok(restoring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_sequence_travels_in_the_commit_metadata() {
        assert_eq!(parse_seq_metadata(&seq_metadata(41)), Some(41));
        assert_eq!(parse_seq_metadata(""), None);
        assert_eq!(parse_seq_metadata("something else"), None);
    }

    fn layout() -> Layout {
        Layout {
            sources: 4,
            group_partitions: 2,
            contributions: "c".to_owned(),
            directory: "d".to_owned(),
        }
    }

    #[test]
    fn a_task_restores_only_a_member_stages_snapshot_and_reads_on_from_its_offsets() {
        let settings = crate::config::Config::default().engine();
        let task = |target| {
            let mut t =
                MemberTask::new(1, &settings, TimeMode::Replay, 2, &layout(), EventTime::MIN);
            t.add_input("orders", target, Some(7));
            t.add_input("logins", target, None);
            t
        };
        let offsets = [
            PartitionOffset {
                topic: "orders".into(),
                partition: 1,
                next: 40,
            },
            PartitionOffset {
                topic: "logins".into(),
                partition: 1,
                next: 30,
            },
            PartitionOffset {
                topic: "orders".into(),
                partition: 0,
                next: 99,
            },
        ];
        let mut t = task(50);
        assert!(!t.restore(Engine::new(&settings, TimeMode::Replay), &offsets));
        assert!(t.restore(
            Engine::new_member_stage(&settings, TimeMode::Replay),
            &offsets
        ));
        let next: Vec<(&str, i64)> = t.inputs().map(|(topic, p)| (topic, p.next)).collect();
        assert_eq!(next, [("logins", 30), ("orders", 40)]);
        assert!(t.restoring(), "below the targets it still only rebuilds");
        assert_eq!(t.next_seq(), 7, "the committed sequence still rules");
        // Once a record was handled, a snapshot would skip or repeat some.
        let mut t = task(50);
        let mut out = Vec::new();
        t.apply(
            "orders",
            0,
            Err(Rejection::new(
                crate::reject::RejectReason::Undecodable,
                "x",
            )),
            EventTime::MIN,
            &mut out,
        );
        assert!(!t.restore(
            Engine::new_member_stage(&settings, TimeMode::Replay),
            &offsets
        ));
    }

    #[test]
    fn a_rebuilding_partition_commits_its_target_not_less() {
        let mut p = Progress::new(10);
        assert!(p.restoring());
        assert!(p.handle(3));
        assert_eq!(p.commit_offset(), 10);
        assert!(!p.handle(10));
        assert!(!p.restoring());
        assert_eq!(p.commit_offset(), 11);
        let mut q = Progress::new(5);
        q.reached(5);
        assert!(!q.restoring(), "markers up to the target count as read");
    }
}
