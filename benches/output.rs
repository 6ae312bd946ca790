//! Warning encoding throughput: the JSON-lines writer alone (SPEC §7), on every warning of
//! a replay of the generator's default workload.
//!
//! `cargo bench --bench output [-- PASSES]`: collects the warnings once, then writes all
//! of them PASSES times (default 50) into `io::sink()` and into a reused in-memory buffer,
//! and prints warnings/s and bytes/s for each.

use std::hint::black_box;
use std::io::{self, Write};
use std::time::Instant;

use churnwatch::config::Config;
use churnwatch::decode::JsonDecoder;
use churnwatch::engine::{Engine, TimeMode, Warning};
use churnwatch::generate::{write_jsonl, GenerateOptions};
use churnwatch::model::EventTime;
use churnwatch::output::write_json_line;

fn default_workload_warnings() -> Vec<Warning> {
    let mut input = Vec::new();
    write_jsonl(&GenerateOptions::default(), &mut input).expect("generate into memory");
    let config = Config::default();
    let decoder = JsonDecoder::new(config.input.max_message_bytes);
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let wall = EventTime::from_millis(i64::MAX / 2);
    let mut warnings = Vec::new();
    for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(event) = decoder.decode(line) {
            let _ = engine.process(0, &event, wall, &mut warnings);
        }
    }
    warnings
}

fn run(name: &str, warnings: &[Warning], passes: usize, out: &mut impl Write) -> io::Result<()> {
    // One untimed pass to warm caches and any scratch buffers.
    for w in warnings {
        write_json_line(out, w)?;
    }
    let started = Instant::now();
    for _ in 0..passes {
        for w in warnings {
            write_json_line(out, black_box(w))?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = (warnings.len() * passes) as f64;
    println!(
        "{name}: {} warnings × {passes} in {secs:.3} s = {:.2} M warnings/s ({:.0} ns/warning)",
        warnings.len(),
        n / secs / 1e6,
        secs * 1e9 / n
    );
    Ok(())
}

/// A `Write` into a reused buffer, cleared whenever it passes 1 MiB, like a `BufWriter`
/// in front of a fast sink.
struct Buffer(Vec<u8>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.0.len() > 1 << 20 {
            black_box(&self.0);
            self.0.clear();
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let passes: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let warnings = default_workload_warnings();
    let mut bytes = Vec::new();
    for w in &warnings {
        write_json_line(&mut bytes, w)?;
    }
    println!(
        "{} warnings, {:.0} bytes each on average",
        warnings.len(),
        bytes.len() as f64 / warnings.len() as f64
    );
    run("sink  ", &warnings, passes, &mut io::sink())?;
    run(
        "buffer",
        &warnings,
        passes,
        &mut Buffer(Vec::with_capacity(2 << 20)),
    )?;
    Ok(())
}
