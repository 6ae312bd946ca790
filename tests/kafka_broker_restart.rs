//! The broker stopped and restarted mid-stream: churnwatch waits (back-pressure, no
//! crash), then catches up; the warnings topic, read `read_committed`, holds exactly the
//! warnings of a clean replay, none missing and none twice.
//!
//! A test binary of its own: cargo runs test binaries one after another, so stopping the
//! shared local broker here cannot disturb the other Kafka tests.

mod kafka_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kafka_support::*;

fn broker_script(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka-local.sh");
    let status = Command::new(script)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("running {script} {action}: {e}"));
    assert!(status.success(), "{script} {action} failed");
}

#[test]
fn a_broker_restart_mid_stream_loses_nothing() {
    require_broker();
    assert_eq!(
        brokers(),
        "127.0.0.1:9092",
        "this test stops and starts the broker of scripts/kafka-local.sh; it cannot restart \
         a broker given by TEST_KAFKA_BROKERS"
    );
    let Topics {
        input,
        warnings,
        dlq,
        group,
    } = topics("bounce", 1, 2);

    let lines = workload(1500, 90, 31);
    let expected = id_counts(replay(&lines, None).iter().map(|l| json_warning_id(l)));
    let expected_ids: BTreeSet<String> = expected.keys().cloned().collect();
    let records = json_records(&lines);
    let (first, second) = records.split_at(records.len() / 2);

    let mut cw = Churnwatch::start(
        &settings(&group, &input, "json", &warnings, &dlq),
        None,
        &group,
    );
    produce(&input, first);
    consume_until(&warnings, Duration::from_secs(120), |m| m.len() >= 20);

    // Mid-stream: churnwatch is still working through the first half.
    broker_script("stop");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        cw.is_running(),
        "churnwatch survives the broker's absence:\n{}",
        cw.log_text()
    );
    broker_script("start");

    produce(&input, second);
    consume_until(&warnings, Duration::from_secs(180), |m| {
        m.len() >= expected.len() && expected_ids.is_subset(&warning_ids(m))
    });
    assert!(cw.is_running(), "still running after the broker came back");
    let status = cw.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    // The whole topic, after the stop: any repeat would be there by now.
    let got = id_counts(warning_ids_all(&read_all(
        &warnings,
        Duration::from_secs(60),
    )));
    assert_exactly_once(&expected, &got);
}
