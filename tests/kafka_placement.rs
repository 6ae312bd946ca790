//! Where members' events are: input topics must be co-partitioned by member id (each
//! member's events on the same partition number of every input), so `churnwatch run`
//! refuses inputs of unequal partition counts at start, naming them, and reads inputs of
//! equal counts; a record on another partition than `input.partitioner` gives its key is
//! counted in `churnwatch_input_misplaced_total`.

mod kafka_support;

use std::time::{Duration, Instant};

use churnwatch::partitioner::Partitioner;
use kafka_support::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

fn instance(name: &str, partitions: [i32; 2]) -> Churnwatch {
    let t = topics(name, partitions[0], 1);
    let second = unique(&format!("{name}-profiles"));
    create_topic(&second, partitions[1]);
    let mut sets = settings(&t.group, &t.input, "json", &t.warnings, &t.dlq);
    sets.push(format!(
        "kafka.inputs=[{{topic=\"{}\",encoding=\"json\"}},{{topic=\"{second}\",encoding=\"json\"}}]",
        t.input
    ));
    Churnwatch::start(&sets, None, &unique(name))
}

#[test]
fn inputs_of_unequal_partition_counts_are_refused_at_start() {
    let mut cw = instance("copartition-unequal", [4, 3]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cw.is_running() {
        assert!(
            Instant::now() < deadline,
            "still running: {}",
            cw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = cw.log_text();
    assert!(
        log.contains("input topics are not co-partitioned")
            && log.contains("has 4 partitions")
            && log.contains("has 3"),
        "{log}"
    );
}

#[test]
fn inputs_of_equal_partition_counts_are_read() {
    let mut cw = instance("copartition-equal", [3, 3]);
    cw.wait_for_log("partitions assigned", Duration::from_secs(60));
    assert!(cw.is_running());
    assert!(cw.stop().success());
}

#[test]
fn records_off_their_keys_partition_are_counted_as_misplaced() {
    let t = topics("placement-misplaced", 4, 1);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("creating a test producer");
    let mut misplaced = 0;
    for i in 0..20 {
        let member = format!("m{i}");
        let home = Partitioner::ConsistentRandom
            .partition(member.as_bytes(), 4)
            .expect("a key has a partition") as i32;
        // Every third member's login goes one partition over, as a producer with another
        // partitioner would put it.
        let partition = if i % 3 == 0 { (home + 1) % 4 } else { home };
        misplaced += usize::from(partition != home);
        let line = format!(
            r#"{{"event_id":"e{i}","member_id":"{member}","ts":"2026-01-01T10:00:00Z","type":"login"}}"#
        );
        send_waiting(
            &producer,
            BaseRecord::to(&t.input)
                .partition(partition)
                .key(&member)
                .payload(&line),
        );
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("test records acknowledged");
    let mut cw = Churnwatch::start(
        &settings(&t.group, &t.input, "json", &t.warnings, &t.dlq),
        None,
        &unique("placement-misplaced"),
    );
    let address = cw.http_address();
    let metric = format!(r#"churnwatch_input_misplaced_total{{topic="{}"}}"#, t.input);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(&address);
        let value = text
            .lines()
            .find(|l| l.starts_with(&metric))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok());
        if value == Some(misplaced as f64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{metric} is {value:?}, not {misplaced}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(misplaced > 0);
    assert!(cw.stop().success());
}
