//! The demo's notifier: the tutor-alert policy, outbox and a real HTTP sender delivering
//! to a local receiver inside the demo process, so that `churnwatch demo` shows alerts
//! reaching tutors with no broker and no setup. The receiver checks the Standard
//! Webhooks signature as a real endpoint would; what it accepted comes back as lines
//! for the demo to print. Time is the stream's own (the generator runs through simulated
//! days), so quiet hours and the 09:00 digest are seen at their simulated instants.

use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::engine::Warning;
use crate::model::EventTime;
use crate::notify::directory::Directory;
use crate::notify::metrics::NotifyMetrics;
use crate::notify::retry::Backoff;
use crate::notify::sender::{self, Done, Job};
use crate::notify::{Alert, Outbox, Policy};

/// Tutors the demo directory names (the generator's `t001`, `t002`, …).
const DEMO_TUTORS: u32 = 400;
const SECRET: &str = "whsec_ZGVtby1vbmx5LW5vdC1hLXNlY3JldA==";

pub struct DemoNotifier {
    alerts: mpsc::UnboundedSender<Alert>,
    reports: std_mpsc::Receiver<String>,
    finished: std_mpsc::Receiver<()>,
    pub receiver: std::net::SocketAddr,
}

fn directory(receiver: std::net::SocketAddr, page: &str, secret_file: &str) -> String {
    let mut d = format!(
        "page_url = \"{page}\"\nfallback = \"local\"\n[channels.local]\nkind = \"webhook\"\n\
         url = \"http://{receiver}/alerts\"\nsecret_file = \"{secret_file}\"\n"
    );
    for t in 1..=DEMO_TUTORS {
        d.push_str(&format!(
            "[tutors.t{t:03}]\nname = \"Tutor {t:03}\"\nchannels = [\"local\"]\n"
        ));
    }
    d
}

impl DemoNotifier {
    /// Starts the receiver and the delivery lane on a runtime of their own.
    pub fn start(page_url: &str) -> anyhow::Result<DemoNotifier> {
        let secret_file =
            std::env::temp_dir().join(format!("churnwatch-demo-secret-{}", std::process::id()));
        std::fs::write(&secret_file, SECRET).context("writing the demo's webhook secret")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let receiver = listener.local_addr()?;
        let dir = Directory::from_toml(&directory(
            receiver,
            page_url,
            &secret_file.display().to_string(),
        ))?;
        let (alerts, inbox) = mpsc::unbounded_channel();
        let (report_tx, reports) = std_mpsc::channel();
        let (done_tx, finished) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("demo-notify".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(receive(listener, report_tx.clone()));
                    lane(dir, inbox, report_tx).await;
                    let _ = std::fs::remove_file(&secret_file);
                    let _ = done_tx.send(());
                });
            })?;
        Ok(DemoNotifier {
            alerts,
            reports,
            finished,
            receiver,
        })
    }

    /// Offers a warning as the notifier would read it from the warnings topic.
    pub fn offer(&self, w: &Warning) {
        let record = prost::Message::encode_to_vec(&crate::output::to_protobuf(w));
        if let Ok(alert) = Alert::from_protobuf(&record) {
            let _ = self.alerts.send(alert);
        }
    }

    /// Lines to print: deliveries the receiver accepted since the last call.
    pub fn reports(&self) -> Vec<String> {
        self.reports.try_iter().collect()
    }

    /// The stream ended: what is still held (quiet hours, digests) goes now; waits for
    /// the last deliveries at most `timeout`, and returns their lines.
    pub fn finish(self, timeout: Duration) -> Vec<String> {
        drop(self.alerts);
        let _ = self.finished.recv_timeout(timeout);
        self.reports.try_iter().collect()
    }
}

async fn lane(
    dir: Directory,
    mut inbox: mpsc::UnboundedReceiver<Alert>,
    reports: std_mpsc::Sender<String>,
) {
    let dir = Arc::new(dir);
    let (dir_tx, dir_rx) = watch::channel(dir.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (jobs_tx, jobs_rx) = mpsc::channel(1024);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let settings = sender::Settings {
        timeout: Duration::from_secs(5),
        backoff: Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        },
        give_up_after: Duration::from_secs(30),
    };
    let client = reqwest::Client::new();
    tokio::spawn(sender::run(
        "local".into(),
        jobs_rx,
        dir_rx,
        client,
        settings,
        done_tx,
        Arc::new(NotifyMetrics::new()),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
        stop_rx,
        sender::wall_ms,
    ));
    let mut policy = Policy::new(100_000);
    let mut outbox = Outbox::default();
    let mut clock = EventTime::MIN;
    let mut messages = Vec::new();
    let mut payloads = Vec::new();
    let mut sent = 0usize;
    let busy = reports.clone();
    let send = |payloads: &mut Vec<crate::notify::Payload>, sent: &mut usize| {
        for payload in payloads.drain(..) {
            *sent += 1;
            let job = Job {
                payload,
                first_tried_ms: None,
                parked: None,
            };
            if jobs_tx.try_send(job).is_err() {
                let _ = busy.send("  (the demo's sender is busy: a message skipped)".into());
            }
        }
    };
    while let Some(alert) = inbox.recv().await {
        let now = alert.emitted_at.max(clock);
        clock = now;
        release(&dir, &mut policy, &mut outbox, now, &mut payloads);
        policy.offer(&dir, alert, now, &mut messages);
        for m in messages.drain(..) {
            outbox.push(&m);
        }
        outbox.poll(&dir, now, &mut payloads);
        send(&mut payloads, &mut sent);
    }
    release(
        &dir,
        &mut policy,
        &mut outbox,
        EventTime::MAX,
        &mut payloads,
    );
    send(&mut payloads, &mut sent);
    let mut finished = 0;
    while finished < sent {
        match tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
            Ok(Some((_, Done::Refused { reason, .. }))) => {
                finished += 1;
                let _ = reports.send(format!("  ✗ delivery refused: {reason}"));
            }
            Ok(Some(_)) => finished += 1,
            _ => break,
        }
    }
    let _ = stop_tx.send(true);
    drop(dir_tx);
}

/// Steps through every instant up to `until` at which something held becomes due.
fn release(
    dir: &Directory,
    policy: &mut Policy,
    outbox: &mut Outbox,
    until: EventTime,
    payloads: &mut Vec<crate::notify::Payload>,
) {
    let mut messages = Vec::new();
    while let Some(at) = [policy.next_due(), outbox.next_due(dir)]
        .into_iter()
        .flatten()
        .min()
        .filter(|at| *at <= until)
    {
        policy.tick(dir, at, &mut messages);
        for m in messages.drain(..) {
            outbox.push(&m);
        }
        outbox.poll(dir, at, payloads);
    }
}

/// The local receiver: verifies each delivery's signature, reports what it got.
async fn receive(listener: tokio::net::TcpListener, reports: std_mpsc::Sender<String>) {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let reports = reports.clone();
            async move {
                let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
                let signed = crate::notify::request::verify_webhook(
                    h("webhook-id"),
                    h("webhook-timestamp"),
                    &body,
                    h("webhook-signature"),
                    SECRET,
                );
                if !signed {
                    return StatusCode::UNAUTHORIZED;
                }
                let batch: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let _ = reports.send(describe(&batch));
                StatusCode::NO_CONTENT
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the demo's receiver stopped");
    }
}

/// One line per delivered message, as the receiver saw it.
fn describe(batch: &serde_json::Value) -> String {
    let alerts = batch["alerts"].as_array().map_or(0, Vec::len);
    let kind = match batch["message"].as_str().unwrap_or("") {
        "after_quiet_hours" => "after her quiet hours",
        "digest" => "in her morning digest",
        "merged" => "merged",
        _ => "at once",
    };
    let first = &batch["alerts"][0];
    let what = first["kind"].as_str().unwrap_or("?");
    let who = first["member_id"]
        .as_str()
        .map(|m| format!("member {m}"))
        .or_else(|| first["group_id"].as_str().map(|g| format!("group {g}")))
        .unwrap_or_default();
    let more = if alerts > 1 {
        format!(" and {} more", alerts - 1)
    } else {
        String::new()
    };
    // The demo directory keeps every tutor on the default clock.
    let released = batch["released_at"]
        .as_str()
        .and_then(|t| EventTime::parse_rfc3339(t).ok())
        .map_or("?".to_owned(), |t| {
            crate::notify::local_time::format_local(chrono_tz::Asia::Shanghai, t)
        });
    format!(
        "  ⤷ {released} pushed to {} {kind}: {what} for {who}{more} [signed webhook, verified]",
        batch["desk"].as_str().unwrap_or("?"),
    )
}
