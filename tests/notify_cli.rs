//! `churnwatch notify --dry-run` end to end: the golden scenario's warnings, as `replay`
//! writes them, through a tutor directory. Every `notify: true` warning reaches its
//! tutor's channel exactly once (at once, after quiet hours, merged, or, below the
//! immediate severity, in a digest), a capped one never; an input file without
//! `--dry-run` is refused (the notifier proper reads the warnings topic).

use std::collections::BTreeMap;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churnwatch"))
}

const DIRECTORY: &str = r#"
page_url = "http://127.0.0.1:9180/tutors"
fallback = "lead"
[channels.lead]
kind = "slack"
url_env = "SLACK_URL_LEAD"
[channels.robot]
kind = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
secret_env = "WECOM_KEY"
[tutors.T1]
name = "Tutor One"
channels = ["robot"]
[tutors.T2]
name = "Tutor Two"
time_zone = "Europe/Berlin"
channels = ["robot"]
"#;

#[test]
fn every_warning_for_a_tutor_reaches_her_once_and_a_capped_one_never() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("churnwatch-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replay = bin()
        .current_dir(root)
        .args([
            "--config",
            "tests/golden/config.toml",
            "replay",
            "tests/golden/scenario.jsonl",
            "--until",
            "2026-05-01T00:00:00Z",
            "--now",
            "2026-11-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(replay.status.success());
    let warnings = dir.join("warnings.jsonl");
    std::fs::write(&warnings, &replay.stdout).unwrap();
    let directory = dir.join("tutors.toml");
    std::fs::write(&directory, DIRECTORY).unwrap();

    let run = bin()
        .args(["notify", "--directory"])
        .arg(&directory)
        .arg("--input")
        .arg(&warnings)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed = String::from_utf8(run.stdout).unwrap();

    // Each warning id, by how many messages name it.
    let mut expected: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for line in String::from_utf8(replay.stdout).unwrap().lines() {
        let w: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = w["warning_id"].as_str().unwrap().to_owned();
        let member = w["member_id"].as_str().unwrap_or("").to_owned();
        expected.insert(id, (w["notify"].as_bool().unwrap(), member));
    }
    assert!(
        expected.values().any(|(n, _)| !n),
        "the scenario has capped warnings"
    );
    // Messages name members and groups, not warning ids: count per-alert blocks.
    let blocks: Vec<&str> = printed
        .split("\n\n")
        .filter(|b| {
            ["CRITICAL", "WARNING", "NOTICE"].iter().any(|s| {
                b.starts_with(&format!("**{s}** · ")) || b.starts_with(&format!("*{s}* · "))
            })
        })
        .collect();
    let for_tutors = expected.values().filter(|(n, _)| *n).count();
    assert_eq!(
        blocks.len(),
        for_tutors,
        "one block per notify:true warning\n{printed}"
    );
    let summary = String::from_utf8_lossy(&run.stderr);
    let capped = expected.values().filter(|(n, _)| !n).count();
    assert!(
        summary.contains(&format!("{capped} not for tutors (contact cap)")),
        "{summary}"
    );
    assert!(summary.contains("0 repeated"), "{summary}");
    for header in printed.lines().filter(|l| l.starts_with("──")) {
        assert!(
            header.contains("channel robot"),
            "every tutor of the scenario is in the directory: {header}"
        );
    }
    assert!(
        printed.contains("CST"),
        "tutor T1's messages on Shanghai time"
    );
    assert!(
        printed.contains("CET") || printed.contains("CEST"),
        "tutor T2's on Berlin time"
    );
}

#[test]
fn an_input_file_without_a_dry_run_is_refused() {
    let dir = std::env::temp_dir().join(format!("churnwatch-notify-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let directory = dir.join("tutors.toml");
    std::fs::write(&directory, DIRECTORY).unwrap();
    let run = bin()
        .args(["notify", "--input", "-", "--directory"])
        .arg(&directory)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("--input is for a dry run"), "{err}");
}
