//! `churnwatch notify` as a process: the Kafka and HTTP edge around the pure policy,
//! outbox and ledger. Reads the warnings topic `read_committed` (and the retry topic) in
//! its own consumer group, offers each warning to the policy on the wall clock, hands
//! what may go to one sender task per channel, and commits a partition's offset only up
//! to its oldest warning not yet delivered, dead-lettered or parked.
//!
//! Topics (all under `[notify]`):
//! - the retry topic: payloads of a channel whose queue is full, each with the instant
//!   it may be tried again; read back by the same consumer, a partition paused until its
//!   head is due; sent on when the channel's queue has room, parked again otherwise;
//! - the dead-letter topic: payloads no receiver took, with `churnwatch-reason`;
//! - the delivered topic: one record per delivered payload (its channel and warning
//!   ids), read back at start, so that warnings re-read after a crash (everything after
//!   the committed offset, held ones included) are not sent again where they went.
//!
//! Rebalances are eager (the notifier shares `run`'s client settings): on a revocation
//! all in-memory policy state is dropped, and whoever owns the partitions next starts
//! from their committed offsets; the delivered ids stay, so that a partition coming back
//! repeats nothing this instance sent.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::directory::{ChannelKind, Directory};
use super::ledger::{Ledger, Source};
use super::metrics::{NotifyMetrics, Outcome};
use super::outbox::{Outbox, Payload};
use super::policy::{Message, MessageKind, Offered, Policy};
use super::recent::RecentSet;
use super::retry::Backoff;
use super::sender::{self, Clock, Done, Job};
use super::Alert;
use crate::config::{Config, Encoding};
use crate::kafka::clients::{consumer_config, producer_config};
use crate::model::{EventTime, Span};

/// Header naming why a payload was dead-lettered.
pub const REASON_HEADER: &str = "churnwatch-reason";

/// How often the wall clock is consulted for quiet hours, digests, rate windows and
/// parked payloads coming due.
const TICK: Duration = Duration::from_millis(50);

fn duration(s: Span) -> Duration {
    Duration::from_millis(s.as_millis().max(0) as u64)
}

/// A parked payload, as the retry topic holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Parked {
    channel: String,
    kind: ChannelKind,
    message: MessageKind,
    desk: String,
    content: String,
    ids: Vec<String>,
    emitted_ms: Vec<i64>,
    at_ms: i64,
    first_tried_ms: Option<i64>,
    not_before_ms: i64,
}

impl Parked {
    fn of(job: &Job, not_before_ms: i64) -> Parked {
        let p = &job.payload;
        Parked {
            channel: p.channel.clone(),
            kind: p.kind,
            message: p.message,
            desk: p.desk.clone(),
            content: p.content.clone(),
            ids: p.ids.clone(),
            emitted_ms: p.emitted.iter().map(|t| t.as_millis()).collect(),
            at_ms: p.at.as_millis(),
            first_tried_ms: job.first_tried_ms,
            not_before_ms,
        }
    }

    fn into_job(self, source: Source) -> Job {
        Job {
            payload: Payload {
                channel: self.channel,
                kind: self.kind,
                message: self.message,
                desk: self.desk,
                content: self.content,
                ids: self.ids,
                emitted: self
                    .emitted_ms
                    .into_iter()
                    .map(EventTime::from_millis)
                    .collect(),
                at: EventTime::from_millis(self.at_ms),
            },
            first_tried_ms: self.first_tried_ms,
            parked: Some(source),
        }
    }
}

/// One delivered payload, as the delivered topic holds it.
#[derive(Debug, Serialize, Deserialize)]
struct DeliveredRecord {
    channel: String,
    ids: Vec<String>,
}

/// Notes revocations, so that the loop drops the state of partitions it no longer owns.
#[derive(Default)]
struct NotifyContext {
    revoked: AtomicBool,
}

impl ClientContext for NotifyContext {}

impl ConsumerContext for NotifyContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.revoked.store(true, Ordering::SeqCst);
        }
    }
}

/// What a produce was for, reported when the broker acknowledged it.
enum Acked {
    /// A payload parked from its channel's full queue: its deliveries are paid.
    Parked { ids: Vec<String>, kind: ChannelKind },
    /// A parked payload parked again: its old retry record is done.
    Reparked { old: Source },
    /// A payload dead-lettered.
    DeadLettered { job: Job },
    /// A record that is not a warning, dead-lettered unchanged.
    Refused { source: Source },
}

struct ChannelQueue {
    jobs: mpsc::Sender<Job>,
    /// Its receiver's last attempt failed: a full queue here means "down", not "busy".
    failing: Arc<AtomicBool>,
}

/// The notifier's state, owned by one task.
struct Notifier {
    config: Config,
    encoding: Encoding,
    consumer: Arc<StreamConsumer<NotifyContext>>,
    producer: FutureProducer,
    directory: watch::Sender<Arc<Directory>>,
    directory_path: PathBuf,
    directory_stamp: Option<(std::time::SystemTime, u64)>,
    policy: Policy,
    outbox: Outbox,
    ledger: Ledger,
    delivered: RecentSet<(String, String)>,
    queues: HashMap<String, ChannelQueue>,
    /// Retry-topic records held until due, per partition, oldest first.
    deferred: BTreeMap<i32, VecDeque<(Source, Parked)>>,
    /// Retry-topic partitions paused until their head is due.
    paused: BTreeSet<i32>,
    done_tx: mpsc::UnboundedSender<(String, Done)>,
    acks_tx: mpsc::UnboundedSender<Option<Acked>>,
    stop: watch::Sender<bool>,
    client: reqwest::Client,
    metrics: Arc<NotifyMetrics>,
    clock: Clock,
    in_flight: usize,
}

/// Runs the notifier until SIGINT or SIGTERM.
pub fn run(config: &Config, directory: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(config.clone(), directory))
}

async fn serve(config: Config, directory: Option<PathBuf>) -> anyhow::Result<()> {
    let n = &config.notify;
    let path = directory
        .or_else(|| (!n.directory.is_empty()).then(|| PathBuf::from(&n.directory)))
        .context("no tutor directory: give --directory FILE or notify.directory")?;
    let dir = Directory::load(&path)?;
    info!(
        directory = %path.display(),
        tutors = dir.tutors.len(),
        channels = dir.channels.len(),
        group = %n.group_id,
        "starting churnwatch notify"
    );
    let metrics = Arc::new(NotifyMetrics::new());
    if !n.bind.is_empty() {
        let listener = tokio::net::TcpListener::bind(&n.bind)
            .await
            .with_context(|| format!("binding notify.bind {}", n.bind))?;
        let address = listener.local_addr()?;
        info!(%address, "notify: serving /metrics and /healthz");
        let m = metrics.clone();
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let m = m.clone();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            m.render(),
                        )
                    }
                }),
            );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                error!(error = %e, "the notifier's HTTP server stopped");
            }
        });
    }

    ensure_topics(&config).await?;
    let delivered = load_delivered(&config).await?;
    info!(ids = delivered.len(), "delivered ids read back");

    let mut kafka = config.kafka.clone();
    kafka.group_id = n.group_id.clone();
    let mut cc = consumer_config(&kafka)?;
    cc.set("isolation.level", "read_committed")
        .set("client.id", "churnwatch-notify")
        // `run`'s consumer lag metric reads librdkafka's statistics; the notifier has none.
        .set("statistics.interval.ms", "0")
        .set_log_level(RDKafkaLogLevel::Warning);
    let consumer: StreamConsumer<NotifyContext> = cc
        .create_with_context(NotifyContext::default())
        .context("creating the notifier's consumer")?;
    consumer
        .subscribe(&[&kafka.warnings_topic, &n.retry_topic])
        .context("subscribing to the warnings and retry topics")?;
    let producer: FutureProducer = producer_config(&kafka, None)?
        .set("client.id", "churnwatch-notify")
        .create()
        .context("creating the notifier's producer")?;

    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (acks_tx, mut acks_rx) = mpsc::unbounded_channel();
    let client = reqwest::Client::builder()
        .connect_timeout(duration(n.http_timeout))
        .user_agent(concat!("churnwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let stamp = stamp(&path);
    let mut me = Notifier {
        encoding: kafka.warnings_encoding,
        consumer: Arc::new(consumer),
        producer,
        directory: watch::channel(Arc::new(dir)).0,
        directory_path: path,
        directory_stamp: stamp,
        policy: Policy::new(n.delivered_ids),
        outbox: Outbox::default(),
        ledger: Ledger::default(),
        delivered,
        queues: HashMap::new(),
        deferred: BTreeMap::new(),
        paused: BTreeSet::new(),
        done_tx,
        acks_tx,
        stop: watch::channel(false).0,
        client,
        metrics,
        clock: sender::wall_ms,
        in_flight: 0,
        config,
    };

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(TICK);
    let commit_every = duration(me.config.notify.commit_interval);
    let reload_every = duration(me.config.notify.reload_interval);
    let (mut last_commit, mut last_reload) = (Instant::now(), Instant::now());
    let consumer = me.consumer.clone();
    loop {
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            Some((channel, done)) = done_rx.recv() => me.finished(&channel, done),
            Some(acked) = acks_rx.recv() => me.acked(acked),
            _ = tick.tick() => {
                me.on_tick();
                if last_reload.elapsed() >= reload_every {
                    last_reload = Instant::now();
                    me.reload_if_changed();
                }
                if last_commit.elapsed() >= commit_every {
                    last_commit = Instant::now();
                    me.commit(CommitMode::Async);
                }
            }
            message = consumer.recv() => match message {
                Ok(m) => me.received(&m),
                Err(e) => warn!(error = %e, "reading the warnings topic"),
            },
        }
    }
    info!("stopping: finishing deliveries in flight");
    me.drain(&mut done_rx, &mut acks_rx).await;
    Ok(())
}

/// Creates the notifier's topics if the cluster does not have them (the broker may not
/// create topics on first use).
async fn ensure_topics(config: &Config) -> anyhow::Result<()> {
    let n = &config.notify;
    let mut cc = rdkafka::ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka.brokers);
    for (k, v) in &config.kafka.properties {
        cc.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = cc.create()?;
    let topics = [
        NewTopic::new(&n.retry_topic, 1, TopicReplication::Fixed(-1)),
        NewTopic::new(&n.dead_letter_topic, 1, TopicReplication::Fixed(-1)),
        NewTopic::new(&n.delivered_topic, 1, TopicReplication::Fixed(-1))
            .set("retention.ms", "604800000"),
    ];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .context("creating the notifier's topics")?;
    for r in results {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// Reads the delivered topic from its start to its end.
async fn load_delivered(config: &Config) -> anyhow::Result<RecentSet<(String, String)>> {
    let n = &config.notify;
    let mut set = RecentSet::new(n.delivered_ids);
    let mut kafka = config.kafka.clone();
    kafka.group_id = format!("{}-delivered-reader", n.group_id);
    let mut cc = consumer_config(&kafka)?;
    cc.set("statistics.interval.ms", "0")
        .set_log_level(RDKafkaLogLevel::Warning);
    let consumer: BaseConsumer = cc.create()?;
    let topic = n.delivered_topic.clone();
    let records = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<u8>>> {
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
        let mut ends = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(&topic, p.id(), timeout)?;
                if high > low {
                    ends.insert(p.id(), high);
                    tpl.add_partition_offset(&topic, p.id(), Offset::Offset(low))?;
                }
            }
        }
        let mut out = Vec::new();
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ends.is_empty() && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    if let Some(v) = m.payload() {
                        out.push(v.to_vec());
                    }
                    if ends
                        .get(&m.partition())
                        .is_some_and(|end| m.offset() + 1 >= *end)
                    {
                        ends.remove(&m.partition());
                    }
                }
                Some(Err(e)) => warn!(error = %e, "reading the delivered topic"),
                None => {}
            }
        }
        if !ends.is_empty() {
            anyhow::bail!("the delivered topic could not be read to its end in 120 s");
        }
        Ok(out)
    })
    .await??;
    for r in records {
        if let Ok(d) = serde_json::from_slice::<DeliveredRecord>(&r) {
            for id in d.ids {
                set.insert(&(d.channel.clone(), id));
            }
        }
    }
    Ok(set)
}

fn stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn source_of(m: &rdkafka::message::BorrowedMessage<'_>) -> Source {
    Source {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
    }
}

impl Notifier {
    fn now(&self) -> EventTime {
        EventTime::from_millis((self.clock)())
    }

    fn received(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        self.take_revocation();
        let source = source_of(m);
        self.ledger.received(&source);
        let payload = m.payload().unwrap_or_default();
        if m.topic() == self.config.notify.retry_topic {
            match serde_json::from_slice::<Parked>(payload) {
                Ok(parked) => {
                    let queue = self.deferred.entry(source.partition).or_default();
                    queue.push_back((source, parked));
                    self.unpark_due();
                }
                Err(e) => self.refuse(m, source, &format!("not a parked payload: {e}")),
            }
            return;
        }
        let alert = match self.encoding {
            Encoding::Protobuf => Alert::from_protobuf(payload),
            Encoding::Json => Alert::from_json(payload),
        };
        let alert = match alert {
            Ok(a) => a,
            Err(e) => return self.refuse(m, source, &e.to_string()),
        };
        let id = alert.warning_id.clone();
        let now = self.now();
        let dir = self.directory.borrow().clone();
        let mut messages = Vec::new();
        match self.policy.offer(&dir, alert, now, &mut messages) {
            Offered::Routed => self.ledger.owe(&id, source),
            Offered::NotNotified | Offered::Repeated => self.ledger.settle(&source),
        }
        self.route(messages);
        self.release(now);
    }

    /// Hands each message's items to the outbox per channel, leaving out what a channel
    /// had delivered before (a re-read after a restart).
    fn route(&mut self, messages: Vec<Message>) {
        for id in self.policy.take_dropped() {
            self.ledger.paid(&id);
        }
        let mut already = 0;
        for m in messages {
            for item in &m.items {
                self.ledger.fan_out(&item.id(), m.channels.len());
            }
            for channel in &m.channels {
                let mut one = m.clone();
                one.channels = vec![channel.clone()];
                one.items.retain(|item| {
                    let id = item.id();
                    let sent = self.delivered.contains(&(channel.clone(), id.clone()));
                    if sent {
                        already += 1;
                        self.ledger.paid(&id);
                    }
                    !sent
                });
                if !one.items.is_empty() {
                    self.outbox.push(&one);
                }
            }
        }
        self.metrics.disposition("already_delivered", already);
    }

    /// Sends on what the outbox lets go at `now`.
    fn release(&mut self, now: EventTime) {
        let dir = self.directory.borrow().clone();
        let mut payloads = Vec::new();
        self.outbox.poll(&dir, now, &mut payloads);
        for p in payloads {
            self.enqueue(Job {
                payload: p,
                first_tried_ms: None,
                parked: None,
            });
        }
        self.metrics
            .policy_counts(&self.policy.counts, self.outbox.merged);
        self.metrics.owing(self.ledger.owing());
    }

    fn queue(&mut self, channel: &str) -> &ChannelQueue {
        if !self.queues.contains_key(channel) {
            let n = &self.config.notify;
            let (tx, rx) = mpsc::channel(n.queue_capacity.max(1));
            let settings = sender::Settings {
                timeout: duration(n.http_timeout),
                backoff: Backoff {
                    base: duration(n.backoff_base),
                    max: duration(n.backoff_max),
                },
                give_up_after: duration(n.give_up_after),
            };
            let failing = Arc::new(AtomicBool::new(false));
            tokio::spawn(sender::run(
                channel.to_owned(),
                rx,
                self.directory.subscribe(),
                self.client.clone(),
                settings,
                self.done_tx.clone(),
                self.metrics.clone(),
                failing.clone(),
                self.stop.subscribe(),
                self.clock,
            ));
            self.queues
                .insert(channel.to_owned(), ChannelQueue { jobs: tx, failing });
        }
        &self.queues[channel]
    }

    /// Puts `job` on its channel's queue, or parks it when the queue is full.
    fn enqueue(&mut self, job: Job) {
        let channel = job.payload.channel.clone();
        let queue = self.queue(&channel).jobs.clone();
        match queue.try_send(job) {
            Ok(()) => {
                self.in_flight += 1;
                self.metrics
                    .queue_depth(&channel, queue.max_capacity() - queue.capacity());
            }
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                self.park(job)
            }
        }
    }

    /// Parks `job` on the retry topic, to be tried again `park_delay` from now.
    fn park(&mut self, job: Job) {
        let not_before = (self.clock)() + self.config.notify.park_delay.as_millis();
        let record = Parked::of(&job, not_before);
        let acked = match job.parked.clone() {
            Some(old) => Acked::Reparked { old },
            None => Acked::Parked {
                ids: job.payload.ids.clone(),
                kind: job.payload.kind,
            },
        };
        let value = serde_json::to_vec(&record).unwrap_or_default();
        let topic = self.config.notify.retry_topic.clone();
        self.produce(
            topic,
            record.channel.clone(),
            value,
            OwnedHeaders::new(),
            acked,
        );
    }

    fn produce(
        &self,
        topic: String,
        key: String,
        value: Vec<u8>,
        headers: OwnedHeaders,
        acked: Acked,
    ) {
        let producer = self.producer.clone();
        let tx = self.acks_tx.clone();
        tokio::spawn(async move {
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .headers(headers);
            match producer.send(record, rdkafka::util::Timeout::Never).await {
                Ok(_) => {
                    let _ = tx.send(Some(acked));
                }
                Err((e, _)) => {
                    // Nothing is paid: the offsets stay uncommitted and the next start
                    // does it again.
                    error!(error = %e, topic, "producing; the record stays unfinished");
                    let _ = tx.send(None);
                }
            }
        });
    }

    /// A record that is not a warning goes to the dead-letter topic unchanged.
    fn refuse(&mut self, m: &rdkafka::message::BorrowedMessage<'_>, source: Source, reason: &str) {
        warn!(
            topic = m.topic(),
            partition = m.partition(),
            offset = m.offset(),
            reason,
            "dead-lettering a record"
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: REASON_HEADER,
                value: Some(reason),
            })
            .insert(Header {
                key: "churnwatch-source-topic",
                value: Some(m.topic()),
            })
            .insert(Header {
                key: "churnwatch-source-partition",
                value: Some(&m.partition().to_string()),
            })
            .insert(Header {
                key: "churnwatch-source-offset",
                value: Some(&m.offset().to_string()),
            });
        let key = m
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let value = m.payload().unwrap_or_default().to_vec();
        let topic = self.config.notify.dead_letter_topic.clone();
        self.produce(topic, key, value, headers, Acked::Refused { source });
    }

    fn finished(&mut self, channel: &str, done: Done) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match done {
            Done::Delivered { job, at_ms } => {
                let (kind, message) = (job.payload.kind, job.payload.message);
                self.metrics.payload(kind, Outcome::Delivered);
                for (id, emitted) in job.payload.ids.iter().zip(&job.payload.emitted) {
                    let seconds = (at_ms - emitted.as_millis()) as f64 / 1000.0;
                    self.metrics.delivered(kind, message, seconds);
                    self.delivered.insert(&(channel.to_owned(), id.clone()));
                }
                let record = DeliveredRecord {
                    channel: channel.to_owned(),
                    ids: job.payload.ids.clone(),
                };
                let value = serde_json::to_vec(&record).unwrap_or_default();
                // The delivered record only spares repeats: nothing waits for it.
                let topic = self.config.notify.delivered_topic.clone();
                let producer = self.producer.clone();
                let key = channel.to_owned();
                tokio::spawn(async move {
                    let r = FutureRecord::to(&topic).key(&key).payload(&value);
                    if let Err((e, _)) = producer.send(r, rdkafka::util::Timeout::Never).await {
                        warn!(error = %e, "recording a delivery");
                    }
                });
                self.pay(&job);
            }
            Done::Refused { job, reason } => {
                warn!(channel, reason = %reason, alerts = job.payload.ids.len(), "dead-lettering a payload");
                let record = Parked::of(&job, 0);
                let value = serde_json::to_vec(&record).unwrap_or_default();
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: REASON_HEADER,
                        value: Some(&reason),
                    })
                    .insert(Header {
                        key: "churnwatch-channel",
                        value: Some(channel),
                    })
                    .insert(Header {
                        key: "churnwatch-warning-ids",
                        value: Some(&job.payload.ids.join(",")),
                    });
                let topic = self.config.notify.dead_letter_topic.clone();
                self.produce(
                    topic,
                    channel.to_owned(),
                    value,
                    headers,
                    Acked::DeadLettered { job },
                );
            }
            Done::Interrupted { .. } => {}
        }
        if let Some(q) = self.queues.get(channel) {
            self.metrics
                .queue_depth(channel, q.jobs.max_capacity() - q.jobs.capacity());
        }
    }

    /// A payload is done: its alerts' deliveries, or the retry record it came from.
    fn pay(&mut self, job: &Job) {
        match &job.parked {
            Some(source) => self.ledger.settle(source),
            None => {
                for id in &job.payload.ids {
                    self.ledger.paid(id);
                }
            }
        }
    }

    fn acked(&mut self, acked: Option<Acked>) {
        match acked {
            None => {}
            Some(Acked::Parked { ids, kind }) => {
                self.metrics.payload(kind, Outcome::Parked);
                for id in &ids {
                    self.ledger.paid(id);
                }
            }
            Some(Acked::Reparked { old }) => {
                self.metrics.unparked("parked_again");
                self.ledger.settle(&old);
            }
            Some(Acked::DeadLettered { job }) => {
                self.metrics
                    .payload(job.payload.kind, Outcome::DeadLettered);
                self.pay(&job);
            }
            Some(Acked::Refused { source }) => self.ledger.settle(&source),
        }
    }

    fn on_tick(&mut self) {
        self.take_revocation();
        let now = self.now();
        let dir = self.directory.borrow().clone();
        let mut messages = Vec::new();
        self.policy.tick(&dir, now, &mut messages);
        self.route(messages);
        self.release(now);
        self.unpark_due();
    }

    /// Parked payloads whose time came go back to their channel, or are parked again
    /// when it is still full; a partition whose head is not due yet is paused.
    fn unpark_due(&mut self) {
        let now = (self.clock)();
        let topic = self.config.notify.retry_topic.clone();
        let partitions: Vec<i32> = self.deferred.keys().copied().collect();
        for partition in partitions {
            while let Some(queue) = self.deferred.get_mut(&partition) {
                let Some((_, head)) = queue.front() else {
                    break;
                };
                if head.not_before_ms > now {
                    if self.paused.insert(partition) {
                        self.set_paused(&topic, partition, true);
                    }
                    break;
                }
                let channel = head.channel.clone();
                let (room, failing) = {
                    let q = self.queue(&channel);
                    (q.jobs.capacity() > 0, q.failing.load(Ordering::Relaxed))
                };
                if !room && !failing {
                    // Busy, not down: it takes the payload at a later tick (the partition
                    // stays paused meanwhile) rather than after another park_delay.
                    if self.paused.insert(partition) {
                        self.set_paused(&topic, partition, true);
                    }
                    break;
                }
                let Some((source, parked)) = self
                    .deferred
                    .get_mut(&partition)
                    .and_then(VecDeque::pop_front)
                else {
                    break;
                };
                let job = parked.into_job(source);
                if room {
                    self.metrics.unparked("sent_on");
                    self.enqueue(job);
                } else {
                    // Still down: parked again, so that it holds up no other channel's.
                    self.park(job);
                }
            }
            if self
                .deferred
                .get(&partition)
                .is_some_and(VecDeque::is_empty)
            {
                self.deferred.remove(&partition);
                if self.paused.remove(&partition) {
                    self.set_paused(&topic, partition, false);
                }
            }
        }
    }

    fn set_paused(&self, topic: &str, partition: i32, paused: bool) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let r = if paused {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        if let Err(e) = r {
            warn!(error = %e, topic, partition, paused, "pausing the retry topic");
        }
    }

    /// After a revocation, whoever reads the partitions next starts from their committed
    /// offsets: what was held here is forgotten (it is still on the topic).
    fn take_revocation(&mut self) {
        if self
            .consumer
            .context()
            .revoked
            .swap(false, Ordering::SeqCst)
        {
            info!("partitions revoked: held alerts are left to the partitions' next owner");
            self.policy = Policy::new(self.config.notify.delivered_ids);
            self.outbox = Outbox::default();
            self.ledger.clear();
            self.deferred.clear();
            self.paused.clear();
        }
    }

    fn commit(&mut self, mode: CommitMode) {
        let positions = self.ledger.commits();
        if positions.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for s in &positions {
            if let Err(e) =
                tpl.add_partition_offset(&s.topic, s.partition, Offset::Offset(s.offset))
            {
                warn!(error = %e, "building the commit");
            }
        }
        let r = self.consumer.commit(&tpl, mode);
        self.metrics.commit(r.is_ok());
        if let Err(e) = r {
            warn!(error = %e, "committing the notifier's offsets");
        }
    }

    fn reload_if_changed(&mut self) {
        let now = stamp(&self.directory_path);
        if now == self.directory_stamp {
            return;
        }
        self.directory_stamp = now;
        match Directory::load(&self.directory_path) {
            Ok(dir) => {
                info!(
                    tutors = dir.tutors.len(),
                    channels = dir.channels.len(),
                    "tutor directory reloaded"
                );
                self.metrics.reload(true);
                self.directory.send_replace(Arc::new(dir));
            }
            Err(e) => {
                error!(error = %format!("{e:#}"), "tutor directory refused; keeping the one before");
                self.metrics.reload(false);
            }
        }
    }

    /// Lets deliveries in flight finish (at most `drain_timeout`), then stops the senders
    /// and commits what is done.
    async fn drain(
        &mut self,
        done_rx: &mut mpsc::UnboundedReceiver<(String, Done)>,
        acks_rx: &mut mpsc::UnboundedReceiver<Option<Acked>>,
    ) {
        let deadline = tokio::time::Instant::now() + duration(self.config.notify.drain_timeout);
        while self.in_flight > 0 {
            tokio::select! {
                Some((channel, done)) = done_rx.recv() => self.finished(&channel, done),
                Some(acked) = acks_rx.recv() => self.acked(acked),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let _ = self.stop.send(true);
        // Produces already under way (dead letters, parks) get their acknowledgements.
        let settle = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            tokio::select! {
                Some(acked) = acks_rx.recv() => self.acked(acked),
                _ = tokio::time::sleep_until(settle) => break,
            }
        }
        self.commit(CommitMode::Sync);
        info!(left_in_flight = self.in_flight, "notifier stopped");
    }
}

/// Reads a dead-lettered payload's reason (for tests and tools).
pub fn dead_letter_reason(headers: &rdkafka::message::BorrowedHeaders) -> Option<String> {
    headers
        .iter()
        .find(|h| h.key == REASON_HEADER)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
