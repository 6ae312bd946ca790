//! Which instance runs which task, for forwarding queries: each instance claims its tasks
//! and its HTTP address in a record of a compacted one-partition topic
//! (`<group_id>.directory`), keyed by instance, whenever its tasks change; every instance
//! reads the whole topic. A task's owner is the latest claim naming it: a task that moved
//! is claimed by its new owner after its old one claimed it, and a claim left behind by a
//! killed instance is superseded as soon as its tasks are taken. (Kafka Streams spreads
//! the same map in the consumer group's assignment metadata, which the KIP-848 protocol
//! churnwatch uses does not carry.)
//!
//! Only a hint: an owner that has just given a task up answers that another instance
//! holds it, and the asker answers 503, so a query is never answered from a wrong task.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::config::KafkaConfig;
use crate::kafka::clients::producer_config;

/// A task of either stage, by its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    Member(u32),
    Group(u32),
}

/// What one instance says it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Where its HTTP server is reached, `http://host:port`.
    pub url: String,
    pub member_tasks: Vec<u32>,
    pub group_tasks: Vec<u32>,
}

impl Claim {
    fn tasks(&self) -> impl Iterator<Item = Task> + '_ {
        self.member_tasks
            .iter()
            .map(|&p| Task::Member(p))
            .chain(self.group_tasks.iter().map(|&q| Task::Group(q)))
    }
}

/// The owners read so far: per task, the offset of the latest claim naming it and its URL.
#[derive(Debug, Default)]
pub struct Owners {
    by_task: HashMap<Task, (i64, String)>,
}

impl Owners {
    /// Takes the claim at `offset` into account (claims are read in offset order, but a
    /// re-read one changes nothing).
    pub fn record(&mut self, offset: i64, claim: &Claim) {
        for task in claim.tasks() {
            let entry = self
                .by_task
                .entry(task)
                .or_insert_with(|| (offset, claim.url.clone()));
            if offset >= entry.0 {
                *entry = (offset, claim.url.clone());
            }
        }
    }

    pub fn of(&self, task: Task) -> Option<&str> {
        self.by_task.get(&task).map(|(_, url)| url.as_str())
    }
}

pub struct Directory {
    topic: String,
    /// This instance's key: its claims replace each other under compaction.
    key: String,
    url: String,
    producer: BaseProducer,
    consumer: BaseConsumer,
    owners: Owners,
    published: Option<Claim>,
}

impl Directory {
    /// Reads `topic` from its start and claims as `key`, reached at `url`.
    pub fn open(k: &KafkaConfig, topic: &str, key: String, url: String) -> anyhow::Result<Self> {
        let producer: BaseProducer = producer_config(k, None)?
            .create()
            .context("creating the directory's producer")?;
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &k.brokers);
        for (key, value) in &k.properties {
            cc.set(key, value);
        }
        // Assigned, not subscribed: every instance reads every claim, and commits nothing.
        cc.set("group.id", format!("{}.directory-reader", k.group_id))
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false");
        let consumer: BaseConsumer = cc.create().context("creating the directory's reader")?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .context("reading the directory")?;
        consumer.assign(&tpl).context("reading the directory")?;
        Ok(Directory {
            topic: topic.to_owned(),
            key,
            url,
            producer,
            consumer,
            owners: Owners::default(),
            published: None,
        })
    }

    /// Claims `member_tasks` and `group_tasks` if they differ from the last claim.
    pub fn claim(&mut self, mut member_tasks: Vec<u32>, mut group_tasks: Vec<u32>) {
        member_tasks.sort_unstable();
        group_tasks.sort_unstable();
        let claim = Claim {
            url: self.url.clone(),
            member_tasks,
            group_tasks,
        };
        if self.published.as_ref() == Some(&claim) {
            return;
        }
        let payload = match serde_json::to_vec(&claim) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "a directory claim did not serialise");
                return;
            }
        };
        let record = BaseRecord::to(&self.topic)
            .key(self.key.as_bytes())
            .payload(&payload);
        match self.producer.send(record) {
            Ok(()) => self.published = Some(claim),
            // Tried again on the next call: the claim still differs.
            Err((e, _)) => warn!(error = %e, "claiming tasks in the directory"),
        }
        self.producer.poll(Duration::ZERO);
    }

    /// Reads the claims that arrived since the last call, without waiting.
    pub fn refresh(&mut self) {
        self.producer.poll(Duration::ZERO);
        while let Some(result) = self.consumer.poll(Duration::ZERO) {
            match result {
                Ok(m) => match serde_json::from_slice::<Claim>(m.payload().unwrap_or(&[])) {
                    Ok(claim) => self.owners.record(m.offset(), &claim),
                    Err(e) => {
                        debug!(offset = m.offset(), error = %e, "an unreadable directory record")
                    }
                },
                Err(e) => {
                    debug!(error = %e, "reading the directory");
                    break;
                }
            }
        }
    }

    /// Where the task's owner is reached, if another instance claims it.
    pub fn owner(&self, task: Task) -> Option<&str> {
        self.owners.of(task).filter(|url| *url != self.url)
    }

    /// Every other instance some task's latest claim names.
    pub fn peers(&self) -> Vec<String> {
        let mut peers: Vec<String> = self
            .owners
            .by_task
            .values()
            .map(|(_, url)| url.clone())
            .filter(|url| *url != self.url)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// Sends what is queued before the instance stops.
    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(url: &str, members: &[u32], groups: &[u32]) -> Claim {
        Claim {
            url: url.to_owned(),
            member_tasks: members.to_vec(),
            group_tasks: groups.to_vec(),
        }
    }

    #[test]
    fn the_latest_claim_of_a_task_names_its_owner() {
        let mut owners = Owners::default();
        owners.record(0, &claim("http://a", &[0, 1], &[0]));
        owners.record(1, &claim("http://b", &[2], &[1]));
        // a was killed; c took its member task 1 and its group task 0.
        owners.record(2, &claim("http://c", &[1], &[0]));
        assert_eq!(
            owners.of(Task::Member(0)),
            Some("http://a"),
            "not taken yet"
        );
        assert_eq!(owners.of(Task::Member(1)), Some("http://c"));
        assert_eq!(owners.of(Task::Group(0)), Some("http://c"));
        assert_eq!(owners.of(Task::Group(1)), Some("http://b"));
        assert_eq!(owners.of(Task::Member(9)), None);
        // Read again (a reader starting over), an older claim changes nothing.
        owners.record(0, &claim("http://a", &[0, 1], &[0]));
        assert_eq!(owners.of(Task::Member(1)), Some("http://c"));
    }
}
