//! The generator is realistic enough to exercise the whole engine: replaying the default
//! workload through the real engine produces every warning kind (`CHURN_RISK` too when
//! the churn model is on, and only then), rejects nothing, and recognises the generator's
//! deliberate duplicates.

use std::collections::BTreeSet;

use churnwatch::cli::replay::{replay, ReplayOptions};
use churnwatch::config::Config;
use churnwatch::engine::WarningKind;
use churnwatch::generate::{write_jsonl, GenerateOptions};
use churnwatch::model::EventTime;

/// The default configuration with the CDNOW sample's MBG/NBD fit named.
fn with_churn_model() -> Config {
    Config {
        churn_model: Some(std::sync::Arc::new(
            churnwatch::churn_model::ModelFile::cdnow_mbg_nbd(),
        )),
        ..Config::default()
    }
}

#[test]
fn replaying_the_default_workload_produces_every_warning_kind() {
    let all: BTreeSet<WarningKind> = WarningKind::ALL.into_iter().collect();
    let without_model: BTreeSet<WarningKind> = all
        .iter()
        .copied()
        .filter(|k| *k != WarningKind::ChurnRisk)
        .collect();
    replay_default_workload(&Config::default(), &without_model);
    replay_default_workload(&with_churn_model(), &all);
}

fn replay_default_workload(config: &Config, kinds: &BTreeSet<WarningKind>) {
    let options = GenerateOptions::default();
    let mut input = Vec::new();
    let stats = write_jsonl(&options, &mut input).expect("generate into memory");
    let mut warnings = Vec::new();
    let replay_options = ReplayOptions {
        until: None,
        wall: EventTime::from_millis(i64::MAX / 2),
        ignore_after: None,
        threads: 1,
    };
    let (engine, counts) = replay(
        config,
        input.as_slice(),
        &mut warnings,
        None,
        &replay_options,
    )
    .expect("replay");

    assert_eq!(counts.lines, stats.lines);
    assert!(
        counts.decode_rejections.is_empty(),
        "{:?}",
        counts.decode_rejections
    );
    assert!(
        engine.stats().total_rejections() == 0,
        "{:?}",
        engine.stats().rejections().collect::<Vec<_>>()
    );
    assert!(
        engine.stats().unchanged >= stats.redelivered + stats.duplicate_orders,
        "every redelivery and duplicate order changes nothing"
    );
    let seen: BTreeSet<WarningKind> = engine.stats().warnings().map(|(k, _)| k).collect();
    assert_eq!(
        &seen,
        kinds,
        "missing: {:?}",
        kinds.difference(&seen).collect::<Vec<_>>()
    );
    let lines = warnings
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    assert_eq!(lines, engine.stats().total_warnings());
}
