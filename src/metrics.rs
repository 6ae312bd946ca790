//! Prometheus metrics (`/metrics`), named by Prometheus conventions: base units,
//! `_total` counters, `_seconds` durations. No label carries an id: topics, partitions,
//! event types, reasons, kinds, severities, segments, stages and grades are all bounded.
//!
//! The engine keeps no metrics of its own (it stays pure); the thread that owns it
//! counts what passes through and, every `http.metrics_interval`, copies the engine's
//! census into the gauges with [`Metrics::observe_engine`]. Per-event counters are
//! resolved to their label values once, at start, so counting is an atomic add.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::engine::{CensusSlice, Engine, Grade, Label, Severity, Warning, WarningKind};
use crate::model::event::TYPE_NAMES;
use crate::model::EventTime;
use crate::reject::RejectReason;
use crate::state::Skip;

const SEVERITIES: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Notice];

/// Every metric churnwatch exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    events_consumed: IntCounterVec,
    events_rejected: IntCounterVec,
    events_misplaced: IntCounterVec,
    warnings_capped: IntCounter,
    commit_errors: IntCounter,
    produce_errors: IntCounter,
    event_to_warning: Histogram,
    watermark_lag: Gauge,
    watermark_timestamp: Gauge,
    consumer_lag: IntGaugeVec,
    members_by_segment: IntGaugeVec,
    members_by_stage: IntGaugeVec,
    members_by_churn_risk: IntGaugeVec,
    churn_model: IntGaugeVec,
    churn_expected_purchases: Gauge,
    churn_p_alive_mean: Gauge,
    churn_census_members: IntGauge,
    /// The churn census in progress: where the next slice starts and the sums so far.
    churn_census: std::sync::Mutex<CensusSlice>,
    groups_by_activity_grade: IntGaugeVec,
    groups_by_output_grade: IntGaugeVec,
    members_tracked: IntGauge,
    members_dormant: IntGauge,
    members_evicted: IntCounterVec,
    groups_tracked: IntGauge,
    state_memory: IntGauge,
    timers_pending: IntGauge,
    partitions_assigned: IntGauge,
    restore_remaining: IntGauge,
    ready: IntGauge,
    snapshots_written: IntCounter,
    snapshot_errors: IntCounter,
    /// `[Skip]` resolved, in `Skip::ALL` order.
    snapshots_skipped: Vec<IntCounter>,
    snapshot_bytes: IntGauge,
    snapshot_pause: Gauge,
    snapshot_load: Gauge,
    /// `warnings` resolved: `[kind][severity]`.
    warning_counters: Vec<[IntCounter; 3]>,
    /// Live alert streams (`/v1/tutors/{id}/alerts`) open now.
    pub live_subscribers: IntGauge,
}

/// Counters of one input topic, resolved once: `[type]` and `[reason]`.
pub struct TopicCounters {
    consumed: Vec<IntCounter>,
    rejected: Vec<IntCounter>,
    misplaced: IntCounter,
}

impl TopicCounters {
    pub fn consumed(&self, type_index: usize) {
        if let Some(c) = self.consumed.get(type_index) {
            c.inc();
        }
    }

    pub fn rejected(&self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            self.rejected[i].inc();
        }
    }

    /// A message on another partition than its key's.
    pub fn misplaced(&self) {
        self.misplaced.inc();
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // Names are fixed in this file and distinct; a clash is a programming error that
    // the unit tests below catch on every build.
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are distinct");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric options"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric options"),
    )
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        r,
        IntCounter::new(name, help).expect("valid metric options"),
    )
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help).expect("valid metric options"))
}

fn gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    register(r, Gauge::new(name, help).expect("valid metric options"))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        {
            // process_resident_memory_bytes, process_cpu_seconds_total, …
            let _ = r.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        let warnings = counter_vec(
            &r,
            "churnwatch_warnings_total",
            "Warnings emitted, by kind and severity.",
            &["kind", "severity"],
        );
        let warning_counters = WarningKind::ALL
            .iter()
            .map(|kind| SEVERITIES.map(|s| warnings.with_label_values(&[kind.name(), s.name()])))
            .collect();
        Metrics {
            events_consumed: counter_vec(
                &r,
                "churnwatch_events_consumed_total",
                "Input events applied to the state, by topic and event type.",
                &["topic", "type"],
            ),
            events_rejected: counter_vec(
                &r,
                "churnwatch_events_rejected_total",
                "Input messages refused and dead-lettered, by topic and reason.",
                &["topic", "reason"],
            ),
            events_misplaced: counter_vec(
                &r,
                "churnwatch_input_misplaced_total",
                "Input messages on another partition than input.partitioner gives their key: \
                 the producers partition otherwise, and members' histories are split.",
                &["topic"],
            ),
            warning_counters,
            warnings_capped: counter(
                &r,
                "churnwatch_warnings_capped_total",
                "Non-critical member warnings sent with notify=false because of the contact cap.",
            ),
            commit_errors: counter(
                &r,
                "churnwatch_commit_errors_total",
                "Offset commits that failed (retried with the next commit).",
            ),
            produce_errors: counter(
                &r,
                "churnwatch_produce_errors_total",
                "Records the broker refused (sent again after a pause).",
            ),
            event_to_warning: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "churnwatch_event_to_warning_seconds",
                        "From an input record's Kafka timestamp to its warning handed to the producer.",
                    )
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ]),
                )
                .expect("valid metric options"),
            ),
            watermark_lag: gauge(
                &r,
                "churnwatch_watermark_lag_seconds",
                "Wall clock minus the event-time watermark.",
            ),
            watermark_timestamp: gauge(
                &r,
                "churnwatch_watermark_timestamp_seconds",
                "The event-time watermark, as a Unix time.",
            ),
            consumer_lag: gauge_vec(
                &r,
                "churnwatch_consumer_lag_messages",
                "Messages between the consumer's position and the end (last stable offset) of each assigned partition.",
                &["topic", "partition"],
            ),
            members_by_segment: gauge_vec(
                &r,
                "churnwatch_members_by_segment",
                "Tracked members by RFM segment.",
                &["segment"],
            ),
            members_by_stage: gauge_vec(
                &r,
                "churnwatch_members_by_stage",
                "Tracked members by lifecycle stage.",
                &["stage"],
            ),
            members_by_churn_risk: gauge_vec(
                &r,
                "churnwatch_members_by_churn_risk",
                "Members by churn-risk level (how many churn_risk.thresholds their P(alive) is below); absent while the churn model is off.",
                &["level"],
            ),
            churn_model: gauge_vec(
                &r,
                "churnwatch_churn_model_info",
                "1 for the churn model's parameters in use (their version and model).",
                &["version", "model"],
            ),
            churn_expected_purchases: gauge(
                &r,
                "churnwatch_churn_expected_purchases",
                "Expected purchase days of every member with an order in the next churn_risk.horizon, summed (the last complete census: a sweep of the state a slice per metrics interval).",
            ),
            churn_p_alive_mean: gauge(
                &r,
                "churnwatch_churn_p_alive_mean",
                "Mean P(alive) of the members with an order (the last complete census).",
            ),
            churn_census_members: int_gauge(
                &r,
                "churnwatch_churn_census_members",
                "Members with an order in the last complete churn census.",
            ),
            churn_census: std::sync::Mutex::new(CensusSlice::default()),
            groups_by_activity_grade: gauge_vec(
                &r,
                "churnwatch_groups_by_activity_grade",
                "Groups by activity grade against the tenure benchmark.",
                &["grade"],
            ),
            groups_by_output_grade: gauge_vec(
                &r,
                "churnwatch_groups_by_output_grade",
                "Groups by output-per-active-member grade against the target.",
                &["grade"],
            ),
            members_tracked: int_gauge(
                &r,
                "churnwatch_members_tracked",
                "Members in memory, dormant ones (held as compact remainders) included.",
            ),
            members_dormant: int_gauge(
                &r,
                "churnwatch_members_dormant",
                "Members held as compact remainders after state.evict_dormant_after of silence.",
            ),
            members_evicted: counter_vec(
                &r,
                "churnwatch_members_evicted_total",
                "Members forgotten after leaving and a silence of state.evict_left_after \
                 (reason left), or moved to a compact remainder after state.evict_dormant_after \
                 (reason dormant; they stay members), over the state's whole history (carried \
                 across restores).",
                &["reason"],
            ),
            groups_tracked: int_gauge(&r, "churnwatch_groups_tracked", "Groups in memory."),
            state_memory: int_gauge(
                &r,
                "churnwatch_state_memory_bytes",
                "Estimated bytes held by the engine's state.",
            ),
            timers_pending: int_gauge(
                &r,
                "churnwatch_timers_pending",
                "Members with a pending time-driven re-evaluation.",
            ),
            partitions_assigned: int_gauge(
                &r,
                "churnwatch_partitions_assigned",
                "Input partitions this instance owns.",
            ),
            restore_remaining: int_gauge(
                &r,
                "churnwatch_restore_remaining_messages",
                "Input messages still to re-read before the state is restored and output is live.",
            ),
            ready: int_gauge(
                &r,
                "churnwatch_ready",
                "1 when the assigned partitions are restored and caught up (/readyz is 200).",
            ),
            snapshots_written: counter(
                &r,
                "churnwatch_snapshots_written_total",
                "State snapshots written and put in place.",
            ),
            snapshot_errors: counter(
                &r,
                "churnwatch_snapshot_errors_total",
                "State snapshots that could not be written or put in place.",
            ),
            snapshots_skipped: {
                let skipped = counter_vec(
                    &r,
                    "churnwatch_snapshots_skipped_total",
                    "Snapshot files passed over at restore, by reason (truncated, corrupt, incompatible, ahead_of_commit, unreadable).",
                    &["reason"],
                );
                Skip::ALL
                    .iter()
                    .map(|s| skipped.with_label_values(&[s.code()]))
                    .collect()
            },
            snapshot_bytes: int_gauge(
                &r,
                "churnwatch_snapshot_bytes",
                "Size of the last snapshot written.",
            ),
            snapshot_pause: gauge(
                &r,
                "churnwatch_snapshot_pause_seconds",
                "How long the last snapshot held up the engine thread.",
            ),
            snapshot_load: gauge(
                &r,
                "churnwatch_snapshot_load_seconds",
                "How long loading the last snapshot took at restore.",
            ),
            live_subscribers: int_gauge(
                &r,
                "churnwatch_live_alert_subscribers",
                "Live alert streams (/v1/tutors/{id}/alerts) open now.",
            ),
            registry: r,
        }
    }

    /// The counters of input topic `topic`, for the per-message path.
    pub fn topic(&self, topic: &str) -> TopicCounters {
        TopicCounters {
            consumed: TYPE_NAMES
                .iter()
                .map(|t| self.events_consumed.with_label_values(&[topic, t]))
                .collect(),
            rejected: RejectReason::ALL
                .iter()
                .map(|r| self.events_rejected.with_label_values(&[topic, r.code()]))
                .collect(),
            misplaced: self.events_misplaced.with_label_values(&[topic]),
        }
    }

    /// Counts a warning on its way out.
    pub fn warning(&self, w: &Warning) {
        let s = SEVERITIES
            .iter()
            .position(|s| *s == w.severity)
            .unwrap_or(2);
        self.warning_counters[w.kind as usize][s].inc();
        if !w.notify {
            self.warnings_capped.inc();
        }
    }

    /// A warning caused by a record the broker stamped `record_ms` went out at `wall_ms`.
    pub fn latency(&self, record_ms: i64, wall_ms: i64) {
        self.event_to_warning
            .observe((wall_ms - record_ms).max(0) as f64 / 1000.0);
    }

    pub fn snapshot_written(&self, bytes: u64) {
        self.snapshots_written.inc();
        self.snapshot_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn snapshot_failed(&self) {
        self.snapshot_errors.inc();
    }

    pub fn snapshot_skipped(&self, skip: Skip) {
        if let Some(c) = Skip::ALL
            .iter()
            .position(|s| *s == skip)
            .and_then(|i| self.snapshots_skipped.get(i))
        {
            c.inc();
        }
    }

    pub fn snapshot_pause(&self, seconds: f64) {
        self.snapshot_pause.set(seconds);
    }

    pub fn snapshot_loaded(&self, seconds: f64) {
        self.snapshot_load.set(seconds);
    }

    pub fn commit_failed(&self) {
        self.commit_errors.inc();
    }

    pub fn produce_failed(&self) {
        self.produce_errors.inc();
    }

    pub fn consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }

    /// Forgets every partition's lag: the assignment changed.
    pub fn reset_consumer_lag(&self) {
        self.consumer_lag.reset();
    }

    pub fn assignment(&self, partitions: usize, ready: bool, restore_remaining: i64) {
        self.partitions_assigned.set(partitions as i64);
        self.ready.set(i64::from(ready));
        self.restore_remaining.set(restore_remaining);
    }

    /// Members the churn census reads per call of [`Metrics::observe_engine`]: about 15 ms
    /// of the engine's thread, so that a 10 M-member state is swept in about 200 calls.
    const CENSUS_SLICE: usize = 50_000;

    /// One slice of the churn census; publishes the totals when a sweep completes. Each
    /// member is counted as of the watermark when her slice was read, so the figures lag
    /// by up to one sweep.
    fn churn_census_step(&self, engine: &Engine) {
        let Ok(mut census) = self.churn_census.lock() else {
            return;
        };
        let from = census.next.unwrap_or(0);
        let Some(slice) = engine.churn_census(from, Self::CENSUS_SLICE, engine.watermark()) else {
            return;
        };
        census.members += slice.members;
        census.p_alive_sum += slice.p_alive_sum;
        census.expected_sum += slice.expected_sum;
        census.next = slice.next;
        if slice.next.is_none() {
            self.churn_expected_purchases.set(census.expected_sum);
            self.churn_census_members.set(census.members as i64);
            if census.members > 0 {
                self.churn_p_alive_mean
                    .set(census.p_alive_sum / census.members as f64);
            }
            *census = CensusSlice::default();
        }
    }

    /// Copies the engine's census into the gauges: O(groups), plus one bounded slice of
    /// the churn census while the churn model is on.
    pub fn observe_engine(&self, engine: &Engine, wall: EventTime) {
        let mut tracked = 0;
        for (segment, n) in engine.roster().members_by_segment() {
            self.members_by_segment
                .with_label_values(&[segment.name()])
                .set(n as i64);
            tracked += n;
        }
        for (stage, n) in engine.roster().members_by_stage() {
            self.members_by_stage
                .with_label_values(&[stage.name()])
                .set(n as i64);
        }
        if let Some(model) = &engine.rules().churn {
            let levels = model.thresholds().len() + 1;
            for (level, n) in engine
                .roster()
                .members_by_risk()
                .iter()
                .take(levels)
                .enumerate()
            {
                self.members_by_churn_risk
                    .with_label_values(&[Label::Risk(level as u8).name()])
                    .set(*n as i64);
            }
            self.churn_model
                .with_label_values(&[&model.version, model.model.as_str()])
                .set(1);
            self.churn_census_step(engine);
        }
        self.members_tracked.set(tracked as i64);
        self.members_dormant.set(engine.dormant_count() as i64);
        for (reason, n) in engine.stats().evictions() {
            // The engine's count is cumulative; the counter catches up with it.
            let counter = self.members_evicted.with_label_values(&[reason]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        let mut activity = [0i64; Grade::ALL.len() + 1];
        let mut output = [0i64; Grade::ALL.len() + 1];
        let mut groups = 0;
        for g in engine.groups() {
            activity[g.activity_grade.map_or(Grade::ALL.len(), |g| g as usize)] += 1;
            output[g.output_grade.map_or(Grade::ALL.len(), |g| g as usize)] += 1;
            groups += 1;
        }
        for (i, name) in Grade::ALL
            .iter()
            .map(|g| g.name())
            .chain(["ungraded"])
            .enumerate()
        {
            self.groups_by_activity_grade
                .with_label_values(&[name])
                .set(activity[i]);
            self.groups_by_output_grade
                .with_label_values(&[name])
                .set(output[i]);
        }
        self.groups_tracked.set(groups);
        self.timers_pending.set(engine.pending_timers() as i64);
        self.state_memory
            .set(engine.memory_estimate().total() as i64);
        let watermark = engine.watermark();
        if watermark > EventTime::MIN {
            self.watermark_timestamp
                .set(watermark.as_millis() as f64 / 1000.0);
            self.watermark_lag
                .set((wall.as_millis() - watermark.as_millis()) as f64 / 1000.0);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for I/O; a malformed family would be our bug
        // and is logged rather than failing the scrape.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::TimeMode;
    use crate::model::{Event, EventBody, MemberId};

    fn text(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap_or_default()
    }

    /// The value of the series whose line starts with `series ` (name and labels).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_carry_topic_type_reason_kind_and_severity() {
        let m = Metrics::new();
        let t = m.topic("retention.events");
        t.consumed(EventBody::Login.type_index());
        t.consumed(EventBody::Login.type_index());
        t.rejected(RejectReason::UnknownType);
        m.commit_failed();
        m.produce_failed();
        m.latency(1_000, 1_030);
        let s = text(&m);
        assert_eq!(
            value(
                &s,
                r#"churnwatch_events_consumed_total{topic="retention.events",type="login"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &s,
                r#"churnwatch_events_rejected_total{reason="unknown_type",topic="retention.events"}"#
            ),
            Some(1.0)
        );
        assert_eq!(value(&s, "churnwatch_commit_errors_total"), Some(1.0));
        assert_eq!(value(&s, "churnwatch_produce_errors_total"), Some(1.0));
        assert_eq!(
            value(
                &s,
                r#"churnwatch_event_to_warning_seconds_bucket{le="0.05"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                r#"churnwatch_event_to_warning_seconds_bucket{le="0.025"}"#
            ),
            Some(0.0)
        );
    }

    /// A login of each member at `at`.
    fn log_in(engine: &mut Engine, ids: &[&str], at: EventTime) {
        let mut out = Vec::new();
        for id in ids {
            let event = Event {
                event_id: format!("login-{id}").into(),
                member_id: MemberId::new(id),
                ts: at,
                body: EventBody::Login,
            };
            let _ = engine.process(0, &event, at, &mut out);
        }
    }

    /// The churn census: risk levels at once, the sums once a sweep of slices is done,
    /// equal to the members' own figures.
    #[test]
    fn the_churn_census_sums_every_member_with_an_order() {
        let mut config = Config::default();
        let fit = crate::churn_model::Fit {
            members: 1,
            r: 0.5,
            alpha_days: 40.0,
            a: 0.9,
            b: 1.6,
            log_likelihood: -6.0,
        };
        let t0 = EventTime::from_millis(1_700_000_000_000);
        config.churn_model = Some(std::sync::Arc::new(crate::churn_model::ModelFile::new(
            crate::btyd::Model::MbgNbd,
            crate::churn_model::Window { start: t0, end: t0 },
            fit,
            Default::default(),
        )));
        let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
        let mut out = Vec::new();
        let members = Metrics::CENSUS_SLICE + 10;
        for i in 0..members {
            let body = if i % 2 == 0 {
                EventBody::Order(crate::model::Order {
                    order_key: i as u64,
                    amount: crate::model::Fen(10_000),
                    category: crate::model::Category::Home,
                })
            } else {
                EventBody::Login
            };
            let event = Event {
                event_id: format!("e{i}").into(),
                member_id: MemberId::new(&format!("m{i}")),
                ts: t0,
                body,
            };
            engine.process(0, &event, t0, &mut out).expect("accepted");
        }
        engine.advance_to(t0 + crate::model::Span::days(100), &mut out);
        let m = Metrics::new();
        m.observe_engine(&engine, t0);
        assert_eq!(
            value(&text(&m), "churnwatch_churn_census_members"),
            Some(0.0),
            "one slice is not a sweep"
        );
        m.observe_engine(&engine, t0);
        let s = text(&m);
        let with_orders = members.div_ceil(2);
        assert_eq!(
            value(&s, "churnwatch_churn_census_members"),
            Some(with_orders as f64)
        );
        let model = engine.rules().churn.as_ref().unwrap();
        let at = engine.watermark();
        let (mut p_sum, mut e_sum) = (0.0, 0.0);
        for member in engine.members() {
            if let Some(f) = crate::engine::churn_risk::figures(model, &member, at) {
                p_sum += f64::from(f.p_alive_ppm) / 1e6;
                e_sum += f.expected_purchases_micro as f64 / 1e6;
            }
        }
        let mean = value(&s, "churnwatch_churn_p_alive_mean").unwrap();
        assert!((mean - p_sum / with_orders as f64).abs() < 1e-9, "{mean}");
        let expected = value(&s, "churnwatch_churn_expected_purchases").unwrap();
        assert!(
            (expected - e_sum).abs() < 1e-6 * e_sum,
            "{expected} vs {e_sum}"
        );
        let level = |name: &str| {
            value(
                &s,
                &format!(r#"churnwatch_members_by_churn_risk{{level="{name}"}}"#),
            )
        };
        assert_eq!(
            level("likely_active").unwrap()
                + level("at_risk").unwrap()
                + level("high_risk").unwrap(),
            members as f64
        );
        assert!(
            level("at_risk").unwrap() > 0.0,
            "100 days on, P(alive) is below 0.5"
        );
        let info = s
            .lines()
            .find(|l| l.starts_with("churnwatch_churn_model_info{"))
            .expect("the model's info series");
        assert!(
            info.contains(r#"model="mbg_nbd""#) && info.ends_with(" 1"),
            "{info}"
        );
    }

    #[test]
    fn evictions_reach_their_counter() {
        let m = Metrics::new();
        let mut engine = Engine::new(&Config::default().engine(), TimeMode::Replay);
        let mut out = Vec::new();
        let t0 = EventTime::from_millis(1_700_000_000_000);
        log_in(&mut engine, &["a", "b"], t0);
        m.observe_engine(&engine, t0);
        let s = text(&m);
        assert_eq!(
            value(&s, r#"churnwatch_members_evicted_total{reason="dormant"}"#),
            Some(0.0)
        );
        // A year of silence (the default horizon) and both are held as remainders.
        engine.advance_to(t0 + crate::model::Span::days(365), &mut out);
        m.observe_engine(&engine, t0);
        m.observe_engine(&engine, t0);
        let s = text(&m);
        assert_eq!(
            value(&s, r#"churnwatch_members_evicted_total{reason="dormant"}"#),
            Some(2.0),
            "counted once however often observed"
        );
        assert_eq!(
            value(&s, r#"churnwatch_members_evicted_total{reason="left"}"#),
            Some(0.0)
        );
        assert_eq!(
            value(&s, "churnwatch_members_tracked"),
            Some(2.0),
            "dormant members are still members"
        );
        assert_eq!(value(&s, "churnwatch_members_dormant"), Some(2.0));
    }

    #[test]
    fn the_census_reaches_the_gauges() {
        let m = Metrics::new();
        let mut engine = Engine::new(&Config::default().engine(), TimeMode::Replay);
        let t0 = EventTime::from_millis(1_700_000_000_000);
        log_in(&mut engine, &["a", "b", "c"], t0);
        m.observe_engine(&engine, t0 + crate::model::Span::seconds(90));
        let s = text(&m);
        assert_eq!(
            value(&s, r#"churnwatch_members_by_segment{segment="new"}"#),
            Some(3.0)
        );
        assert_eq!(
            value(&s, r#"churnwatch_members_by_stage{stage="acquisition"}"#),
            Some(3.0)
        );
        assert_eq!(value(&s, "churnwatch_members_tracked"), Some(3.0));
        assert!(value(&s, "churnwatch_state_memory_bytes").is_some_and(|b| b > 0.0));
        // Replay watermark: the latest event time minus the allowed lateness (5 min).
        assert_eq!(value(&s, "churnwatch_watermark_lag_seconds"), Some(390.0));
    }

    #[test]
    fn every_name_follows_the_conventions() {
        let m = Metrics::new();
        let t = m.topic("x");
        t.consumed(0);
        m.consumer_lag("x", 0, 5);
        for family in m.registry.gather() {
            let name = family.name();
            assert!(
                name.starts_with("churnwatch_") || name.starts_with("process_"),
                "{name}"
            );
            if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
                assert!(name.ends_with("_total"), "{name}");
            }
            for metric in family.get_metric() {
                for label in metric.get_label() {
                    assert!(
                        !["member_id", "group_id", "tutor_id", "id"].contains(&label.name()),
                        "{name} has an unbounded label"
                    );
                }
            }
        }
    }
}
