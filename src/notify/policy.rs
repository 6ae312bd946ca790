//! What reaches a tutor, and when. Pure: alerts and instants in, [`Message`]s out; the
//! notifier's edge passes the wall clock in (a dry run, the warnings' own times), as the
//! engine's edge does.
//!
//! The rules, for each `notify: true` warning (others never reach a tutor):
//! - it goes to its tutor's desk, or to the fallback desk (the team lead) when the tutor
//!   is unknown, has left or has no channel; the first warning of a group whose tutor
//!   has left also raises that as an alert of its own (tutor turnover drives churn);
//! - at or above the directory's `min_severity` it goes out at once, unless it is not
//!   CRITICAL and the desk is in its quiet hours (its own time zone): then it is held and
//!   the held ones go out together when the quiet hours end;
//! - below it (NOTICE by default) it waits for the desk's digest at `digest_at`, local
//!   time, one message a day (postponed to the end of quiet hours if it falls in them);
//! - a held fall, missed activation or recall call of a member who has since recovered
//!   (a later upgrade of hers) is dropped from the held batch and counted;
//! - a warning id seen recently is not offered twice (a redelivery).
//!
//! Rate limits are the outbox's business (`super::outbox`): it merges, never drops.

use std::collections::{BTreeMap, HashSet};

use super::alert::Alert;
use super::directory::{Desk, Directory, FallbackReason};
use super::local_time::next_local;
use super::recent::RecentSet;
use crate::engine::Severity;
use crate::model::EventTime;

/// One line of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Alert {
        alert: Alert,
        /// Set when the alert reached the fallback desk instead of its tutor.
        fallback: Option<FallbackReason>,
    },
    /// A group whose tutor has left is itself news.
    TutorLeft {
        tutor_id: String,
        tutor_name: String,
        group_id: String,
        at: EventTime,
    },
}

impl Item {
    pub fn alert(&self) -> Option<&Alert> {
        match self {
            Item::Alert { alert, .. } => Some(alert),
            Item::TutorLeft { .. } => None,
        }
    }

    /// When it came to be: the engine's emission of the warning.
    pub fn emitted_at(&self) -> EventTime {
        match self {
            Item::Alert { alert, .. } => alert.emitted_at,
            Item::TutorLeft { at, .. } => *at,
        }
    }

    /// The idempotency key of its delivery.
    pub fn id(&self) -> String {
        match self {
            Item::Alert { alert, .. } => alert.warning_id.clone(),
            Item::TutorLeft {
                tutor_id, group_id, ..
            } => format!("tutor-left:{tutor_id}:{group_id}"),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// At once, as the warning arrived.
    Immediate,
    /// What was held during quiet hours, when they ended.
    AfterQuietHours,
    /// The day's alerts below the immediate severity.
    Digest,
    /// What waited for a channel's rate limit, merged into one (the outbox makes these).
    Merged,
}

impl MessageKind {
    /// Its metric label.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Immediate => "immediate",
            MessageKind::AfterQuietHours => "after_quiet_hours",
            MessageKind::Digest => "digest",
            MessageKind::Merged => "merged",
        }
    }
}

/// A message for one desk, to each of its channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    /// The desk's key ([`Desk::key`]): whose name, time zone and page the message uses.
    pub desk: String,
    pub channels: Vec<String>,
    pub items: Vec<Item>,
    /// When it was released.
    pub at: EventTime,
}

/// What the policy did, for metrics and the dry run's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub offered: u64,
    /// `notify: false` (the contact cap): CRM has them, tutors do not.
    pub not_notified: u64,
    /// A warning id offered again.
    pub repeated: u64,
    pub immediate: u64,
    pub held: u64,
    pub digested: u64,
    /// Held, then dropped: the member had recovered by the end of the quiet hours.
    pub dropped_recovered: u64,
    /// Sent to the fallback desk instead of their tutor's.
    pub fallback: u64,
    pub tutor_left: u64,
}

#[derive(Debug, Default)]
struct DeskState {
    held: Vec<Item>,
    quiet_until: Option<EventTime>,
    digest: Vec<Item>,
    digest_due: Option<EventTime>,
}

#[derive(Debug)]
pub struct Policy {
    desks: BTreeMap<String, DeskState>,
    recent: RecentSet<String>,
    announced: HashSet<(String, String)>,
    /// Ids dropped from a held batch since [`Policy::take_dropped`] was last called.
    dropped: Vec<String>,
    pub counts: Counts,
}

/// What became of an offered warning.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Offered {
    /// `notify: false`: it reaches no tutor.
    NotNotified,
    /// Its id was offered lately.
    Repeated,
    /// It went into a message, or waits for one (quiet hours, the digest).
    Routed,
}

impl Policy {
    /// A policy remembering the last `recent_ids` warning ids it was offered.
    pub fn new(recent_ids: usize) -> Policy {
        Policy {
            desks: BTreeMap::new(),
            recent: RecentSet::new(recent_ids),
            announced: HashSet::new(),
            dropped: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Offers one warning at `now`; what is due by then, and the warning if it goes at
    /// once, is appended to `out`.
    pub fn offer(
        &mut self,
        dir: &Directory,
        alert: Alert,
        now: EventTime,
        out: &mut Vec<Message>,
    ) -> Offered {
        self.tick(dir, now, out);
        self.counts.offered += 1;
        if !alert.notify {
            self.counts.not_notified += 1;
            return Offered::NotNotified;
        }
        if !self.recent.insert(&alert.warning_id) {
            self.counts.repeated += 1;
            return Offered::Repeated;
        }
        let (desk, fallback) = dir.desk_for(alert.tutor_id.as_deref());
        if fallback.is_some() {
            self.counts.fallback += 1;
        }
        if let (Some(FallbackReason::Left), Some(group), Some(tutor)) =
            (fallback, &alert.group_id, &alert.tutor_id)
        {
            if self.announced.insert((group.clone(), tutor.clone())) {
                self.counts.tutor_left += 1;
                let tutor_name = dir
                    .tutors
                    .get(tutor)
                    .map_or(tutor.as_str(), |t| t.name.as_str());
                let item = Item::TutorLeft {
                    tutor_id: tutor.clone(),
                    tutor_name: tutor_name.to_owned(),
                    group_id: group.clone(),
                    at: now,
                };
                self.route(dir, desk, item, Severity::Warning, now, out);
            }
        }
        if alert.is_recovery() {
            self.drop_answered(desk.key(), &alert);
        }
        let severity = alert.severity;
        self.route(
            dir,
            desk,
            Item::Alert { alert, fallback },
            severity,
            now,
            out,
        );
        Offered::Routed
    }

    /// The ids of held alerts dropped (their member recovered) since the last call: the
    /// notifier owes them no delivery.
    pub fn take_dropped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dropped)
    }

    fn route(
        &mut self,
        dir: &Directory,
        desk: &Desk,
        item: Item,
        severity: Severity,
        now: EventTime,
        out: &mut Vec<Message>,
    ) {
        let state = self.desks.entry(desk.key().to_owned()).or_default();
        if severity >= dir.min_severity {
            if severity == Severity::Critical || !desk.quiet_hours.contains(desk.time_zone, now) {
                self.counts.immediate += 1;
                out.push(message(MessageKind::Immediate, desk, vec![item], now));
            } else {
                self.counts.held += 1;
                state.held.push(item);
                state.quiet_until = state
                    .quiet_until
                    .or_else(|| Some(desk.quiet_hours.end_after(desk.time_zone, now)));
            }
        } else {
            self.counts.digested += 1;
            state.digest.push(item);
            state.digest_due = state
                .digest_due
                .or_else(|| Some(next_local(desk.time_zone, now, dir.digest_at)));
        }
    }

    /// Drops her held alerts that `recovery` answers.
    fn drop_answered(&mut self, desk: &str, recovery: &Alert) {
        let Some(state) = self.desks.get_mut(desk) else {
            return;
        };
        let dropped = &mut self.dropped;
        let before = dropped.len();
        state.held.retain(|item| {
            let answered = item.alert().is_some_and(|a| {
                a.member_id == recovery.member_id
                    && a.answered_by_recovery()
                    && a.event_time <= recovery.event_time
            });
            if answered {
                dropped.push(item.id());
            }
            !answered
        });
        self.counts.dropped_recovered += (dropped.len() - before) as u64;
    }

    /// Releases what is due by `now`: held alerts whose quiet hours ended, digests whose
    /// time came (in desk order, so that the output is deterministic).
    pub fn tick(&mut self, dir: &Directory, now: EventTime, out: &mut Vec<Message>) {
        for (key, state) in &mut self.desks {
            // A desk the directory no longer has (a reload) hands over to the fallback.
            let desk = dir.desk(key).unwrap_or(&dir.fallback);
            if let Some(until) = state.quiet_until.filter(|t| *t <= now) {
                state.quiet_until = None;
                if !state.held.is_empty() {
                    let items = std::mem::take(&mut state.held);
                    out.push(message(MessageKind::AfterQuietHours, desk, items, until));
                }
            }
            if let Some(due) = state.digest_due.filter(|t| *t <= now) {
                if desk.quiet_hours.contains(desk.time_zone, due) {
                    state.digest_due = Some(desk.quiet_hours.end_after(desk.time_zone, due));
                    continue;
                }
                state.digest_due = None;
                if !state.digest.is_empty() {
                    let items = std::mem::take(&mut state.digest);
                    out.push(message(MessageKind::Digest, desk, items, due));
                }
            }
        }
    }

    /// The next instant at which [`Policy::tick`] would release something.
    pub fn next_due(&self) -> Option<EventTime> {
        self.desks
            .values()
            .flat_map(|s| [s.quiet_until, s.digest_due])
            .flatten()
            .min()
    }

    /// Alerts waiting in quiet hours or for a digest.
    pub fn waiting(&self) -> usize {
        self.desks
            .values()
            .map(|s| s.held.len() + s.digest.len())
            .sum()
    }
}

fn message(kind: MessageKind, desk: &Desk, items: Vec<Item>, at: EventTime) -> Message {
    Message {
        kind,
        desk: desk.key().to_owned(),
        channels: desk.channels.clone(),
        items,
        at,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::WarningKind;

    pub const DIRECTORY: &str = r#"
page_url = "https://retention.example.com/tutors"
fallback = "lead"
[channels.lead]
kind = "slack"
url = "https://hooks.slack.test/lead"
[channels.li]
kind = "wecom"
url = "https://qyapi.test/cgi-bin/webhook/send"
secret_env = "WECOM_KEY_LI"
[channels.anna]
kind = "webhook"
url = "https://anna.test/alerts"
secret_env = "ANNA_SECRET"
[tutors.t1]
name = "Li Na"
channels = ["li"]
[tutors.t2]
name = "Anna"
time_zone = "Europe/Berlin"
quiet_hours = "21:00-07:00"
channels = ["anna"]
[tutors.t9]
name = "Wang"
left = true
"#;

    pub fn t(text: &str) -> EventTime {
        EventTime::parse_rfc3339(text).unwrap()
    }

    pub fn alert(
        id: &str,
        kind: WarningKind,
        severity: Severity,
        member: &str,
        tutor: &str,
        at: &str,
    ) -> Alert {
        Alert {
            warning_id: id.into(),
            kind,
            severity,
            member_id: Some(member.into()),
            group_id: Some("g1".into()),
            tutor_id: Some(tutor.into()),
            from: Some("important_value".into()),
            to: Some("general_value".into()),
            event_time: t(at),
            emitted_at: t(at),
            figures: serde_json::Map::new(),
            action: "call her".into(),
            notify: true,
        }
    }

    fn run(offers: &[(Alert, &str)], until: &str) -> (Vec<Message>, Counts) {
        let dir = Directory::from_toml(DIRECTORY).unwrap();
        let mut policy = Policy::new(1000);
        let mut out = Vec::new();
        for (a, now) in offers {
            policy.offer(&dir, a.clone(), t(now), &mut out);
        }
        policy.tick(&dir, t(until), &mut out);
        (out, policy.counts.clone())
    }

    fn ids(m: &Message) -> Vec<String> {
        m.items.iter().map(Item::id).collect()
    }

    use Severity::*;
    use WarningKind::*;

    #[test]
    fn a_warning_goes_out_at_once_outside_quiet_hours() {
        // 10:00 in Shanghai.
        let a = alert(
            "w1",
            SegmentDowngrade,
            Warning,
            "m1",
            "t1",
            "2026-03-02T02:00:00Z",
        );
        let (out, _) = run(&[(a, "2026-03-02T02:00:00Z")], "2026-03-03T00:00:00Z");
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].desk.as_str()),
            (MessageKind::Immediate, "t1")
        );
        assert_eq!(out[0].channels, vec!["li".to_owned()]);
    }

    #[test]
    fn quiet_hours_hold_non_critical_alerts_until_they_end_on_the_tutors_clock() {
        // 23:00 and 01:00 Shanghai time: held until 08:00 (00:00 UTC). The CRITICAL passes.
        let w1 = alert(
            "w1",
            SegmentDowngrade,
            Warning,
            "m1",
            "t1",
            "2026-03-01T15:00:00Z",
        );
        let c1 = alert(
            "c1",
            SegmentDowngrade,
            Critical,
            "m2",
            "t1",
            "2026-03-01T16:00:00Z",
        );
        let w2 = alert(
            "w2",
            LoginLapsed,
            Warning,
            "m3",
            "t1",
            "2026-03-01T17:00:00Z",
        );
        let (out, counts) = run(
            &[
                (w1, "2026-03-01T15:00:00Z"),
                (c1, "2026-03-01T16:00:00Z"),
                (w2, "2026-03-01T17:00:00Z"),
            ],
            "2026-03-02T06:00:00Z",
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].kind, ids(&out[0])),
            (MessageKind::Immediate, vec!["c1".into()])
        );
        assert_eq!(out[1].kind, MessageKind::AfterQuietHours);
        assert_eq!(out[1].at, t("2026-03-02T00:00:00Z"), "08:00 in Shanghai");
        assert_eq!(ids(&out[1]), vec!["w1".to_owned(), "w2".into()]);
        assert_eq!((counts.held, counts.immediate), (2, 1));
    }

    #[test]
    fn each_tutor_keeps_her_own_time_zone() {
        // 22:00 UTC is 23:00 in Berlin (quiet, 21:00-07:00) and 06:00 in Shanghai (quiet).
        let a = alert(
            "a",
            SegmentDowngrade,
            Warning,
            "m1",
            "t2",
            "2026-03-01T22:00:00Z",
        );
        let b = alert(
            "b",
            SegmentDowngrade,
            Warning,
            "m2",
            "t1",
            "2026-03-01T22:00:00Z",
        );
        let (out, _) = run(
            &[(a, "2026-03-01T22:00:00Z"), (b, "2026-03-01T22:00:00Z")],
            "2026-03-02T12:00:00Z",
        );
        let release: Vec<_> = out.iter().map(|m| (m.desk.as_str(), m.at)).collect();
        assert_eq!(
            release,
            vec![
                ("t1", t("2026-03-02T00:00:00Z")),
                ("t2", t("2026-03-02T06:00:00Z"))
            ],
            "08:00 Shanghai, then 07:00 Berlin"
        );
    }

    #[test]
    fn notices_wait_for_one_digest_at_nine_local_across_midnight() {
        // 18:00 and 23:30 Shanghai on 03-01, then 08:30 on 03-02: all in the 03-02 09:00
        // digest; 09:30 on 03-02 goes to the next day's.
        let n = |id: &str, at: &str| alert(id, RecallDue, Notice, "m1", "t1", at);
        let (out, counts) = run(
            &[
                (n("n1", "2026-03-01T10:00:00Z"), "2026-03-01T10:00:00Z"),
                (n("n2", "2026-03-01T15:30:00Z"), "2026-03-01T15:30:00Z"),
                (n("n3", "2026-03-02T00:30:00Z"), "2026-03-02T00:30:00Z"),
                (n("n4", "2026-03-02T01:30:00Z"), "2026-03-02T01:30:00Z"),
            ],
            "2026-03-04T00:00:00Z",
        );
        assert_eq!(counts.digested, 4);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].kind, out[0].at),
            (MessageKind::Digest, t("2026-03-02T01:00:00Z"))
        );
        assert_eq!(
            ids(&out[0]),
            vec!["n1".to_owned(), "n2".into(), "n3".into()]
        );
        assert_eq!(
            (out[1].at, ids(&out[1])),
            (t("2026-03-03T01:00:00Z"), vec!["n4".to_owned()])
        );
    }

    #[test]
    fn a_held_fall_of_a_member_who_recovered_is_dropped_and_counted() {
        let fall = alert(
            "f",
            SegmentDowngrade,
            Warning,
            "m1",
            "t1",
            "2026-03-01T15:00:00Z",
        );
        let other = alert(
            "o",
            SegmentDowngrade,
            Warning,
            "m2",
            "t1",
            "2026-03-01T15:10:00Z",
        );
        let ticket = alert(
            "k",
            AfterSalesOverdue,
            Warning,
            "m1",
            "t1",
            "2026-03-01T15:20:00Z",
        );
        let mut up = alert(
            "u",
            SegmentUpgrade,
            Notice,
            "m1",
            "t1",
            "2026-03-01T16:00:00Z",
        );
        up.from = Some("general_value".into());
        let (out, counts) = run(
            &[
                (fall, "2026-03-01T15:00:00Z"),
                (other, "2026-03-01T15:10:00Z"),
                (ticket, "2026-03-01T15:20:00Z"),
                (up, "2026-03-01T16:00:00Z"),
            ],
            "2026-03-02T00:30:00Z",
        );
        assert_eq!(counts.dropped_recovered, 1);
        let batch = out
            .iter()
            .find(|m| m.kind == MessageKind::AfterQuietHours)
            .unwrap();
        assert_eq!(
            ids(batch),
            vec!["o".to_owned(), "k".into()],
            "her open ticket stays"
        );
    }

    #[test]
    fn unknown_and_departed_tutors_go_to_the_fallback_desk_and_a_departure_is_news() {
        let a = alert(
            "a",
            SegmentDowngrade,
            Critical,
            "m1",
            "t9",
            "2026-03-02T02:00:00Z",
        );
        let b = alert(
            "b",
            SegmentDowngrade,
            Critical,
            "m2",
            "t9",
            "2026-03-02T02:01:00Z",
        );
        let c = alert(
            "c",
            SegmentDowngrade,
            Critical,
            "m3",
            "nobody",
            "2026-03-02T02:02:00Z",
        );
        let (out, counts) = run(
            &[
                (a, "2026-03-02T02:00:00Z"),
                (b, "2026-03-02T02:01:00Z"),
                (c, "2026-03-02T02:02:00Z"),
            ],
            "2026-03-02T03:00:00Z",
        );
        assert!(out
            .iter()
            .all(|m| m.desk.is_empty() && m.channels == vec!["lead".to_owned()]));
        assert_eq!(
            out.iter().flat_map(ids).collect::<Vec<_>>(),
            vec![
                "tutor-left:t9:g1".to_owned(),
                "a".into(),
                "b".into(),
                "c".into()
            ],
            "the departure once per group"
        );
        match &out[2].items[0] {
            Item::Alert { fallback, .. } => assert_eq!(*fallback, Some(FallbackReason::Left)),
            other => panic!("{other:?}"),
        }
        assert_eq!((counts.fallback, counts.tutor_left), (3, 1));
    }

    #[test]
    fn capped_warnings_and_repeats_never_reach_a_tutor() {
        let mut capped = alert(
            "x",
            SegmentDowngrade,
            Warning,
            "m1",
            "t1",
            "2026-03-02T02:00:00Z",
        );
        capped.notify = false;
        let a = alert(
            "a",
            SegmentDowngrade,
            Warning,
            "m1",
            "t1",
            "2026-03-02T02:00:00Z",
        );
        let (out, counts) = run(
            &[
                (capped, "2026-03-02T02:00:00Z"),
                (a.clone(), "2026-03-02T02:00:00Z"),
                (a, "2026-03-02T02:05:00Z"),
            ],
            "2026-03-02T03:00:00Z",
        );
        assert_eq!(
            out.iter().flat_map(ids).collect::<Vec<_>>(),
            vec!["a".to_owned()]
        );
        assert_eq!((counts.not_notified, counts.repeated), (1, 1));
    }

    #[test]
    fn a_digest_time_inside_quiet_hours_waits_for_their_end() {
        let dir_text = DIRECTORY.replace(
            "[channels.lead]",
            "[defaults]\ndigest_at = \"07:00\"\n[channels.lead]",
        );
        let dir = Directory::from_toml(&dir_text).unwrap();
        let mut policy = Policy::new(10);
        let mut out = Vec::new();
        let n = alert("n", RecallDue, Notice, "m1", "t1", "2026-03-01T10:00:00Z");
        policy.offer(&dir, n, t("2026-03-01T10:00:00Z"), &mut out);
        assert_eq!(
            policy.next_due(),
            Some(t("2026-03-01T23:00:00Z")),
            "07:00 Shanghai"
        );
        policy.tick(&dir, t("2026-03-01T23:00:00Z"), &mut out);
        assert!(out.is_empty(), "07:00 is within 22:00-08:00");
        policy.tick(&dir, t("2026-03-02T00:00:00Z"), &mut out);
        assert_eq!((out.len(), out[0].kind), (1, MessageKind::Digest));
        assert_eq!(policy.waiting(), 0);
    }
}
