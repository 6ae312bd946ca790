//! The producing half of `churnwatch run`, on a thread of its own: encoding warnings,
//! handing records to librdkafka, serving delivery reports, re-sending refused records and
//! the at-least-once bookkeeping ([`CommitTracker`]) all happen here, so the thread that
//! owns the consumer and the engine spends its time on the input.
//!
//! The pipeline hands over one [`Round`] per poll round (the output of up to a thousand
//! messages, in input order) through a bounded channel: a slow or absent broker fills
//! librdkafka's queue, then this thread, then the channel, and the pipeline stops
//! consuming until acknowledgements make room. Nothing is dropped.
//!
//! What the thread has to tell the pipeline (safe offsets, records in flight, a reset
//! carried out, a rebuild needed, a failure) comes back as [`Report`]s on a channel of
//! their own, and the pipeline keeps its own view of them: neither side holds a lock the
//! other waits for, and the pipeline's waits (for room in the round queue, for a reset to
//! be carried out) are blocking receives rather than sleeps, timed out only to notice a
//! second signal. At least once, the safe offsets are tagged with the consumer-group
//! generation they belong to, so offsets of partitions lost in a rebalance are never
//! committed. Exactly once, the records and the input offsets of every
//! `commit_interval` go into one Kafka transaction; a transaction that fails is aborted
//! (its records never become visible to `read_committed` readers) and the pipeline is
//! asked to rebuild its state from the last committed offsets, so the aborted output is
//! produced again, once.
//!
//! Tutor alerts reach the live feed ([`AlertFeed`]) only once they are visible to a
//! `read_committed` reader: exactly once, right after their transaction commits (an
//! aborted one publishes nothing); at least once, when the broker has acknowledged their
//! unit and every unit before it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{self as channel, Receiver, RecvTimeoutError, SendTimeoutError};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{error, info, warn};

use super::commits::{CommitTracker, UnitId};
use super::records::WarningEncoder;
use super::shutdown::Shutdown;
use crate::alerts_feed::{AlertFeed, PendingAlert};
use crate::clock::wall_clock;
use crate::config::KafkaConfig;
use crate::engine::Warning;
use crate::metrics::Metrics;

/// How long one slice of an abort may block before delivery reports are served.
const ABORT_SLICE: Duration = Duration::from_millis(100);

/// Pause before a record the broker refused is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Rounds waiting for this thread at most: beyond that the pipeline waits (back-pressure).
const ROUNDS_QUEUED: usize = 4;
/// How long the thread waits for a round before it serves delivery reports anyway.
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// How long the pipeline blocks, waiting on this thread, before it looks for a second
/// signal (which ends the wait).
const RECHECK: Duration = Duration::from_millis(100);

/// A refused record's dead letter: the original message, unchanged, with headers.
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: OwnedHeaders,
}

/// One unit of output: what one input message (or one wall-clock tick) caused.
#[derive(Debug, Clone, Copy)]
struct UnitOut {
    /// Partition index and the next offset to read once this unit is done.
    advance: Option<(u32, i64)>,
    /// The unit's warnings are the next `warnings` of [`Round::warnings`].
    warnings: u32,
    /// The unit's dead letter is the next of [`Round::dead_letters`].
    dead_letter: bool,
    /// Kafka timestamp of the input record (for the latency histogram).
    source_ms: Option<i64>,
}

/// The output of one poll round, in input order.
#[derive(Default)]
pub struct Round {
    units: Vec<UnitOut>,
    warnings: Vec<Warning>,
    dead_letters: Vec<DeadLetter>,
}

impl Round {
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The output of a consumed message: its warnings (drained from `warnings`) and its
    /// dead letter, if refused.
    #[cfg(test)]
    pub fn message(
        &mut self,
        advance: (u32, i64),
        source_ms: Option<i64>,
        warnings: &mut Vec<Warning>,
        dead_letter: Option<DeadLetter>,
    ) {
        let count = warnings.len();
        self.message_with(advance, source_ms, count, warnings.drain(..), dead_letter);
    }

    /// [`Round::message`] with the message's `count` warnings taken from `warnings`.
    pub fn message_with(
        &mut self,
        advance: (u32, i64),
        source_ms: Option<i64>,
        count: usize,
        warnings: impl Iterator<Item = Warning>,
        dead_letter: Option<DeadLetter>,
    ) {
        let quiet = count == 0 && dead_letter.is_none();
        // Most messages cause nothing: a run of them from one partition is one unit, so
        // the bookkeeping is per output, not per input.
        if let Some(last) = self.units.last_mut() {
            let same_partition = last.advance.is_some_and(|(p, _)| p == advance.0);
            if quiet && same_partition && last.warnings == 0 && !last.dead_letter {
                last.advance = Some(advance);
                return;
            }
        }
        self.units.push(UnitOut {
            advance: Some(advance),
            warnings: count as u32,
            dead_letter: dead_letter.is_some(),
            source_ms,
        });
        let before = self.warnings.len();
        self.warnings.extend(warnings.take(count));
        debug_assert_eq!(self.warnings.len() - before, count);
        self.dead_letters.extend(dead_letter);
    }

    /// Warnings fired by the wall clock alone.
    pub fn tick(&mut self, warnings: &mut Vec<Warning>) {
        if warnings.is_empty() {
            return;
        }
        self.units.push(UnitOut {
            advance: None,
            warnings: warnings.len() as u32,
            dead_letter: false,
            source_ms: None,
        });
        self.warnings.append(warnings);
    }
}

/// How the output is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarantee {
    AtLeastOnce,
    /// One transaction per `commit_every`.
    ExactlyOnce {
        commit_every: Duration,
    },
}

/// A new generation: after a rebalance, or a rebuild after an aborted transaction.
pub struct Generation {
    /// The owned partitions by engine index.
    pub partitions: Vec<(String, i32)>,
    /// The consumer's group metadata (exactly once: it fences zombie instances).
    pub metadata: Option<ConsumerGroupMetadata>,
}

/// What the pipeline asks of the emitter thread.
enum Command {
    Round(u64, Round),
    /// Units and transactions of earlier generations are forgotten (an open transaction
    /// is aborted).
    Reset(u64, Generation),
    /// Send everything, wait for every acknowledgement (or a forced stop), then end.
    Drain,
}

/// What the thread tells the pipeline, in the order it happened.
#[derive(Debug)]
enum Report {
    /// Sent when something here moved: the thread's generation, its records in flight,
    /// and (at least once) the safe offsets, when they moved since the last report.
    Progress {
        generation: u64,
        in_flight: u64,
        safe: Option<BTreeMap<u32, i64>>,
    },
    /// The reset to this generation is carried out: no transaction of an earlier one is
    /// open, and its units are forgotten.
    Settled(u64),
    /// Exactly once: a transaction of this generation was aborted; its state must be
    /// rebuilt from the committed offsets.
    Rebuild(u64),
    /// The thread ended on this error.
    Failed(String),
}

/// The pipeline's view of the thread, as far as its reports have told.
#[derive(Debug, Default)]
struct Reported {
    /// The generation `safe` belongs to.
    generation: u64,
    safe: BTreeMap<u32, i64>,
    /// `safe` moved since it was last taken for a commit.
    changed: bool,
    in_flight: u64,
    failure: Option<String>,
    /// The last generation whose reset the thread has carried out.
    settled: u64,
    /// Exactly once: the generation whose state must be rebuilt.
    rebuild: Option<u64>,
}

impl Reported {
    fn apply(&mut self, report: Report) {
        match report {
            Report::Progress {
                generation,
                in_flight,
                safe,
            } => {
                self.in_flight = in_flight;
                if self.generation != generation {
                    self.generation = generation;
                    self.safe.clear();
                    self.changed = false;
                }
                if let Some(safe) = safe {
                    self.safe = safe;
                    self.changed = true;
                }
            }
            Report::Settled(generation) => self.settled = generation,
            Report::Rebuild(generation) => self.rebuild = Some(generation),
            Report::Failed(failure) => self.failure = Some(failure),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means the other thread panicked between two plain writes.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The pipeline's handle on the producing thread.
pub struct Emitter {
    /// Bounded: a full queue is back-pressure on the pipeline.
    commands: channel::Sender<Command>,
    reports: Receiver<Report>,
    /// What the reports received so far say.
    reported: Reported,
    thread: Option<JoinHandle<()>>,
    generation: u64,
    shutdown: Shutdown,
}

impl Emitter {
    pub fn start(
        config: &KafkaConfig,
        producer: BaseProducer<ProducerCtx>,
        guarantee: Guarantee,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
        feed: Option<Arc<AlertFeed>>,
    ) -> anyhow::Result<Emitter> {
        let (commands, inbox) = channel::bounded(ROUNDS_QUEUED);
        let (reporter, reports) = channel::unbounded();
        let worker = Worker {
            sender: Sender {
                producer,
                tracker: CommitTracker::new(),
                refused: VecDeque::new(),
                shutdown: shutdown.clone(),
                metrics: metrics.clone(),
                retry_refused: guarantee == Guarantee::AtLeastOnce,
            },
            encoder: WarningEncoder::new(config.warnings_encoding),
            warnings_topic: config.warnings_topic.clone(),
            dead_letter_topic: config.dead_letter_topic.clone(),
            metrics,
            reports: reporter,
            reported: (0, 0),
            generation: 0,
            guarantee,
            txn: None,
            poisoned: false,
            feed,
            gate: AlertGate::default(),
            current: Generation {
                partitions: Vec::new(),
                metadata: None,
            },
        };
        let thread = thread::Builder::new()
            .name("emitter".into())
            .spawn(move || worker.run(inbox))
            .context("starting the producing thread")?;
        Ok(Emitter {
            commands,
            reports,
            reported: Reported::default(),
            thread: Some(thread),
            generation: 0,
            shutdown,
        })
    }

    /// Takes in every report the thread has sent so far.
    fn receive(&mut self) {
        while let Ok(report) = self.reports.try_recv() {
            self.reported.apply(report);
        }
    }

    /// Fails if the producing thread failed (a record that can never be produced).
    pub fn check(&mut self) -> anyhow::Result<()> {
        self.receive();
        match &self.reported.failure {
            Some(failure) => anyhow::bail!("producing failed: {failure}"),
            None => Ok(()),
        }
    }

    /// Queues `command`, blocking while the queue is full. The thread may be stuck on
    /// the broker (a transaction commit waits for it), so the wait ends on a second
    /// signal, or when the thread ends.
    fn command(&mut self, mut command: Command) -> anyhow::Result<()> {
        loop {
            match self.commands.send_timeout(command, RECHECK) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(back)) => {
                    command = back;
                    self.check()?;
                    if self.shutdown.forced() {
                        anyhow::bail!("stopped while waiting for the broker to take records");
                    }
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.check()?;
                    anyhow::bail!("the producing thread ended");
                }
            }
        }
    }

    /// Hands a round's output over, waiting while the producing side is behind.
    pub fn submit(&mut self, round: Round) -> anyhow::Result<()> {
        if round.is_empty() {
            return Ok(());
        }
        self.command(Command::Round(self.generation, round))
    }

    /// A rebalance or a rebuild: the old generation's offsets are never committed, and
    /// (exactly once) its open transaction is aborted. Returns once the thread has done
    /// so, so that committed offsets read afterwards are final.
    pub fn reset(&mut self, next: Generation) -> anyhow::Result<()> {
        self.generation += 1;
        self.command(Command::Reset(self.generation, next))?;
        while self.reported.settled < self.generation {
            match self.reports.recv_timeout(RECHECK) {
                Ok(report) => self.reported.apply(report),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.check()?;
                    anyhow::bail!("the producing thread ended");
                }
            }
            self.check()?;
            if self.shutdown.forced() {
                anyhow::bail!("stopped while the producing side was resetting");
            }
        }
        Ok(())
    }

    /// Exactly once: a transaction of the current generation was aborted; the state must
    /// be rebuilt from the committed offsets.
    pub fn rebuild_requested(&mut self) -> bool {
        self.receive();
        self.reported.rebuild == Some(self.generation)
    }

    /// The current generation's safe offsets, if they moved since they were last taken.
    pub fn take_commit(&mut self) -> BTreeMap<u32, i64> {
        self.receive();
        let r = &mut self.reported;
        if r.generation == self.generation && std::mem::take(&mut r.changed) {
            r.safe.clone()
        } else {
            BTreeMap::new()
        }
    }

    /// The offsets last taken were not committed: hand them out again.
    pub fn commit_failed(&mut self) {
        let r = &mut self.reported;
        r.changed = !r.safe.is_empty();
    }

    pub fn in_flight(&mut self) -> u64 {
        self.receive();
        self.reported.in_flight
    }

    /// Sends everything, waits for every acknowledgement (a second signal cuts it
    /// short) and returns the current generation's safe offsets.
    pub fn drain(&mut self) -> anyhow::Result<BTreeMap<u32, i64>> {
        // A thread that already ended (failure) is reported by `check` below.
        let _ = self.command(Command::Drain);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                anyhow::bail!("the producing thread panicked");
            }
        }
        self.check()?;
        let r = &self.reported;
        Ok(if r.generation == self.generation {
            r.safe.clone()
        } else {
            BTreeMap::new()
        })
    }
}

struct Worker {
    sender: Sender,
    encoder: WarningEncoder,
    warnings_topic: String,
    dead_letter_topic: String,
    metrics: Arc<Metrics>,
    reports: channel::Sender<Report>,
    /// The generation and in-flight count last reported, so that an idle turn reports
    /// nothing.
    reported: (u64, u64),
    generation: u64,
    guarantee: Guarantee,
    /// Exactly once: the open transaction.
    txn: Option<Txn>,
    /// Exactly once: this generation's transaction was aborted; its rounds are dropped
    /// until the pipeline starts a new generation.
    poisoned: bool,
    current: Generation,
    /// Where tutor alerts go once committed; `None` when nobody watches (HTTP off).
    feed: Option<Arc<AlertFeed>>,
    /// Tutor alerts not yet visible downstream.
    gate: AlertGate,
}

/// Tutor alerts on their way to the live feed, held until the records that carry them
/// are visible to `read_committed` readers.
#[derive(Debug, Default)]
struct AlertGate {
    /// Exactly once: the open transaction's, in order.
    in_transaction: Vec<PendingAlert>,
    /// At least once: by unit, in unit order, until the unit settles.
    by_unit: VecDeque<(UnitId, Vec<PendingAlert>)>,
}

impl AlertGate {
    fn hold_in_transaction(&mut self, alerts: &mut Vec<PendingAlert>) {
        self.in_transaction.append(alerts);
    }

    fn hold_for_unit(&mut self, unit: UnitId, alerts: Vec<PendingAlert>) {
        if !alerts.is_empty() {
            self.by_unit.push_back((unit, alerts));
        }
    }

    /// The transaction committed: its alerts may be shown.
    fn committed(&mut self) -> Vec<PendingAlert> {
        std::mem::take(&mut self.in_transaction)
    }

    /// The transaction was aborted: its alerts never happened (the redo brings them).
    fn aborted(&mut self) {
        self.in_transaction.clear();
    }

    /// The alerts of units below `settled_below`, which are acknowledged.
    fn settled(&mut self, settled_below: UnitId) -> Vec<PendingAlert> {
        let mut out = Vec::new();
        while self
            .by_unit
            .front()
            .is_some_and(|(unit, _)| *unit < settled_below)
        {
            if let Some((_, alerts)) = self.by_unit.pop_front() {
                out.extend(alerts);
            }
        }
        out
    }

    /// A new generation: the old units are forgotten, and so are their alerts (whoever
    /// owns that input now produces them again, and shows them then).
    fn forget_units(&mut self) {
        self.by_unit.clear();
    }
}

/// An open transaction: when it began and the input offsets it will commit.
struct Txn {
    began: Instant,
    offsets: BTreeMap<u32, i64>,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Command>) {
        if let Err(e) = self.serve(&inbox) {
            error!(error = %format!("{e:#}"), "producing failed");
            self.report(Report::Failed(format!("{e:#}")));
        }
    }

    fn report(&self, report: Report) {
        // Fails only once the pipeline is gone, when nobody is left to tell.
        let _ = self.reports.send(report);
    }

    fn serve(&mut self, inbox: &Receiver<Command>) -> anyhow::Result<()> {
        loop {
            match inbox.recv_timeout(IDLE_WAIT) {
                Ok(Command::Round(generation, round)) => {
                    if generation == self.generation && !self.poisoned {
                        self.emit(round)?;
                    }
                }
                Ok(Command::Reset(generation, next)) => {
                    self.abort_open()?;
                    self.gate.forget_units();
                    self.sender.tracker.reset();
                    self.generation = generation;
                    self.current = next;
                    self.poisoned = false;
                    self.publish();
                    self.report(Report::Settled(generation));
                }
                Ok(Command::Drain) | Err(RecvTimeoutError::Disconnected) => {
                    match self.guarantee {
                        Guarantee::AtLeastOnce => {
                            self.sender.drain()?;
                            self.release_acknowledged();
                        }
                        Guarantee::ExactlyOnce { .. } => {
                            if !self.poisoned {
                                self.commit_open()?;
                            }
                        }
                    }
                    self.publish();
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.sender.service(Duration::ZERO)?;
            self.release_acknowledged();
            if let (Guarantee::ExactlyOnce { commit_every }, Some(txn)) =
                (self.guarantee, &self.txn)
            {
                if txn.began.elapsed() >= commit_every {
                    self.commit_open()?;
                }
            }
            self.publish();
        }
    }

    /// Tells the pipeline what moved; an idle turn (every few milliseconds) tells
    /// nothing, so that the reports carry news only.
    fn publish(&mut self) {
        let safe = match self.guarantee {
            Guarantee::AtLeastOnce => self.sender.tracker.take_commit(),
            // Offsets go into the transactions; the pipeline commits nothing itself.
            Guarantee::ExactlyOnce { .. } => BTreeMap::new(),
        };
        let now = (self.generation, self.sender.tracker.in_flight());
        if now == self.reported && safe.is_empty() {
            return;
        }
        self.reported = now;
        self.report(Report::Progress {
            generation: now.0,
            in_flight: now.1,
            safe: (!safe.is_empty()).then_some(safe),
        });
    }

    /// Exactly once: commits the open transaction with its input offsets. A failure that
    /// the transaction survives is retried; one that dooms it aborts it and asks the
    /// pipeline for a rebuild; a fatal one (this producer was fenced) ends the thread.
    fn commit_open(&mut self) -> anyhow::Result<()> {
        let Some(txn) = self.txn.take() else {
            return Ok(());
        };
        let mut tpl = TopicPartitionList::new();
        for (&index, &next) in &txn.offsets {
            if let Some((topic, partition)) = self.current.partitions.get(index as usize) {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(next))?;
            }
        }
        let producer = &self.sender.producer;
        let mut attempts = 0;
        let result = loop {
            let attempt = match (&self.current.metadata, tpl.count()) {
                (_, 0) => Ok(()),
                (Some(metadata), _) => {
                    producer.send_offsets_to_transaction(&tpl, metadata, Timeout::Never)
                }
                // Offsets without a group generation to fence with: never expected after
                // an assignment; the transaction is aborted and redone.
                (None, _) => Err(KafkaError::Canceled),
            }
            .and_then(|()| producer.commit_transaction(Timeout::Never));
            match attempt {
                Err(KafkaError::Transaction(e)) if e.is_retriable() && attempts < 5 => {
                    attempts += 1;
                    warn!(error = %e, "committing the transaction: retrying");
                    thread::sleep(Duration::from_millis(100 << attempts));
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => {
                let alerts = self.gate.committed();
                if let Some(feed) = &self.feed {
                    feed.publish(alerts);
                }
                Ok(())
            }
            Err(KafkaError::Transaction(e)) if e.is_fatal() => {
                Err(anyhow::anyhow!("the transaction cannot commit: {e}"))
            }
            Err(e) => {
                warn!(error = %e, "the transaction failed; aborting it and rebuilding the state");
                self.abort_serving()?;
                self.poisoned = true;
                self.sender.refused.clear();
                self.report(Report::Rebuild(self.generation));
                Ok(())
            }
        }
    }

    /// Exactly once: aborts the open transaction (a rebalance took the partitions, or
    /// the state is being rebuilt).
    fn abort_open(&mut self) -> anyhow::Result<()> {
        if self.txn.take().is_none() {
            return Ok(());
        }
        info!("aborting the open transaction: the assignment changed");
        self.abort_serving()
    }

    /// Aborts the open transaction. librdkafka's abort first waits until every record
    /// handed to it has had its delivery report served, and this thread is the one that
    /// serves them: one blocking call deadlocks whenever records are still in flight (a
    /// rebalance mid-stream). So the abort goes in short slices, serving delivery
    /// reports in between; librdkafka resumes a timed-out abort where it left off.
    fn abort_serving(&mut self) -> anyhow::Result<()> {
        // Whatever the abort's outcome, the transaction's records are never visible.
        self.gate.aborted();
        loop {
            match self.sender.producer.abort_transaction(ABORT_SLICE) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(e)) if e.is_fatal() => {
                    return Err(anyhow::anyhow!("aborting the transaction: {e}"));
                }
                Err(KafkaError::Transaction(e)) if e.is_retriable() => {
                    self.sender.service(Duration::ZERO)?;
                }
                Err(e) => {
                    warn!(error = %e, "aborting the transaction");
                    return Ok(());
                }
            }
        }
    }

    fn emit(&mut self, round: Round) -> anyhow::Result<()> {
        if matches!(self.guarantee, Guarantee::ExactlyOnce { .. }) && self.txn.is_none() {
            self.sender.producer.begin_transaction()?;
            self.txn = Some(Txn {
                began: Instant::now(),
                offsets: BTreeMap::new(),
            });
        }
        let now = wall_clock().as_millis();
        let mut warnings = round.warnings.into_iter();
        let mut dead_letters = round.dead_letters.into_iter();
        for unit in round.units {
            let id = self.sender.tracker.open(unit.advance);
            if unit.dead_letter {
                if let Some(d) = dead_letters.next() {
                    let topic = &self.dead_letter_topic;
                    self.sender.send(
                        id,
                        topic,
                        d.key.as_deref(),
                        d.payload.as_deref(),
                        d.headers,
                    )?;
                }
            }
            let mut alerts = Vec::new();
            for w in warnings.by_ref().take(unit.warnings as usize) {
                if self.feed.is_some() {
                    alerts.extend(PendingAlert::of(&w));
                }
                self.metrics.warning(&w);
                if let Some(source) = unit.source_ms {
                    self.metrics.latency(source, now);
                }
                let record = self.encoder.encode(&w);
                self.sender.send(
                    id,
                    &self.warnings_topic,
                    Some(record.key.as_bytes()),
                    Some(record.payload),
                    record.headers,
                )?;
            }
            if self.txn.is_some() {
                self.gate.hold_in_transaction(&mut alerts);
            } else {
                self.gate.hold_for_unit(id, alerts);
            }
            self.sender.tracker.close(id);
            if let (Some(txn), Some((partition, next))) = (self.txn.as_mut(), unit.advance) {
                let offset = txn.offsets.entry(partition).or_insert(next);
                *offset = (*offset).max(next);
            }
        }
        self.release_acknowledged();
        Ok(())
    }

    /// At least once: publishes the alerts of units that have settled (every record of
    /// theirs, and of every unit before, acknowledged).
    fn release_acknowledged(&mut self) {
        let alerts = self.gate.settled(self.sender.tracker.settled_below());
        if let (Some(feed), false) = (&self.feed, alerts.is_empty()) {
            feed.publish(alerts);
        }
    }
}

/// A record the broker refused, kept to be sent again: nothing is dropped.
struct Refused {
    unit: UnitId,
    topic: String,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
    retry_at: Instant,
}

enum Delivery {
    Acked(UnitId),
    Refused(Refused, KafkaError),
}

pub struct ProducerCtx {
    deliveries: Mutex<Vec<Delivery>>,
}

impl ProducerCtx {
    pub fn new() -> ProducerCtx {
        ProducerCtx {
            deliveries: Mutex::new(Vec::new()),
        }
    }
}

impl ClientContext for ProducerCtx {}

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, unit: usize) {
        let unit = unit as UnitId;
        let delivery = match result {
            Ok(_) => Delivery::Acked(unit),
            Err((e, m)) => Delivery::Refused(
                Refused {
                    unit,
                    topic: m.topic().to_owned(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers: m.headers().map(|h| h.detach()),
                    retry_at: Instant::now() + RETRY_AFTER,
                },
                e.clone(),
            ),
        };
        lock(&self.deliveries).push(delivery);
    }
}

/// The producer, records in flight, their units, and the ones to send again.
struct Sender {
    producer: BaseProducer<ProducerCtx>,
    tracker: CommitTracker,
    refused: VecDeque<Refused>,
    shutdown: Shutdown,
    metrics: Arc<Metrics>,
    /// At least once, a refused record is sent again; exactly once, it fails its
    /// transaction, which is aborted and redone.
    retry_refused: bool,
}

impl Sender {
    /// Hands a record to the producer, waiting for queue space as long as it takes: a
    /// full queue is back-pressure, not a reason to drop.
    fn send(
        &mut self,
        unit: UnitId,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> anyhow::Result<()> {
        let mut record =
            BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, unit as usize).headers(headers);
        record.key = key;
        record.payload = payload;
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.tracker.sent(unit);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.service(Duration::from_millis(100))?;
                    if self.shutdown.forced() {
                        anyhow::bail!("stopped while waiting for the broker to take records");
                    }
                }
                Err((e, _)) => {
                    return Err(e).with_context(|| format!("producing to {topic}"));
                }
            }
        }
    }

    /// Serves delivery reports and re-sends refused records whose pause is over.
    fn service(&mut self, wait: Duration) -> anyhow::Result<()> {
        self.producer.poll(wait);
        let deliveries = std::mem::take(&mut *lock(&self.producer.context().deliveries));
        for d in deliveries {
            match d {
                Delivery::Acked(unit) => self.tracker.acked(unit),
                // Records of an aborted transaction, purged unsent: not a refusal.
                Delivery::Refused(_, e)
                    if matches!(
                        e.rdkafka_error_code(),
                        Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                    ) => {}
                Delivery::Refused(r, e) => {
                    self.metrics.produce_failed();
                    if self.retry_refused {
                        error!(error = %e, topic = %r.topic, "the broker refused a record; retrying");
                        self.refused.push_back(r);
                    } else {
                        error!(error = %e, topic = %r.topic, "the broker refused a record; its transaction will abort");
                    }
                }
            }
        }
        while self
            .refused
            .front()
            .is_some_and(|r| r.retry_at <= Instant::now())
        {
            let Some(r) = self.refused.pop_front() else {
                break;
            };
            let mut record =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(&r.topic, r.unit as usize);
            record.key = r.key.as_deref();
            record.payload = r.payload.as_deref();
            record.headers = r.headers.clone();
            if let Err((e, _)) = self.producer.send(record) {
                warn!(error = %e, "re-sending a refused record failed; will retry");
                self.refused.push_front(Refused {
                    retry_at: Instant::now() + RETRY_AFTER,
                    ..r
                });
                break;
            }
        }
        Ok(())
    }

    /// Waits until every record sent so far is acknowledged (or a second signal).
    fn drain(&mut self) -> anyhow::Result<()> {
        while self.tracker.in_flight() > 0 || !self.refused.is_empty() {
            self.service(Duration::from_millis(100))?;
            if self.shutdown.forced() {
                warn!(
                    in_flight = self.tracker.in_flight(),
                    "second signal: exiting without waiting; unacknowledged input is not committed"
                );
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u32) -> PendingAlert {
        let mut w = crate::output::fixtures::member(crate::engine::Detail::None, "x");
        w.id = crate::engine::WarningId(u128::from(n));
        PendingAlert::of(&w).expect("a tutor alert")
    }

    #[test]
    fn an_aborted_transaction_shows_no_alert_and_a_committed_one_shows_its_own() {
        let mut gate = AlertGate::default();
        gate.hold_in_transaction(&mut vec![alert(1), alert(2)]);
        gate.aborted();
        assert!(gate.committed().is_empty(), "no phantom alert");
        gate.hold_in_transaction(&mut vec![alert(1)]);
        gate.hold_in_transaction(&mut vec![alert(2)]);
        assert_eq!(gate.committed(), vec![alert(1), alert(2)], "in order");
        assert!(gate.committed().is_empty(), "shown once");
    }

    #[test]
    fn at_least_once_alerts_wait_for_their_unit_and_every_unit_before_it() {
        let mut gate = AlertGate::default();
        gate.hold_for_unit(3, vec![alert(3)]);
        gate.hold_for_unit(4, Vec::new());
        gate.hold_for_unit(5, vec![alert(5), alert(6)]);
        assert!(gate.settled(3).is_empty(), "unit 3 not settled");
        assert_eq!(gate.settled(5), vec![alert(3)]);
        assert_eq!(gate.settled(9), vec![alert(5), alert(6)]);
        gate.hold_for_unit(10, vec![alert(10)]);
        gate.forget_units();
        assert!(gate.settled(100).is_empty(), "a rebalance forgets them");
    }

    #[test]
    fn the_view_keeps_only_the_reporting_generations_offsets() {
        let mut view = Reported::default();
        let progress = |generation, in_flight, safe: &[(u32, i64)]| Report::Progress {
            generation,
            in_flight,
            safe: (!safe.is_empty()).then(|| safe.iter().copied().collect()),
        };
        view.apply(progress(0, 3, &[(0, 10)]));
        assert_eq!((view.in_flight, view.changed), (3, true));
        view.changed = false;
        view.apply(progress(0, 1, &[]));
        assert_eq!(view.safe, BTreeMap::from([(0, 10)]), "nothing moved");
        assert!(!view.changed);
        view.apply(progress(1, 0, &[]));
        assert!(
            view.safe.is_empty(),
            "a new generation starts with no offsets"
        );
        view.apply(Report::Settled(1));
        view.apply(progress(1, 0, &[(1, 4)]));
        assert_eq!((view.generation, view.settled), (1, 1));
        assert_eq!(view.safe, BTreeMap::from([(1, 4)]));
        assert!(view.changed);
    }

    #[test]
    fn quiet_messages_of_one_partition_are_one_unit() {
        let mut round = Round::default();
        let mut none = Vec::new();
        round.message((0, 1), None, &mut none, None);
        round.message((0, 2), None, &mut none, None);
        round.message((1, 7), None, &mut none, None);
        round.message((1, 8), None, &mut none, None);
        round.message((0, 3), None, &mut none, None);
        let advances: Vec<_> = round.units.iter().map(|u| u.advance).collect();
        assert_eq!(advances, vec![Some((0, 2)), Some((1, 8)), Some((0, 3))]);
    }

    #[test]
    fn a_message_with_output_starts_a_unit_of_its_own() {
        let mut round = Round::default();
        let mut none = Vec::new();
        round.message((0, 1), None, &mut none, None);
        let dead = DeadLetter {
            key: None,
            payload: Some(b"x".to_vec()),
            headers: OwnedHeaders::new(),
        };
        round.message((0, 2), Some(5), &mut none, Some(dead));
        round.message((0, 3), None, &mut none, None);
        let units: Vec<_> = round
            .units
            .iter()
            .map(|u| (u.advance, u.dead_letter))
            .collect();
        assert_eq!(
            units,
            vec![
                (Some((0, 1)), false),
                (Some((0, 2)), true),
                // Not merged into the dead letter's unit: that unit waits for an ack.
                (Some((0, 3)), false),
            ]
        );
        let mut none = Vec::new();
        round.tick(&mut none);
        assert_eq!(round.units.len(), 3, "a tick with no warning is nothing");
    }
}
