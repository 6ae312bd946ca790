//! The tutor page, `/tutors/{id}`: what a tutor opens in the morning. Her groups with
//! activity against the tenure benchmark as bars, their grades and what would close the
//! gap; then her members at risk, most urgent first, each with the recommended action.
//!
//! Rendered on the server as plain HTML with inline CSS: it works behind any proxy and
//! prints. Below the figures, "Live alerts": the tutor's latest alerts from the live feed,
//! newest first, and a small inline script that opens an `EventSource` on
//! `/v1/tutors/{id}/alerts` and puts each new alert at the top without a reload (one
//! element `alert-<warning_id>` per alert, never two). Without the script the page is the
//! same and refreshes itself every minute instead. Times are on the tutor's own clock
//! (her zone from the tutor directory), in the server's text and in the script's alike.
//! Every id comes from input and is escaped.
//!
//! The bars are drawn to whole pixels (3 px per percentage point) in colours used for
//! nothing else, so a screenshot can be measured: the browser test does exactly that.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono_tz::Tz;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::zones;
use crate::alerts_feed::{EventId, LiveAlert};
use crate::model::EventTime;
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

/// What the page shows besides the board: the tutor's clock and her live alerts.
pub struct Live<'a> {
    pub zone: Tz,
    /// Her latest alerts, newest first.
    pub alerts: &'a [Arc<LiveAlert>],
    /// Where the script's stream starts: right after the latest alert published.
    pub cursor: EventId,
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
#live-alerts { list-style: none; padding: 0; margin: 0; max-width: 1100px; }
#live-alerts li { background: #fff; border-bottom: 1px solid #e4e7eb; padding: 6px 10px; }
#live-alerts li.sev-critical { box-shadow: inset 4px 0 0 #b71c1c; }
#live-alerts li.sev-warning { box-shadow: inset 4px 0 0 #ef6c00; }
#live-alerts .kind { font-weight: 600; }
#live-alerts .action, #live-status { color: #52606d; }
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
        fill_colour = colour(&g.activity_grade),
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

/// The parts of a warning's JSON line (SPEC §7) that an alert shows.
struct AlertText {
    warning_id: String,
    severity: String,
    kind: String,
    subject: String,
    change: String,
    event_time: String,
    action: String,
}

impl AlertText {
    fn of(json: &str) -> Option<AlertText> {
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        let subject = match (v["member_id"].as_str(), v["group_id"].as_str()) {
            (Some(m), Some(g)) => format!("member {m} · group {g}"),
            (Some(m), None) => format!("member {m}"),
            (None, Some(g)) => format!("group {g}"),
            (None, None) => String::new(),
        };
        let change = match (v["from"].as_str(), v["to"].as_str()) {
            (Some(f), Some(t)) => format!("{f} → {t}"),
            (None, Some(t)) => t.to_owned(),
            _ => String::new(),
        };
        Some(AlertText {
            warning_id: text("warning_id"),
            severity: text("severity"),
            kind: text("kind"),
            subject,
            change,
            event_time: text("event_time"),
            action: text("action"),
        })
    }
}

/// One live alert as a list item; the script builds the same from the same JSON.
fn alert_item(out: &mut String, zone: Tz, alert: &LiveAlert) {
    let Some(a) = AlertText::of(&alert.json) else {
        return;
    };
    let _ = writeln!(
        out,
        r#"<li class="alert sev-{sev_class}" id="alert-{id}" data-warning="{id}"><time datetime="{at}">{local}</time> <span class="badge severity">{sev}</span> <span class="kind">{kind}</span> <span class="subject">{subject}</span> <span class="change">{change}</span> <span class="action">{action}</span></li>"#,
        sev_class = escape(&a.severity.to_ascii_lowercase()),
        id = escape(&a.warning_id),
        at = escape(&a.event_time),
        local = escape(&zones::local(zone, &a.event_time)),
        sev = escape(&a.severity),
        kind = escape(&a.kind),
        subject = escape(&a.subject),
        change = escape(&a.change),
        action = escape(&a.action),
    );
}

/// Opens the live stream and inserts each new alert at the top of `#live-alerts`, once
/// per warning id, with its time on the tutor's clock (the zone's abbreviations come
/// from the server, so both sides name times alike). Reconnects are the browser's own,
/// resuming with `Last-Event-ID`.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var list = document.getElementById("live-alerts");
  var status = document.getElementById("live-status");
  if (!list || !window.EventSource || !window.Intl) { return; }
  var names = {};
  try { names = JSON.parse(list.getAttribute("data-zone-names") || "{}"); } catch (e) {}
  var clock = new Intl.DateTimeFormat("en-CA", {
    timeZone: list.getAttribute("data-time-zone"), year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZoneName: "longOffset"
  });
  function local(iso) {
    var p = {};
    clock.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    var zone = p.timeZoneName || "";
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " +
      (names[zone] || zone);
  }
  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text || "";
    return s;
  }
  function add(w) {
    if (!/^[0-9a-f]{32}$/.test(w.warning_id)) { return; }
    if (document.getElementById("alert-" + w.warning_id)) { return; }
    var subject = w.member_id ? "member " + w.member_id + (w.group_id ? " · group " + w.group_id : "")
      : (w.group_id ? "group " + w.group_id : "");
    var change = w.to ? (w.from ? w.from + " → " + w.to : w.to) : "";
    var li = document.createElement("li");
    li.id = "alert-" + w.warning_id;
    li.className = "alert sev-" + String(w.severity).toLowerCase();
    li.setAttribute("data-warning", w.warning_id);
    var t = document.createElement("time");
    t.setAttribute("datetime", w.event_time);
    t.textContent = local(w.event_time);
    li.append(t, " ", span("badge severity", w.severity), " ", span("kind", w.kind), " ",
      span("subject", subject), " ", span("change", change), " ", span("action", w.action));
    list.insertBefore(li, list.firstChild);
    var empty = document.getElementById("live-empty");
    if (empty) { empty.remove(); }
  }
  var source = new EventSource(list.getAttribute("data-stream"));
  source.addEventListener("alert", function (e) {
    try { add(JSON.parse(e.data)); } catch (err) {}
  });
  source.onopen = function () { status.textContent = "live"; };
  source.onerror = function () {
    status.textContent = source.readyState === EventSource.CLOSED
      ? "not live: reload the page" : "reconnecting…";
  };
  status.textContent = "connecting…";
})();
"#;

/// What a path segment escapes: everything but RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How many of her latest alerts the page lists when it is rendered.
pub const LIVE_ON_PAGE: usize = 50;

pub fn render(board: &TutorBoard, live: &Live<'_>) -> String {
    let tutor = escape(&board.tutor_id);
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="60"></noscript>
<title>Tutor {tutor} · churnwatch</title>
<style>{STYLE}</style></head>
<body>
<h1>Tutor <span id="tutor-id">{tutor}</span></h1>
<p class="asof">Figures as of <time id="as-of" datetime="{as_of}">{as_of_local}</time> (event time).</p>
<h2>Groups</h2>
"#,
        as_of = escape(&board.as_of),
        as_of_local = escape(&zones::local(live.zone, &board.as_of)),
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
        // The churn model's columns only while it is on (the list is then sorted by it).
        let churn = board.at_risk.iter().any(|m| m.p_alive.is_some());
        let _ = writeln!(
            out,
            "<table id=\"at-risk\"><thead><tr><th>Member</th><th>Group</th><th>Segment</th>\
             {}<th>Fell at</th><th>Days since order</th><th>30-day spend</th>\
             <th>Open tickets</th><th>Recommended action</th></tr></thead><tbody>",
            if churn {
                "<th>P(alive)</th><th>Expected purchases</th>"
            } else {
                ""
            }
        );
        for m in &board.at_risk {
            let important = m.segment.starts_with("important_");
            let churn_cells = if churn {
                format!(
                    r#"<td class="p-alive">{}</td><td class="expected">{}</td>"#,
                    m.p_alive
                        .map_or("—".to_owned(), |p| format!("{:.0} %", p * 100.0)),
                    m.expected_purchases
                        .map_or("—".to_owned(), |e| format!("{e:.2}")),
                )
            } else {
                String::new()
            };
            let fell_at = m.fell_at.as_deref().unwrap_or("");
            let _ = write!(
                out,
                r#"<tr class="member{cls}" id="member-{id}" data-member="{id}">
<td class="member-id">{id}</td><td>{group}</td><td class="segment">{segment}</td>{churn_cells}
<td><time datetime="{fell}">{fell_short}</time></td><td class="recency">{recency}</td><td>¥{m30}</td>
<td class="tickets">{tickets}</td><td class="action">{action}</td>
</tr>
"#,
                cls = if important { " sev-important" } else { "" },
                id = escape(&m.member_id),
                group = escape(m.group_id.as_deref().unwrap_or("—")),
                segment = m.segment,
                fell = escape(fell_at),
                fell_short = if fell_at.is_empty() {
                    "—".to_owned()
                } else {
                    escape(&zones::local(live.zone, fell_at))
                },
                recency = m.recency_days.map_or("—".to_owned(), |d| d.to_string()),
                m30 = m.m30,
                tickets = m.open_tickets,
                action = escape(&m.action),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    live_section(&mut out, board, live);
    out.push_str("</body></html>\n");
    out
}

fn live_section(out: &mut String, board: &TutorBoard, live: &Live<'_>) {
    let around = EventTime::parse_rfc3339(&board.as_of).unwrap_or(EventTime::from_millis(0));
    let names: serde_json::Map<String, serde_json::Value> = zones::abbreviations(live.zone, around)
        .into_iter()
        .map(|(offset, name)| (offset, serde_json::Value::String(name)))
        .collect();
    let stream = format!(
        "../v1/tutors/{}/alerts?since={}",
        utf8_percent_encode(&board.tutor_id, PATH_SEGMENT),
        live.cursor
    );
    let _ = writeln!(
        out,
        r#"<h2>Live alerts <span id="live-status"></span></h2>
<ol id="live-alerts" data-stream="{stream}" data-time-zone="{zone}" data-zone-names="{names}">"#,
        stream = escape(&stream),
        zone = escape(live.zone.name()),
        names = escape(&serde_json::Value::Object(names).to_string()),
    );
    for alert in live.alerts {
        alert_item(out, live.zone, alert);
    }
    out.push_str("</ol>\n");
    if live.alerts.is_empty() {
        out.push_str(
            "<p class=\"empty\" id=\"live-empty\">No alert since this server started.</p>\n",
        );
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script>");
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
                activity_grade: "failing".into(),
                output_grade: "good".into(),
                output_per_active: "480.00".to_owned(),
                output_target: "450.00".to_owned(),
                members_needed: 1,
                revenue_30d: Default::default(),
                weakest_categories: vec!["home".into(), "skincare".into()],
                as_of: "2026-01-01T00:00:00.000Z".to_owned(),
            }],
            at_risk: vec![AtRiskMember {
                member_id: "<script>alert(1)</script>".to_owned(),
                group_id: Some("g&1".to_owned()),
                segment: "important_maintain".into(),
                stage: "mature".into(),
                fell_at: Some("2026-01-01T00:00:00.000Z".to_owned()),
                recency_days: Some(8),
                m30: "600.00".to_owned(),
                open_tickets: 1,
                action: "personal check-in".to_owned(),
                p_alive: None,
                expected_purchases: None,
            }],
            at_risk_total: 1,
            as_of: "2026-01-01T00:00:00.000Z".to_owned(),
        }
    }

    fn quiet() -> Live<'static> {
        Live {
            zone: zones::DEFAULT_ZONE,
            alerts: &[],
            cursor: EventId { epoch: 1, seq: 0 },
        }
    }

    #[test]
    fn ids_are_escaped_and_bars_are_whole_pixels() {
        let html = render(&board(), &quiet());
        assert!(
            !html.contains("<script>alert(1)"),
            "input must not become markup"
        );
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

    fn live_alert(seq: u64, json: &str) -> Arc<LiveAlert> {
        Arc::new(LiveAlert {
            seq,
            tutor_id: Arc::from("t<1>"),
            warning_id: String::new(),
            event_time: EventTime::from_millis(0),
            json: json.to_owned(),
        })
    }

    #[test]
    fn times_are_on_the_tutors_clock() {
        let html = render(&board(), &quiet());
        assert!(
            html.contains(r#"<time id="as-of" datetime="2026-01-01T00:00:00.000Z">2026-01-01 08:00 CST</time>"#),
            "{html}"
        );
        assert!(html.contains(">2026-01-01 08:00 CST</time></td>"), "{html}");
        let berlin = Live {
            zone: chrono_tz::Europe::Berlin,
            ..quiet()
        };
        let html = render(&board(), &berlin);
        assert!(html.contains(">2026-01-01 01:00 CET</time>"), "{html}");
        assert!(html.contains(r#"data-time-zone="Europe/Berlin""#));
        assert!(
            html.contains(r#"data-zone-names="{&quot;GMT+01:00&quot;:&quot;CET&quot;,&quot;GMT+02:00&quot;:&quot;CEST&quot;}""#),
            "{html}"
        );
    }

    #[test]
    fn live_alerts_are_listed_newest_first_escaped_and_the_stream_resumes_after_them() {
        let alerts = [
            live_alert(
                7,
                r#"{"warning_id":"00000000000000000000000000000007","kind":"SEGMENT_DOWNGRADE","severity":"CRITICAL","member_id":"m<b>","group_id":"g&1","tutor_id":"t<1>","from":"important_value","to":"general_value","event_time":"2026-03-01T15:00:00.000Z","emitted_at":"2026-03-01T15:00:00.000Z","figures":{},"action":"call <her>","notify":true}"#,
            ),
            live_alert(
                3,
                r#"{"warning_id":"00000000000000000000000000000003","kind":"GROUP_BELOW_BENCHMARK","severity":"WARNING","member_id":null,"group_id":"g&1","tutor_id":"t<1>","from":"good","to":"failing","event_time":"2026-03-01T01:00:00.000Z","emitted_at":"2026-03-01T01:00:00.000Z","figures":{},"action":"activate","notify":true}"#,
            ),
        ];
        let live = Live {
            alerts: &alerts,
            cursor: EventId {
                epoch: 0xab,
                seq: 7,
            },
            ..quiet()
        };
        let html = render(&board(), &live);
        let first = html
            .find(r#"id="alert-00000000000000000000000000000007""#)
            .expect("the newer alert");
        let second = html
            .find(r#"id="alert-00000000000000000000000000000003""#)
            .expect("the older alert");
        assert!(first < second, "newest first");
        assert!(html.contains(r#"<li class="alert sev-critical" id="alert-00000000000000000000000000000007" data-warning="00000000000000000000000000000007"><time datetime="2026-03-01T15:00:00.000Z">2026-03-01 23:00 CST</time> <span class="badge severity">CRITICAL</span> <span class="kind">SEGMENT_DOWNGRADE</span> <span class="subject">member m&lt;b&gt; · group g&amp;1</span> <span class="change">important_value → general_value</span> <span class="action">call &lt;her&gt;</span></li>"#), "{html}");
        assert!(html.contains(r#"<span class="subject">group g&amp;1</span> <span class="change">good → failing</span>"#));
        assert!(
            html.contains(r#"data-stream="../v1/tutors/t%3C1%3E/alerts?since=ab-7""#),
            "{html}"
        );
        assert!(
            !html.contains(r#"id="live-empty""#),
            "no placeholder with alerts"
        );
        assert!(render(&board(), &quiet()).contains(r#"id="live-empty""#));
    }

    #[test]
    fn without_the_script_the_page_refreshes_itself() {
        let html = render(&board(), &quiet());
        assert!(html.contains(r#"<noscript><meta http-equiv="refresh" content="60"></noscript>"#));
        assert_eq!(html.matches("http-equiv=\"refresh\"").count(), 1);
        assert!(html.contains("new EventSource(list.getAttribute(\"data-stream\"))"));
    }
}
