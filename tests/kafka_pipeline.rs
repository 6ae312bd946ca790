//! `churnwatch run` against a real Apache Kafka broker: JSON and Protobuf input, the
//! warnings topic in both encodings, dead letters with their headers, and restarts
//! (graceful and `kill -9`) that lose no warning, and the churn model's warnings and
//! figures through the broker.
//!
//! Expected output is what `churnwatch replay` makes of the same events: with one input
//! partition and event-time mode the engine sees the same sequence, so the warning ids
//! must be the same set (duplicates allowed across restarts, never a missing id).

mod kafka_support;
mod poison;

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_support::*;
use poison::{bad_lines, CONFIG, GOOD_ORDER, GOOD_PROFILE};
use prost::Message as _;
use rdkafka::message::Message;

use churnwatch::proto::v1;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn json_events_give_the_replay_warnings_as_protobuf() {
    let t = topics("json-proto", 1, 3);
    let lines = workload(150, 70, 7);
    let expected: BTreeSet<String> = replay(&lines, None)
        .iter()
        .map(|l| json_warning_id(l))
        .collect();
    assert!(
        expected.len() > 50,
        "the workload should warn: {}",
        expected.len()
    );
    produce(&t.input, &json_records(&lines));

    let cw = Churnwatch::start(
        &settings(&t.group, &t.input, "json", &t.warnings, &t.dlq),
        None,
        &t.group,
    );
    let got = consume_until(&t.warnings, WAIT, |m| m.len() >= expected.len());
    let status = cw.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");

    assert_eq!(warning_ids(&got), expected);
    let mut kinds = BTreeSet::new();
    for m in &got {
        assert_eq!(header_str(m, "churnwatch.schema"), "churnwatch.v1.Warning");
        let w =
            v1::Warning::decode(m.payload().expect("a payload")).expect("a churnwatch.v1.Warning");
        assert_eq!(w.warning_id, header_str(m, "churnwatch.warning_id"));
        let key = String::from_utf8_lossy(m.key().expect("a key")).into_owned();
        let subject = w
            .member_id
            .clone()
            .or(w.group_id.clone())
            .expect("a subject");
        assert_eq!(
            key, subject,
            "key = member id, or group id for group warnings"
        );
        kinds.insert(w.kind().as_str_name().to_owned());
    }
    assert!(kinds.contains("SEGMENT_DOWNGRADE"), "{kinds:?}");
}

/// The same workload as Protobuf `churnwatch.v1.Event` records.
fn to_protobuf(line: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    let s = |k: &str| v[k].as_str().map(str::to_owned).unwrap_or_default();
    let time = |k: &str| match &v[k] {
        serde_json::Value::Number(n) => n.as_i64().expect("epoch ms"),
        serde_json::Value::String(t) => churnwatch::model::EventTime::parse_rfc3339(t)
            .expect("RFC 3339")
            .as_millis(),
        other => panic!("no time in {other}"),
    };
    let fen = |k: &str| -> Option<i64> {
        let text = match &v[k] {
            serde_json::Value::Null => return None,
            serde_json::Value::String(t) => t.clone(),
            n => n.to_string(),
        };
        Some(churnwatch::model::Fen::parse_yuan(&text).expect("yuan").0)
    };
    use v1::event::Body;
    let body = match v["type"].as_str().expect("type") {
        "member" => Body::Member(v1::MemberProfile {
            group_id: s("group_id"),
            tutor_id: s("tutor_id"),
            fee_tier: s("fee_tier"),
            joined_at_ms: time("joined_at"),
        }),
        "member_left" => Body::MemberLeft(v1::MemberLeft {}),
        "order" => Body::Order(v1::Order {
            order_id: s("order_id"),
            amount_fen: fen("amount").expect("amount"),
            category: s("category"),
        }),
        "login" => Body::Login(v1::Login {
            channel: s("channel"),
        }),
        "after_sales" => Body::AfterSales(v1::AfterSales {
            ticket_id: s("ticket_id"),
            order_id: s("order_id"),
            status: match s("status").as_str() {
                "opened" => v1::TicketStatus::Opened,
                _ => v1::TicketStatus::Resolved,
            } as i32,
            reason: s("reason"),
            refund_amount_fen: fen("refund_amount"),
        }),
        other => panic!("unexpected type {other}"),
    };
    v1::Event {
        event_id: s("event_id"),
        member_id: s("member_id"),
        ts_ms: time("ts"),
        body: Some(body),
    }
    .encode_to_vec()
}

#[test]
fn protobuf_events_give_the_replay_warnings_as_json() {
    let t = topics("proto-json", 1, 3);
    let lines = workload(120, 60, 11);
    let expected = replay(&lines, None);
    assert!(expected.len() > 30);
    let records: Vec<Record> = lines
        .iter()
        .map(|l| Record::new(&member_key(l), to_protobuf(l)))
        .collect();
    produce(&t.input, &records);

    let mut sets = settings(&t.group, &t.input, "protobuf", &t.warnings, &t.dlq);
    sets.push("kafka.warnings_encoding=json".to_owned());
    let cw = Churnwatch::start(&sets, None, &t.group);
    let got = consume_until(&t.warnings, WAIT, |m| m.len() >= expected.len());
    assert!(cw.stop().success());

    // Event-time mode keeps the engine's emitted_at, so the JSON is the replay's, byte
    // for byte (the order differs only across the warnings topic's partitions).
    let got: BTreeSet<String> = got
        .iter()
        .map(|m| {
            assert_eq!(
                header_str(m, "churnwatch.schema"),
                "churnwatch.warning.json"
            );
            String::from_utf8(m.payload().expect("payload").to_vec()).expect("UTF-8")
        })
        .collect();
    let expected: BTreeSet<String> = expected.into_iter().collect();
    assert_eq!(got, expected);
}

/// With the churn model named in the configuration, `run` gives the replay's warnings,
/// `CHURN_RISK` included, and its Protobuf figures carry P(alive) and the model's version.
#[test]
fn with_the_churn_model_run_gives_the_replay_warnings_churn_risk_included() {
    let t = topics("churn-model", 1, 2);
    let dir = std::env::temp_dir().join(unique("churn-model"));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let model = churnwatch::churn_model::ModelFile::cdnow_mbg_nbd();
    let model_path = dir.join("model.toml");
    std::fs::write(&model_path, model.to_toml()).expect("writing the model");
    let config = dir.join("churnwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[churn_risk]\nmodel_file = {:?}\n",
            model_path.display().to_string()
        ),
    )
    .expect("writing the config");

    let lines = workload(150, 120, 13);
    let replayed = replay(&lines, Some(&config));
    let churn = replayed
        .iter()
        .filter(|l| l.contains("\"CHURN_RISK\""))
        .count();
    assert!(churn > 10, "the workload should cross thresholds: {churn}");
    let expected: BTreeSet<String> = replayed.iter().map(|l| json_warning_id(l)).collect();
    produce(&t.input, &json_records(&lines));

    let cw = Churnwatch::start(
        &settings(&t.group, &t.input, "json", &t.warnings, &t.dlq),
        Some(&config),
        &t.group,
    );
    let got = consume_until(&t.warnings, WAIT, |m| m.len() >= expected.len());
    assert!(cw.stop().success());
    assert_eq!(warning_ids(&got), expected);
    let mut risks = 0;
    for m in &got {
        let w = v1::Warning::decode(m.payload().expect("a payload")).expect("a Warning");
        let kind = w.kind();
        let Some(v1::warning::Figures::Member(f)) = w.figures else {
            continue;
        };
        if f.lifetime_orders > 0 {
            assert_eq!(f.model_version.as_deref(), Some(model.version.as_str()));
            assert!(f.p_alive_ppm.is_some() && f.expected_purchases_micro.is_some());
        }
        if kind == v1::WarningKind::ChurnRisk {
            risks += 1;
            assert!(f.p_alive_ppm < f.threshold_ppm, "{f:?}");
        }
    }
    assert_eq!(risks, churn);
}

#[test]
fn poison_messages_go_to_the_dead_letter_topic_with_their_reason_and_source() {
    let t = topics("poison", 1, 3);
    // Nine days after the order: her last order is 9 days old, so she has left
    // important_value.
    let good_login =
        r#"{"event_id":"e12","member_id":"m1","ts":"2026-01-10T11:10:00Z","type":"login"}"#;
    let bad = bad_lines();
    let mut records = vec![
        Record::new("m1", GOOD_PROFILE.as_bytes()),
        Record::new("m1", GOOD_ORDER.as_bytes()),
    ];
    for (line, _) in &bad {
        let mut r = Record::new("m1", line.as_bytes());
        r.headers.push(("trace-id".to_owned(), b"abc".to_vec()));
        records.push(r);
    }
    records.push(Record::new("m1", good_login.as_bytes()));
    // A message with no payload at all (a tombstone) is refused too.
    records.push(Record {
        key: Some(b"m1".to_vec()),
        payload: Vec::new(),
        headers: Vec::new(),
    });
    produce(&t.input, &records);

    let dir = std::env::temp_dir().join(unique("poison-config"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let cw = Churnwatch::start(
        &settings(&t.group, &t.input, "json", &t.warnings, &t.dlq),
        Some(&config),
        &t.group,
    );
    let dead = consume_until(&t.dlq, WAIT, |m| m.len() > bad.len());
    let is_downgrade_of_m1 = |w: &v1::Warning| {
        w.member_id.as_deref() == Some("m1")
            && w.kind() == v1::WarningKind::SegmentDowngrade
            && w.from.as_deref() == Some("important_value")
    };
    let decode = |m: &rdkafka::message::OwnedMessage| {
        v1::Warning::decode(m.payload().expect("payload")).expect("a warning")
    };
    let warnings = consume_until(&t.warnings, WAIT, |m| {
        m.iter().any(|m| is_downgrade_of_m1(&decode(m)))
    });
    assert!(cw.stop().success());

    assert_eq!(dead.len(), bad.len() + 1, "every poison message, once");
    for (i, m) in dead.iter().enumerate() {
        let offset: i64 = header_str(m, "churnwatch.source.offset")
            .parse()
            .expect("an offset");
        assert_eq!(header_str(m, "churnwatch.source.topic"), t.input);
        assert_eq!(header_str(m, "churnwatch.source.partition"), "0");
        let detail = header_str(m, "churnwatch.detail");
        assert!(!detail.is_empty());
        if i < bad.len() {
            let (line, reason) = &bad[i];
            assert_eq!(offset, 2 + i as i64, "source offset of {reason}");
            assert_eq!(header_str(m, "churnwatch.reason"), *reason, "{detail}");
            assert_eq!(
                m.payload(),
                Some(line.as_bytes()),
                "the original bytes, unchanged"
            );
            assert_eq!(m.key(), Some(&b"m1"[..]));
            assert_eq!(
                header(m, "trace-id"),
                Some(&b"abc"[..]),
                "original headers kept"
            );
        } else {
            assert_eq!(header_str(m, "churnwatch.reason"), "undecodable");
            assert_eq!(offset, 2 + bad.len() as i64 + 1);
        }
    }
    // The good messages around the poison were processed: m1's order and the login nine
    // days later moved her out of important_value.
    assert!(
        warnings.iter().any(|m| is_downgrade_of_m1(&decode(m))),
        "m1 left important_value"
    );
}

/// Waits until the warnings topic holds every expected id; returns what it read.
fn wait_for_all(topic: &str, expected: &BTreeSet<String>) -> BTreeSet<String> {
    let got = consume_until(topic, WAIT, |m| {
        // Cheap check first: there cannot be all ids before there are as many records.
        m.len() >= expected.len() && expected.is_subset(&warning_ids(m))
    });
    warning_ids(&got)
}

#[test]
fn restarts_graceful_and_kill_9_lose_no_warning() {
    restarts_lose_no_warning("auto");
}

/// The same with offsets committed after acknowledgement (brokers without transactions).
#[test]
fn at_least_once_restarts_graceful_and_kill_9_lose_no_warning() {
    restarts_lose_no_warning("at_least_once");
}

fn restarts_lose_no_warning(delivery: &str) {
    let t = topics(&format!("restart-{delivery}"), 1, 3);
    let lines = workload(1500, 90, 23);
    let expected: BTreeSet<String> = replay(&lines, None)
        .iter()
        .map(|l| json_warning_id(l))
        .collect();
    let mut sets = settings(&t.group, &t.input, "json", &t.warnings, &t.dlq);
    sets.push(format!("kafka.delivery={delivery}"));
    let (first, rest) = lines.split_at(lines.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);

    // Run 1 sees the first third, is killed with -9 while the second third arrives.
    let cw = Churnwatch::start(&sets, None, &t.group);
    produce(&t.input, &json_records(first));
    consume_until(&t.warnings, WAIT, |m| m.len() >= 50);
    produce(&t.input, &json_records(&second[..second.len() / 2]));
    cw.kill9();
    produce(&t.input, &json_records(&second[second.len() / 2..]));

    // Run 2 restores from the topic, goes on, and is stopped gracefully mid-stream.
    let mut cw = Churnwatch::start(&sets, None, &t.group);
    let log_2 = cw.log.clone();
    // Run 2 rebuilds its state from a snapshot of run 1 and the topic, or from the topic
    // alone, up to the committed offset.
    cw.wait_for_log("partitions assigned", WAIT);
    if cw.log_text().contains("restoring=true") {
        // Restore progress is reported, and its end.
        cw.wait_for_log("state restored; output is live", WAIT);
    }
    produce(&t.input, &json_records(&third[..third.len() / 2]));
    std::thread::sleep(Duration::from_millis(300));
    let status = cw.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    let log = std::fs::read_to_string(&log_2).unwrap_or_default();
    assert!(log.contains("stopped"), "run 2 drained and stopped:\n{log}");

    // Run 3 finishes the stream.
    produce(&t.input, &json_records(&third[third.len() / 2..]));
    let cw = Churnwatch::start(&sets, None, &t.group);
    let got = wait_for_all(&t.warnings, &expected);
    assert!(cw.stop().success());
    let missing: Vec<&String> = expected.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} warnings lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(got, expected, "and no warning the replay does not have");
}

#[test]
fn in_live_mode_an_idle_input_lets_the_wall_clock_fire_timers() {
    let t = topics("live-idle", 1, 3);
    let now = churnwatch::clock::wall_clock().as_millis();
    let day = 86_400_000i64;
    let order_ts = now - 7 * day - 10 * 60_000;
    let profile = format!(
        r#"{{"event_id":"p1","member_id":"m1","ts":{},"type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"399","joined_at":{}}}"#,
        order_ts - 1000,
        now - 400 * day
    );
    let order = format!(
        r#"{{"event_id":"o1","member_id":"m1","ts":{order_ts},"type":"order","order_id":"o1","amount":"1500.00","category":"skincare"}}"#
    );
    produce(
        &t.input,
        &[Record::new("m1", profile), Record::new("m1", order)],
    );
    // Live mode, the default, rather than the other tests' event time.
    let mut sets = connection_settings(&t.group, &t.input, "json", &t.warnings, &t.dlq);
    sets.push("time.idle_timeout=2s".to_owned());
    let cw = Churnwatch::start(&sets, None, &t.group);
    // By event time alone the watermark stops 5 minutes short of the order; R passes 7 d
    // ten minutes ago by the wall clock, so only the idle input's wall-clock watermark
    // can fire it.
    let decode = |m: &rdkafka::message::OwnedMessage| {
        v1::Warning::decode(m.payload().expect("payload")).expect("a warning")
    };
    let got = consume_until(&t.warnings, WAIT, |m| {
        m.iter()
            .any(|m| decode(m).kind() == v1::WarningKind::SegmentDowngrade)
    });
    assert!(cw.stop().success());
    let w = got
        .iter()
        .map(decode)
        .find(|w| w.kind() == v1::WarningKind::SegmentDowngrade)
        .expect("the downgrade fired with no further event");
    assert_eq!(w.from.as_deref(), Some("important_value"));
    assert_eq!(
        w.event_time_ms,
        order_ts + 7 * day + 1,
        "stamped at the boundary instant, not when the watermark passed it"
    );
    assert!(
        w.emitted_at_ms >= now,
        "live mode stamps the emission with the wall clock"
    );
}
