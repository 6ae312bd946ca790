//! The notifier through a real broker to local receivers (issue 14): delivery latency at
//! 100 alerts/s, and the most alerts/s one notifier delivers.
//!
//! `cargo bench --bench notify [-- ROUNDS [ALERTS]]` with the broker of
//! `scripts/kafka-local.sh start` (or `TEST_KAFKA_BROKERS`); default 3 rounds, 20 000
//! alerts for the throughput part. `NOTIFY_BENCH=latency,throughput,down` picks parts
//! (default all).
//!
//! Every run starts `churnwatch notify` as a process of its own (as the delivery tests
//! do) with a fresh consumer group and topics, and a tutor directory of eight tutors,
//! each with a webhook channel of her own (no rate limit) at the receivers of
//! tests/receivers, quiet hours "none" and `min_severity = "NOTICE"`, so that nothing is
//! held and nothing merged: the figures are the notifier's, not its policy's.
//!
//! - **latency**: Protobuf `churnwatch.v1.Warning`s (`notify: true`, `emitted_at_ms` the
//!   wall clock when each is handed to the producer) at 100 alerts/s for 30 s, paced,
//!   round-robin over the eight tutors; latency per alert = the receiver's wall clock
//!   when it accepted the alert − `emitted_at_ms` (one machine, one clock). Twice per
//!   round: produced in transactions committed every 100 ms, as `churnwatch run`
//!   produces exactly once (its default on a broker with transactions), so that a
//!   `read_committed` reader sees a warning only once its transaction commits, which is
//!   part of the wait a tutor sees; and without transactions (as `run` at least once),
//!   which leaves the notifier's own share. Medians over rounds of p50, p99 and max.
//! - **throughput**: ALERTS alerts already on the topic, then the notifier started;
//!   alerts/s from its start (process start and group join included) and from its first
//!   delivery to the last delivery at the receivers. Then the same with receivers that
//!   answer after 20 ms (a slow service): one request at a time per channel bounds a
//!   channel to 50 a second, so eight channels far above that show the queues working in
//!   parallel. Run with `notify.queue_capacity` at ALERTS, so that a backlog stays in
//!   the channels' queues; one more run with the default capacity (256) shows what a
//!   backlog larger than the queues does (parked on the retry topic, tried again
//!   `park_delay` later).
//! - **down**: the latency run (transactions) with one of the eight channels answering
//!   503 for its whole length: the other seven's latency, and when the down channel's
//!   alerts arrived once it is back.
//!
//! During each part `vmstat 1` runs beside it; the mean of its `st` (steal) and `id`
//! (idle) columns is printed with the figures.

#[path = "../tests/kafka_support/mod.rs"]
mod kafka_support;
#[path = "../tests/receivers/mod.rs"]
mod receivers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use churnwatch::clock::wall_ms;
use churnwatch::proto::v1;
use kafka_support::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use receivers::*;

const PARTITIONS: i32 = 4;
const TUTORS: usize = 8;
const RATE: u64 = 100;
const LENGTH: Duration = Duration::from_secs(30);
/// How `churnwatch run` commits a transaction (kafka.commit_interval's default).
const TRANSACTION_EVERY: Duration = Duration::from_millis(100);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
    let alerts: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let parts = std::env::var("NOTIFY_BENCH").unwrap_or_else(|_| "latency,throughput,down".into());
    let wants = |part: &str| parts.split(',').any(|p| p.trim() == part);
    require_broker();
    let secret = std::env::temp_dir().join(unique("bench-webhook-secret"));
    std::fs::write(&secret, WEBHOOK_SECRET).expect("writing the webhook secret");

    if wants("latency") {
        for produced in [Produce::Transactions, Produce::Plain] {
            let mut rounds_of = Vec::new();
            for round in 1..=rounds {
                let vm = Vmstat::start();
                let l = latency(&secret, produced, None);
                let (steal, idle) = vm.stop();
                println!(
                    "latency round {round} ({}): {} alerts at {:.1} alerts/s: p50 {} ms, \
                     p99 {} ms, max {} ms (vmstat: steal {steal:.1} %, idle {idle:.0} %)",
                    produced.name(),
                    l.count,
                    l.rate,
                    l.p50,
                    l.p99,
                    l.max
                );
                rounds_of.push(l);
            }
            println!(
                "latency median of {rounds} rounds ({}): p50 {} ms, p99 {} ms, max {} ms",
                produced.name(),
                median_i(rounds_of.iter().map(|l| l.p50)),
                median_i(rounds_of.iter().map(|l| l.p99)),
                median_i(rounds_of.iter().map(|l| l.max)),
            );
        }
    }

    if wants("throughput") {
        for (delay, capacity) in [
            (Duration::ZERO, alerts),
            (Duration::from_millis(20), alerts),
            (Duration::ZERO, 256),
        ] {
            let mut from_start = Vec::new();
            let mut from_first = Vec::new();
            // The run with the default capacity waits on park_delay: one round says it.
            let n_rounds = if capacity == alerts { rounds } else { 1 };
            for round in 1..=n_rounds {
                let vm = Vmstat::start();
                let t = throughput(&secret, alerts, delay, capacity);
                let (steal, idle) = vm.stop();
                println!(
                    "throughput round {round} (receivers answer after {} ms, queue_capacity \
                     {capacity}): {} alerts, {:.1} s from the notifier's start ({:.1} s to \
                     its first delivery): {:.0} alerts/s from start, {:.0} alerts/s from the \
                     first delivery; {} parked (vmstat: steal {steal:.1} %, idle {idle:.0} %)",
                    delay.as_millis(),
                    t.alerts,
                    t.total_secs,
                    t.first_secs,
                    t.alerts as f64 / t.total_secs,
                    t.alerts as f64 / (t.total_secs - t.first_secs),
                    t.parked
                );
                from_start.push(t.alerts as f64 / t.total_secs);
                from_first.push(t.alerts as f64 / (t.total_secs - t.first_secs));
            }
            println!(
                "throughput median of {n_rounds} (receivers answer after {} ms, queue_capacity \
                 {capacity}): {:.0} alerts/s from start, {:.0} alerts/s from the first delivery",
                delay.as_millis(),
                median_f(&mut from_start),
                median_f(&mut from_first),
            );
        }
    }

    if wants("down") {
        let vm = Vmstat::start();
        let l = latency(&secret, Produce::Transactions, Some(0));
        let (steal, idle) = vm.stop();
        println!(
            "latency with channel t0 down for the run (transactions): the other {} channels' \
             {} alerts: p50 {} ms, p99 {} ms, max {} ms; t0's {} alerts: {} (vmstat: steal \
             {steal:.1} %, idle {idle:.0} %)",
            TUTORS - 1,
            l.count,
            l.p50,
            l.p99,
            l.max,
            l.down_alerts,
            l.down_note
        );
    }
}

#[derive(Copy, Clone, PartialEq)]
enum Produce {
    /// In transactions committed every 100 ms, as `run` exactly once.
    Transactions,
    /// Without transactions (idempotent), as `run` at least once.
    Plain,
}

impl Produce {
    fn name(self) -> &'static str {
        match self {
            Produce::Transactions => "produced in 100 ms transactions",
            Produce::Plain => "produced without transactions",
        }
    }
}

fn median_i(v: impl Iterator<Item = i64>) -> i64 {
    let mut v: Vec<i64> = v.collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn median_f(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn tutor(i: usize) -> String {
    format!("t{}", i % TUTORS)
}

/// One warning as the engine writes it (Protobuf), for tutor `t{i % 8}`.
fn warning(run: &str, i: usize, emitted_at_ms: i64) -> (String, Vec<u8>) {
    let id = format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(format!("{run}/{i}").as_bytes())
    );
    let record = WarningRecord {
        id: &id,
        kind: v1::WarningKind::SegmentDowngrade,
        severity: v1::Severity::Warning,
        member: Some(format!("m{i}")),
        group: format!("g{}", i % 40),
        tutor: &tutor(i),
        event_time_ms: emitted_at_ms - 1_000,
        emitted_at_ms,
        notify: true,
    }
    .encode();
    (id, record)
}

/// Eight tutors, each with a webhook channel of her own; nothing held, nothing digested.
fn directory(base: &str, secret: &std::path::Path) -> String {
    let mut d = String::from(
        "page_url = \"http://127.0.0.1:9180/tutors\"\nfallback = \"t0\"\n[defaults]\n\
         quiet_hours = \"none\"\nmin_severity = \"NOTICE\"\n",
    );
    for t in 0..TUTORS {
        d.push_str(&format!(
            "[channels.t{t}]\nkind = \"webhook\"\nurl = \"{base}/webhook/t{t}\"\n\
             secret_file = \"{}\"\n[tutors.t{t}]\nname = \"Tutor {t}\"\nchannels = [\"t{t}\"]\n",
            secret.display()
        ));
    }
    d
}

/// A fresh warnings topic and a notifier on it (not started yet).
struct Setup {
    warnings_topic: String,
    sets: Vec<String>,
}

fn setup(rx: &Receivers, secret: &std::path::Path, extra: &[String]) -> Setup {
    let warnings_topic = unique("bench-notify-warnings");
    create_topic(&warnings_topic, PARTITIONS);
    let dir = std::env::temp_dir().join(unique("bench-notify"));
    std::fs::create_dir_all(&dir).expect("a bench directory");
    let path = dir.join("tutors.toml");
    std::fs::write(&path, directory(&rx.base(), secret)).expect("writing the directory");
    let mut sets = vec![
        format!("kafka.brokers={}", brokers()),
        format!("kafka.warnings_topic={warnings_topic}"),
        format!("notify.group_id={}", unique("bench-notify-group")),
        format!("notify.directory={}", path.display()),
        format!("notify.dead_letter_topic={}", unique("bench-notify-dlq")),
        format!("notify.retry_topic={}", unique("bench-notify-retry")),
        format!(
            "notify.delivered_topic={}",
            unique("bench-notify-delivered")
        ),
        "notify.bind=127.0.0.1:0".to_owned(),
    ];
    sets.extend(extra.iter().cloned());
    Setup {
        warnings_topic,
        sets,
    }
}

fn start_notifier(s: &Setup, log: &str) -> Churnwatch {
    let mut n = Churnwatch::start_command(&["notify"], &s.sets, None, &unique(log));
    n.wait_for_log("notify: serving", Duration::from_secs(60));
    n
}

/// A producer configured as `churnwatch run`'s (linger 5 ms, lz4, Nagle off).
fn producer(transactional: bool) -> ThreadedProducer<DefaultProducerContext> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("socket.nagle.disable", "true")
        .set("enable.idempotence", "true")
        .set("queue.buffering.max.messages", "1000000");
    if transactional {
        c.set("transactional.id", unique("bench-notify-txn"))
            .set("transaction.timeout.ms", "10000");
    }
    // Extra producer properties for experiments: NOTIFY_BENCH_PRODUCER="a=1 b=2".
    if let Ok(extra) = std::env::var("NOTIFY_BENCH_PRODUCER") {
        for kv in extra.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                c.set(k, v);
            }
        }
    }
    let p: ThreadedProducer<DefaultProducerContext> = c.create().expect("a producer");
    if transactional {
        p.init_transactions(Duration::from_secs(30))
            .expect("init_transactions");
    }
    p
}

/// Warning id → the wall clock (ms) when a receiver accepted it, first acceptance.
fn arrivals(rx: &Receivers) -> HashMap<String, i64> {
    let mut at = HashMap::new();
    for a in rx.accepted() {
        for r in a.refs {
            at.entry(r).or_insert(a.wall_ms);
        }
    }
    at
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    true
}

struct Latency {
    count: usize,
    rate: f64,
    p50: i64,
    p99: i64,
    max: i64,
    down_alerts: usize,
    down_note: String,
}

/// One latency run; `down`: a tutor whose channel answers 503 throughout (her alerts
/// are left out of the percentiles).
fn latency(secret: &std::path::Path, produced: Produce, down: Option<usize>) -> Latency {
    let rx = Receivers::start();
    let s = setup(&rx, secret, &[]);
    let run = unique("lat");
    let n = start_notifier(&s, "bench-notify-latency");

    // Warm-up: one alert per channel through the producer of the measured run (in a
    // transaction of its own when it is transactional), until all eight arrive, so that
    // the group join, the partitions' assignment, the producer's topic metadata and the
    // first connections are behind the measured run (a producer's first record waits up
    // to a second for the topic's metadata; `run` learns it at start).
    let transactional = produced == Produce::Transactions;
    let p = producer(transactional);
    let t = Duration::from_secs(30);
    if transactional {
        p.begin_transaction().expect("begin");
    }
    let warm_ids: Vec<String> = (0..TUTORS)
        .map(|i| {
            let (id, record) = warning(&format!("{run}-warm"), i, wall_ms());
            let key = format!("m{i}");
            send_waiting(
                &p,
                BaseRecord::to(&s.warnings_topic).key(&key).payload(&record),
            );
            id
        })
        .collect();
    if transactional {
        p.commit_transaction(t).expect("commit");
    }
    p.flush(t).expect("flush");
    assert!(
        wait_until(Duration::from_secs(60), || {
            let at = arrivals(&rx);
            warm_ids.iter().all(|id| at.contains_key(id))
        }),
        "the warm-up alerts did not arrive; log: {}",
        n.log.display()
    );

    let down_receiver = down.map(|t| format!("webhook/t{t}"));
    if let Some(r) = &down_receiver {
        rx.down_for(r, LENGTH + Duration::from_secs(2));
    }
    let up_at = Instant::now() + LENGTH + Duration::from_secs(2);
    let up_at_ms = wall_ms() + (LENGTH + Duration::from_secs(2)).as_millis() as i64;

    let total = (RATE * LENGTH.as_secs()) as usize;
    let interval = Duration::from_secs_f64(1.0 / RATE as f64);
    let mut emitted: HashMap<String, (usize, i64)> = HashMap::with_capacity(total);
    let started = Instant::now();
    let mut txn_since = None;
    let mut commits = Vec::new();
    for i in 0..total {
        let due = started + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if transactional && txn_since.is_none() {
            p.begin_transaction().expect("begin");
            txn_since = Some(Instant::now());
        }
        let at = wall_ms();
        let (id, record) = warning(&run, i, at);
        let key = format!("m{i}");
        send_waiting(
            &p,
            BaseRecord::to(&s.warnings_topic).key(&key).payload(&record),
        );
        emitted.insert(id, (i, at));
        if txn_since.is_some_and(|since| since.elapsed() >= TRANSACTION_EVERY) {
            let c = Instant::now();
            p.commit_transaction(t).expect("commit");
            commits.push(c.elapsed());
            txn_since = None;
        }
    }
    if txn_since.is_some() {
        p.commit_transaction(t).expect("commit");
    }
    p.flush(t).expect("flush");
    let rate = total as f64 / started.elapsed().as_secs_f64();

    let counted = |id: &String| down.is_none_or(|d| emitted[id].0 % TUTORS != d);
    let delivered = wait_until(Duration::from_secs(60), || {
        let at = arrivals(&rx);
        emitted
            .keys()
            .filter(|id| counted(id))
            .all(|id| at.contains_key(id))
    });
    assert!(delivered, "alerts missing; log: {}", n.log.display());
    let mut down_note = String::new();
    let mut down_alerts = 0;
    if let Some(d) = down {
        down_alerts = emitted.values().filter(|(i, _)| i % TUTORS == d).count();
        let theirs = |at: &HashMap<String, i64>| {
            emitted
                .iter()
                .filter(|(_, (i, _))| i % TUTORS == d)
                .filter_map(|(id, _)| at.get(id).copied())
                .collect::<Vec<i64>>()
        };
        let early = theirs(&arrivals(&rx)).len();
        let back = up_at.saturating_duration_since(Instant::now());
        wait_until(back + Duration::from_secs(120), || {
            theirs(&arrivals(&rx)).len() == down_alerts
        });
        let got = theirs(&arrivals(&rx));
        down_note = format!(
            "{early} delivered while it was down (must be 0), {} of them delivered within \
             120 s of its return, the last {:.1} s after it",
            got.len(),
            got.iter()
                .max()
                .map_or(0.0, |m| (m - up_at_ms) as f64 / 1000.0)
        );
    }
    let _ = n.stop();

    let at = arrivals(&rx);
    if !commits.is_empty() {
        commits.sort_unstable();
        println!(
            "  {} transactions, commit_transaction took p50 {} ms, max {} ms",
            commits.len(),
            commits[commits.len() / 2].as_millis(),
            commits[commits.len() - 1].as_millis()
        );
    }
    if let Ok(dir) = std::env::var("NOTIFY_BENCH_DUMP") {
        let mut rows: Vec<(usize, i64, i64)> = emitted
            .iter()
            .filter_map(|(id, (i, e))| Some((*i, *e, *at.get(id)?)))
            .collect();
        rows.sort_unstable();
        let text: String = rows
            .iter()
            .map(|(i, e, a)| format!("{i},{},{e},{a},{}\n", i % TUTORS, a - e))
            .collect();
        let path = std::path::Path::new(&dir).join(format!("{run}.csv"));
        std::fs::write(
            &path,
            format!("i,tutor,emitted_ms,arrived_ms,latency_ms\n{text}"),
        )
        .expect("writing the dump");
        println!("  per-alert latencies: {}", path.display());
    }
    let mut lat: Vec<i64> = emitted
        .iter()
        .filter(|(id, _)| counted(id))
        .map(|(id, (_, e))| at[id] - e)
        .collect();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    Latency {
        count: lat.len(),
        rate,
        p50: pct(0.5),
        p99: pct(0.99),
        max: lat[lat.len() - 1],
        down_alerts,
        down_note,
    }
}

struct Throughput {
    alerts: usize,
    total_secs: f64,
    first_secs: f64,
    parked: f64,
}

/// `alerts` alerts on the topic, then the notifier started: seconds from its start to
/// the first and to the last delivery.
fn throughput(
    secret: &std::path::Path,
    alerts: usize,
    delay: Duration,
    capacity: usize,
) -> Throughput {
    let rx = Receivers::start();
    rx.set_delay(delay);
    let s = setup(&rx, secret, &[format!("notify.queue_capacity={capacity}")]);
    let run = unique("thr");
    let p = producer(false);
    let now = wall_ms();
    for i in 0..alerts {
        let (_, record) = warning(&run, i, now);
        let key = format!("m{i}");
        send_waiting(
            &p,
            BaseRecord::to(&s.warnings_topic).key(&key).payload(&record),
        );
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    drop(p);

    let started = Instant::now();
    let mut n = start_notifier(&s, "bench-notify-throughput");
    let address = notify_address(&n);
    let done = wait_until(Duration::from_secs(600), || {
        rx.accepted().iter().map(|a| a.refs.len()).sum::<usize>() >= alerts
    });
    assert!(
        done && n.is_running(),
        "not all delivered; log: {}",
        n.log.display()
    );
    let accepted = rx.accepted();
    let first = accepted.iter().map(|a| a.at).min().expect("deliveries");
    let last = accepted.iter().map(|a| a.at).max().expect("deliveries");
    let page = scrape(&address);
    let parked = sample(
        &page,
        "churnwatch_notify_payloads_total{channel_kind=\"webhook\",outcome=\"parked\"}",
    );
    let _ = n.stop();
    Throughput {
        alerts: accepted.iter().map(|a| a.refs.len()).sum(),
        total_secs: last.duration_since(started).as_secs_f64(),
        first_secs: first.duration_since(started).as_secs_f64(),
        parked,
    }
}

/// `vmstat 1` beside a part of the bench: the mean steal and idle it saw.
struct Vmstat {
    child: Option<Child>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Vmstat {
    fn start() -> Vmstat {
        let (tx, lines) = std::sync::mpsc::channel();
        let child = Command::new("vmstat")
            .arg("1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|mut c| {
                let out = c.stdout.take().expect("piped stdout");
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                });
                c
            });
        Vmstat { child, lines }
    }

    /// Mean `st` and `id` over the samples (the first line, since boot, left out).
    fn stop(mut self) -> (f64, f64) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut header: Vec<String> = Vec::new();
        let mut samples = Vec::new();
        for line in self.lines.try_iter() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.contains(&"st") {
                header = cols.iter().map(|c| c.to_string()).collect();
            } else if !header.is_empty() && cols.len() == header.len() {
                samples.push(cols.iter().map(|c| c.parse().unwrap_or(0.0)).collect());
            }
        }
        let col = |name: &str| header.iter().position(|h| h == name);
        let mean = |i: Option<usize>| -> f64 {
            let v: Vec<f64> = samples
                .iter()
                .skip(1)
                .filter_map(|s: &Vec<f64>| i.map(|i| s[i]))
                .collect();
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        (mean(col("st")), mean(col("id")))
    }
}
