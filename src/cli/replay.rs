//! `churnwatch replay`: JSON lines in, warnings as JSON lines out, with no broker. Event
//! time alone moves the watermark, so the same file always gives the same bytes.

use std::io::{self, BufRead, Write};

use serde::Serialize;

use super::summary::InputCounts;
use crate::config::Config;
use crate::decode::JsonDecoder;
use crate::engine::{Engine, Partitioned, TimeMode, Warning};
use crate::model::{Event, EventTime};
use crate::output;
use crate::partitioner::Partitioner;
use crate::reject::Rejection;

const BURST_CAPACITY: usize = 4096;
const BATCH: usize = 64;

pub struct ReplayOptions {
    /// After the last event, move the watermark here so every time-driven change up to
    /// then fires.
    pub until: Option<EventTime>,
    /// The wall clock for the future-timestamp check: the only outside reading.
    pub wall: EventTime,
    /// Events after this instant are read but not applied (counted in
    /// [`InputCounts::after_end`]): `churnwatch fit`'s calibration window.
    pub ignore_after: Option<EventTime>,
    /// With `--partitions`, threads to run the member stages on (at least one; the output
    /// is the same for any number).
    pub threads: usize,
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
    dead_letters: Option<&mut dyn Write>,
    options: &ReplayOptions,
) -> io::Result<(Engine, InputCounts)> {
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let counts = replay_lines(config, &mut engine, input, warnings, dead_letters, options)?;
    Ok((engine, counts))
}

/// [`replay`] through the two stages of a scaled-out deployment: each member's events on
/// the partition `input.partitioner` gives her id among `partitions`, one member-stage
/// engine per partition, one group stage. With one partition the output is [`replay`]'s.
pub fn replay_partitioned(
    config: &Config,
    partitions: u32,
    input: impl BufRead,
    warnings: &mut impl Write,
    dead_letters: Option<&mut dyn Write>,
    options: &ReplayOptions,
) -> io::Result<(Partitioned, InputCounts)> {
    let partitions = partitions.max(1);
    let mut target = Placed {
        two: Partitioned::new(&config.engine(), TimeMode::Replay, partitions),
        partitioner: config.input.partitioner,
        placed: vec![Vec::new(); partitions as usize],
        outputs: vec![Vec::new(); partitions as usize],
        threads: options.threads.clamp(1, partitions as usize),
    };
    let counts = replay_lines(config, &mut target, input, warnings, dead_letters, options)?;
    Ok((target.two, counts))
}

/// What a replay feeds: a single engine, or the two stages.
trait Target {
    /// Applies a batch; returns the events refused, by index.
    fn process(
        &mut self,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(usize, Rejection)>;

    /// The file is the whole input: nothing more can come at or before the watermark (or
    /// `until`), so the changes due then fire too.
    fn finish(&mut self, until: Option<EventTime>, out: &mut Vec<Warning>);

    /// Lines per batch: a consumer poll's worth for one engine (the engine warms a batch's
    /// state before applying it).
    fn batch_lines(&self) -> usize {
        BATCH
    }
}

impl Target for Engine {
    fn process(
        &mut self,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(usize, Rejection)> {
        self.process_batch(0, events, wall, out)
    }

    fn finish(&mut self, until: Option<EventTime>, out: &mut Vec<Warning>) {
        let end = until.unwrap_or(self.watermark());
        self.advance_to(end, out);
    }
}

/// The two stages, with each batch split by partition (keeping each partition's order),
/// the member stages run on `threads` threads (partition p on thread p mod threads), their
/// outputs handed to the group stage in partition order: the same bytes for any number
/// of threads.
struct Placed {
    two: Partitioned,
    partitioner: Partitioner,
    /// This batch's events of each partition, with their index in the batch.
    placed: Vec<Vec<(usize, Event)>>,
    /// Each partition's member warnings of this batch.
    outputs: Vec<Vec<Warning>>,
    threads: usize,
}

/// One partition's part of a batch: its engine, its events, what they give.
struct Share<'a> {
    partition: u32,
    engine: &'a mut Engine,
    placed: &'a mut Vec<(usize, Event)>,
    output: &'a mut Vec<Warning>,
    refused: &'a mut Vec<(usize, Rejection)>,
}

/// Runs each share's events through its engine (on whichever thread calls it).
fn run_shares(shares: &mut [Share<'_>], wall: EventTime) {
    let (mut batch, mut index) = (Vec::new(), Vec::new());
    for share in shares {
        if share.placed.is_empty() {
            continue;
        }
        batch.clear();
        index.clear();
        for (i, event) in share.placed.drain(..) {
            index.push(i);
            batch.push(event);
        }
        for (j, rejection) in
            share
                .engine
                .process_batch(share.partition, &batch, wall, share.output)
        {
            share.refused.push((index[j], rejection));
        }
    }
}

/// Lines per batch of a partitioned replay, whatever the threads: large enough that a
/// thread's share is worth its start, and the same for every thread count, so that the
/// output is too.
const PARTITIONED_BATCH: usize = 4096;

impl Target for Placed {
    fn process(
        &mut self,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(usize, Rejection)> {
        let partitions = self.two.partitions();
        for (i, event) in events.iter().enumerate() {
            // The decoder refuses an empty member id, so every event has a place.
            let p = self
                .partitioner
                .partition(event.member_id.as_str().as_bytes(), partitions)
                .unwrap_or(0);
            self.placed[p as usize].push((i, event.clone()));
        }
        let threads = self.threads;
        let mut refused: Vec<Vec<(usize, Rejection)>> = vec![Vec::new(); partitions as usize];
        let mut work: Vec<Share<'_>> = self
            .two
            .engines_mut()
            .iter_mut()
            .zip(self.placed.iter_mut())
            .zip(self.outputs.iter_mut())
            .zip(refused.iter_mut())
            .enumerate()
            .map(|(p, (((engine, placed), output), refused))| Share {
                partition: p as u32,
                engine,
                placed,
                output,
                refused,
            })
            .collect();
        if threads == 1 {
            run_shares(&mut work, wall);
        } else {
            let mut shares: Vec<Vec<Share<'_>>> = (0..threads).map(|_| Vec::new()).collect();
            for (k, share) in work.into_iter().enumerate() {
                shares[k % threads].push(share);
            }
            std::thread::scope(|scope| {
                for share in &mut shares {
                    scope.spawn(move || run_shares(share, wall));
                }
            });
        }
        for p in 0..partitions {
            self.two
                .forward_output(p, &mut self.outputs[p as usize], out);
        }
        refused.into_iter().flatten().collect()
    }

    fn finish(&mut self, until: Option<EventTime>, out: &mut Vec<Warning>) {
        let end = until.unwrap_or(self.two.max_watermark());
        self.two.advance_to(end, out);
        self.two.finish(out);
    }

    fn batch_lines(&self) -> usize {
        PARTITIONED_BATCH
    }
}

/// The line loop of both replays: decodes `input` in batches, hands each batch's events to
/// `target` and, at the end, finishes it;
/// writes warnings and dead letters as they come.
fn replay_lines(
    config: &Config,
    target: &mut impl Target,
    input: impl BufRead,
    warnings: &mut impl Write,
    mut dead_letters: Option<&mut dyn Write>,
    options: &ReplayOptions,
) -> io::Result<InputCounts> {
    let decoder = JsonDecoder::new(config.input.max_message_bytes);
    let mut counts = InputCounts::default();
    let mut out: Vec<Warning> = Vec::new();
    let mut reader = LineReader::new(input);
    // Lines are handed to the engine in batches, as a consumer poll would: the engine
    // warms the batch's state before applying it event by event (same result, however
    // the input is split).
    let batch = target.batch_lines();
    let mut lines: Vec<(usize, usize, u64)> = Vec::with_capacity(batch);
    let mut events = Vec::with_capacity(batch);
    let mut event_lines = Vec::with_capacity(batch);
    let mut refused: Vec<(usize, Rejection)> = Vec::new();
    loop {
        lines.clear();
        reader.refill()?;
        while lines.len() < batch {
            // A batch ends early where the buffered input does: its lines must stay in
            // place until the engine is done with them.
            let Some((start, end)) = reader.next_line() else {
                break;
            };
            if reader.bytes()[start..end]
                .iter()
                .all(u8::is_ascii_whitespace)
            {
                counts.blank_lines += 1;
                continue;
            }
            counts.lines += 1;
            lines.push((start, end, counts.lines));
        }
        if lines.is_empty() {
            if reader.is_done() {
                break;
            }
            continue;
        }
        let raw = reader.bytes();
        events.clear();
        event_lines.clear();
        refused.clear();
        for (i, &(start, end, _)) in lines.iter().enumerate() {
            match decoder.decode(&raw[start..end]) {
                Ok(event) if options.ignore_after.is_some_and(|end| event.ts > end) => {
                    counts.after_end += 1;
                }
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
        for (j, rejection) in target.process(&events, options.wall, &mut out) {
            refused.push((event_lines[j], rejection));
        }
        if let Some(dl) = dead_letters.as_deref_mut() {
            refused.sort_by_key(|(i, _)| *i);
            for (i, rejection) in &refused {
                let (start, end, line_no) = lines[*i];
                write_dead_letter(dl, line_no, rejection, &raw[start..end])?;
            }
        }
        // Encoded where they lie: draining would move each warning (about 250 bytes) out
        // first.
        for w in &out {
            output::write_json_line(warnings, w)?;
        }
        out.clear();
        // A watermark jump can fire every member's timer in one call; do not keep that
        // burst's capacity for the rest of the run.
        if out.capacity() > BURST_CAPACITY {
            out.shrink_to(BURST_CAPACITY);
        }
    }
    target.finish(options.until, &mut out);
    for w in &out {
        output::write_json_line(warnings, w)?;
    }
    warnings.flush()?;
    Ok(counts)
}

/// Bytes read in one go: lines are split in place in this buffer, with no copy per line.
/// At least the caller's `BufReader` capacity (1 MiB), so reads bypass its own buffer.
const READ_CHUNK: usize = 1 << 20;

/// JSON lines read in large chunks into one buffer and handed out in place, as byte
/// ranges of [`LineReader::bytes`] without their line ending.
struct LineReader<R> {
    input: R,
    /// `buf[..filled]` holds input; the rest is room to read into.
    buf: Vec<u8>,
    filled: usize,
    /// Start of the first line not handed out yet.
    pos: usize,
    eof: bool,
}

impl<R: BufRead> LineReader<R> {
    fn new(input: R) -> Self {
        LineReader {
            input,
            buf: Vec::new(),
            filled: 0,
            pos: 0,
            eof: false,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Whether every line has been handed out and the input is exhausted.
    fn is_done(&self) -> bool {
        self.eof && self.pos == self.filled
    }

    /// Unless a whole line is already buffered, drops the lines handed out (invalidating
    /// their ranges) and reads more, until a line ends or the input does.
    fn refill(&mut self) -> io::Result<()> {
        if self.eof || memchr::memchr(b'\n', &self.buf[self.pos..self.filled]).is_some() {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        loop {
            // A line longer than the buffer doubles it (`max_message_bytes` is enforced
            // by the decoder, as for any line).
            if self.buf.len() - self.filled < READ_CHUNK {
                let len = (self.buf.len() * 2).max(self.filled + READ_CHUNK);
                self.buf.resize(len, 0);
            }
            let read = match self.input.read(&mut self.buf[self.filled..]) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if read == 0 {
                self.eof = true;
                return Ok(());
            }
            let fresh = self.filled..self.filled + read;
            self.filled += read;
            if memchr::memchr(b'\n', &self.buf[fresh]).is_some() {
                return Ok(());
            }
        }
    }

    /// The next buffered line as `(start, end)` in [`LineReader::bytes`], without its
    /// trailing `\n` and `\r`s; the input's last line needs no newline. `None` when no
    /// whole line is left in the buffer (call [`LineReader::refill`]).
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        let rest = &self.buf[start..self.filled];
        let mut end = match memchr::memchr(b'\n', rest) {
            Some(i) => start + i + 1,
            None if self.eof && !rest.is_empty() => self.filled,
            None => return None,
        };
        self.pos = end;
        while end > start && matches!(self.buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Some((start, end))
    }
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
