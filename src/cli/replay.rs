//! `churnwatch replay`: JSON lines in, warnings as JSON lines out, with no broker. Event
//! time alone moves the watermark, so the same file always gives the same bytes.

use std::io::{self, BufRead, Write};

use serde::Serialize;

use super::summary::InputCounts;
use crate::config::Config;
use crate::decode::JsonDecoder;
use crate::engine::{Engine, TimeMode, Warning};
use crate::model::EventTime;
use crate::output;
use crate::reject::Rejection;

const BURST_CAPACITY: usize = 4096;
const BATCH: usize = 64;

pub struct ReplayOptions {
    /// After the last event, move the watermark here so every time-driven change up to
    /// then fires.
    pub until: Option<EventTime>,
    /// The wall clock for the future-timestamp check: the only outside reading.
    pub wall: EventTime,
}

/// A refused line, as written to `--dead-letter`.
#[derive(Serialize)]
struct DeadLetter<'a> {
    line: u64,
    reason: &'static str,
    detail: &'a str,
    raw: &'a str,
}

/// Replays `input` through a fresh engine; returns it for the summary and `--state-out`.
pub fn replay(
    config: &Config,
    input: impl BufRead,
    warnings: &mut impl Write,
    mut dead_letters: Option<&mut dyn Write>,
    options: &ReplayOptions,
) -> io::Result<(Engine, InputCounts)> {
    let mut engine = Engine::new(config, TimeMode::Replay);
    let decoder = JsonDecoder::new(config.input.max_message_bytes);
    let mut counts = InputCounts::default();
    let mut out: Vec<Warning> = Vec::new();
    let mut reader = input;
    // Lines are handed to the engine in batches, as a consumer poll would: the engine
    // warms the batch's state before applying it event by event (same result).
    let mut raw: Vec<u8> = Vec::with_capacity(BATCH * 256);
    let mut lines: Vec<(usize, usize, u64)> = Vec::with_capacity(BATCH);
    let mut events = Vec::with_capacity(BATCH);
    let mut event_lines = Vec::with_capacity(BATCH);
    let mut refused: Vec<(usize, Rejection)> = Vec::new();
    loop {
        raw.clear();
        lines.clear();
        while lines.len() < BATCH {
            let start = raw.len();
            if reader.read_until(b'\n', &mut raw)? == 0 {
                break;
            }
            let mut end = raw.len();
            while end > start && matches!(raw[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            if raw[start..end].iter().all(u8::is_ascii_whitespace) {
                counts.blank_lines += 1;
                continue;
            }
            counts.lines += 1;
            lines.push((start, end, counts.lines));
        }
        if lines.is_empty() {
            break;
        }
        events.clear();
        event_lines.clear();
        refused.clear();
        for (i, &(start, end, _)) in lines.iter().enumerate() {
            match decoder.decode(&raw[start..end]) {
                Ok(event) => {
                    events.push(event);
                    event_lines.push(i);
                }
                Err(rejection) => {
                    *counts
                        .decode_rejections
                        .entry(rejection.reason)
                        .or_default() += 1;
                    refused.push((i, rejection));
                }
            }
        }
        let results = engine.process_batch(0, &events, options.wall, &mut out);
        for (result, &i) in results.into_iter().zip(&event_lines) {
            if let Err(rejection) = result {
                refused.push((i, rejection));
            }
        }
        if let Some(dl) = dead_letters.as_deref_mut() {
            refused.sort_by_key(|(i, _)| *i);
            for (i, rejection) in &refused {
                let (start, end, line_no) = lines[*i];
                write_dead_letter(dl, line_no, rejection, &raw[start..end])?;
            }
        }
        for w in out.drain(..) {
            output::write_json_line(warnings, &w)?;
        }
        // A watermark jump can fire every member's timer in one call; do not keep that
        // burst's capacity for the rest of the run.
        if out.capacity() > BURST_CAPACITY {
            out.shrink_to(BURST_CAPACITY);
        }
    }
    if let Some(until) = options.until {
        engine.advance_to(until, &mut out);
        for w in out.drain(..) {
            output::write_json_line(warnings, &w)?;
        }
    }
    warnings.flush()?;
    Ok((engine, counts))
}

fn write_dead_letter(
    out: &mut dyn Write,
    line_no: u64,
    rejection: &Rejection,
    raw: &[u8],
) -> io::Result<()> {
    let raw = String::from_utf8_lossy(raw);
    let record = DeadLetter {
        line: line_no,
        reason: rejection.reason.code(),
        detail: &rejection.detail,
        raw: &raw,
    };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}
