//! Per-member state and what derives from it at an instant without a rule's judgement:
//! RFM figures, lifecycle stage, the group contribution. Pure functions of the state and
//! a time; the segment she belongs in and her next wake-up are the rules' (`rule/mod.rs`,
//! on the same `Member`), and the engine core decides when to call them and what to
//! emit. Also the compact remainder a settled, long-silent member is held in
//! ([`Remainder`]).
use serde::{Deserialize, Serialize};

use compact_str::CompactString;
use foldhash::fast::FixedState;
use hashbrown::HashMap;

use super::arena::{IdArena, IdSlot};
use super::benchmark::{tenure_month, TENURE_MONTH};
use super::cap_log::CapLog;
use super::group::Contribution;
use super::lifecycle::Stage;
use super::orders::{OrderList, OrderPool};
pub use super::orders::{OrderRec, MAX_ORDER_AMOUNT, ORDER_EPOCH};
use super::rules::Rules;
use super::segment::{Rfm, Segment};
use crate::model::{Category, EventTime, Fen, Span};
use crate::settings::MAX_RISK_LEVELS;

pub const WINDOW_30: Span = Span::days(30);
pub const WINDOW_90: Span = Span::days(90);

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketState {
    Open,
    /// Open, and `AFTER_SALES_OVERDUE` already sent.
    OpenWarned,
    /// Kept until the retention horizon so a redelivered "opened" cannot reopen it.
    Resolved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: CompactString,
    pub opened_at: EventTime,
    pub state: TicketState,
}

pub const NO_GROUP: u32 = u32::MAX;

/// "Never" for instants stored without an `Option` (8 bytes instead of 16, per field, per
/// member): no event time can be this small.
const NEVER: EventTime = EventTime::MIN;

/// The instants an event (its time, or a profile's `joined_at`) may carry: what an
/// [`Instant48`] holds, about 4 400 years either side of 1970.
pub const INSTANT_MIN: EventTime = EventTime(-(1 << 47) + 1);
pub const INSTANT_MAX: EventTime = EventTime((1 << 47) - 1);

/// A signed 48-bit number in three u16: six bytes with no alignment padding inside the
/// member record. Values beyond ±2^47 are clamped.
#[derive(Copy, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Packed48([u16; 3]);

impl Packed48 {
    const MIN: i64 = -(1 << 47);
    const MAX: i64 = (1 << 47) - 1;

    fn new(value: i64) -> Packed48 {
        let bits = value.clamp(Self::MIN, Self::MAX) as u64;
        Packed48([bits as u16, (bits >> 16) as u16, (bits >> 32) as u16])
    }

    fn get(self) -> i64 {
        let [a, b, c] = self.0.map(u64::from);
        // Sign-extend from 48 bits.
        (((c << 32 | b << 16 | a) << 16) as i64) >> 16
    }
}

/// An instant in 6 bytes: milliseconds since 1970 as a signed 48-bit number, exact over
/// `INSTANT_MIN ..= INSTANT_MAX`, with the one value below for `NEVER`. The engine refuses
/// events whose instants fall outside, so every stored instant is exact.
#[derive(Copy, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instant48(Packed48);

impl Instant48 {
    pub fn fits(at: EventTime) -> bool {
        (INSTANT_MIN..=INSTANT_MAX).contains(&at)
    }

    /// `NEVER` stays `NEVER`; anything else out of range is clamped (callers check
    /// [`Instant48::fits`] first).
    fn new(at: EventTime) -> Instant48 {
        let ms = if at == NEVER {
            Packed48::MIN
        } else {
            at.as_millis()
                .clamp(INSTANT_MIN.as_millis(), INSTANT_MAX.as_millis())
        };
        Instant48(Packed48::new(ms))
    }

    fn get(self) -> EventTime {
        let ms = self.0.get();
        if ms < INSTANT_MIN.as_millis() {
            NEVER
        } else {
            EventTime(ms)
        }
    }
}

impl std::fmt::Debug for Packed48 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

impl std::fmt::Debug for Instant48 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.get())
    }
}

/// After-sales tickets by member slot. Few members have any, so they live in one table
/// the engine owns and a member record carries only a flag.
pub type TicketTable = HashMap<u32, Vec<Ticket>, FixedState>;

/// Per-member state. Laid out for size: 10 M members must fit in about 2 GB, so instants
/// use a sentinel instead of `Option`, and the id, the orders and the tickets live in
/// tables the engine owns ([`IdArena`], [`OrderPool`], [`TicketTable`]). Whatever reads
/// them is on [`Member`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberState {
    id: IdSlot,
    joined_at: Instant48,
    /// Event time of the latest `member`/`member_left` applied: profile updates are
    /// last-writer-wins by event time, so a redelivered old profile changes nothing.
    profile_ts: Instant48,
    /// Her first order; until she has one, the event time of the first event seen for
    /// her. That instant matters only while she has no order: the engine warns only
    /// about what it has observed happening (an activation deadline that passed before
    /// she was first seen is not news).
    first: Instant48,
    last_order: Instant48,
    /// The last login, or when the member was first seen if she has not logged in since:
    /// "no login for 30 days" can only be judged from what this processor has seen.
    login_ref: Instant48,
    /// The instant the state was last evaluated at; never decreases. (Read on every event
    /// and timer step: a full word, not a packed instant.)
    clock: EventTime,
    /// The pending timer; `NEVER` when none.
    wake: EventTime,
    /// While she is in `decline`: the instant her recall schedule counts from. That is
    /// the first millisecond of her decline, unless a late event put her there, in which
    /// case it is the watermark it was applied at (SPEC §3). `NEVER` outside a decline,
    /// and after a new last order (which ends the schedule).
    recall_from: Instant48,
    /// Saturates at 2^47 − 1 fen (1.4 × 10^12 yuan), which no member reaches.
    lifetime_amount: Packed48,
    /// Orders within the retention horizon, ascending by time, in the engine's pool.
    orders: OrderList,
    /// When her last non-critical notified warnings were (contact cap).
    pub cap_log: CapLog,
    /// Interned group, `NO_GROUP` until the first `member` event.
    pub group: u32,
    pub tutor: u32,
    pub lifetime_orders: u32,
    /// The UTC calendar days she ordered on (saturating): the churn-probability models
    /// count purchase occasions, and several orders on one day are one occasion there
    /// (as `lifetimes` and the CDNOW data count them). Fits the record's padding.
    purchase_days: u16,
    /// The fee tier's index (low [`TIER_BITS`]) and the churn-risk level above it: how
    /// many of `churn_risk.thresholds` her P(alive) was below when last evaluated.
    tier_risk: u8,
    /// [`LEFT`], [`HAS_TICKETS`], [`VACANT`] and [`GROUP_WAKE`] in the low bits, the
    /// lifecycle stage above [`STAGE_SHIFT`]: one byte for all.
    flags: u8,
    pub segment: Segment,
    /// Recall attempts already sent for the current decline (low four bits) and
    /// login-lapse levels already sent since `login_ref` (high four bits); the
    /// configuration allows at most [`MAX_FIRED`] of each.
    fired: u8,
    /// When she last fell (a warned downgrade or missed activation), while her latest
    /// segment change is that fall; `NEVER` otherwise. Orders tutors' at-risk lists.
    fell: Instant48,
}

/// Bits of the tier-and-risk byte that hold the tier: at most 64 fee tiers
/// ([`crate::settings::MAX_TIERS`]).
const TIER_BITS: u32 = 6;
const TIER_MASK: u8 = (1 << TIER_BITS) - 1;

/// The UTC calendar day of `at`, as days since the epoch.
fn utc_day(at: EventTime) -> i64 {
    at.as_millis().div_euclid(Span::DAY.as_millis())
}

/// The most recall attempts, and the most login-lapse levels, a member record counts.
pub const MAX_FIRED: usize = 15;

/// Her membership ended (`member_left`).
const LEFT: u8 = 1;
/// The ticket table holds tickets of hers.
const HAS_TICKETS: u8 = 2;
/// The record is free: its member was evicted and no one has taken the slot since.
const VACANT: u8 = 4;
/// At her pending wake-up only her group contribution can change (see
/// [`Member::wake_plan`]).
const GROUP_WAKE: u8 = 8;
/// The lifecycle stage's index in [`Stage::ALL`] sits above the flags.
const STAGE_SHIFT: u32 = 4;
/// Her pending wake-up is only for eviction (forgetting her, or moving her to a
/// remainder): no figure of hers changes then.
const EVICTION_WAKE: u8 = 0x80;
const STAGE_MASK: u8 = 0x70;

/// Why a member was forgotten.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// She left and has been silent for `state.evict_left_after`.
    Left,
    /// She has been silent for `state.evict_dormant_after`.
    Dormant,
}

impl Eviction {
    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Eviction::Left => "left",
            Eviction::Dormant => "dormant",
        }
    }
}

impl MemberState {
    pub fn new(id: IdSlot, first_seen: EventTime) -> MemberState {
        MemberState {
            id,
            joined_at: Instant48::new(NEVER),
            profile_ts: Instant48::new(NEVER),
            first: Instant48::new(first_seen),
            last_order: Instant48::new(NEVER),
            login_ref: Instant48::new(first_seen),
            clock: first_seen,
            wake: NEVER,
            recall_from: Instant48::new(NEVER),
            lifetime_amount: Packed48::new(0),
            orders: OrderList::default(),
            cap_log: CapLog::default(),
            group: NO_GROUP,
            tutor: 0,
            lifetime_orders: 0,
            purchase_days: 0,
            tier_risk: 0,
            flags: (Stage::Acquisition as u8) << STAGE_SHIFT,
            segment: Segment::New,
            fired: 0,
            fell: Instant48::new(NEVER),
        }
    }

    /// The instant her state was last evaluated at.
    pub fn clock(&self) -> EventTime {
        self.clock
    }

    /// Moves her clock to `at` (never back: callers pass an instant at or after it).
    pub fn set_clock(&mut self, at: EventTime) {
        debug_assert!(at >= self.clock);
        self.clock = at;
    }

    pub fn stage(&self) -> Stage {
        Stage::ALL[usize::from((self.flags & STAGE_MASK) >> STAGE_SHIFT) % Stage::ALL.len()]
    }

    pub fn set_stage(&mut self, stage: Stage) {
        self.flags = self.flags & !STAGE_MASK | (stage as u8) << STAGE_SHIFT;
    }

    /// Recall attempts already sent for the current decline.
    pub fn recall_fired(&self) -> u8 {
        self.fired & 0xF
    }

    /// Login-lapse levels already sent since her last login.
    pub fn lapse_fired(&self) -> u8 {
        self.fired >> 4
    }

    /// Records the attempts and levels sent; the configuration bounds both by
    /// [`MAX_FIRED`].
    pub fn set_fired(&mut self, recall: u8, lapse: u8) {
        debug_assert!(usize::from(recall.max(lapse)) <= MAX_FIRED);
        self.fired = recall.min(0xF) | lapse.min(0xF) << 4;
    }

    /// Where the current decline's recall schedule counts from, once she is in one.
    pub fn recall_from(&self) -> Option<EventTime> {
        let at = self.recall_from.get();
        (at != NEVER).then_some(at)
    }

    pub fn set_recall_from(&mut self, at: Option<EventTime>) {
        self.recall_from = Instant48::new(at.unwrap_or(NEVER));
    }

    /// A free record, for the slot of an evicted member.
    pub fn vacant() -> MemberState {
        let mut m = MemberState::new(IdSlot::default(), NEVER);
        m.flags |= VACANT;
        m
    }

    pub fn is_vacant(&self) -> bool {
        self.flags & VACANT != 0
    }

    pub fn lifetime_amount(&self) -> Fen {
        Fen(self.lifetime_amount.get())
    }

    /// The UTC calendar days she ordered on.
    pub fn purchase_days(&self) -> u32 {
        u32::from(self.purchase_days)
    }

    /// Her fee tier's index in the benchmark table.
    pub fn tier(&self) -> u8 {
        self.tier_risk & TIER_MASK
    }

    pub fn set_tier(&mut self, tier: u8) {
        debug_assert!(tier <= TIER_MASK, "tier index {tier} past {TIER_MASK}");
        self.tier_risk = self.tier_risk & !TIER_MASK | tier & TIER_MASK;
    }

    /// How many churn-risk thresholds her P(alive) was below when last evaluated.
    pub fn risk_level(&self) -> u8 {
        self.tier_risk >> TIER_BITS
    }

    pub fn set_risk_level(&mut self, level: u8) {
        debug_assert!(usize::from(level) <= MAX_RISK_LEVELS);
        self.tier_risk = self.tier_risk & TIER_MASK | level << TIER_BITS;
    }

    /// Her last sign of life: the latest profile change, order or login (or when she was
    /// first seen). Ticket events do not count: a ticket still open keeps her anyway.
    pub fn last_seen(&self) -> EventTime {
        self.profile_ts
            .get()
            .max(self.last_order.get())
            .max(self.login_ref.get())
    }

    /// She is held as a [`Remainder`] from now on, if nothing the remainder drops is
    /// left: no order or ticket in the state, no contact-cap entry, no recall schedule
    /// running, every lapse level sent. The caller has checked that no change of hers is
    /// pending and that her silence has reached its horizon.
    pub fn remainder(&self, lapse_levels: usize) -> Option<Remainder> {
        let amount = self.lifetime_amount.get();
        let settled = self.orders.is_empty()
            && !self.has_tickets()
            && self.cap_log.is_empty()
            && self.recall_fired() == 0
            && self.recall_from().is_none()
            && usize::from(self.lapse_fired()) == lapse_levels
            && !self.is_vacant();
        (settled && self.fits_remainder()).then(|| Remainder {
            joined_at: self.joined_at,
            first: self.first,
            last_order: self.last_order,
            login_ref: self.login_ref,
            fell: self.fell,
            lifetime: Remainder::pack_lifetime(amount, self.lifetime_orders, self.purchase_days),
            group: self.group,
            tutor: self.tutor,
            tier: self.tier(),
            packed: self.segment as u8 | (self.stage() as u8) << 4 | u8::from(self.left()) << 7,
        })
    }

    /// Whether her lifetime figures fit a [`Remainder`].
    pub(in crate::engine) fn fits_remainder(&self) -> bool {
        (0..1 << Remainder::AMOUNT_BITS).contains(&self.lifetime_amount.get())
            && self.lifetime_orders < 1 << Remainder::ORDERS_BITS
            && u32::from(self.purchase_days) < 1 << Remainder::DAYS_BITS
    }

    /// The hot record of a member held as `remainder`, as she was when she left the hot
    /// state, her clock at `clock` (no figure of hers changed since).
    pub fn revived(
        id: IdSlot,
        r: &Remainder,
        clock: EventTime,
        lapse_levels: usize,
    ) -> MemberState {
        let mut m = MemberState::new(id, clock);
        m.joined_at = r.joined_at;
        m.first = r.first;
        m.last_order = r.last_order;
        m.login_ref = r.login_ref;
        m.fell = r.fell;
        m.lifetime_amount = Packed48::new(r.lifetime_amount());
        m.lifetime_orders = r.lifetime_orders();
        m.purchase_days = r.purchase_days();
        m.group = r.group;
        m.tutor = r.tutor;
        m.set_tier(r.tier);
        m.segment = r.segment();
        m.set_stage(r.stage());
        m.set_left(r.left());
        m.set_fired(0, lapse_levels.min(MAX_FIRED) as u8);
        m
    }

    /// Gives her orders back to the pool (she is being evicted).
    pub fn release_orders(&mut self, pool: &mut OrderPool) {
        let n = self.orders.len();
        pool.remove_front(&mut self.orders, n);
    }

    pub fn id_slot_mut(&mut self) -> &mut IdSlot {
        &mut self.id
    }

    /// Whether her membership ended (`member_left`, not undone by a later profile).
    pub fn left(&self) -> bool {
        self.flags & LEFT != 0
    }

    pub fn set_left(&mut self, left: bool) {
        if left {
            self.flags |= LEFT;
        } else {
            self.flags &= !LEFT;
        }
    }

    /// When she last fell, if her latest segment change was a warned fall.
    pub fn fell_at(&self) -> Option<EventTime> {
        let at = self.fell.get();
        (at != NEVER).then_some(at)
    }

    pub fn set_fell_at(&mut self, at: Option<EventTime>) {
        self.fell = Instant48::new(at.unwrap_or(NEVER));
    }

    pub fn first_order_at(&self) -> Option<EventTime> {
        self.last_order_at().map(|_| self.first.get())
    }

    /// When she was first seen, while she has no order (after that, `None`).
    pub fn first_seen_unordered(&self) -> Option<EventTime> {
        self.last_order_at().is_none().then(|| self.first.get())
    }

    /// `joined_at` of her profile (meaningless without one: see [`Self::has_profile`]).
    pub fn joined_at(&self) -> EventTime {
        self.joined_at.get()
    }

    pub fn profile_ts(&self) -> EventTime {
        self.profile_ts.get()
    }

    pub fn login_ref(&self) -> EventTime {
        self.login_ref.get()
    }

    /// Records a profile's `joined_at` and event time; both were checked to fit.
    pub fn set_profile_times(&mut self, joined_at: Option<EventTime>, ts: EventTime) {
        if let Some(joined_at) = joined_at {
            self.joined_at = Instant48::new(joined_at);
        }
        self.profile_ts = Instant48::new(ts);
    }

    pub fn set_login_ref(&mut self, at: EventTime) {
        self.login_ref = Instant48::new(at);
    }

    pub fn id_slot(&self) -> &IdSlot {
        &self.id
    }

    pub fn last_order_at(&self) -> Option<EventTime> {
        let last = self.last_order.get();
        (last != NEVER).then_some(last)
    }

    /// The pending wake-up, if any.
    pub fn wake(&self) -> Option<EventTime> {
        (self.wake != NEVER).then_some(self.wake)
    }

    pub fn set_wake(&mut self, wake: Option<EventTime>) {
        self.wake = wake.unwrap_or(NEVER);
    }

    /// Whether at her pending wake-up only her group contribution can change.
    pub fn group_wake(&self) -> bool {
        self.flags & GROUP_WAKE != 0
    }

    /// Whether her pending wake-up is only for eviction: nothing of hers changes then.
    pub fn eviction_wake(&self) -> bool {
        self.flags & EVICTION_WAKE != 0
    }

    /// Records what kind of wake-up is pending ([`Wake`]).
    pub fn set_wake_kind(&mut self, wake: &Wake) {
        self.flags &= !(GROUP_WAKE | EVICTION_WAKE);
        if wake.group_only {
            self.flags |= GROUP_WAKE;
        }
        if wake.eviction {
            self.flags |= EVICTION_WAKE;
        }
    }

    pub fn order_list(&self) -> OrderList {
        self.orders
    }

    pub fn has_tickets(&self) -> bool {
        self.flags & HAS_TICKETS != 0
    }

    /// Her tickets in `table`, created empty if she had none.
    pub fn tickets_mut<'t>(&mut self, idx: u32, table: &'t mut TicketTable) -> &'t mut Vec<Ticket> {
        self.flags |= HAS_TICKETS;
        table.entry(idx).or_default()
    }

    /// Records an order unless its id is already held within the retention horizon (after
    /// `horizon_start`). Returns whether it was new.
    pub fn record_order(
        &mut self,
        pool: &mut OrderPool,
        at: EventTime,
        order_key: u64,
        category: Category,
        amount: Fen,
        horizon_start: EventTime,
    ) -> bool {
        let key = OrderRec::key_of(order_key);
        let orders = pool.get(self.orders);
        if orders
            .iter()
            .any(|o| o.key() == key && o.at() > horizon_start)
        {
            return false;
        }
        let pos = orders.partition_point(|o| o.at() <= at);
        // Orders are in time order, so another order on her day is a neighbour. (One on
        // that day already past the horizon is gone: an order more than 89 days late may
        // count a day twice, see README "How the rules are read".)
        let day = utc_day(at);
        let day_seen = pos
            .checked_sub(1)
            .and_then(|i| orders.get(i))
            .into_iter()
            .chain(orders.get(pos))
            .any(|o| utc_day(o.at()) == day);
        if !day_seen {
            self.purchase_days = self.purchase_days.saturating_add(1);
        }
        pool.insert(
            &mut self.orders,
            pos,
            OrderRec::new(at, order_key, category, amount),
        );
        self.lifetime_orders += 1;
        self.lifetime_amount = Packed48::new(self.lifetime_amount.get().saturating_add(amount.0));
        let last = self.last_order.get();
        if last == NEVER || at < self.first.get() {
            self.first = Instant48::new(at);
        }
        if at > last {
            self.last_order = Instant48::new(at);
            // A new last order ends any recall schedule in progress.
            self.set_fired(0, self.lapse_fired());
            self.set_recall_from(None);
        }
        true
    }

    /// Forgets what is older than the retention horizon: orders at or before
    /// `horizon_start`, resolved tickets opened by then, and cap entries outside any window.
    pub fn prune(
        &mut self,
        idx: u32,
        pool: &mut OrderPool,
        tickets: &mut TicketTable,
        horizon_start: EventTime,
        cap_window_start: EventTime,
    ) {
        let orders = pool.get(self.orders);
        // Usually her oldest order is still within the horizon: nothing to search.
        if orders.first().is_some_and(|o| o.at() <= horizon_start) {
            let keep_from = orders.partition_point(|o| o.at() <= horizon_start);
            pool.remove_front(&mut self.orders, keep_from);
        }
        if self.has_tickets() {
            if let Some(list) = tickets.get_mut(&idx) {
                list.retain(|t| t.state != TicketState::Resolved || t.opened_at > horizon_start);
                if list.is_empty() {
                    tickets.remove(&idx);
                    self.flags &= !HAS_TICKETS;
                }
            }
        }
        self.cap_log.forget_until(cap_window_start);
    }

    pub fn has_profile(&self) -> bool {
        self.group != NO_GROUP
    }

    /// In a group's counts: has a profile and has not left.
    pub fn in_group(&self) -> bool {
        self.has_profile() && !self.left()
    }

    /// When her next login-lapse level is due, if one is left to send.
    #[inline]
    pub fn next_lapse_due(&self, rules: &Rules) -> Option<EventTime> {
        let lapses = &rules.settings.lifecycle.login_lapse;
        lapses
            .get(usize::from(self.lapse_fired()))
            .map(|lapse| self.login_ref() + *lapse)
    }

    pub fn stage_at(&self, now: EventTime) -> Stage {
        Stage::at(now, self.last_order_at(), self.lifetime_orders)
    }
}

/// A member's next wake-up: when, and whether only her group contribution can change then
/// (`group_only`), or nothing of hers at all because it is only for eviction (`eviction`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    pub at: EventTime,
    pub group_only: bool,
    pub eviction: bool,
}

impl Wake {
    pub fn member(at: EventTime) -> Wake {
        Wake {
            at,
            group_only: false,
            eviction: false,
        }
    }

    pub fn group(at: EventTime) -> Wake {
        Wake {
            at,
            group_only: true,
            eviction: false,
        }
    }

    pub(in crate::engine) fn eviction(at: EventTime) -> Wake {
        Wake {
            at,
            group_only: false,
            eviction: true,
        }
    }
}

/// What a member silent for `state.evict_dormant_after`, whose state no longer changes
/// with time, still needs so that she counts in her group and, when she comes back,
/// resumes exactly where she was: her profile, lifetime figures, first and last order,
/// last login, segment, stage and last fall. 48 bytes instead of the hot record's 120
/// and its orders (none are left by then). Her profile's event time is not kept: any
/// event of hers the engine still accepts is newer (the dormant horizon is at least the
/// retention horizon), so last-writer-wins never needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remainder {
    joined_at: Instant48,
    first: Instant48,
    last_order: Instant48,
    login_ref: Instant48,
    fell: Instant48,
    /// The lifetime amount in fen (low [`Remainder::AMOUNT_BITS`]), the lifetime order
    /// count above it and the purchase days at the top, as two u32 so that the remainder
    /// needs no 8-byte alignment.
    lifetime: [u32; 2],
    group: u32,
    tutor: u32,
    tier: u8,
    /// The segment (low 4 bits), the stage (next 3) and whether she left (top bit).
    packed: u8,
}

impl Remainder {
    /// 6.8 × 10^8 yuan, 65 535 orders, 4 095 purchase days: a member past any of them
    /// stays in the hot state.
    const AMOUNT_BITS: u32 = 36;
    const ORDERS_BITS: u32 = 16;
    const DAYS_BITS: u32 = 12;

    fn pack_lifetime(amount: i64, orders: u32, days: u16) -> [u32; 2] {
        let packed = amount as u64
            | u64::from(orders) << Self::AMOUNT_BITS
            | u64::from(days) << (Self::AMOUNT_BITS + Self::ORDERS_BITS);
        [packed as u32, (packed >> 32) as u32]
    }

    fn lifetime_bits(&self) -> u64 {
        u64::from(self.lifetime[0]) | u64::from(self.lifetime[1]) << 32
    }

    fn lifetime_amount(&self) -> i64 {
        (self.lifetime_bits() & ((1 << Self::AMOUNT_BITS) - 1)) as i64
    }

    fn lifetime_orders(&self) -> u32 {
        ((self.lifetime_bits() >> Self::AMOUNT_BITS) & ((1 << Self::ORDERS_BITS) - 1)) as u32
    }

    fn purchase_days(&self) -> u16 {
        (self.lifetime_bits() >> (Self::AMOUNT_BITS + Self::ORDERS_BITS)) as u16
    }

    fn segment(&self) -> Segment {
        Segment::ALL[usize::from(self.packed & 0xF) % Segment::ALL.len()]
    }

    fn stage(&self) -> Stage {
        Stage::ALL[usize::from((self.packed >> 4) & 0x7) % Stage::ALL.len()]
    }

    fn left(&self) -> bool {
        self.packed & 0x80 != 0
    }

    /// The tier index of a remainder slot that holds no one: no benchmark has that many.
    pub const VACANT_TIER: u8 = u8::MAX;

    pub fn vacant() -> Remainder {
        let never = Instant48::new(NEVER);
        Remainder {
            joined_at: never,
            first: never,
            last_order: never,
            login_ref: never,
            fell: never,
            lifetime: [0, 0],
            group: NO_GROUP,
            tutor: 0,
            tier: Self::VACANT_TIER,
            packed: 0,
        }
    }

    pub fn is_vacant(&self) -> bool {
        self.tier == Self::VACANT_TIER
    }

    /// Her interned group and tutor (as the hot record holds them).
    pub fn group(&self) -> u32 {
        self.group
    }

    pub fn tutor(&self) -> u32 {
        self.tutor
    }

    pub fn tier(&self) -> u8 {
        self.tier
    }

    pub fn has_profile(&self) -> bool {
        self.group != NO_GROUP
    }
}

/// A member's record together with what the engine holds for her elsewhere (id, orders,
/// tickets): everything derived from her state at an instant. The engine reads its own
/// records in place; queries and exports get a [`MemberCopy`].
#[derive(Clone, Copy)]
pub struct Member<'a> {
    idx: u32,
    state: &'a MemberState,
    ids: &'a IdArena,
    orders: &'a [OrderRec],
    /// Looked up only when read: few members have tickets, and most views never ask.
    tickets: &'a TicketTable,
}

/// A member's record copied out of the engine, with the engine's tables for the rest:
/// how queries and exports read a member wherever she is held (a dormant one's record is
/// rebuilt from her remainder). Reads as her record; [`MemberCopy::view`] for the rest.
pub struct MemberCopy<'a> {
    idx: u32,
    state: MemberState,
    ids: &'a IdArena,
    orders: &'a [OrderRec],
    tickets: &'a TicketTable,
}

impl<'a> Member<'a> {
    #[inline]
    pub fn new(
        idx: u32,
        state: &'a MemberState,
        ids: &'a IdArena,
        pool: &'a OrderPool,
        tickets: &'a TicketTable,
    ) -> Member<'a> {
        Member {
            idx,
            state,
            ids,
            orders: pool.get(state.orders),
            tickets,
        }
    }

    /// A copy of her record, read like the original.
    pub fn copied(&self) -> MemberCopy<'a> {
        MemberCopy {
            idx: self.idx,
            state: self.state.clone(),
            ids: self.ids,
            orders: self.orders,
            tickets: self.tickets,
        }
    }

    pub fn id(&self) -> &'a str {
        self.ids.resolve(&self.state.id)
    }

    pub fn tickets(&self) -> &'a [Ticket] {
        if self.state.has_tickets() {
            self.tickets.get(&self.idx).map_or(&[][..], Vec::as_slice)
        } else {
            &[]
        }
    }

    /// Orders within the retention horizon, ascending by time.
    pub fn orders(&self) -> &'a [OrderRec] {
        self.orders
    }

    /// RFM figures at `now`, from the orders at or before `now`.
    pub fn rfm(&self, now: EventTime) -> Rfm {
        let mut rfm = Rfm::default();
        let mut last_in_list = None;
        for order in self.orders.iter().take_while(|o| o.at() <= now) {
            last_in_list = Some(order.at());
            if order.at() > now - WINDOW_90 {
                rfm.f90 += 1;
                if order.at() > now - WINDOW_30 {
                    rfm.f30 += 1;
                    rfm.m30 += order.amount();
                }
            }
        }
        let last = match self.last_order_at() {
            Some(last) if last <= now => Some(last),
            _ => last_in_list,
        };
        rfm.recency = last.map(|last| now - last);
        rfm
    }

    /// What the member adds to its group's figures at `now`, or `None` outside any group.
    pub fn contribution(&self, now: EventTime, rules: &Rules) -> Option<(u32, Contribution)> {
        let (group, [c]) = self.contributions([now], rules)?;
        Some((group, c))
    }

    /// [`Member::contribution`] at each of `instants`, in one pass over the orders: a
    /// timer step needs it at the member's clock and at the step's instant. Inlined so
    /// the array is built in the caller's frame rather than copied out.
    #[inline]
    pub fn contributions<const N: usize>(
        &self,
        instants: [EventTime; N],
        rules: &Rules,
    ) -> Option<(u32, [Contribution; N])> {
        if !self.in_group() {
            return None;
        }
        let mut cs = instants.map(|now| {
            let counted = now - self.joined_at() >= TENURE_MONTH;
            Contribution {
                tracked: true,
                counted,
                expected_pct: if counted {
                    rules
                        .benchmark
                        .expected_pct(self.tier(), tenure_month(self.joined_at(), now))
                } else {
                    0
                },
                ..Contribution::default()
            }
        });
        let latest = instants.iter().copied().max().unwrap_or(EventTime::MIN);
        // Orders are ascending by time: none after the latest instant counts.
        for order in self.orders.iter().take_while(|o| o.at() <= latest) {
            let at = order.at();
            for (c, &now) in cs.iter_mut().zip(&instants) {
                if c.counted && at <= now && at > now - WINDOW_30 {
                    c.active = true;
                    c.revenue[order.category().index()] += order.amount();
                }
            }
        }
        Some((self.group, cs))
    }
}

impl std::ops::Deref for Member<'_> {
    type Target = MemberState;
    fn deref(&self) -> &MemberState {
        self.state
    }
}

impl<'a> MemberCopy<'a> {
    /// A member held as a remainder, read as her hot record would be.
    pub fn dormant(state: MemberState, ids: &'a IdArena, tickets: &'a TicketTable) -> Self {
        debug_assert!(state.orders.is_empty() && !state.has_tickets());
        MemberCopy {
            idx: u32::MAX,
            state,
            ids,
            orders: &[],
            tickets,
        }
    }

    /// Everything derived from her record, as the engine reads it.
    pub fn view(&self) -> Member<'_> {
        Member {
            idx: self.idx,
            state: &self.state,
            ids: self.ids,
            orders: self.orders,
            tickets: self.tickets,
        }
    }

    pub fn id(&self) -> &str {
        self.view().id()
    }

    pub fn tickets(&self) -> &[Ticket] {
        self.view().tickets()
    }

    /// RFM figures at `now` ([`Member::rfm`]).
    pub fn rfm(&self, now: EventTime) -> Rfm {
        self.view().rfm(now)
    }
}

impl std::ops::Deref for MemberCopy<'_> {
    type Target = MemberState;
    fn deref(&self) -> &MemberState {
        &self.state
    }
}

impl std::fmt::Debug for MemberCopy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view().fmt(f)
    }
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id())
            .field("state", self.state)
            .field("orders", &self.orders)
            .field("tickets", &self.tickets())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 M members in 2 GB (SPEC §9) leaves about 120 bytes for the record itself; this
    /// catches a field that widens it by accident.
    #[test]
    fn the_member_record_holds_its_size() {
        assert_eq!(std::mem::size_of::<Instant48>(), 6);
        assert_eq!(std::mem::size_of::<MemberState>(), 120);
    }

    /// A member in group 0 who joined `joined_days` before `t0` and placed one order of
    /// `yuan` at `order_at`, in `segment`, last seen logging in at `t0`.
    fn grouped(
        t0: EventTime,
        joined_days: i64,
        order_at: EventTime,
        yuan: i64,
        segment: Segment,
    ) -> (MemberState, OrderPool) {
        let mut pool = OrderPool::default();
        let mut m = MemberState::new(IdSlot::default(), order_at);
        m.group = 0;
        m.set_profile_times(Some(t0 - Span::days(joined_days)), order_at);
        m.record_order(
            &mut pool,
            order_at,
            1,
            Category::Home,
            Fen(yuan * 100),
            NEVER,
        );
        m.segment = segment;
        m.set_login_ref(t0);
        (m, pool)
    }

    /// Purchase occasions are UTC calendar days: a second order on a day she already
    /// ordered on, in order or late, is not one; an order on another day is, late or not;
    /// a redelivered order is nothing.
    #[test]
    fn purchase_days_count_each_utc_day_once() {
        let day = |d: i64, h: i64| ORDER_EPOCH + Span::days(d) + Span::hours(h);
        let mut pool = OrderPool::default();
        let mut m = MemberState::new(IdSlot::default(), day(0, 0));
        let mut order = |m: &mut MemberState, key: u64, at: EventTime| {
            m.record_order(&mut pool, at, key, Category::Home, Fen(100), NEVER)
        };
        assert_eq!(m.purchase_days(), 0);
        order(&mut m, 1, day(10, 1));
        order(&mut m, 2, day(10, 23));
        assert_eq!((m.lifetime_orders, m.purchase_days()), (2, 1));
        order(&mut m, 3, day(12, 0));
        assert_eq!(m.purchase_days(), 2);
        // Late, on a day between the others; then late on day 10 again.
        order(&mut m, 4, day(11, 5));
        order(&mut m, 5, day(10, 12));
        assert_eq!((m.lifetime_orders, m.purchase_days()), (5, 3));
        // Late, before her first order.
        order(&mut m, 6, day(9, 23));
        assert_eq!(m.purchase_days(), 4);
        assert!(!order(&mut m, 3, day(12, 0)), "a redelivered order");
        assert_eq!((m.lifetime_orders, m.purchase_days()), (6, 4));
    }

    /// The remainder keeps the lifetime figures bit for bit, purchase days included, and
    /// refuses what it cannot hold.
    #[test]
    fn the_remainder_packs_lifetime_figures_exactly() {
        let mut m = MemberState::new(IdSlot::default(), EventTime(0));
        m.lifetime_amount = Packed48::new((1 << Remainder::AMOUNT_BITS) - 1);
        m.lifetime_orders = (1 << Remainder::ORDERS_BITS) - 1;
        m.purchase_days = (1 << Remainder::DAYS_BITS) - 1;
        let r = m
            .remainder(0)
            .expect("settled and within the remainder's widths");
        let back = MemberState::revived(IdSlot::default(), &r, EventTime(0), 0);
        assert_eq!(back.lifetime_amount, m.lifetime_amount);
        assert_eq!(back.lifetime_orders, m.lifetime_orders);
        assert_eq!(back.purchase_days, m.purchase_days);
        m.purchase_days += 1;
        assert!(
            m.remainder(0).is_none(),
            "too many purchase days for a remainder"
        );
    }

    /// The timer step skips her evaluation exactly when the plan says group-only, so the
    /// plan must call a wake group-only only when every member-side instant is later.
    #[test]
    fn a_wake_is_group_only_when_only_her_group_figures_can_change_then() {
        let rules = Rules::new(&crate::settings::Settings::default());
        let (ids, tickets) = (IdArena::default(), TicketTable::default());
        let t0 = EventTime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let plan = |m: &MemberState, pool: &OrderPool| {
            Member::new(0, m, &ids, pool, &tickets).wake_plan(t0, &rules)
        };
        // A first tenure month ending in 20 days comes before her row's bound, the
        // decline boundary, the order leaving the window and the login lapse (30 days).
        let (mut m, pool) = grouped(t0, 10, t0, 50, Segment::GeneralDevelopment);
        let tenure = t0 + Span::days(20);
        assert_eq!(plan(&m, &pool), Some(Wake::group(tenure)));
        // A member-side instant at the same millisecond makes it a full evaluation.
        m.set_login_ref(tenure - Span::days(30));
        assert_eq!(plan(&m, &pool), Some(Wake::member(tenure)));
        // An order leaving the 30-day window in 5 days: group-only for a row that reads
        // no 30-day figure (R ≤ 30 d) ...
        let order_at = t0 - Span::days(25);
        let (m, pool) = grouped(t0, 40, order_at, 150, Segment::GeneralDevelopment);
        let leaves = order_at + WINDOW_30;
        assert_eq!(plan(&m, &pool), Some(Wake::group(leaves)));
        // ... but not for one whose rule reads M30 (R ≤ 30 d and M30 ≥ 100).
        let (m, pool) = grouped(t0, 40, order_at, 150, Segment::GeneralValue);
        assert_eq!(plan(&m, &pool), Some(Wake::member(leaves)));
    }

    #[test]
    fn packed_fields_keep_their_values_apart() {
        let mut m = MemberState::new(IdArena::default().store("m1"), EventTime(5));
        assert!(!m.left() && !m.has_tickets() && m.fell_at().is_none());
        let mut tickets = TicketTable::default();
        m.tickets_mut(3, &mut tickets);
        m.set_left(true);
        assert!(m.left() && m.has_tickets());
        m.set_left(false);
        assert!(!m.left() && m.has_tickets(), "the flags are independent");
        m.set_fell_at(Some(EventTime(-7)));
        assert_eq!(m.fell_at(), Some(EventTime(-7)));
        m.set_fell_at(None);
        assert_eq!(m.fell_at(), None);
        // The stage shares the flags byte; the two fired counters share one byte.
        m.set_left(true);
        for stage in Stage::ALL {
            m.set_stage(stage);
            assert_eq!(m.stage(), stage);
            assert!(
                m.left() && m.has_tickets(),
                "the stage leaves the flags alone"
            );
        }
        m.set_fired(MAX_FIRED as u8, 0);
        assert_eq!((m.recall_fired(), m.lapse_fired()), (MAX_FIRED as u8, 0));
        m.set_fired(2, MAX_FIRED as u8);
        assert_eq!((m.recall_fired(), m.lapse_fired()), (2, MAX_FIRED as u8));
        m.set_recall_from(Some(EventTime(42)));
        assert_eq!(m.recall_from(), Some(EventTime(42)));
        m.set_clock(EventTime(INSTANT_MAX.as_millis()));
        assert_eq!(m.clock(), INSTANT_MAX);
        assert_eq!(m.stage(), Stage::Lost, "nothing else moved");
        // The lifetime amount saturates instead of wrapping.
        m.lifetime_amount = Packed48::new(Packed48::MAX - 1);
        let mut pool = OrderPool::default();
        m.record_order(
            &mut pool,
            EventTime(ORDER_EPOCH.0 + 1),
            1,
            Category::Home,
            Fen(500),
            NEVER,
        );
        assert_eq!(m.lifetime_amount(), Fen(Packed48::MAX));
    }

    #[test]
    fn a_packed_instant_is_exact_over_its_range_and_keeps_never() {
        for ms in [
            INSTANT_MIN.as_millis(),
            -1,
            0,
            1,
            1_767_225_600_123,
            INSTANT_MAX.as_millis(),
        ] {
            assert_eq!(Instant48::new(EventTime(ms)).get(), EventTime(ms));
        }
        assert_eq!(Instant48::new(NEVER).get(), NEVER);
        assert!(!Instant48::fits(EventTime(INSTANT_MAX.as_millis() + 1)));
        assert!(!Instant48::fits(EventTime(INSTANT_MIN.as_millis() - 1)));
        assert!(!Instant48::fits(NEVER));
    }
}
