//! Which input offsets the notifier may commit: a record's offset is done once every
//! delivery it owes is done (delivered, dead-lettered, or parked on the retry topic and
//! acknowledged there), and a partition's commit position is its oldest offset not yet
//! done. So a kill -9 re-reads exactly what had not been finished, alerts held for quiet
//! hours or a digest included (the topic is their durable copy), and loses nothing.
//!
//! A warning owes one delivery per channel of the message it goes out in. While the
//! policy holds it, it owes one "token"; a message for `n` channels turns the token into
//! `n`; each payload carrying it, once finished, pays one. Pure bookkeeping: the edge
//! tells it what happened.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Default)]
struct Partition {
    pending: BTreeSet<i64>,
    /// One past the highest offset received.
    next: Option<i64>,
    committed: Option<i64>,
}

#[derive(Debug, Default)]
struct Owed {
    deliveries: u32,
    sources: Vec<Source>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    partitions: BTreeMap<(String, i32), Partition>,
    owed: HashMap<String, Owed>,
}

impl Ledger {
    /// A record was read: its offset is pending until settled.
    pub fn received(&mut self, s: &Source) {
        let p = self
            .partitions
            .entry((s.topic.clone(), s.partition))
            .or_default();
        p.pending.insert(s.offset);
        p.next = Some(p.next.map_or(s.offset + 1, |n| n.max(s.offset + 1)));
    }

    /// The record owes nothing (any more).
    pub fn settle(&mut self, s: &Source) {
        if let Some(p) = self.partitions.get_mut(&(s.topic.clone(), s.partition)) {
            p.pending.remove(&s.offset);
        }
    }

    /// The policy took warning `id` from `source`: it owes one delivery until a message
    /// carries it ([`Ledger::fan_out`]) or the policy drops it ([`Ledger::paid`]).
    pub fn owe(&mut self, id: &str, source: Source) {
        let owed = self.owed.entry(id.to_owned()).or_default();
        owed.deliveries += 1;
        owed.sources.push(source);
    }

    /// A message for `channels` channels carries `id`: the policy's one delivery becomes
    /// one per channel.
    pub fn fan_out(&mut self, id: &str, channels: usize) {
        if let Some(owed) = self.owed.get_mut(id) {
            owed.deliveries += channels as u32;
        }
        self.paid(id);
    }

    /// One delivery of `id` is done. Ids it never owed (a tutor-left notice) are ignored.
    pub fn paid(&mut self, id: &str) {
        let Some(owed) = self.owed.get_mut(id) else {
            return;
        };
        owed.deliveries = owed.deliveries.saturating_sub(1);
        if owed.deliveries == 0 {
            if let Some(owed) = self.owed.remove(id) {
                for s in &owed.sources {
                    self.settle(s);
                }
            }
        }
    }

    /// Warnings still owing a delivery.
    pub fn owing(&self) -> usize {
        self.owed.len()
    }

    /// Records read and not yet done, over every partition.
    pub fn pending(&self) -> usize {
        self.partitions.values().map(|p| p.pending.len()).sum()
    }

    /// The commit positions that moved since the last call: per partition, its oldest
    /// pending offset, or one past the last received when nothing is pending.
    pub fn commits(&mut self) -> Vec<Source> {
        let mut out = Vec::new();
        for ((topic, partition), p) in &mut self.partitions {
            let Some(next) = p.next else { continue };
            let position = p.pending.first().copied().unwrap_or(next);
            if p.committed.is_none_or(|c| position > c) {
                p.committed = Some(position);
                out.push(Source {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: position,
                });
            }
        }
        out
    }

    /// Forgets everything: a rebalance handed the partitions on, and whoever reads them
    /// next starts from the committed positions.
    pub fn clear(&mut self) {
        self.partitions.clear();
        self.owed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> Source {
        Source {
            topic: "w".into(),
            partition: 0,
            offset,
        }
    }

    fn positions(l: &mut Ledger) -> Vec<i64> {
        l.commits().into_iter().map(|s| s.offset).collect()
    }

    /// A warning held for quiet hours holds its offset back; the ones after it, done,
    /// do not move the commit past it.
    #[test]
    fn the_commit_position_is_the_oldest_offset_not_done() {
        let mut l = Ledger::default();
        for o in 0..4 {
            l.received(&at(o));
        }
        l.settle(&at(0)); // notify: false
        l.owe("held", at(1));
        l.owe("sent", at(2));
        l.fan_out("sent", 1);
        l.paid("sent");
        l.settle(&at(3));
        assert_eq!(
            positions(&mut l),
            vec![1],
            "offset 1 still owes its delivery"
        );
        assert_eq!(
            positions(&mut l),
            Vec::<i64>::new(),
            "unchanged: nothing new"
        );
        l.fan_out("held", 1);
        l.paid("held");
        assert_eq!(positions(&mut l), vec![4]);
        assert_eq!(l.owing(), 0);
    }

    /// A message to two channels owes two deliveries; one is not enough.
    #[test]
    fn each_channel_owes_its_own_delivery() {
        let mut l = Ledger::default();
        l.received(&at(7));
        l.owe("w", at(7));
        l.fan_out("w", 2);
        l.paid("w");
        assert_eq!(positions(&mut l), vec![7]);
        l.paid("w");
        assert_eq!(positions(&mut l), vec![8]);
    }

    /// A message for no channel owes nothing; a dropped held alert is paid by the policy.
    #[test]
    fn a_dropped_or_channelless_warning_owes_nothing() {
        let mut l = Ledger::default();
        l.received(&at(0));
        l.received(&at(1));
        l.owe("a", at(0));
        l.owe("b", at(1));
        l.fan_out("a", 0);
        l.paid("b");
        assert_eq!(positions(&mut l), vec![2]);
        l.paid("never-owed");
    }

    #[test]
    fn partitions_commit_apart() {
        let mut l = Ledger::default();
        let p1 = Source {
            partition: 1,
            ..at(10)
        };
        l.received(&at(0));
        l.received(&p1);
        l.settle(&p1);
        let commits = l.commits();
        assert_eq!(commits.len(), 2);
        assert_eq!((commits[0].partition, commits[0].offset), (0, 0));
        assert_eq!((commits[1].partition, commits[1].offset), (1, 11));
        l.clear();
        assert_eq!(l.pending(), 0);
    }
}
