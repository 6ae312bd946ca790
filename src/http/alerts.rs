//! The live alert stream, `GET /v1/tutors/{id}/alerts`: Server-Sent Events
//! (`text/event-stream`) of one tutor's alerts from the [`crate::alerts_feed`] hub. Each
//! alert is one `alert` event whose `data:` is the warning's JSON line (SPEC §7) and whose
//! `id:` lets a reconnecting browser resume with `Last-Event-ID` (or, for the page's first
//! connection, `?since=`, the id the page was rendered at). A comment every 15 s keeps
//! proxies from timing the stream out; after `http.alerts_stream_lifetime` the server
//! ends the stream and the browser reconnects and resumes where it was.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use prometheus::IntGauge;
use serde::Deserialize;
use tracing::info;

use super::AppState;
use crate::alerts_feed::{LiveAlert, Subscription};

/// Between two keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before it reconnects (the stream's `retry:`).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
pub(super) struct Since {
    since: Option<String>,
}

/// Counts an open stream in `churnwatch_live_alert_subscribers` while it lives.
struct Open(IntGauge);

impl Open {
    fn new(gauge: IntGauge) -> Open {
        gauge.inc();
        Open(gauge)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn event(subscription: &Subscription, alert: &LiveAlert) -> Event {
    Event::default()
        .event("alert")
        .id(subscription.feed().id(alert.seq).to_string())
        // A JSON line holds no newline: one `data:` line.
        .data(&alert.json)
}

pub(super) async fn stream(
    State(state): State<AppState>,
    Path(tutor): Path<String>,
    headers: HeaderMap,
    UrlQuery(since): UrlQuery<Since>,
) -> Response {
    // A reconnect's `Last-Event-ID` is newer than the `since` of the URL it reuses.
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(since.since);
    let subscription = state.feed.subscribe(&tutor, last.as_deref());
    info!(
        tutor = %tutor,
        last_event_id = last.as_deref().unwrap_or("-"),
        resume = subscription.resume().name(),
        resent = subscription.backlog_len(),
        "live alerts: stream opened"
    );
    let open = Open::new(state.metrics.live_subscribers.clone());
    let deadline = tokio::time::Instant::now() + state.stream_lifetime;
    let hello = Event::default()
        .retry(RECONNECT_AFTER)
        .comment("churnwatch live alerts");
    let alerts = futures_util::stream::unfold(
        (subscription, open, Arc::<str>::from(tutor)),
        move |(mut subscription, open, tutor)| async move {
            tokio::select! {
                next = subscription.next() => {
                    let alert = next?;
                    let event = event(&subscription, &alert);
                    Some((Ok::<Event, Infallible>(event), (subscription, open, tutor)))
                }
                () = tokio::time::sleep_until(deadline) => {
                    info!(tutor = %tutor, "live alerts: stream lifetime over; the browser reconnects");
                    None
                }
            }
        },
    );
    let stream = futures_util::stream::once(async { Ok(hello) }).chain(alerts);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // nginx and its kind would otherwise buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    //! The route over a real socket, in process: a bound server on its own runtime, a
    //! blocking client, the feed published from the test.

    use std::io::{BufRead, BufReader, Read};
    use std::time::Instant;

    use super::*;
    use crate::alerts_feed::{AlertFeed, PendingAlert};
    use crate::config::{Config, HttpConfig};
    use crate::engine::{Engine, TimeMode};
    use crate::http::{bind, live_key, Health};
    use crate::metrics::Metrics;
    use crate::model::Span;

    struct Edge {
        base: String,
        feed: Arc<AlertFeed>,
        metrics: Arc<Metrics>,
    }

    /// A server with `token` and `lifetime`; its engine knows one tutor, `t1`.
    fn serve(token: Option<&str>, lifetime: Span) -> Edge {
        let config = HttpConfig {
            bind: "127.0.0.1:0".to_owned(),
            token: token.map(str::to_owned),
            alerts_stream_lifetime: lifetime,
            ..HttpConfig::default()
        };
        let metrics = Arc::new(Metrics::new());
        let feed = Arc::new(AlertFeed::with_capacity(64, 0xfeed));
        let (client, inbox) = crate::query::channel(16);
        let server = bind(
            &config,
            metrics.clone(),
            Health::default(),
            client,
            feed.clone(),
        )
        .expect("binding a free port");
        let base = format!("http://{}", server.local_addr().expect("an address"));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let _ = runtime.block_on(server.serve());
        });
        std::thread::spawn(move || {
            let mut engine = Engine::new(&Config::default().engine(), TimeMode::Replay);
            let line = r#"{"event_id":"p1","member_id":"m1","ts":"2026-03-01T00:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"199","joined_at":"2026-02-01T00:00:00Z"}"#;
            let event = crate::decode::JsonDecoder::new(64 * 1024)
                .decode(line.as_bytes())
                .expect("a member event");
            let mut out = Vec::new();
            engine
                .process(0, &event, event.ts, &mut out)
                .expect("applied");
            loop {
                inbox.serve(Some(&engine), 16);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Edge {
            base,
            feed,
            metrics,
        }
    }

    fn alert(tutor: &str, n: u32) -> PendingAlert {
        let mut w = crate::output::fixtures::member(crate::engine::Detail::None, "x");
        w.id = crate::engine::WarningId(u128::from(n));
        w.tutor_id = Some(crate::model::TutorId::new(tutor));
        w.notify = true;
        PendingAlert::of(&w).expect("a tutor alert")
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into()
    }

    /// An open stream: status, headers, and its body read event by event.
    struct Stream {
        status: u16,
        content_type: String,
        set_cookie: Option<String>,
        body: BufReader<Box<dyn Read + Send>>,
    }

    /// One event block: its `field: value` lines.
    type Block = Vec<(String, String)>;

    impl Stream {
        fn block(&mut self) -> Option<Block> {
            let mut block = Vec::new();
            loop {
                let mut line = String::new();
                if self.body.read_line(&mut line).ok()? == 0 {
                    return None;
                }
                let line = line.trim_end_matches('\n');
                if line.is_empty() {
                    return Some(block);
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                block.push((field.to_owned(), value.trim_start().to_owned()));
            }
        }

        /// The next `n` alert events as (id, data).
        fn alerts(&mut self, n: usize) -> Vec<(String, serde_json::Value)> {
            let mut got = Vec::new();
            while got.len() < n {
                let block = self.block().expect("the stream ended early");
                let field = |name: &str| {
                    block
                        .iter()
                        .find(|(f, _)| f == name)
                        .map(|(_, v)| v.clone())
                };
                if field("event").as_deref() == Some("alert") {
                    let data = field("data").expect("an alert has data");
                    let json = serde_json::from_str(&data).expect("data is a JSON line");
                    got.push((field("id").expect("an alert has an id"), json));
                }
            }
            got
        }
    }

    fn open(url: &str, headers: &[(&str, &str)]) -> Stream {
        let mut request = agent().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().expect("a response");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type").unwrap_or_default();
        let set_cookie = header("set-cookie");
        Stream {
            status,
            content_type,
            set_cookie,
            body: BufReader::new(Box::new(response.into_body().into_reader())),
        }
    }

    fn wait_for_subscribers(metrics: &Metrics, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.live_subscribers.get() != n {
            assert!(Instant::now() < deadline, "never {n} open streams");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn warning_ids(alerts: &[(String, serde_json::Value)]) -> Vec<String> {
        alerts
            .iter()
            .map(|(_, w)| w["warning_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn hex(n: u32) -> String {
        format!("{n:032x}")
    }

    #[test]
    fn the_stream_is_server_sent_events_of_her_alerts_each_with_an_id() {
        let edge = serve(None, Span::minutes(10));
        edge.feed.publish([alert("t1", 1)]);
        let mut stream = open(&format!("{}/v1/tutors/t1/alerts", edge.base), &[]);
        assert_eq!(stream.status, 200);
        assert_eq!(stream.content_type, "text/event-stream");
        let hello = stream.block().expect("the opening block");
        assert!(
            hello.contains(&("retry".to_owned(), "3000".to_owned())),
            "{hello:?}"
        );
        wait_for_subscribers(&edge.metrics, 1);
        edge.feed
            .publish([alert("t1", 2), alert("t2", 3), alert("t1", 4)]);
        let got = stream.alerts(2);
        assert_eq!(
            got.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["feed-2", "feed-4"],
            "her alerts after the connection, with their feed ids"
        );
        assert_eq!(warning_ids(&got), [hex(2), hex(4)]);
        assert_eq!(got[0].1["tutor_id"], "t1");
        assert_eq!(got[0].1["notify"], true);
        drop(stream);
        wait_for_subscribers(&edge.metrics, 0);
    }

    #[test]
    fn a_reconnect_with_last_event_id_gets_what_it_missed_and_nothing_twice() {
        let edge = serve(None, Span::minutes(10));
        edge.feed.publish([
            alert("t1", 1),
            alert("t1", 2),
            alert("t2", 3),
            alert("t1", 4),
        ]);
        let url = format!("{}/v1/tutors/t1/alerts", edge.base);
        let mut resumed = open(&url, &[("Last-Event-ID", "feed-1")]);
        assert_eq!(warning_ids(&resumed.alerts(2)), [hex(2), hex(4)]);
        // The page's first connection names where it was rendered; a reconnect's header,
        // newer, wins over the URL it reuses.
        let mut first = open(&format!("{url}?since=feed-2"), &[]);
        assert_eq!(warning_ids(&first.alerts(1)), [hex(4)]);
        let mut again = open(
            &format!("{url}?since=feed-1"),
            &[("Last-Event-ID", "feed-4")],
        );
        wait_for_subscribers(&edge.metrics, 3);
        edge.feed.publish([alert("t1", 5)]);
        assert_eq!(warning_ids(&again.alerts(1)), [hex(5)], "nothing before 5");
        assert_eq!(warning_ids(&resumed.alerts(1)), [hex(5)]);
        // From another process: all the ring holds for her.
        let mut other = open(&url, &[("Last-Event-ID", "0bad-3")]);
        assert_eq!(
            warning_ids(&other.alerts(4)),
            [hex(1), hex(2), hex(4), hex(5)]
        );
    }

    #[test]
    fn the_server_ends_a_stream_after_its_lifetime() {
        let edge = serve(None, Span::millis(300));
        let started = Instant::now();
        let mut stream = open(&format!("{}/v1/tutors/t1/alerts", edge.base), &[]);
        let mut rest = String::new();
        stream
            .body
            .read_to_string(&mut rest)
            .expect("the stream ends cleanly");
        assert!(started.elapsed() >= Duration::from_millis(300));
        wait_for_subscribers(&edge.metrics, 0);
    }

    #[test]
    fn a_token_guards_the_stream_and_the_pages_cookie_opens_it() {
        let token = "s3cret-token";
        let edge = serve(Some(token), Span::minutes(10));
        let url = format!("{}/v1/tutors/t1/alerts", edge.base);
        let bearer = format!("Bearer {token}");
        let refused = open(&url, &[]);
        assert_eq!(refused.status, 401, "no token");
        for wrong in [
            vec![("Authorization", "Bearer nope")],
            vec![("Cookie", "churnwatch_live=0123")],
            // The token itself is not the cookie's value.
            vec![("Cookie", "churnwatch_live=s3cret-token")],
        ] {
            assert_eq!(open(&url, &wrong).status, 401, "{wrong:?}");
        }
        assert_eq!(
            open(&format!("{url}?token={token}"), &[]).status,
            401,
            "never a token in a URL"
        );
        assert_eq!(open(&url, &[("Authorization", &bearer)]).status, 200);

        // The page, fetched with the token, hands the browser the stream's cookie.
        let page = open(
            &format!("{}/tutors/t1", edge.base),
            &[("Authorization", &bearer)],
        );
        assert_eq!(page.status, 200);
        let cookie = page.set_cookie.expect("the page sets the live cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains(token), "{cookie}");
        let pair = cookie.split(';').next().unwrap_or_default().to_owned();
        assert_eq!(
            pair,
            format!("churnwatch_live={}", live_key(token).unwrap_or_default())
        );
        let mut stream = open(&url, &[("Cookie", &format!("other=1; {pair}"))]);
        assert_eq!(stream.status, 200);
        assert_eq!(stream.content_type, "text/event-stream");
        // The bearer's stream above is closed: this one alone is open.
        wait_for_subscribers(&edge.metrics, 1);
        edge.feed.publish([alert("t1", 9)]);
        assert_eq!(warning_ids(&stream.alerts(1)), [hex(9)]);
        // The cookie opens the streams only.
        let at_risk = open(
            &format!("{}/v1/tutors/t1/at-risk", edge.base),
            &[("Cookie", &pair)],
        );
        assert_eq!(at_risk.status, 401);
    }
}
