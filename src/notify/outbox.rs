//! One queue per channel, so that one slow or limited receiver never holds up another's
//! messages, and rate limits met by merging, never by dropping: a channel that may send
//! everything waiting sends each message on its own; one with more waiting than it may
//! send (a robot's 20 a minute spent) sends, as soon as it may, one message merging
//! everything that waited ("12 more alerts while this channel was at its rate limit: 5 members fell").
//! A message longer than the receiver takes goes as several pages, each counted against
//! the limit; pages that do not fit wait with the rest. Pure, on a clock passed in.

use std::collections::{BTreeMap, VecDeque};

use super::channel::{self, Limits};
use super::directory::{ChannelKind, Directory};
use super::policy::{Item, Message, MessageKind};
use crate::model::EventTime;

/// One page ready to be sent to one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub channel: String,
    pub kind: ChannelKind,
    pub message: MessageKind,
    /// The desk it speaks to (its key: a tutor id, or `""` for the fallback desk).
    pub desk: String,
    pub content: String,
    /// The idempotency keys of the items it carries (warning ids).
    pub ids: Vec<String>,
    /// When the engine emitted each of them, in the order of `ids` (delivery latency).
    pub emitted: Vec<EventTime>,
    pub at: EventTime,
}

#[derive(Debug, Default)]
struct Queue {
    /// When the pages still inside the rate window went.
    sent: VecDeque<EventTime>,
    waiting: VecDeque<Message>,
}

impl Queue {
    /// Pages the channel may still send at `now`.
    fn budget(&mut self, limits: Limits, now: EventTime) -> usize {
        let Some((max, window)) = limits.rate else {
            return usize::MAX;
        };
        while self.sent.front().is_some_and(|t| *t <= now - window) {
            self.sent.pop_front();
        }
        (max as usize).saturating_sub(self.sent.len())
    }

    fn record(&mut self, limits: Limits, now: EventTime) {
        if limits.rate.is_some() {
            self.sent.push_back(now);
        }
    }
}

#[derive(Debug, Default)]
pub struct Outbox {
    queues: BTreeMap<String, Queue>,
    /// Messages merged into another because a channel had to wait.
    pub merged: u64,
}

impl Outbox {
    /// Queues `message` for each of its channels.
    pub fn push(&mut self, message: &Message) {
        for name in &message.channels {
            let mut one = message.clone();
            one.channels = vec![name.clone()];
            self.queues
                .entry(name.clone())
                .or_default()
                .waiting
                .push_back(one);
        }
    }

    /// Appends to `out` every page that may go at `now`.
    pub fn poll(&mut self, dir: &Directory, now: EventTime, out: &mut Vec<Payload>) {
        for (name, queue) in &mut self.queues {
            // A channel gone from the directory (a reload) delivers to the fallback's.
            let channel = dir.channels.get(name).or_else(|| {
                let fallback = dir.fallback.channels.first()?;
                dir.channels.get(fallback)
            });
            let Some(channel) = channel else { continue };
            let limits = channel::limits(channel.kind);
            while !queue.waiting.is_empty() {
                let budget = queue.budget(limits, now);
                if budget == 0 {
                    break;
                }
                let message = if queue.waiting.len() <= budget {
                    queue.waiting.pop_front()
                } else {
                    self.merged += queue.waiting.len() as u64;
                    merge(std::mem::take(&mut queue.waiting), now)
                };
                let Some(mut message) = message else { break };
                let desk = dir.desk(&message.desk).unwrap_or(&dir.fallback);
                let mut sent = 0;
                for page in channel::pages(channel.kind, dir, desk, &message) {
                    if queue.budget(limits, now) == 0 {
                        break;
                    }
                    queue.record(limits, now);
                    let carried = &message.items[sent..sent + page.items];
                    let ids = carried.iter().map(Item::id).collect();
                    let emitted = carried.iter().map(Item::emitted_at).collect();
                    sent += page.items;
                    out.push(Payload {
                        channel: channel.name.clone(),
                        kind: channel.kind,
                        message: message.kind,
                        desk: message.desk.clone(),
                        content: page.content,
                        ids,
                        emitted,
                        at: now,
                    });
                }
                if sent < message.items.len() {
                    // The rest waits, at the head, for the next window.
                    message.items.drain(..sent);
                    if sent > 0 {
                        message.kind = MessageKind::Merged;
                    }
                    queue.waiting.push_front(message);
                    break;
                }
            }
        }
    }

    /// When a channel with messages waiting may next send.
    pub fn next_due(&self, dir: &Directory) -> Option<EventTime> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.waiting.is_empty())
            .filter_map(|(name, q)| {
                let kind = dir.channels.get(name)?.kind;
                let (max, window) = channel::limits(kind).rate?;
                let blocking = q.sent.len().checked_sub(max as usize)?;
                q.sent.get(blocking).map(|t| *t + window)
            })
            .min()
    }

    /// Messages waiting for a channel.
    pub fn waiting(&self) -> usize {
        self.queues.values().map(|q| q.waiting.len()).sum()
    }
}

/// Everything that waited, as one message.
fn merge(waiting: VecDeque<Message>, now: EventTime) -> Option<Message> {
    let mut all = waiting.into_iter();
    let mut first = all.next()?;
    for m in all {
        first.items.extend(m.items);
    }
    first.kind = MessageKind::Merged;
    first.at = now;
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::super::policy::tests::{alert, t, DIRECTORY};
    use super::*;
    use crate::engine::{Severity, WarningKind};
    use crate::model::Span;

    fn message(desk: &str, channel: &str, ids: &[&str], at: EventTime) -> Message {
        Message {
            kind: MessageKind::Immediate,
            desk: desk.into(),
            channels: vec![channel.into()],
            items: ids
                .iter()
                .map(|id| Item::Alert {
                    alert: alert(
                        id,
                        WarningKind::SegmentDowngrade,
                        Severity::Warning,
                        id,
                        desk,
                        "2026-03-02T02:00:00Z",
                    ),
                    fallback: None,
                })
                .collect(),
            at,
        }
    }

    /// A WeCom robot takes 20 a minute: the 21st to 30th wait, then go as one message.
    #[test]
    fn a_robot_at_its_rate_limit_merges_what_waits_and_drops_nothing() {
        let dir = Directory::from_toml(DIRECTORY).unwrap();
        let mut outbox = Outbox::default();
        let mut out = Vec::new();
        let t0 = t("2026-03-02T02:00:00Z");
        for i in 0..30 {
            let now = t0 + Span::seconds(i);
            let id = format!("w{i}");
            outbox.push(&message("t1", "li", &[&id], now));
            outbox.poll(&dir, now, &mut out);
        }
        assert_eq!(out.len(), 20, "the robot's budget for the minute");
        assert_eq!(outbox.waiting(), 10);
        assert_eq!(outbox.next_due(&dir), Some(t0 + Span::minutes(1)));
        outbox.poll(&dir, t0 + Span::minutes(1), &mut out);
        assert_eq!(out.len(), 21);
        let merged = &out[20];
        assert_eq!(merged.message, MessageKind::Merged);
        assert_eq!(
            merged.ids,
            (20..30).map(|i| format!("w{i}")).collect::<Vec<_>>()
        );
        assert!(
            merged.content.contains(
                "10 more alerts while this channel was at its rate limit: 10 members fell"
            ),
            "{}",
            merged.content
        );
        assert_eq!(outbox.merged, 10);
        let all: Vec<String> = out.iter().flat_map(|p| p.ids.clone()).collect();
        assert_eq!(
            all,
            (0..30).map(|i| format!("w{i}")).collect::<Vec<_>>(),
            "each once, in order"
        );
    }

    #[test]
    fn a_long_message_goes_as_pages_within_the_receivers_size() {
        let dir = Directory::from_toml(DIRECTORY).unwrap();
        let mut outbox = Outbox::default();
        let mut out = Vec::new();
        let ids: Vec<String> = (0..60).map(|i| format!("member-{i:03}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let now = t("2026-03-02T02:00:00Z");
        outbox.push(&message("t1", "li", &refs, now));
        outbox.poll(&dir, now, &mut out);
        assert!(out.len() > 1);
        assert!(out.iter().all(|p| p.content.len() <= 4096), "WeCom's limit");
        assert_eq!(out.iter().map(|p| p.ids.len()).sum::<usize>(), 60);
    }

    /// One channel at its limit holds nobody else up.
    #[test]
    fn channels_queue_apart() {
        let dir = Directory::from_toml(DIRECTORY).unwrap();
        let mut outbox = Outbox::default();
        let mut out = Vec::new();
        let now = t("2026-03-02T02:00:00Z");
        for i in 0..25 {
            outbox.push(&message("t1", "li", &[&format!("li{i}")], now));
        }
        outbox.push(&message("t2", "anna", &["anna0"], now));
        outbox.poll(&dir, now, &mut out);
        assert!(out.iter().any(|p| p.channel == "anna"), "the webhook went");
        let li: Vec<&Payload> = out.iter().filter(|p| p.channel == "li").collect();
        assert!(
            li.iter().all(|p| p.message == MessageKind::Merged),
            "25 waiting, 20 allowed"
        );
        assert_eq!(li.iter().map(|p| p.ids.len()).sum::<usize>(), 25);
    }
}
