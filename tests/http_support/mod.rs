//! Helpers for the tests of churnwatch's HTTP edge: a plain HTTP client, and a small
//! tutor scenario whose figures are derived by hand from SPEC.md below, not read off the
//! program.
#![allow(dead_code)] // each test binary uses its own subset

use std::time::{Duration, Instant};

use crate::kafka_support::{
    create_topic, produce, require_broker, settings, unique, Churnwatch, Record,
};

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: String,
    pub www_authenticate: Option<String>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// GET `url`, with `Authorization: Bearer token` when given. Any status is a reply.
pub fn get(url: &str, token: Option<&str>) -> Reply {
    match token {
        Some(token) => get_with(url, &[("Authorization", &format!("Bearer {token}"))]),
        None => get_with(url, &[]),
    }
}

/// GET `url` with `headers`, the whole body read. Any status is a reply.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let www_authenticate = header("www-authenticate");
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("reading the body of {url}: {e}"));
    Reply {
        status: response.status().as_u16(),
        body,
        content_type,
        www_authenticate,
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of every series of metric `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ----- the tutor scenario -----
//
// T = 2026-03-01T00:00:00Z. Tutor `t-h` runs group `g-h`: twelve tier-199 members
// `m-h01`…`m-h12`, all joined 2025-01-25 (400 days before T: tenure month 13+, benchmark
// 36 %). Orders (yuan):
//   m-h01, m-h02, m-h03: 100.00 at T+5d  → important_retain (R ≤ 14 d, M30 ≥ 100);
//     T+19d+1ms general_value; T+35d the order leaves the 30-day window (M30 = 0):
//     general_development; T+35d+1ms R > 30 d: general_maintain. Last fall:
//     2026-04-05T00:00:00.001Z.
//   m-h04: 1200.00 at T+20d → important_value; T+27d+1ms important_maintain; T+34d+1ms
//     general_value (R > 14 d, M30 = 1200 ≥ 100). Last fall: 2026-04-04T00:00:00.001Z.
//   m-h06: 1500.00 at T+32d → important_value; T+39d+1ms important_maintain (R ≤ 14 d,
//     M30 ≥ 500). Last fall: 2026-04-09T00:00:00.001Z.
//   m-h05: 600.00 at T+38d → important_development; no fall.
//   m-h07…m-h12: never order. Their activation deadline passed before they were first
//     seen, so they turn general_retain silently: no warning, not at risk.
// The last event, a login at T+40d+5min, puts the watermark at T+40d
// (2026-04-10T00:00:00.000Z). There:
//   group g-h: 12 counted, active (an order in (T+10d, T+40d]) = m-h04, m-h05, m-h06 = 3,
//     activity 25.00 %, benchmark 36.00 % → failing (-11 points); members needed:
//     ⌈(12·36 − 3·100) / 100⌉ = 2; 30-day revenue 1200 + 1500 + 600 = 3300.00 yuan,
//     output per active member 1100.00 ≥ 450 · 1.10 → excellent.
//   at risk, important segments first, then the latest fall first, then by id:
//     m-h06 (important_maintain), m-h01, m-h02, m-h03 (general_maintain), m-h04
//     (general_value).

pub const TUTOR: &str = "t-h";
pub const GROUP: &str = "g-h";
pub const WATERMARK: &str = "2026-04-10T00:00:00.000Z";
pub const AT_RISK_ORDER: [&str; 5] = ["m-h06", "m-h01", "m-h02", "m-h03", "m-h04"];

const T: i64 = 1_772_323_200_000;
const DAY: i64 = 86_400_000;

/// The scenario as (key, JSON) pairs, in event-time order.
pub fn scenario() -> Vec<(String, String)> {
    let mut events = Vec::new();
    for i in 1..=12 {
        let m = format!("m-h{i:02}");
        events.push((
            m.clone(),
            format!(
                r#"{{"event_id":"p-{m}","member_id":"{m}","ts":{T},"type":"member","group_id":"{GROUP}","tutor_id":"{TUTOR}","fee_tier":"199","joined_at":"2025-01-25T00:00:00Z"}}"#
            ),
        ));
    }
    let order = |m: &str, day: i64, amount: &str, category: &str| {
        (
            m.to_owned(),
            format!(
                r#"{{"event_id":"o-{m}-{day}","member_id":"{m}","ts":{},"type":"order","order_id":"{m}-{day}","amount":"{amount}","category":"{category}"}}"#,
                T + day * DAY
            ),
        )
    };
    for m in ["m-h01", "m-h02", "m-h03"] {
        events.push(order(m, 5, "100.00", "home"));
    }
    events.push(order("m-h04", 20, "1200.00", "skincare"));
    events.push(order("m-h06", 32, "1500.00", "mother_baby"));
    events.push(order("m-h05", 38, "600.00", "nutrition"));
    events.push((
        "m-h12".to_owned(),
        format!(
            r#"{{"event_id":"l-end","member_id":"m-h12","ts":{},"type":"login"}}"#,
            T + 40 * DAY + 5 * 60_000
        ),
    ));
    events
}

/// A `churnwatch run` whose state holds the tutor scenario.
pub struct OnScenario {
    pub cw: Churnwatch,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub input: String,
    pub warnings: String,
}

/// Produces [`scenario`] to a fresh topic and starts `churnwatch run` on it with `extra`
/// settings; returns once the state has reached the scenario's watermark.
pub fn start_on_scenario(name: &str, extra: &[String], token: Option<&str>) -> OnScenario {
    require_broker();
    let input = unique(&format!("{name}-in"));
    create_topic(&input, 1);
    let records: Vec<Record> = scenario()
        .into_iter()
        .map(|(key, json)| Record::new(&key, json))
        .collect();
    produce(&input, &records);
    let warnings = unique(&format!("{name}-warnings"));
    let mut sets = settings(
        &unique(&format!("{name}-group")),
        &input,
        "json",
        &warnings,
        &unique(&format!("{name}-dlq")),
    );
    sets.extend(extra.iter().cloned());
    let mut cw = Churnwatch::start(&sets, None, &unique(name));
    let base = format!("http://{}", cw.http_address());
    let url = format!("{base}/v1/tutors/{TUTOR}/at-risk");
    wait_for("the scenario's watermark", Duration::from_secs(60), || {
        let reply = get(&url, token);
        (reply.status == 200 && reply.json()["as_of"] == WATERMARK).then_some(())
    });
    OnScenario {
        cw,
        base,
        input,
        warnings,
    }
}
