//! JSON lines in the exact input schema (SPEC §2), written by hand into a byte buffer:
//! fixed key order, ids zero-padded, money from integer fen, times via
//! [`EventTime::to_rfc3339`].

use crate::model::{Category, EventTime, Fen};

use super::behaviour::{CHANNELS, REASONS};
use super::population::Population;
use super::{Kind, Raw};

/// Appends `n` in decimal, left-padded with zeros to at least `width` digits.
pub(super) fn push_padded(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in len..width {
        buf.push(b'0');
    }
    buf.extend(digits[..len].iter().rev());
}

pub(super) fn push_member_id(buf: &mut Vec<u8>, member: u32) {
    buf.push(b'm');
    push_padded(buf, member as u64 + 1, 7);
}

fn push_ts(buf: &mut Vec<u8>, ms: i64) {
    buf.extend_from_slice(EventTime::from_millis(ms).to_rfc3339().as_bytes());
}

fn push_fen(buf: &mut Vec<u8>, fen: u32) {
    use std::io::Write;
    write!(buf, "{}", Fen(fen as i64)).expect("writing to a Vec cannot fail");
}

/// `o0000123-042`: member and day of the order (a member orders at most once a day; the
/// deliberate duplicates share the id on purpose).
fn push_order_ref(buf: &mut Vec<u8>, raw: &Raw) {
    push_padded(buf, raw.member as u64 + 1, 7);
    buf.push(b'-');
    push_padded(buf, raw.b as u64, 3);
}

/// Appends the line of `raw` (no newline) with event id number `event_no`.
pub(super) fn write_line(buf: &mut Vec<u8>, raw: &Raw, event_no: u64, pop: &Population) {
    buf.extend_from_slice(b"{\"event_id\":\"e");
    push_padded(buf, event_no, 10);
    buf.extend_from_slice(b"\",\"member_id\":\"");
    push_member_id(buf, raw.member);
    buf.extend_from_slice(b"\",\"ts\":\"");
    push_ts(buf, raw.ts);
    buf.extend_from_slice(b"\",\"type\":\"");
    match raw.kind {
        Kind::Member => {
            buf.extend_from_slice(b"member\",\"group_id\":\"g");
            push_padded(buf, raw.a as u64 + 1, 4);
            buf.extend_from_slice(b"\",\"tutor_id\":\"t");
            push_padded(buf, raw.b as u64 + 1, 3);
            buf.extend_from_slice(if raw.c == 1 {
                b"\",\"fee_tier\":\"399\",\"joined_at\":\""
            } else {
                b"\",\"fee_tier\":\"199\",\"joined_at\":\""
            });
            push_ts(buf, pop.members[raw.member as usize].joined_at);
            buf.extend_from_slice(b"\"}");
        }
        Kind::MemberLeft => buf.extend_from_slice(b"member_left\"}"),
        Kind::Order => {
            buf.extend_from_slice(b"order\",\"order_id\":\"o");
            push_order_ref(buf, raw);
            buf.extend_from_slice(b"\",\"amount\":\"");
            push_fen(buf, raw.a);
            buf.extend_from_slice(b"\",\"category\":\"");
            buf.extend_from_slice(Category::ALL[raw.c as usize].name().as_bytes());
            buf.extend_from_slice(b"\"}");
        }
        Kind::Login => {
            buf.extend_from_slice(b"login\",\"channel\":\"");
            buf.extend_from_slice(CHANNELS[raw.c as usize].as_bytes());
            buf.extend_from_slice(b"\"}");
        }
        Kind::AfterSales => {
            buf.extend_from_slice(b"after_sales\",\"ticket_id\":\"as");
            push_order_ref(buf, raw);
            buf.extend_from_slice(b"\",\"order_id\":\"o");
            push_order_ref(buf, raw);
            buf.extend_from_slice(if raw.flags & Raw::RESOLVED != 0 {
                b"\",\"status\":\"resolved\",\"reason\":\""
            } else {
                b"\",\"status\":\"opened\",\"reason\":\""
            });
            buf.extend_from_slice(REASONS[raw.c as usize].as_bytes());
            if raw.flags & Raw::REFUND != 0 {
                buf.extend_from_slice(b"\",\"refund_amount\":\"");
                push_fen(buf, raw.a);
            }
            buf.extend_from_slice(b"\"}");
        }
    }
}
