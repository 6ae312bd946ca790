//! `churnwatch replay` end to end: bad lines are dead-lettered with their reason and raw
//! bytes while the good lines around them are processed; output is reproducible.

use std::process::Command;

mod poison;

use poison::{bad_lines, CONFIG, GOOD_ORDER, GOOD_PROFILE};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churnwatch"))
}

#[test]
fn every_bad_line_is_dead_lettered_with_its_reason_while_good_lines_are_processed() {
    let dir = std::env::temp_dir().join(format!("churnwatch-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut input = vec![
        GOOD_PROFILE.to_owned(),
        GOOD_ORDER.to_owned(),
        String::new(),
    ];
    let bad = bad_lines();
    input.extend(bad.iter().map(|(line, _)| line.clone()));
    let input_path = dir.join("events.jsonl");
    std::fs::write(&input_path, input.join("\n") + "\n").unwrap();
    let dead = dir.join("dead.jsonl");

    let run = bin()
        .arg("--config")
        .arg(&config)
        .args([
            "replay",
            input_path.to_str().unwrap(),
            "--until",
            "2026-01-20T00:00:00Z",
            "--now",
            "2026-01-02T00:00:00Z",
            "--dead-letter",
        ])
        .arg(&dead)
        .output()
        .expect("run churnwatch");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
        .collect();
    assert_eq!(records.len(), bad.len());
    for (record, (i, (line, reason))) in records.iter().zip(bad.iter().enumerate()) {
        assert_eq!(record["reason"], *reason, "{record}");
        assert_eq!(
            record["line"],
            (i + 3) as u64,
            "counted without the blank line: {record}"
        );
        assert_eq!(record["raw"], *line, "the original bytes");
        assert!(!record["detail"].as_str().unwrap_or("").is_empty());
    }

    let warnings = String::from_utf8(run.stdout).unwrap();
    let kinds: Vec<String> = warnings
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        kinds.contains(&"SEGMENT_DOWNGRADE".to_owned()),
        "the good order still drives m1: {kinds:?}"
    );
    let summary = String::from_utf8_lossy(&run.stderr);
    assert!(
        summary.contains(&format!("rejected: {}", bad.len())),
        "{summary}"
    );
    assert!(summary.contains("1 blank skipped"), "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_same_file_gives_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("churnwatch-replay-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let gen = bin()
        .args(["generate", "--members", "300", "--days", "60", "-o"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let replay = || {
        let out = bin()
            .args([
                "replay",
                events.to_str().unwrap(),
                "--until",
                "2026-04-01T00:00:00Z",
                "--state-out",
            ])
            .arg(dir.join("state.jsonl"))
            .output()
            .unwrap();
        assert!(out.status.success());
        (out.stdout, std::fs::read(dir.join("state.jsonl")).unwrap())
    };
    let (a, state_a) = replay();
    let (b, state_b) = replay();
    assert!(a.len() > 1000, "a real run");
    assert_eq!(a, b);
    assert_eq!(state_a, state_b);
    std::fs::remove_dir_all(&dir).ok();
}
