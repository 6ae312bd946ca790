//! `churnwatch replay --partitions N`: the two stages of a scaled-out deployment in one
//! process. With one partition it is byte for byte the replay without the flag; with N it
//! gives the same bytes on any number of threads, ends in the same state, and places each
//! member where the configured producers' partitioner does, each partition with its own
//! watermark.

use std::path::{Path, PathBuf};
use std::process::Command;

use churnwatch::partitioner::Partitioner;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churnwatch"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("churnwatch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn generated(dir: &Path) -> PathBuf {
    let path = dir.join("events.jsonl");
    let run = bin()
        .args([
            "generate",
            "--seed",
            "7",
            "--members",
            "1500",
            "--days",
            "100",
            "-o",
        ])
        .arg(&path)
        .output()
        .expect("run churnwatch generate");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    path
}

/// The warnings and the state a replay writes, with `args` after the file.
fn replay(dir: &Path, input: &Path, tag: &str, config: &[&str], args: &[&str]) -> (String, String) {
    let warnings = dir.join(format!("{tag}.warnings.jsonl"));
    let state = dir.join(format!("{tag}.state.jsonl"));
    let mut command = bin();
    for set in config {
        command.args(["--set", set]);
    }
    let run = command
        .arg("replay")
        .arg(input)
        .args(["--now", "2030-01-01T00:00:00Z", "-o"])
        .arg(&warnings)
        .arg("--state-out")
        .arg(&state)
        .args(args)
        .output()
        .expect("run churnwatch replay");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = |p: &Path| std::fs::read_to_string(p).expect("replay wrote it");
    (read(&warnings), read(&state))
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn one_partition_gives_the_bytes_of_a_replay_without_partitions() {
    let dir = scratch("partitions-one");
    let input = generated(&dir);
    let (warnings, state) = replay(&dir, &input, "single", &[], &[]);
    let (two_warnings, two_state) = replay(&dir, &input, "one", &[], &["--partitions", "1"]);
    assert!(warnings.lines().count() > 1000, "the workload warns");
    assert!(warnings.contains("GROUP_BELOW_BENCHMARK"));
    assert_eq!(two_warnings, warnings);
    assert_eq!(two_state, state);
}

#[test]
fn n_partitions_give_the_same_bytes_on_any_number_of_threads_and_end_in_the_same_state() {
    let dir = scratch("partitions-n");
    let input = generated(&dir);
    let (_, state) = replay(&dir, &input, "single", &[], &[]);
    let (a, a_state) = replay(
        &dir,
        &input,
        "a",
        &[],
        &["--partitions", "5", "--threads", "1"],
    );
    // The member stages on three threads: the same bytes.
    let (b, b_state) = replay(
        &dir,
        &input,
        "b",
        &[],
        &["--partitions", "5", "--threads", "3"],
    );
    assert_eq!(a, b);
    assert_eq!(a_state, b_state);
    // Members are listed in id order either way; groups in the order the stage met them.
    assert_eq!(sorted_lines(&a_state), sorted_lines(&state));
    assert!(
        a.contains("GROUP_BELOW_BENCHMARK"),
        "the group stage grades"
    );
}

/// Two member ids that `consistent_random` puts on different partitions of two and
/// `murmur2_random` on the same one.
fn split_by_crc_together_by_murmur() -> (String, String) {
    let ids: Vec<String> = (0..64).map(|i| format!("member-{i}")).collect();
    for a in &ids {
        for b in &ids {
            let place = |p: Partitioner, id: &str| p.partition(id.as_bytes(), 2);
            if a != b
                && place(Partitioner::ConsistentRandom, a)
                    != place(Partitioner::ConsistentRandom, b)
                && place(Partitioner::Murmur2Random, a) == place(Partitioner::Murmur2Random, b)
            {
                return (a.clone(), b.clone());
            }
        }
    }
    panic!("64 ids hold such a pair");
}

#[test]
fn members_are_placed_by_the_configured_partitioner_each_partition_with_its_own_watermark() {
    let dir = scratch("partitions-placement");
    let (a, b) = split_by_crc_together_by_murmur();
    // b orders 2,000 yuan on day 0 (important_value); a orders on day 20; b's next order,
    // of day 1, comes last. On a's partition it is late: the watermark (day 20) has already
    // let b fall on day 7 + 1 ms. On a partition of its own it is not: b falls a week after
    // it, on day 8 + 1 ms.
    let order = |n: u32, member: &str, ts: &str| {
        format!(
            r#"{{"event_id":"e{n}","member_id":"{member}","ts":"{ts}","type":"order","order_id":"o{n}","amount":"2000.00","category":"skincare"}}"#
        )
    };
    let lines = [
        order(1, &b, "2026-01-01T00:00:00Z"),
        order(2, &a, "2026-01-21T00:00:00Z"),
        order(3, &b, "2026-01-02T00:00:00Z"),
    ];
    let input = dir.join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write the input");
    let first_fall_of_b = |config: &[&str]| -> String {
        let (warnings, _) = replay(&dir, &input, "placement", config, &["--partitions", "2"]);
        let fall = warnings
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
            .find(|w| w["member_id"] == b.as_str() && w["kind"] == "SEGMENT_DOWNGRADE")
            .unwrap_or_else(|| panic!("b falls: {warnings}"));
        fall["event_time"].as_str().expect("a time").to_owned()
    };
    assert_eq!(first_fall_of_b(&[]), "2026-01-09T00:00:00.001Z");
    assert_eq!(
        first_fall_of_b(&["input.partitioner=murmur2_random"]),
        "2026-01-08T00:00:00.001Z"
    );
}
