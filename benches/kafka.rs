//! End to end through a real broker (SPEC §9): churnwatch's consume rate next to the raw
//! rate of Kafka's own console consumer on the same topic in the same run, and
//! event-to-warning latency at 10 000 events/s.
//!
//! `cargo bench --bench kafka [-- MEMBERS [ROUNDS]]` with the broker of
//! `scripts/kafka-local.sh start` (or `TEST_KAFKA_BROKERS`). The input topic is filled
//! once per workload size from the seeded generator (210 000 members ≈ 5 M events) and
//! kept for later runs. Each round times the console consumer, then `churnwatch run`
//! with exactly-once delivery, then with at-least-once, over the whole topic; medians
//! and the cost of exactly once are printed. `-- MEMBERS 0` only fills the topic;
//! `LATENCY_ONLY=RATE` runs only the latency part. `TWO_STAGE=1` times `run` in two
//! stages instead: one instance of two worker threads and two instances of one, against
//! one engine in the same run.

#[path = "../tests/kafka_support/mod.rs"]
mod kafka_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use churnwatch::generate::{GenerateOptions, Workload};
use kafka_support::*;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let members: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(210_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    require_broker();
    if let Ok(rate) = std::env::var("LATENCY_ONLY") {
        for delivery in ["at_least_once", "exactly_once"] {
            latency(
                rate.parse().unwrap_or(10_000),
                Duration::from_secs(10),
                delivery,
            );
        }
        return;
    }

    let topic = format!("bench-events-{members}");
    let total = ensure_filled(&topic, members);
    println!("topic {topic}: {total} events in {PARTITIONS} partitions");
    if rounds == 0 {
        return; // `-- MEMBERS 0`: fill the topic only (for profiling against it)
    }
    if std::env::var("TWO_STAGE").is_ok() {
        two_stages(&topic, total, rounds);
        return;
    }

    let mut console = Vec::new();
    let mut exactly = Vec::new();
    let mut at_least = Vec::new();
    for round in 1..=rounds {
        let c = total as f64 / time_console_consumer(&topic, total);
        let e = total as f64 / time_churnwatch(&topic, total, "exactly_once");
        let a = total as f64 / time_churnwatch(&topic, total, "at_least_once");
        println!(
            "round {round}: console consumer {c:.0} events/s, churnwatch run {e:.0} events/s \
             exactly once, {a:.0} events/s at least once"
        );
        console.push(c);
        exactly.push(e);
        at_least.push(a);
    }
    let (c, e, a) = (
        median(&mut console),
        median(&mut exactly),
        median(&mut at_least),
    );
    println!(
        "median: console consumer {:.2} M events/s; churnwatch exactly once {:.2} M events/s \
         (ratio {:.2}), at least once {:.2} M events/s (ratio {:.2}); exactly once costs {:.0} %",
        c / 1e6,
        e / 1e6,
        e / c,
        a / 1e6,
        a / c,
        (1.0 - e / a) * 100.0
    );

    for delivery in ["at_least_once", "exactly_once"] {
        latency(10_000, Duration::from_secs(20), delivery);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn end_offsets(topic: &str) -> Vec<(i32, i64)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("a metadata client");
    (0..PARTITIONS)
        .map(|p| {
            let (_, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(20))
                .unwrap_or((0, 0));
            (p, high)
        })
        .collect()
}

/// Produces the generated workload once; later runs reuse the topic.
fn ensure_filled(topic: &str, members: u32) -> i64 {
    let existing: i64 = end_offsets(topic).iter().map(|(_, h)| h).sum();
    if existing > 0 {
        return existing;
    }
    create_topic(topic, PARTITIONS);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    let mut workload = Workload::new(&GenerateOptions {
        members,
        ..GenerateOptions::default()
    });
    let started = Instant::now();
    let mut line = Vec::new();
    let mut n = 0i64;
    while workload.next_into(&mut line).is_some() {
        let key = member_id(&line).to_vec();
        let record = BaseRecord::<[u8], [u8]>::to(topic)
            .key(&key[..])
            .payload(&line[..]);
        send_waiting(&producer, record);
        n += 1;
    }
    producer.flush(Duration::from_secs(300)).expect("flush");
    println!(
        "produced {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    n
}

/// The `member_id` value of a generated line, without parsing the JSON.
fn member_id(line: &[u8]) -> &[u8] {
    const FIELD: &[u8] = b"\"member_id\":\"";
    let Some(at) = line.windows(FIELD.len()).position(|w| w == FIELD) else {
        return b"";
    };
    let rest = &line[at + FIELD.len()..];
    let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
    &rest[..end]
}

/// Seconds for Kafka's console consumer to read the whole topic (JVM start included).
fn time_console_consumer(topic: &str, total: i64) -> f64 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka-local.sh");
    let started = Instant::now();
    let status = Command::new(script)
        .args(["tool", "console-consumer", "--bootstrap-server", &brokers()])
        .args(["--topic", topic, "--from-beginning"])
        .args([
            "--max-messages",
            &total.to_string(),
            "--timeout-ms",
            "30000",
        ])
        .args(["--group", &unique("bench-console")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the console consumer");
    assert!(status.success(), "console consumer failed");
    started.elapsed().as_secs_f64()
}

/// Seconds for `churnwatch run` to consume the whole topic and commit it (start-up,
/// group join, decode, engine, warnings produced and acknowledged).
fn time_churnwatch(topic: &str, total: i64, delivery: &str) -> f64 {
    time_instances(topic, total, &[format!("kafka.delivery={delivery}")], 1).0
}

/// [`time_churnwatch`] for `instances` processes with `extra` settings side by side
/// (the same consumer group); the seconds and the group id.
fn time_instances(topic: &str, total: i64, extra: &[String], instances: usize) -> (f64, String) {
    let group = unique("bench-cw");
    let warnings = unique("bench-warnings");
    create_topic(&warnings, PARTITIONS);
    let mut sets = connection_settings(&group, topic, "json", &warnings, &unique("bench-dlq"));
    sets.push("kafka.commit_interval=100ms".to_owned());
    sets.extend_from_slice(extra);
    let started = Instant::now();
    let running: Vec<Churnwatch> = (0..instances)
        .map(|i| {
            let mut own = sets.clone();
            own.push(format!("kafka.instance_id=i{i}"));
            Churnwatch::start(&own, None, &format!("{group}-{i}"))
        })
        .collect();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .create()
        .expect("an offset reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    loop {
        if let Ok(committed) = watcher.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
            let done: i64 = committed
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                })
                .sum();
            if done >= total {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    for cw in running {
        assert!(cw.stop().success(), "churnwatch stopped cleanly");
    }
    (secs, group)
}

/// `TWO_STAGE=1`: `run` in two stages with one instance of two worker threads and with
/// two instances of one, against `single` (one engine) in the same run, all exactly once;
/// and the internal topic's records (transaction markers included) per input event.
fn two_stages(topic: &str, total: i64, rounds: usize) {
    let two = |threads: usize| {
        vec![
            "kafka.delivery=exactly_once".to_owned(),
            "kafka.topology=two_stage".to_owned(),
            format!("kafka.threads={threads}"),
        ]
    };
    let (mut single, mut one, mut pair) = (Vec::new(), Vec::new(), Vec::new());
    let mut internal = 0.0;
    for round in 1..=rounds {
        let s = total as f64 / time_churnwatch(topic, total, "exactly_once");
        let (secs, group) = time_instances(topic, total, &two(2), 1);
        let o = total as f64 / secs;
        let records: i64 = end_offsets(&format!("{group}.contributions"))
            .iter()
            .map(|(_, h)| h)
            .sum();
        internal = records as f64 / total as f64;
        let p = total as f64 / time_instances(topic, total, &two(1), 2).0;
        println!(
            "round {round}: single {s:.0} events/s; two stages, 1 instance x 2 threads \
             {o:.0} events/s, 2 instances x 1 thread {p:.0} events/s"
        );
        single.push(s);
        one.push(o);
        pair.push(p);
    }
    let (s, o, p) = (median(&mut single), median(&mut one), median(&mut pair));
    println!(
        "median: single {:.3} M events/s; two stages 1 x 2 threads {:.3} M events/s \
         (ratio {:.2}), 2 instances x 1 {:.3} M events/s (ratio {:.2}); internal topic \
         {internal:.4} records per input event",
        s / 1e6,
        o / 1e6,
        o / s,
        p / 1e6,
        p / s
    );
}

/// Event-to-warning latency at `rate` events/s: members with a year-old profile place
/// their first order; each order makes a SEGMENT_UPGRADE whose event time is the order's
/// send time, read back from the warnings topic. Two measures from the order's append
/// time: the warning's append time, and the instant a `read_committed` reader on this
/// machine received it (exactly once, a warning is visible only once its transaction
/// commits).
fn latency(rate: u64, length: Duration, delivery: &str) {
    let input = unique("bench-latency-in");
    let warnings = unique("bench-latency-warnings");
    let group = unique("bench-latency");
    create_topic_with(
        &input,
        PARTITIONS,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    // The broker stamps each warning when it appends it: the instant it is available.
    create_topic_with(
        &warnings,
        PARTITIONS,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let now = churnwatch::clock::wall_clock().as_millis();
    let orders = (rate / 10) * length.as_secs(); // one event in ten is an order
    let profiles: Vec<Record> = (0..orders)
        .map(|i| {
            let line = format!(
                r#"{{"event_id":"p{i}","member_id":"lm{i}","ts":{now},"type":"member","group_id":"lg{}","tutor_id":"lt","fee_tier":"399","joined_at":{}}}"#,
                i % 500,
                now - 400 * 86_400_000
            );
            Record::new(&format!("lm{i}"), line)
        })
        .collect();
    produce(&input, &profiles);
    let mut sets = connection_settings(
        &group,
        &input,
        "json",
        &warnings,
        &unique("bench-latency-dlq"),
    );
    sets.push(format!("kafka.delivery={delivery}"));
    // Extra `--set` assignments for experiments: LATENCY_SETS="a=1 b=2".
    if let Ok(extra) = std::env::var("LATENCY_SETS") {
        sets.extend(extra.split_whitespace().map(str::to_owned));
    }
    let cw = Churnwatch::start(&sets, None, &group);
    // Let it join the group and read the profiles before the clock starts.
    std::thread::sleep(Duration::from_secs(8));

    // Warning append time and receipt time by member: each member gets exactly one
    // SEGMENT_UPGRADE.
    let reader = std::thread::spawn(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", unique("bench-latency-reader"))
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "5")
            .create()
            .expect("a reader");
        // Assigned, not subscribed: a group join would delay the first receipts.
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&warnings, p, Offset::Beginning)
                .expect("an assignment");
        }
        consumer.assign(&tpl).expect("assigning");
        let mut seen = std::collections::HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        while (seen.len() as u64) < orders && Instant::now() < deadline {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let received = churnwatch::clock::wall_clock().as_millis();
            let w = churnwatch::proto::v1::Warning::decode(m.payload().unwrap_or(&[]))
                .expect("a warning");
            if w.kind() == churnwatch::proto::v1::WarningKind::SegmentUpgrade {
                if let (Some(member), Some(at)) = (w.member_id, m.timestamp().to_millis()) {
                    seen.insert(member, (at, received));
                }
            }
        }
        seen
    });

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "1")
        .set("socket.nagle.disable", "true")
        .create()
        .expect("a producer");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * length.as_secs();
    let mut order = 0u64;
    for i in 0..total {
        let due = started + interval * i as u32;
        // Sleep only when 2 ms ahead: a sleep of 100 µs overshoots, and the rate would
        // fall short of the target.
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            if wait >= Duration::from_millis(2) {
                std::thread::sleep(wait);
            }
        }
        let ts = churnwatch::clock::wall_clock().as_millis();
        let (key, line) = if i % 10 == 0 && order < orders {
            order += 1;
            let m = order - 1;
            (
                format!("lm{m}"),
                format!(
                    r#"{{"event_id":"o{m}","member_id":"lm{m}","ts":{ts},"type":"order","order_id":"lo{m}","amount":"1500.00","category":"skincare"}}"#
                ),
            )
        } else {
            let m = i % orders.max(1);
            (
                format!("lm{m}"),
                format!(r#"{{"event_id":"l{i}","member_id":"lm{m}","ts":{ts},"type":"login"}}"#),
            )
        };
        send_waiting(
            &producer,
            BaseRecord::<str, str>::to(&input).key(&key).payload(&line),
        );
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let sent_secs = started.elapsed().as_secs_f64();
    let warned = reader.join().expect("reader thread");
    let _ = cw.stop();
    // The broker's append times on both sides: the order available in the input topic →
    // its warning available in the warnings topic. That is churnwatch's share; the load
    // generator's own delay (append time minus the event time it wrote) is reported
    // apart, because on a loaded 2-core machine it dominates and is not ours.
    let inputs = consume_until(&input, Duration::from_secs(60), |m| {
        m.len() as u64 >= total + orders
    });
    let mut latencies = Vec::new();
    let mut visible = Vec::new();
    let mut generator_lag = Vec::new();
    for m in &inputs {
        let Some(v) = m
            .payload()
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
        else {
            continue;
        };
        if v["type"] != "order" {
            continue;
        }
        let (Some(appended), Some(ts), Some(member)) = (
            m.timestamp().to_millis(),
            v["ts"].as_i64(),
            v["member_id"].as_str(),
        ) else {
            continue;
        };
        generator_lag.push(appended - ts);
        if let Some((warned_at, received)) = warned.get(member) {
            latencies.push(warned_at - appended);
            visible.push(received - appended);
        }
    }
    if latencies.is_empty() {
        println!("latency: no warnings read back");
        return;
    }
    latencies.sort_unstable();
    visible.sort_unstable();
    generator_lag.sort_unstable();
    let pct = |v: &[i64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "latency ({delivery}) at {:.0} events/s, {} orders each warned: append of the order → \
         append of its warning p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; → received by a \
         read_committed reader p50 {} ms, p99 {} ms; load generator's own delay p50 {} ms",
        total as f64 / sent_secs,
        latencies.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        latencies[latencies.len() - 1],
        pct(&visible, 0.5),
        pct(&visible, 0.99),
        pct(&generator_lag, 0.5),
    );
}
