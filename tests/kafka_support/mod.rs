//! Helpers for the tests that run churnwatch against a real Apache Kafka broker
//! (scripts/kafka-local.sh, started by scripts/test.sh). Nothing here is a mock: topics,
//! records and offsets are the broker's own.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The broker under test: `TEST_KAFKA_BROKERS`, or the one scripts/kafka-local.sh
/// starts.
pub fn brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Fails the test, with instructions, when no broker answers: a Kafka test never passes
/// by not running.
pub fn require_broker() {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("creating a metadata client");
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(20)) {
        panic!(
            "no Kafka broker at {} ({e}). Run the suite with scripts/test.sh, which starts \
             one (scripts/kafka-local.sh start), or set TEST_KAFKA_BROKERS.",
            brokers()
        );
    }
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

pub fn create_topic(name: &str, partitions: i32) {
    create_topic_with(name, partitions, &[]);
}

pub fn create_topic_with(name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("creating an admin client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = runtime
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .expect("creating a topic");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    pub fn new(key: &str, payload: impl Into<Vec<u8>>) -> Record {
        Record {
            key: Some(key.as_bytes().to_vec()),
            payload: payload.into(),
            headers: Vec::new(),
        }
    }
}

/// Hands `record` to `producer`, waiting while its queue is full: a test or bench load
/// never drops a record.
pub fn send_waiting<K, P>(
    producer: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'_, K, P>,
) where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Produces `records` in order and waits until the broker has them all.
pub fn produce(topic: &str, records: &[Record]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("creating a test producer");
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(&r.payload[..])
            .headers(headers);
        record.key = r.key.as_deref();
        send_waiting(&producer, record);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("test records acknowledged");
}

/// A consumer assigned every partition of `topic` from its beginning (read_committed,
/// librdkafka's default), and the partitions' ids.
fn reader_from_start(topic: &str) -> (BaseConsumer, Vec<i32>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("test-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("creating a test consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(20))
        .expect("topic metadata");
    let mut tpl = TopicPartitionList::new();
    let mut ids = Vec::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("assignment");
            ids.push(p.id());
        }
    }
    consumer.assign(&tpl).expect("assigning");
    (consumer, ids)
}

/// Reads `topic` from the beginning until `done` says so or `timeout` passes.
pub fn consume_until(
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let (consumer, _) = reader_from_start(topic);
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while !done(&got) && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => got.push(m.detach()),
            Some(Err(e)) => eprintln!("test consumer: {e}"),
            None => {}
        }
    }
    got
}

/// Every committed record of `topic`, read from the beginning up to the end of each
/// partition as the broker knows it now.
pub fn read_all(topic: &str, timeout: Duration) -> Vec<OwnedMessage> {
    let (consumer, ids) = reader_from_start(topic);
    let ends: Vec<(i32, i64)> = ids
        .into_iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(20))
                .expect("partition offsets");
            (p, high)
        })
        .collect();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push(m.detach()),
            Some(Err(e)) => eprintln!("test consumer: {e}"),
            None => {}
        }
        // Positions move past transaction markers too, so they reach the high watermark.
        let positions = consumer.position().expect("positions");
        let done = ends.iter().all(|(p, high)| {
            *high == 0
                || positions
                    .find_partition(topic, *p)
                    .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= *high))
        });
        if done {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} not read to its end within {timeout:?}"
        );
    }
}

pub fn header<'m>(m: &'m OwnedMessage, name: &str) -> Option<&'m [u8]> {
    use rdkafka::message::Headers;
    let headers = m.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value)
}

pub fn header_str(m: &OwnedMessage, name: &str) -> String {
    String::from_utf8_lossy(header(m, name).unwrap_or_else(|| panic!("header {name} missing")))
        .into_owned()
}

/// The distinct warning ids among `messages` (from their header).
pub fn warning_ids(messages: &[OwnedMessage]) -> BTreeSet<String> {
    warning_ids_all(messages).into_iter().collect()
}

/// Every record's warning id, in order, repeats included.
pub fn warning_ids_all(messages: &[OwnedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| header_str(m, "churnwatch.warning_id"))
        .collect()
}

/// One test's topics and consumer group, each name unique to the run.
pub struct Topics {
    pub input: String,
    pub warnings: String,
    pub dlq: String,
    pub group: String,
}

/// Creates `{name}-in` with `input_partitions`, `{name}-warnings` with
/// `warning_partitions` and a one-partition `{name}-dlq`, and names `{name}-group`.
pub fn topics(name: &str, input_partitions: i32, warning_partitions: i32) -> Topics {
    require_broker();
    let t = Topics {
        input: unique(&format!("{name}-in")),
        warnings: unique(&format!("{name}-warnings")),
        dlq: unique(&format!("{name}-dlq")),
        group: unique(&format!("{name}-group")),
    };
    create_topic(&t.input, input_partitions);
    create_topic(&t.warnings, warning_partitions);
    create_topic(&t.dlq, 1);
    t
}

/// JSON event lines as records keyed by member id, as churnwatch expects them.
pub fn json_records(lines: &[String]) -> Vec<Record> {
    lines
        .iter()
        .map(|l| Record::new(&member_key(l), l.as_bytes()))
        .collect()
}

/// A running `churnwatch run`, its log in a file.
pub struct Churnwatch {
    child: Child,
    pub log: PathBuf,
}

/// Where one churnwatch instance reads and writes, as `--set` assignments.
pub fn connection_settings(
    group: &str,
    input: &str,
    encoding: &str,
    warnings: &str,
    dlq: &str,
) -> Vec<String> {
    vec![
        format!("kafka.brokers={}", brokers()),
        format!("kafka.group_id={group}"),
        format!("kafka.inputs=[{{topic=\"{input}\",encoding=\"{encoding}\"}}]"),
        format!("kafka.warnings_topic={warnings}"),
        format!("kafka.dead_letter_topic={dlq}"),
        // Any free port: instances run side by side. `Churnwatch::http_address` tells it.
        "http.bind=127.0.0.1:0".to_owned(),
    ]
}

/// The tests' instance: [`connection_settings`] in event-time mode, committing often,
/// and quick to give up the partitions of a killed predecessor.
pub fn settings(
    group: &str,
    input: &str,
    encoding: &str,
    warnings: &str,
    dlq: &str,
) -> Vec<String> {
    let mut sets = connection_settings(group, input, encoding, warnings, dlq);
    sets.extend([
        // Replay-style time, so the output is the replay command's, warning for warning.
        "kafka.time_mode=event_time".to_owned(),
        "kafka.commit_interval=200ms".to_owned(),
        // A killed instance's partitions move on after 6 s (the broker's minimum), not
        // the default 45 s.
        "kafka.consumer_properties.session.timeout.ms=6000".to_owned(),
        // Snapshots every second, so that restarts start from one.
        format!("state.snapshot_dir={}", snapshot_dir().display()),
        "state.snapshot_interval=1s".to_owned(),
    ]);
    sets
}

/// Where the tests' instances keep snapshots (a directory per consumer group inside).
pub fn snapshot_dir() -> PathBuf {
    std::env::temp_dir().join("churnwatch-test-snapshots")
}

impl Churnwatch {
    pub fn start(sets: &[String], config: Option<&Path>, log_name: &str) -> Churnwatch {
        Churnwatch::start_command(&["run"], sets, config, log_name)
    }

    /// Starts `churnwatch <command…>` (`run`, `notify`, …) with `sets`.
    pub fn start_command(
        command: &[&str],
        sets: &[String],
        config: Option<&Path>,
        log_name: &str,
    ) -> Churnwatch {
        let log = std::env::temp_dir().join(format!("{log_name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening the log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_churnwatch"));
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        for s in sets {
            cmd.arg("--set").arg(s);
        }
        let child = cmd
            .args(command)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting churnwatch");
        Churnwatch { child, log }
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "sending SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for churnwatch") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "churnwatch did not stop within 60 s; log: {}",
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no drain, no commit.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text` (for example the assignment line).
    pub fn wait_for_log(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(text) {
            assert!(
                self.is_running(),
                "churnwatch exited; log:\n{}",
                self.log_text()
            );
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log within {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Churnwatch {
    /// The address the HTTP server bound (from its start-up log line).
    pub fn http_address(&mut self) -> String {
        self.wait_for_log("http: serving", Duration::from_secs(30));
        let log = self.log_text();
        // The last: a restarted instance's log holds its predecessor's lines too.
        log.lines()
            .rev()
            .filter(|l| l.contains("http: serving"))
            .find_map(|l| {
                let rest = &l[l.find("address=")? + "address=".len()..];
                Some(rest.split_whitespace().next()?.to_owned())
            })
            .unwrap_or_else(|| panic!("no address in the http line of the log:\n{log}"))
    }
}

impl Drop for Churnwatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until what `observe` reads from each instance (its log, its answers) satisfies
/// `done`, failing with the last reading and every instance's log after `timeout`.
pub fn wait_on_instances<T: std::fmt::Debug>(
    instances: &[&Churnwatch],
    timeout: Duration,
    what: &str,
    observe: impl Fn(&Churnwatch) -> T,
    done: impl Fn(&[T]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let seen: Vec<T> = instances.iter().map(|cw| observe(cw)).collect();
        if done(&seen) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {seen:?}; logs:\n{}",
            instances
                .iter()
                .map(|cw| cw.log_text())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A generated workload: JSON lines, keyed by member id.
pub fn workload(members: u32, days: u32, seed: u64) -> Vec<String> {
    let opts = churnwatch::generate::GenerateOptions {
        members,
        days,
        seed,
        ..Default::default()
    };
    let mut out = Vec::new();
    churnwatch::generate::write_jsonl(&opts, &mut out).expect("generating");
    String::from_utf8(out)
        .expect("generator writes UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn member_key(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).expect("generated lines are JSON");
    v["member_id"].as_str().unwrap_or_default().to_owned()
}

/// What `churnwatch replay` makes of `lines` (JSON warnings, one per line), with `config`.
pub fn replay(lines: &[String], config: Option<&Path>) -> Vec<String> {
    replay_with(lines, config, &[])
}

/// [`replay`] with more arguments (`--partitions 8`, …).
pub fn replay_with(lines: &[String], config: Option<&Path>, args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churnwatch"));
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut child = cmd
        .arg("replay")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting churnwatch replay");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = lines.join("\n");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("replay output");
    writer
        .join()
        .expect("writer thread")
        .expect("writing replay input");
    assert!(output.status.success(), "replay failed");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `warning_id` of a JSON warning line.
pub fn json_warning_id(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).expect("warning lines are JSON");
    v["warning_id"].as_str().unwrap_or_default().to_owned()
}

/// Warning id → how many times it occurs.
pub fn id_counts(ids: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The warnings read (`got`, id → occurrences) are exactly the replay's (`expected`):
/// none missing, none repeated, none the replay does not give.
pub fn assert_exactly_once(expected: &BTreeMap<String, usize>, got: &BTreeMap<String, usize>) {
    let missing: Vec<&String> = expected
        .keys()
        .filter(|id| !got.contains_key(*id))
        .collect();
    let repeated: Vec<(&String, &usize)> = got.iter().filter(|(_, n)| **n > 1).collect();
    let unknown: Vec<&String> = got
        .keys()
        .filter(|id| !expected.contains_key(*id))
        .collect();
    eprintln!(
        "{} distinct ids read, {} missing, {} repeated, {} unknown",
        got.len(),
        missing.len(),
        repeated.len(),
        unknown.len()
    );
    assert!(
        missing.is_empty() && repeated.is_empty() && unknown.is_empty(),
        "{} missing (e.g. {:?}), {} repeated (e.g. {:?}), {} unknown (e.g. {:?})",
        missing.len(),
        &missing[..missing.len().min(5)],
        repeated.len(),
        &repeated[..repeated.len().min(5)],
        unknown.len(),
        &unknown[..unknown.len().min(5)]
    );
}

/// Waits until the warnings topic holds at least `n` warnings (read `read_committed`).
pub fn wait_for_warnings(topic: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = read_all(topic, Duration::from_secs(30)).len();
        if got >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {got} of {n} warnings");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The address `churnwatch notify` serves `/metrics` on, from its log line `notify:
/// serving … address=HOST:PORT`.
pub fn notify_address(n: &Churnwatch) -> String {
    n.log_text()
        .lines()
        .filter(|l| l.contains("notify: serving"))
        .find_map(|l| {
            let rest = &l[l.find("address=")? + "address=".len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .expect("the notifier's address in its log")
}

/// The Prometheus text page of a notifier.
pub fn notify_metrics(n: &Churnwatch) -> String {
    scrape(&notify_address(n))
}

/// `GET http://{address}/metrics`.
pub fn scrape(address: &str) -> String {
    let mut reply = ureq::get(&format!("http://{address}/metrics"))
        .call()
        .expect("scraping /metrics");
    reply.body_mut().read_to_string().expect("metrics text")
}

/// The value of one sample line of a Prometheus text page (0 when absent).
pub fn sample(page: &str, line_start: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}
