//! The tutor page, `/tutors/{id}`: what a tutor opens in the morning. Her groups with
//! activity against the tenure benchmark as bars, their grades and what would close the
//! gap; then her members at risk, most urgent first, each with the recommended action.
//!
//! Rendered on the server as plain HTML with inline CSS, no script: it works behind any
//! proxy, prints, and refreshes itself every minute. Every id comes from input and is
//! escaped.
//!
//! The bars are drawn to whole pixels (3 px per percentage point) in colours used for
//! nothing else, so a screenshot can be measured: the browser test does exactly that.

use std::fmt::Write as _;

use crate::query::{GroupView, TutorBoard};

/// Bar track width for 100 %.
pub const BAR_PX_PER_POINT: f64 = 3.0;
/// Fill colours by activity grade, and the benchmark marker's.
pub const GRADE_COLOURS: [(&str, &str); 5] = [
    ("excellent", "#1e88e5"),
    ("good", "#43a047"),
    ("qualified", "#f9a825"),
    ("failing", "#d32f2f"),
    ("ungraded", "#9e9e9e"),
];
pub const MARKER_COLOUR: &str = "#6a1b9a";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whole pixels for a percentage: the same rounding the browser test uses.
pub fn bar_px(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * BAR_PX_PER_POINT).round() as u32
}

fn colour(grade: &str) -> &'static str {
    GRADE_COLOURS
        .iter()
        .find(|(g, _)| *g == grade)
        .map_or("#9e9e9e", |(_, c)| c)
}

/// `2026-04-30T18:42:10.675Z` → `2026-04-30 18:42 UTC`.
fn short_instant(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(head) if rfc3339.ends_with('Z') => format!("{} UTC", head.replacen('T', " ", 1)),
        _ => rfc3339.to_owned(),
    }
}

fn percent(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
       margin: 24px; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.asof { color: #52606d; margin: 0; }
table { border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7eb;
         vertical-align: middle; }
th { font-weight: 600; color: #3e4c59; }
.track { position: relative; width: 300px; height: 14px; background: #eceff1; }
.fill { position: absolute; left: 0; top: 0; height: 14px; }
.mark { position: absolute; top: -3px; width: 2px; height: 20px; }
.pct { display: block; font-size: 13px; color: #52606d; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 13px;
         border: 1px solid #cbd2d9; background: #fff; }
.sev-important td:first-child { box-shadow: inset 4px 0 0 #8e24aa; font-weight: 600; }
.empty { color: #52606d; }
"#;

fn group_row(out: &mut String, g: &GroupView) {
    let activity = percent(&g.activity);
    let benchmark = percent(&g.benchmark);
    let gap = if g.members_needed > 0 {
        let noun = if g.members_needed == 1 {
            "member"
        } else {
            "members"
        };
        format!(
            "needs {} more active {noun}; weakest: {}",
            g.members_needed,
            g.weakest_categories.join(", ")
        )
    } else {
        "at or above the benchmark".to_owned()
    };
    let _ = write!(
        out,
        r#"<tr class="group" id="group-{id}" data-group="{id}" data-activity="{a}" data-benchmark="{b}" data-grade="{grade}">
<td class="group-id">{id}</td>
<td><div class="track" title="activity {a} % against a benchmark of {b} %"><div class="fill" style="width:{fill}px;background:{fill_colour}"></div><div class="mark" style="left:{mark}px;background:{marker}"></div></div><span class="pct">{a} % active · benchmark {b} %</span></td>
<td class="counts">{active} / {members}</td>
<td><span class="badge activity-grade">{grade}</span></td>
<td class="output">¥{output} <span class="pct">target ¥{target}</span></td>
<td><span class="badge output-grade">{output_grade}</span></td>
<td class="gap">{gap}</td>
</tr>
"#,
        id = escape(&g.group_id),
        a = format!("{activity:.2}"),
        b = format!("{benchmark:.2}"),
        grade = g.activity_grade,
        fill = bar_px(activity),
        fill_colour = colour(g.activity_grade),
        mark = bar_px(benchmark),
        marker = MARKER_COLOUR,
        active = g.active,
        members = g.members,
        output = g.output_per_active,
        target = g.output_target,
        output_grade = g.output_grade,
        gap = escape(&gap),
    );
}

pub fn render(board: &TutorBoard) -> String {
    let tutor = escape(&board.tutor_id);
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>Tutor {tutor} · churnwatch</title>
<style>{STYLE}</style></head>
<body>
<h1>Tutor <span id="tutor-id">{tutor}</span></h1>
<p class="asof">Figures as of <time id="as-of">{as_of}</time> (event time).</p>
<h2>Groups</h2>
"#,
        as_of = escape(&board.as_of),
    );
    if board.groups.is_empty() {
        out.push_str("<p class=\"empty\">No groups.</p>\n");
    } else {
        out.push_str(
            "<table id=\"groups\"><thead><tr><th>Group</th><th>Activity vs benchmark</th>\
             <th>Active / members</th><th>Activity</th><th>Output per active member</th>\
             <th>Output</th><th>To close the gap</th></tr></thead><tbody>\n",
        );
        for g in &board.groups {
            group_row(&mut out, g);
        }
        out.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        out,
        "<h2>Members at risk <span id=\"at-risk-count\">({} of {})</span></h2>",
        board.at_risk.len(),
        board.at_risk_total
    );
    if board.at_risk.is_empty() {
        out.push_str("<p class=\"empty\">Nobody has fallen: no member at risk.</p>\n");
    } else {
        out.push_str(
            "<table id=\"at-risk\"><thead><tr><th>Member</th><th>Group</th><th>Segment</th>\
             <th>Fell at</th><th>Days since order</th><th>30-day spend</th>\
             <th>Open tickets</th><th>Recommended action</th></tr></thead><tbody>\n",
        );
        for m in &board.at_risk {
            let important = m.segment.starts_with("important_");
            let _ = write!(
                out,
                r#"<tr class="member{cls}" id="member-{id}" data-member="{id}">
<td class="member-id">{id}</td><td>{group}</td><td class="segment">{segment}</td>
<td><time datetime="{fell}">{fell_short}</time></td><td class="recency">{recency}</td><td>¥{m30}</td>
<td class="tickets">{tickets}</td><td class="action">{action}</td>
</tr>
"#,
                cls = if important { " sev-important" } else { "" },
                id = escape(&m.member_id),
                group = escape(m.group_id.as_deref().unwrap_or("—")),
                segment = m.segment,
                fell = escape(&m.fell_at),
                fell_short = escape(&short_instant(&m.fell_at)),
                recency = m.recency_days.map_or("—".to_owned(), |d| d.to_string()),
                m30 = m.m30,
                tickets = m.open_tickets,
                action = escape(&m.action),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::AtRiskMember;

    fn board() -> TutorBoard {
        TutorBoard {
            tutor_id: "t<1>".to_owned(),
            groups: vec![GroupView {
                group_id: "g&1".to_owned(),
                tutor_id: Some("t<1>".to_owned()),
                tracked: 12,
                members: 10,
                active: 3,
                activity: "30.00".parse().unwrap_or_else(|_| 30.into()),
                benchmark: "36.00".parse().unwrap_or_else(|_| 36.into()),
                activity_grade: "failing",
                output_grade: "good",
                output_per_active: "480.00".to_owned(),
                output_target: "450.00".to_owned(),
                members_needed: 1,
                revenue_30d: Default::default(),
                weakest_categories: vec!["home", "skincare"],
                as_of: "2026-01-01T00:00:00.000Z".to_owned(),
            }],
            at_risk: vec![AtRiskMember {
                member_id: "<script>alert(1)</script>".to_owned(),
                group_id: Some("g&1".to_owned()),
                segment: "important_maintain",
                stage: "mature",
                fell_at: "2026-01-01T00:00:00.000Z".to_owned(),
                recency_days: Some(8),
                m30: "600.00".to_owned(),
                open_tickets: 1,
                action: "personal check-in".to_owned(),
            }],
            at_risk_total: 1,
            as_of: "2026-01-01T00:00:00.000Z".to_owned(),
        }
    }

    #[test]
    fn ids_are_escaped_and_bars_are_whole_pixels() {
        let html = render(&board());
        assert!(!html.contains("<script>"), "input must not become markup");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains(r#"data-group="g&amp;1""#));
        assert!(html.contains("width:90px;background:#d32f2f"));
        assert!(html.contains("left:108px;background:#6a1b9a"));
        assert!(html.contains("needs 1 more active member; weakest: home, skincare"));
        assert!(html.contains("(1 of 1)"));
    }

    #[test]
    fn bars_clamp_to_the_track() {
        assert_eq!(bar_px(0.0), 0);
        assert_eq!(bar_px(33.34), 100);
        assert_eq!(bar_px(140.0), 300);
        assert_eq!(bar_px(-2.0), 0);
    }
}
