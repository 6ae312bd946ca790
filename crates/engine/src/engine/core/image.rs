//! The engine's whole state as bytes and back: what a snapshot holds. The file around it
//! (header, input offsets, checksum, atomic replacement) is the edge's business
//! (the service's `state` module); this is pure.
//!
//! Only what cannot be derived is written: the rules come from the configuration, the
//! group and tutor maps are rebuilt from their vectors, the vacant slots from the records,
//! scratch space starts empty. The member index is written as is (its hasher has a fixed
//! seed), because rebuilding it costs more than reading it.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::{Engine, Roster};
use crate::engine::arena::IdArena;
use crate::engine::dormant::DormantStore;
use crate::engine::group::GroupState;
use crate::engine::group_feed::Outbox;
use crate::engine::index::MemberIndex;
use crate::engine::member::{MemberState, TicketTable};
use crate::engine::orders::OrderPool;
use crate::engine::slab::Slab;
use crate::engine::stats::EngineStats;
use crate::engine::timers::Timers;
use crate::engine::watermark::{TimeMode, WatermarkTracker};
use crate::model::{EventTime, TutorId};
use crate::settings::Settings;

/// Why an image could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("state image encoding: {0}")]
    Encoding(#[from] bincode::Error),
    #[error("state image is inconsistent: {0}")]
    Inconsistent(String),
}

#[derive(Serialize)]
struct ImageRef<'a> {
    members: &'a Slab<MemberState>,
    ids: &'a IdArena,
    orders: &'a OrderPool,
    tickets: &'a TicketTable,
    index: &'a MemberIndex,
    groups: &'a [GroupState],
    tutors: &'a [TutorId],
    timers: &'a Timers,
    tracker: &'a WatermarkTracker,
    watermark: EventTime,
    dirty_groups: &'a [u32],
    grading_from: Option<EventTime>,
    live_timers: usize,
    stats: &'a EngineStats,
    roster: &'a Roster,
    dormant: &'a DormantStore,
    /// A member stage's next unit sequence; `None` for an engine that grades its groups.
    unit_seq: Option<u64>,
}

#[derive(Deserialize)]
struct Image {
    members: Slab<MemberState>,
    ids: IdArena,
    orders: OrderPool,
    tickets: TicketTable,
    index: MemberIndex,
    groups: Vec<GroupState>,
    tutors: Vec<TutorId>,
    timers: Timers,
    tracker: WatermarkTracker,
    watermark: EventTime,
    dirty_groups: Vec<u32>,
    grading_from: Option<EventTime>,
    live_timers: usize,
    stats: EngineStats,
    roster: Roster,
    dormant: DormantStore,
    unit_seq: Option<u64>,
}

impl Engine {
    /// Writes the state, to be read back by [`Engine::read_image`] under the same
    /// configuration and the same build.
    ///
    /// A member stage's units must have been taken ([`Engine::take_units`]): they are the
    /// group stage's from then on, and an image holds none.
    pub fn write_image(&self, out: impl Write) -> Result<(), ImageError> {
        if self.feed.as_deref().is_some_and(Outbox::holds_units) {
            return Err(ImageError::Inconsistent(
                "a member stage's units were not taken before its image".into(),
            ));
        }
        let image = ImageRef {
            members: &self.members,
            ids: &self.ids,
            orders: &self.orders,
            tickets: &self.tickets,
            index: &self.index,
            groups: &self.groups.groups,
            tutors: &self.tutors,
            timers: &self.timers,
            tracker: &self.tracker,
            watermark: self.watermark,
            dirty_groups: &self.groups.dirty,
            grading_from: self.groups.grading_from(),
            live_timers: self.live_timers,
            stats: &self.stats,
            roster: &self.roster,
            dormant: &self.dormant,
            unit_seq: self.next_unit_seq(),
        };
        bincode::serialize_into(out, &image)?;
        Ok(())
    }

    /// The engine [`Engine::write_image`] wrote, under `config` and `mode`. The caller
    /// vouches for the bytes (a checksum); this checks only what the configuration could
    /// make inconsistent.
    pub fn read_image(
        config: &Settings,
        mode: TimeMode,
        input: impl Read,
    ) -> Result<Engine, ImageError> {
        let mut image: Image = bincode::deserialize_from(input)?;
        let mut engine = Engine::new(config, mode);
        if !image.dormant.restore_vacancies() {
            return Err(ImageError::Inconsistent(
                "the dormant index does not hold exactly the dormant members".into(),
            ));
        }
        let vacant: std::collections::BinaryHeap<_> = image
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_vacant())
            .map(|(i, _)| std::cmp::Reverse(i as u32))
            .collect();
        if image.index.len() != image.members.len() - vacant.len() {
            return Err(ImageError::Inconsistent(format!(
                "{} members held but {} index entries",
                image.members.len() - vacant.len(),
                image.index.len()
            )));
        }
        let held = image.index.len() + image.dormant.len();
        if held > engine.max_members {
            return Err(ImageError::Inconsistent(format!(
                "{held} members, more than state.max_members = {}",
                engine.max_members
            )));
        }
        let tiers = engine.rules.benchmark.tier_count();
        let out_of_range = |tier: u8, profile: bool, group: u32, tutor: u32| {
            usize::from(tier) >= tiers
                || (profile
                    && (group as usize >= image.groups.len()
                        || tutor as usize >= image.tutors.len()))
        };
        let hot = (0..image.members.len())
            .map(|i| &image.members[i])
            .filter(|m| !m.is_vacant())
            .map(|m| (m.tier(), m.has_profile(), m.group, m.tutor));
        let dormant = image.dormant.iter().map(|(_, d)| {
            let r = &d.remainder;
            (r.tier(), r.has_profile(), r.group(), r.tutor())
        });
        if let Some((tier, _, group, tutor)) = hot
            .chain(dormant)
            .find(|&(tier, profile, group, tutor)| out_of_range(tier, profile, group, tutor))
        {
            return Err(ImageError::Inconsistent(format!(
                "member with tier {tier}, group {group}, tutor {tutor} out of range"
            )));
        }
        engine.groups.index = image
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i as u32))
            .collect();
        engine.tutor_index = image
            .tutors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        engine.members = image.members;
        engine.ids = image.ids;
        engine.orders = image.orders;
        engine.tickets = image.tickets;
        engine.index = image.index;
        engine.groups.groups = image.groups;
        engine.tutors = image.tutors;
        engine.timers = image.timers;
        engine.tracker = image.tracker;
        engine.watermark = image.watermark;
        engine.groups.dirty = image.dirty_groups;
        engine.groups.restore_grading_from(image.grading_from);
        engine.live_timers = image.live_timers;
        engine.stats = image.stats;
        engine.roster = image.roster;
        engine.vacant = vacant;
        engine.dormant = image.dormant;
        engine.feed = image
            .unit_seq
            .map(|seq| Box::new(Outbox::with_next_seq(seq)));
        Ok(engine)
    }
}
