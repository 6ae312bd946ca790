//! Local HTTP receivers that behave like the real services the notifier delivers to, for
//! the delivery tests and the notifier bench: each checks what the real one checks (the
//! robot's key, DingTalk's signature and its clock, the Standard Webhooks signature, the
//! 4096-byte WeCom limit), answers the way it answers (200 with an `errcode`, Slack's
//! 429 with `Retry-After`), keeps the real rate limits, and records every message it
//! accepted with the warning ids (or chat references) it carried. A receiver can be
//! switched down (503) for a while.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use churnwatch::notify::channel::text::REF_CHARS;
use churnwatch::notify::request::{verify_dingtalk, verify_webhook};

pub const WECOM_KEY: &str = "wecom-good-key";
pub const DINGTALK_TOKEN: &str = "ding-token";
pub const DINGTALK_SECRET: &str = "SECding0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One message a receiver accepted.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// `wecom`, `dingtalk`, `slack/<name>` or `webhook/<name>`.
    pub receiver: String,
    /// Warning ids (webhooks) or chat references (the first [`REF_CHARS`] of each id).
    pub refs: Vec<String>,
    pub at: Instant,
    /// The wall clock when it was accepted (epoch ms), for latencies from a warning's
    /// `emitted_at` (the notifier bench: same machine, same clock).
    pub wall_ms: i64,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<Accepted>,
    windows: HashMap<String, VecDeque<Instant>>,
    down_until: HashMap<String, Instant>,
    refused: BTreeMap<String, usize>,
    delay: Duration,
}

#[derive(Clone, Default)]
pub struct Receivers {
    inner: Arc<Mutex<Inner>>,
    pub address: Option<SocketAddr>,
}

fn lock(r: &Receivers) -> std::sync::MutexGuard<'_, Inner> {
    r.inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The chat references in a message ("· ref 83dbd50b08e6").
pub fn chat_refs(content: &str) -> Vec<String> {
    content
        .split("· ref ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect()
        })
        .collect()
}

/// The chat reference of a warning id.
pub fn short(id: &str) -> String {
    id.chars().take(REF_CHARS).collect()
}

impl Receivers {
    /// Starts the receivers on a loopback port of their own, on a thread of their own.
    pub fn start() -> Receivers {
        let mut receivers = Receivers::default();
        let state = receivers.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the receivers");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("binding the receivers");
                tx.send(listener.local_addr().expect("an address"))
                    .expect("reporting the address");
                let app = Router::new()
                    .route("/cgi-bin/webhook/send", post(wecom))
                    .route("/robot/send", post(dingtalk))
                    .route("/slack/{name}", post(slack))
                    .route("/webhook/{name}", post(webhook))
                    .with_state(state);
                axum::serve(listener, app)
                    .await
                    .expect("serving the receivers");
            });
        });
        receivers.address = Some(rx.recv().expect("the receivers' address"));
        receivers
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.address.expect("started"))
    }

    /// Every receiver waits this long before answering (a slow service).
    pub fn set_delay(&self, delay: Duration) {
        lock(self).delay = delay;
    }

    /// `receiver` answers 503 for `span` from now.
    pub fn down_for(&self, receiver: &str, span: Duration) {
        lock(self)
            .down_until
            .insert(receiver.to_owned(), Instant::now() + span);
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        lock(self).accepted.clone()
    }

    /// How often each reference (or id) was accepted, over every receiver.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for a in lock(self).accepted.iter() {
            for r in &a.refs {
                *counts.entry(r.clone()).or_default() += 1;
            }
        }
        counts
    }

    /// Answers refused, by receiver and reason (`wecom:45009`, `webhook/a:503`, …).
    pub fn refused(&self) -> BTreeMap<String, usize> {
        lock(self).refused.clone()
    }

    fn refuse(&self, what: String) {
        *lock(self).refused.entry(what).or_default() += 1;
    }

    fn down(&self, receiver: &str) -> bool {
        lock(self)
            .down_until
            .get(receiver)
            .is_some_and(|until| Instant::now() < *until)
    }

    /// Takes one message under `max` per `span` for `key`; false when over.
    fn within_rate(&self, key: &str, max: usize, span: Duration) -> bool {
        let mut inner = lock(self);
        let now = Instant::now();
        let window = inner.windows.entry(key.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= span)
        {
            window.pop_front();
        }
        if window.len() >= max {
            return false;
        }
        window.push_back(now);
        true
    }

    fn accept(&self, receiver: String, refs: Vec<String>) {
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        lock(self).accepted.push(Accepted {
            receiver,
            refs,
            at: Instant::now(),
            wall_ms,
        });
    }

    async fn pause(&self) {
        let delay = lock(self).delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

fn errcode(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

/// The WeCom group robot: `?key=`, markdown ≤ 4096 bytes, 20 a minute (45009 beyond).
async fn wecom(
    State(r): State<Receivers>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    r.pause().await;
    if r.down("wecom") {
        r.refuse("wecom:503".into());
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if q.get("key").map(String::as_str) != Some(WECOM_KEY) {
        r.refuse("wecom:93000".into());
        return errcode(93000, "invalid webhook url");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return errcode(40001, "invalid json");
    };
    let Some(content) = v["markdown"]["content"]
        .as_str()
        .filter(|_| v["msgtype"] == "markdown")
    else {
        return errcode(40008, "invalid message type");
    };
    if content.len() > 4096 {
        r.refuse("wecom:40058".into());
        return errcode(40058, "content exceed max length");
    }
    if !r.within_rate(&format!("wecom:{WECOM_KEY}"), 20, Duration::from_secs(60)) {
        r.refuse("wecom:45009".into());
        return errcode(45009, "api freq out of limit");
    }
    r.accept("wecom".into(), chat_refs(content));
    errcode(0, "ok")
}

/// The DingTalk robot: `?access_token=&timestamp=&sign=`, the signature checked and the
/// timestamp within an hour of now, as DingTalk does; 20 a minute (130101 beyond).
async fn dingtalk(
    State(r): State<Receivers>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    r.pause().await;
    if q.get("access_token").map(String::as_str) != Some(DINGTALK_TOKEN) {
        return errcode(300001, "token is not exist");
    }
    let (Some(ts), Some(sign)) = (q.get("timestamp"), q.get("sign")) else {
        return errcode(310000, "sign not match");
    };
    // The query extractor has already URL-decoded `sign`; verify_dingtalk decodes again,
    // which leaves Base64 unchanged.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (now_ms - t).abs() < 3_600_000);
    if !fresh || !verify_dingtalk(ts, sign, DINGTALK_SECRET) {
        r.refuse("dingtalk:310000".into());
        return errcode(310000, "sign not match");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return errcode(40001, "invalid json");
    };
    let (Some(text), Some(_title)) = (
        v["markdown"]["text"].as_str(),
        v["markdown"]["title"].as_str(),
    ) else {
        return errcode(40035, "missing markdown text or title");
    };
    if !r.within_rate(
        &format!("dingtalk:{DINGTALK_TOKEN}"),
        20,
        Duration::from_secs(60),
    ) {
        r.refuse("dingtalk:130101".into());
        return errcode(130101, "send too fast, exceed 20 times per minute");
    }
    r.accept("dingtalk".into(), chat_refs(text));
    errcode(0, "ok")
}

/// A Slack incoming webhook: `{"text":…}`, about one a second, 429 with `Retry-After`.
async fn slack(State(r): State<Receivers>, Path(name): Path<String>, body: Bytes) -> Response {
    r.pause().await;
    let receiver = format!("slack/{name}");
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let Some(text) = v["text"].as_str() else {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    };
    if !r.within_rate(&receiver, 1, Duration::from_secs(1)) {
        r.refuse(format!("{receiver}:429"));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "rate_limited",
        )
            .into_response();
    }
    r.accept(receiver, chat_refs(text));
    "ok".into_response()
}

/// A generic webhook: the Standard Webhooks signature verified, the batch's warning ids
/// recorded.
async fn webhook(
    State(r): State<Receivers>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    r.pause().await;
    let receiver = format!("webhook/{name}");
    if r.down(&receiver) {
        r.refuse(format!("{receiver}:503"));
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = String::from_utf8_lossy(&body);
    if !verify_webhook(
        h("webhook-id"),
        h("webhook-timestamp"),
        &text,
        h("webhook-signature"),
        WEBHOOK_SECRET,
    ) {
        r.refuse(format!("{receiver}:401"));
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let ids = v["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["warning_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    r.accept(receiver, ids);
    StatusCode::NO_CONTENT.into_response()
}

/// A warning as the engine writes it to the warnings topic, for the notifier's tests and
/// bench: a member's fall (`important_value` → `important_maintain`) with her figures, or
/// with `group` set a group below its benchmark with the group's.
pub struct WarningRecord<'a> {
    pub id: &'a str,
    pub kind: churnwatch::proto::v1::WarningKind,
    pub severity: churnwatch::proto::v1::Severity,
    pub member: Option<String>,
    pub group: String,
    pub tutor: &'a str,
    pub event_time_ms: i64,
    pub emitted_at_ms: i64,
    pub notify: bool,
}

impl WarningRecord<'_> {
    pub fn encode(&self) -> Vec<u8> {
        use churnwatch::proto::v1;
        use prost::Message as _;
        let figures = match self.member {
            None => v1::warning::Figures::Group(v1::GroupFigures {
                members: 120,
                active: 30,
                activity_bp: 2_500,
                benchmark_bp: 3_600,
                output_per_active_fen: 31_000,
                output_target_fen: 45_000,
                weakest_categories: vec!["fresh_food".into()],
                members_needed: 14,
            }),
            Some(_) => v1::warning::Figures::Member(v1::MemberFigures {
                recency_days: Some(8),
                f30: 2,
                m30_fen: 120_000,
                f90: 4,
                lifetime_orders: 9,
                lifetime_amount_fen: 880_000,
                ..Default::default()
            }),
        };
        v1::Warning {
            warning_id: self.id.to_owned(),
            kind: self.kind as i32,
            severity: self.severity as i32,
            member_id: self.member.clone(),
            group_id: Some(self.group.clone()),
            tutor_id: Some(self.tutor.to_owned()),
            from: Some("important_value".into()),
            to: Some("important_maintain".into()),
            event_time_ms: self.event_time_ms,
            emitted_at_ms: self.emitted_at_ms,
            figures: Some(figures),
            action: "personal check-in; look for an unresolved after-sales issue".into(),
            notify: self.notify,
        }
        .encode_to_vec()
    }
}
