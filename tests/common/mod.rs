//! A small scenario language for engine tests: build events by hand, feed them through the
//! pure engine, and read back the warnings. Time is simulated; nothing sleeps.
#![allow(dead_code)]

pub mod streams;

use churnwatch::config::Config;
use churnwatch::engine::{Engine, Label, Severity, TimeMode, Warning, WarningKind};
use churnwatch::model::*;

/// 2026-01-01T00:00:00Z.
pub const T0: EventTime = EventTime(1_767_225_600_000);
/// Far enough ahead that no test event is "from the future".
pub const WALL: EventTime = EventTime(4_102_444_800_000);

pub fn day(d: i64) -> EventTime {
    T0 + Span::days(d)
}

pub fn at(d: i64, h: i64) -> EventTime {
    T0 + Span::days(d) + Span::hours(h)
}

pub const MS: Span = Span::MILLI;

pub struct Scenario {
    pub engine: Engine,
    pub warnings: Vec<Warning>,
    seq: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::with_config(Config::default())
    }
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario::default()
    }

    pub fn with_config(config: Config) -> Scenario {
        config.validate().expect("test config is valid");
        Scenario {
            engine: Engine::new(&config.engine(), TimeMode::Replay),
            warnings: Vec::new(),
            seq: 0,
        }
    }

    fn next_id(&mut self) -> compact_str::CompactString {
        self.seq += 1;
        compact_str::format_compact!("e{}", self.seq)
    }

    /// Sends one event; it must be accepted.
    pub fn send(&mut self, member: &str, ts: EventTime, body: EventBody) -> &mut Self {
        let id = self.next_id();
        self.send_as(&id, member, ts, body);
        self
    }

    /// Sends an event under a given `event_id` (the engine judges duplicates by content,
    /// so the id is only carried along); it must be accepted.
    pub fn send_as(&mut self, event_id: &str, member: &str, ts: EventTime, body: EventBody) {
        self.deliver(event_id, member, ts, body)
            .expect("event accepted");
    }

    /// Decodes JSON lines as the input does and sends each; each must be accepted.
    pub fn send_json_lines(&mut self, lines: &str) -> &mut Self {
        let decoder = churnwatch::decode::JsonDecoder::new(65_536);
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let event = decoder.decode(line.as_bytes()).expect("a valid event");
            self.engine
                .process(0, &event, WALL, &mut self.warnings)
                .expect("event accepted");
        }
        self
    }

    /// Sends one event that may be refused.
    pub fn try_send(
        &mut self,
        member: &str,
        ts: EventTime,
        body: EventBody,
    ) -> Result<(), churnwatch::reject::Rejection> {
        let id = self.next_id();
        self.deliver(&id, member, ts, body)
    }

    fn deliver(
        &mut self,
        event_id: &str,
        member: &str,
        ts: EventTime,
        body: EventBody,
    ) -> Result<(), churnwatch::reject::Rejection> {
        let event = Event {
            event_id: event_id.into(),
            member_id: MemberId::new(member),
            ts,
            body,
        };
        self.engine.process(0, &event, WALL, &mut self.warnings)
    }

    pub fn profile(
        &mut self,
        member: &str,
        group: &str,
        tier: &str,
        joined_at: EventTime,
        ts: EventTime,
    ) -> &mut Self {
        self.profile_with_tutor(member, group, "t1", tier, joined_at, ts)
    }

    pub fn profile_with_tutor(
        &mut self,
        member: &str,
        group: &str,
        tutor: &str,
        tier: &str,
        joined_at: EventTime,
        ts: EventTime,
    ) -> &mut Self {
        let body = EventBody::Member(Profile {
            group_id: GroupId::new(group),
            tutor_id: TutorId::new(tutor),
            fee_tier: FeeTier::new(tier),
            joined_at,
        });
        self.send(member, ts, body)
    }

    pub fn order(&mut self, member: &str, order_id: &str, yuan: i64, ts: EventTime) -> &mut Self {
        self.order_in(member, order_id, Fen::yuan(yuan), Category::Skincare, ts)
    }

    pub fn order_in(
        &mut self,
        member: &str,
        order_id: &str,
        amount: Fen,
        category: Category,
        ts: EventTime,
    ) -> &mut Self {
        let body = EventBody::Order(Order {
            order_key: stable_hash(order_id),
            amount,
            category,
        });
        self.send(member, ts, body)
    }

    pub fn login(&mut self, member: &str, ts: EventTime) -> &mut Self {
        self.send(member, ts, EventBody::Login)
    }

    pub fn left(&mut self, member: &str, ts: EventTime) -> &mut Self {
        self.send(member, ts, EventBody::MemberLeft)
    }

    pub fn ticket(
        &mut self,
        member: &str,
        ticket: &str,
        status: TicketStatus,
        ts: EventTime,
    ) -> &mut Self {
        let body = EventBody::AfterSales(AfterSales {
            ticket_id: ticket.into(),
            order_key: stable_hash("o-ticket"),
            status,
            reason: AfterSalesReason::Spoiled,
            refund: None,
        });
        self.send(member, ts, body)
    }

    /// Moves the watermark to `to`, firing every timer due by then.
    pub fn advance(&mut self, to: EventTime) -> &mut Self {
        self.engine.advance_to(to, &mut self.warnings);
        self
    }

    pub fn take(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    pub fn of_kind(&self, kind: WarningKind) -> Vec<&Warning> {
        self.warnings.iter().filter(|w| w.kind == kind).collect()
    }

    pub fn for_member(&self, member: &str) -> Vec<&Warning> {
        self.warnings
            .iter()
            .filter(|w| w.member_id.as_ref().is_some_and(|m| m.as_str() == member))
            .collect()
    }

    pub fn for_group(&self, group: &str) -> Vec<&Warning> {
        self.warnings
            .iter()
            .filter(|w| {
                w.member_id.is_none() && w.group_id.as_ref().is_some_and(|g| g.as_str() == group)
            })
            .collect()
    }

    pub fn segment(&self, member: &str) -> churnwatch::engine::Segment {
        self.engine
            .member(&MemberId::new(member))
            .expect("member exists")
            .segment
    }
}

/// `(kind, from, to, event_time)` of a warning, for compact assertions.
pub fn summary(
    w: &Warning,
) -> (
    WarningKind,
    Option<&'static str>,
    Option<&'static str>,
    EventTime,
) {
    (
        w.kind,
        w.from.map(Label::name),
        w.to.map(Label::name),
        w.event_time,
    )
}

pub fn summaries(
    ws: &[&Warning],
) -> Vec<(
    WarningKind,
    Option<&'static str>,
    Option<&'static str>,
    EventTime,
)> {
    ws.iter().map(|w| summary(w)).collect()
}

pub fn severity_of(ws: &[&Warning]) -> Vec<Severity> {
    ws.iter().map(|w| w.severity).collect()
}
