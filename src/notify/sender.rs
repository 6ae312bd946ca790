//! The delivery edge of one channel: a task that drains the channel's bounded queue in
//! order, one HTTP request at a time, within the receiver's rate, retrying as
//! [`super::retry`] judges, and reporting how each payload ended. One task per channel,
//! so a slow or dead receiver holds up only its own queue; when that queue is full the
//! service parks new payloads on the retry topic instead of waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::channel;
use super::directory::{Directory, SecretSource};
use super::ledger::Source;
use super::metrics::NotifyMetrics;
use super::outbox::Payload;
use super::request;
use super::retry::{judge, Answer, Backoff, Verdict};

/// One payload on its way.
#[derive(Clone, Debug)]
pub struct Job {
    pub payload: Payload,
    /// When it was first tried (wall-clock ms), carried through parking, so that
    /// `give_up_after` counts from the first failure however often it was parked.
    pub first_tried_ms: Option<i64>,
    /// The retry-topic record it came back from, if it was parked.
    pub parked: Option<Source>,
}

/// How a job ended.
#[derive(Debug)]
pub enum Done {
    /// The receiver answered 2xx (or its robot's code 0), at this wall-clock ms.
    Delivered { job: Job, at_ms: i64 },
    /// Trying again cannot help, or it failed for `give_up_after`: the reason.
    Refused { job: Job, reason: String },
    /// Shutdown came first: neither delivered nor given up, so its offsets stay
    /// uncommitted and the next start sends it.
    Interrupted { job: Job },
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    pub backoff: Backoff,
    pub give_up_after: Duration,
}

/// The wall clock in epoch milliseconds (the edge's, passed in so tests can move it).
pub type Clock = fn() -> i64;

pub use crate::clock::wall_ms;

/// The receiver's own limit, kept again here for payloads that come back from the retry
/// topic (the outbox limited them once, when they were first released).
struct Window {
    sent: VecDeque<Instant>,
}

impl Window {
    async fn wait_turn(&mut self, kind: super::directory::ChannelKind) {
        let Some((max, span)) = channel::limits(kind).rate else {
            return;
        };
        let span = Duration::from_millis(span.as_millis().max(0) as u64);
        loop {
            let now = Instant::now();
            while self
                .sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= span)
            {
                self.sent.pop_front();
            }
            match self.sent.front() {
                Some(oldest) if self.sent.len() >= max as usize => {
                    tokio::time::sleep_until((*oldest + span).into()).await;
                }
                _ => break,
            }
        }
        self.sent.push_back(Instant::now());
    }
}

/// What one attempt got back.
async fn attempt(
    client: &reqwest::Client,
    r: &request::Request,
    timeout: Duration,
) -> Result<(u16, Option<String>, Vec<u8>), Answer<'static>> {
    let mut builder = client.post(&r.url).timeout(timeout).body(r.body.clone());
    for (name, value) in &r.headers {
        builder = builder.header(*name, value);
    }
    let response = builder.send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.map_err(classify)?;
    Ok((status, retry_after, body.to_vec()))
}

fn classify(e: reqwest::Error) -> Answer<'static> {
    if e.is_timeout() {
        Answer::Timeout
    } else {
        // Without the URL: it may carry a robot's key.
        Answer::Unreachable(e.without_url().to_string())
    }
}

/// Drains `jobs` for channel `name` until the queue closes or `stop` turns true; keeps
/// `failing` true from a failed attempt until the next delivery.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    name: String,
    mut jobs: mpsc::Receiver<Job>,
    directory: watch::Receiver<Arc<Directory>>,
    client: reqwest::Client,
    settings: Settings,
    done: mpsc::UnboundedSender<(String, Done)>,
    metrics: Arc<NotifyMetrics>,
    failing: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
    clock: Clock,
) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        xxhash_rust::xxh3::xxh3_64(name.as_bytes()) ^ clock() as u64,
    );
    let mut window = Window {
        sent: VecDeque::new(),
    };
    loop {
        let job = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            job = jobs.recv() => match job { Some(j) => j, None => return },
        };
        metrics.queue_depth(&name, jobs.len());
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => None,
            d = deliver(&name, job.clone(), &directory, &client, &settings, &metrics, &failing, &mut window, &mut rng, clock) => Some(d),
        };
        let finished = outcome.unwrap_or(Done::Interrupted { job });
        if done.send((name.clone(), finished)).is_err() {
            return;
        }
    }
}

/// One place for a channel's health: the flag the retry loop reads (a failing channel's
/// due retries are parked again, a merely busy one's wait) and the gauge an operator's
/// alert reads must never disagree.
fn mark_failing(name: &str, flag: &AtomicBool, metrics: &NotifyMetrics, failing: bool) {
    flag.store(failing, Ordering::Relaxed);
    metrics.channel_failing(name, failing);
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    name: &str,
    mut job: Job,
    directory: &watch::Receiver<Arc<Directory>>,
    client: &reqwest::Client,
    settings: &Settings,
    metrics: &NotifyMetrics,
    failing: &AtomicBool,
    window: &mut Window,
    rng: &mut impl Rng,
    clock: Clock,
) -> Done {
    let mut tries = 0u32;
    loop {
        // The directory of this attempt: a reload may have changed the URL or the secret.
        let dir = directory.borrow().clone();
        let Some(channel) = dir.channels.get(name) else {
            let reason = format!("channel `{name}` is no longer in the tutor directory");
            return Done::Refused { job, reason };
        };
        let kind = channel.kind;
        window.wait_turn(kind).await;
        let now = clock();
        let request = match request::build(channel, &job.payload, now, SecretSource::read) {
            Ok(r) => r,
            Err(e) => {
                return Done::Refused {
                    job,
                    reason: format!("{e:#}"),
                }
            }
        };
        let got = attempt(client, &request, settings.timeout).await;
        let answer = match &got {
            Ok((status, retry_after, body)) => Answer::Http {
                status: *status,
                retry_after: retry_after.as_deref(),
                body,
            },
            Err(a) => a.clone(),
        };
        match judge(kind, &answer, now.div_euclid(1000)) {
            Verdict::Delivered => {
                mark_failing(name, failing, metrics, false);
                return Done::Delivered {
                    job,
                    at_ms: clock(),
                };
            }
            Verdict::Permanent(reason) => return Done::Refused { job, reason },
            Verdict::Retry {
                reason,
                detail,
                not_before,
            } => {
                metrics.retry(kind, reason);
                mark_failing(name, failing, metrics, true);
                let first = *job.first_tried_ms.get_or_insert(now);
                let failing = Duration::from_millis((clock() - first).max(0) as u64);
                if failing >= settings.give_up_after {
                    let reason = format!(
                        "gave up after {} s of failures; last: {detail}",
                        failing.as_secs()
                    );
                    return Done::Refused { job, reason };
                }
                let wait = settings.backoff.after(tries, rng.gen::<f64>(), not_before);
                debug!(channel = name, %detail, wait_ms = wait.as_millis() as u64, "retrying");
                if tries == 3 {
                    warn!(channel = name, %detail, "a channel keeps failing; retrying");
                }
                tries = tries.saturating_add(1);
                tokio::time::sleep(wait).await;
            }
        }
    }
}
