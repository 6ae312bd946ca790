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
    let mut buf = Vec::with_capacity(512);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let mut line = buf.as_slice();
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            counts.blank_lines += 1;
            continue;
        }
        counts.lines += 1;
        let result = decoder
            .decode(line)
            .inspect_err(|rejection| {
                *counts
                    .decode_rejections
                    .entry(rejection.reason)
                    .or_default() += 1;
            })
            .and_then(|event| engine.process(0, &event, options.wall, &mut out));
        if let Err(rejection) = result {
            if let Some(dl) = dead_letters.as_deref_mut() {
                write_dead_letter(dl, counts.lines, &rejection, line)?;
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
