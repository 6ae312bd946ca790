//! Configuration: embedded defaults (the values of SPEC.md), overridden by a TOML file.
//! Unknown keys are errors. `churnwatch.example.toml` at the repo root documents every key
//! with its default; a test keeps the two in step.
//!
//! The engine's sections are the engine crate's types ([`crate::settings`]); this module
//! adds the service's own (input, Kafka, HTTP, state, notify), loads and validates the
//! whole, and hands the engine its part ([`Config::engine`]), which
//! [`crate::engine::Rules`] compiles into the form the hot path uses.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::model::{Fen, Span};
pub use churnwatch_engine::settings::{
    Actions, AlertsConfig, ChurnRiskSettings, GradeCuts, GroupsConfig, LifecycleConfig,
    MemberLimits, SegmentRule, SegmentsConfig, Settings, TimeConfig, MAX_RISK_LEVELS,
};

use crate::churn_model::ModelFile;
use crate::partitioner::Partitioner;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub time: TimeConfig,
    pub input: InputConfig,
    pub segments: SegmentsConfig,
    pub lifecycle: LifecycleConfig,
    pub groups: GroupsConfig,
    pub alerts: AlertsConfig,
    pub actions: Actions,
    pub kafka: KafkaConfig,
    pub http: HttpConfig,
    pub state: StateConfig,
    pub notify: NotifyConfig,
    pub churn_risk: ChurnRiskConfig,
    /// The parameter file `churn_risk.model_file` names, read when the configuration is
    /// loaded (so that the engine's settings need no I/O).
    #[serde(skip)]
    pub churn_model: Option<Arc<ModelFile>>,
}

/// `CHURN_RISK` (issue 16): off until `model_file` names the parameters `churnwatch fit`
/// wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChurnRiskConfig {
    /// The fitted model (TOML from `churnwatch fit`); empty for none.
    pub model_file: String,
    /// P(alive) thresholds, strictly decreasing, each in (0, 1), one to three: a warning
    /// the first millisecond P(alive) is below each.
    pub thresholds: Vec<f64>,
    /// The horizon of the expected purchases shown in figures and queries.
    pub horizon: Span,
}

impl Default for ChurnRiskConfig {
    fn default() -> Self {
        ChurnRiskConfig {
            model_file: String::new(),
            thresholds: vec![0.5, 0.2],
            horizon: Span::days(30),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Larger messages are dead-lettered without being parsed.
    pub max_message_bytes: usize,
    /// The producers' partitioner, which places a member's events on one partition:
    /// `consistent_random` (librdkafka's default) or `murmur2_random` (the Java client's).
    /// `replay --partitions N` places members with it.
    pub partitioner: Partitioner,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            max_message_bytes: 64 * 1024,
            partitioner: Partitioner::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group: committed offsets mark the input whose output is acknowledged.
    pub group_id: String,
    /// Input topics, each with its encoding.
    pub inputs: Vec<InputTopic>,
    pub warnings_topic: String,
    /// `protobuf` (`churnwatch.v1.Warning`, the default) or `json` (the SPEC §7 form).
    pub warnings_encoding: Encoding,
    /// Every refused message goes here unchanged, with headers naming why.
    pub dead_letter_topic: String,
    /// `live`: idle partitions release the watermark and an all-idle input lets the wall
    /// clock drive it. `event_time`: event time alone, as in replay (backfills).
    pub time_mode: KafkaTimeMode,
    /// `auto` (default): exactly once when the broker supports transactions, at least
    /// once otherwise. `exactly_once`: warnings, dead letters and input offsets commit
    /// together in Kafka transactions (downstream readers use
    /// `isolation.level=read_committed`); refuses to start without broker support.
    /// `at_least_once`: offsets committed once the output is acknowledged (repeats
    /// possible across a crash, never a loss).
    pub delivery: DeliveryGuarantee,
    /// The producer's `transactional.id` in exactly-once mode; empty means
    /// `<group_id>-<host name>`. Must be unique per running instance.
    pub transactional_id: String,
    /// How often progress is committed; exactly once, how long a transaction stays open,
    /// which bounds how soon a warning is visible to read_committed readers (100 ms, as
    /// Kafka Streams uses for exactly once).
    pub commit_interval: Span,
    /// How often the wall clock is consulted for idle partitions (live mode).
    pub tick_interval: Span,
    /// `single` (default): one engine holds the whole input, on the instance that the
    /// group gives the first input's partition 0 (the others stand by). `two_stage`: the
    /// scale-out (README "Scaling out"): a member-stage task per input partition and a
    /// group-stage task per partition of the contributions topic, on `threads` worker
    /// threads of any number of instances; exactly once only.
    pub topology: Topology,
    /// Two stages: worker threads of this instance, each a member of the consumer group
    /// with its own transactional producer; 0 = one per core.
    pub threads: usize,
    /// Two stages: partitions of the contributions topic (group-stage tasks); 0 = as
    /// many as the input has. Fixed once the topic exists.
    pub group_partitions: u32,
    /// Two stages: the internal topic from the member stage to the group stage; empty =
    /// `<group_id>.contributions`. Created at start when missing.
    pub contributions_topic: String,
    /// Two stages: `consumer` (KIP-848, default): the broker assigns incrementally with its
    /// `range` assignor, which keeps partition p of every co-partitioned input together
    /// and moves only what must move. `classic`: the cooperative-sticky assignor, for
    /// brokers older than Kafka 4.0 (one input topic only: it does not co-partition).
    pub group_protocol: GroupProtocol,
    /// Two stages: `group.instance.id` prefix for static membership (thread t of the
    /// instance is `<instance_id>-t`): a restart within the session timeout gets its
    /// tasks back without a rebalance. Empty = dynamic membership. Unique per instance.
    pub instance_id: String,
    /// librdkafka properties for both the consumer and the producer (security.protocol,
    /// sasl.*, ssl.*, …), passed through unchanged.
    #[serde(deserialize_with = "property_map")]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only.
    #[serde(deserialize_with = "property_map")]
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the producer only.
    #[serde(deserialize_with = "property_map")]
    pub producer_properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".to_owned(),
            group_id: "churnwatch".to_owned(),
            inputs: vec![InputTopic {
                topic: "retention.events".to_owned(),
                encoding: Encoding::Json,
            }],
            warnings_topic: "retention.warnings".to_owned(),
            warnings_encoding: Encoding::Protobuf,
            dead_letter_topic: "retention.dead-letter".to_owned(),
            time_mode: KafkaTimeMode::Live,
            delivery: DeliveryGuarantee::Auto,
            transactional_id: String::new(),
            commit_interval: Span::millis(100),
            tick_interval: Span::millis(200),
            topology: Topology::Single,
            threads: 0,
            group_partitions: 0,
            contributions_topic: String::new(),
            group_protocol: GroupProtocol::Consumer,
            instance_id: String::new(),
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTopic {
    pub topic: String,
    pub encoding: Encoding,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Json,
    Protobuf,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryGuarantee {
    Auto,
    ExactlyOnce,
    AtLeastOnce,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    Single,
    TwoStage,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupProtocol {
    Consumer,
    Classic,
}

impl KafkaConfig {
    /// The contributions topic's name (see [`KafkaConfig::contributions_topic`]).
    pub fn contributions_topic(&self) -> String {
        if self.contributions_topic.is_empty() {
            format!("{}.contributions", self.group_id)
        } else {
            self.contributions_topic.clone()
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaTimeMode {
    Live,
    EventTime,
}

/// `churnwatch notify`: the tutor-alert notifier, its own process and consumer group
/// beside `run`, reading the warnings topic of `[kafka]` with its brokers and properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The tutor directory (TOML: tutors, channels, fallback), re-read when it changes.
    pub directory: String,
    /// How often the directory file is checked for a change.
    pub reload_interval: Span,
    /// The notifier's consumer group on the warnings topic.
    pub group_id: String,
    /// Payloads that cannot be delivered (a permanent refusal, or `give_up_after` of
    /// failures), with the reason in a header.
    pub dead_letter_topic: String,
    /// Payloads of a channel whose queue is full (it has been failing), so that the
    /// warnings' offsets move on; sent once the channel answers again.
    pub retry_topic: String,
    /// What was delivered to which channel, so that a restart does not send it again.
    pub delivered_topic: String,
    /// Channel-and-warning ids remembered as delivered (read back from `delivered_topic`
    /// at start).
    pub delivered_ids: usize,
    /// Payloads waiting per channel before new ones are parked on `retry_topic`.
    pub queue_capacity: usize,
    /// One HTTP attempt waits this long for an answer.
    pub http_timeout: Span,
    /// Retries wait `backoff_base · 2^n`, at most `backoff_max`, with jitter.
    pub backoff_base: Span,
    pub backoff_max: Span,
    /// A payload failing (retryably) for this long is dead-lettered.
    pub give_up_after: Span,
    /// A parked payload is tried again this long after it was parked.
    pub park_delay: Span,
    /// How often the offsets of finished warnings are committed.
    pub commit_interval: Span,
    /// At shutdown, deliveries in flight get this long to finish.
    pub drain_timeout: Span,
    /// `/metrics` and `/healthz` of the notifier; empty: none.
    pub bind: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            directory: String::new(),
            reload_interval: Span::seconds(2),
            group_id: "churnwatch-notify".to_owned(),
            dead_letter_topic: "retention.notify-dead-letter".to_owned(),
            retry_topic: "retention.notify-retry".to_owned(),
            delivered_topic: "retention.notify-delivered".to_owned(),
            delivered_ids: 200_000,
            queue_capacity: 256,
            http_timeout: Span::seconds(10),
            backoff_base: Span::millis(500),
            backoff_max: Span::seconds(60),
            give_up_after: Span::hours(24),
            park_delay: Span::seconds(30),
            commit_interval: Span::millis(200),
            drain_timeout: Span::seconds(10),
            bind: "127.0.0.1:9181".to_owned(),
        }
    }
}

/// The HTTP server of `run` and `demo` (SPEC §8): metrics, probes, queries, tutor pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// Listen address. Loopback by default; anything wider requires `token`.
    pub bind: String,
    /// Bearer token required on `/v1/…` and `/tutors/…` (`/metrics`, `/healthz` and
    /// `/readyz` stay open for Prometheus and probes). Required when `bind` is not a
    /// loopback address. Absent by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// How often the engine's census (members by segment, groups by grade, memory,
    /// timers, watermark lag) is copied into the metrics.
    pub metrics_interval: Span,
    /// How long a query may wait for the engine before the answer is 503.
    pub query_timeout: Span,
    /// At-risk members listed per tutor unless the request asks for another `limit`.
    pub at_risk_limit: usize,
    /// The tutor directory (the notifier's file, see `churnwatch notify`) whose time
    /// zones the tutor pages show times in; absent: every tutor on the directory's
    /// default zone, Asia/Shanghai.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tutor_directory: Option<String>,
    /// The server closes a live alert stream (`/v1/tutors/{id}/alerts`) after this long;
    /// the browser reconnects at once and resumes where it was (`Last-Event-ID`). Bounds
    /// how long a connection outlives a rotated token and lets proxies rebalance.
    pub alerts_stream_lifetime: Span,
    /// The URL other instances reach this one's HTTP server at (`http://host:port`):
    /// under two stages they forward a member's or group's query to the instance running
    /// its task. Absent: `http://` and the bound address, unless that is a wildcard
    /// (`0.0.0.0`), which no peer can reach: then queries are not forwarded here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            bind: "127.0.0.1:9180".to_owned(),
            token: None,
            metrics_interval: Span::seconds(5),
            query_timeout: Span::seconds(5),
            at_risk_limit: 50,
            tutor_directory: None,
            alerts_stream_lifetime: Span::minutes(10),
            advertised_url: None,
        }
    }
}

/// What the engine keeps and how it survives restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The most members one instance holds. The first event of a member beyond it is
    /// dead-lettered (`member_capacity`) rather than growing memory without bound. At
    /// most [`crate::engine::MAX_MEMBERS`] (33 554 431).
    pub max_members: usize,
    /// Where `run` keeps snapshots of its state, under a directory per consumer group;
    /// empty for none (every start then re-reads the input from its beginning).
    pub snapshot_dir: String,
    /// How often `run` writes a snapshot once its state is restored; also one at a
    /// graceful stop.
    pub snapshot_interval: Span,
    /// Snapshots kept per partition set: the newest may reflect input whose output was
    /// not committed yet when the process died, and is then passed over for the next.
    pub snapshots_kept: usize,
    /// A member who left (`member_left`) is forgotten once she has been silent this long
    /// (no profile, order or login); `0s` keeps her. At least `time.retention_horizon`,
    /// so that a redelivered event of hers is refused as too old rather than creating
    /// her afresh.
    pub evict_left_after: Span,
    /// Any other member is forgotten once silent this long, and leaves her group's
    /// figures then; `0s` keeps every member for ever. At least `time.retention_horizon`.
    pub evict_dormant_after: Span,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            max_members: crate::engine::MAX_MEMBERS,
            snapshot_dir: "/tmp/churnwatch".to_owned(),
            snapshot_interval: Span::seconds(60),
            snapshots_kept: 2,
            evict_left_after: MemberLimits::default().evict_left_after,
            evict_dormant_after: MemberLimits::default().evict_dormant_after,
        }
    }
}

/// Environment variables that override configuration keys start with this. The rest of
/// the name is the key path with `__` between levels: `CHURNWATCH_KAFKA__BROKERS`,
/// `CHURNWATCH_TIME__ALLOWED_LATENESS`. Under the librdkafka property tables a single `_`
/// stands for `.`: `CHURNWATCH_KAFKA__PROPERTIES__SASL_PASSWORD` sets `sasl.password`.
pub const ENV_PREFIX: &str = "CHURNWATCH_";

/// Tables whose keys are librdkafka property names (dotted, lower case).
const PROPERTY_TABLES: [&str; 3] = ["properties", "consumer_properties", "producer_properties"];

impl Config {
    /// What the engine reads of this configuration.
    pub fn engine(&self) -> Settings {
        Settings {
            time: self.time.clone(),
            segments: self.segments.clone(),
            lifecycle: self.lifecycle.clone(),
            groups: self.groups.clone(),
            alerts: self.alerts.clone(),
            actions: self.actions.clone(),
            members: MemberLimits {
                max_members: self.state.max_members,
                evict_left_after: self.state.evict_left_after,
                evict_dormant_after: self.state.evict_dormant_after,
            },
            churn_risk: self.churn_model.as_ref().map(|file| ChurnRiskSettings {
                model: file.model,
                version: file.version.clone(),
                population: file.population.params_ms(),
                tiers: file
                    .tiers
                    .iter()
                    .map(|(tier, fit)| (tier.clone(), fit.params_ms()))
                    .collect(),
                thresholds: self.churn_risk.thresholds.clone(),
                horizon: self.churn_risk.horizon,
            }),
        }
    }

    /// Reads the parameter file `churn_risk.model_file` names, if any.
    fn load_churn_model(&mut self) -> anyhow::Result<()> {
        let path = &self.churn_risk.model_file;
        self.churn_model = if path.is_empty() {
            None
        } else {
            let file = ModelFile::load(Path::new(path))
                .with_context(|| "churn_risk.model_file".to_owned())?;
            Some(Arc::new(file))
        };
        Ok(())
    }

    /// Defaults, then the TOML file if one is given. The result is validated.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        Config::load_with(path, std::iter::empty(), &[])
    }

    /// Defaults, then the TOML file, then `CHURNWATCH_…` variables from `env`, then
    /// `key.path=value` assignments (the `--set` flag), each overriding the one before.
    /// Values are read as TOML (`30`, `true`, `["a"]`, `{ … }`) and otherwise taken as
    /// strings, so `CHURNWATCH_TIME__IDLE_TIMEOUT=45s` needs no quotes.
    pub fn load_with(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        sets: &[String],
    ) -> anyhow::Result<Config> {
        let mut tree = match path {
            None => toml::Table::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("in config file {}", path.display()))?
            }
        };
        // Variables are applied in name order, so the result never depends on the order
        // the environment happens to list them in; `--set` comes last, in command order.
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (name, value) in env {
            let path = env_key_path(&name[ENV_PREFIX.len()..]);
            set_path(&mut tree, &path, parse_value(&value))
                .with_context(|| format!("applying environment variable {name}"))?;
        }
        for set in sets {
            let (key, value) = set
                .split_once('=')
                .with_context(|| format!("--set {set:?}: expected key.path=value"))?;
            let path = set_key_path(key);
            set_path(&mut tree, &path, parse_value(value))
                .with_context(|| format!("applying --set {key}"))?;
        }
        let mut config: Config =
            toml::Value::Table(tree)
                .try_into()
                .with_context(|| match path {
                    Some(path) => format!("in config file {} (with overrides)", path.display()),
                    None => "in configuration overrides".to_owned(),
                })?;
        config.load_churn_model()?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML with librdkafka secrets (passwords, keys) replaced by
    /// `"<redacted>"`: what a startup log line may show.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for table in [
            &mut shown.kafka.properties,
            &mut shown.kafka.consumer_properties,
            &mut shown.kafka.producer_properties,
        ] {
            for (key, value) in table.iter_mut() {
                if is_secret(key) {
                    *value = "<redacted>".to_owned();
                }
            }
        }
        if let Some(token) = shown.http.token.as_mut() {
            *token = "<redacted>".to_owned();
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("<config not printable: {e}>"))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text)?;
        config.load_churn_model()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the invariants the engine relies on, with messages that name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let t = &self.time;
        for (name, span) in [
            ("time.allowed_lateness", t.allowed_lateness),
            ("time.idle_timeout", t.idle_timeout),
            ("time.max_future_skew", t.max_future_skew),
        ] {
            if span < Span::ZERO {
                bail!("{name} must not be negative");
            }
        }
        if !(1..=crate::engine::MAX_MEMBERS).contains(&self.state.max_members) {
            bail!(
                "state.max_members must be between 1 and {}",
                crate::engine::MAX_MEMBERS
            );
        }
        if self.state.snapshot_interval <= Span::ZERO {
            bail!("state.snapshot_interval must be positive");
        }
        if self.state.snapshots_kept < 2 {
            bail!("state.snapshots_kept must be at least 2: the newest may be ahead of the commit");
        }
        if t.retention_horizon < Span::days(90) {
            bail!("time.retention_horizon must be at least 90d (the F90 window)");
        }
        for (name, span) in [
            ("state.evict_left_after", self.state.evict_left_after),
            ("state.evict_dormant_after", self.state.evict_dormant_after),
        ] {
            if span != Span::ZERO && span < t.retention_horizon {
                bail!(
                    "{name} must be 0s (never) or at least time.retention_horizon ({})",
                    t.retention_horizon
                );
            }
        }
        let mut seen = Vec::new();
        for rule in &self.segments.rules {
            if seen.contains(&rule.segment) {
                bail!("segments.rules names `{}` twice", rule.segment);
            }
            seen.push(rule.segment);
            if rule.max_recency.is_some_and(|r| r < Span::ZERO) {
                bail!(
                    "segments.rules `{}`: max_recency must not be negative",
                    rule.segment
                );
            }
            if rule.min_m30.is_some_and(|m| m < Fen::ZERO) {
                bail!(
                    "segments.rules `{}`: min_m30 must not be negative",
                    rule.segment
                );
            }
        }
        if self
            .lifecycle
            .recall_schedule
            .iter()
            .any(|s| *s <= Span::ZERO)
            || !self
                .lifecycle
                .recall_schedule
                .windows(2)
                .all(|w| w[0] < w[1])
        {
            bail!("lifecycle.recall_schedule must be positive and strictly increasing");
        }
        if self.lifecycle.login_lapse.iter().any(|s| *s <= Span::ZERO)
            || !self.lifecycle.login_lapse.windows(2).all(|w| w[0] < w[1])
        {
            bail!("lifecycle.login_lapse must be positive and strictly increasing");
        }
        let most = crate::engine::member::MAX_FIRED;
        if self.lifecycle.recall_schedule.len() > most || self.lifecycle.login_lapse.len() > most {
            bail!("lifecycle.recall_schedule and lifecycle.login_lapse hold at most {most} entries each");
        }
        if self.lifecycle.activation_deadline <= Span::ZERO {
            bail!("lifecycle.activation_deadline must be positive");
        }
        let g = &self.groups;
        if g.benchmark.is_empty() {
            bail!("groups.benchmark must define at least one fee tier");
        }
        let c = &self.churn_risk;
        if c.thresholds.is_empty() || c.thresholds.len() > MAX_RISK_LEVELS {
            bail!("churn_risk.thresholds needs one to {MAX_RISK_LEVELS} values");
        }
        if c.thresholds.iter().any(|t| !(*t > 0.0 && *t < 1.0))
            || c.thresholds.windows(2).any(|w| w[1] >= w[0])
        {
            bail!("churn_risk.thresholds must be strictly decreasing, each between 0 and 1 (exclusive)");
        }
        if c.horizon <= Span::ZERO {
            bail!("churn_risk.horizon must be positive");
        }
        if let Some(file) = &self.churn_model {
            if let Some(tier) = file.tiers.keys().find(|t| !g.benchmark.contains_key(*t)) {
                bail!(
                    "churn_risk.model_file {}: fitted for fee tier {tier:?}, which groups.benchmark does not define",
                    c.model_file
                );
            }
        }
        if g.benchmark.len() > churnwatch_engine::settings::MAX_TIERS {
            bail!(
                "groups.benchmark defines {} fee tiers; at most {} are supported",
                g.benchmark.len(),
                churnwatch_engine::settings::MAX_TIERS
            );
        }
        for (tier, row) in &g.benchmark {
            if row.len() != 13 {
                bail!("groups.benchmark.\"{tier}\" needs 13 values (tenure months 1..12 and 13+), has {}", row.len());
            }
            if row.iter().any(|p| *p > 100) {
                bail!("groups.benchmark.\"{tier}\" values are percentages (0..=100)");
            }
        }
        if !(g.activity_grades_pp.excellent >= g.activity_grades_pp.good
            && g.activity_grades_pp.good >= 0)
        {
            bail!("groups.activity_grades_pp needs excellent >= good >= 0");
        }
        if !(g.output_grades_pct.excellent >= g.output_grades_pct.good
            && g.output_grades_pct.good >= 0)
        {
            bail!("groups.output_grades_pct needs excellent >= good >= 0");
        }
        if g.hysteresis_pp < 0 || g.output_hysteresis_pct < 0 {
            bail!("groups hysteresis must not be negative");
        }
        if g.warmup < Span::ZERO {
            bail!("groups.warmup must not be negative");
        }
        let k = &self.kafka;
        if k.inputs.is_empty() {
            bail!("kafka.inputs must name at least one topic");
        }
        for (name, topic) in [
            ("kafka.warnings_topic", &k.warnings_topic),
            ("kafka.dead_letter_topic", &k.dead_letter_topic),
        ] {
            if topic.is_empty() {
                bail!("{name} must not be empty");
            }
            if k.inputs.iter().any(|i| &i.topic == topic) {
                bail!("{name} `{topic}` is also an input topic");
            }
        }
        if k.commit_interval <= Span::ZERO || k.tick_interval <= Span::ZERO {
            bail!("kafka.commit_interval and kafka.tick_interval must be positive");
        }
        let h = &self.http;
        if h.enabled {
            let addr: std::net::SocketAddr = h.bind.parse().with_context(|| {
                format!(
                    "http.bind `{}` is not an address like 127.0.0.1:9180",
                    h.bind
                )
            })?;
            if !addr.ip().is_loopback() && h.token.as_deref().is_none_or(str::is_empty) {
                bail!(
                    "http.bind `{}` reaches beyond this machine: set http.token (a bearer \
                     token for /v1 and /tutors), or bind 127.0.0.1",
                    h.bind
                );
            }
        }
        if h.metrics_interval <= Span::ZERO || h.query_timeout <= Span::ZERO {
            bail!("http.metrics_interval and http.query_timeout must be positive");
        }
        if h.alerts_stream_lifetime <= Span::ZERO {
            bail!("http.alerts_stream_lifetime must be positive");
        }
        if h.tutor_directory.as_deref() == Some("") {
            bail!("http.tutor_directory must name a file (or be left out)");
        }
        if h.at_risk_limit == 0 {
            bail!("http.at_risk_limit must be at least 1");
        }
        if g.output_target <= Fen::ZERO {
            bail!("groups.output_target must be positive");
        }
        if g.category_benchmark.values().any(|v| *v <= Fen::ZERO) {
            bail!("groups.category_benchmark values must be positive");
        }
        if self.alerts.member_warning_cap as usize > crate::engine::contact_cap::MAX_CAP {
            bail!(
                "alerts.member_warning_cap is at most {}: the engine keeps that many notification \
                 times per member inline",
                crate::engine::contact_cap::MAX_CAP
            );
        }
        if self.alerts.after_sales_sla <= Span::ZERO || self.alerts.cap_window <= Span::ZERO {
            bail!("alerts.after_sales_sla and alerts.cap_window must be positive");
        }
        if self.alerts.cap_window > crate::engine::contact_cap::MAX_WINDOW {
            bail!(
                "alerts.cap_window is at most {}: the engine keeps notification times as \
                 offsets within one window",
                crate::engine::contact_cap::MAX_WINDOW
            );
        }
        Ok(())
    }
}

/// librdkafka takes every property as a string; TOML users (and environment values read
/// as TOML) may write `linger.ms = 5` or `enable.ssl.certificate.verification = false`.
fn property_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "librdkafka property `{key}` must be a string, number or boolean, got {}",
                        other.type_str()
                    )))
                }
            };
            Ok((key, text))
        })
        .collect()
}

/// `KAFKA__PROPERTIES__SASL_PASSWORD` → `["kafka", "properties", "sasl.password"]`.
fn env_key_path(rest: &str) -> Vec<String> {
    let mut path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    let under_properties =
        path.len() == 3 && path[0] == "kafka" && PROPERTY_TABLES.contains(&path[1].as_str());
    if under_properties {
        path[2] = path[2].replace('_', ".");
    }
    path
}

/// `kafka.properties.sasl.username` → `["kafka", "properties", "sasl.username"]`.
fn set_key_path(key: &str) -> Vec<String> {
    let mut path: Vec<String> = key.split('.').map(str::to_owned).collect();
    if path.len() > 3 && path[0] == "kafka" && PROPERTY_TABLES.contains(&path[1].as_str()) {
        let property = path[2..].join(".");
        path.truncate(2);
        path.push(property);
    }
    path
}

fn parse_value(text: &str) -> toml::Value {
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

fn set_path(tree: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty key");
    };
    let mut table = tree;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("`{key}` is not a table"),
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}

/// librdkafka properties whose values must never be logged.
fn is_secret(key: &str) -> bool {
    ["password", "secret", "key.pem", "keystore", ".key", "token"]
        .iter()
        .any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../churnwatch.example.toml");
        let parsed = Config::from_toml(text).expect("example config parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn churn_risk_settings_are_checked_and_the_model_file_read() {
        for (text, says) in [
            ("[churn_risk]\nthresholds = []\n", "one to 3"),
            (
                "[churn_risk]\nthresholds = [0.2, 0.5]\n",
                "strictly decreasing",
            ),
            ("[churn_risk]\nthresholds = [1.0]\n", "between 0 and 1"),
            (
                "[churn_risk]\nthresholds = [0.5, 0.4, 0.3, 0.2]\n",
                "one to 3",
            ),
            (
                "[churn_risk]\nhorizon = \"0d\"\n",
                "horizon must be positive",
            ),
            (
                "[churn_risk]\nmodel_file = \"/nonexistent/model.toml\"\n",
                "churn_risk.model_file",
            ),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{text}: {err:#}");
        }
        let dir = std::env::temp_dir().join(format!("churnwatch-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fit = crate::churn_model::Fit {
            members: 10,
            r: 0.5,
            alpha_days: 40.0,
            a: 0.9,
            b: 1.6,
            log_likelihood: -6.0,
        };
        let write = |tiers: &[&str]| {
            let file = crate::churn_model::ModelFile::new(
                crate::btyd::Model::MbgNbd,
                crate::churn_model::Window {
                    start: crate::model::EventTime::from_millis(0),
                    end: crate::model::EventTime::from_millis(0),
                },
                fit,
                tiers.iter().map(|t| (t.to_string(), fit)).collect(),
            );
            let path = dir.join(format!("model-{}.toml", tiers.len()));
            std::fs::write(&path, file.to_toml()).unwrap();
            (path, file)
        };
        let (good, file) = write(&["199"]);
        let text = format!(
            "[churn_risk]\nmodel_file = {:?}\n",
            good.display().to_string()
        );
        let config = Config::from_toml(&text).expect("a valid model file");
        let settings = config.engine().churn_risk.expect("the model is on");
        assert_eq!(settings.version, file.version);
        assert_eq!(settings.tiers.keys().collect::<Vec<_>>(), ["199"]);
        assert_eq!(settings.population.alpha, 40.0 * 86_400_000.0);
        let (bad, _) = write(&["199", "999"]);
        let text = format!(
            "[churn_risk]\nmodel_file = {:?}\n",
            bad.display().to_string()
        );
        let err = Config::from_toml(&text).unwrap_err();
        assert!(format!("{err:#}").contains("\"999\""), "{err:#}");
        assert!(
            Config::default().engine().churn_risk.is_none(),
            "off by default"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("[time]\nallowed_latenes = \"5m\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("allowed_latenes"), "{err:#}");
    }

    #[test]
    fn a_benchmark_row_must_have_thirteen_months() {
        let err = Config::from_toml("[groups.benchmark]\n\"99\" = [40, 50]\n").unwrap_err();
        assert!(format!("{err:#}").contains("13 values"), "{err:#}");
    }

    #[test]
    fn float_amounts_are_refused_in_configuration() {
        let err = Config::from_toml("[groups]\noutput_target = 450.5\n").unwrap_err();
        assert!(format!("{err:#}").contains("float"), "{err:#}");
    }

    #[test]
    fn eviction_never_comes_before_the_retention_horizon() {
        for key in ["evict_left_after", "evict_dormant_after"] {
            let err = Config::from_toml(&format!("[state]\n{key} = \"89d\"\n")).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{err:#}");
            for ok in ["0s", "90d", "400d"] {
                assert!(Config::from_toml(&format!("[state]\n{key} = \"{ok}\"\n")).is_ok());
            }
        }
    }

    #[test]
    fn the_contact_cap_is_at_most_four() {
        let err = Config::from_toml("[alerts]\nmember_warning_cap = 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("at most 4"), "{err:#}");
    }

    /// What the compact member record can hold: the cap log's offsets span 49 days, the
    /// fired counters 15 entries.
    #[test]
    fn the_cap_window_and_the_schedules_fit_the_member_record() {
        let err = Config::from_toml("[alerts]\ncap_window = \"50d\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("cap_window is at most"),
            "{err:#}"
        );
        Config::from_toml("[alerts]\ncap_window = \"49d\"\n").expect("49 days fit");
        let days: Vec<String> = (1..=16).map(|d| format!("\"{d}d\"")).collect();
        let toml = format!("[lifecycle]\nrecall_schedule = [{}]\n", days.join(", "));
        let err = Config::from_toml(&toml).unwrap_err();
        assert!(format!("{err:#}").contains("at most 15"), "{err:#}");
        let toml = format!("[lifecycle]\nlogin_lapse = [{}]\n", days[..15].join(", "));
        Config::from_toml(&toml).expect("15 levels fit");
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let c = Config::from_toml("[alerts]\nmember_warning_cap = 4\n").unwrap();
        assert_eq!(c.alerts.member_warning_cap, 4);
        assert_eq!(c.alerts.after_sales_sla, Span::hours(48));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_variables_override_any_key() {
        let c = Config::load_with(
            None,
            env(&[
                ("CHURNWATCH_KAFKA__BROKERS", "kafka-1:9093,kafka-2:9093"),
                ("CHURNWATCH_TIME__ALLOWED_LATENESS", "2m"),
                ("CHURNWATCH_GROUPS__MIN_GROUP_SIZE", "25"),
                ("CHURNWATCH_KAFKA__PROPERTIES__SASL_PASSWORD", "s3cret"),
                (
                    "CHURNWATCH_KAFKA__PROPERTIES__SECURITY_PROTOCOL",
                    "SASL_SSL",
                ),
                ("HOME", "/root"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "kafka-1:9093,kafka-2:9093");
        assert_eq!(c.time.allowed_lateness, Span::minutes(2));
        assert_eq!(c.groups.min_group_size, 25);
        assert_eq!(c.kafka.properties["sasl.password"], "s3cret");
        assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
    }

    #[test]
    fn set_flags_override_the_environment_and_the_file() {
        let dir = std::env::temp_dir().join(format!("churnwatch-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[kafka]\ngroup_id = \"from-file\"\nwarnings_topic = \"w-file\"\n",
        )
        .unwrap();
        let c = Config::load_with(
            Some(&file),
            env(&[("CHURNWATCH_KAFKA__GROUP_ID", "from-env")]),
            &[
                "kafka.group_id=from-flag".to_owned(),
                "kafka.consumer_properties.session.timeout.ms=6000".to_owned(),
                r#"kafka.inputs=[{topic="a",encoding="protobuf"}]"#.to_owned(),
            ],
        )
        .unwrap();
        assert_eq!(c.kafka.group_id, "from-flag");
        assert_eq!(c.kafka.warnings_topic, "w-file");
        assert_eq!(c.kafka.consumer_properties["session.timeout.ms"], "6000");
        assert_eq!(c.kafka.inputs[0].encoding, Encoding::Protobuf);
    }

    #[test]
    fn an_override_of_an_unknown_key_is_an_error() {
        let err =
            Config::load_with(None, env(&[("CHURNWATCH_KAFKA__BROKER", "x")]), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("broker"), "{err:#}");
    }

    #[test]
    fn a_bind_beyond_loopback_needs_a_token() {
        let with = |bind: &str, token: Option<&str>| {
            let mut c = Config::default();
            c.http.bind = bind.to_owned();
            c.http.token = token.map(str::to_owned);
            c.validate()
        };
        assert!(with("127.0.0.1:9180", None).is_ok());
        assert!(with("[::1]:9180", None).is_ok());
        let open = with("0.0.0.0:9180", None).unwrap_err().to_string();
        assert!(open.contains("http.token"), "{open}");
        assert!(
            with("0.0.0.0:9180", Some("")).is_err(),
            "an empty token is none"
        );
        assert!(with("0.0.0.0:9180", Some("t0ken")).is_ok());
        let bad = with("localhost", None).unwrap_err().to_string();
        assert!(bad.contains("http.bind"), "{bad}");
    }

    #[test]
    fn the_tutor_directory_of_the_pages_comes_from_the_file_or_the_environment() {
        assert_eq!(Config::default().http.tutor_directory, None);
        let c = Config::load_with(
            None,
            env(&[(
                "CHURNWATCH_HTTP__TUTOR_DIRECTORY",
                "/etc/churnwatch/tutors.toml",
            )]),
            &["http.alerts_stream_lifetime=30s".to_owned()],
        )
        .unwrap();
        assert_eq!(
            c.http.tutor_directory.as_deref(),
            Some("/etc/churnwatch/tutors.toml")
        );
        assert_eq!(c.http.alerts_stream_lifetime, Span::seconds(30));
        let err = Config::from_toml("[http]\nalerts_stream_lifetime = \"0s\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("alerts_stream_lifetime"),
            "{err:#}"
        );
    }

    #[test]
    fn the_http_token_is_redacted_from_the_printed_configuration() {
        let mut c = Config::default();
        c.http.token = Some("t0ken-value".into());
        let shown = c.redacted_toml();
        assert!(!shown.contains("t0ken-value"), "{shown}");
        assert!(shown.contains("token = \"<redacted>\""), "{shown}");
    }

    #[test]
    fn secrets_are_redacted_from_the_printed_configuration() {
        let mut c = Config::default();
        c.kafka
            .properties
            .insert("sasl.password".into(), "s3cret".into());
        c.kafka
            .properties
            .insert("sasl.username".into(), "svc".into());
        let shown = c.redacted_toml();
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("svc"));
    }
}
