//! Exactly-once delivery (the default where the broker supports transactions), against
//! the real broker: `kill -9` at random points while the stream flows, several times,
//! then the whole warnings topic, read `read_committed`, must hold exactly the warnings
//! a clean replay of the same input gives: none missing, none twice.

mod kafka_support;

use std::time::{Duration, Instant};

use kafka_support::*;

/// A pseudo-random pause in `[lo, hi)` ms, from a seed printed for reproduction.
fn pause(state: &mut u64, lo: u64, hi: u64) -> Duration {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    Duration::from_millis(lo + (*state >> 33) % (hi - lo))
}

#[test]
fn kill_9_at_random_points_neither_loses_nor_repeats_a_warning() {
    require_broker();
    // One input partition: the order the replay sees is the order of the topic (with
    // several, late events could be stamped at a different watermark).
    let Topics {
        input,
        warnings,
        dlq,
        group,
    } = topics("eos", 1, 3);
    let lines = workload(42_000, 120, 41);
    let expected = id_counts(replay(&lines, None).iter().map(|l| json_warning_id(l)));
    assert!(
        expected.values().all(|n| *n == 1),
        "the replay itself gives each id once"
    );
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!(
        "{} events, {} warnings expected; kill seed {seed}",
        lines.len(),
        expected.len()
    );
    let mut sets = settings(&group, &input, "json", &warnings, &dlq);
    sets.push("kafka.delivery=exactly_once".to_owned());
    sets.push("kafka.commit_interval=300ms".to_owned());

    // The input arrives in slices while instances are killed at random instants.
    let slices: Vec<&[String]> = lines.chunks(lines.len().div_ceil(4)).collect();
    for (i, slice) in slices.iter().enumerate() {
        let cw = Churnwatch::start(&sets, None, &format!("{group}-{i}"));
        produce(&input, &json_records(slice));
        // Killed only once it owns the partition (the group first waits out the killed
        // predecessor's session), at a random instant of its restore or of live output.
        let mut cw = cw;
        cw.wait_for_log("partitions assigned", Duration::from_secs(60));
        std::thread::sleep(pause(&mut seed, 200, 4_000));
        cw.kill9();
    }
    // A last instance finishes the stream and stops gracefully.
    let cw = Churnwatch::start(&sets, None, &format!("{group}-last"));
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let got = read_all(&warnings, Duration::from_secs(60));
        if got.len() >= expected.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} warnings after 240 s",
            got.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(cw.stop().success(), "a graceful stop exits 0");

    let got = id_counts(warning_ids_all(&read_all(
        &warnings,
        Duration::from_secs(60),
    )));
    assert_exactly_once(&expected, &got);
}
