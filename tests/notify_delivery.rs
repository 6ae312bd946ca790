//! `churnwatch notify` against the real broker and local receivers that behave like WeCom,
//! DingTalk, Slack and a Standard Webhooks endpoint (tests/receivers): every `notify:
//! true` warning is delivered exactly once per receiver when nothing fails, at least once
//! across a kill -9 (with the repeats counted and bounded), none lost while a receiver is
//! down for 30 s, and that receiver holds up no other; a receiver's permanent refusal
//! goes to the dead-letter topic with its reason; an aborted transaction's warnings
//! never reach a tutor.

mod kafka_support;
mod receivers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kafka_support::*;
use prost::Message as _;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use receivers::*;

use churnwatch::clock::wall_ms;
use churnwatch::proto::v1;

/// One generated warning, as the engine writes it to the warnings topic.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    tutor: String,
    notify: bool,
    record: Vec<u8>,
}

/// `n` warnings for `tutors` (seeded): member falls, recall calls, lapses and group
/// warnings of every severity, about one in five over the contact cap (`notify: false`).
fn warnings(seed: u64, n: usize, tutors: &[&str]) -> Vec<Sent> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let now = wall_ms();
    (0..n)
        .map(|i| {
            let tutor = tutors[rng.gen_range(0..tutors.len())].to_owned();
            let id = format!(
                "{:032x}",
                xxhash_rust::xxh3::xxh3_128(format!("{seed}/{i}").as_bytes())
            );
            let notify = rng.gen_bool(0.8);
            let group = rng.gen_bool(0.15);
            let kind = if group {
                v1::WarningKind::GroupBelowBenchmark
            } else {
                [
                    v1::WarningKind::SegmentDowngrade,
                    v1::WarningKind::RecallDue,
                    v1::WarningKind::LoginLapsed,
                    v1::WarningKind::ActivationOverdue,
                ][rng.gen_range(0..4)]
            };
            let severity = [
                v1::Severity::Notice,
                v1::Severity::Warning,
                v1::Severity::Critical,
            ][rng.gen_range(0..3)];
            let record = WarningRecord {
                id: &id,
                kind,
                severity,
                member: (!group).then(|| format!("m{i}")),
                group: format!("g{}", i % 7),
                tutor: &tutor,
                event_time_ms: now - 60_000,
                emitted_at_ms: now,
                notify,
            }
            .encode();
            Sent {
                id,
                tutor,
                notify,
                record,
            }
        })
        .collect()
}

/// Writes `warnings` to `topic` in one committed transaction, as `run` does; `aborted`
/// in a transaction that is aborted (read_committed readers never see them).
fn produce_transactionally(topic: &str, warnings: &[Sent], aborted: &[Sent]) {
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("transactional.id", unique("notify-test-txn"))
        .create()
        .expect("a transactional producer");
    let t = Duration::from_secs(30);
    producer.init_transactions(t).expect("init_transactions");
    for (batch, commit) in [(warnings, true), (aborted, false)] {
        producer.begin_transaction().expect("begin");
        for w in batch {
            let key = w.id.clone();
            send_waiting(
                &producer,
                BaseRecord::to(topic).key(&key).payload(&w.record),
            );
        }
        producer.flush(t).expect("flush");
        if commit {
            producer.commit_transaction(t).expect("commit");
        } else {
            producer.abort_transaction(t).expect("abort");
        }
    }
}

struct Setup {
    warnings_topic: String,
    sets: Vec<String>,
    directory: PathBuf,
    dead_letter_topic: String,
}

/// Topics, a directory file and the notifier's settings for one test.
fn setup(name: &str, directory: &str, extra: &[&str]) -> Setup {
    require_broker();
    let warnings_topic = unique(&format!("{name}-warnings"));
    create_topic(&warnings_topic, 3);
    let dead_letter_topic = unique(&format!("{name}-notify-dlq"));
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("a test directory");
    let path = dir.join("tutors.toml");
    std::fs::write(&path, directory).expect("writing the directory");
    let mut sets = vec![
        format!("kafka.brokers={}", brokers()),
        format!("kafka.warnings_topic={warnings_topic}"),
        "kafka.consumer_properties.session.timeout.ms=6000".to_owned(),
        format!("notify.group_id={}", unique(&format!("{name}-group"))),
        format!("notify.directory={}", path.display()),
        format!("notify.dead_letter_topic={dead_letter_topic}"),
        format!("notify.retry_topic={}", unique(&format!("{name}-retry"))),
        format!(
            "notify.delivered_topic={}",
            unique(&format!("{name}-delivered"))
        ),
        "notify.bind=127.0.0.1:0".to_owned(),
        "notify.backoff_base=100ms".to_owned(),
        "notify.backoff_max=2s".to_owned(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    Setup {
        warnings_topic,
        sets,
        directory: path,
        dead_letter_topic,
    }
}

fn notifier(s: &Setup, log: &str) -> Churnwatch {
    let mut n = Churnwatch::start_command(&["notify"], &s.sets, None, &unique(log));
    n.wait_for_log("notify: serving", Duration::from_secs(60));
    n
}

/// Waits until every one of `keys` reached a receiver; on a timeout, says which did not
/// and what the receivers refused.
fn wait_for_all<'k>(
    what: &str,
    timeout: Duration,
    rx: &Receivers,
    keys: impl IntoIterator<Item = &'k String> + Clone,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = rx.counts();
        let missing: Vec<&String> = keys
            .clone()
            .into_iter()
            .filter(|k| !got.contains_key(*k))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} not delivered within {timeout:?}: {missing:?}; refused: {:?}; {} messages accepted",
            missing.len(),
            rx.refused(),
            rx.accepted().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What each receiver must end up with: the reference of every `notify: true` warning
/// routed to it (chat receivers quote a reference, webhooks carry the whole id).
fn expected(
    warnings: &[Sent],
    receiver_of: impl Fn(&str) -> Option<&'static str>,
) -> BTreeMap<String, &'static str> {
    warnings
        .iter()
        .filter(|w| w.notify)
        .filter_map(|w| {
            let r = receiver_of(&w.tutor)?;
            let key = if r.starts_with("webhook") {
                w.id.clone()
            } else {
                short(&w.id)
            };
            Some((key, r))
        })
        .collect()
}

#[test]
fn every_alert_reaches_its_receiver_exactly_once_when_nothing_fails() {
    let rx = Receivers::start();
    let base = rx.base();
    let directory = format!(
        r#"
page_url = "http://127.0.0.1:9180/tutors"
fallback = "lead"
[defaults]
quiet_hours = "none"
min_severity = "NOTICE"
[channels.wecom]
kind = "wecom"
url = "{base}/cgi-bin/webhook/send"
secret_env = "TEST_WECOM_KEY"
[channels.wecom-wrong-key]
kind = "wecom"
url = "{base}/cgi-bin/webhook/send"
secret_env = "TEST_WECOM_WRONG_KEY"
[channels.dingtalk]
kind = "dingtalk"
url_env = "TEST_DINGTALK_URL"
secret_env = "TEST_DINGTALK_SECRET"
[channels.slack]
kind = "slack"
url_env = "TEST_SLACK_URL"
[channels.lead]
kind = "webhook"
url = "{base}/webhook/lead"
secret_file = "{secret_file}"
[tutors.T1]
name = "Li Na"
channels = ["wecom"]
[tutors.T2]
name = "Wang Fang"
channels = ["dingtalk"]
[tutors.T3]
name = "Anna"
time_zone = "Europe/Berlin"
channels = ["slack"]
[tutors.T4]
name = "Zhao Min"
channels = ["wecom-wrong-key"]
[tutors.T5]
name = "Chen Jing"
left = true
# Two channels on one Slack webhook: together they go faster than its one a second, so
# it answers 429 with Retry-After, which the senders honour.
[channels.slack-a]
kind = "slack"
url = "{base}/slack/shared"
[channels.slack-b]
kind = "slack"
url = "{base}/slack/shared"
[tutors.T6]
name = "Liu Yang"
channels = ["slack-a"]
[tutors.T7]
name = "Sun Li"
channels = ["slack-b"]
"#,
        secret_file = {
            let f = std::env::temp_dir().join(unique("webhook-secret"));
            std::fs::write(&f, format!("{WEBHOOK_SECRET}\n")).expect("writing the secret file");
            f.display().to_string()
        }
    );
    let s = setup("notify-once", &directory, &[]);
    let sent = warnings(14, 90, &["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T9"]);
    let phantom = warnings(99, 5, &["T1", "T3"]);
    produce_transactionally(&s.warnings_topic, &sent, &phantom);

    std::env::set_var("TEST_WECOM_KEY", WECOM_KEY);
    std::env::set_var("TEST_WECOM_WRONG_KEY", "not-the-key");
    std::env::set_var(
        "TEST_DINGTALK_URL",
        format!("{base}/robot/send?access_token={DINGTALK_TOKEN}"),
    );
    std::env::set_var("TEST_DINGTALK_SECRET", DINGTALK_SECRET);
    std::env::set_var("TEST_SLACK_URL", format!("{base}/slack/anna"));
    let n = notifier(&s, "notify-once");

    let receiver_of = |tutor: &str| match tutor {
        "T1" => Some("wecom"),
        "T2" => Some("dingtalk"),
        "T3" => Some("slack/anna"),
        "T4" => None, // refused by the robot: dead-lettered
        "T6" | "T7" => Some("slack/shared"),
        _ => Some("webhook/lead"), // T5 left, T9 unknown: the fallback desk
    };
    let want = expected(&sent, receiver_of);
    // WeCom and DingTalk take 20 a minute: what waits goes merged a minute later.
    wait_for_all("every alert", Duration::from_secs(180), &rx, want.keys());
    std::thread::sleep(Duration::from_secs(2));
    let got = rx.counts();
    let by_receiver: BTreeMap<String, BTreeSet<String>> =
        rx.accepted().into_iter().fold(BTreeMap::new(), |mut m, a| {
            m.entry(a.receiver).or_default().extend(a.refs);
            m
        });
    for (key, receiver) in &want {
        assert_eq!(got.get(key), Some(&1), "{key} delivered once");
        assert!(by_receiver[*receiver].contains(key), "{key} at {receiver}");
    }
    // The fallback also got one "tutor left" notice per group of T5.
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        extra.iter().all(|k| k.starts_with("tutor-left:T5:")),
        "nothing but the wanted alerts and T5's departure: {extra:?}"
    );
    assert!(
        !extra.is_empty(),
        "T5 left: her groups are news to the lead"
    );
    for w in sent.iter().filter(|w| !w.notify).chain(&phantom) {
        assert!(
            !got.contains_key(&w.id) && !got.contains_key(&short(&w.id)),
            "{} must not reach a tutor",
            w.id
        );
    }
    assert!(
        !rx.refused().contains_key("wecom:45009"),
        "the outbox keeps to the robot's rate"
    );
    assert!(
        rx.refused()
            .get("slack/shared:429")
            .is_some_and(|n| *n >= 1),
        "the shared Slack webhook answered 429 at least once: {:?}",
        rx.refused()
    );

    // T4's robot refuses (errcode 93000): each of her alerts' payloads is dead-lettered
    // with the reason, and the offsets moved on.
    let t4: BTreeSet<String> = sent
        .iter()
        .filter(|w| w.notify && w.tutor == "T4")
        .map(|w| w.id.clone())
        .collect();
    let dead = read_all(&s.dead_letter_topic, Duration::from_secs(20));
    let dead_ids: BTreeSet<String> = dead
        .iter()
        .flat_map(|m| {
            header_str(m, "churnwatch-warning-ids")
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        dead_ids, t4,
        "T4's alerts, and only hers, are dead-lettered"
    );
    assert!(dead
        .iter()
        .all(|m| header_str(m, "churnwatch-reason").contains("errcode 93000")));

    let page = notify_metrics(&n);
    assert!(
        sample(
            &page,
            "churnwatch_notify_payloads_total{channel_kind=\"wecom\",outcome=\"dead_lettered\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &page,
            "churnwatch_notify_delivery_latency_seconds_count{channel_kind=\"webhook\",message=\"immediate\"}"
        ) >= 1.0
    );
    let status = n.stop();
    assert!(status.success(), "a graceful stop");

    // Everything was committed: a second start delivers nothing again.
    let before = rx.accepted().len();
    let mut again = notifier(&s, "notify-once-again");
    std::thread::sleep(Duration::from_secs(6));
    assert!(again.is_running());
    assert_eq!(
        rx.accepted().len(),
        before,
        "nothing delivered twice after a restart"
    );
}

fn webhook_directory(base: &str, names: &[&str]) -> String {
    let mut d = format!(
        "page_url = \"http://127.0.0.1:9180/tutors\"\nfallback = \"{}\"\n[defaults]\nquiet_hours = \"none\"\nmin_severity = \"NOTICE\"\n",
        names[0]
    );
    for name in names {
        d.push_str(&format!(
            "[channels.{name}]\nkind = \"webhook\"\nurl = \"{base}/webhook/{name}\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\n[tutors.{name}]\nname = \"{name}\"\nchannels = [\"{name}\"]\n"
        ));
    }
    d
}

#[test]
fn a_kill_9_mid_delivery_loses_no_alert_and_repeats_only_what_was_in_flight() {
    std::env::set_var("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let rx = Receivers::start();
    // A slow receiver, so that the kill lands with deliveries in flight.
    rx.set_delay(Duration::from_millis(20));
    let names = ["a", "b", "c", "d"];
    let s = setup("notify-kill", &webhook_directory(&rx.base(), &names), &[]);
    let sent: Vec<Sent> = warnings(7, 600, &names)
        .into_iter()
        .map(|w| Sent { notify: true, ..w })
        .collect();
    let sent: Vec<Sent> = sent
        .into_iter()
        .map(|mut w| {
            // Every one notify: true (re-encoded).
            let mut m = v1::Warning::decode(w.record.as_slice()).expect("own record");
            m.notify = true;
            w.record = m.encode_to_vec();
            w
        })
        .collect();
    produce_transactionally(&s.warnings_topic, &sent, &[]);
    let n = notifier(&s, "notify-kill-1");
    wait_until("a third delivered", Duration::from_secs(60), || {
        rx.counts().len() >= 200
    });
    n.kill9();
    let at_kill = rx.counts().len();
    let _n = notifier(&s, "notify-kill-2");
    wait_until(
        "every alert delivered after the restart",
        Duration::from_secs(90),
        || {
            let got = rx.counts();
            sent.iter().all(|w| got.contains_key(&w.id))
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let got = rx.counts();
    let repeats: usize = got.values().map(|c| c - 1).sum();
    eprintln!(
        "kill -9 after {at_kill} of {} alerts: {repeats} delivered twice",
        sent.len()
    );
    assert!(sent.iter().all(|w| got[&w.id] >= 1), "none lost");
    // At most what was in flight at the kill: one request per channel, and deliveries
    // whose record had not reached the delivered topic yet (a few milliseconds' worth).
    assert!(
        repeats <= 2 * names.len(),
        "{repeats} repeats across the kill: more than in flight"
    );
}

#[test]
fn a_receiver_down_for_30_s_loses_nothing_and_holds_up_no_other_channel() {
    std::env::set_var("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let rx = Receivers::start();
    let names = ["down", "up"];
    let s = setup(
        "notify-down",
        &webhook_directory(&rx.base(), &names),
        &["notify.queue_capacity=4", "notify.park_delay=3s"],
    );
    let sent: Vec<Sent> = warnings(21, 80, &names)
        .into_iter()
        .map(|mut w| {
            let mut m = v1::Warning::decode(w.record.as_slice()).expect("own record");
            m.notify = true;
            w.record = m.encode_to_vec();
            w.notify = true;
            w
        })
        .collect();
    rx.down_for("webhook/down", Duration::from_secs(30));
    let down_since = Instant::now();
    produce_transactionally(&s.warnings_topic, &sent, &[]);
    let n = notifier(&s, "notify-down");
    let of = |name: &str| {
        sent.iter()
            .filter(|w| w.tutor == name)
            .map(|w| w.id.clone())
            .collect::<Vec<_>>()
    };
    let (down, up) = (of("down"), of("up"));
    wait_for_all(
        "the other channel's alerts, while one is down",
        Duration::from_secs(25),
        &rx,
        up.iter(),
    );
    assert!(
        down_since.elapsed() < Duration::from_secs(30),
        "delivered while the other was down"
    );
    assert!(
        rx.counts().keys().all(|k| !down.contains(k)),
        "nothing reached a receiver that was down"
    );
    let page = notify_metrics(&n);
    assert!(
        sample(
            &page,
            "churnwatch_notify_payloads_total{channel_kind=\"webhook\",outcome=\"parked\"}"
        ) >= 1.0,
        "a full queue parks on the retry topic:\n{page}"
    );
    assert_eq!(
        sample(&page, "churnwatch_notify_channel_failing{channel=\"down\"}"),
        1.0,
        "the down channel shows failing (the alert rule's input)"
    );
    assert_eq!(
        sample(&page, "churnwatch_notify_channel_failing{channel=\"up\"}"),
        0.0
    );
    wait_until(
        "the down channel's alerts once it is back",
        Duration::from_secs(90),
        || {
            let got = rx.counts();
            down.iter().all(|id| got.contains_key(id))
        },
    );
    std::thread::sleep(Duration::from_secs(4));
    let got = rx.counts();
    for id in down.iter().chain(&up) {
        assert_eq!(got.get(id), Some(&1), "{id} exactly once");
    }
    assert!(rx.refused().get("webhook/down:503").copied().unwrap_or(0) >= 1);
    let page = notify_metrics(&n);
    assert!(
        sample(
            &page,
            "churnwatch_notify_retries_total{channel_kind=\"webhook\",reason=\"server_error\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(&page, "churnwatch_notify_channel_failing{channel=\"down\"}"),
        0.0,
        "back: failing no more"
    );
    assert_eq!(
        sample(
            &page,
            "churnwatch_notify_payloads_total{channel_kind=\"webhook\",outcome=\"dead_lettered\"}"
        ),
        0.0
    );
}

#[test]
fn a_changed_directory_takes_effect_without_a_restart() {
    std::env::set_var("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let rx = Receivers::start();
    let s = setup(
        "notify-reload",
        &webhook_directory(&rx.base(), &["lead"]),
        &["notify.reload_interval=200ms"],
    );
    let all_notify = |seed, n| -> Vec<Sent> {
        warnings(seed, n, &["newcomer"])
            .into_iter()
            .map(|mut w| {
                let mut m = v1::Warning::decode(w.record.as_slice()).expect("own record");
                m.notify = true;
                w.record = m.encode_to_vec();
                w
            })
            .collect()
    };
    let before = all_notify(31, 5);
    produce_transactionally(&s.warnings_topic, &before, &[]);
    let _n = notifier(&s, "notify-reload");
    wait_until(
        "an unknown tutor's alerts at the fallback",
        Duration::from_secs(30),
        || {
            let got = rx.counts();
            before.iter().all(|w| got.contains_key(&w.id))
        },
    );
    assert!(rx.accepted().iter().all(|a| a.receiver == "webhook/lead"));

    std::fs::write(
        &s.directory,
        webhook_directory(&rx.base(), &["lead", "newcomer"]),
    )
    .expect("rewriting");
    std::thread::sleep(Duration::from_secs(2));
    let after = all_notify(32, 5);
    produce_transactionally(&s.warnings_topic, &after, &[]);
    wait_until(
        "her alerts at her own channel",
        Duration::from_secs(30),
        || {
            let got = rx.counts();
            after.iter().all(|w| got.contains_key(&w.id))
        },
    );
    let at_hers: BTreeSet<String> = rx
        .accepted()
        .into_iter()
        .filter(|a| a.receiver == "webhook/newcomer")
        .flat_map(|a| a.refs)
        .collect();
    assert_eq!(at_hers, after.iter().map(|w| w.id.clone()).collect());
}
