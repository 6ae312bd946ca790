//! The partitions this instance owns, and how far each must be re-read before its output
//! is new.
//!
//! State lives in memory, so when partitions are assigned (at start, after a crash, after
//! a rebalance) the engine is rebuilt by reading each partition from the offset of the
//! snapshot it was loaded from, or from its beginning. The group's committed offset is
//! the *restore target*: messages below it were handled by a previous owner whose
//! warnings and dead letters the broker acknowledged, so they only rebuild state; from the
//! target on, output is produced again.

use crate::config::Encoding;
use crate::state::Restored;

#[derive(Debug, Clone)]
pub struct OwnedPartition {
    pub topic: String,
    pub partition: i32,
    pub encoding: Encoding,
    /// First offset whose output is new; messages below it only rebuild state.
    pub restore_target: i64,
    /// Every message below the target has been read.
    pub caught_up: bool,
    /// The next offset to read, as far as messages and positions have told.
    pub position: i64,
    /// Partitions of its topic held with it: the topic's partition count while one
    /// instance holds the whole input.
    pub topic_partitions: u32,
}

/// What the consumer's rebalance callback hands to the pipeline.
#[derive(Debug)]
pub enum AssignmentChange {
    /// A new assignment (eager protocol: the whole set), with each partition's committed
    /// offset (`None` when the group has none), and the snapshot the partitions were
    /// positioned for, if one was loaded.
    Assigned(Vec<(String, i32, Option<i64>)>, Option<Box<Restored>>),
    Revoked,
}

#[derive(Debug, Default)]
pub struct Assignment {
    partitions: Vec<OwnedPartition>,
}

impl Assignment {
    /// `start_of` gives the offset each partition is read from (a snapshot's, or 0).
    pub fn new(
        assigned: &[(String, i32, Option<i64>)],
        encoding_of: impl Fn(&str) -> Encoding,
        start_of: impl Fn(&str, i32) -> i64,
    ) -> Self {
        let mut a = Assignment::default();
        for (topic, partition, committed) in assigned {
            let target = committed.unwrap_or(0).max(0);
            let start = start_of(topic, *partition).max(0);
            a.partitions.push(OwnedPartition {
                topic: topic.clone(),
                partition: *partition,
                encoding: encoding_of(topic),
                restore_target: target,
                caught_up: target <= start,
                position: start,
                topic_partitions: assigned.iter().filter(|(t, _, _)| t == topic).count() as u32,
            });
        }
        a
    }

    /// The engine's partition number for `(topic, partition)`.
    pub fn index_of(&self, topic: &str, partition: i32) -> Option<u32> {
        // A scan: assignments are a few dozen partitions at most, and a map keyed by
        // owned topic names would need a `String` built per message to look up.
        self.partitions
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
            .map(|i| i as u32)
    }

    /// The partition count the producers placed `index`'s records among, as far as this
    /// assignment knows it (`None` for an index not held).
    pub fn partition_count(&self, index: u32) -> Option<u32> {
        self.partitions
            .get(index as usize)
            .map(|p| p.topic_partitions)
            .filter(|n| *n > 0)
    }

    pub fn get(&self, index: u32) -> &OwnedPartition {
        &self.partitions[index as usize]
    }

    pub fn partitions(&self) -> &[OwnedPartition] {
        &self.partitions
    }

    /// Whether a message at `offset` only rebuilds state; marks the partition caught up
    /// once its last such message has been read.
    pub fn is_restoring(&mut self, index: u32, offset: i64) -> bool {
        let p = &mut self.partitions[index as usize];
        p.position = p.position.max(offset + 1);
        if offset + 1 >= p.restore_target {
            p.caught_up = true;
        }
        offset < p.restore_target
    }

    /// The consumer's position says `index` has read everything below its target (the
    /// last offsets below it may be transaction markers or deleted records, which never
    /// arrive as messages).
    pub fn reached(&mut self, index: u32, position: i64) {
        let p = &mut self.partitions[index as usize];
        p.position = p.position.max(position);
        if position >= p.restore_target {
            p.caught_up = true;
        }
    }

    /// Nothing below `index`'s target is left to read (deleted by retention): caught up,
    /// with the position left where reading actually is.
    pub fn nothing_to_reread(&mut self, index: u32) {
        self.partitions[index as usize].caught_up = true;
    }

    /// Messages still to re-read before output is live (an upper bound: deleted records
    /// and transaction markers count until the position passes them).
    pub fn remaining(&self) -> i64 {
        self.partitions
            .iter()
            .filter(|p| !p.caught_up)
            .map(|p| (p.restore_target - p.position).max(0))
            .sum()
    }

    /// Every owned partition has caught up: output is live, wall-clock ticks may run.
    pub fn restored(&self) -> bool {
        self.partitions.iter().all(|p| p.caught_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(_: &str) -> Encoding {
        Encoding::Json
    }

    #[test]
    fn messages_below_the_committed_offset_only_rebuild_state() {
        let mut a = Assignment::new(
            &[("in".into(), 0, Some(3)), ("in".into(), 1, None)],
            json,
            |_, _| 0,
        );
        let p0 = a.index_of("in", 0).unwrap();
        let p1 = a.index_of("in", 1).unwrap();
        assert!(!a.restored());
        assert!(a.is_restoring(p0, 0));
        assert!(a.is_restoring(p0, 1));
        assert!(!a.restored());
        assert!(a.is_restoring(p0, 2), "offset 2 is below the target 3");
        assert!(a.restored(), "offset 2 was the last one to re-read");
        assert!(!a.is_restoring(p0, 3));
        assert!(!a.is_restoring(p1, 0), "no commit: everything is new");
    }

    #[test]
    fn the_position_completes_a_restore_whose_last_offsets_never_arrive() {
        let mut a = Assignment::new(&[("in".into(), 0, Some(10))], json, |_, _| 0);
        assert!(a.is_restoring(0, 7));
        assert_eq!(a.remaining(), 2);
        a.reached(0, 9);
        assert!(!a.restored());
        assert_eq!(a.remaining(), 1);
        a.reached(0, 10);
        assert!(a.restored());
        assert_eq!(a.remaining(), 0);
    }

    #[test]
    fn a_snapshot_offset_shortens_the_reread_and_is_where_the_position_starts() {
        let mut a = Assignment::new(
            &[("in".into(), 0, Some(10)), ("in".into(), 1, Some(4))],
            json,
            |_, p| if p == 0 { 7 } else { 4 },
        );
        assert_eq!(a.get(0).position, 7);
        assert!(
            a.get(1).caught_up,
            "its snapshot is at the committed offset"
        );
        assert_eq!(a.remaining(), 3);
        assert!(a.is_restoring(0, 9));
        assert!(a.restored());
        assert!(!a.is_restoring(0, 10));
    }

    #[test]
    fn unknown_partitions_have_no_index() {
        let a = Assignment::new(&[("in".into(), 0, None)], json, |_, _| 0);
        assert_eq!(a.index_of("in", 1), None);
        assert_eq!(a.index_of("other", 0), None);
    }
}
