//! The live alert feed: the in-process hub between the edges that emit warnings and the
//! tutor page's event stream (`/v1/tutors/{id}/alerts`). It owns a bounded ring of the
//! most recent tutor alerts (every `notify: true` warning that names a tutor), each with
//! an event id, and one broadcast channel per tutor whose stream is open.
//!
//! Only what is visible downstream is published: the Kafka emitter publishes a
//! transaction's alerts once the transaction has committed (at least once, once the
//! broker has acknowledged them), so an aborted transaction never shows a phantom alert;
//! `demo`, which has no broker, publishes as it emits. The engine knows nothing of it.
//!
//! An event id is `{epoch}-{seq}`: `epoch` names this process (a reconnecting browser may
//! carry an id from an earlier one), `seq` counts alerts published. A subscriber resuming
//! from an id of this process gets her alerts after it from the ring; from an id the ring
//! no longer reaches, or one of another process, she gets everything the ring holds for
//! her (the page de-duplicates by `warning_id`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::engine::Warning;
use crate::model::EventTime;

/// Alerts kept for resuming streams, across all tutors.
pub const RING_CAPACITY: usize = 4_096;
/// Alerts queued per tutor for a stream that has not read them yet; a stream further
/// behind catches up from the ring.
const CHANNEL_CAPACITY: usize = 64;

/// An alert as the stream sends it.
#[derive(Debug, PartialEq, Eq)]
pub struct LiveAlert {
    /// Its place in the feed: the `seq` of its event id.
    pub seq: u64,
    pub tutor_id: Arc<str>,
    /// The warning's id, 32 hex digits: the page de-duplicates by it.
    pub warning_id: String,
    pub event_time: EventTime,
    /// The warning as one JSON line of the SPEC §7 contract, without its `\n`.
    pub json: String,
}

/// A tutor alert before it is published (waiting for its transaction to commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    tutor_id: Arc<str>,
    warning_id: String,
    event_time: EventTime,
    json: String,
}

impl PendingAlert {
    /// The alert `w` makes, if it is one: `notify: true` and naming a tutor.
    pub fn of(w: &Warning) -> Option<PendingAlert> {
        let tutor = w.tutor_id.as_ref().filter(|_| w.notify)?;
        let mut line = Vec::with_capacity(512);
        // Writing into a Vec cannot fail.
        let _ = crate::output::write_json_line(&mut line, w);
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Some(PendingAlert {
            tutor_id: Arc::from(tutor.as_str()),
            warning_id: w.id.to_string(),
            event_time: w.event_time,
            // The JSON writer writes UTF-8 only.
            json: String::from_utf8_lossy(&line).into_owned(),
        })
    }
}

/// An event id, as `Last-Event-ID` carries it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

impl EventId {
    pub fn parse(text: &str) -> Option<EventId> {
        let (epoch, seq) = text.trim().split_once('-')?;
        Some(EventId {
            epoch: u64::from_str_radix(epoch, 16).ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// How a subscription started.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// No id: from now on.
    Fresh,
    /// From an id of this process the ring still reaches: nothing missed.
    After(u64),
    /// From an id the ring no longer reaches: everything it holds for her.
    OutOfRing,
    /// From an id of another process (or not an id at all): everything it holds for her.
    Unknown,
}

impl Resume {
    pub fn name(self) -> &'static str {
        match self {
            Resume::Fresh => "fresh",
            Resume::After(_) => "after",
            Resume::OutOfRing => "out_of_ring",
            Resume::Unknown => "unknown_id",
        }
    }
}

struct Ring {
    capacity: usize,
    /// The seq the next alert gets; the first is 1, so 0 means "before everything".
    next_seq: u64,
    alerts: VecDeque<Arc<LiveAlert>>,
    channels: HashMap<Arc<str>, broadcast::Sender<Arc<LiveAlert>>>,
}

impl Ring {
    fn head(&self) -> u64 {
        self.next_seq - 1
    }

    /// The seq of the oldest alert held (or the next one, when none is).
    fn oldest(&self) -> u64 {
        self.alerts.front().map_or(self.next_seq, |a| a.seq)
    }

    fn hers_after(&self, tutor: &str, after: u64) -> VecDeque<Arc<LiveAlert>> {
        self.alerts
            .iter()
            .filter(|a| a.seq > after && &*a.tutor_id == tutor)
            .cloned()
            .collect()
    }
}

pub struct AlertFeed {
    epoch: u64,
    ring: Mutex<Ring>,
}

impl fmt::Debug for AlertFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertFeed")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Default for AlertFeed {
    fn default() -> Self {
        AlertFeed::new()
    }
}

impl AlertFeed {
    /// A feed of [`RING_CAPACITY`] with an epoch of its own (the wall clock and the
    /// process id, hashed: two processes started in the same instant differ).
    pub fn new() -> AlertFeed {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut seed = [0u8; 20];
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
        seed[16..].copy_from_slice(&std::process::id().to_le_bytes());
        AlertFeed::with_capacity(RING_CAPACITY, xxhash_rust::xxh3::xxh3_64(&seed))
    }

    pub fn with_capacity(capacity: usize, epoch: u64) -> AlertFeed {
        AlertFeed {
            epoch,
            ring: Mutex::new(Ring {
                capacity: capacity.max(1),
                next_seq: 1,
                alerts: VecDeque::new(),
                channels: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A poisoned lock only means a publisher panicked between two plain writes.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn id(&self, seq: u64) -> EventId {
        EventId {
            epoch: self.epoch,
            seq,
        }
    }

    /// The id of the latest alert (or of "before everything"): a page rendered now
    /// resumes from it and misses nothing published after.
    pub fn cursor(&self) -> EventId {
        self.id(self.lock().head())
    }

    /// Publishes `w` if it is a tutor alert; says whether it was.
    pub fn publish_warning(&self, w: &Warning) -> bool {
        match PendingAlert::of(w) {
            Some(a) => {
                self.publish(std::iter::once(a));
                true
            }
            None => false,
        }
    }

    /// Publishes alerts in order.
    pub fn publish(&self, alerts: impl IntoIterator<Item = PendingAlert>) {
        let mut ring = self.lock();
        for a in alerts {
            let alert = Arc::new(LiveAlert {
                seq: ring.next_seq,
                tutor_id: a.tutor_id,
                warning_id: a.warning_id,
                event_time: a.event_time,
                json: a.json,
            });
            ring.next_seq += 1;
            if ring.alerts.len() == ring.capacity {
                ring.alerts.pop_front();
            }
            ring.alerts.push_back(alert.clone());
            // Sent under the lock: a subscriber takes its backlog under it too, so it
            // sees each alert exactly once, from the ring or from the channel.
            if let Some(channel) = ring.channels.get(&alert.tutor_id) {
                if channel.send(alert.clone()).is_err() {
                    // Nobody listens any more.
                    ring.channels.remove(&alert.tutor_id);
                }
            }
        }
    }

    /// The latest `limit` alerts the ring holds for `tutor`, newest first.
    pub fn recent(&self, tutor: &str, limit: usize) -> Vec<Arc<LiveAlert>> {
        let ring = self.lock();
        ring.alerts
            .iter()
            .rev()
            .filter(|a| &*a.tutor_id == tutor)
            .take(limit)
            .cloned()
            .collect()
    }

    /// A stream of `tutor`'s alerts after `last_event_id` (see [`Resume`]).
    pub fn subscribe(self: &Arc<Self>, tutor: &str, last_event_id: Option<&str>) -> Subscription {
        let mut ring = self.lock();
        let head = ring.head();
        let parsed = last_event_id.map(EventId::parse);
        let resume = match parsed {
            None => Resume::Fresh,
            Some(Some(id)) if id.epoch == self.epoch && id.seq <= head => {
                // Nothing after `id` has left the ring.
                if id.seq + 1 >= ring.oldest() {
                    Resume::After(id.seq)
                } else {
                    Resume::OutOfRing
                }
            }
            Some(_) => Resume::Unknown,
        };
        let (backlog, last_seq) = match resume {
            Resume::Fresh => (VecDeque::new(), head),
            Resume::After(seq) => (ring.hers_after(tutor, seq), seq),
            Resume::OutOfRing | Resume::Unknown => (ring.hers_after(tutor, 0), 0),
        };
        let tutor: Arc<str> = Arc::from(tutor);
        // Channels whose streams have all closed (one per tutor at most).
        ring.channels
            .retain(|_, channel| channel.receiver_count() > 0);
        let receiver = ring
            .channels
            .entry(tutor.clone())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        drop(ring);
        Subscription {
            feed: self.clone(),
            tutor,
            resume,
            backlog,
            last_seq,
            receiver,
        }
    }
}

/// One open stream of a tutor's alerts, in feed order, each at most once.
pub struct Subscription {
    feed: Arc<AlertFeed>,
    tutor: Arc<str>,
    resume: Resume,
    backlog: VecDeque<Arc<LiveAlert>>,
    /// The seq of the last alert handed out (or skipped as not after the resume point).
    last_seq: u64,
    receiver: broadcast::Receiver<Arc<LiveAlert>>,
}

impl Subscription {
    pub fn resume(&self) -> Resume {
        self.resume
    }

    /// Alerts resent from the ring at the start.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    pub fn feed(&self) -> &AlertFeed {
        &self.feed
    }

    /// The next alert: the backlog first, then live ones. A stream that fell behind its
    /// channel catches up from the ring. `None` only if the feed is gone.
    pub async fn next(&mut self) -> Option<Arc<LiveAlert>> {
        loop {
            if let Some(a) = self.backlog.pop_front() {
                self.last_seq = a.seq;
                return Some(a);
            }
            match self.receiver.recv().await {
                Ok(a) if a.seq > self.last_seq => {
                    self.last_seq = a.seq;
                    return Some(a);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let ring = self.feed.lock();
                    self.backlog = ring.hers_after(&self.tutor, self.last_seq);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next alert if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<Arc<LiveAlert>> {
        loop {
            if let Some(a) = self.backlog.pop_front() {
                self.last_seq = a.seq;
                return Some(a);
            }
            match self.receiver.try_recv() {
                Ok(a) if a.seq > self.last_seq => {
                    self.last_seq = a.seq;
                    return Some(a);
                }
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    let ring = self.feed.lock();
                    self.backlog = ring.hers_after(&self.tutor, self.last_seq);
                }
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(tutor: &str, n: u32) -> PendingAlert {
        PendingAlert {
            tutor_id: Arc::from(tutor),
            warning_id: format!("{n:032x}"),
            event_time: EventTime::from_millis(i64::from(n)),
            json: format!("{{\"warning_id\":\"{n:032x}\",\"tutor_id\":\"{tutor}\"}}"),
        }
    }

    fn feed(capacity: usize) -> Arc<AlertFeed> {
        Arc::new(AlertFeed::with_capacity(capacity, 0xabc))
    }

    fn drain(sub: &mut Subscription) -> Vec<String> {
        std::iter::from_fn(|| sub.try_next())
            .map(|a| a.warning_id.clone())
            .collect()
    }

    fn ids(ns: &[u32]) -> Vec<String> {
        ns.iter().map(|n| format!("{n:032x}")).collect()
    }

    #[test]
    fn the_ring_keeps_only_the_latest_alerts() {
        let f = feed(3);
        f.publish((1..=5).map(|n| alert("t1", n)));
        let recent: Vec<u64> = f.recent("t1", 10).iter().map(|a| a.seq).collect();
        assert_eq!(recent, vec![5, 4, 3], "newest first, the two oldest gone");
        assert_eq!(f.recent("t1", 2).len(), 2);
        assert_eq!(f.cursor().to_string(), "abc-5");
    }

    #[test]
    fn a_stream_carries_only_its_tutors_alerts() {
        let f = feed(16);
        let mut li = f.subscribe("t1", None);
        let mut anna = f.subscribe("t2", None);
        f.publish([alert("t1", 1), alert("t2", 2), alert("t1", 3)]);
        assert_eq!(drain(&mut li), ids(&[1, 3]));
        assert_eq!(drain(&mut anna), ids(&[2]));
        assert_eq!(li.resume(), Resume::Fresh);
    }

    #[test]
    fn a_fresh_stream_starts_after_what_was_published_before_it() {
        let f = feed(16);
        f.publish([alert("t1", 1)]);
        let mut sub = f.subscribe("t1", None);
        assert!(drain(&mut sub).is_empty());
        f.publish([alert("t1", 2)]);
        assert_eq!(drain(&mut sub), ids(&[2]));
    }

    #[test]
    fn a_stream_resumes_after_its_last_event_id_without_loss_or_repeat() {
        let f = feed(16);
        f.publish([alert("t1", 1), alert("t1", 2), alert("t2", 3)]);
        let seen = f.id(1).to_string();
        // Published while she was away, then after she is back.
        f.publish([alert("t1", 4)]);
        let mut sub = f.subscribe("t1", Some(&seen));
        assert_eq!(sub.resume(), Resume::After(1));
        assert_eq!(sub.backlog_len(), 2);
        f.publish([alert("t1", 5)]);
        assert_eq!(drain(&mut sub), ids(&[2, 4, 5]));
        let at_head = f.cursor().to_string();
        assert!(drain(&mut f.subscribe("t1", Some(&at_head))).is_empty());
    }

    #[test]
    fn an_id_the_ring_no_longer_reaches_resends_all_it_holds_for_her() {
        let f = feed(3);
        f.publish((1..=6).map(|n| alert("t1", n)));
        let old = f.id(2).to_string();
        let mut sub = f.subscribe("t1", Some(&old));
        assert_eq!(sub.resume(), Resume::OutOfRing);
        assert_eq!(drain(&mut sub), ids(&[4, 5, 6]));
        // Exactly at the edge: 3 was dropped but nothing after it, so none is missed.
        let edge = f.id(3).to_string();
        let mut sub = f.subscribe("t1", Some(&edge));
        assert_eq!(sub.resume(), Resume::After(3));
        assert_eq!(drain(&mut sub), ids(&[4, 5, 6]));
    }

    #[test]
    fn an_id_of_another_process_or_no_id_at_all_resends_all_it_holds_for_her() {
        let f = feed(8);
        f.publish([alert("t1", 1), alert("t2", 2), alert("t1", 3)]);
        for id in ["def-2", "abc-99", "not an id", ""] {
            let mut sub = f.subscribe("t1", Some(id));
            assert_eq!(sub.resume(), Resume::Unknown, "{id:?}");
            assert_eq!(drain(&mut sub), ids(&[1, 3]), "{id:?}");
        }
    }

    #[test]
    fn a_stream_that_falls_behind_its_channel_catches_up_from_the_ring() {
        let f = feed(RING_CAPACITY);
        let mut sub = f.subscribe("t1", None);
        let n = (CHANNEL_CAPACITY * 3) as u32;
        f.publish((1..=n).map(|i| alert("t1", i)));
        let got = drain(&mut sub);
        assert_eq!(got, ids(&(1..=n).collect::<Vec<_>>()));
    }

    #[test]
    fn only_notified_warnings_with_a_tutor_are_alerts() {
        let mut w = crate::output::fixtures::member(crate::engine::Detail::None, "x");
        w.notify = true;
        let a = PendingAlert::of(&w).expect("a tutor alert");
        assert!(a.json.starts_with("{\"warning_id\":\""), "{}", a.json);
        assert!(!a.json.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&a.json).expect("JSON");
        assert_eq!(v["warning_id"], a.warning_id.as_str());
        assert_eq!(v["notify"], true);
        w.notify = false;
        assert_eq!(PendingAlert::of(&w), None, "capped: CRM only");
        w.notify = true;
        w.tutor_id = None;
        assert_eq!(PendingAlert::of(&w), None, "no tutor to tell");
    }

    #[test]
    fn a_tutors_channel_goes_once_her_streams_have_closed() {
        let f = feed(8);
        drop(f.subscribe("t1", None));
        let mut anna = f.subscribe("t2", None);
        assert_eq!(f.lock().channels.len(), 1, "t1's channel pruned");
        f.publish([alert("t2", 1)]);
        assert_eq!(drain(&mut anna), ids(&[1]));
        drop(anna);
        f.publish([alert("t2", 2)]);
        assert!(f.lock().channels.is_empty(), "nobody listens");
        assert_eq!(f.recent("t2", 8).len(), 2, "the ring keeps them");
    }

    #[test]
    fn event_ids_round_trip() {
        let id = EventId {
            epoch: 0x1f2e,
            seq: 42,
        };
        assert_eq!(id.to_string(), "1f2e-42");
        assert_eq!(EventId::parse("1f2e-42"), Some(id));
        assert_eq!(EventId::parse("1f2e"), None);
        assert_eq!(EventId::parse("zz-1"), None);
    }
}
