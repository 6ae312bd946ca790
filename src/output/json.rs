//! The JSON form of warnings, a contract with CRM consumers (SPEC §7): exactly these
//! top-level names, money as yuan strings with two decimals, times as RFC 3339 UTC with
//! milliseconds.
//!
//! The JSON is written by hand into a reused buffer: this is the hot end of replay (one
//! line per warning, millions per run), and a serde round through `String`s for ids,
//! timestamps and amounts cost several allocations per warning. The bytes are exactly
//! those the straightforward serde encoding produced; the tests keep that encoding as the
//! oracle and compare byte for byte.

use std::cell::RefCell;
use std::io::{self, Write};

use crate::engine::churn_model::ChurnFigures;
use crate::engine::{Detail, Figures, GroupFigures, Label, MemberFigures, Warning};
use crate::model::digits::two_digits;
use crate::model::rfc3339::{self, DateCache};
use crate::model::{EventTime, Fen};

/// Buffer capacity kept between lines; a line that needed more (a huge configured action
/// text) gives its buffer back instead of pinning it for the rest of the run.
const SCRATCH_KEEP: usize = 16 * 1024;

thread_local! {
    static WRITER: RefCell<JsonWriter> = const { RefCell::new(JsonWriter::new()) };
}

/// Writes one warning as one JSON line, with a single `write_all` of the whole line.
///
/// Encodes with a per-thread [`JsonWriter`], so the steady state allocates nothing.
pub fn write_json_line(out: &mut impl Write, w: &Warning) -> io::Result<()> {
    WRITER.with(|writer| match writer.try_borrow_mut() {
        Ok(mut writer) => writer.write_line(out, w),
        // Only if `out` itself encodes warnings on this thread while being written to.
        Err(_) => JsonWriter::new().write_line(out, w),
    })
}

/// Encodes warnings as JSON lines (SPEC §7) into a buffer it keeps between lines.
#[derive(Debug)]
pub struct JsonWriter {
    buf: Vec<u8>,
    dates: DateCache,
}

impl Default for JsonWriter {
    fn default() -> Self {
        JsonWriter::new()
    }
}

impl JsonWriter {
    pub const fn new() -> JsonWriter {
        JsonWriter {
            buf: Vec::new(),
            dates: DateCache::new(),
        }
    }

    /// Writes `w` as one JSON line with a single `write_all`.
    pub fn write_line(&mut self, out: &mut impl Write, w: &Warning) -> io::Result<()> {
        let result = out.write_all(self.line(w));
        if self.buf.capacity() > SCRATCH_KEEP {
            self.buf = Vec::new();
        }
        result
    }

    /// `w` as one JSON line, with its `\n`; valid until the next call.
    pub fn line(&mut self, w: &Warning) -> &[u8] {
        self.buf.clear();
        let buf = &mut self.buf;
        buf.reserve(512);
        buf.extend_from_slice(b"{\"warning_id\":\"");
        push_hex128(buf, w.id.0);
        buf.extend_from_slice(b"\",\"kind\":");
        push_str(buf, w.kind.name());
        buf.extend_from_slice(b",\"severity\":");
        push_str(buf, w.severity.name());
        buf.extend_from_slice(b",\"member_id\":");
        push_opt_str(buf, w.member_id.as_ref().map(|m| m.as_str()));
        buf.extend_from_slice(b",\"group_id\":");
        push_opt_str(buf, w.group_id.as_ref().map(|g| g.as_str()));
        buf.extend_from_slice(b",\"tutor_id\":");
        push_opt_str(buf, w.tutor_id.as_ref().map(|t| t.as_str()));
        buf.extend_from_slice(b",\"from\":");
        push_opt_str(buf, w.from.map(Label::name));
        buf.extend_from_slice(b",\"to\":");
        push_opt_str(buf, w.to.map(Label::name));
        buf.extend_from_slice(b",\"event_time\":");
        push_time(buf, &mut self.dates, w.event_time);
        buf.extend_from_slice(b",\"emitted_at\":");
        push_time(buf, &mut self.dates, w.emitted_at);
        buf.extend_from_slice(b",\"figures\":");
        match &w.figures {
            Figures::Member(f) => push_member_figures(buf, f),
            Figures::Group(f) => push_group_figures(buf, f),
        }
        buf.extend_from_slice(b",\"action\":");
        push_str(buf, &w.action);
        buf.extend_from_slice(if w.notify {
            b",\"notify\":true}\n"
        } else {
            b",\"notify\":false}\n"
        });
        &self.buf
    }
}

fn push_member_figures(buf: &mut Vec<u8>, f: &MemberFigures) {
    buf.extend_from_slice(b"{\"recency_days\":");
    match f.recency_days {
        Some(d) => push_i64(buf, d),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"f30\":");
    push_u64(buf, f.f30.into());
    buf.extend_from_slice(b",\"m30\":");
    push_money(buf, f.m30);
    buf.extend_from_slice(b",\"f90\":");
    push_u64(buf, f.f90.into());
    buf.extend_from_slice(b",\"lifetime_orders\":");
    push_u64(buf, f.lifetime_orders.into());
    buf.extend_from_slice(b",\"lifetime_amount\":");
    push_money(buf, f.lifetime_amount);
    if let Some(churn) = &f.churn {
        push_churn_figures(buf, churn);
    }
    match &f.detail {
        Detail::None => {}
        Detail::ChurnRisk { threshold_ppm } => {
            buf.extend_from_slice(b",\"threshold\":");
            push_millionths(buf, u64::from(*threshold_ppm));
        }
        Detail::RecallAttempt(n) => {
            buf.extend_from_slice(b",\"recall_attempt\":");
            push_u64(buf, (*n).into());
        }
        Detail::DaysSinceLogin(d) => {
            buf.extend_from_slice(b",\"days_since_login\":");
            push_i64(buf, *d);
        }
        Detail::Ticket {
            ticket_id,
            open_hours,
        } => {
            buf.extend_from_slice(b",\"ticket_id\":");
            push_str(buf, ticket_id);
            buf.extend_from_slice(b",\"ticket_open_hours\":");
            push_i64(buf, *open_hours);
        }
    }
    buf.push(b'}');
}

/// The churn model's figures (issue 16): present only while the model is on, so that
/// the contract's member figures are unchanged without it.
#[cold]
fn push_churn_figures(buf: &mut Vec<u8>, churn: &ChurnFigures) {
    buf.extend_from_slice(b",\"p_alive\":");
    push_millionths(buf, u64::from(churn.p_alive_ppm));
    buf.extend_from_slice(b",\"expected_purchases\":");
    push_millionths(buf, churn.expected_purchases_micro);
    buf.extend_from_slice(b",\"model_version\":");
    push_str(buf, &churn.version);
}

/// Millionths as a JSON number, as serde_json prints the `f64` nearest to them (0.5,
/// 0.731234, 1.0): exact up to 15 significant digits.
fn push_millionths(buf: &mut Vec<u8>, millionths: u64) {
    // Writing a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &millionths_number(millionths));
}

/// Millionths as the `f64` JSON number the warnings and queries show.
pub fn millionths_number(millionths: u64) -> f64 {
    millionths as f64 / 1e6
}

fn push_group_figures(buf: &mut Vec<u8>, f: &GroupFigures) {
    buf.extend_from_slice(b"{\"members\":");
    push_u64(buf, f.members.into());
    buf.extend_from_slice(b",\"active\":");
    push_u64(buf, f.active.into());
    buf.extend_from_slice(b",\"activity\":");
    push_percent(buf, f.activity_bp);
    buf.extend_from_slice(b",\"benchmark\":");
    push_percent(buf, f.benchmark_bp);
    buf.extend_from_slice(b",\"output_per_active\":");
    push_money(buf, f.output_per_active);
    buf.extend_from_slice(b",\"output_target\":");
    push_money(buf, f.output_target);
    buf.extend_from_slice(b",\"weakest_categories\":[");
    for (i, c) in f.weakest_categories.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        push_str(buf, c.name());
    }
    buf.extend_from_slice(b"],\"members_needed\":");
    push_u64(buf, f.members_needed.into());
    buf.push(b'}');
}

// ---------------------------------------------------------------------------------------
// Scalars.

/// `"00".."99"`: two digits per lookup.
/// Writes the decimal digits of `n` (no sign, no padding) at the start of `out`, which
/// must hold 20 bytes; returns how many.
#[inline]
fn write_digits(out: &mut [u8], mut n: u64) -> usize {
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut i = len;
    while n >= 100 {
        i -= 2;
        out[i..i + 2].copy_from_slice(&two_digits((n % 100) as u32));
        n /= 100;
    }
    if n >= 10 {
        out[..2].copy_from_slice(&two_digits(n as u32));
    } else {
        out[0] = b'0' + n as u8;
    }
    len
}

/// Appends the first `len` bytes of `block`. Copying the whole fixed-size block and
/// truncating compiles to a few register moves instead of a variable-length `memcpy`.
#[inline]
fn push_prefix<const N: usize>(buf: &mut Vec<u8>, block: &[u8; N], len: usize) {
    let start = buf.len();
    buf.extend_from_slice(block);
    buf.truncate(start + len);
}

/// Decimal digits of `n`, no sign, no padding.
fn push_u64(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let len = write_digits(&mut digits, n);
    push_prefix(buf, &digits, len);
}

fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

/// Lowercase hex of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [HEX[b >> 4], HEX[b & 0xf]];
        b += 1;
    }
    table
};

/// `WarningId`'s form: 32 lowercase hex digits, zero-padded.
fn push_hex128(buf: &mut Vec<u8>, v: u128) {
    let mut out = [0u8; 32];
    for (pair, byte) in out.chunks_exact_mut(2).zip(v.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[byte as usize]);
    }
    buf.extend_from_slice(&out);
}

/// Money as `Fen`'s Display in a JSON string: `"1234.50"`, `"-0.05"`.
fn push_money(buf: &mut Vec<u8>, fen: Fen) {
    let v = fen.as_fen();
    let abs = v.unsigned_abs();
    let mut text = [0u8; 32];
    text[0] = b'"';
    text[1] = b'-';
    let mut len = 1 + usize::from(v < 0);
    len += write_digits(&mut text[len..], abs / 100);
    text[len] = b'.';
    text[len + 1..len + 3].copy_from_slice(&two_digits((abs % 100) as u32));
    text[len + 3] = b'"';
    push_prefix(buf, &text, len + 4);
}

/// Below this many basis points (15 significant digits) the percent's decimal text
/// survives the trip through `f64` unchanged, so the shortest round-trip form is the text
/// itself with trailing fractional zeros dropped.
const PERCENT_EXACT_BP: u64 = 1_000_000_000_000_000;

/// A percent in basis points as the JSON number the contract has always carried: the text
/// `40.10` read as an `f64` and printed shortest-round-trip, i.e. `40.1`, `36.0`, `-1.25`,
/// `0.05`, `0.0`.
fn push_percent(buf: &mut Vec<u8>, bp: i64) {
    let abs = bp.unsigned_abs();
    if abs >= PERCENT_EXACT_BP {
        return push_percent_via_f64(buf, bp);
    }
    if bp < 0 {
        buf.push(b'-');
    }
    push_u64(buf, abs / 100);
    buf.push(b'.');
    let frac = (abs % 100) as u32;
    if frac % 10 == 0 {
        buf.push(b'0' + (frac / 10) as u8);
    } else {
        buf.extend_from_slice(&two_digits(frac));
    }
}

/// Beyond 15 significant digits an `f64` no longer holds the decimal exactly (and past
/// 1e16 it prints with an exponent): take serde_json's own path so the bytes stay what
/// they always were. Unreachable for real percentages.
#[cold]
#[inline(never)]
fn push_percent_via_f64(buf: &mut Vec<u8>, bp: i64) {
    // Writing a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &percent_number(bp));
}

/// Basis points as the JSON number of percent with two decimals: 3456 → 34.56, read as
/// an `f64` (so printed `34.56`, `36.0`). The form of `activity` and `benchmark` in
/// warnings and in the HTTP queries.
pub fn percent_number(bp: i64) -> serde_json::Number {
    let text = format!(
        "{}{}.{:02}",
        if bp < 0 { "-" } else { "" },
        bp.unsigned_abs() / 100,
        bp.unsigned_abs() % 100
    );
    text.parse()
        .unwrap_or_else(|_| serde_json::Number::from(bp / 100))
}

// ---------------------------------------------------------------------------------------
// Strings.

/// serde_json's escape table: 0 = as is, `u` = `\u00XX`, else the letter after `\`.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A JSON string, escaped exactly as serde_json escapes: `"` and `\`, the short forms
/// `\b \t \n \f \r`, other C0 controls as `\u00xx`; everything else (DEL, non-ASCII)
/// passes through as UTF-8.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    buf.push(b'"');
    if is_clean(bytes) {
        buf.extend_from_slice(bytes);
    } else {
        push_escaped(buf, bytes);
    }
    buf.push(b'"');
}

/// Whether no byte of `bytes` needs an escape. Ids and actions almost never do, so this
/// checks whole blocks branch-free: 16 bytes at a time (the compiler turns each block into
/// a few vector compares), the last block overlapping the one before; 8-byte words for
/// short strings.
#[inline]
fn is_clean(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 16 {
        let mut blocks = bytes.chunks_exact(16);
        for block in &mut blocks {
            if !is_clean_block(block.try_into().unwrap()) {
                return false;
            }
        }
        blocks.remainder().is_empty() || is_clean_block(bytes[n - 16..].try_into().unwrap())
    } else if n >= 8 {
        is_clean_word(bytes[..8].try_into().unwrap())
            && is_clean_word(bytes[n - 8..].try_into().unwrap())
    } else {
        bytes.iter().all(|&b| ESCAPE[b as usize] == 0)
    }
}

#[inline(always)]
fn is_clean_block(block: &[u8; 16]) -> bool {
    let mut dirty = false;
    for &b in block {
        dirty |= (b < 0x20) | (b == b'"') | (b == b'\\');
    }
    !dirty
}

/// SWAR: a byte below 0x20, or a zero byte after XOR with the quote or the backslash,
/// sets its top bit. (Borrows can only mark bytes above a real hit, so "any" is exact.)
#[inline]
fn is_clean_word(word: &[u8; 8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let word = u64::from_le_bytes(*word);
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGH == 0
}

#[cold]
fn push_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPE[b as usize];
        if escape == 0 {
            continue;
        }
        buf.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            buf.extend_from_slice(&[b'\\', escape]);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

fn push_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

// ---------------------------------------------------------------------------------------
// Time.

/// The instant in a JSON string, written by the one RFC 3339 writer.
#[inline]
fn push_time(buf: &mut Vec<u8>, dates: &mut DateCache, t: EventTime) {
    buf.push(b'"');
    rfc3339::write(buf, dates, t);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use compact_str::CompactString;
    use proptest::prelude::*;

    use super::*;
    use crate::engine::{Grade, Segment, Severity, WarningId, WarningKind};
    use crate::model::rfc3339::{
        days_from_civil, MAX_MS as RFC3339_MAX_MS, MIN_MS as RFC3339_MIN_MS, MS_PER_DAY,
    };
    use crate::model::{Category, GroupId, MemberId, TutorId};

    /// The serde encoding this module used to be: the byte-for-byte reference.
    mod oracle {
        use serde::Serialize;

        use crate::engine::{Detail, Figures, GroupFigures, MemberFigures, Warning};

        #[derive(Serialize)]
        struct JsonWarning<'a> {
            warning_id: String,
            kind: &'static str,
            severity: &'static str,
            member_id: Option<&'a str>,
            group_id: Option<&'a str>,
            tutor_id: Option<&'a str>,
            from: Option<&'static str>,
            to: Option<&'static str>,
            event_time: String,
            emitted_at: String,
            figures: JsonFigures<'a>,
            action: &'a str,
            notify: bool,
        }

        #[derive(Serialize)]
        #[serde(untagged)]
        enum JsonFigures<'a> {
            Member(JsonMemberFigures<'a>),
            Group(JsonGroupFigures),
        }

        #[derive(Serialize)]
        struct JsonMemberFigures<'a> {
            recency_days: Option<i64>,
            f30: u32,
            m30: String,
            f90: u32,
            lifetime_orders: u32,
            lifetime_amount: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            p_alive: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expected_purchases: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            model_version: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            threshold: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            recall_attempt: Option<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            days_since_login: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ticket_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ticket_open_hours: Option<i64>,
        }

        #[derive(Serialize)]
        struct JsonGroupFigures {
            members: u32,
            active: u32,
            activity: serde_json::Number,
            benchmark: serde_json::Number,
            output_per_active: String,
            output_target: String,
            weakest_categories: Vec<&'static str>,
            members_needed: u32,
        }

        pub use super::super::percent_number as percent;

        fn member_figures(f: &MemberFigures) -> JsonMemberFigures<'_> {
            let mut json = JsonMemberFigures {
                recency_days: f.recency_days,
                f30: f.f30,
                m30: f.m30.to_string(),
                f90: f.f90,
                lifetime_orders: f.lifetime_orders,
                lifetime_amount: f.lifetime_amount.to_string(),
                p_alive: f
                    .churn
                    .as_ref()
                    .map(|c| super::super::millionths_number(c.p_alive_ppm.into())),
                expected_purchases: f
                    .churn
                    .as_ref()
                    .map(|c| super::super::millionths_number(c.expected_purchases_micro)),
                model_version: f.churn.as_ref().map(|c| &*c.version),
                threshold: None,
                recall_attempt: None,
                days_since_login: None,
                ticket_id: None,
                ticket_open_hours: None,
            };
            match &f.detail {
                Detail::None => {}
                Detail::ChurnRisk { threshold_ppm } => {
                    json.threshold = Some(super::super::millionths_number((*threshold_ppm).into()))
                }
                Detail::RecallAttempt(n) => json.recall_attempt = Some(*n),
                Detail::DaysSinceLogin(d) => json.days_since_login = Some(*d),
                Detail::Ticket {
                    ticket_id,
                    open_hours,
                } => {
                    json.ticket_id = Some(ticket_id.as_str());
                    json.ticket_open_hours = Some(*open_hours);
                }
            }
            json
        }

        fn group_figures(f: &GroupFigures) -> JsonGroupFigures {
            JsonGroupFigures {
                members: f.members,
                active: f.active,
                activity: percent(f.activity_bp),
                benchmark: percent(f.benchmark_bp),
                output_per_active: f.output_per_active.to_string(),
                output_target: f.output_target.to_string(),
                weakest_categories: f.weakest_categories.iter().map(|c| c.name()).collect(),
                members_needed: f.members_needed,
            }
        }

        pub fn json_line(w: &Warning) -> Vec<u8> {
            let json = JsonWarning {
                warning_id: w.id.to_string(),
                kind: w.kind.name(),
                severity: w.severity.name(),
                member_id: w.member_id.as_ref().map(|m| m.as_str()),
                group_id: w.group_id.as_ref().map(|g| g.as_str()),
                tutor_id: w.tutor_id.as_ref().map(|t| t.as_str()),
                from: w.from.map(|l| l.name()),
                to: w.to.map(|l| l.name()),
                event_time: w.event_time.to_rfc3339(),
                emitted_at: w.emitted_at.to_rfc3339(),
                figures: match &w.figures {
                    Figures::Member(f) => JsonFigures::Member(member_figures(f)),
                    Figures::Group(f) => JsonFigures::Group(group_figures(f)),
                },
                action: &w.action,
                notify: w.notify,
            };
            let mut out = serde_json::to_vec(&json).expect("serialize");
            out.push(b'\n');
            out
        }
    }

    fn fast(w: &Warning) -> Vec<u8> {
        let mut out = Vec::new();
        write_json_line(&mut out, w).expect("write into a Vec");
        out
    }

    #[track_caller]
    fn assert_same(w: &Warning) {
        let fast = fast(w);
        let oracle = oracle::json_line(w);
        assert!(
            fast == oracle,
            "{w:?}\n fast:   {}\n oracle: {}",
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&oracle)
        );
    }

    thread_local! {
        static DATES: RefCell<DateCache> = const { RefCell::new(DateCache::new()) };
    }

    /// The instant rendered both with a fresh date cache and with one shared by every
    /// call of the test (so a sweep exercises hits and misses).
    fn time_text(ms: i64) -> String {
        let t = EventTime::from_millis(ms);
        let mut fresh = Vec::new();
        push_time(&mut fresh, &mut DateCache::new(), t);
        let mut cached = Vec::new();
        DATES.with(|dates| push_time(&mut cached, &mut dates.borrow_mut(), t));
        assert_eq!(fresh, cached, "{ms} ms, fresh vs cached date");
        String::from_utf8(fresh).unwrap()
    }

    #[track_caller]
    fn assert_time(ms: i64) {
        let expected = format!("\"{}\"", EventTime::from_millis(ms).to_rfc3339());
        assert_eq!(time_text(ms), expected, "{ms} ms");
    }

    fn percent_text(bp: i64) -> String {
        let mut buf = Vec::new();
        push_percent(&mut buf, bp);
        String::from_utf8(buf).unwrap()
    }

    #[track_caller]
    fn assert_percent(bp: i64) {
        let expected = serde_json::to_string(&oracle::percent(bp)).unwrap();
        assert_eq!(percent_text(bp), expected, "{bp} bp");
    }

    #[track_caller]
    fn assert_escaped(s: &str) {
        let mut buf = Vec::new();
        push_str(&mut buf, s);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            serde_json::to_string(s).unwrap()
        );
    }

    const AWKWARD: [&str; 10] = [
        "",
        "plain",
        "quote\"d",
        "back\\slash\\",
        "nl\ncr\rtab\tbs\u{8}ff\u{c}",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "\"\\\"\\",
        "emoji 😀👩‍👩‍👧",
        "中文会员 ä é",
        "</script>\u{2028}\u{2029}\u{fffd}",
    ];

    use crate::output::fixtures::{group, member};

    #[test]
    fn percentages_keep_two_decimals_exactly() {
        assert_eq!(percent_text(4010), "40.1");
        assert_eq!(percent_text(3600), "36.0");
        assert_eq!(percent_text(-125), "-1.25");
        assert_eq!(percent_text(5), "0.05");
        assert_eq!(percent_text(0), "0.0");
        assert_eq!(oracle::percent(4010).to_string(), "40.1");
        for bp in -200_000..=200_000 {
            assert_percent(bp);
        }
        let edge = PERCENT_EXACT_BP as i64;
        for base in [edge, -edge, 1 << 53, -(1 << 53), i64::MAX, i64::MIN] {
            for delta in -300..=300 {
                assert_percent(base.saturating_add(delta));
            }
        }
        for k in 0..19 {
            let p = 10i64.pow(k);
            for bp in [p - 1, p, p + 1, p + 10, 9 * p, -p, -(p + 1)] {
                assert_percent(bp);
            }
        }
    }

    #[test]
    fn money_is_fen_display_in_a_string() {
        let check = |fen: i64| {
            let mut buf = Vec::new();
            push_money(&mut buf, Fen(fen));
            assert_eq!(String::from_utf8(buf).unwrap(), format!("\"{}\"", Fen(fen)));
        };
        for fen in -100_000..=100_000 {
            check(fen);
        }
        for fen in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 1 << 53] {
            check(fen);
        }
    }

    #[test]
    fn integers_and_ids_print_like_std() {
        let check = |n: i64| {
            let mut buf = Vec::new();
            push_i64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        };
        for n in -1_000..=1_000 {
            check(n);
        }
        for k in 0..19 {
            let p = 10i64.pow(k);
            for n in [p - 1, p, p + 1, -p, -(p - 1)] {
                check(n);
            }
        }
        check(i64::MIN);
        check(i64::MAX);
        let mut buf = Vec::new();
        push_u64(&mut buf, u64::MAX);
        assert_eq!(buf, u64::MAX.to_string().as_bytes());
        for id in [0, 1, u128::MAX, 0xabc << 64, 0x0123_4567_89ab_cdef] {
            let mut buf = Vec::new();
            push_hex128(&mut buf, id);
            assert_eq!(String::from_utf8(buf).unwrap(), WarningId(id).to_string());
        }
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for s in AWKWARD {
            assert_escaped(s);
        }
        for b in 0u8..=0x7f {
            assert_escaped(&format!("a{}b", b as char));
            assert_escaped(&(b as char).to_string());
        }
        for kind in WarningKind::ALL {
            assert_escaped(kind.name());
        }
        // Every position of the word-at-a-time scan and of the tail.
        for len in 1..=25 {
            for at in 0..len {
                for special in ['"', '\\', '\u{0}', '\n', '\u{1f}', '\u{7f}', 'é', '😀'] {
                    let s: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    assert_escaped(&s);
                }
            }
        }
    }

    #[test]
    fn timestamps_match_to_rfc3339_over_a_wide_sweep() {
        // Every day from 1890 to 2110 at midnight, a millisecond either side, and an odd
        // time of day.
        let day = MS_PER_DAY;
        for d in days_from_civil(1890, 1, 1)..days_from_civil(2110, 1, 1) {
            let midnight = d * day;
            for ms in [midnight - 1, midnight, midnight + 1, midnight + 45_296_789] {
                assert_time(ms);
            }
        }
        // Leap days (and the days around them) of every year from -2000 to 2400,
        // including the century non-leap years.
        for year in -2000..=2400 {
            for (m, d) in [(2, 28), (2, 29), (3, 1), (12, 31), (1, 1)] {
                let ms = days_from_civil(year, m, d) * day;
                for ms in [ms - 1, ms, ms + 43_200_000, ms + day - 1] {
                    assert_time(ms);
                }
            }
        }
        // A prime stride across the whole representable range.
        let stride = 1_234_567_890_123;
        let mut ms = RFC3339_MIN_MS;
        while ms <= RFC3339_MAX_MS {
            assert_time(ms);
            ms += stride;
        }
        // The edges of chrono's range, and of i64.
        for edge in [RFC3339_MIN_MS, RFC3339_MAX_MS, 0, -62_167_219_200_000] {
            for delta in -2..=2 {
                assert_time(edge + delta);
            }
        }
        for ms in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, -1, 1] {
            assert_time(ms);
        }
        // Years needing a sign or a fifth digit.
        for year in [
            -262_143, -100_000, -10_000, -1_000, -999, -10, -1, 0, 9999, 10_000,
        ] {
            assert_time(days_from_civil(year, 6, 15) * day + 1);
        }
        assert_eq!(time_text(1_767_866_400_001), "\"2026-01-08T10:00:00.001Z\"");
        assert_eq!(time_text(-1), "\"1969-12-31T23:59:59.999Z\"");
        assert_eq!(time_text(i64::MAX), format!("\"{}\"", i64::MAX));
    }

    #[test]
    fn every_figures_and_detail_variant_matches_the_serde_encoding() {
        let details = || {
            [
                Detail::None,
                Detail::RecallAttempt(0),
                Detail::RecallAttempt(u8::MAX),
                Detail::DaysSinceLogin(-3),
                Detail::DaysSinceLogin(i64::MAX),
                Detail::Ticket {
                    ticket_id: CompactString::from("tk-1"),
                    open_hours: 49,
                },
                Detail::ChurnRisk {
                    threshold_ppm: 500_000,
                },
                Detail::ChurnRisk { threshold_ppm: 1 },
            ]
        };
        for awkward in AWKWARD {
            for detail in details() {
                let mut w = member(detail, awkward);
                assert_same(&w);
                if let Figures::Member(f) = &mut w.figures {
                    f.recency_days = None;
                    f.m30 = Fen(-5);
                    f.lifetime_amount = Fen(i64::MIN);
                    f.f30 = u32::MAX;
                    f.churn = Some(ChurnFigures {
                        p_alive_ppm: 731_234,
                        expected_purchases_micro: u64::from(u32::MAX) * 1000 + 7,
                        version: Arc::from(format!("mbg_nbd-{awkward}")),
                    });
                    f.detail = Detail::Ticket {
                        ticket_id: CompactString::from(format!("{awkward}\"tk\"")),
                        open_hours: i64::MIN,
                    };
                }
                w.member_id = None;
                w.group_id = None;
                w.tutor_id = None;
                w.from = None;
                w.to = Some(Label::Segment(Segment::New));
                w.notify = false;
                w.id = WarningId(u128::MAX);
                assert_same(&w);
            }
            for bp in [0, 5, 100, 4010, -125, 10_000, 3_600, i64::MAX, i64::MIN] {
                let mut w = group(bp, 10_000 - bp / 2, awkward);
                assert_same(&w);
                if let Figures::Group(f) = &mut w.figures {
                    f.weakest_categories.clear();
                }
                w.to = None;
                w.event_time = EventTime::MIN;
                w.emitted_at = EventTime::MAX;
                assert_same(&w);
                if let Figures::Group(f) = &mut w.figures {
                    f.weakest_categories = Category::ALL.to_vec();
                }
                assert_same(&w);
            }
        }
    }

    #[test]
    fn scratch_is_reused_and_big_lines_do_not_pin_it() {
        let small = member(Detail::None, "x");
        let mut huge = member(Detail::None, "y");
        huge.action = Arc::from("\u{1}".repeat(100_000));
        for w in [&small, &huge, &small, &huge, &small] {
            assert_same(w);
        }
        WRITER.with(|writer| assert!(writer.borrow().buf.capacity() <= SCRATCH_KEEP));
        let mut writer = JsonWriter::new();
        for w in [&small, &huge, &small] {
            assert_eq!(writer.line(w), oracle::json_line(w));
        }
    }

    #[test]
    fn every_warning_of_the_default_workload_matches_the_serde_encoding() {
        use crate::config::Config;
        use crate::decode::JsonDecoder;
        use crate::engine::{Engine, TimeMode};
        use crate::generate::{write_jsonl, GenerateOptions};

        let mut input = Vec::new();
        write_jsonl(&GenerateOptions::default(), &mut input).expect("generate");
        // With the churn model on, so that every kind and every figure occurs.
        let config = Config {
            churn_model: Some(std::sync::Arc::new(
                crate::churn_model::ModelFile::cdnow_mbg_nbd(),
            )),
            ..Config::default()
        };
        let decoder = JsonDecoder::new(config.input.max_message_bytes);
        let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
        let wall = EventTime::from_millis(i64::MAX / 2);
        let mut warnings = Vec::new();
        for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let event = decoder
                .decode(line)
                .expect("the generator writes valid events");
            let _ = engine.process(0, &event, wall, &mut warnings);
        }
        let end = engine.watermark() + crate::model::Span::days(400);
        engine.advance_to(end, &mut warnings);
        assert!(warnings.len() > 10_000, "{} warnings", warnings.len());
        let mut kinds = std::collections::BTreeSet::new();
        let mut fast_bytes = Vec::new();
        let mut oracle_bytes = Vec::new();
        for w in &warnings {
            kinds.insert(w.kind);
            write_json_line(&mut fast_bytes, w).unwrap();
            oracle_bytes.extend_from_slice(&oracle::json_line(w));
        }
        assert_eq!(kinds.len(), WarningKind::ALL.len(), "{kinds:?}");
        if fast_bytes != oracle_bytes {
            for w in &warnings {
                assert_same(w);
            }
        }
    }

    fn awkward_string() -> impl Strategy<Value = String> {
        let ch = prop_oneof![
            4 => any::<char>(),
            2 => proptest::char::range('\u{0}', '\u{7f}'),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', '中', '😀']),
        ];
        proptest::collection::vec(ch, 0..24).prop_map(|v| v.into_iter().collect())
    }

    fn label() -> impl Strategy<Value = Option<Label>> {
        proptest::option::of(prop_oneof![
            prop::sample::select(Segment::ALL.to_vec()).prop_map(Label::Segment),
            prop::sample::select(Grade::ALL.to_vec()).prop_map(Label::Grade),
            Just(Label::Ungraded),
            (0u8..=3).prop_map(Label::Risk),
        ])
    }

    fn bp() -> impl Strategy<Value = i64> {
        prop_oneof![
            -20_000i64..=20_000,
            any::<i64>(),
            -(1i64 << 54)..(1i64 << 54)
        ]
    }

    fn event_time() -> impl Strategy<Value = EventTime> {
        prop_oneof![
            3 => -5_000_000_000_000i64..5_000_000_000_000,
            2 => RFC3339_MIN_MS - 10..=RFC3339_MAX_MS + 10,
            1 => any::<i64>(),
        ]
        .prop_map(EventTime::from_millis)
    }

    fn detail() -> impl Strategy<Value = Detail> {
        prop_oneof![
            Just(Detail::None),
            any::<u8>().prop_map(Detail::RecallAttempt),
            any::<i64>().prop_map(Detail::DaysSinceLogin),
            (0u32..=1_000_000).prop_map(|threshold_ppm| Detail::ChurnRisk { threshold_ppm }),
            (awkward_string(), any::<i64>()).prop_map(|(t, h)| Detail::Ticket {
                ticket_id: CompactString::from(t),
                open_hours: h,
            }),
        ]
    }

    fn figures() -> impl Strategy<Value = Figures> {
        let member = (
            proptest::option::of(any::<i64>()),
            any::<u32>(),
            any::<i64>(),
            any::<u32>(),
            any::<u32>(),
            any::<i64>(),
            detail(),
            proptest::option::of((0u32..=1_000_000, any::<u64>(), awkward_string())),
        )
            .prop_map(
                |(recency_days, f30, m30, f90, orders, amount, detail, churn)| {
                    Figures::Member(MemberFigures {
                        recency_days,
                        f30,
                        m30: Fen(m30),
                        f90,
                        lifetime_orders: orders,
                        lifetime_amount: Fen(amount),
                        churn: churn.map(|(p, e, v)| ChurnFigures {
                            p_alive_ppm: p,
                            // Beyond 2^53 millionths an f64 no longer holds them exactly;
                            // no member expects 9 × 10^9 purchases.
                            expected_purchases_micro: e >> 11,
                            version: Arc::from(v),
                        }),
                        detail,
                    })
                },
            );
        let group = (
            any::<u32>(),
            any::<u32>(),
            bp(),
            bp(),
            any::<i64>(),
            any::<i64>(),
            proptest::collection::vec(prop::sample::select(Category::ALL.to_vec()), 0..4),
            any::<u32>(),
        )
            .prop_map(|(members, active, a, b, opa, target, weakest, needed)| {
                Figures::Group(GroupFigures {
                    members,
                    active,
                    activity_bp: a,
                    benchmark_bp: b,
                    output_per_active: Fen(opa),
                    output_target: Fen(target),
                    weakest_categories: weakest,
                    members_needed: needed,
                })
            });
        prop_oneof![member, group]
    }

    fn warning() -> impl Strategy<Value = Warning> {
        let who = (
            any::<u128>(),
            prop::sample::select(WarningKind::ALL.to_vec()),
            prop::sample::select(vec![
                Severity::Notice,
                Severity::Warning,
                Severity::Critical,
            ]),
            proptest::option::of(awkward_string()),
            proptest::option::of(awkward_string()),
            proptest::option::of(awkward_string()),
            label(),
            label(),
        );
        let what = (
            event_time(),
            event_time(),
            figures(),
            awkward_string(),
            any::<bool>(),
        );
        (who, what).prop_map(
            |(
                (id, kind, severity, member_id, group_id, tutor_id, from, to),
                (event_time, emitted_at, figures, action, notify),
            )| Warning {
                id: WarningId(id),
                kind,
                severity,
                member_id: member_id.as_deref().map(MemberId::new),
                group_id: group_id.as_deref().map(GroupId::new),
                tutor_id: tutor_id.as_deref().map(TutorId::new),
                from,
                to,
                event_time,
                emitted_at,
                figures,
                action: Arc::from(action),
                notify,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn random_warnings_match_the_serde_encoding(w in warning()) {
            prop_assert_eq!(
                String::from_utf8(fast(&w)).unwrap(),
                String::from_utf8(oracle::json_line(&w)).unwrap()
            );
        }

        #[test]
        fn random_instants_match_to_rfc3339(t in event_time()) {
            prop_assert_eq!(
                time_text(t.as_millis()),
                format!("\"{}\"", t.to_rfc3339())
            );
        }

        #[test]
        fn random_percents_match_the_number_encoding(bp in bp()) {
            prop_assert_eq!(
                percent_text(bp),
                serde_json::to_string(&oracle::percent(bp)).unwrap()
            );
        }

        #[test]
        fn random_strings_escape_like_serde_json(s in awkward_string()) {
            let mut buf = Vec::new();
            push_str(&mut buf, &s);
            prop_assert_eq!(String::from_utf8(buf).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }
}
