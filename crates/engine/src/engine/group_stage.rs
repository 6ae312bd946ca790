//! Stage 2 of a scaled-out deployment: the group side, fed by the [`Unit`]s of every
//! stage-1 engine (one per input partition, each with its own watermark), and all group
//! warnings.
//!
//! Units are applied in one total order whatever order they arrive in: by (watermark of
//! their source when they closed, source, sequence). A unit is released once no source
//! can still send one ahead of it: every other source has published a watermark past
//! it, has a pending unit of its own (which sorts after the smallest), or is finished.
//! Within one source that order is its own, so with a single source every unit is
//! released at once and the warnings are exactly a single engine's; with several it is
//! the same however the sources' work interleaves, on any number of threads or machines.
//! A source that has published nothing holds every other back, as an input partition
//! that has not been read from holds the watermark back.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use foldhash::fast::FixedState;
use hashbrown::{Equivalent, HashMap as Table};
use serde::{Deserialize, Serialize};

use super::core::ImageError;
use super::core::{intern_tutor, GroupWarnings};
use super::group::{Contribution, GroupState};
use super::group_feed::{Change, Unit};
use super::groups::{GroupInput, Groups};
use super::rules::Rules;
use super::stats::EngineStats;
use super::warning::Warning;
use crate::model::{EventTime, GroupId, MemberId, TutorId};
use crate::settings::Settings;

/// What stage 2 holds for one member in one group: her last contribution and its
/// sequence, so that an older or repeated one is recognised.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Held {
    seq: u64,
    contribution: Contribution,
}

/// A (group, member) key looked up without building one: it hashes as the tuple does.
struct Probe<'a>(u32, &'a str);

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl Equivalent<(u32, MemberId)> for Probe<'_> {
    fn equivalent(&self, key: &(u32, MemberId)) -> bool {
        self.0 == key.0 && self.1 == key.1.as_str()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Source {
    /// No future unit of the source has a lower watermark than this.
    bound: EventTime,
    finished: bool,
    pending: VecDeque<Unit>,
    /// The sequence of the last unit received: a unit at or below it is a redelivery.
    received: Option<u64>,
}

/// A unit stage 2 has applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Released {
    pub source: u32,
    pub seq: u64,
    pub out_mark: usize,
}

pub struct GroupStage {
    rules: Rules,
    groups: Groups,
    tutors: Vec<TutorId>,
    tutor_index: HashMap<TutorId, u32>,
    /// Keyed with a fixed-seed hasher: one lookup per entry, on the group stage's hot path.
    held: Table<(u32, MemberId), Held, FixedState>,
    sources: Vec<Source>,
    stats: EngineStats,
    /// Units dropped as redeliveries, entries dropped as older than what is held.
    redelivered_units: u64,
    stale_entries: u64,
}

impl GroupStage {
    /// A group stage fed by `sources` stage-1 engines, numbered from 0.
    pub fn new(config: &Settings, sources: u32) -> GroupStage {
        GroupStage {
            rules: Rules::new(config),
            groups: Groups::default(),
            tutors: Vec::new(),
            tutor_index: HashMap::new(),
            held: Table::default(),
            sources: (0..sources)
                .map(|_| Source {
                    bound: EventTime::MIN,
                    ..Source::default()
                })
                .collect(),
            stats: EngineStats::default(),
            redelivered_units: 0,
            stale_entries: 0,
        }
    }

    /// Units from `source`, in its order, and its watermark after them. Units already
    /// received are dropped (at-least-once delivery, a source re-deriving its output).
    pub fn receive(
        &mut self,
        source: u32,
        units: impl IntoIterator<Item = Unit>,
        watermark: EventTime,
    ) {
        let s = &mut self.sources[source as usize];
        for unit in units {
            if s.received.is_some_and(|seq| unit.seq <= seq) {
                self.redelivered_units += 1;
                continue;
            }
            s.received = Some(unit.seq);
            s.bound = s.bound.max(unit.watermark);
            s.pending.push_back(unit);
        }
        s.bound = s.bound.max(watermark);
    }

    /// `source` will send nothing more (the end of a replayed input).
    pub fn finish(&mut self, source: u32) {
        self.sources[source as usize].finished = true;
    }

    /// The unit to release next, if the rule allows one: the smallest pending by
    /// (watermark, source, seq), once every other source is known to be past it.
    fn next_releasable(&self) -> Option<u32> {
        let (p, head) = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(p, s)| s.pending.front().map(|u| (p as u32, u.key(p as u32))))
            .min_by_key(|&(_, key)| key)?;
        let passed = self.sources.iter().enumerate().all(|(q, s)| {
            let q = q as u32;
            q == p || s.finished || !s.pending.is_empty() || (s.bound, q) > (head.0, p)
        });
        passed.then_some(p)
    }

    /// Applies the next releasable unit, appending its group warnings to `out`.
    pub fn release_next(&mut self, out: &mut Vec<Warning>) -> Option<Released> {
        let source = self.next_releasable()?;
        // `next_releasable` picked a source whose queue has a front.
        let unit = self.sources[source as usize].pending.pop_front()?;
        self.apply(&unit, out);
        Some(Released {
            source,
            seq: unit.seq,
            out_mark: unit.out_mark,
        })
    }

    /// Applies every unit the rule releases.
    pub fn release(&mut self, out: &mut Vec<Warning>) {
        while self.release_next(out).is_some() {}
    }

    /// Units received and not yet released.
    pub fn pending(&self) -> usize {
        self.sources.iter().map(|s| s.pending.len()).sum()
    }

    fn apply(&mut self, unit: &Unit, out: &mut Vec<Warning>) {
        if self.groups.grading_from().is_none() {
            self.groups.restore_grading_from(unit.grading_from);
        }
        for entry in &unit.entries {
            let group = self.groups.intern(&entry.group);
            let key = Probe(group, entry.member.as_str());
            match &entry.change {
                Change::Tutor(tutor) => {
                    let tutor = self.intern_tutor(tutor);
                    self.groups.apply(GroupInput::Tutor { group, tutor });
                }
                Change::Contributes(after) => match self.held.get_mut(&key) {
                    Some(held) if held.seq > unit.seq => self.stale_entries += 1,
                    Some(held) => {
                        let before = std::mem::replace(&mut held.contribution, after.clone());
                        held.seq = unit.seq;
                        self.groups.apply(GroupInput::Contribution {
                            group,
                            before: Some(before),
                            after: Some(after.clone()),
                        });
                    }
                    None => {
                        self.groups.apply(GroupInput::Contribution {
                            group,
                            before: None,
                            after: Some(after.clone()),
                        });
                        self.held.insert(
                            (group, entry.member.clone()),
                            Held {
                                seq: unit.seq,
                                contribution: after.clone(),
                            },
                        );
                    }
                },
                Change::Leaves => match self.held.remove(&key) {
                    Some(held) if held.seq > unit.seq => {
                        self.stale_entries += 1;
                        self.held.insert((group, entry.member.clone()), held);
                    }
                    Some(held) => self.groups.apply(GroupInput::Contribution {
                        group,
                        before: Some(held.contribution),
                        after: None,
                    }),
                    None => self.stale_entries += 1,
                },
            }
        }
        if unit.warmup && self.groups.grading_from() == Some(unit.at) {
            self.groups.mark_all_dirty();
        }
        if self.groups.any_dirty() {
            let warnings = GroupWarnings {
                rules: &self.rules,
                tutors: &self.tutors,
                stats: &mut self.stats,
            };
            warnings.regrade(&mut self.groups, unit.at, unit.emitted_at, out);
        }
    }

    /// Writes the stage's state, to be read back by [`GroupStage::read_image`] under the
    /// same configuration and build: its groups, what it holds of every member, each
    /// source's progress and pending units. Members in key order, so that one state gives
    /// one image.
    pub fn write_image(&self, out: impl std::io::Write) -> Result<(), ImageError> {
        let mut held: Vec<(&(u32, MemberId), &Held)> = self.held.iter().collect();
        held.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let image = StageImageRef {
            groups: &self.groups.groups,
            dirty: &self.groups.dirty,
            grading_from: self.groups.grading_from(),
            tutors: &self.tutors,
            held,
            sources: &self.sources,
            stats: &self.stats,
            redelivered_units: self.redelivered_units,
            stale_entries: self.stale_entries,
        };
        bincode::serialize_into(out, &image)?;
        Ok(())
    }

    /// The stage [`GroupStage::write_image`] wrote, under `config`, for `sources` sources
    /// (a stage of another input's partition count is refused).
    pub fn read_image(
        config: &Settings,
        sources: u32,
        input: impl std::io::Read,
    ) -> Result<GroupStage, ImageError> {
        let image: StageImage = bincode::deserialize_from(input)?;
        if image.sources.len() != sources as usize {
            return Err(ImageError::Inconsistent(format!(
                "a group stage of {} sources, not {sources}",
                image.sources.len()
            )));
        }
        let groups = image.groups.len() as u32;
        let tutors = image.tutors.len() as u32;
        if image.held.iter().any(|((g, _), _)| *g >= groups)
            || image.dirty.iter().any(|g| *g >= groups)
            || image
                .groups
                .iter()
                .any(|g| g.tutor.is_some_and(|t| t >= tutors))
        {
            return Err(ImageError::Inconsistent(
                "a group or tutor out of range".into(),
            ));
        }
        let mut stage = GroupStage::new(config, sources);
        stage.groups.index = image
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i as u32))
            .collect();
        stage.groups.groups = image.groups;
        stage.groups.dirty = image.dirty;
        stage.groups.restore_grading_from(image.grading_from);
        stage.tutor_index = image
            .tutors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        stage.tutors = image.tutors;
        stage.held = image.held.into_iter().collect();
        stage.sources = image.sources;
        stage.stats = image.stats;
        stage.redelivered_units = image.redelivered_units;
        stage.stale_entries = image.stale_entries;
        Ok(stage)
    }

    fn intern_tutor(&mut self, id: &TutorId) -> u32 {
        intern_tutor(&mut self.tutors, &mut self.tutor_index, id)
    }

    pub fn group(&self, id: &GroupId) -> Option<&GroupState> {
        self.groups.get(id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupState> {
        self.groups.iter()
    }

    pub fn tutor_id(&self, tutor: u32) -> Option<&TutorId> {
        self.tutors.get(tutor as usize)
    }

    pub fn tutor_index(&self, id: &TutorId) -> Option<u32> {
        self.tutor_index.get(id).copied()
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The instant the groups' figures are as of: every source's changes up to it are
    /// applied (a source's next pending unit, or else its watermark, is not below it).
    /// With every unit released it is the lowest watermark of the sources, as a single
    /// engine's figures are as of its watermark.
    pub fn as_of(&self) -> EventTime {
        self.sources
            .iter()
            .filter(|s| !s.finished || !s.pending.is_empty())
            .map(|s| s.pending.front().map_or(s.bound, |u| u.watermark))
            .min()
            .unwrap_or_else(|| {
                self.sources
                    .iter()
                    .map(|s| s.bound)
                    .max()
                    .unwrap_or(EventTime::MIN)
            })
    }

    /// The group warnings counted, by kind.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Units dropped because they had been received before.
    pub fn redelivered_units(&self) -> u64 {
        self.redelivered_units
    }

    /// Entries dropped because a newer one for the same member and group was held (or,
    /// for a leaving, nothing was).
    pub fn stale_entries(&self) -> u64 {
        self.stale_entries
    }

    /// (group, member) contributions held: stage 2's memory is about this many entries.
    pub fn held_contributions(&self) -> usize {
        self.held.len()
    }
}

#[derive(Serialize)]
struct StageImageRef<'a> {
    groups: &'a [GroupState],
    dirty: &'a [u32],
    grading_from: Option<EventTime>,
    tutors: &'a [TutorId],
    held: Vec<(&'a (u32, MemberId), &'a Held)>,
    sources: &'a [Source],
    stats: &'a EngineStats,
    redelivered_units: u64,
    stale_entries: u64,
}

#[derive(Deserialize)]
struct StageImage {
    groups: Vec<GroupState>,
    dirty: Vec<u32>,
    grading_from: Option<EventTime>,
    tutors: Vec<TutorId>,
    held: Vec<((u32, MemberId), Held)>,
    sources: Vec<Source>,
    stats: EngineStats,
    redelivered_units: u64,
    stale_entries: u64,
}
