//! `churnwatch run`: input topics → decode → engine → warnings and dead letters, at least
//! once.
//!
//! One thread owns the consumer, the engine and the producer, so the engine stays a
//! plain `&mut` state machine and the order of its inputs is the order of the loop. The
//! loop never waits on the broker for correctness, only for space: a full producer queue
//! (broker down or slow) stops consumption until acknowledgements make room, and nothing
//! is dropped. Offsets are committed from [`CommitTracker`], which releases an offset only
//! when every record caused by it, and by everything before it, has been acknowledged.
//!
//! librdkafka calls the rebalance callback on this same thread, inside `poll`; the
//! callback sends what changed over a channel rather than touching the engine, because
//! the messages polled before the change must first be handled under the old assignment.
//! What the loop may do at each point (tick, snapshot, answer queries, report ready)
//! follows from one [`Phase`], moved only by [`Processor::step`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use super::assignment::{Assignment, AssignmentChange};
use super::clients::{consumer_config, producer_config};
use super::emitter::{DeadLetter, Emitter, Generation, Guarantee, ProducerCtx, Round};
use super::phase::{Phase, Step};
use super::records::dead_letter_headers;
pub use super::shutdown::Shutdown;
use super::snapshots::{SnapshotLoader, SnapshotWriter};
use crate::alerts_feed::AlertFeed;
use crate::clock::wall_clock;
use crate::config::{Config, DeliveryGuarantee, Encoding, KafkaConfig, KafkaTimeMode};
use crate::decode::{JsonDecoder, ProtobufDecoder};
use crate::engine::{Engine, TimeMode, Warning};
use crate::health::Health;
use crate::metrics::{Metrics, TopicCounters};
use crate::model::{Event, EventTime};
use crate::query::QueryInbox;
use crate::reject::{RejectReason, Rejection};
use crate::state::snapshot::next_offset;
use crate::state::Restored;

/// Messages handled per poll round before the loop looks at the clock and the producer.
const ROUND: usize = 1024;
/// How long a poll waits when the input is quiet.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// Timeout of the blocking metadata calls made on assignment and at shutdown.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Queries answered per poll round at most, so a flood of them cannot starve the input.
const QUERIES_PER_ROUND: usize = 64;
/// How often a restore logs its progress.
const RESTORE_LOG_EVERY: Duration = Duration::from_secs(5);

/// What the pipeline reports to, and answers, besides Kafka.
pub struct Observers {
    pub metrics: Arc<Metrics>,
    pub health: Health,
    /// Queries from the HTTP server; `None` when it is off.
    pub queries: Option<QueryInbox>,
    /// The live tutor alerts the HTTP server streams; `None` when it is off.
    pub live: Option<Arc<AlertFeed>>,
    /// Where other instances reach the HTTP server; `None` when it is off or bound to a
    /// wildcard address without `http.advertised_url`.
    pub http_url: Option<String>,
}

impl Default for Observers {
    fn default() -> Self {
        Observers {
            metrics: Arc::new(Metrics::new()),
            health: Health::default(),
            queries: None,
            live: None,
            http_url: None,
        }
    }
}

/// Totals of one run, for the exit summary.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Messages whose output was produced by this run.
    pub consumed: u64,
    /// Messages re-read to rebuild state (their output was acknowledged before).
    pub restored: u64,
    pub warnings: u64,
    pub dead_letters: u64,
    pub rejections: BTreeMap<RejectReason, u64>,
    pub commits: u64,
    pub rebalances: u64,
}

impl RunStats {
    /// Adds another run's totals (the workers of one process).
    pub fn absorb(&mut self, other: RunStats) {
        self.consumed += other.consumed;
        self.restored += other.restored;
        self.warnings += other.warnings;
        self.dead_letters += other.dead_letters;
        self.commits += other.commits;
        self.rebalances += other.rebalances;
        for (reason, n) in other.rejections {
            *self.rejections.entry(reason).or_default() += n;
        }
    }
}

struct ConsumerCtx {
    /// To the [`Processor`]: each rebalance, in order.
    changes: mpsc::Sender<AssignmentChange>,
    /// The input topics, in configuration order: whoever the group gives the first one's
    /// partition 0 holds them all.
    inputs: Vec<String>,
    /// Set once the pipeline has stopped: an assignment still in flight is declined
    /// rather than restored (its broker round trips would hold the exit up).
    closing: AtomicBool,
    metrics: Arc<Metrics>,
    /// Where assigned partitions may start from instead of their beginning.
    snapshots: Option<SnapshotLoader>,
}

impl ClientContext for ConsumerCtx {
    /// librdkafka's statistics (every `statistics.interval.ms`): per assigned partition,
    /// the messages between the application's position and the end of the partition (its
    /// last stable offset, as a read_committed consumer sees it). Position, not committed
    /// offset: exactly once, offsets are committed by transactions the consumer does not
    /// see.
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                // -1: not assigned here, or not known yet.
                if *partition >= 0 && p.app_offset >= 0 && end >= 0 {
                    let lag = (end - p.app_offset).max(0);
                    self.metrics.consumer_lag(name, *partition, lag);
                }
            }
        }
    }
}

impl ConsumerCtx {
    /// What this instance reads, given what the group assigned it: every partition of
    /// every input if the group gave it the first input's partition 0 (the lease),
    /// nothing otherwise. A group's members are spread over the partitions by member id,
    /// so its figures are right only where one instance sees them all: that instance is
    /// active, the others stand by and take over when it leaves (a rebalance moves the
    /// lease, and the state with it through snapshots or the input).
    fn whole_input(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> TopicPartitionList {
        let lead = self.inputs.first().map(String::as_str);
        let holds_lease = tpl
            .elements()
            .iter()
            .any(|e| Some(e.topic()) == lead && e.partition() == 0);
        let mut whole = TopicPartitionList::new();
        if !holds_lease {
            return whole;
        }
        for topic in &self.inputs {
            match consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) {
                Ok(metadata) => {
                    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
                        for p in t.partitions() {
                            whole.add_partition(topic, p.id());
                        }
                    }
                }
                Err(e) => {
                    // Without the topic's partitions only the group's share is known:
                    // group figures cover part of the members until the next rebalance.
                    error!(topic = %topic, error = %e, "cannot list the input's partitions; reading the group's share only");
                    for el in tpl.elements().iter().filter(|el| el.topic() == topic) {
                        whole.add_partition(topic, el.partition());
                    }
                }
            }
        }
        whole
    }
}

impl ConsumerContext for ConsumerCtx {
    /// Eager rebalancing with two twists. The instance holding the lease (see
    /// [`ConsumerCtx::whole_input`]) reads every input partition, the others none.
    /// Partitions are read from the newest usable snapshot's offsets, or from their
    /// beginning, so the in-memory state can be rebuilt; the committed offsets become the
    /// restore targets instead of the start positions. The partitions are kept in
    /// (topic, partition) order: the engine numbers them in that order, and a snapshot's
    /// state is numbered the same way.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let change = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                if self.closing.load(Ordering::SeqCst) =>
            {
                if let Err(e) = consumer.assign(&TopicPartitionList::new()) {
                    error!(error = %e, "declining an assignment while stopping");
                }
                AssignmentChange::Revoked
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let tpl = self.whole_input(consumer, tpl);
                let committed = if tpl.count() == 0 {
                    Some(TopicPartitionList::new())
                } else {
                    match consumer.committed_offsets(tpl.clone(), METADATA_TIMEOUT) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            // Without the targets every re-read message counts as new: its
                            // warnings are produced again (duplicates, never a loss).
                            warn!(error = %e, "could not read committed offsets; output will repeat");
                            None
                        }
                    }
                };
                let mut assigned = Vec::new();
                for e in tpl.elements() {
                    let target = committed
                        .as_ref()
                        .and_then(|c| c.find_partition(e.topic(), e.partition()))
                        .and_then(|c| match c.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                    assigned.push((e.topic().to_owned(), e.partition(), target));
                }
                assigned.sort();
                // Without the committed offsets no snapshot can be shown to be safe.
                let restored = match (&self.snapshots, &committed) {
                    (Some(loader), Some(_)) => loader.load(&assigned).map(Box::new),
                    _ => None,
                };
                let mut start = TopicPartitionList::new();
                for (topic, partition, _) in &assigned {
                    let offset = start_offset(restored.as_deref(), topic, *partition);
                    if let Err(err) = start.add_partition_offset(topic, *partition, offset) {
                        error!(error = %err, "building the assignment");
                    }
                }
                if let Err(e) = consumer.assign(&start) {
                    error!(error = %e, "assigning partitions");
                }
                AssignmentChange::Assigned(assigned, restored)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(e) = consumer.unassign() {
                    error!(error = %e, "unassigning partitions");
                }
                AssignmentChange::Revoked
            }
            other => {
                error!(error = ?other, "rebalance failed; dropping the assignment");
                if let Err(e) = consumer.unassign() {
                    error!(error = %e, "unassigning partitions");
                }
                AssignmentChange::Revoked
            }
        };
        // Fails only once the pipeline is gone (the consumer's own close at the end),
        // when nobody is left to apply the change.
        let _ = self.changes.send(change);
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            self.metrics.commit_failed();
            // A later commit carries the same offsets or higher ones.
            warn!(error = %e, "offset commit failed");
        }
    }
}

/// Everything but the consumer: the consumer's messages borrow it, so it lives apart.
struct Processor<'c> {
    config: &'c Config,
    mode: TimeMode,
    engine: Engine,
    snapshots: Option<SnapshotWriter>,
    assignment: Assignment,
    /// From the rebalance callback ([`ConsumerCtx::changes`]).
    changes: Receiver<AssignmentChange>,
    phase: Phase,
    emitter: Emitter,
    /// This poll round's output, handed to the emitter at the end of the round.
    round: Round,
    json: JsonDecoder,
    protobuf: ProtobufDecoder,
    out: Vec<Warning>,
    /// A run's decoded events, kept for its capacity.
    events: Vec<Event>,
    stats: RunStats,
    metrics: Arc<Metrics>,
    /// Per owned partition (engine index), its topic's counters.
    counters: Vec<TopicCounters>,
    health: Health,
    guarantee: Guarantee,
}

/// The transactional id of this process: unique per running instance, so two instances
/// on one host never fence each other; a crashed instance's open transaction is aborted
/// by the broker after `transaction.timeout.ms`, and zombies are fenced by the consumer
/// group's generation (KIP-447).
fn transactional_id(k: &KafkaConfig) -> String {
    if !k.transactional_id.is_empty() {
        return k.transactional_id.clone();
    }
    let host = super::clients::host_name();
    format!("{}-{host}-{}", k.group_id, std::process::id())
}

/// The producer, transactional when exactly-once delivery is asked for (or, with
/// `auto`, when the broker supports transactions).
fn create_producer(k: &KafkaConfig) -> anyhow::Result<(BaseProducer<ProducerCtx>, Guarantee)> {
    let plain = || -> anyhow::Result<BaseProducer<ProducerCtx>> {
        producer_config(k, None)?
            .create_with_context(ProducerCtx::new())
            .context("creating the Kafka producer")
    };
    if k.delivery == DeliveryGuarantee::AtLeastOnce {
        return Ok((plain()?, Guarantee::AtLeastOnce));
    }
    let id = transactional_id(k);
    let producer: BaseProducer<ProducerCtx> = producer_config(k, Some(&id))?
        .create_with_context(ProducerCtx::new())
        .context("creating the transactional Kafka producer")?;
    let commit_every = to_duration(k.commit_interval.as_millis());
    match producer.init_transactions(METADATA_TIMEOUT) {
        Ok(()) => {
            info!(transactional_id = %id, "exactly-once delivery: Kafka transactions");
            Ok((producer, Guarantee::ExactlyOnce { commit_every }))
        }
        Err(e) if k.delivery == DeliveryGuarantee::Auto && unsupported(&e) => {
            warn!(error = %e, "the broker does not support transactions: at-least-once delivery");
            Ok((plain()?, Guarantee::AtLeastOnce))
        }
        Err(e) => Err(e).context("initialising Kafka transactions (kafka.delivery)"),
    }
}

/// Refuses input topics of unequal partition counts (see [`super::copartition`]). A topic
/// the broker cannot describe yet is left to the subscription, which waits for it.
fn check_co_partitioned<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[&str],
) -> anyhow::Result<()> {
    let counts: Vec<(String, Option<usize>)> = topics
        .iter()
        .map(|&topic| {
            let count = match consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) {
                Ok(metadata) => metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len())
                    .filter(|n| *n > 0),
                Err(e) => {
                    warn!(topic = %topic, error = %e, "cannot describe an input topic yet");
                    None
                }
            };
            (topic.to_owned(), count)
        })
        .collect();
    super::copartition::common_partition_count(&counts).map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Errors that mean "no transactions here", as opposed to "broker not reachable yet".
fn unsupported(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnsupportedVersion
                | RDKafkaErrorCode::UnsupportedForMessageFormat
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::UnsupportedFeature
        )
    )
}

/// Runs until `shutdown` is requested; returns the run's totals.
pub fn run(config: &Config, shutdown: Shutdown, observers: Observers) -> anyhow::Result<RunStats> {
    let k = &config.kafka;
    let Observers {
        metrics,
        health,
        queries,
        live,
        ..
    } = observers;
    let mode = match k.time_mode {
        KafkaTimeMode::Live => TimeMode::Live,
        KafkaTimeMode::EventTime => TimeMode::Replay,
    };
    let (changes, changes_rx) = mpsc::channel();
    let consumer: BaseConsumer<ConsumerCtx> = consumer_config(k)?
        .create_with_context(ConsumerCtx {
            changes,
            inputs: k.inputs.iter().map(|i| i.topic.clone()).collect(),
            closing: AtomicBool::new(false),
            metrics: metrics.clone(),
            snapshots: SnapshotLoader::new(config, mode, metrics.clone()),
        })
        .context("creating the Kafka consumer")?;
    let (producer, guarantee) = create_producer(k)?;
    // Learn the output topics' leaders now: otherwise the first warning after a start
    // waits about a second for the metadata round trip. A topic that cannot be described
    // (not created yet, no permission) is reported here, early, not fatal: the producer
    // retries on its own.
    for topic in [&k.warnings_topic, &k.dead_letter_topic] {
        if let Err(e) = producer
            .client()
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        {
            warn!(topic = %topic, error = %e, "cannot describe an output topic yet");
        }
    }
    let topics: Vec<&str> = k.inputs.iter().map(|i| i.topic.as_str()).collect();
    check_co_partitioned(&consumer, &topics)?;
    consumer
        .subscribe(&topics)
        .with_context(|| format!("subscribing to {topics:?}"))?;
    let mut p = Processor {
        config,
        mode,
        engine: Engine::new(&config.engine(), mode),
        snapshots: SnapshotWriter::new(config, mode, metrics.clone()),
        assignment: Assignment::default(),
        changes: changes_rx,
        phase: Phase::Unassigned,
        emitter: Emitter::start(
            k,
            producer,
            guarantee,
            metrics.clone(),
            shutdown.clone(),
            live,
        )?,
        round: Round::default(),
        json: JsonDecoder::new(config.input.max_message_bytes),
        protobuf: ProtobufDecoder::new(config.input.max_message_bytes),
        out: Vec::new(),
        events: Vec::new(),
        stats: RunStats::default(),
        metrics,
        counters: Vec::new(),
        health,
        guarantee,
    };
    info!(brokers = %k.brokers, group = %k.group_id, inputs = ?topics, "consuming");

    let commit_every = to_duration(k.commit_interval.as_millis());
    let tick_every = to_duration(k.tick_interval.as_millis());
    let observe_every = to_duration(config.http.metrics_interval.as_millis());
    let mut last_commit = Instant::now();
    let mut last_tick = Instant::now();
    let mut last_observed: Option<Instant> = None;
    while !shutdown.requested() {
        let mut wait = POLL_WAIT;
        // One clock reading per round of up to ROUND messages (a few milliseconds): the
        // clock serves the 10-minute future-skew check and `emitted_at`, and reading it
        // per message cost 3 % of the loop.
        let mut wall = None;
        let mut batch = Vec::with_capacity(ROUND);
        for _ in 0..ROUND {
            let polled = consumer.poll(wait);
            wait = Duration::ZERO;
            if let Ok(change) = p.changes.try_recv() {
                // What was polled before the rebalance belongs to the old assignment.
                p.handle_batch(&mut batch, *wall.get_or_insert_with(wall_clock))?;
                p.apply_changes(&consumer, change)?;
            }
            match polled {
                None => break,
                Some(Ok(m)) => {
                    wall.get_or_insert_with(wall_clock);
                    batch.push(m);
                }
                Some(Err(e)) => {
                    // Broker down, partition moved, …: librdkafka recovers on its own.
                    warn!(error = %e, "consumer error");
                    break;
                }
            }
        }
        if let Some(wall) = wall {
            p.handle_batch(&mut batch, wall)?;
        }
        p.flush_round()?;
        p.emitter.check()?;
        if p.emitter.rebuild_requested() {
            p.rebuild(&consumer)?;
        }
        if !p.assignment.restored() {
            p.check_positions(&consumer);
        }
        let remaining = p.assignment.remaining();
        p.end_round(remaining);
        if p.phase.ticks() && last_tick.elapsed() >= tick_every {
            last_tick = Instant::now();
            p.tick()?;
        }
        if last_commit.elapsed() >= commit_every {
            last_commit = Instant::now();
            p.commit_progress(&consumer);
        }
        if p.phase.writes_snapshots() {
            if let Some(writer) = &mut p.snapshots {
                writer.maybe_write(&p.engine, &p.assignment);
            }
        }
        let ready = p.phase.ready();
        p.health.set_ready(ready);
        p.metrics
            .assignment(p.assignment.partitions().len(), ready, remaining);
        if last_observed.is_none_or(|t| t.elapsed() >= observe_every) {
            last_observed = Some(Instant::now());
            p.metrics.observe_engine(&p.engine, wall_clock());
        }
        if let Some(inbox) = &queries {
            inbox.serve(
                p.phase.serves_queries().then_some(&p.engine),
                QUERIES_PER_ROUND,
            );
        }
    }
    p.step(Step::Stop);
    p.health.set_ready(p.phase.ready());

    p.flush_round()?;
    info!(
        in_flight = p.emitter.in_flight(),
        "stopping: draining the producer"
    );
    let safe = p.emitter.drain()?;
    if !safe.is_empty() {
        p.commit(&consumer, &safe, CommitMode::Sync);
    }
    if matches!(p.phase, Phase::Draining { live: true }) {
        if let Some(writer) = &mut p.snapshots {
            // Everything handled is committed now: the next start re-reads nothing.
            writer.write_final(&p.engine, &p.assignment);
        }
    }
    consumer.context().closing.store(true, Ordering::SeqCst);
    consumer.unsubscribe();
    info!(stats = ?p.stats, "stopped");
    Ok(p.stats)
}

/// The group's committed offset of each partition of `list` (the restore targets).
fn committed_targets(
    consumer: &BaseConsumer<ConsumerCtx>,
    list: Vec<(String, i32, Option<i64>)>,
) -> Vec<(String, i32, Option<i64>)> {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, _) in &list {
        tpl.add_partition(topic, *partition);
    }
    match consumer.committed_offsets(tpl, METADATA_TIMEOUT) {
        Ok(committed) => {
            list.into_iter()
                .map(|(topic, partition, _)| {
                    let target = committed
                        .find_partition(&topic, partition)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                    (topic, partition, target)
                })
                .collect()
        }
        Err(e) => {
            // Without targets every re-read message counts as new: output repeats.
            warn!(error = %e, "could not read committed offsets; output will repeat");
            list.into_iter().map(|(t, p, _)| (t, p, None)).collect()
        }
    }
}

/// Where an assigned partition is read from: the snapshot's offset, or its beginning.
fn start_offset(restored: Option<&Restored>, topic: &str, partition: i32) -> Offset {
    restored
        .and_then(|r| r.offset_of(topic, partition))
        .map_or(Offset::Beginning, Offset::Offset)
}

fn to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Processor<'_> {
    /// Moves to the phase after `step`: the one place the phase changes.
    fn step(&mut self, step: Step) {
        let next = self.phase.after(step, Instant::now());
        if let (Phase::Restoring { since, .. }, Phase::Consuming) = (self.phase, next) {
            info!(
                restored = self.stats.restored,
                seconds = format!("{:.1}", since.elapsed().as_secs_f64()),
                "state restored; output is live"
            );
        }
        self.phase = next;
    }

    /// After a round's messages and positions: ends a restore that has caught up, or
    /// logs its progress every few seconds (a restore of a large topic takes minutes, and
    /// the instance is not ready meanwhile).
    fn end_round(&mut self, remaining: i64) {
        self.step(Step::Round {
            restored: self.assignment.restored(),
        });
        if let Phase::Restoring { since, logged } = &mut self.phase {
            if logged.elapsed() >= RESTORE_LOG_EVERY {
                *logged = Instant::now();
                info!(
                    remaining,
                    restored = self.stats.restored,
                    seconds = since.elapsed().as_secs(),
                    "restoring the state from the input"
                );
            }
        }
    }

    /// Hands this round's output to the emitter.
    fn flush_round(&mut self) -> anyhow::Result<()> {
        if self.round.is_empty() {
            return Ok(());
        }
        self.emitter.submit(std::mem::take(&mut self.round))
    }

    /// Applies `first` and every other change the last poll brought, once what was
    /// handled before them is out.
    fn apply_changes(
        &mut self,
        consumer: &BaseConsumer<ConsumerCtx>,
        first: AssignmentChange,
    ) -> anyhow::Result<()> {
        // What was handled before the change belongs to the old generation.
        self.flush_round()?;
        self.apply_change(consumer, first)?;
        while let Ok(change) = self.changes.try_recv() {
            self.apply_change(consumer, change)?;
        }
        Ok(())
    }

    fn apply_change(
        &mut self,
        consumer: &BaseConsumer<ConsumerCtx>,
        change: AssignmentChange,
    ) -> anyhow::Result<()> {
        self.stats.rebalances += 1;
        // Whatever the change, the old generation's progress is no longer ours to
        // commit (exactly once: its open transaction is aborted), and the state is
        // rebuilt from the new assignment.
        let (partitions, metadata) = match &change {
            AssignmentChange::Assigned(list, _) => (
                list.iter().map(|(t, p, _)| (t.clone(), *p)).collect(),
                consumer.group_metadata(),
            ),
            AssignmentChange::Revoked => (Vec::new(), None),
        };
        self.emitter.reset(Generation {
            partitions,
            metadata,
        })?;
        let change = match (change, self.guarantee) {
            // Exactly once, the committed offsets are read now that no transaction
            // of ours is open: one read in the rebalance callback could predate the
            // commit of a transaction still in flight, and output would repeat.
            (AssignmentChange::Assigned(list, restored), Guarantee::ExactlyOnce { .. }) => {
                AssignmentChange::Assigned(committed_targets(consumer, list), restored)
            }
            (change, _) => change,
        };
        self.metrics.reset_consumer_lag();
        match change {
            AssignmentChange::Assigned(list, restored) => {
                let (engine, starts) = match restored {
                    Some(r) => (r.engine, r.partitions),
                    None => (Engine::new(&self.config.engine(), self.mode), Vec::new()),
                };
                self.engine = engine;
                let from_snapshot = !starts.is_empty();
                let inputs = &self.config.kafka.inputs;
                self.assignment = Assignment::new(
                    &list,
                    |topic| {
                        inputs
                            .iter()
                            .find(|i| i.topic == topic)
                            .map_or(Encoding::Json, |i| i.encoding)
                    },
                    |topic, partition| next_offset(&starts, topic, partition).unwrap_or(0),
                );
                self.counters = list
                    .iter()
                    .map(|(topic, _, _)| self.metrics.topic(topic))
                    .collect();
                let wall = wall_clock();
                for i in 0..list.len() as u32 {
                    self.engine.own_partition(i, wall);
                }
                self.skip_deleted_history(consumer);
                if list.is_empty() {
                    info!("standing by: another instance of the group holds the input");
                } else {
                    info!(
                        partitions = list.len(),
                        restoring = !self.assignment.restored(),
                        remaining = self.assignment.remaining(),
                        from = if from_snapshot {
                            "a snapshot"
                        } else {
                            "the start of each partition"
                        },
                        "partitions assigned; rebuilding state"
                    );
                }
                self.step(Step::Assigned {
                    partitions: list.len(),
                    restored: self.assignment.restored(),
                });
            }
            AssignmentChange::Revoked => {
                self.engine = Engine::new(&self.config.engine(), self.mode);
                self.assignment = Assignment::default();
                self.counters.clear();
                self.step(Step::Revoked);
                info!("partitions revoked");
            }
        }
        Ok(())
    }

    /// Exactly once, after an aborted transaction: the engine is ahead of what was
    /// committed, so the state is rebuilt like on an assignment of the same partitions,
    /// re-reading each from the newest usable snapshot or from its start, with the
    /// committed offsets as restore targets.
    fn rebuild(&mut self, consumer: &BaseConsumer<ConsumerCtx>) -> anyhow::Result<()> {
        warn!("rebuilding the state after an aborted transaction");
        // Its output belongs to the aborted generation.
        self.round = Round::default();
        let list: Vec<(String, i32, Option<i64>)> = self
            .assignment
            .partitions()
            .iter()
            .map(|p| (p.topic.clone(), p.partition, None))
            .collect();
        let list = committed_targets(consumer, list);
        let restored = consumer
            .context()
            .snapshots
            .as_ref()
            .and_then(|loader| loader.load(&list))
            .map(Box::new);
        for (topic, partition, _) in &list {
            let offset = start_offset(restored.as_deref(), topic, *partition);
            consumer
                .seek(topic, *partition, offset, METADATA_TIMEOUT)
                .with_context(|| format!("seeking {topic}/{partition} to {offset:?}"))?;
        }
        self.apply_change(consumer, AssignmentChange::Assigned(list, restored))
    }

    /// A restore target at or below a partition's first retained offset has nothing left
    /// to re-read.
    fn skip_deleted_history(&mut self, consumer: &BaseConsumer<ConsumerCtx>) {
        for i in 0..self.assignment.partitions().len() as u32 {
            let p = self.assignment.get(i);
            if p.caught_up {
                continue;
            }
            match consumer.fetch_watermarks(&p.topic, p.partition, METADATA_TIMEOUT) {
                Ok((low, high)) => {
                    if low >= p.restore_target || high <= low {
                        self.assignment.nothing_to_reread(i);
                    }
                }
                Err(e) => warn!(error = %e, topic = %p.topic, partition = p.partition,
                                "could not read the partition's offsets"),
            }
        }
    }

    /// Marks partitions whose consumer position passed the restore target.
    fn check_positions(&mut self, consumer: &BaseConsumer<ConsumerCtx>) {
        let Ok(positions) = consumer.position() else {
            return;
        };
        for e in positions.elements() {
            if let (Offset::Offset(pos), Some(i)) = (
                e.offset(),
                self.assignment.index_of(e.topic(), e.partition()),
            ) {
                self.assignment.reached(i, pos);
            }
        }
    }

    /// Handles the messages polled since the last call, in order: each run from one
    /// partition goes through the engine as one batch (its lookups overlap), and each
    /// message's warnings stay attributed to it for the commit bookkeeping.
    fn handle_batch(
        &mut self,
        batch: &mut Vec<BorrowedMessage<'_>>,
        wall: EventTime,
    ) -> anyhow::Result<()> {
        let mut start = 0;
        while start < batch.len() {
            let (topic, partition) = (batch[start].topic(), batch[start].partition());
            let len = batch[start..]
                .iter()
                .take_while(|m| m.partition() == partition && m.topic() == topic)
                .count();
            let run = &batch[start..start + len];
            start += len;
            let Some(index) = self.assignment.index_of(topic, partition) else {
                debug!(topic, partition, "messages of a partition not owned");
                continue;
            };
            self.handle_run(index, run, wall);
        }
        batch.clear();
        Ok(())
    }

    fn handle_run(&mut self, index: u32, run: &[BorrowedMessage<'_>], wall: EventTime) {
        let encoding = self.assignment.get(index).encoding;
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        // Per message: its event's place in `events`, or why it was refused.
        let decoded: Vec<Result<usize, Rejection>> = run
            .iter()
            .map(|m| {
                let payload = m.payload().unwrap_or(&[]);
                let event = match encoding {
                    Encoding::Json => self.json.decode(payload),
                    Encoding::Protobuf => self.protobuf.decode(payload),
                }?;
                events.push(event);
                Ok(events.len() - 1)
            })
            .collect();
        let mut out = std::mem::take(&mut self.out);
        let mut results = self
            .engine
            .process_batch_counted(index, &events, wall, &mut out)
            .into_iter();
        let mut warnings = out.drain(..);
        let placement = self.assignment.partition_count(index);
        for (m, decoded) in run.iter().zip(decoded) {
            // Placement is otherwise invisible: a producer partitioning by another
            // function than `input.partitioner` splits members between partitions.
            if let (Some(key), Some(n)) = (m.key(), placement) {
                let expected = self.config.input.partitioner.partition(key, n);
                if expected.is_some_and(|p| p as i32 != m.partition()) {
                    self.counters[index as usize].misplaced();
                }
            }
            let (result, count) = match decoded {
                Ok(i) => match results.next() {
                    Some((result, count)) => (result.map(|()| events[i].body.type_index()), count),
                    // One result per event, by `process_batch_counted`'s contract.
                    None => (Ok(events[i].body.type_index()), 0),
                },
                Err(rejection) => (Err(rejection), 0),
            };
            if self.assignment.is_restoring(index, m.offset()) {
                // Its output was committed before the restart; only the state was needed.
                self.stats.restored += 1;
                warnings.by_ref().take(count).for_each(drop);
                continue;
            }
            self.stats.consumed += 1;
            let counters = &self.counters[index as usize];
            let dead_letter = match result {
                Ok(type_index) => {
                    counters.consumed(type_index);
                    None
                }
                Err(rejection) => {
                    counters.rejected(rejection.reason);
                    Some(self.dead_letter(m, &rejection))
                }
            };
            self.stats.warnings += count as u64;
            self.round.message_with(
                (index, m.offset() + 1),
                m.timestamp().to_millis(),
                count,
                warnings.by_ref(),
                dead_letter,
            );
        }
        drop(warnings);
        self.out = out;
        self.events = events;
    }

    fn dead_letter(&mut self, m: &BorrowedMessage<'_>, rejection: &Rejection) -> DeadLetter {
        *self.stats.rejections.entry(rejection.reason).or_default() += 1;
        self.stats.dead_letters += 1;
        DeadLetter {
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers: dead_letter_headers(
                m.headers(),
                rejection,
                m.topic(),
                m.partition(),
                m.offset(),
            ),
        }
    }

    fn tick(&mut self) -> anyhow::Result<()> {
        let wall = wall_clock();
        let mut out = std::mem::take(&mut self.out);
        self.engine.tick(wall, &mut out);
        self.stats.warnings += out.len() as u64;
        self.round.tick(&mut out);
        self.out = out;
        self.flush_round()
    }

    /// Commits the safe offsets if they moved since the last commit (at least once;
    /// exactly once, offsets are committed by the transactions).
    fn commit_progress(&mut self, consumer: &BaseConsumer<ConsumerCtx>) {
        let offsets = self.emitter.take_commit();
        if !offsets.is_empty() && !self.commit(consumer, &offsets, CommitMode::Async) {
            self.emitter.commit_failed();
        }
    }

    /// Commits `offsets` (partition index → next offset); false if the request failed.
    /// An asynchronous commit that fails later is only logged: the next one carries the
    /// same offsets or higher ones, and shutdown commits every safe offset synchronously.
    fn commit(
        &mut self,
        consumer: &BaseConsumer<ConsumerCtx>,
        offsets: &BTreeMap<u32, i64>,
        mode: CommitMode,
    ) -> bool {
        let mut tpl = TopicPartitionList::new();
        for (&index, &next) in offsets {
            let p = self.assignment.get(index);
            if let Err(e) = tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(next)) {
                error!(error = %e, "building the commit");
            }
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => {
                self.stats.commits += 1;
                true
            }
            Err(e) => {
                self.metrics.commit_failed();
                warn!(error = %e, "offset commit failed; will retry");
                false
            }
        }
    }
}
