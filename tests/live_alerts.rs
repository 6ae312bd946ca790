//! The live alert stream of `churnwatch run`, against a real broker: under either
//! delivery guarantee it carries every tutor alert of the scenario (the `notify: true`
//! warnings of tutor `t-h`, as `replay` derives them) exactly once, and only warnings
//! that a `read_committed` reader of the warnings topic sees.

mod http_support;
mod kafka_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use churnwatch::decode::JsonDecoder;
use churnwatch::engine::{Engine, TimeMode};
use churnwatch::model::{GroupId, MemberId, TutorId};
use churnwatch::query::views;
use http_support::*;
use kafka_support::*;

/// Every alert event of a stream, (id, warning_id), read until the server ends it.
fn read_stream(url: &str, last_event_id: &str) -> Vec<(String, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent
        .get(url)
        .header("Last-Event-ID", last_event_id)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "text/event-stream");
    let body = BufReader::new(response.into_body().into_reader());
    let mut alerts = Vec::new();
    let (mut id, mut data, mut kind): (Option<String>, Option<String>, Option<String>) =
        (None, None, None);
    for line in body.lines() {
        let line = line.expect("reading the stream");
        if line.is_empty() {
            if let (Some("alert"), Some(id), Some(data)) = (kind.as_deref(), id.take(), data.take())
            {
                let w: serde_json::Value = serde_json::from_str(&data).expect("a JSON line");
                assert_eq!(w["tutor_id"], TUTOR);
                assert_eq!(w["notify"], true);
                alerts.push((id, w["warning_id"].as_str().unwrap_or_default().to_owned()));
            }
            kind = None;
            continue;
        }
        match line.split_once(": ") {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("data", v)) => data = Some(v.to_owned()),
            Some(("event", v)) => kind = Some(v.to_owned()),
            _ => {}
        }
    }
    alerts
}

/// The scenario's tutor alerts as `replay` derives them, once they are all committed on
/// `warnings`: (the alerts' warning ids, every committed warning id).
fn scenario_alerts_committed(
    warnings: &str,
    timeout: Duration,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let lines: Vec<String> = scenario().into_iter().map(|(_, json)| json).collect();
    let expected: BTreeSet<String> = replay(&lines, None)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|w| w["notify"] == true && w["tutor_id"] == TUTOR)
        .map(|w| w["warning_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!expected.is_empty());
    let committed = wait_for("the scenario's warnings committed", timeout, || {
        let committed = warning_ids(&read_all(warnings, Duration::from_secs(30)));
        expected.is_subset(&committed).then_some(committed)
    });
    (expected, committed)
}

/// Reads the tutor's stream from its start and checks it carries exactly `expected`,
/// each once and committed; the stream's events.
fn assert_stream_is(
    base: &str,
    expected: &BTreeSet<String>,
    committed: &BTreeSet<String>,
    what: &str,
) -> Vec<(String, String)> {
    // An id of no process of ours: everything the ring holds for her, then live ones
    // until the server ends the stream.
    let got = read_stream(&format!("{base}/v1/tutors/{TUTOR}/alerts"), "0-0");
    let ids: Vec<String> = got.iter().map(|(_, w)| w.clone()).collect();
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct.len(), ids.len(), "an alert twice: {ids:?}");
    assert_eq!(&distinct, expected, "{what}: the scenario's alerts");
    assert!(distinct.is_subset(committed), "only committed warnings");
    got
}

fn every_committed_alert_reaches_the_stream_once(delivery: &str) {
    let OnScenario {
        cw, base, warnings, ..
    } = start_on_scenario(
        &format!("live-{delivery}"),
        &[
            format!("kafka.delivery={delivery}"),
            "http.alerts_stream_lifetime=3s".to_owned(),
        ],
        None,
    );
    // The state is at the watermark before its last transaction commits.
    let (expected, committed) = scenario_alerts_committed(&warnings, Duration::from_secs(30));
    let got = assert_stream_is(&base, &expected, &committed, delivery);
    let event_ids: BTreeSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(event_ids.len(), got.len(), "one id per alert");
    // Resuming from the last id gives nothing more: all were seen.
    let (last, _) = got.last().expect("alerts").clone();
    assert!(read_stream(&format!("{base}/v1/tutors/{TUTOR}/alerts"), &last).is_empty());
    drop(cw);
}

#[test]
fn exactly_once_every_committed_alert_reaches_the_stream_once() {
    every_committed_alert_reaches_the_stream_once("exactly_once");
}

#[test]
fn at_least_once_every_acknowledged_alert_reaches_the_stream_once() {
    every_committed_alert_reaches_the_stream_once("at_least_once");
}

/// Two stages (`kafka.topology = "two_stage"`, one input partition, so the replay's
/// warnings are the single engine's): the instance's tutor alerts reach its live stream
/// once committed, exactly once; one instance runs every task, so it answers every
/// query, exactly as one engine fed the scenario does.
#[test]
fn two_stages_put_committed_alerts_on_the_stream_and_answer_queries_from_their_tasks() {
    require_broker();
    let input = unique("live-two-in");
    create_topic(&input, 1);
    let scenario = scenario();
    let records: Vec<Record> = scenario
        .iter()
        .map(|(key, json)| Record::new(key, json.clone()))
        .collect();
    produce(&input, &records);
    let warnings = unique("live-two-warnings");
    let mut sets: Vec<String> = settings(
        &unique("live-two-group"),
        &input,
        "json",
        &warnings,
        &unique("live-two-dlq"),
    )
    .into_iter()
    // Under the consumer protocol the broker sets the session timeout.
    .filter(|s| !s.starts_with("kafka.consumer_properties.session.timeout.ms="))
    .collect();
    sets.extend([
        "kafka.topology=two_stage".to_owned(),
        "kafka.threads=2".to_owned(),
        "kafka.delivery=exactly_once".to_owned(),
        "http.alerts_stream_lifetime=3s".to_owned(),
    ]);
    let mut cw = Churnwatch::start(&sets, None, &unique("live-two"));
    let base = format!("http://{}", cw.http_address());
    let (expected, committed) = scenario_alerts_committed(&warnings, Duration::from_secs(60));
    assert_stream_is(&base, &expected, &committed, "two stages");

    let engine = one_engine_fed(&scenario);
    let mut answers: Vec<(String, serde_json::Value)> = scenario
        .iter()
        .map(|(member, _)| member.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|m| {
            let view = views::member(&engine, &MemberId::new(&m));
            (format!("{base}/v1/members/{m}"), json_of(&view))
        })
        .collect();
    let group = views::group(&engine, &GroupId::new(GROUP));
    answers.push((format!("{base}/v1/groups/{GROUP}"), json_of(&group)));
    let board = views::tutor(&engine, &TutorId::new(TUTOR), 3);
    answers.push((
        format!("{base}/v1/tutors/{TUTOR}/at-risk?limit=3"),
        json_of(&board),
    ));
    for (url, want) in &answers {
        assert_ne!(
            want,
            &serde_json::Value::Null,
            "{url}: the scenario names it"
        );
        // The group task catches up with the member task's last watermark shortly after.
        wait_for(url, Duration::from_secs(30), || {
            let reply = get(url, None);
            let got: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
            (reply.status == 200 && &got == want).then_some(())
        });
    }
    let unknown = get(&format!("{base}/v1/members/nobody"), None);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    drop(cw);
}

/// One engine after the whole scenario, as `replay` runs it.
fn one_engine_fed(scenario: &[(String, String)]) -> Engine {
    let config = churnwatch::config::Config::default();
    let decoder = JsonDecoder::new(config.input.max_message_bytes);
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let mut out = Vec::new();
    for (_, line) in scenario {
        let event = decoder
            .decode(line.as_bytes())
            .expect("the scenario decodes");
        engine
            .process(0, &event, churnwatch::clock::wall_clock(), &mut out)
            .expect("the scenario is accepted");
    }
    engine
}

fn json_of(view: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(view).expect("a view serialises")
}
