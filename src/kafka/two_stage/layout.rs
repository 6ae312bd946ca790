//! How a two-stage deployment is laid out on the broker: how many member-stage tasks (the
//! input's partition count, equal on every input topic), how many group-stage tasks (the
//! contributions topic's partitions), and that topic, created at start when missing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use tracing::info;

use crate::config::KafkaConfig;
use crate::kafka::copartition::common_partition_count;

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a contributions topic being created may show fewer partitions than it has.
const SETTLE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Member-stage tasks: task p reads partition p of every input topic.
    pub sources: u32,
    /// Group-stage tasks: task q reads partition q of the contributions topic.
    pub group_partitions: u32,
    pub contributions: String,
    /// Which instance runs which task ([`super::directory`]).
    pub directory: String,
}

/// Reads the inputs' partition counts (refusing unequal ones), and creates the
/// contributions topic or checks the one there. Its records are kept for ever: a
/// group-stage task that moves rebuilds its figures by reading its partition from the
/// start.
pub fn prepare(k: &KafkaConfig) -> anyhow::Result<Layout> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &k.brokers);
    for (key, value) in &k.properties {
        cc.set(key, value);
    }
    // Describing a missing topic must not create it with the broker's default count.
    cc.set("allow.auto.create.topics", "false");
    let admin: AdminClient<DefaultClientContext> =
        cc.create().context("creating the Kafka admin client")?;
    let count = |topic: &str| -> anyhow::Result<Option<usize>> {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .with_context(|| format!("describing topic {topic}"))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0))
    };
    let mut counts = Vec::new();
    for input in &k.inputs {
        counts.push((input.topic.clone(), count(&input.topic)?));
    }
    if counts.iter().any(|(_, n)| n.is_none()) {
        let missing: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| n.is_none())
            .map(|(t, _)| t.as_str())
            .collect();
        bail!(
            "two stages: input topics {missing:?} do not exist; their partition count fixes \
             the member-stage tasks, so they must be created first"
        );
    }
    let sources = common_partition_count(&counts)
        .map_err(anyhow::Error::msg)?
        .unwrap_or(1) as u32;
    let group_partitions = if k.group_partitions == 0 {
        sources
    } else {
        k.group_partitions
    };
    let contributions = k.contributions_topic();
    // A topic just created (here or by another instance starting) is described with only
    // some of its partitions for a moment, and a producer told of only those fails the
    // records of the rest: the count must settle first.
    let deadline = Instant::now() + SETTLE;
    let mut created = false;
    loop {
        match count(&contributions)? {
            Some(n) if n as u32 == group_partitions => break,
            Some(n) if Instant::now() > deadline => bail!(
                "two stages: the contributions topic {contributions} has {n} partitions, the \
                 configuration asks for {group_partitions} (kafka.group_partitions); groups \
                 are placed by that count, so it cannot change under a running deployment"
            ),
            None if !created => {
                let kept = [("retention.ms", "-1"), ("cleanup.policy", "delete")];
                create(&admin, &contributions, group_partitions, &kept)?;
                created = true;
            }
            None if Instant::now() > deadline => bail!(
                "two stages: the contributions topic {contributions} was created but is not \
                 described after {SETTLE:?}"
            ),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let directory = format!("{}.directory", k.group_id);
    if count(&directory)?.is_none() {
        // One record per instance, the latest kept: a compacted topic of one partition.
        create(&admin, &directory, 1, &[("cleanup.policy", "compact")])?;
    }
    Ok(Layout {
        sources,
        group_partitions,
        contributions,
        directory,
    })
}

fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: u32,
    settings: &[(&str, &str)],
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime for the admin client")?;
    let mut new = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(-1));
    for (key, value) in settings {
        new = new.set(key, value);
    }
    let results = runtime
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .with_context(|| format!("creating topic {topic}"))?;
    for r in results {
        match r {
            Ok(_) => info!(topic, partitions, "created a two-stage topic"),
            // Another instance starting at the same time created it.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}
