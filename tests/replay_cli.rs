//! `churnwatch replay` end to end: bad lines are dead-lettered with their reason and raw
//! bytes while the good lines around them are processed; output is reproducible.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churnwatch"))
}

const GOOD_PROFILE: &str = r#"{"event_id":"e1","member_id":"m1","ts":"2026-01-01T10:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"399","joined_at":"2025-01-01T00:00:00Z"}"#;
const GOOD_ORDER: &str = r#"{"event_id":"e2","member_id":"m1","ts":"2026-01-01T11:00:00Z","type":"order","order_id":"o1","amount":"1200.00","category":"skincare"}"#;

/// (line, reason) for every refusal a file can carry; the message-size limit is set to
/// 400 bytes by the config below.
fn bad_lines() -> Vec<(String, &'static str)> {
    let big = format!(
        r#"{{"event_id":"e9","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"login","channel":"{}"}}"#,
        "x".repeat(500)
    );
    vec![
        ("this is not json".to_owned(), "undecodable"),
        (r#"{"event_id":"e3","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"refund"}"#.to_owned(), "unknown_type"),
        (r#"{"event_id":"e4","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o2","category":"home"}"#.to_owned(), "missing_field"),
        (r#"{"event_id":"e5","member_id":"m1","ts":"yesterday","type":"login"}"#.to_owned(), "invalid_field"),
        (r#"{"event_id":"e6","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o3","amount":"12.345","category":"home"}"#.to_owned(), "malformed_amount"),
        (r#"{"event_id":"e7","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o4","amount":-5,"category":"home"}"#.to_owned(), "negative_amount"),
        (big, "message_too_large"),
        (r#"{"event_id":"e8","member_id":"m1","ts":"2030-01-01T00:00:00Z","type":"login"}"#.to_owned(), "future_timestamp"),
        (r#"{"event_id":"e10","member_id":"m2","ts":"2025-06-01T00:00:00Z","type":"login"}"#.to_owned(), "beyond_retention_horizon"),
        (r#"{"event_id":"e11","member_id":"m3","ts":"2026-01-01T12:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"999","joined_at":"2025-01-01T00:00:00Z"}"#.to_owned(), "unknown_fee_tier"),
    ]
}

#[test]
fn every_bad_line_is_dead_lettered_with_its_reason_while_good_lines_are_processed() {
    let dir = std::env::temp_dir().join(format!("churnwatch-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, "[input]\nmax_message_bytes = 400\n").unwrap();
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
    assert!(summary.contains("rejected: 10"), "{summary}");
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
