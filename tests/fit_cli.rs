//! `churnwatch fit` end to end on a generated workload: a parameter file per model, per
//! tier when asked, the same bytes from the same input, the calibration end respected,
//! and a clear refusal when there is nothing to fit.

use std::path::Path;
use std::process::Command;

use churnwatch::churn_model::ModelFile;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churnwatch"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("churnwatch-fit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn generate(dir: &Path) -> std::path::PathBuf {
    let events = dir.join("events.jsonl");
    let status = bin()
        .args([
            "generate",
            "--seed",
            "11",
            "--members",
            "3000",
            "--days",
            "120",
        ])
        .args(["--start", "2026-01-01T00:00:00Z", "--output"])
        .arg(&events)
        .status()
        .expect("generate runs");
    assert!(status.success());
    events
}

fn fit(events: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("fit")
        .arg(events)
        .args(["--calibration-end", "2026-03-31T00:00:00Z"])
        .args(["--now", "2026-06-01T00:00:00Z", "--output"])
        .arg(out)
        .args(extra)
        .output()
        .expect("fit runs")
}

#[test]
fn fits_the_population_and_each_tier_reproducibly() {
    let dir = scratch("tiers");
    let events = generate(&dir);
    let (one, two) = (dir.join("one.toml"), dir.join("two.toml"));
    let predictions = dir.join("predictions.jsonl");
    let run = fit(
        &events,
        &one,
        &[
            "--per-tier",
            "--min-tier-members",
            "100",
            "--predictions",
            predictions.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        fit(&events, &two, &["--per-tier", "--min-tier-members", "100"])
            .status
            .success()
    );
    let text = std::fs::read_to_string(&one).expect("parameter file");
    assert_eq!(
        text,
        std::fs::read_to_string(&two).unwrap(),
        "same input, same file"
    );

    let file = ModelFile::load(&one).expect("the file reads back");
    assert_eq!(file.model.as_str(), "mbg_nbd", "MBG/NBD is the default");
    assert!(
        file.version.starts_with("mbg_nbd-20260331-"),
        "{}",
        file.version
    );
    assert_eq!(file.calibration_end, "2026-03-31T00:00:00.000Z");
    // The window starts at the first purchase of any member fitted: in the workload's
    // first days.
    assert!(
        file.calibration_start.starts_with("2026-01-0"),
        "{}",
        file.calibration_start
    );
    assert_eq!(
        file.tiers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["199", "399"]
    );
    let tier_members: u64 = file.tiers.values().map(|f| f.members).sum();
    assert!(tier_members <= file.population.members && file.population.members > 1000);
    for fit in std::iter::once(&file.population).chain(file.tiers.values()) {
        assert!(
            fit.params_ms().valid() && fit.log_likelihood.is_finite(),
            "{fit:?}"
        );
    }

    // One line per fitted member, probabilities in [0, 1], none after the window.
    let lines = std::fs::read_to_string(&predictions).unwrap();
    let mut n = 0;
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let p = v["p_alive"].as_f64().expect("p_alive");
        assert!((0.0..=1.0).contains(&p), "{line}");
        assert!(v["expected_purchases"].as_f64().expect("expected") >= 0.0);
        assert!(v["t_x_days"].as_f64().unwrap() <= v["age_days"].as_f64().unwrap());
        assert!(v["age_days"].as_f64().unwrap() <= 90.0, "{line}");
        n += 1;
    }
    assert_eq!(n as u64, file.population.members);

    // Replayed with the file named: CHURN_RISK warnings, and every member warning of a
    // member who ordered names the version it was computed with.
    let replay = bin()
        .arg("replay")
        .arg(&events)
        .args(["--set", &format!("churn_risk.model_file={}", one.display())])
        .args([
            "--until",
            "2026-12-31T00:00:00Z",
            "--now",
            "2027-01-01T00:00:00Z",
        ])
        .output()
        .expect("replay runs");
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let (mut churn, mut members) = (0, 0);
    for line in String::from_utf8_lossy(&replay.stdout).lines() {
        let w: serde_json::Value = serde_json::from_str(line).expect("a warning");
        if w["member_id"].is_null() {
            continue;
        }
        members += 1;
        // A member without an order has no P(alive), and no figures of the model.
        if w["figures"]["lifetime_orders"] == 0 {
            assert!(w["figures"]["model_version"].is_null(), "{line}");
        } else {
            assert_eq!(
                w["figures"]["model_version"],
                file.version.as_str(),
                "{line}"
            );
            assert!(w["figures"]["p_alive"].is_number(), "{line}");
        }
        if w["kind"] == "CHURN_RISK" {
            churn += 1;
            assert!(
                w["figures"]["p_alive"].as_f64().unwrap()
                    < w["figures"]["threshold"].as_f64().unwrap()
            );
        }
    }
    assert!(
        churn > 100 && members > churn,
        "{churn} CHURN_RISK of {members} member warnings"
    );
}

#[test]
fn bg_nbd_on_request_and_a_clear_error_when_nothing_was_bought() {
    let dir = scratch("empty");
    let events = dir.join("logins.jsonl");
    std::fs::write(
        &events,
        r#"{"event_id":"e1","member_id":"m1","ts":"2026-01-02T10:00:00Z","type":"login"}
"#,
    )
    .unwrap();
    let run = fit(&events, &dir.join("out.toml"), &["--model", "bg-nbd"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no member has a purchase"), "{stderr}");

    let run = fit(&events, &dir.join("out.toml"), &["--model", "pareto"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("bg-nbd or mbg-nbd"));
}
