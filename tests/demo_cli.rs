//! `churnwatch demo`: the generator through the engine with alerts in the terminal, the
//! notifier pushing them to a local receiver, and the HTTP server over the live state,
//! no setup.

mod http_support;
// http_support builds on it.
mod kafka_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_support::*;

/// Kills the demo if the test fails half-way: `--linger` would keep it running.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_prints_alerts_and_serves_its_state_over_http() {
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_churnwatch"))
            .args([
                "--set",
                "http.bind=127.0.0.1:0",
                "--set",
                "http.metrics_interval=100ms",
                "--set",
                "http.alerts_stream_lifetime=1s",
            ])
            .args(["demo", "--rate", "0", "--members", "400", "--days", "60"])
            .args(["--color", "never", "--linger"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting churnwatch demo"),
    );
    let stdout = demo.0.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let http_line = lines
        .by_ref()
        .find(|l| l.starts_with("HTTP on "))
        .expect("the demo names its HTTP address");
    let base = http_line
        .split_whitespace()
        .nth(2)
        .map(|s| s.trim_end_matches(':').to_owned())
        .expect("an address");
    let mut rest = Vec::new();
    let serving = lines
        .by_ref()
        .find(|l| {
            rest.push(l.clone());
            l.starts_with("serving the final state")
        })
        .expect("the demo keeps serving after the stream (--linger)");
    // "… e.g. http://127.0.0.1:PORT/tutors/t00N; Ctrl-C to stop"
    let tutor = serving
        .split("/tutors/")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("a tutor's page named")
        .to_owned();
    let alerts = rest
        .iter()
        .filter(|l| l.contains("WARNING") || l.contains("CRITICAL"))
        .count();
    assert!(alerts > 0, "no tutor alert printed:\n{}", rest.join("\n"));
    // The notifier pushed them to the demo's local receiver, which checked each
    // delivery's signature: at once, after quiet hours and in the morning digest.
    let pushed: Vec<&String> = rest
        .iter()
        .filter(|l| l.trim_start().starts_with("⤷"))
        .collect();
    assert!(
        pushed
            .iter()
            .all(|l| l.ends_with("[signed webhook, verified]")),
        "{pushed:?}"
    );
    for how in ["at once", "in her morning digest", "after her quiet hours"] {
        assert!(
            pushed.iter().any(|l| l.contains(how)),
            "no delivery {how}:\n{}",
            rest.join("\n")
        );
    }
    assert!(!rest.iter().any(|l| l.contains("✗")), "a delivery refused");
    let summary = rest
        .iter()
        .find(|l| l.contains(" events, "))
        .expect("a closing summary");

    // The stream is over; the final state is served until Ctrl-C.
    let events: f64 = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("an event count");
    let metrics = wait_for("the final metrics", Duration::from_secs(10), || {
        let text = get(&format!("{base}/metrics"), None).body;
        (metric_sum(&text, "churnwatch_events_consumed_total")
            + metric_sum(&text, "churnwatch_events_rejected_total")
            == events)
            .then_some(text)
    });
    assert!(metric_sum(&metrics, "churnwatch_members_tracked") > 0.0);
    let board = get(&format!("{base}/v1/tutors/{tutor}/at-risk"), None);
    assert_eq!(board.status, 200, "{}", board.body);
    assert!(!board.json()["groups"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(get(&format!("{base}/readyz"), None).status, 200);

    // With no broker the demo's alerts are live as they are emitted: the tutor's page
    // lists her latest, and her stream (resumed from an id of no process: all the ring
    // holds for her) carries them as server-sent events, until the server ends it.
    let page = get(&format!("{base}/tutors/{tutor}"), None);
    assert!(page.body.contains("<h2>Live alerts"), "{}", page.body);
    let listed = page.body.matches("<li class=\"alert ").count();
    assert!(listed > 0, "no live alert on {tutor}'s page");
    let stream = get_with(
        &format!("{base}/v1/tutors/{tutor}/alerts"),
        &[("Last-Event-ID", "0-0")],
    );
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type, "text/event-stream");
    let alerts: Vec<serde_json::Value> = stream
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("a JSON line"))
        .collect();
    assert!(
        alerts.len() >= listed,
        "{} alerts on the stream",
        alerts.len()
    );
    assert!(alerts
        .iter()
        .all(|w| w["tutor_id"] == tutor.as_str() && w["notify"] == true));

    let pid = demo.0.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()));
    let status = demo.0.wait().expect("waiting for the demo");
    assert!(status.success(), "Ctrl-C ends the demo cleanly: {status}");
}
