//! The tutor page `/tutors/{id}` of a running `churnwatch run`, rendered by headless
//! Chromium (Debian's `chromium` package; `CHROMIUM` names another binary). The DOM the
//! browser built must hold the groups and the at-risk list in urgency order with their
//! actions, and the screenshot must show the bars at the hand-derived lengths: 25 %
//! activity = 75 px of the failing colour, the 36 % benchmark marker 108 px from the
//! bar's start; times are on the tutor's clock (no directory: Asia/Shanghai, UTC+8).
//!
//! The live page, driven over the DevTools protocol: an alert produced after the page
//! has loaded appears in its DOM without a reload, and when the server ends the stream,
//! an alert produced while the browser is away (its reconnection held by the test) comes
//! with the reconnection, resumed from `Last-Event-ID`, nothing lost and nothing twice.

mod cdp_support;
mod http_support;
mod kafka_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cdp_support::{Cdp, Intercept};
use http_support::*;
use kafka_support::*;

fn chromium() -> String {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&binary).exists(),
        "no Chromium at {binary}: install Debian's chromium package (scripts/test.sh \
         does) or set CHROMIUM"
    );
    binary
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=…`);
/// returns stdout.
fn browse(url: &str, mode: &str, profile: &Path) -> String {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// RGB pixels of a PNG file, with its width.
fn pixels(path: &Path) -> (usize, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).expect("opening the screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, px)
}

/// Count and horizontal extent (min x, max x) of the pixels of exactly `colour`.
fn extent(width: usize, px: &[[u8; 3]], colour: [u8; 3]) -> (usize, usize, usize) {
    let xs: Vec<usize> = px
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == colour)
        .map(|(i, _)| i % width)
        .collect();
    let min = xs.iter().copied().min().unwrap_or(0);
    let max = xs.iter().copied().max().unwrap_or(0);
    (xs.len(), min, max)
}

#[test]
fn the_tutor_page_renders_in_headless_chromium() {
    let browser = chromium();
    let OnScenario { cw, base, .. } = start_on_scenario("page", &[], None);
    let url = format!("{base}/tutors/{TUTOR}");
    let dir: PathBuf = std::env::temp_dir().join(unique("chromium"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    eprintln!("browser: {browser}");

    // What the browser built.
    let dom = browse(&url, "--dump-dom", &dir.join("profile-dom"));
    assert!(dom.contains(r#"<span id="tutor-id">t-h</span>"#), "{dom}");
    assert!(
        dom.contains(&format!(
            "<time id=\"as-of\" datetime=\"{WATERMARK}\">2026-04-10 08:00 CST</time>"
        )),
        "the watermark on the tutor's clock"
    );
    let row = dom
        .split("<tr class=\"group\"")
        .nth(1)
        .expect("a group row");
    assert!(row.contains(r#"data-group="g-h""#), "{row}");
    assert!(row.contains(r#"data-activity="25.00""#), "{row}");
    assert!(row.contains(r#"data-benchmark="36.00""#), "{row}");
    assert!(row.contains("3 / 12"), "{row}");
    assert!(row.contains(">failing<"), "{row}");
    assert!(row.contains("needs 2 more active members"), "{row}");
    assert!(row.contains("¥1100.00"), "{row}");
    assert!(row.contains(">excellent<"), "{row}");
    assert!(dom.contains("(5 of 5)"));
    let order: Vec<&str> = dom
        .split("data-member=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(order, AT_RISK_ORDER, "at-risk rows in urgency order");
    let first = dom
        .split("data-member=\"m-h06\"")
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .expect("m-h06's row");
    assert!(first.contains("important_maintain"), "{first}");
    // 2026-04-09T00:00:00.001Z is 08:00 in Shanghai.
    assert!(first.contains("2026-04-09 08:00 CST"), "{first}");
    assert!(
        first.contains("personal check-in; look for an unresolved after-sales issue"),
        "{first}"
    );

    // What the browser drew.
    let shot = dir.join("tutor.png");
    browse(
        &url,
        &format!("--screenshot={}", shot.display()),
        &dir.join("profile-shot"),
    );
    let (width, px) = pixels(&shot);
    let failing = [0xd3, 0x2f, 0x2f];
    let marker = [0x6a, 0x1b, 0x9a];
    let (fill_px, fill_left, fill_right) = extent(width, &px, failing);
    let (marker_px, marker_left, marker_right) = extent(width, &px, marker);
    assert_eq!(
        fill_right - fill_left + 1,
        75,
        "25 % activity is 75 px of bar"
    );
    assert_eq!(
        fill_px,
        75 * 14,
        "one 75 × 14 px failing bar, nothing else red"
    );
    assert_eq!(marker_right - marker_left + 1, 2, "a 2 px benchmark marker");
    assert_eq!(marker_px, 2 * 20);
    assert_eq!(
        marker_left - fill_left,
        108,
        "the 36 % benchmark sits 108 px into the bar"
    );
    drop(cw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scenario's events, then `extra`, as JSON lines.
fn scenario_with(extra: &[&(String, String)]) -> Vec<String> {
    scenario()
        .into_iter()
        .map(|(_, json)| json)
        .chain(extra.iter().map(|(_, json)| json.clone()))
        .collect()
}

/// The tutor alerts (`notify: true`, tutor `t-h`) among `replay`'s warnings for `lines`:
/// (warning_id, event_time).
fn tutor_alerts(lines: Vec<String>) -> Vec<(String, String)> {
    replay(&lines, None)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|w| w["notify"] == true && w["tutor_id"] == TUTOR)
        .map(|w| {
            (
                w["warning_id"].as_str().unwrap_or_default().to_owned(),
                w["event_time"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The tutor alerts that `extra` adds to what `before` already caused.
fn new_alerts(before: &[&(String, String)], extra: &(String, String)) -> Vec<(String, String)> {
    let alerts = tutor_alerts;
    let old = alerts(scenario_with(before));
    let mut with: Vec<&(String, String)> = before.to_vec();
    with.push(extra);
    alerts(scenario_with(&with))
        .into_iter()
        .filter(|a| !old.contains(a))
        .collect()
}

const DAY: i64 = 86_400_000;
const T: i64 = 1_772_323_200_000;

fn order(member: &str, at_ms: i64, amount: &str, category: &str) -> (String, String) {
    (
        member.to_owned(),
        format!(
            r#"{{"event_id":"live-{member}-{at_ms}","member_id":"{member}","ts":{at_ms},"type":"order","order_id":"live-{member}-{at_ms}","amount":"{amount}","category":"{category}"}}"#
        ),
    )
}

fn live_gauge(base: &str) -> f64 {
    metric_sum(
        &get(&format!("{base}/metrics"), None).body,
        "churnwatch_live_alert_subscribers",
    )
}

#[test]
fn the_live_page_shows_new_alerts_without_a_reload_and_resumes_after_a_dropped_stream() {
    let browser = chromium();
    let token = "live-t0ken";
    // The server ends each stream after 4 s; the browser reconnects 3 s later.
    let OnScenario {
        cw,
        base,
        input,
        warnings,
    } = start_on_scenario(
        "live-page",
        &[
            format!("http.token={token}"),
            "http.alerts_stream_lifetime=4s".to_owned(),
        ],
        Some(token),
    );
    // m-h05 (important_development, 600 yuan on T+38d) spends 500 more just after the
    // watermark: M30 = 1100 ≥ 1000, important_value, an upgrade she is told of; then
    // m-h04 (general_value) spends 800: important_value again.
    let first = order("m-h05", T + 40 * DAY + 10 * 60_000, "500.00", "nutrition");
    let second = order("m-h04", T + 40 * DAY + 11 * 60_000, "800.00", "skincare");
    let first_alerts = new_alerts(&[], &first);
    let second_alerts = new_alerts(&[&first], &second);
    assert_eq!(first_alerts.len(), 1, "{first_alerts:?}");
    assert_eq!(second_alerts.len(), 1, "{second_alerts:?}");
    let (a_id, a_time) = first_alerts[0].clone();
    let (b_id, _) = second_alerts[0].clone();
    assert_eq!(a_time, "2026-04-10T00:10:00.000Z");

    let dir: PathBuf = std::env::temp_dir().join(unique("chromium-live"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let mut cdp = Cdp::launch(&browser, &dir.join("profile"));
    cdp.open_page();
    // Network events name each server-sent event as the browser received it.
    cdp.call("Network.enable", serde_json::json!({}));
    // The test is the proxy in front of the tutor pages: it adds the bearer token to the
    // page's request only. The stream gets nothing from it: the page's cookie opens it.
    let page_prefix = format!("{base}/tutors/");
    let stream_prefix = format!("{base}/v1/tutors/{TUTOR}/alerts");
    let add_token = Intercept::AddHeader {
        prefix: page_prefix.clone(),
        name: "Authorization".to_owned(),
        value: format!("Bearer {token}"),
    };
    cdp.intercept_requests(vec![add_token.clone()]);
    cdp.call(
        "Page.navigate",
        serde_json::json!({ "url": format!("{page_prefix}{TUTOR}") }),
    );
    cdp.wait_event("Page.loadEventFired", Duration::from_secs(30));
    cdp.eval("window.loadedOnce = 'yes'");
    cdp.wait_true(
        "the stream to open",
        "document.getElementById('live-status').textContent === 'live'",
        Duration::from_secs(30),
    );
    assert_eq!(live_gauge(&base), 1.0, "one stream open, by cookie");
    let listed = |cdp: &mut Cdp| {
        cdp.eval("Array.from(document.querySelectorAll('#live-alerts li')).map(li => li.id)")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    // The scenario's own alerts: on the page as rendered, or (those whose transaction
    // committed after the rendering) arriving on the stream; each once.
    let mut expected: Vec<String> = tutor_alerts(scenario_with(&[]))
        .into_iter()
        .map(|(id, _)| format!("alert-{id}"))
        .collect();
    assert!(!expected.is_empty());
    cdp.wait_true(
        "the scenario's alerts on the page",
        &format!(
            "document.querySelectorAll('#live-alerts li').length >= {}",
            expected.len()
        ),
        Duration::from_secs(30),
    );
    let before = listed(&mut cdp);
    let mut sorted = before.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "the scenario's alerts, each once");
    let a_elem = format!("alert-{a_id}");
    let b_elem = format!("alert-{b_id}");
    assert!(!before.contains(&a_elem), "not there before it happens");

    // After load: the first alert arrives on the open stream.
    produce(&input, &[Record::new(&first.0, first.1.clone())]);
    cdp.wait_true(
        "the first alert in the DOM",
        &format!("document.getElementById('{a_elem}') !== null"),
        Duration::from_secs(30),
    );
    let now = listed(&mut cdp);
    assert_eq!(now.first(), Some(&a_elem), "at the top of the list");
    assert_eq!(now.len(), before.len() + 1, "{now:?}");
    let time = cdp.eval(&format!(
        "document.querySelector('#{a_elem} time').textContent"
    ));
    assert_eq!(time, "2026-04-10 08:10 CST", "on the tutor's clock");
    assert_eq!(
        cdp.eval(&format!(
            "document.querySelector('#{a_elem} .change').textContent"
        )),
        "important_development → important_value"
    );
    assert_eq!(cdp.eval("window.loadedOnce"), "yes", "the same document");
    assert_eq!(cdp.count("Page.loadEventFired"), 1, "no reload");
    let received = cdp.wait_event_where(
        "Network.eventSourceMessageReceived",
        Duration::from_secs(10),
        |e| {
            e["params"]["data"]
                .as_str()
                .is_some_and(|d| d.contains(&a_id))
        },
    );
    assert_eq!(received["params"]["eventName"], "alert");
    let a_event_id = received["params"]["eventId"]
        .as_str()
        .expect("the alert has an id")
        .to_owned();

    // The gap: the server ends the stream; the browser's reconnection is held.
    cdp.intercept_requests(vec![
        add_token,
        Intercept::Hold {
            prefix: stream_prefix.clone(),
        },
    ]);
    let held = cdp.wait_held(Duration::from_secs(30));
    assert_eq!(live_gauge(&base), 0.0, "the server closed the stream");
    let headers = &held["params"]["request"]["headers"];
    assert!(
        !headers
            .as_object()
            .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization"))),
        "the stream never sees the token"
    );
    produce(&input, &[Record::new(&second.0, second.1.clone())]);
    wait_for(
        "the second warning committed",
        Duration::from_secs(30),
        || {
            warning_ids(&read_all(&warnings, Duration::from_secs(30)))
                .contains(&b_id)
                .then_some(())
        },
    );
    // Published right after its commit; the browser is still away.
    cdp.idle(Duration::from_millis(300));
    assert_eq!(
        cdp.eval(&format!("document.getElementById('{b_elem}') === null")),
        true,
        "not delivered while the stream is down"
    );
    assert_eq!(live_gauge(&base), 0.0);
    cdp.release_held();
    cdp.wait_true(
        "the alert of the gap in the DOM",
        &format!("document.getElementById('{b_elem}') !== null"),
        Duration::from_secs(30),
    );
    let after = listed(&mut cdp);
    assert_eq!(after.first(), Some(&b_elem), "{after:?}");
    assert_eq!(after.len(), before.len() + 2, "each alert once: {after:?}");
    assert_eq!(
        cdp.eval(&format!(
            "document.querySelectorAll('[id=\"{a_elem}\"]').length"
        )),
        1
    );
    assert_eq!(cdp.eval("window.loadedOnce"), "yes");
    assert_eq!(cdp.count("Page.loadEventFired"), 1, "still no reload");
    let resent = cdp.wait_event_where(
        "Network.eventSourceMessageReceived",
        Duration::from_secs(10),
        |e| {
            e["params"]["data"]
                .as_str()
                .is_some_and(|d| d.contains(&b_id))
        },
    );
    assert_ne!(resent["params"]["eventId"], a_event_id.as_str());
    // The server resumed from the browser's Last-Event-ID, the first alert's id, and
    // resent the gap's alert from its ring.
    let log = cw.log_text();
    assert!(
        log.lines().any(|l| l.contains("live alerts: stream opened")
            && l.contains(&format!("last_event_id=\"{a_event_id}\""))
            && l.contains("resume=\"after\"")
            && l.contains("resent=1")),
        "no resumed stream in the log:\n{log}"
    );
    drop(cdp);
    drop(cw);
    let _ = std::fs::remove_dir_all(&dir);
}
