//! Engine throughput on pre-decoded events (SPEC §9: ≥ 3 M events/s on one core).
//!
//! `cargo bench --bench engine`. The input is the generator's default workload scaled
//! to `CHURNWATCH_BENCH_MEMBERS` members (default 100 000), decoded once up front, so
//! only `Engine::process` (and the timers it fires) is timed.
//!
//! Twice: with the churn model off (the default configuration) and on (MBG/NBD at the
//! CDNOW fit, thresholds 0.5 and 0.2). `CHURNWATCH_BENCH_CHURN=off` or `=on` runs one of
//! them, so that the two can be run alternately from a script.

use std::sync::Arc;
use std::time::Duration;

use churnwatch::churn_model::ModelFile;
use churnwatch::config::Config;
use churnwatch::engine::{Engine, TimeMode};
use churnwatch::model::{Event, EventTime};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "support/workload.rs"]
mod workload;

fn events() -> Vec<Event> {
    workload::decoded_events(workload::members())
}

/// The default configuration with the CDNOW sample's MBG/NBD fit named.
fn with_churn_model() -> Config {
    Config {
        churn_model: Some(Arc::new(ModelFile::cdnow_mbg_nbd())),
        ..Config::default()
    }
}

fn engine_throughput(c: &mut Criterion) {
    let events = events();
    let which = std::env::var("CHURNWATCH_BENCH_CHURN").unwrap_or_default();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(1));
    for (name, config) in [("off", Config::default()), ("on", with_churn_model())] {
        if !which.is_empty() && which != name {
            continue;
        }
        bench(&mut group, &events, &config, name);
    }
    group.finish();
}

fn bench(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    events: &[Event],
    config: &Config,
    churn: &str,
) {
    let wall = EventTime::from_millis(i64::MAX / 2);
    group.bench_function(
        format!(
            "process {} pre-decoded events, churn model {churn}",
            events.len()
        ),
        |b| {
            b.iter_batched(
                || {
                    (
                        Engine::new(&config.engine(), TimeMode::Replay),
                        Vec::with_capacity(1024),
                    )
                },
                |(mut engine, mut out)| {
                    // Batches as a consumer poll hands them over.
                    for batch in events.chunks(64) {
                        let _ = engine.process_batch(0, batch, wall, &mut out);
                        out.clear();
                    }
                    engine
                },
                BatchSize::PerIteration,
            )
        },
    );
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
