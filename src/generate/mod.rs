//! `churnwatch generate`: a seeded, reproducible synthetic workload in the JSON input
//! schema (SPEC §2, §8), realistic enough that replaying it exercises every warning kind.
//!
//! | file | owns |
//! |---|---|
//! | `mod` | options, the lazy [`Workload`], [`write_jsonl`], statistics |
//! | `population` | members, groups, tutors, group stories, tutor handovers |
//! | `behaviour` | monthly activity plans, orders, logins, after-sales, leaving, moving |
//! | `format` | one event → one JSON line |
//! | `rng` | deterministic sub-streams |
//!
//! # The population (thesis 3.2.1, 3.2.3, 3.3.4)
//!
//! - `members` members, numbered in join order (`m0000001`, …). A backlog of
//!   `1 - new_member_share` of them joined evenly over the `backlog_days` (default 450,
//!   ≈ 15 months) before `start`; their profiles are all emitted at `start`. The rest join
//!   evenly during the run, each with a `member` event at its `joined_at`.
//! - Fee tier "399" with probability `tier_399_share` (default 55 %), else "199".
//! - Groups (`g0001`, …) of 100–400 members, filled one after another in join order
//!   (sizes skewed small, mean ≈ 200); tutors (`t001`, …) run 5–8 consecutive groups.
//!   Exceptions: the last group may hold fewer than 100 members and the last tutor fewer
//!   than 5 groups (the remainder), and a group still filling at the end of the run has
//!   fewer members so far.
//! - A share `tutor_leave_share` of tutors (at least one) leaves between 30 % and 60 % of
//!   the run: every present member of their groups gets a `member` event naming a new
//!   tutor, and 20 % of those members are lost (never heard from again) — the thesis's
//!   handover loss, which pushes those groups below their benchmark.
//!
//! # Behaviour
//!
//! - Each member's life is planned per tenure month (30 days from `joined_at`): active
//!   (orders at least once) with probability benchmark(tier, tenure month) (SPEC §5) ×
//!   calibration × member loyalty × group health at mid-month. Loyalty: 12 % of members
//!   are near-dormant (5–30 %), the rest 70–135 %. Group health follows one of four
//!   stories over the run: steady (slightly above benchmark), declining, recovering, or
//!   dip-and-recover — so groups cross their benchmark in both directions.
//! - First orders: `never_order_rate` (20 %) never order, `late_first_order_rate` (10 %)
//!   order only after a tutor's push 15–45 days after joining, the rest within 14 days
//!   (geometric, mean ≈ 3.5 days): ≈ 30 % of new members miss the activation deadline.
//! - Monthly spend of an active member: band > 1000 / 500–1000 / 100–500 / < 100 yuan with
//!   shares 11 / 36 / 45 / 8 % (thesis), shifted per group by a spend tilt of up to ±5–8
//!   points (so some groups' output per active member falls below the 450-yuan target,
//!   others exceed it); members keep a preferred band 70 % of the time. The month's
//!   spend is split over 1 (< 100) … 3–7 (> 1000) orders on distinct days, amounts in
//!   integer fen, the last order taking the remainder.
//! - Categories (per order): mother_baby 20 %, nutrition 17 %, skincare 11 % + cosmetics
//!   7 %, apparel_bags 13 %, fresh_food 11 %, home 9 %, personal_care 9 %, other 3 %, each
//!   group's weights jittered ±30 % so groups have different weakest categories.
//! - Time of day (China time, UTC+8; emitted in UTC): orders fall in the evening peak
//!   19:30–24:00 with probability `evening_peak_share` (45 %; uniform would be 18.75 %),
//!   otherwise follow a daytime profile; logins and joins with 80 % of that peak share.
//! - Logins: on every order day (a few minutes before the order) plus browsing days at
//!   22 %/day in active months, 10 %/day in inactive ones (× `login_scale`); an inactive
//!   month is silent (no login at all) with probability 25 % (60 % for dormant members),
//!   so members go 30 and 60+ days without logging in.
//! - After-sales tickets on `after_sales_rate` (3 %) of orders, opened 1–72 h after the
//!   order; `after_sales_late_share` (15 %) resolved only after 49–240 h,
//!   `after_sales_unresolved_share` (5 %) never, the rest within 48 h; 60 % of resolutions
//!   carry a refund (10–100 % of the order).
//! - Leaving (`member_left`): `monthly_leave_rate` per inactive member-month (× 3 for
//!   dormant members). Moving group (second `member` event): `monthly_move_rate`, 70 %
//!   within the same tutor.
//! - Duplicates: `redelivery_rate` of lines are emitted twice in a row (same event id, same
//!   bytes); `duplicate_order_rate` of orders are sent again 1 s–15 min later with a new
//!   event id and the same `order_id`.
//!
//! # Ids
//!
//! Members `m0000001`… (join order), groups `g0001`…, tutors `t001`… (successors of
//! leaving tutors numbered after the initial ones), event ids `e0000000001`… in output
//! order, order ids `o<member>-<day of the run>` (a member orders at most once a day),
//! ticket ids `as<member>-<day>` of the order they concern (at most one ticket per order).
//! Ids widen beyond their padding rather than wrap.
//!
//! # Warm-up
//!
//! The stream starts at `start` with no history: for the first 30 days the engine's
//! windows fill up, so groups start below their benchmark and backlog members without an
//! order yet are past their activation deadline. Analyses should skip the first 30 days.
//!
//! # Determinism
//!
//! Same options ⇒ byte-identical output. All randomness comes from ChaCha8 sub-streams
//! keyed by (seed, purpose, member, month or day); events of a day are sorted by time,
//! ties in generation order; event ids are numbered in output order.

mod behaviour;
mod format;
mod population;
mod rng;
#[cfg(test)]
mod tests;
mod time_of_day;

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::model::EventTime;

use behaviour::Generator;
use rng::Purpose;

/// Knobs of the generator. `Default` gives the documented workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Members over the whole run: backlog plus newcomers.
    pub members: u32,
    /// First instant of the run (the backlog's profiles carry this time).
    pub start: EventTime,
    /// Length of the run in days; events fall in `[start, start + days)`.
    pub days: u32,
    /// Share of `members` who join during the run (the rest already exist at `start`).
    pub new_member_share: f64,
    /// The backlog joined evenly over this many days before `start`.
    pub backlog_days: u32,
    /// Share of members on fee tier "399" (the rest "199").
    pub tier_399_share: f64,
    /// Share of members who never place an order.
    pub never_order_rate: f64,
    /// Share of members whose first order comes 15–45 days after joining (past the
    /// 14-day activation deadline).
    pub late_first_order_rate: f64,
    /// Multiplies every monthly activity probability (1.0 = calibrated to the benchmark).
    pub activity_scale: f64,
    /// Multiplies the daily browsing-login probabilities.
    pub login_scale: f64,
    /// Share of orders in the evening peak 19:30–24:00 China time.
    pub evening_peak_share: f64,
    /// Share of orders that get an after-sales ticket.
    pub after_sales_rate: f64,
    /// Share of tickets resolved only after the 48 h SLA.
    pub after_sales_late_share: f64,
    /// Share of tickets never resolved.
    pub after_sales_unresolved_share: f64,
    /// Probability that an inactive member leaves in a given tenure month.
    pub monthly_leave_rate: f64,
    /// Probability that a member moves to another group in a given tenure month.
    pub monthly_move_rate: f64,
    /// Share of tutors who leave during the run (at least one when > 0).
    pub tutor_leave_share: f64,
    /// Share of lines delivered twice in a row, byte-identical.
    pub redelivery_rate: f64,
    /// Share of orders sent a second time with a new event id and the same order id.
    pub duplicate_order_rate: f64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 42,
            members: 2_000,
            start: EventTime::from_millis(1_767_225_600_000), // 2026-01-01T00:00:00Z
            days: 120,
            new_member_share: 0.25,
            backlog_days: 450,
            tier_399_share: 0.55,
            never_order_rate: 0.20,
            late_first_order_rate: 0.10,
            activity_scale: 1.0,
            login_scale: 1.0,
            evening_peak_share: 0.45,
            after_sales_rate: 0.03,
            after_sales_late_share: 0.15,
            after_sales_unresolved_share: 0.05,
            monthly_leave_rate: 0.005,
            monthly_move_rate: 0.004,
            tutor_leave_share: 0.1,
            redelivery_rate: 0.001,
            duplicate_order_rate: 0.001,
        }
    }
}

/// What a workload contained. Line counts by type include the redelivered copies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GenerateStats {
    /// Lines written.
    pub lines: u64,
    pub member: u64,
    pub member_left: u64,
    pub order: u64,
    pub login: u64,
    pub after_sales: u64,
    /// Lines that are a byte-identical redelivery of the line before.
    pub redelivered: u64,
    /// Orders that repeat an earlier order id under a new event id.
    pub duplicate_orders: u64,
    /// Distinct members, groups and tutors named by the events so far.
    pub members: u64,
    pub groups: u64,
    pub tutors: u64,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Member,
    MemberLeft,
    Order,
    Login,
    AfterSales,
}

/// One generated event before formatting (24 bytes). Field use by kind:
/// member: a = group, b = tutor, c = tier; order: a = amount fen, b = day, c = category;
/// login: c = channel; after_sales: a = refund fen, b = day of the order, c = reason.
#[derive(Copy, Clone, Debug, Default)]
struct Raw {
    ts: i64,
    member: u32,
    a: u32,
    b: u32,
    kind: Kind,
    c: u8,
    flags: u8,
}

impl Raw {
    const DUPLICATE: u8 = 1;
    const RESOLVED: u8 = 2;
    const REFUND: u8 = 4;
}

/// The events of a workload, generated lazily one day at a time (memory: the member
/// table, ≈ 48 bytes per member, plus one day of events and the few events queued for
/// later days), in non-decreasing time order.
pub struct Workload {
    gen: Generator,
    slice: Vec<Raw>,
    pos: usize,
    next_slice: u32,
    event_no: u64,
    /// The line just emitted, to be emitted once more (a redelivery).
    repeat: Option<(EventTime, Kind, Vec<u8>)>,
    stats: GenerateStats,
    seen_members: Vec<bool>,
    seen_groups: Vec<bool>,
    seen_tutors: Vec<bool>,
}

impl Workload {
    pub fn new(opts: &GenerateOptions) -> Workload {
        let gen = Generator::new(opts);
        let groups = gen.pop.groups.len();
        let tutors = gen.pop.tutor_count as usize;
        Workload {
            gen,
            slice: Vec::new(),
            pos: 0,
            next_slice: 0,
            event_no: 0,
            repeat: None,
            stats: GenerateStats::default(),
            seen_members: vec![false; opts.members as usize],
            seen_groups: vec![false; groups],
            seen_tutors: vec![false; tutors],
        }
    }

    /// Statistics of the events emitted so far.
    pub fn stats(&self) -> &GenerateStats {
        &self.stats
    }

    /// Replaces the contents of `line` with the next line (without `'\n'`) and returns its
    /// event time; `None` at the end. The allocation-free form of [`Iterator::next`].
    pub fn next_into(&mut self, line: &mut Vec<u8>) -> Option<EventTime> {
        line.clear();
        self.append_next(line)
    }

    /// Appends the next line (without `'\n'`) to `buf`.
    fn append_next(&mut self, line: &mut Vec<u8>) -> Option<EventTime> {
        if let Some((ts, kind, bytes)) = self.repeat.take() {
            line.extend_from_slice(&bytes);
            self.count(kind);
            self.stats.redelivered += 1;
            return Some(ts);
        }
        while self.pos >= self.slice.len() {
            if self.next_slice >= self.gen.opts.days {
                return None;
            }
            self.gen.fill_slice(self.next_slice, &mut self.slice);
            self.next_slice += 1;
            self.pos = 0;
        }
        let raw = self.slice[self.pos];
        self.pos += 1;
        self.event_no += 1;
        let begin = line.len();
        format::write_line(line, &raw, self.event_no, &self.gen.pop);
        self.count(raw.kind);
        self.note(&raw);
        let ts = EventTime::from_millis(raw.ts);
        let rate = self.gen.opts.redelivery_rate;
        if rate > 0.0
            && self
                .gen
                .streams
                .chance(rate, Purpose::Redelivery, self.event_no, 0)
        {
            self.repeat = Some((ts, raw.kind, line[begin..].to_vec()));
        }
        Some(ts)
    }

    fn count(&mut self, kind: Kind) {
        self.stats.lines += 1;
        match kind {
            Kind::Member => self.stats.member += 1,
            Kind::MemberLeft => self.stats.member_left += 1,
            Kind::Order => self.stats.order += 1,
            Kind::Login => self.stats.login += 1,
            Kind::AfterSales => self.stats.after_sales += 1,
        }
    }

    fn note(&mut self, raw: &Raw) {
        if raw.kind == Kind::Order && raw.flags & Raw::DUPLICATE != 0 {
            self.stats.duplicate_orders += 1;
        }
        if let Some(seen) = self.seen_members.get_mut(raw.member as usize) {
            if !*seen {
                *seen = true;
                self.stats.members += 1;
            }
        }
        if raw.kind == Kind::Member {
            if let Some(seen) = self.seen_groups.get_mut(raw.a as usize) {
                if !*seen {
                    *seen = true;
                    self.stats.groups += 1;
                }
            }
            if let Some(seen) = self.seen_tutors.get_mut(raw.b as usize) {
                if !*seen {
                    *seen = true;
                    self.stats.tutors += 1;
                }
            }
        }
    }
}

impl Iterator for Workload {
    type Item = (EventTime, String);

    fn next(&mut self) -> Option<(EventTime, String)> {
        let mut line = Vec::with_capacity(192);
        let ts = self.next_into(&mut line)?;
        Some((
            ts,
            String::from_utf8(line).expect("generated lines are ASCII"),
        ))
    }
}

/// Writes the whole workload as JSON lines (each ending in `'\n'`) and returns what it
/// contained. Buffers internally; `out` need not be buffered.
pub fn write_jsonl(opts: &GenerateOptions, out: &mut impl Write) -> io::Result<GenerateStats> {
    let mut workload = Workload::new(opts);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    while workload.append_next(&mut buf).is_some() {
        buf.push(b'\n');
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(workload.stats.clone())
}
