//! Independent golden test: `tests/golden/scenario.jsonl` replayed through the binary must
//! give exactly the warnings in `tests/golden/expected.jsonl`, which were derived by hand
//! from SPEC.md (one line of arithmetic per warning in `tests/golden/DERIVATION.md`), not
//! copied from the engine's output. If this test fails, re-derive by hand before touching
//! expected.jsonl.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Map, Value};

const CONFIG: &str = "tests/golden/config.toml";
const SCENARIO: &str = "tests/golden/scenario.jsonl";
const EXPECTED: &str = "tests/golden/expected.jsonl";

/// SPEC §7: the exact top-level names of a warning in JSON form.
const TOP_LEVEL: [&str; 13] = [
    "warning_id",
    "kind",
    "severity",
    "member_id",
    "group_id",
    "tutor_id",
    "from",
    "to",
    "event_time",
    "emitted_at",
    "figures",
    "action",
    "notify",
];
/// Of those, the ones that may be null.
const NULLABLE: [&str; 4] = ["member_id", "group_id", "tutor_id", "from"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_replay() -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_churnwatch"))
        .current_dir(root())
        .args([
            "--config",
            CONFIG,
            "replay",
            SCENARIO,
            "--until",
            "2026-05-01T00:00:00Z",
            "--now",
            "2026-11-01T00:00:00Z",
        ])
        .output()
        .expect("running churnwatch");
    assert!(
        out.status.success(),
        "churnwatch replay failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn parse_lines(text: &str, what: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(m)) => m,
            other => panic!("{what} line {}: not a JSON object ({other:?}): {l}", i + 1),
        })
        .collect()
}

/// The fields the golden file pins down: kind, severity, member_id (member warnings) or
/// group_id (group warnings), from, to, event_time, notify.
fn project(w: &Map<String, Value>) -> Value {
    let mut p = Map::new();
    for key in ["kind", "severity"] {
        p.insert(key.into(), w.get(key).cloned().unwrap_or(Value::Null));
    }
    // A member warning may also name the member's group; the projection keeps only the
    // subject: member_id for member warnings, group_id for group warnings.
    match (w.get("member_id"), w.get("group_id")) {
        (Some(m), _) if !m.is_null() => {
            p.insert("member_id".into(), m.clone());
        }
        (_, Some(g)) if !g.is_null() => {
            p.insert("group_id".into(), g.clone());
        }
        _ => {}
    }
    for key in ["from", "to", "event_time", "notify"] {
        p.insert(key.into(), w.get(key).cloned().unwrap_or(Value::Null));
    }
    Value::Object(p)
}

fn show(v: &Value) -> String {
    let o = v.as_object().unwrap();
    let s = |k: &str| match o.get(k) {
        None => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let who = match (o.get("member_id"), o.get("group_id")) {
        (Some(m), _) => format!("member {}", m.as_str().unwrap_or("?")),
        (_, Some(g)) => format!("group {}", g.as_str().unwrap_or("?")),
        _ => "?".into(),
    };
    format!(
        "{} {:<26} {:<8} {:<10} {} -> {} notify={}",
        s("event_time"),
        s("kind"),
        s("severity"),
        who,
        s("from"),
        s("to"),
        s("notify")
    )
}

/// A readable diff of two lists (longest common subsequence).
fn diff(expected: &[Value], actual: &[Value]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out += &format!("    {}\n", show(&expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out += &format!("  + {}   (engine only)\n", show(&actual[j]));
            j += 1;
        } else {
            out += &format!("  - {}   (expected only)\n", show(&expected[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn golden_scenario_matches_hand_derivation() {
    let stdout = run_replay();
    let text = String::from_utf8(stdout).expect("stdout is UTF-8");
    let warnings = parse_lines(&text, "engine output");

    // Every line has exactly the SPEC §7 top-level keys; only the nullable ones may be null.
    let want: BTreeSet<&str> = TOP_LEVEL.into_iter().collect();
    for (i, w) in warnings.iter().enumerate() {
        let got: BTreeSet<&str> = w.keys().map(String::as_str).collect();
        assert_eq!(
            got,
            want,
            "output line {}: top-level keys differ from SPEC §7",
            i + 1
        );
        for (k, v) in w {
            if v.is_null() {
                assert!(
                    NULLABLE.contains(&k.as_str()),
                    "output line {}: `{k}` is null",
                    i + 1
                );
            }
        }
        assert!(
            w["figures"].is_object(),
            "output line {}: figures is not an object",
            i + 1
        );
    }

    let actual: Vec<Value> = warnings.iter().map(project).collect();
    let expected_text =
        std::fs::read_to_string(root().join(EXPECTED)).expect("reading expected.jsonl");
    let expected: Vec<Value> = parse_lines(&expected_text, "expected.jsonl")
        .into_iter()
        .map(Value::Object)
        .collect();
    if actual != expected {
        panic!(
            "engine output differs from the hand-derived golden file \
             ({} expected, {} emitted; '-' expected only, '+' engine only):\n{}",
            expected.len(),
            actual.len(),
            diff(&expected, &actual)
        );
    }
}

/// Hand-derived group figures (DERIVATION.md, "Group figures"), for the three group warnings.
#[test]
fn golden_scenario_group_figures() {
    let stdout = run_replay();
    let text = String::from_utf8(stdout).expect("stdout is UTF-8");
    let warnings = parse_lines(&text, "engine output");
    let find = |kind: &str| {
        warnings
            .iter()
            .find(|w| w["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in the output"))
    };
    let num = |w: &Map<String, Value>, k: &str| w["figures"][k].as_f64().unwrap_or(f64::NAN);

    // G1 falls at Feb 1 14:00: 5 counted, 1 active (C), benchmark 40 -> needs 1 more (2/5 = 40 %).
    let below = find("GROUP_BELOW_BENCHMARK");
    assert_eq!(
        (num(below, "members"), num(below, "active")),
        (5.0, 1.0),
        "{below:?}"
    );
    assert!((num(below, "benchmark") - 40.0).abs() < 1e-9, "{below:?}");
    let needed_ok = match below["figures"].get("members_needed") {
        Some(v) => v.as_u64() == Some(1),
        None => below["action"]
            .as_str()
            .is_some_and(|a| a.contains("needs 1 more")),
    };
    assert!(
        needed_ok,
        "G1 needs exactly 1 more active member: {below:?}"
    );

    // G1 recovers when E leaves: 4 counted, 2 active (B 110.00 + C 1750.00 -> 930.00 each).
    let rec = find("GROUP_RECOVERED");
    assert_eq!(
        (num(rec, "members"), num(rec, "active")),
        (4.0, 2.0),
        "{rec:?}"
    );
    assert_eq!(rec["figures"]["output_per_active"], "930.00", "{rec:?}");

    // G2 graded at N1's tenure day 30: 3 counted, 3 active, benchmark (36+36+57)/3 = 43,
    // output 990.00 / 3 = 330.00.
    let out = find("GROUP_OUTPUT_BELOW_TARGET");
    assert_eq!(
        (num(out, "members"), num(out, "active")),
        (3.0, 3.0),
        "{out:?}"
    );
    assert!((num(out, "benchmark") - 43.0).abs() < 1e-9, "{out:?}");
    assert_eq!(out["figures"]["output_per_active"], "330.00", "{out:?}");
    assert_eq!(out["figures"]["output_target"], "450.00", "{out:?}");
}

#[test]
fn golden_scenario_replay_is_deterministic() {
    let first = run_replay();
    let second = run_replay();
    assert!(!first.is_empty(), "replay produced no output");
    assert!(
        first == second,
        "two replays of the same file differ byte for byte"
    );
}
