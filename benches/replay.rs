//! Replay throughput from a JSON-lines file (SPEC §9: ≥ 1 M events/s on one core), the
//! whole path: read, decode, engine, warnings encoded as JSON (to a sink).
//!
//! `cargo bench --bench replay [-- MEMBERS [RUNS]]`: generates the input with the
//! seeded generator into `target/bench-data/` on first use (1 000 000 members by
//! default, > 10 M events), then replays it RUNS times (default 3) and prints each run
//! and the median.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use churnwatch::cli::replay::{replay, ReplayOptions};
use churnwatch::config::Config;
use churnwatch::generate::{write_jsonl, GenerateOptions};
use churnwatch::model::EventTime;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let members: u32 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("workload-{members}.jsonl"));
    if !path.exists() {
        let started = Instant::now();
        let tmp = path.with_extension("jsonl.tmp");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let stats = write_jsonl(
            &GenerateOptions {
                members,
                ..GenerateOptions::default()
            },
            &mut out,
        )?;
        out.flush()?;
        std::fs::rename(&tmp, &path)?;
        eprintln!(
            "generated {} in {:.1} s: {stats:?}",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&path)?.len();
    let config = Config::default();
    let options = ReplayOptions {
        until: None,
        wall: EventTime::from_millis(i64::MAX / 2),
        ignore_after: None,
        threads: 1,
    };
    let mut rates = Vec::new();
    for run in 1..=runs {
        let input = BufReader::with_capacity(1 << 20, File::open(&path)?);
        let mut sink = io::sink();
        let started = Instant::now();
        let (engine, counts) = replay(&config, input, &mut sink, None, &options)?;
        let secs = started.elapsed().as_secs_f64();
        let warnings = engine.stats().total_warnings();
        let rate = counts.lines as f64 / secs;
        println!(
            "run {run}: {} events ({:.0} MB), {} members, {warnings} warnings in {secs:.2} s = {:.2} M events/s",
            counts.lines,
            size as f64 / 1e6,
            engine.members().count(),
            rate / 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "replay median: {:.2} M events/s over {runs} runs",
        rates[rates.len() / 2] / 1e6
    );
    Ok(())
}
