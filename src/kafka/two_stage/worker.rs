//! One worker thread of a two-stage deployment: a member of the consumer group (subscribed
//! to the inputs and to the contributions topic) with its own transactional producer, as
//! a Kafka Streams stream thread is. The group gives it input partitions (member-stage
//! tasks) and contributions partitions (group-stage tasks); it runs them all on this
//! thread and commits their output, the contributions they publish and their offsets in
//! one transaction every `commit_interval` (EOS v2: the offsets are committed with the
//! consumer's group metadata, so a worker the group has moved on from is fenced).
//!
//! Rebalances are incremental (KIP-848, or cooperative-sticky under the classic
//! protocol): librdkafka calls back, inside `poll`, with the partitions added or taken
//! away, and only those tasks start or stop. Every record polled before is handled by
//! then (records are handled as they are polled), so a revocation commits the worker's
//! transaction first: whoever gets the tasks next starts exactly where this one stopped.
//!
//! Failure is crash-only: a transaction that cannot commit, an assignment lost to a
//! session timeout or a fenced producer ends the worker with the error, and the process
//! exits for its supervisor to restart it. Everything not committed is aborted by the
//! broker, and the tasks are rebuilt from the committed offsets wherever they land.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use super::layout::Layout;
use super::tasks::{parse_seq_metadata, seq_metadata, GroupTask, MemberTask};
use crate::alerts_feed::{AlertFeed, PendingAlert};
use crate::clock::wall_clock;
use crate::config::{Config, Encoding, GroupProtocol};
use crate::contributions;
use crate::decode::{JsonDecoder, ProtobufDecoder};
use crate::engine::{TimeMode, Warning};
use crate::kafka::clients::{instance_name, layer, producer_config};
use crate::kafka::emitter::lock;
use crate::kafka::records::{dead_letter_headers, WarningEncoder, SCHEMA_HEADER};
use crate::kafka::snapshots::{SnapshotLoader, SnapshotWriter};
use crate::kafka::{RunStats, Shutdown};
use crate::metrics::{Metrics, TopicCounters};
use crate::model::EventTime;
use crate::reject::Rejection;
use crate::settings::Settings;

/// Records handled per round before the worker publishes, ticks and maybe commits.
const ROUND: usize = 1024;
const POLL_WAIT: Duration = Duration::from_millis(50);
/// Bounds every blocking broker call: metadata, committed offsets, transactions.
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every worker of the process shares, read-only.
pub struct Shared {
    pub config: Config,
    pub settings: Settings,
    pub mode: TimeMode,
    pub layout: Layout,
    pub metrics: Arc<Metrics>,
    /// Per worker: it runs tasks and none of them is rebuilding.
    pub caught_up: Vec<AtomicBool>,
    /// The tutor page's live feed: this instance's tutor alerts, once committed.
    pub live: Option<Arc<AlertFeed>>,
    /// Every worker's tasks, for queries.
    pub holders: Holders,
}

/// Each worker's state, once its consumer exists.
#[derive(Default)]
pub struct Holders {
    workers: Mutex<Vec<Arc<WorkerCtx>>>,
}

impl Holders {
    pub fn register(&self, worker: Arc<WorkerCtx>) {
        lock(&self.workers).push(worker);
    }

    pub(super) fn workers(&self) -> Vec<Arc<WorkerCtx>> {
        lock(&self.workers).clone()
    }

    /// The member-stage and group-stage tasks the workers run now.
    pub fn tasks(&self) -> (Vec<u32>, Vec<u32>) {
        let (mut members, mut groups) = (Vec::new(), Vec::new());
        for worker in self.workers() {
            let state = worker.state();
            members.extend(state.member_tasks().map(|t| t.partition()));
            groups.extend(state.group_tasks().map(|(q, _)| q));
        }
        (members, groups)
    }
}

/// Consumer settings the two stages rest on: offsets only in transactions, transactional
/// input read committed, incremental rebalancing.
fn consumer_config(shared: &Shared, thread: usize) -> anyhow::Result<ClientConfig> {
    let k = &shared.config.kafka;
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        .set("auto.offset.reset", "earliest")
        .set("client.id", format!("churnwatch-t{thread}"))
        .set("socket.nagle.disable", "true");
    let protocol: &[(&str, &str)] = match k.group_protocol {
        GroupProtocol::Consumer => &[
            ("group.protocol", "consumer"),
            ("group.remote.assignor", "range"),
        ],
        GroupProtocol::Classic => &[
            ("group.protocol", "classic"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ],
    };
    let mut fixed = vec![
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("isolation.level", "read_committed"),
    ];
    fixed.extend_from_slice(protocol);
    layer(&mut c, k, &k.consumer_properties, &fixed)?;
    if !k.instance_id.is_empty() {
        c.set("group.instance.id", format!("{}-{thread}", k.instance_id));
    }
    Ok(c)
}

/// Unique per worker of every running instance; reused by the same worker after a
/// restart under static membership, which fences a predecessor still alive.
fn transactional_id(shared: &Shared, thread: usize) -> String {
    let k = &shared.config.kafka;
    format!("{}-{}-t{thread}", k.group_id, instance_name(k))
}

/// Says why a record was refused: the transaction's commit only counts the failures.
struct WorkerProducerCtx;

impl ClientContext for WorkerProducerCtx {}

impl ProducerContext for WorkerProducerCtx {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            error!(topic = m.topic(), partition = m.partition(), error = %e,
                   "a record was refused; its transaction cannot commit");
        }
    }
}

pub(super) struct WorkerCtx {
    state: Mutex<State>,
}

impl WorkerCtx {
    /// The worker's state, for a query: the worker takes this lock per record.
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl ClientContext for WorkerCtx {}

impl ConsumerContext for WorkerCtx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut state = lock(&self.state);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => state.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => state.revoke(consumer, tpl),
            other => Err(anyhow!("rebalance failed: {other:?}")),
        };
        if let Err(e) = result {
            state.fail(e);
        }
    }
}

pub(super) struct State {
    shared: Arc<Shared>,
    thread: usize,
    producer: BaseProducer<WorkerProducerCtx>,
    in_transaction: bool,
    /// Since when something handled or published awaits a commit.
    pending: Pending,
    members: BTreeMap<u32, MemberTask>,
    groups: BTreeMap<u32, GroupTask>,
    /// Each input topic's encoding and counters, looked up once rather than per record.
    inputs: Vec<(String, Encoding, TopicCounters)>,
    json: JsonDecoder,
    protobuf: ProtobufDecoder,
    encoder: WarningEncoder,
    out: Vec<Warning>,
    fatal: Option<anyhow::Error>,
    stopping: bool,
    stats: RunStats,
    /// Member tasks' snapshots (`state.snapshot_dir`; none when it is empty).
    loader: Option<SnapshotLoader>,
    writer: Option<SnapshotWriter>,
    /// Tutor alerts of the open transaction: live once it commits.
    alerts: Vec<PendingAlert>,
}

/// Runs worker `thread` until `shutdown`; its totals, or why it stopped.
pub fn run(shared: Arc<Shared>, thread: usize, shutdown: Shutdown) -> anyhow::Result<RunStats> {
    let k = &shared.config.kafka;
    let id = transactional_id(&shared, thread);
    let producer: BaseProducer<WorkerProducerCtx> = producer_config(k, Some(&id))?
        .create_with_context(WorkerProducerCtx)
        .context("creating the transactional producer")?;
    producer
        .init_transactions(BROKER_TIMEOUT)
        .context("initialising Kafka transactions (two stages need them)")?;
    let state = State {
        shared: shared.clone(),
        thread,
        producer,
        in_transaction: false,
        pending: Pending::default(),
        members: BTreeMap::new(),
        groups: BTreeMap::new(),
        inputs: k
            .inputs
            .iter()
            .map(|i| (i.topic.clone(), i.encoding, shared.metrics.topic(&i.topic)))
            .collect(),
        json: JsonDecoder::new(shared.config.input.max_message_bytes),
        protobuf: ProtobufDecoder::new(shared.config.input.max_message_bytes),
        encoder: WarningEncoder::new(k.warnings_encoding),
        out: Vec::new(),
        fatal: None,
        stopping: false,
        stats: RunStats::default(),
        loader: SnapshotLoader::new(&shared.config, shared.mode, shared.metrics.clone()),
        writer: SnapshotWriter::new(&shared.config, shared.mode, shared.metrics.clone()),
        alerts: Vec::new(),
    };
    let consumer: BaseConsumer<WorkerCtx> = consumer_config(&shared, thread)?
        .create_with_context(WorkerCtx {
            state: Mutex::new(state),
        })
        .context("creating the Kafka consumer")?;
    shared.holders.register(consumer.context().clone());
    let mut topics: Vec<&str> = k.inputs.iter().map(|i| i.topic.as_str()).collect();
    topics.push(&shared.layout.contributions);
    consumer
        .subscribe(&topics)
        .with_context(|| format!("subscribing to {topics:?}"))?;
    info!(thread, transactional_id = %id, "worker consuming");

    let commit_every = Duration::from_millis(k.commit_interval.as_millis().max(1) as u64);
    let tick_every = Duration::from_millis(k.tick_interval.as_millis().max(1) as u64);
    let mut last_tick = Instant::now();
    let result = loop {
        if shutdown.requested() {
            break Ok(());
        }
        let wall = wall_clock();
        let mut wait = POLL_WAIT;
        for _ in 0..ROUND {
            match consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => lock(&consumer.context().state).handle(&m, wall),
                Some(Err(e)) => {
                    warn!(thread, error = %e, "consumer error");
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        let mut state = lock(&consumer.context().state);
        if let Some(e) = state.fatal.take() {
            break Err(e);
        }
        state.check_positions(&consumer);
        let tick = last_tick.elapsed() >= tick_every;
        if tick {
            last_tick = Instant::now();
            state.tick(wall);
        }
        if let Err(e) = state.publish(tick) {
            break Err(e);
        }
        if state.pending.due(Instant::now(), commit_every) {
            if let Err(e) = state.commit(&consumer) {
                break Err(e);
            }
        }
        if state.pending.is_empty() {
            // Everything handled is committed: a snapshot now starts where a restart would.
            state.snapshot(None, false);
        }
        state.producer.poll(Duration::ZERO);
        let idle = state.members.is_empty() && state.groups.is_empty();
        let caught_up = !idle && !state.rebuilding();
        shared.caught_up[thread].store(caught_up, Ordering::Relaxed);
    };
    let mut state = lock(&consumer.context().state);
    let result = result.and_then(|()| state.commit(&consumer));
    match result {
        // A restart, here or elsewhere, reads only what comes after.
        Ok(()) => state.snapshot(None, true),
        Err(_) => state.abort(),
    }
    // The leave's revocation must not commit again, nor restore anything.
    state.stopping = true;
    let stats = std::mem::take(&mut state.stats);
    drop(state);
    consumer.unsubscribe();
    {
        // Queries must not be answered from tasks this worker no longer runs.
        let mut state = lock(&consumer.context().state);
        state.members.clear();
        state.groups.clear();
    }
    shared.caught_up[thread].store(false, Ordering::Relaxed);
    result.map(|()| stats)
}

impl State {
    pub(super) fn member_task(&self, partition: u32) -> Option<&MemberTask> {
        self.members.get(&partition)
    }

    pub(super) fn group_task(&self, partition: u32) -> Option<&GroupTask> {
        self.groups.get(&partition)
    }

    pub(super) fn member_tasks(&self) -> impl Iterator<Item = &MemberTask> {
        self.members.values()
    }

    /// The group-stage tasks with their contributions partitions.
    pub(super) fn group_tasks(&self) -> impl Iterator<Item = (u32, &GroupTask)> {
        self.groups.iter().map(|(&q, task)| (q, task))
    }

    fn fail(&mut self, e: anyhow::Error) {
        error!(thread = self.thread, error = %format!("{e:#}"), "worker failing");
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
    }

    fn mark_dirty(&mut self) {
        self.pending.mark(Instant::now());
    }

    fn rebuilding(&self) -> bool {
        self.members.values().any(MemberTask::restoring)
            || self.groups.values().any(|g| g.progress.restoring())
    }

    fn handle(&mut self, m: &BorrowedMessage<'_>, wall: EventTime) {
        if self.fatal.is_some() {
            return;
        }
        if m.topic() == self.shared.layout.contributions {
            self.handle_contributions(m);
        } else {
            self.handle_input(m, wall);
        }
    }

    fn handle_input(&mut self, m: &BorrowedMessage<'_>, wall: EventTime) {
        let partition = m.partition() as u32;
        let Some(task) = self.members.get_mut(&partition) else {
            debug!(
                topic = m.topic(),
                partition, "a record of a task not held here"
            );
            return;
        };
        let Some(input) = self.inputs.iter().position(|(t, ..)| t == m.topic()) else {
            debug!(topic = m.topic(), "a record of a topic not subscribed to");
            return;
        };
        let encoding = self.inputs[input].1;
        let payload = m.payload().unwrap_or(&[]);
        let event = match encoding {
            Encoding::Json => self.json.decode(payload),
            Encoding::Protobuf => self.protobuf.decode(payload),
        };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let applied = task.apply(m.topic(), m.offset(), event, wall, &mut out);
        if applied.restoring {
            self.stats.restored += 1;
            self.out = out;
            return;
        }
        self.stats.consumed += 1;
        self.mark_dirty();
        if let Some(key) = m.key() {
            let expected = self
                .shared
                .config
                .input
                .partitioner
                .partition(key, self.shared.layout.sources);
            if expected.is_some_and(|p| p != partition) {
                self.inputs[input].2.misplaced();
            }
        }
        let result = match applied.result {
            Ok(type_index) => {
                self.inputs[input].2.consumed(type_index);
                self.warnings(&out)
            }
            Err(rejection) => {
                self.inputs[input].2.rejected(rejection.reason);
                self.warnings(&out)
                    .and_then(|()| self.dead_letter(m, &rejection))
            }
        };
        self.out = out;
        if let Err(e) = result {
            self.fail(e);
        }
    }

    fn handle_contributions(&mut self, m: &BorrowedMessage<'_>) {
        let partition = m.partition() as u32;
        let Some(task) = self.groups.get_mut(&partition) else {
            debug!(partition, "a contributions record of a task not held here");
            return;
        };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        match task.apply(m.offset(), m.payload().unwrap_or(&[]), &mut out) {
            Ok(true) => self.stats.restored += 1,
            Ok(false) => {
                self.mark_dirty();
                if let Err(e) = self.warnings(&out) {
                    self.fail(e);
                }
            }
            // Only churnwatch writes the topic: a record it cannot read was written by
            // another version or by hand. Skipped, loudly; the figures miss it.
            Err(e) => error!(partition, offset = m.offset(), error = %e,
                             "unreadable contributions record skipped"),
        }
        self.out = out;
    }

    fn warnings(&mut self, warnings: &[Warning]) -> anyhow::Result<()> {
        let topic = self.shared.config.kafka.warnings_topic.clone();
        for w in warnings {
            self.begin()?;
            let record = self.encoder.encode(w);
            let base = BaseRecord::to(&topic)
                .key(record.key)
                .payload(record.payload)
                .headers(record.headers);
            send(&self.producer, base)?;
            self.stats.warnings += 1;
            if self.shared.live.is_some() {
                self.alerts.extend(PendingAlert::of(w));
            }
        }
        Ok(())
    }

    fn dead_letter(
        &mut self,
        m: &BorrowedMessage<'_>,
        rejection: &Rejection,
    ) -> anyhow::Result<()> {
        self.begin()?;
        *self.stats.rejections.entry(rejection.reason).or_default() += 1;
        self.stats.dead_letters += 1;
        let headers =
            dead_letter_headers(m.headers(), rejection, m.topic(), m.partition(), m.offset());
        let topic = &self.shared.config.kafka.dead_letter_topic;
        let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).headers(headers);
        if let Some(key) = m.key() {
            base = base.key(key);
        }
        if let Some(payload) = m.payload() {
            base = base.payload(payload);
        }
        send(&self.producer, base)
    }

    /// Live mode: idle member-stage tasks move on with the wall clock.
    fn tick(&mut self, wall: EventTime) {
        if self.shared.mode != TimeMode::Live {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        let mut result = Ok(());
        let partitions: Vec<u32> = self.members.keys().copied().collect();
        for p in partitions {
            out.clear();
            let Some(task) = self.members.get_mut(&p) else {
                continue;
            };
            if !task.complete() || task.restoring() {
                continue;
            }
            task.tick(wall, &mut out);
            if !out.is_empty() {
                self.mark_dirty();
                result = result.and_then(|()| self.warnings(&out));
            }
        }
        self.out = out;
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Publishes every member-stage task's new units (and, with `watermarks`, its
    /// watermark where it moved) to the contributions topic.
    fn publish(&mut self, watermarks: bool) -> anyhow::Result<()> {
        let topic = self.shared.layout.contributions.clone();
        let mut records = Vec::new();
        for (p, task) in &mut self.members {
            task.resume_if_rebuilt();
            let key = p.to_string();
            records.extend(
                task.publish(&self.shared.layout, watermarks && !task.restoring())
                    .into_iter()
                    .map(|(q, payload)| (key.clone(), q, payload)),
            );
        }
        for (key, q, payload) in records {
            self.begin()?;
            self.mark_dirty();
            let headers = OwnedHeaders::new().insert(Header {
                key: SCHEMA_HEADER,
                value: Some(contributions::SCHEMA),
            });
            let base = BaseRecord::to(&topic)
                .partition(q as i32)
                .key(key.as_bytes())
                .payload(&payload)
                .headers(headers);
            send(&self.producer, base)?;
        }
        Ok(())
    }

    fn begin(&mut self) -> anyhow::Result<()> {
        if !self.in_transaction {
            self.producer
                .begin_transaction()
                .context("beginning a transaction")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Commits the open transaction with every task's offsets (and each member-stage
    /// task's next unit sequence).
    fn commit(&mut self, consumer: &BaseConsumer<WorkerCtx>) -> anyhow::Result<()> {
        self.publish(false)?;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let mut offsets = TopicPartitionList::new();
        let lead = self
            .shared
            .config
            .kafka
            .inputs
            .first()
            .map(|i| i.topic.clone());
        for (&p, task) in &self.members {
            let seq = task.next_seq();
            for (topic, progress) in task.inputs() {
                let mut e = offsets.add_partition(topic, p as i32);
                e.set_offset(Offset::Offset(progress.commit_offset()))
                    .context("building the offsets")?;
                if lead.as_deref() == Some(topic) {
                    e.set_metadata(seq_metadata(seq));
                }
            }
        }
        let contributions = &self.shared.layout.contributions;
        for (&q, task) in &self.groups {
            let offset = Offset::Offset(task.progress.commit_offset());
            offsets
                .add_partition_offset(contributions, q as i32, offset)
                .context("building the offsets")?;
        }
        let metadata = consumer
            .group_metadata()
            .ok_or_else(|| anyhow!("no consumer group metadata to commit with"))?;
        self.producer
            .send_offsets_to_transaction(&offsets, &metadata, BROKER_TIMEOUT)
            .context("adding the offsets to the transaction")?;
        self.producer
            .commit_transaction(BROKER_TIMEOUT)
            .context("committing the transaction")?;
        self.in_transaction = false;
        self.pending = Pending::default();
        self.stats.commits += 1;
        if let Some(feed) = &self.shared.live {
            feed.publish(self.alerts.drain(..));
        }
        Ok(())
    }

    /// Snapshots of member tasks (of `only`, or all) that are due, right after a commit so
    /// that their offsets are the committed ones; with `wait`, every one, in place before
    /// this returns.
    fn snapshot(&mut self, only: Option<&BTreeSet<u32>>, wait: bool) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let every = if wait {
            Duration::ZERO
        } else {
            writer.interval()
        };
        for (p, task) in &mut self.members {
            if only.is_some_and(|o| !o.contains(p)) || !task.snapshot_due(every) {
                continue;
            }
            if writer.write_task(task.engine(), &task.snapshot_offsets(), wait) {
                task.snapshot_taken();
            }
        }
    }

    fn abort(&mut self) {
        self.alerts.clear();
        if self.in_transaction {
            if let Err(e) = self.producer.abort_transaction(BROKER_TIMEOUT) {
                warn!(error = %e, "aborting the transaction; the broker aborts it on its timeout");
            }
            self.in_transaction = false;
        }
    }

    /// New partitions: their tasks start, rebuilding from the start of each partition up
    /// to its committed offset.
    fn assign(
        &mut self,
        consumer: &BaseConsumer<WorkerCtx>,
        tpl: &TopicPartitionList,
    ) -> anyhow::Result<()> {
        if self.stopping || self.fatal.is_some() {
            return Ok(());
        }
        self.stats.rebalances += 1;
        let committed = consumer
            .committed_offsets(tpl.clone(), BROKER_TIMEOUT)
            .context("reading the committed offsets of new tasks")?;
        let shared = self.shared.clone();
        let layout = &shared.layout;
        let inputs = &shared.config.kafka.inputs;
        let wall = wall_clock();
        let mut start = TopicPartitionList::new();
        let mut held_back = TopicPartitionList::new();
        let mut members = BTreeSet::new();
        for e in tpl.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let c = committed.find_partition(topic, partition);
            let target = c
                .as_ref()
                .and_then(|c| match c.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(0);
            let q = partition as u32;
            if topic == layout.contributions {
                self.groups
                    .insert(q, GroupTask::new(&shared.settings, layout, target));
            } else {
                let seq = c.as_ref().and_then(|c| parse_seq_metadata(c.metadata()));
                let task = self.members.entry(q).or_insert_with(|| {
                    MemberTask::new(q, &shared.settings, shared.mode, inputs.len(), layout, wall)
                });
                task.add_input(topic, target, seq);
                members.insert(q);
            }
        }
        // A member task given all of its partitions at once starts from its newest
        // usable snapshot, if there is one, rather than from the partitions' beginning.
        let mut from = std::collections::HashMap::new();
        if let Some(loader) = &self.loader {
            for p in &members {
                let Some(task) = self.members.get_mut(p) else {
                    continue;
                };
                if !task.complete() {
                    continue;
                }
                let committed: Vec<(String, i32, Option<i64>)> = task
                    .inputs()
                    .map(|(topic, progress)| (topic.to_owned(), *p as i32, Some(progress.target)))
                    .collect();
                let Some(restored) = loader.load(&committed) else {
                    continue;
                };
                if task.restore(restored.engine, &restored.partitions) {
                    for o in &restored.partitions {
                        from.insert((o.topic.clone(), o.partition), o.next);
                    }
                }
            }
        }
        for e in tpl.elements() {
            let offset = from
                .get(&(e.topic().to_owned(), e.partition()))
                .map_or(Offset::Beginning, |o| Offset::Offset(*o));
            start
                .add_partition_offset(e.topic(), e.partition(), offset)
                .context("building the assignment")?;
        }
        consumer
            .incremental_assign(&start)
            .context("taking the new partitions")?;
        for p in members {
            let Some(task) = self.members.get(&p) else {
                continue;
            };
            if task.complete() {
                // Partitions held back for this task until now may read.
                let mut resume = TopicPartitionList::new();
                for (topic, _) in task.inputs() {
                    resume.add_partition(topic, p as i32);
                }
                consumer.resume(&resume).context("resuming a task")?;
            } else {
                for (topic, _) in task.inputs() {
                    held_back.add_partition(topic, p as i32);
                }
            }
        }
        if held_back.count() > 0 {
            // A member's events are on partition p of every input: a task cannot run
            // on some of them.
            warn!(partitions = ?held_back, "waiting for the rest of a task's input partitions");
            consumer.pause(&held_back).context("holding a task back")?;
        }
        info!(
            thread = self.thread,
            member_tasks = ?self.members.keys().collect::<Vec<_>>(),
            group_tasks = ?self.groups.keys().collect::<Vec<_>>(),
            "partitions assigned; tasks rebuild up to their committed offsets"
        );
        Ok(())
    }

    /// Partitions taken away: everything handled so far is committed first, then their
    /// tasks stop. A task losing one of several inputs stops too, and the rest of its
    /// partitions wait, rewound, until the group gives them all back.
    fn revoke(
        &mut self,
        consumer: &BaseConsumer<WorkerCtx>,
        tpl: &TopicPartitionList,
    ) -> anyhow::Result<()> {
        let lost = consumer.assignment_lost();
        if !self.stopping && self.fatal.is_none() {
            if lost {
                self.abort();
                return Err(anyhow!(
                    "the group took this worker's partitions without a revocation (session \
                     timeout?); restarting from the committed state"
                ));
            }
            self.commit(consumer)?;
            // Whoever gets these tasks next starts from where they stopped.
            let leaving: BTreeSet<u32> = tpl
                .elements()
                .iter()
                .filter(|e| e.topic() != self.shared.layout.contributions)
                .map(|e| e.partition() as u32)
                .collect();
            self.snapshot(Some(&leaving), true);
        }
        let contributions = self.shared.layout.contributions.clone();
        let mut rewind = TopicPartitionList::new();
        for e in tpl.elements() {
            let p = e.partition() as u32;
            if e.topic() == contributions {
                self.groups.remove(&p);
            } else if let Some(task) = self.members.remove(&p) {
                for (topic, _) in task.inputs() {
                    if topic != e.topic() {
                        rewind.add_partition_offset(topic, p as i32, Offset::Beginning)?;
                    }
                }
                let mut rest = MemberTask::new(
                    p,
                    &self.shared.settings,
                    self.shared.mode,
                    self.shared.config.kafka.inputs.len(),
                    &self.shared.layout,
                    wall_clock(),
                );
                // Committed just now: the rebuild's targets are where the task stopped.
                for (topic, progress) in task.inputs().filter(|(t, _)| *t != e.topic()) {
                    rest.add_input(topic, progress.commit_offset(), Some(task.next_seq()));
                }
                if rest.inputs().next().is_some() {
                    self.members.insert(p, rest);
                }
            }
        }
        consumer
            .incremental_unassign(tpl)
            .context("giving partitions back")?;
        // Rewound partitions are those of tasks cut in two; they are still assigned.
        rewind = without(&rewind, tpl);
        if rewind.count() > 0 && !self.stopping {
            consumer.pause(&rewind).context("holding a task back")?;
            for e in rewind.elements() {
                consumer
                    .seek(e.topic(), e.partition(), Offset::Beginning, BROKER_TIMEOUT)
                    .context("rewinding a task's partition")?;
            }
        }
        info!(
            thread = self.thread,
            revoked = tpl.count(),
            "partitions revoked"
        );
        Ok(())
    }

    /// Rebuilding tasks whose consumer position passed their target (the last records
    /// below it may be transaction markers, which no poll returns).
    fn check_positions(&mut self, consumer: &BaseConsumer<WorkerCtx>) {
        if !self.rebuilding() {
            return;
        }
        let Ok(positions) = consumer.position() else {
            return;
        };
        let contributions = &self.shared.layout.contributions;
        for e in positions.elements() {
            let Offset::Offset(position) = e.offset() else {
                continue;
            };
            let p = e.partition() as u32;
            if e.topic() == contributions {
                if let Some(task) = self.groups.get_mut(&p) {
                    task.progress.reached(position);
                }
            } else if let Some(progress) = self
                .members
                .get_mut(&p)
                .and_then(|t| t.progress_mut(e.topic()))
            {
                progress.reached(position);
            }
        }
    }
}

/// Work handled but not committed yet, and since when. The next commit is due
/// `commit_interval` after the first of it, so that every transaction holds that much
/// work however long the commit before it took. (Counted from the previous commit's
/// start instead, a commit slower than the interval left one poll round per
/// transaction: 0.13 of one engine's rate end to end.)
#[derive(Debug, Default)]
struct Pending {
    since: Option<Instant>,
}

impl Pending {
    fn mark(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    fn is_empty(&self) -> bool {
        self.since.is_none()
    }

    fn due(&self, now: Instant, every: Duration) -> bool {
        self.since
            .is_some_and(|since| now.saturating_duration_since(since) >= every)
    }
}

/// `list` without the partitions in `remove`.
fn without(list: &TopicPartitionList, remove: &TopicPartitionList) -> TopicPartitionList {
    let mut rest = TopicPartitionList::new();
    for e in list.elements() {
        if remove.find_partition(e.topic(), e.partition()).is_none() {
            rest.add_partition(e.topic(), e.partition());
        }
    }
    rest
}

/// Sends one record, waiting for room in a full producer queue.
fn send<K, P>(
    producer: &BaseProducer<WorkerProducerCtx>,
    mut record: BaseRecord<'_, K, P>,
) -> anyhow::Result<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e).context("producing a record"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_holds_a_commit_interval_of_work_however_long_the_last_commit_took() {
        let every = Duration::from_millis(100);
        let start = Instant::now();
        let mut pending = Pending::default();
        assert!(!pending.due(start + every * 10, every), "nothing to commit");
        // The previous commit took three intervals; work resumes after it.
        let resumed = start + every * 3;
        pending.mark(resumed);
        pending.mark(resumed + every / 2);
        assert!(!pending.due(resumed + every / 2, every));
        assert!(pending.due(resumed + every, every));
        assert!(!pending.is_empty());
    }
}
