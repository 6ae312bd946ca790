//! The producers' partitioners that `replay --partitions N` reproduces, checked against
//! librdkafka itself on the real broker: records keyed by member id, produced with each
//! partitioner, land on exactly the partition `churnwatch::partitioner` computes.

mod kafka_support;

use std::time::Duration;

use churnwatch::partitioner::Partitioner;
use kafka_support::*;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

const PARTITIONS: u32 = 8;

fn check(partitioner: Partitioner) {
    require_broker();
    let topic = unique(&format!("partitioner-{}", partitioner.name()));
    create_topic(&topic, PARTITIONS as i32);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("partitioner", partitioner.name())
        .create()
        .expect("creating a test producer");
    // Ids of every length class murmur2 distinguishes (its 4-byte words and 0-3 byte
    // tails), and some that are not ASCII.
    let keys: Vec<String> = (0..400)
        .map(|i| match i % 4 {
            0 => format!("m{i}"),
            1 => format!("member-{i:06}"),
            2 => format!("会员{i}"),
            _ => format!("{}", i * 7919),
        })
        .collect();
    for key in &keys {
        send_waiting(&producer, BaseRecord::to(&topic).key(key).payload("{}"));
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("test records acknowledged");
    let messages = read_all(&topic, Duration::from_secs(60));
    assert_eq!(messages.len(), keys.len());
    let mut used = std::collections::BTreeSet::new();
    for m in &messages {
        let key = m.key().expect("every record is keyed");
        let expected = partitioner.partition(key, PARTITIONS);
        assert_eq!(
            Some(m.partition() as u32),
            expected,
            "{}: key {:?}",
            partitioner.name(),
            String::from_utf8_lossy(key)
        );
        used.insert(m.partition());
    }
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "keys spread over every partition"
    );
}

#[test]
fn consistent_random_is_librdkafkas_default_partitioner() {
    check(Partitioner::ConsistentRandom);
}

#[test]
fn murmur2_random_is_librdkafkas_java_compatible_partitioner() {
    check(Partitioner::Murmur2Random);
}
