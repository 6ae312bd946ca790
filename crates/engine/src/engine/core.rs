//! The engine: applies events and the passing of event time to member and group state,
//! and returns the warnings that result. No I/O, no clock: the caller passes the wall
//! clock in (only to reject events from the future) and gets warnings back.
//!
//! Order of work for one event: reject what cannot be applied → move the watermark and
//! fire every timer due before it (in time order, members due at one instant together) →
//! bring the event's member up to the event's time (her own timers before it) → apply the
//! event → re-evaluate the member at that instant, her own time-driven changes of that
//! instant included, and any group whose figures moved.
//!
//! Two rules of SPEC §3 shape this. The state at an instant includes the events of that
//! instant: a timer at `t` fires only once the watermark has passed `t` (or the input is
//! declared complete through `t`, [`Engine::advance_to`]), and an event at `t` is applied
//! before its member's own changes at `t` are judged. Everything an evaluation finds is
//! stamped at the instant it evaluates: for a timer that is the boundary instant, for an
//! event its own time, for a late event the watermark it is applied at.

mod image;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::arena::{IdArena, IdKey};
use super::dormant::{Dormant, DormantStore};
use super::group::{Contribution, GroupState};
use super::group_feed::{Change, Outbox, Unit};
use super::groups::{inputs_of_move, GroupInput, Groups};
use super::index::{MemberIndex, MAX_MEMBERS};
use super::member::{
    Eviction, Instant48, Member, MemberCopy, MemberState, OrderRec, Remainder, Ticket, TicketState,
    TicketTable, Wake, INSTANT_MAX, INSTANT_MIN, MAX_ORDER_AMOUNT, NO_GROUP, ORDER_EPOCH,
};
use super::orders::OrderPool;
use super::prefetch::{prefetch, prefetch_value};
use super::roster::Roster;
use super::rule::group_grade::{self, GroupEvent};
use super::rule::{
    after_sales, churn_risk, contact_cap, eviction, login_lapse, recall, segment, Pending,
};
use super::rules::Rules;
use super::segment::Rfm;
use super::slab::Slab;
use super::stats::EngineStats;
use super::timers::Timers;
use super::warning::{Detail, Figures, Label, MemberFigures, Warning, WarningId, WarningKind};
use super::watermark::{TimeMode, WatermarkTracker};
use crate::model::{Event, EventBody, EventTime, GroupId, MemberId, Span, TicketStatus, TutorId};
use crate::reject::{RejectReason, Rejection};
use crate::settings::Settings;

pub use image::ImageError;

/// Estimated bytes by part of the state; see [`Engine::memory_estimate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The fixed-size member records.
    pub member_slots: usize,
    /// What members own outside their records: the order pool, tickets.
    pub member_heap: usize,
    /// Member ids.
    pub ids: usize,
    pub index: usize,
    pub timers: usize,
    pub groups: usize,
    /// Tutor rosters, for queries and metrics (the last fall is in the member record).
    pub roster: usize,
    /// Members held as remainders: their entries and their index.
    pub dormant: usize,
}

impl MemoryEstimate {
    pub fn total(&self) -> usize {
        self.member_slots
            + self.member_heap
            + self.ids
            + self.index
            + self.timers
            + self.groups
            + self.roster
            + self.dormant
    }
}

/// The timer slot reserved for the end of the warm-up; never a member index, because
/// `occupy` never hands it out.
const WARMUP_TIMER: u32 = u32::MAX;

/// In the roster's lists and [`Engine::member_at`], a member held as a remainder: this bit
/// above her entry in the dormant store (hot slots are below 2^25).
pub const DORMANT_REF: u32 = 1 << 31;

/// Part of a census of the churn model ([`Engine::churn_census`]): members with an order
/// in the slice, the sums of their P(alive) and expected purchases, and where the next
/// slice starts (`None`: the sweep is complete).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CensusSlice {
    pub members: u64,
    pub p_alive_sum: f64,
    pub expected_sum: f64,
    pub next: Option<usize>,
}

/// Where a member is, as a lookup found her.
#[derive(Copy, Clone, Debug)]
enum Located {
    /// Her slot in the hot state.
    Hot(u32),
    /// Her entry in the dormant store.
    Dormant(u32),
    Absent,
}

/// How far ahead in the timer queue [`Engine::prefetch_due`] fetches member records, and
/// through them their orders.
const PREFETCH_RECORD: usize = 8;
const PREFETCH_ORDERS: usize = 4;

pub struct Engine {
    rules: Rules,
    /// The wall-clock reading of the current call, in live mode the warnings'
    /// `emitted_at` (see [`Engine::emitted_at`]).
    wall: EventTime,
    members: Slab<MemberState>,
    ids: IdArena,
    orders: OrderPool,
    tickets: TicketTable,
    /// Member id → index into `members`; the id itself lives only in the state.
    index: MemberIndex,
    hasher: FixedState,
    /// The group side: its only input is contribution changes. A member-stage engine
    /// ([`Engine::new_member_stage`]) keeps only the groups' ids and tutors here and
    /// sends the changes to `feed` instead.
    groups: Groups,
    feed: Option<Box<Outbox>>,
    tutors: Vec<TutorId>,
    tutor_index: HashMap<TutorId, u32>,
    timers: Timers,
    tracker: WatermarkTracker,
    watermark: EventTime,
    /// Members with a pending wake-up (the queue also holds superseded entries).
    live_timers: usize,
    scratch_due: Vec<u32>,
    scratch_pending: Vec<Pending>,
    scratch_found: Vec<Option<u32>>,
    scratch_hashes: Vec<u64>,
    stats: EngineStats,
    roster: Roster,
    /// `state.max_members`: new members beyond it are refused.
    max_members: usize,
    /// Slots of evicted members, smallest first: reused before the slab grows. Derived
    /// from the records (see [`MemberState::is_vacant`]), so the smallest-first order
    /// is the same in an engine read back from an image.
    vacant: BinaryHeap<Reverse<u32>>,
    /// Members silent past `state.evict_dormant_after` with nothing left to change.
    dormant: DormantStore,
    /// Members moved out of or into a hot slot so far: a slot looked up before this
    /// moved may since hold someone else.
    relocations: u64,
}

impl Engine {
    pub fn new(config: &Settings, mode: TimeMode) -> Engine {
        let rules = Rules::new(config);
        Engine {
            max_members: config.members.max_members.min(MAX_MEMBERS),
            tracker: WatermarkTracker::new(
                mode,
                config.time.allowed_lateness,
                config.time.idle_timeout,
            ),
            rules,
            wall: EventTime::MIN,
            members: Slab::default(),
            ids: IdArena::default(),
            orders: OrderPool::default(),
            tickets: TicketTable::default(),
            index: MemberIndex::default(),
            hasher: FixedState::default(),
            groups: Groups::default(),
            feed: None,
            tutors: Vec::new(),
            tutor_index: HashMap::new(),
            timers: Timers::default(),
            watermark: EventTime::MIN,
            live_timers: 0,
            scratch_due: Vec::new(),
            scratch_pending: Vec::new(),
            scratch_found: Vec::new(),
            scratch_hashes: Vec::new(),
            stats: EngineStats::default(),
            roster: Roster::default(),
            vacant: BinaryHeap::new(),
            dormant: DormantStore::default(),
            relocations: 0,
        }
    }

    /// An engine for stage 1 of a scaled-out deployment: every member warning, and instead
    /// of grading groups itself, their members' contribution changes as [`Unit`]s
    /// ([`Engine::take_units`]) for a [`super::group_stage::GroupStage`]. With one such
    /// engine feeding one stage, the warnings are exactly a single engine's.
    pub fn new_member_stage(config: &Settings, mode: TimeMode) -> Engine {
        let mut engine = Engine::new(config, mode);
        engine.feed = Some(Box::default());
        engine
    }

    /// Whether this engine feeds its groups' changes out ([`Engine::new_member_stage`]).
    pub fn is_member_stage(&self) -> bool {
        self.feed.is_some()
    }

    /// Moves the units closed so far to `into`, oldest first. A unit's `out_mark` is a
    /// position in the `out` of the call that closed it: take them after every call.
    pub fn take_units(&mut self, into: &mut Vec<Unit>) {
        if let Some(feed) = self.feed.as_deref_mut() {
            feed.take(into);
        }
    }

    /// The sequence the next unit will carry (kept in the engine image).
    pub fn next_unit_seq(&self) -> Option<u64> {
        self.feed.as_deref().map(Outbox::next_seq)
    }

    /// Numbers the units closed from now on from `seq` at least: a stage-1 task that
    /// re-derived its state from the input continues above every unit it published
    /// before, whatever the re-derivation closed, so that none of its new units is taken
    /// downstream for a redelivery.
    pub fn resume_unit_seq(&mut self, seq: u64) {
        if let Some(feed) = self.feed.as_deref_mut() {
            feed.resume_from(seq);
        }
    }

    /// The one definition of a warning's `emitted_at`: in replay the engine's event-time
    /// clock (so that output is reproducible), live the wall-clock reading the call was
    /// given (when the warning really left).
    fn emitted_at(&self, at: EventTime) -> EventTime {
        if self.tracker.is_live() {
            self.wall
        } else {
            self.watermark.max(at)
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn watermark(&self) -> EventTime {
        self.watermark
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Where the engine's memory goes, estimated from capacities (for the memory metric
    /// and the memory bench). O(members): call it rarely.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        MemoryEstimate {
            member_slots: self.members.heap_bytes(),
            // Ticket lists: the table's slots, then each list (16 bytes of allocator
            // header each).
            member_heap: self.orders.heap_bytes()
                + self.tickets.capacity() * (size_of::<(u32, Vec<Ticket>)>() + 1)
                + self
                    .tickets
                    .values()
                    .map(|t| t.capacity() * size_of::<Ticket>() + 16)
                    .sum::<usize>(),
            ids: self.ids.heap_bytes(),
            index: self.index.buckets() * size_of::<u32>(),
            timers: self.timers.heap_bytes(),
            groups: self.groups.heap_bytes()
                + self.tutors.capacity() * size_of::<TutorId>()
                + self.tutor_index.capacity() * (size_of::<TutorId>() + 8),
            roster: self.roster.heap_bytes(),
            dormant: self.dormant.heap_bytes(),
        }
    }

    /// Members with a pending wake-up.
    pub fn pending_timers(&self) -> usize {
        self.live_timers
    }

    /// Applies one decoded event that arrived on input `partition`.
    ///
    /// `wall` is the wall clock, used only to reject events from the future. On `Err`
    /// nothing changed; the caller dead-letters the message.
    pub fn process(
        &mut self,
        partition: u32,
        event: &Event,
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Result<(), Rejection> {
        self.process_found(partition, event, None, wall, out)
    }

    /// [`Engine::process`] for an event whose member may have been looked up already:
    /// `found` is her slot, or `None` if she did not exist then (she may since).
    fn process_found(
        &mut self,
        partition: u32,
        event: &Event,
        found: Option<u32>,
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Result<(), Rejection> {
        self.wall = wall;
        // From here on `located` is exact: nothing below creates or brings back a member
        // before `apply` (the timers may evict her, which `apply` sees in her vacant slot).
        let located = match found.or_else(|| self.find(&event.member_id)) {
            Some(idx) => Located::Hot(idx),
            None => self.find_dormant(&event.member_id),
        };
        if let Err(rejection) = self.check(event, located, wall) {
            self.stats.count_rejection(rejection.reason);
            return Err(rejection);
        }
        if let Some(from) = self
            .groups
            .start_grading(event.ts, self.rules.settings.groups.warmup)
        {
            self.timers.schedule(WARMUP_TIMER, from);
        }
        let watermark = self.tracker.observe(partition, event.ts, wall);
        self.advance_watermark(watermark, out);
        self.apply(event, located, out);
        Ok(())
    }

    /// Applies a polled batch: exactly equivalent to calling [`Engine::process`] for each
    /// event in turn (the watermark moves per event, so how the input is split into
    /// batches never changes the output). Returns the events refused, by their index in
    /// the batch; nothing is allocated for a batch without any.
    pub fn process_batch(
        &mut self,
        partition: u32,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(usize, Rejection)> {
        let mut refused = Vec::new();
        self.each_in_batch(partition, events, wall, out, |i, result, _| {
            if let Err(rejection) = result {
                refused.push((i, rejection));
            }
        });
        refused
    }

    /// [`Engine::process_batch`] with one result per event, and how many warnings each
    /// appended to `out` (they are in event order), so a caller can attribute output to
    /// its input.
    pub fn process_batch_counted(
        &mut self,
        partition: u32,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
    ) -> Vec<(Result<(), Rejection>, usize)> {
        let mut results = Vec::with_capacity(events.len());
        self.each_in_batch(partition, events, wall, out, |_, result, count| {
            results.push((result, count));
        });
        results
    }

    /// Processes the batch and hands each event's result and warning count to `each`.
    fn each_in_batch(
        &mut self,
        partition: u32,
        events: &[Event],
        wall: EventTime,
        out: &mut Vec<Warning>,
        mut each: impl FnMut(usize, Result<(), Rejection>, usize),
    ) {
        let mut found = std::mem::take(&mut self.scratch_found);
        let mut hashes = std::mem::take(&mut self.scratch_hashes);
        self.warm(events, &mut hashes, &mut found);
        self.scratch_hashes = hashes;
        let warmed_at = self.relocations;
        for (i, (event, &idx)) in events.iter().zip(&found).enumerate() {
            // After an eviction a slot found by the warm-up may hold someone else.
            let idx = idx.filter(|_| self.relocations == warmed_at);
            let before = out.len();
            let result = self.process_found(partition, event, idx, wall, out);
            each(i, result, out.len() - before);
        }
        self.scratch_found = found;
    }

    /// Looks up the batch's members up front and starts loading their state, in stages
    /// so that the cache misses of the whole batch overlap: first every id's buckets in
    /// the index, then every likely member record, then the lookups proper (whose reads
    /// now mostly hit the cache), prefetching each member's orders. Inside `process` each
    /// miss would stall on its own. A member not found may be created by an earlier event
    /// of the batch: `None` only means "look again".
    fn warm(&self, events: &[Event], hashes: &mut Vec<u64>, found: &mut Vec<Option<u32>>) {
        hashes.clear();
        hashes.extend(events.iter().map(|event| {
            let hash = self.hasher.hash_one(event.member_id.as_str());
            self.index.prefetch(hash);
            hash
        }));
        for &hash in hashes.iter() {
            if let Some(m) = self
                .index
                .candidate(hash)
                .and_then(|idx| self.members.get(idx as usize))
            {
                prefetch_value(m);
            }
        }
        found.clear();
        found.extend(events.iter().zip(hashes.iter()).map(|(event, &hash)| {
            let idx = self.find_hashed(hash, &event.member_id)?;
            let m = &self.members[idx as usize];
            if let Some(first) = self.orders.get(m.order_list()).first() {
                prefetch(std::ptr::from_ref(first).cast());
            }
            Some(idx)
        }));
    }

    /// Starts loading the state of the members due next (from the sorted timer bucket),
    /// so their cache misses overlap with the work on the members due now: their records
    /// a few entries ahead, their orders (read through the record) a few entries nearer.
    fn prefetch_due(&self) {
        if let Some(idx) = self.timers.upcoming(PREFETCH_RECORD) {
            if let Some(m) = self.members.get(idx as usize) {
                prefetch_value(m);
            }
        }
        if let Some(idx) = self.timers.upcoming(PREFETCH_ORDERS) {
            if let Some(m) = self.members.get(idx as usize) {
                if let Some(first) = self.orders.get(m.order_list()).first() {
                    prefetch(std::ptr::from_ref(first).cast());
                }
            }
        }
    }

    /// Live mode's periodic tick: idle partitions and an all-idle input move the
    /// watermark with the wall clock.
    pub fn tick(&mut self, wall: EventTime, out: &mut Vec<Warning>) {
        self.wall = wall;
        let watermark = self.tracker.tick(wall);
        self.advance_watermark(watermark, out);
    }

    /// The input partition is now ours: it holds the watermark back from the start (see
    /// [`WatermarkTracker::own_partition`]).
    pub fn own_partition(&mut self, partition: u32, wall: EventTime) {
        self.tracker.own_partition(partition, wall);
    }

    /// The input partition is no longer ours (rebalance): it stops holding time back.
    pub fn forget_partition(&mut self, partition: u32) {
        self.tracker.forget_partition(partition);
    }

    /// Declares the input complete through `to`: the watermark moves to `to` (if later)
    /// and every timer due at or before `to` fires, in time order. For the edges, once no
    /// event at or before `to` can come: the end of a replayed file, `replay --until`.
    pub fn advance_to(&mut self, to: EventTime, out: &mut Vec<Warning>) {
        self.watermark = self.watermark.max(to);
        if self.timers.next_due(to).is_some() {
            self.fire_due(to, out);
        }
    }

    /// Moves the watermark to `to` as events and the live clock do. Only timers strictly
    /// before it fire: an event at exactly the watermark is not late (SPEC §3: late is
    /// older than the watermark), so a change at `to` waits until the events of `to`
    /// are in.
    #[inline]
    fn advance_watermark(&mut self, to: EventTime, out: &mut Vec<Warning>) {
        if to <= self.watermark {
            return;
        }
        self.watermark = to;
        let through = to - Span::MILLI;
        // Most events move the watermark without bringing a timer due: that test is kept
        // inline, the firing out of line.
        if self.timers.next_due(through).is_some() {
            self.fire_due(through, out);
        }
    }

    /// Fires every timer due by `to`, in time order: the members due at one instant in
    /// slot order, then the groups they moved regraded at that instant.
    #[inline(never)]
    fn fire_due(&mut self, to: EventTime, out: &mut Vec<Warning>) {
        while let Some(at) = self.timers.next_due(to) {
            let mut due = std::mem::take(&mut self.scratch_due);
            due.clear();
            self.timers.take_due_at(at, &mut due);
            self.prefetch_due();
            let first = out.len();
            for &idx in &due {
                if idx == WARMUP_TIMER {
                    match self.feed.as_deref_mut() {
                        Some(feed) => feed.warmup_ended(),
                        None => self.groups.mark_all_dirty(),
                    }
                    continue;
                }
                if self.members[idx as usize].wake() != Some(at) {
                    continue; // superseded by a reschedule
                }
                self.set_wake(idx, None);
                self.step(idx, at, out);
            }
            self.scratch_due = due;
            // Members due at one instant are stepped in slot order, which depends on who
            // went dormant and came back; no warning's content does (each is about its
            // own member), but their order would. So they go out in member-id order,
            // each member's own in the order they were found.
            if out.len() - first > 1 {
                out[first..].sort_by(|a, b| a.member_id.cmp(&b.member_id));
            }
            self.flush_groups(at, out);
        }
    }

    fn check(&self, event: &Event, located: Located, wall: EventTime) -> Result<(), Rejection> {
        let time = &self.rules.settings.time;
        if event.ts > wall + time.max_future_skew {
            return Err(Rejection::new(
                RejectReason::FutureTimestamp,
                format!(
                    "event time {} is more than {} ahead of the wall clock {}",
                    event.ts, time.max_future_skew, wall
                ),
            ));
        }
        let mut horizon_start = self.watermark - time.retention_horizon;
        if let EventBody::Order(_) = event.body {
            // Orders are deduplicated against the member's own retained orders, which
            // reach back one horizon from her clock.
            // (A dormant member's clock is behind the watermark, which bounds it already.)
            if let Located::Hot(idx) = located {
                horizon_start =
                    horizon_start.max(self.members[idx as usize].clock() - time.retention_horizon);
            }
        }
        if self.watermark != EventTime::MIN && event.ts <= horizon_start {
            return Err(Rejection::new(
                RejectReason::BeyondRetentionHorizon,
                format!(
                    "event time {} is at or before the retention horizon {}",
                    event.ts, horizon_start
                ),
            ));
        }
        let joined_at = match &event.body {
            EventBody::Member(profile) => Some(profile.joined_at),
            _ => None,
        };
        if let Some(at) = [event.ts]
            .into_iter()
            .chain(joined_at)
            .find(|at| !Instant48::fits(*at))
        {
            return Err(Rejection::new(
                RejectReason::InvalidField,
                format!(
                    "instant {at} is outside the supported range {INSTANT_MIN} to {INSTANT_MAX}"
                ),
            ));
        }
        if let EventBody::Member(profile) = &event.body {
            if self
                .rules
                .benchmark
                .tier_index(profile.fee_tier.as_str())
                .is_none()
            {
                return Err(Rejection::new(
                    RejectReason::UnknownFeeTier,
                    format!("fee tier `{}` has no benchmark row", profile.fee_tier),
                ));
            }
        }
        if let EventBody::Order(order) = &event.body {
            if !OrderRec::fits(event.ts, order.amount) {
                let reason = if order.amount > MAX_ORDER_AMOUNT {
                    RejectReason::MalformedAmount
                } else {
                    RejectReason::InvalidField
                };
                return Err(Rejection::new(
                    reason,
                    format!(
                        "an order must be at most {MAX_ORDER_AMOUNT} yuan and dated from {} \
                         to 2139; this one is {} yuan at {}",
                        ORDER_EPOCH, order.amount, event.ts
                    ),
                ));
            }
        }
        // Last, so that a message that is wrong in itself says so whatever the capacity.
        if matches!(located, Located::Absent) && self.member_count() >= self.max_members {
            return Err(Rejection::new(
                RejectReason::MemberCapacity,
                format!(
                    "the engine holds its maximum of {} members; member `{}` is new",
                    self.max_members, event.member_id
                ),
            ));
        }
        Ok(())
    }

    fn find(&self, id: &MemberId) -> Option<u32> {
        self.find_hashed(self.hasher.hash_one(id.as_str()), id)
    }

    fn find_hashed(&self, hash: u64, id: &MemberId) -> Option<u32> {
        let key = IdKey::new(id.as_str());
        self.index.find(hash, |idx| {
            self.ids.matches(self.members[idx as usize].id_slot(), &key)
        })
    }

    /// Whether member `id` is held as a remainder, if not in the hot state.
    fn find_dormant(&self, id: &MemberId) -> Located {
        if self.dormant.is_empty() {
            return Located::Absent;
        }
        let hash = self.hasher.hash_one(id.as_str());
        match self.dormant.find(hash, &IdKey::new(id.as_str()), &self.ids) {
            Some(slot) => Located::Dormant(slot),
            None => Located::Absent,
        }
    }

    /// Her hot slot, as `located` found her (brought back from the dormant store if she
    /// was there, created if she was not held), and whether she is new.
    #[inline(never)]
    fn hot_slot(&mut self, id: &MemberId, located: Located, first_seen: EventTime) -> (u32, bool) {
        match located {
            Located::Hot(idx) => (idx, false),
            Located::Dormant(slot) => (self.revive(slot), false),
            Located::Absent => (self.create(id, first_seen), true),
        }
    }

    /// A new slot for member `id`, first seen at `first_seen`.
    fn create(&mut self, id: &MemberId, first_seen: EventTime) -> u32 {
        debug_assert!(self.member_count() < self.max_members);
        let state = MemberState::new(self.ids.store(id.as_str()), first_seen);
        let idx = self.occupy(state);
        self.roster.joined();
        idx
    }

    /// Puts `state` in a free slot (or a new one) and indexes it.
    fn occupy(&mut self, state: MemberState) -> u32 {
        let hash = self.hasher.hash_one(self.ids.resolve(state.id_slot()));
        let idx = match self.vacant.pop() {
            Some(Reverse(idx)) => {
                self.members[idx as usize] = state;
                idx
            }
            // `check` refused a new member at `max_members` (≤ MAX_MEMBERS < 2^25, hot and
            // dormant together), so with no slot vacant the new index fits a u32 and is
            // not the warm-up timer's.
            None => self.members.push(state) as u32,
        };
        debug_assert!(idx != WARMUP_TIMER);
        let (members, ids, hasher) = (&self.members, &self.ids, &self.hasher);
        self.index.insert_unique(hash, idx, |i| {
            hasher.hash_one(ids.resolve(members[i as usize].id_slot()))
        });
        idx
    }

    /// Takes the member at hot slot `idx` out of the index and frees the slot; returns her
    /// record.
    fn vacate(&mut self, idx: u32) -> MemberState {
        let m = &self.members[idx as usize];
        let hash = self.hasher.hash_one(self.ids.resolve(m.id_slot()));
        let (members, ids, hasher) = (&self.members, &self.ids, &self.hasher);
        let removed = self.index.remove(hash, idx, |i| {
            hasher.hash_one(ids.resolve(members[i as usize].id_slot()))
        });
        debug_assert!(removed, "a held member was in the index");
        self.vacant.push(Reverse(idx));
        self.relocations += 1;
        std::mem::replace(&mut self.members[idx as usize], MemberState::vacant())
    }

    /// Moves member `idx`, settled and silent past the dormant horizon, into the dormant
    /// store as `remainder`. Her group keeps her contribution (it no longer changes), her
    /// tutor's roster and the counts keep her: nothing that can be read of her changes.
    fn make_dormant(&mut self, idx: u32, remainder: Remainder) {
        self.set_wake(idx, None);
        let state = self.vacate(idx);
        let id = *state.id_slot();
        let slot = self
            .dormant
            .insert(Dormant { id, remainder }, &self.ids, &self.hasher);
        if state.has_profile() {
            self.roster.relocate(state.tutor, idx, DORMANT_REF | slot);
        }
        self.stats.count_eviction(Eviction::Dormant);
    }

    /// Brings the dormant member at `slot` back into a hot slot, as she was.
    fn revive(&mut self, slot: u32) -> u32 {
        let entry = self.dormant.remove(slot, &self.ids, &self.hasher);
        let state = self.revived(&entry);
        let tutor = state.has_profile().then_some(state.tutor);
        let idx = self.occupy(state);
        self.relocations += 1;
        if let Some(tutor) = tutor {
            self.roster.relocate(tutor, DORMANT_REF | slot, idx);
        }
        idx
    }

    /// The hot record of dormant `entry`. Her clock is the watermark: nothing about her
    /// changed between her last evaluation and now, and she went dormant at a timer the
    /// watermark had reached (never in a catch-up ahead of it).
    fn revived(&self, entry: &Dormant) -> MemberState {
        let lapses = self.rules.settings.lifecycle.login_lapse.len();
        let mut state = MemberState::revived(entry.id, &entry.remainder, self.watermark, lapses);
        // She went dormant with no threshold left to cross: her level is the one at
        // any later instant.
        if let Some(model) = &self.rules.churn {
            state.set_risk_level(churn_risk::level_at(model, &state, self.watermark));
        }
        state
    }

    fn intern_tutor(&mut self, id: &TutorId) -> u32 {
        intern_tutor(&mut self.tutors, &mut self.tutor_index, id)
    }

    fn apply(&mut self, event: &Event, located: Located, out: &mut Vec<Warning>) {
        let (mut idx, mut created) = match located {
            Located::Hot(idx) => (idx, false),
            other => self.hot_slot(&event.member_id, other, event.ts),
        };
        // A late event is applied as of the watermark; an event ahead of it as of its own
        // time. Never before the member's own clock: her state only moves forward.
        let m = &self.members[idx as usize];
        let mut clock = m.clock();
        let at = event.ts.max(self.watermark).max(clock);
        let mut wake = m.wake();
        let caught_up = wake.is_some_and(|w| w < at);
        if caught_up {
            self.catch_up(idx, at, out);
        }
        let vacated = self.members[idx as usize].is_vacant();
        if vacated {
            // Her silence reached its horizon before this event (the watermark's timers
            // or her own catch-up moved her out): back from the dormant store, or, if
            // she had left and was forgotten, afresh.
            let located = self.find_dormant(&event.member_id);
            (idx, created) = self.hot_slot(&event.member_id, located, event.ts);
        }
        if caught_up || vacated {
            let m = &self.members[idx as usize];
            (clock, wake) = (m.clock(), m.wake());
        }
        // Everything due before `at` has just fired. A change of hers due at exactly `at`
        // is judged below, with the event applied: an order arriving at the instant an
        // older one leaves the window is no fall and rise.
        let due_now = wake == Some(at);
        if due_now {
            self.set_wake(idx, None);
        }
        // Only a profile change or an order (or time, at a wake due now) can move her
        // group figures. A login can only move a future instant (the lapse clock), so it
        // skips the figures and the evaluation: 80 % of a real stream is logins. A ticket
        // is evaluated: a late "opened" may already be past its SLA.
        let moves_figures = due_now
            || matches!(
                event.body,
                EventBody::Member(_) | EventBody::MemberLeft | EventBody::Order(_)
            );
        // What her group holds for her: her contribution as of her clock.
        let before = if moves_figures {
            self.contribution(idx, clock)
        } else {
            None
        };
        let lapse_due_before = match event.body {
            EventBody::Login => self.members[idx as usize].next_lapse_due(&self.rules),
            _ => None,
        };
        let changed = self.mutate(idx, event, at - self.rules.settings.time.retention_horizon);
        self.stats.count_event(&event.body, changed);
        self.members[idx as usize].set_clock(at);
        // A late login may restart a lapse clock that has already run out: then it is
        // evaluated like any other event. (A login that changed anything is her latest,
        // so her first lapse level is due a lapse after it.)
        let login_only_moves_the_future = matches!(event.body, EventBody::Login)
            && !created
            && !due_now
            && self
                .rules
                .settings
                .lifecycle
                .login_lapse
                .first()
                .is_none_or(|l| event.ts + *l > at);
        if !changed && !created && !due_now {
            // Nothing changed and nothing is due by `at`: the pending wake still stands,
            // unless it was an eviction wake-up that catch-up passed over.
            if wake.is_some_and(|w| w < at) {
                self.reschedule(idx);
            }
        } else if login_only_moves_the_future {
            self.reschedule_after_login(idx, lapse_due_before);
        } else {
            if moves_figures {
                let after = self.contribution(idx, at);
                self.move_contribution(idx, before, after);
            }
            self.evaluate(idx, at, out);
            self.reschedule(idx);
        }
        self.flush_groups(at, out);
    }

    /// A login only moves the lapse instant later. Unless the old lapse instant was the
    /// pending wake, every other candidate is unchanged and the new wake is the earlier of
    /// the old wake and the new lapse instant: no need to walk the orders again.
    fn reschedule_after_login(&mut self, idx: u32, lapse_due_before: Option<EventTime>) {
        let m = &self.members[idx as usize];
        let old = m.wake();
        // An eviction wake moves with her silence, which the login just broke.
        if old.is_some() && (old == lapse_due_before || m.eviction_wake()) {
            self.reschedule(idx);
            return;
        }
        // The lapse is a member-side candidate: when it comes first the wake is no longer
        // group-only; otherwise the old wake's kind stands (the login only moved member-side
        // candidates later).
        let new = match (old, m.next_lapse_due(&self.rules)) {
            (Some(w), Some(l)) if l <= w => Some(Wake::member(l)),
            (Some(w), _) if m.group_wake() => Some(Wake::group(w)),
            (Some(w), _) => Some(Wake::member(w)),
            (None, l) => l.map(Wake::member),
        };
        self.set_wake(idx, new);
    }

    /// Records the member's next wake-up, queueing it if it moved.
    #[inline]
    fn set_wake(&mut self, idx: u32, next: Option<Wake>) {
        let m = &mut self.members[idx as usize];
        // Without a wake the flags are left as they were: the step that cleared the wake
        // reads them next.
        if let Some(wake) = &next {
            m.set_wake_kind(wake);
        }
        let next = next.map(|w| w.at);
        if m.wake() != next {
            self.move_wake(idx, next);
        }
    }

    /// [`Engine::set_wake`] for a wake that moved: the record, the live count, the queue.
    #[inline(never)]
    fn move_wake(&mut self, idx: u32, next: Option<EventTime>) {
        let m = &mut self.members[idx as usize];
        let old = m.wake();
        m.set_wake(next);
        match (old, next) {
            (None, Some(_)) => self.live_timers += 1,
            (Some(_), None) => self.live_timers -= 1,
            _ => {}
        }
        if let Some(at) = next {
            self.timers.schedule(idx, at);
            // Superseded entries stay queued until they surface. When they outnumber the
            // live ones, drop them: amortised O(1) per push, and memory stays bounded by
            // the live wake-ups rather than by how often members were rescheduled.
            if self.timers.len() > 2 * self.live_timers + 4096 {
                self.compact_timers();
            }
        }
    }

    fn compact_timers(&mut self) {
        let members = &self.members;
        let grading_from = self.groups.grading_from();
        self.timers.retain(|slot, at| {
            if slot == WARMUP_TIMER {
                grading_from == Some(at)
            } else {
                members[slot as usize].wake() == Some(at)
            }
        });
    }

    /// Fires the member's own timers before `at`, so an event ahead of the watermark sees
    /// every time-driven change before it, stamped at its own instant. A timer at exactly
    /// `at` is left to the event's own evaluation.
    fn catch_up(&mut self, idx: u32, at: EventTime, out: &mut Vec<Warning>) {
        while let Some(wake) = self.members[idx as usize].wake().filter(|w| *w < at) {
            if self.members[idx as usize].eviction_wake() {
                // Nothing of hers changes at an eviction wake-up (it comes only once nothing
                // else is pending), and she is being seen: the event's own rescheduling
                // replaces it. Going dormant here, ahead of the watermark, would bring her
                // back at a clock behind the instant she left.
                break;
            }
            // Its queue entry goes stale; `fire_due` skips it.
            self.set_wake(idx, None);
            self.step(idx, wake, out);
            self.flush_groups(wake, out);
        }
    }

    /// Time alone moves member `idx` to `at`, and evicts her if her silence has reached
    /// its horizon (after whatever was due at `at` has fired).
    fn step(&mut self, idx: u32, at: EventTime, out: &mut Vec<Warning>) {
        let m = &self.members[idx as usize];
        let (clock, group_only, for_eviction) = (m.clock(), m.group_wake(), m.eviction_wake());
        let (before, after) = match self.view(idx).contributions([clock, at], &self.rules) {
            Some((group, [before, after])) => (Some((group, before)), Some((group, after))),
            None => (None, None),
        };
        self.move_contribution(idx, before, after);
        if group_only {
            // Every member-side instant is later (see `Member::wake_plan`): evaluating
            // her would change nothing, and her silence has not reached its horizon.
            self.members[idx as usize].set_clock(at);
            self.reschedule(idx);
            return;
        }
        self.evaluate(idx, at, out);
        self.members[idx as usize].set_clock(at);
        let m = self.view(idx);
        // A dormant move is planned only as a wake-up of its own, when nothing else of hers
        // is pending; forgetting one who left may coincide with a change of hers.
        if eviction::forgettable(&m, at, &self.rules) {
            self.forget(idx);
        } else if let Some(remainder) = for_eviction
            .then(|| eviction::remainder_at(&m, at, &self.rules))
            .flatten()
        {
            self.make_dormant(idx, remainder);
        } else {
            self.reschedule(idx);
        }
    }

    /// Forgets member `idx`, who left and has been silent past `state.evict_left_after`:
    /// out of the roster, the timers, the index; her orders, tickets and id released; her
    /// slot free for the next new member. (Having left, she is in no group's figures.)
    fn forget(&mut self, idx: u32) {
        let clock = self.members[idx as usize].clock();
        let before = self.contribution(idx, clock);
        self.move_contribution(idx, before, None);
        self.set_wake(idx, None);
        let m = &mut self.members[idx as usize];
        let tutor = m.has_profile().then_some(m.tutor);
        self.roster
            .evicted(idx, m.segment, m.stage(), m.risk_level(), tutor);
        m.release_orders(&mut self.orders);
        if m.has_tickets() {
            self.tickets.remove(&idx);
        }
        let state = self.vacate(idx);
        self.ids.release(state.id_slot());
        self.stats.count_eviction(Eviction::Left);
        if self.ids.wants_compaction() {
            let slots = self
                .members
                .iter_mut()
                .map(MemberState::id_slot_mut)
                .chain(self.dormant.id_slots_mut());
            self.ids = self.ids.compacted(slots);
        }
    }

    /// Member `idx`'s contribution moved from `before` to `after` (group and contribution
    /// each): into the groups, or out to stage 2 as her whole new contribution.
    #[inline]
    fn move_contribution(
        &mut self,
        idx: u32,
        before: Option<(u32, Contribution)>,
        after: Option<(u32, Contribution)>,
    ) {
        let Some(feed) = self.feed.as_deref_mut() else {
            self.groups.moved(before, after);
            return;
        };
        let member = self.ids.resolve(self.members[idx as usize].id_slot());
        let groups = &self.groups;
        inputs_of_move(before, after, |input| {
            if let GroupInput::Contribution { group, after, .. } = input {
                let change = after.map_or(Change::Leaves, Change::Contributes);
                feed.push(&groups.by_index(group).id, member, change);
            }
        });
    }

    #[inline]
    fn contribution(&self, idx: u32, at: EventTime) -> Option<(u32, Contribution)> {
        self.view(idx).contribution(at, &self.rules)
    }

    #[inline(always)]
    fn view(&self, idx: u32) -> Member<'_> {
        Member::new(
            idx,
            &self.members[idx as usize],
            &self.ids,
            &self.orders,
            &self.tickets,
        )
    }

    fn reschedule(&mut self, idx: u32) {
        let m = self.view(idx);
        let next = m.wake_plan(m.clock(), &self.rules);
        self.set_wake(idx, next);
    }

    /// Applies the event's own change. Returns false when it changed nothing (a duplicate
    /// or an older profile than the one held). Orders and resolved tickets at or before
    /// `horizon_start` are outside the retention horizon: forgotten, whether or not an
    /// evaluation has pruned them yet, so nothing depends on when one last ran.
    fn mutate(&mut self, idx: u32, event: &Event, horizon_start: EventTime) -> bool {
        let ts = event.ts;
        match &event.body {
            EventBody::Member(profile) => {
                if ts < self.members[idx as usize].profile_ts() {
                    return false;
                }
                let group = self.groups.intern(&profile.group_id);
                let tutor = self.intern_tutor(&profile.tutor_id);
                let tier = self
                    .rules
                    .benchmark
                    .tier_index(profile.fee_tier.as_str())
                    .unwrap_or(0);
                match self.feed.as_deref_mut() {
                    Some(feed) => feed.push(
                        &profile.group_id,
                        event.member_id.as_str(),
                        Change::Tutor(profile.tutor_id.clone()),
                    ),
                    None => self.groups.apply(GroupInput::Tutor { group, tutor }),
                }
                let m = &mut self.members[idx as usize];
                let tutor_before = m.has_profile().then_some(m.tutor);
                self.roster.retutor(idx, tutor_before, tutor);
                let unchanged = m.group == group
                    && m.tutor == tutor
                    && m.tier() == tier
                    && m.joined_at() == profile.joined_at
                    && !m.left();
                m.group = group;
                m.tutor = tutor;
                m.set_tier(tier);
                m.set_left(false);
                m.set_profile_times(Some(profile.joined_at), ts);
                !unchanged
            }
            EventBody::MemberLeft => {
                let m = &mut self.members[idx as usize];
                if ts < m.profile_ts() || m.left() {
                    return false;
                }
                m.set_left(true);
                m.set_profile_times(None, ts);
                true
            }
            EventBody::Order(order) => self.members[idx as usize].record_order(
                &mut self.orders,
                ts,
                order.order_key,
                order.category,
                order.amount,
                horizon_start,
            ),
            EventBody::Login => {
                let m = &mut self.members[idx as usize];
                if ts <= m.login_ref() {
                    return false;
                }
                m.set_login_ref(ts);
                m.set_fired(m.recall_fired(), 0);
                true
            }
            EventBody::AfterSales(ticket) => {
                let tickets = self.members[idx as usize].tickets_mut(idx, &mut self.tickets);
                tickets.retain(|t| t.state != TicketState::Resolved || t.opened_at > horizon_start);
                match (
                    tickets.iter_mut().find(|t| t.id == ticket.ticket_id),
                    ticket.status,
                ) {
                    (Some(_), TicketStatus::Opened) => false,
                    (Some(t), TicketStatus::Resolved) => {
                        let was_open = t.state != TicketState::Resolved;
                        t.state = TicketState::Resolved;
                        was_open
                    }
                    (None, status) => {
                        let state = match status {
                            TicketStatus::Opened => TicketState::Open,
                            TicketStatus::Resolved => TicketState::Resolved,
                        };
                        tickets.push(Ticket {
                            id: ticket.ticket_id.clone(),
                            opened_at: ts,
                            state,
                        });
                        true
                    }
                }
            }
        }
    }

    /// Re-derives the member's state at `at` and emits what changed: the rules of
    /// `rule/` in a fixed order (segment and activation, lifecycle and recall, login
    /// lapse, after-sales), the state committed, then the contact cap deciding which of
    /// the warnings notify (in [`Engine::emit_member`]).
    fn evaluate(&mut self, idx: u32, at: EventTime, out: &mut Vec<Warning>) {
        let config = &self.rules.settings;
        let m = Member::new(
            idx,
            &self.members[idx as usize],
            &self.ids,
            &self.orders,
            &self.tickets,
        );
        let mut pending = std::mem::take(&mut self.scratch_pending);
        pending.clear();

        let (target, rfm_at) = m.target_segment_rfm(at, &self.rules);
        let from = m.segment;
        let mut fell_at = m.fell_at();
        let unordered = segment::Unordered {
            ordered: m.last_order_at().is_some(),
            joined_at: m.joined_at(),
            deadline: config.lifecycle.activation_deadline,
            first_seen_unordered: m.first_seen_unordered(),
        };
        segment::fire(from, target, &unordered, at, &mut fell_at, &mut pending);

        let stage = m.stage_at(at);
        // Attempts name the segment she is in now.
        let (recall_from, recall_fired) = recall::fire(
            stage,
            m.last_order_at(),
            m.recall_from(),
            m.recall_fired(),
            &config.lifecycle.recall_schedule,
            at,
            target,
            &mut pending,
        );
        let mut lapse_fired = m.lapse_fired();
        login_lapse::fire(
            m.login_ref(),
            &config.lifecycle.login_lapse,
            &mut lapse_fired,
            at,
            target,
            &mut pending,
        );
        let mut risk_level = m.risk_level();
        if let Some(model) = &self.rules.churn {
            churn_risk::fire(model, &m, at, target, &mut risk_level, &mut pending);
        }
        let sla = config.alerts.after_sales_sla;
        let horizon_start = at - config.time.retention_horizon;
        let m = &mut self.members[idx as usize];
        if m.has_tickets() {
            let tickets = m.tickets_mut(idx, &mut self.tickets);
            after_sales::fire(tickets, sla, at, target, &mut pending);
        }
        // Cap entries must still count for the warnings about to be emitted.
        m.prune(
            idx,
            &mut self.orders,
            &mut self.tickets,
            horizon_start,
            contact_cap::window_start(at, &config.alerts),
        );
        self.roster.moved((m.segment, target), (m.stage(), stage));
        self.roster.risk_moved(m.risk_level(), risk_level);
        m.set_risk_level(risk_level);
        m.segment = target;
        m.set_stage(stage);
        m.set_fired(recall_fired, lapse_fired);
        m.set_recall_from(recall_from);
        m.set_fell_at(fell_at);

        // A member who has left gets no more warnings; her state still moves with time.
        if !self.members[idx as usize].left() {
            self.emit_member(idx, at, rfm_at, &mut pending, out);
        }
        self.scratch_pending = pending;
    }

    /// Emits the member warnings `pending`, all at `at`, with her figures then. `rfm_at` is
    /// her RFM at `at` if evaluation computed it (the retention horizon's pruning since
    /// cannot move it: the horizon is at least the F90 window).
    fn emit_member(
        &mut self,
        idx: u32,
        at: EventTime,
        rfm_at: Option<Rfm>,
        pending: &mut Vec<Pending>,
        out: &mut Vec<Warning>,
    ) {
        if pending.is_empty() {
            return;
        }
        let log = &mut self.members[idx as usize].cap_log;
        self.stats.capped += contact_cap::admit(pending, log, at, &self.rules.settings.alerts);
        let m = Member::new(
            idx,
            &self.members[idx as usize],
            &self.ids,
            &self.orders,
            &self.tickets,
        );
        let id = m.id();
        let member_id = MemberId::new(id);
        let (group_id, tutor_id) = if m.has_profile() {
            (
                Some(self.groups.by_index(m.group).id.clone()),
                Some(self.tutors[m.tutor as usize].clone()),
            )
        } else {
            (None, None)
        };
        let rfm = rfm_at.unwrap_or_else(|| m.rfm(at));
        let churn = self
            .rules
            .churn
            .as_ref()
            .and_then(|c| churn_risk::figures(c, &m, at));
        for p in pending.drain(..) {
            let action = match (p.kind, p.to) {
                (
                    WarningKind::SegmentDowngrade | WarningKind::SegmentUpgrade,
                    Some(Label::Segment(s)),
                ) => self.rules.segment_action(s),
                _ => self.rules.kind_action(p.kind),
            };
            let warning = Warning {
                id: WarningId::derive(p.kind, id, at, p.from, p.to, &p.detail),
                kind: p.kind,
                severity: p.severity,
                member_id: Some(member_id.clone()),
                group_id: group_id.clone(),
                tutor_id: tutor_id.clone(),
                from: p.from,
                to: p.to,
                event_time: at,
                emitted_at: self.emitted_at(at),
                figures: Figures::Member(MemberFigures {
                    recency_days: rfm.recency.map(|r| r.whole_days()),
                    f30: rfm.f30,
                    m30: rfm.m30,
                    f90: rfm.f90,
                    lifetime_orders: m.lifetime_orders,
                    lifetime_amount: m.lifetime_amount(),
                    churn: churn.clone(),
                    detail: p.detail,
                }),
                action,
                notify: p.notify,
            };
            self.stats.count_warning(&warning);
            out.push(warning);
        }
    }

    /// Re-grades every group whose figures moved, at instant `at`.
    #[inline]
    fn flush_groups(&mut self, at: EventTime, out: &mut Vec<Warning>) {
        if self.groups.any_dirty() {
            self.regrade_dirty(at, out);
        } else if self.feed.as_deref().is_some_and(Outbox::has_open) {
            self.close_unit(at, out.len());
        }
    }

    /// A member-stage engine's regrading: the changes so far go out as a unit.
    #[inline(never)]
    fn close_unit(&mut self, at: EventTime, out_mark: usize) {
        let emitted_at = self.emitted_at(at);
        let (watermark, grading_from) = (self.watermark, self.groups.grading_from());
        if let Some(feed) = self.feed.as_deref_mut() {
            feed.close(at, watermark, emitted_at, grading_from, out_mark);
        }
    }

    /// [`Engine::flush_groups`] when some group is dirty.
    #[inline(never)]
    fn regrade_dirty(&mut self, at: EventTime, out: &mut Vec<Warning>) {
        let emitted_at = self.emitted_at(at);
        let warnings = GroupWarnings {
            rules: &self.rules,
            tutors: &self.tutors,
            stats: &mut self.stats,
        };
        warnings.regrade(&mut self.groups, at, emitted_at, out);
    }

    // ----- read access for queries, state export and tests -----
    //
    // A member is read the same way wherever she is held: as a copy of her hot record (a
    // dormant one's is rebuilt from her remainder, as she would be brought back).

    pub fn member(&self, id: &MemberId) -> Option<MemberCopy<'_>> {
        self.member_index(id).and_then(|at| self.member_at(at))
    }

    /// Members held, in the hot state and as remainders (forgotten ones no longer).
    pub fn member_count(&self) -> usize {
        self.members.len() - self.vacant.len() + self.dormant.len()
    }

    /// Members held as remainders.
    pub fn dormant_count(&self) -> usize {
        self.dormant.len()
    }

    /// Whether member `id` is held as a remainder.
    pub fn is_dormant(&self, id: &MemberId) -> bool {
        matches!(self.find_dormant(id), Located::Dormant(_))
    }

    /// Every member held: the hot ones by slot, then the dormant ones by entry. The order
    /// depends on who went dormant and came back; callers that print sort.
    pub fn members(&self) -> impl Iterator<Item = MemberCopy<'_>> {
        let hot = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.is_vacant())
            .map(|(idx, m)| {
                Member::new(idx as u32, m, &self.ids, &self.orders, &self.tickets).copied()
            });
        let dormant = self
            .dormant
            .iter()
            .map(|(_, entry)| MemberCopy::dormant(self.revived(entry), &self.ids, &self.tickets));
        hot.chain(dormant)
    }

    /// Every member held, by id and [`Engine::member_at`] reference, without copying any
    /// record: for exports that order members by id.
    pub fn member_ids(&self) -> impl Iterator<Item = (&str, u32)> {
        let hot = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.is_vacant())
            .map(|(idx, m)| (self.ids.resolve(m.id_slot()), idx as u32));
        let dormant = self
            .dormant
            .iter()
            .map(|(slot, entry)| (self.ids.resolve(&entry.id), DORMANT_REF | slot));
        hot.chain(dormant)
    }

    /// The churn model's census over at most `budget` member positions from `from` (hot
    /// slots, then dormant entries), as of `at`: for metrics that sweep the whole state a
    /// slice at a time instead of stalling the engine for all of it at once. `None`
    /// while the model is off.
    pub fn churn_census(&self, from: usize, budget: usize, at: EventTime) -> Option<CensusSlice> {
        let model = self.rules.churn.as_ref()?;
        let hot = self.members.len();
        let end = (from + budget).min(hot + self.dormant.slots());
        let mut slice = CensusSlice {
            next: if end == hot + self.dormant.slots() {
                None
            } else {
                Some(end)
            },
            ..CensusSlice::default()
        };
        let mut count = |m: &MemberState| {
            if let Some(f) = churn_risk::figures(model, m, at.max(m.clock())) {
                slice.members += 1;
                slice.p_alive_sum += f64::from(f.p_alive_ppm) / 1e6;
                slice.expected_sum += f.expected_purchases_micro as f64 / 1e6;
            }
        };
        for i in from.min(hot)..end.min(hot) {
            if let Some(m) = self.members.get(i).filter(|m| !m.is_vacant()) {
                count(m);
            }
        }
        for slot in from.max(hot)..end {
            if let Some(entry) = self.dormant.get((slot - hot) as u32) {
                count(&self.revived(entry));
            }
        }
        Some(slice)
    }

    pub fn group(&self, id: &GroupId) -> Option<&GroupState> {
        self.groups.get(id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupState> {
        self.groups.iter()
    }

    pub fn group_id_of(&self, m: &MemberState) -> Option<&GroupId> {
        (m.group != NO_GROUP).then(|| &self.groups.by_index(m.group).id)
    }

    pub fn tutor_id(&self, tutor: u32) -> Option<&TutorId> {
        self.tutors.get(tutor as usize)
    }

    /// The interned index of a tutor some profile has named.
    pub fn tutor_index(&self, id: &TutorId) -> Option<u32> {
        self.tutor_index.get(id).copied()
    }

    /// Where the engine holds a member, for [`Engine::member_at`]: her hot slot, or her
    /// dormant entry with [`DORMANT_REF`] set, as the roster's lists hold her.
    pub fn member_index(&self, id: &MemberId) -> Option<u32> {
        match self.find(id) {
            Some(idx) => Some(idx),
            None => match self.find_dormant(id) {
                Located::Dormant(slot) => Some(DORMANT_REF | slot),
                _ => None,
            },
        }
    }

    /// The member at `at`, a reference [`Engine::member_index`] or [`Roster::of_tutor`]
    /// handed out.
    pub fn member_at(&self, at: u32) -> Option<MemberCopy<'_>> {
        if at & DORMANT_REF != 0 {
            let entry = self.dormant.get(at & !DORMANT_REF)?;
            return Some(MemberCopy::dormant(
                self.revived(entry),
                &self.ids,
                &self.tickets,
            ));
        }
        self.members
            .get(at as usize)
            .is_some_and(|m| !m.is_vacant())
            .then(|| self.view(at).copied())
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }
}

/// The number of tutor `id` in `tutors`, a new number if it is the first time it is named.
pub(super) fn intern_tutor(
    tutors: &mut Vec<TutorId>,
    index: &mut HashMap<TutorId, u32>,
    id: &TutorId,
) -> u32 {
    if let Some(&idx) = index.get(id) {
        return idx;
    }
    let idx = tutors.len() as u32;
    tutors.push(id.clone());
    index.insert(id.clone(), idx);
    idx
}

/// What turns a regrading into warnings, for the engine and the group stage alike.
pub(super) struct GroupWarnings<'a> {
    pub rules: &'a Rules,
    pub tutors: &'a [TutorId],
    pub stats: &'a mut EngineStats,
}

impl GroupWarnings<'_> {
    /// Regrades every dirty group at `at`, appending a warning (stamped `emitted_at`) for
    /// each change of grade worth one, and counting it.
    pub fn regrade(
        self,
        groups: &mut Groups,
        at: EventTime,
        emitted_at: EventTime,
        out: &mut Vec<Warning>,
    ) {
        let GroupWarnings {
            rules,
            tutors,
            stats,
        } = self;
        groups.regrade_dirty(at, &rules.settings.groups, |group, event| {
            let warning = group_warning(rules, tutors, group, event, at, emitted_at);
            stats.count_warning(&warning);
            out.push(warning);
        });
    }
}

/// The warning of a change of grade of `group` at `at`.
fn group_warning(
    rules: &Rules,
    tutors: &[TutorId],
    group: &GroupState,
    event: GroupEvent,
    at: EventTime,
    emitted_at: EventTime,
) -> Warning {
    let (kind, severity, from, to) = group_grade::warning_of(event);
    let base = rules.kind_action(kind);
    let (figures, action) =
        group_grade::figures_and_action(group, kind, base, &rules.settings.groups);
    Warning {
        id: WarningId::derive(kind, group.id.as_str(), at, from, to, &Detail::None),
        kind,
        severity,
        member_id: None,
        group_id: Some(group.id.clone()),
        tutor_id: group.tutor.map(|t| tutors[t as usize].clone()),
        from,
        to,
        event_time: at,
        emitted_at,
        figures: Figures::Group(figures),
        action,
        notify: true,
    }
}
