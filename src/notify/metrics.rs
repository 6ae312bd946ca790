//! The notifier's Prometheus metrics (its own `/metrics`, beside `run`'s). Labels are
//! bounded: channel kinds, outcomes, retry reasons, policy dispositions, and channel
//! names (the directory's, a handful per team, never a member or tutor id).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::directory::ChannelKind;
use super::policy::{Counts, MessageKind};
use super::retry::RetryReason;

/// How a payload ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    DeadLettered,
    /// Its channel's queue was full: parked on the retry topic.
    Parked,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Parked => "parked",
        }
    }
}

const KINDS: [ChannelKind; 4] = [
    ChannelKind::Wecom,
    ChannelKind::Dingtalk,
    ChannelKind::Slack,
    ChannelKind::Webhook,
];

pub struct NotifyMetrics {
    registry: Registry,
    payloads: IntCounterVec,
    alerts_delivered: IntCounterVec,
    latency: HistogramVec,
    retries: IntCounterVec,
    queue_depth: IntGaugeVec,
    channel_failing: IntGaugeVec,
    policy: IntCounterVec,
    /// The policy's counts and the outbox's merges as last added.
    reported: std::sync::Mutex<(Counts, u64)>,
    owing: IntGauge,
    unparked: IntCounterVec,
    reloads: IntCounterVec,
    commits: IntCounterVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Every name and label set below is a constant, registered once: a failure is a
    // programming error caught by the tests, not a runtime condition.
    r.unwrap_or_else(|e| panic!("notifier metric definition: {e}"))
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NotifyMetrics {
    pub fn new() -> NotifyMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let payloads = counter(
            "churnwatch_notify_payloads_total",
            "Messages (pages) to receivers by channel kind and how they ended",
            &["channel_kind", "outcome"],
        );
        let alerts_delivered = counter(
            "churnwatch_notify_alerts_delivered_total",
            "Alerts a receiver acknowledged, by channel kind (one per alert and channel)",
            &["channel_kind"],
        );
        let retries = counter(
            "churnwatch_notify_retries_total",
            "Attempts repeated, by channel kind and reason",
            &["channel_kind", "reason"],
        );
        let policy = counter(
            "churnwatch_notify_alerts_total",
            "Warnings read and what the policy did with them (immediate, held in quiet \
             hours, digested, dropped because the member recovered, merged at a rate \
             limit, sent to the fallback desk, already delivered before a restart, …)",
            &["disposition"],
        );
        let unparked = counter(
            "churnwatch_notify_retry_topic_total",
            "Parked payloads read back from the retry topic: sent on, or parked again",
            &["outcome"],
        );
        let reloads = counter(
            "churnwatch_notify_directory_reloads_total",
            "Tutor directory reloads after a change of its file, by outcome",
            &["outcome"],
        );
        let commits = counter(
            "churnwatch_notify_commits_total",
            "Offset commits of the notifier's consumer, by outcome",
            &["outcome"],
        );
        let latency = must(HistogramVec::new(
            HistogramOpts::new(
                "churnwatch_notify_delivery_latency_seconds",
                "From the warning's emission by the engine to the receiver's 2xx, per alert, \
                 by channel kind and message (immediate, merged at a rate limit, held for \
                 quiet hours, digest): the first two are the notifier's speed, the others \
                 its policy's wait",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                43200.0,
            ]),
            &["channel_kind", "message"],
        ));
        must(registry.register(Box::new(latency.clone())));
        let queue_depth = must(IntGaugeVec::new(
            Opts::new(
                "churnwatch_notify_queue_depth",
                "Payloads waiting in a channel's queue (the directory's channel names)",
            ),
            &["channel"],
        ));
        must(registry.register(Box::new(queue_depth.clone())));
        let channel_failing = must(IntGaugeVec::new(
            Opts::new(
                "churnwatch_notify_channel_failing",
                "1 while a channel's last attempt failed (5xx, timeout, unreachable, rate \
                 limit) and no delivery has succeeded since",
            ),
            &["channel"],
        ));
        must(registry.register(Box::new(channel_failing.clone())));
        let owing = must(IntGauge::new(
            "churnwatch_notify_alerts_pending",
            "Warnings read whose deliveries are not all done (held, queued, in flight)",
        ));
        must(registry.register(Box::new(owing.clone())));
        for kind in KINDS {
            for outcome in [Outcome::Delivered, Outcome::DeadLettered, Outcome::Parked] {
                payloads.with_label_values(&[kind.name(), outcome.name()]);
            }
            for reason in RetryReason::ALL {
                retries.with_label_values(&[kind.name(), reason.name()]);
            }
        }
        NotifyMetrics {
            registry,
            payloads,
            alerts_delivered,
            latency,
            retries,
            queue_depth,
            channel_failing,
            policy,
            reported: std::sync::Mutex::new((Counts::default(), 0)),
            owing,
            unparked,
            reloads,
            commits,
        }
    }

    pub fn payload(&self, kind: ChannelKind, outcome: Outcome) {
        self.payloads
            .with_label_values(&[kind.name(), outcome.name()])
            .inc();
    }

    /// One alert acknowledged, `seconds` after the engine emitted it.
    pub fn delivered(&self, kind: ChannelKind, message: MessageKind, seconds: f64) {
        self.alerts_delivered
            .with_label_values(&[kind.name()])
            .inc();
        self.latency
            .with_label_values(&[kind.name(), message.name()])
            .observe(seconds.max(0.0));
    }

    pub fn channel_failing(&self, channel: &str, failing: bool) {
        self.channel_failing
            .with_label_values(&[channel])
            .set(i64::from(failing));
    }

    pub fn retry(&self, kind: ChannelKind, reason: RetryReason) {
        self.retries
            .with_label_values(&[kind.name(), reason.name()])
            .inc();
    }

    pub fn queue_depth(&self, channel: &str, depth: usize) {
        self.queue_depth
            .with_label_values(&[channel])
            .set(depth as i64);
    }

    pub fn owing(&self, n: usize) {
        self.owing.set(n as i64);
    }

    pub fn disposition(&self, name: &str, n: u64) {
        if n > 0 {
            self.policy.with_label_values(&[name]).inc_by(n);
        }
    }

    pub fn unparked(&self, outcome: &str) {
        self.unparked.with_label_values(&[outcome]).inc();
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "refused" }])
            .inc();
    }

    pub fn commit(&self, ok: bool) {
        self.commits
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Adds what the policy counted since the last call.
    pub fn policy_counts(&self, now: &Counts, merged: u64) {
        let mut guard = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, merged_before) = &mut *guard;
        let pairs = [
            ("offered", now.offered, last.offered),
            ("not_notified", now.not_notified, last.not_notified),
            ("repeated", now.repeated, last.repeated),
            ("immediate", now.immediate, last.immediate),
            ("held", now.held, last.held),
            ("digested", now.digested, last.digested),
            (
                "dropped_recovered",
                now.dropped_recovered,
                last.dropped_recovered,
            ),
            ("fallback", now.fallback, last.fallback),
            ("tutor_left", now.tutor_left, last.tutor_left),
        ];
        for (name, n, before) in pairs {
            self.disposition(name, n.saturating_sub(before));
        }
        // The outbox counts merges; the caller passes its running total in `merged`.
        self.disposition("merged", merged.saturating_sub(*merged_before));
        *last = now.clone();
        *merged_before = merged;
    }

    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding the notifier's metrics");
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_render_with_their_names() {
        let m = NotifyMetrics::new();
        m.payload(ChannelKind::Wecom, Outcome::Delivered);
        m.delivered(ChannelKind::Wecom, MessageKind::Immediate, 0.2);
        m.queue_depth("li", 3);
        m.channel_failing("li", true);
        let counts = Counts {
            offered: 5,
            held: 2,
            ..Counts::default()
        };
        m.policy_counts(&counts, 4);
        m.policy_counts(&counts, 4);
        let text = String::from_utf8(m.render()).unwrap();
        for needle in [
            "churnwatch_notify_payloads_total{channel_kind=\"wecom\",outcome=\"delivered\"} 1",
            "churnwatch_notify_delivery_latency_seconds_count{channel_kind=\"wecom\",message=\"immediate\"} 1",
            "churnwatch_notify_channel_failing{channel=\"li\"} 1",
            "churnwatch_notify_queue_depth{channel=\"li\"} 3",
            "churnwatch_notify_alerts_total{disposition=\"offered\"} 5",
            "churnwatch_notify_alerts_total{disposition=\"held\"} 2",
            "churnwatch_notify_alerts_total{disposition=\"merged\"} 4",
            "churnwatch_notify_retries_total{channel_kind=\"slack\",reason=\"rate_limited\"} 0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
