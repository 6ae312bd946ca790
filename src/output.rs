//! Encodings of warnings for the outside world. The JSON form is a contract with CRM
//! consumers (SPEC §7): exactly these top-level names, money as yuan strings with two
//! decimals, times as RFC 3339 UTC with milliseconds.

use std::io::{self, Write};

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
    /// Percent with two decimals, as a JSON number.
    activity: serde_json::Number,
    benchmark: serde_json::Number,
    output_per_active: String,
    output_target: String,
    weakest_categories: Vec<&'static str>,
    members_needed: u32,
}

/// Basis points as a JSON number with two decimals (4010 → 40.10), built from the
/// decimal text so no binary float rounding can creep into the output.
fn percent(bp: i64) -> serde_json::Number {
    let text = format!(
        "{}{}.{:02}",
        if bp < 0 { "-" } else { "" },
        bp.unsigned_abs() / 100,
        bp.unsigned_abs() % 100
    );
    // The text is a plain decimal, which every JSON number parser accepts; fall back to
    // the integer part only if that invariant is ever broken.
    text.parse()
        .unwrap_or_else(|_| serde_json::Number::from(bp / 100))
}

fn member_figures(f: &MemberFigures) -> JsonMemberFigures<'_> {
    let mut json = JsonMemberFigures {
        recency_days: f.recency_days,
        f30: f.f30,
        m30: f.m30.to_string(),
        f90: f.f90,
        lifetime_orders: f.lifetime_orders,
        lifetime_amount: f.lifetime_amount.to_string(),
        recall_attempt: None,
        days_since_login: None,
        ticket_id: None,
        ticket_open_hours: None,
    };
    match &f.detail {
        Detail::None => {}
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

/// Writes one warning as one JSON line.
pub fn write_json_line(out: &mut impl Write, w: &Warning) -> io::Result<()> {
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
    serde_json::to_writer(&mut *out, &json)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_keep_two_decimals_exactly() {
        assert_eq!(percent(4010).to_string(), "40.1");
        assert_eq!(percent(3600).to_string(), "36.0");
        assert_eq!(percent(-125).to_string(), "-1.25");
    }
}
