//! librdkafka client configuration: our defaults, then the user's pass-through properties
//! (security, tuning), then the settings at-least-once depends on, which nobody may
//! change.

use anyhow::bail;
use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Consumer settings the pipeline's correctness rests on: offsets are committed by the
/// pipeline only, after the broker acknowledged the warnings they caused; rebalancing is
/// eager (every partition revoked, then the new assignment), which the rebalance
/// callback's whole-input lease and restore rely on, and the classic group protocol
/// that lets it assign what it reads.
const CONSUMER_FIXED: [(&str, &str); 4] = [
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("partition.assignment.strategy", "range,roundrobin"),
    ("group.protocol", "classic"),
];

/// Producer settings the "nothing is dropped" promise rests on: every warning acknowledged
/// by all in-sync replicas, retried without duplicates inside the producer, and never
/// expired while the broker is away (0 = no delivery timeout): a broker that is down
/// applies back-pressure instead of losing records.
const PRODUCER_FIXED: [(&str, &str); 3] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("message.timeout.ms", "0"),
];

/// This instance's name among a two-stage deployment's: `kafka.instance_id`, or one
/// unique to the running process.
pub(crate) fn instance_name(k: &KafkaConfig) -> String {
    if k.instance_id.is_empty() {
        format!("{}-{}", host_name(), std::process::id())
    } else {
        k.instance_id.clone()
    }
}

/// This host's name, for ids unique per running instance.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

pub fn consumer_config(k: &KafkaConfig) -> anyhow::Result<ClientConfig> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        // A partition with no committed offset is read from its start: the engine needs
        // the history (profiles, 90 days of orders) before its warnings mean anything.
        .set("auto.offset.reset", "earliest")
        .set("client.id", "churnwatch")
        .set("socket.nagle.disable", "true")
        // Feeds churnwatch_consumer_lag_messages.
        .set("statistics.interval.ms", "5000");
    layer(&mut c, k, &k.consumer_properties, &CONSUMER_FIXED)?;
    Ok(c)
}

/// Settings of the exactly-once producer: idempotent, acknowledged by every in-sync
/// replica. Records that time out fail their transaction, which is aborted and redone, so
/// the message timeout is librdkafka's (at most `transaction.timeout.ms`), not infinite.
const TRANSACTIONAL_FIXED: [(&str, &str); 2] = [("enable.idempotence", "true"), ("acks", "all")];

/// The producer for at-least-once delivery, or with `transactional_id` for exactly once.
pub fn producer_config(
    k: &KafkaConfig,
    transactional_id: Option<&str>,
) -> anyhow::Result<ClientConfig> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("client.id", "churnwatch")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        // Warnings are small and latency matters (p99 ≤ 50 ms): no Nagle delay.
        .set("socket.nagle.disable", "true");
    match transactional_id {
        None => layer(&mut c, k, &k.producer_properties, &PRODUCER_FIXED)?,
        Some(id) => {
            // A crashed instance's open transaction holds back read_committed readers
            // until the broker aborts it: 10 s, not librdkafka's 60 s.
            c.set("transactional.id", id)
                .set("transaction.timeout.ms", "10000");
            layer(&mut c, k, &k.producer_properties, &TRANSACTIONAL_FIXED)?;
        }
    }
    Ok(c)
}

/// Our defaults in `c`, then the user's properties (`k.properties`, then `own`), then
/// `fixed`, which the user's may repeat but not change.
pub(crate) fn layer(
    c: &mut ClientConfig,
    k: &KafkaConfig,
    own: &std::collections::BTreeMap<String, String>,
    fixed: &[(&str, &str)],
) -> anyhow::Result<()> {
    for (key, value) in k.properties.iter().chain(own) {
        if let Some((_, required)) = fixed.iter().find(|(f, _)| f == key) {
            if value != required {
                bail!(
                    "librdkafka property `{key}` must be `{required}`: churnwatch's delivery \
                     guarantees and rebalance handling rely on it; remove it from the \
                     configuration"
                );
            }
        }
        c.set(key, value);
    }
    for (key, value) in fixed {
        c.set(*key, *value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_properties_reach_the_clients() {
        let mut k = KafkaConfig::default();
        k.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        k.producer_properties
            .insert("linger.ms".into(), "20".into());
        let p = producer_config(&k, None).unwrap();
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(p.get("linger.ms"), Some("20"));
        let c = consumer_config(&k).unwrap();
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("linger.ms"), None, "producer-only");
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(p.get("message.timeout.ms"), Some("0"));
        assert_eq!(p.get("transactional.id"), None);
        let t = producer_config(&k, Some("cw-1")).unwrap();
        assert_eq!(t.get("transactional.id"), Some("cw-1"));
        assert_eq!(t.get("enable.idempotence"), Some("true"));
        assert_eq!(
            t.get("message.timeout.ms"),
            None,
            "bounded by the transaction timeout"
        );
    }

    #[test]
    fn settings_at_least_once_rests_on_cannot_be_overridden() {
        let mut k = KafkaConfig::default();
        k.consumer_properties
            .insert("enable.auto.commit".into(), "true".into());
        let err = consumer_config(&k).unwrap_err().to_string();
        assert!(err.contains("enable.auto.commit"), "{err}");
        let mut k = KafkaConfig::default();
        k.consumer_properties.insert(
            "partition.assignment.strategy".into(),
            "cooperative-sticky".into(),
        );
        let err = consumer_config(&k).unwrap_err().to_string();
        assert!(err.contains("partition.assignment.strategy"), "{err}");
    }
}
