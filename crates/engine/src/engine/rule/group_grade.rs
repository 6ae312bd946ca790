//! SPEC §5, group grades and the tenure benchmark: a group's activity is graded against
//! the sum of its counted members' benchmark probabilities (their fee tier and tenure
//! month, [`BenchmarkTable`](crate::engine::benchmark::BenchmarkTable)), its output per
//! active member against `groups.output_target`, each with a hysteresis band so that a
//! group at the line does not flap. Falling to `failing` warns (`GROUP_BELOW_BENCHMARK`,
//! `GROUP_OUTPUT_BELOW_TARGET`, WARNING), leaving it warns `GROUP_RECOVERED` (NOTICE).
//! Groups with fewer than `groups.min_group_size` counted members, and every group during
//! the warm-up, are tracked but not graded.
//!
//! Both halves: [`GroupState::regrade`] at an instant, and [`next`], the instants after
//! which a member's contribution to her group changes with time alone (a tenure month,
//! an order leaving the 30-day window). The aggregates themselves are
//! [`GroupState`]'s; the grading tests are beside them in `group.rs`.

use std::sync::Arc;

use super::segment::first_leaving;
use super::Earliest;
use crate::engine::benchmark::next_tenure_boundary;
use crate::engine::group::{Grade, GroupState};
use crate::engine::member::{OrderRec, WINDOW_30};
use crate::engine::warning::{GroupFigures, Label, WarningKind};
use crate::engine::Severity;
use crate::model::EventTime;
use crate::settings::GroupsConfig;

/// A grade transition worth a warning.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    BelowBenchmark { from: Option<Grade> },
    Recovered { to: Grade },
    OutputBelowTarget { from: Option<Grade> },
}

impl Grade {
    /// Grades `margin` (how far above the reference, scaled by `scale`) against cut-offs
    /// in the same units. Integer arithmetic throughout: a grade at the line is exact.
    fn of(margin: i128, scale: i128, cuts: (i64, i64)) -> Grade {
        if margin >= i128::from(cuts.0) * scale {
            Grade::Excellent
        } else if margin >= i128::from(cuts.1) * scale {
            Grade::Good
        } else if margin >= 0 {
            Grade::Qualified
        } else {
            Grade::Failing
        }
    }

    /// A failing grade is kept until the margin clears the hysteresis band, so a group
    /// hovering at the line does not flap between `failing` and `qualified`.
    fn with_hysteresis(self, previous: Option<Grade>, margin: i128, band: i128) -> Grade {
        if previous == Some(Grade::Failing) && self != Grade::Failing && margin < band {
            Grade::Failing
        } else {
            self
        }
    }
}

impl GroupState {
    /// Re-grades the group and reports the transitions that deserve a warning.
    /// `observed_enough` is false during the engine's warm-up: tracked, not graded.
    pub fn regrade(
        &mut self,
        config: &GroupsConfig,
        observed_enough: bool,
        events: &mut Vec<GroupEvent>,
    ) {
        self.dirty = false;
        if !observed_enough || self.counted < config.min_group_size {
            self.activity_grade = None;
            self.output_grade = None;
            return;
        }
        let scale = i128::from(self.counted);
        let margin = self.activity_margin();
        let cuts = (
            config.activity_grades_pp.excellent,
            config.activity_grades_pp.good,
        );
        let activity = Grade::of(margin, scale, cuts).with_hysteresis(
            self.activity_grade,
            margin,
            i128::from(config.hysteresis_pp) * scale,
        );
        match (self.activity_grade, activity) {
            (previous, Grade::Failing) if previous != Some(Grade::Failing) => {
                events.push(GroupEvent::BelowBenchmark { from: previous })
            }
            (Some(Grade::Failing), to) if to != Grade::Failing => {
                events.push(GroupEvent::Recovered { to })
            }
            _ => {}
        }
        self.activity_grade = Some(activity);

        let target = config.output_target;
        let scale = i128::from(target.0) * i128::from(self.active.max(1));
        let margin = self.output_margin(target);
        let cuts = (
            config.output_grades_pct.excellent,
            config.output_grades_pct.good,
        );
        // No active member means no output at all: failing, whatever the arithmetic says.
        let raw = if self.active == 0 {
            Grade::Failing
        } else {
            Grade::of(margin, scale, cuts)
        };
        let output = raw.with_hysteresis(
            self.output_grade,
            margin,
            i128::from(config.output_hysteresis_pct) * scale,
        );
        if output == Grade::Failing && self.output_grade != Some(Grade::Failing) {
            events.push(GroupEvent::OutputBelowTarget {
                from: self.output_grade,
            });
        }
        self.output_grade = Some(output);
    }
}

/// Offers the instants after `now` at which the contribution of a member who joined at
/// `joined_at` changes with time alone: her next tenure month, and (`window`: unless her
/// segment row reads the 30-day window, when her own wake-up moves the group too) her
/// oldest order of the last 30 days leaving it.
#[inline]
pub(in crate::engine) fn next(
    joined_at: EventTime,
    orders: &[OrderRec],
    window: bool,
    now: EventTime,
    group: &mut Earliest,
) {
    if window {
        if let Some(leaves) = first_leaving(orders, now, WINDOW_30) {
            group.consider(leaves);
        }
    }
    if let Some(boundary) = next_tenure_boundary(joined_at, now) {
        group.consider(boundary);
    }
}

/// A group warning's kind, severity and grades (from, to).
pub(in crate::engine) fn warning_of(
    event: GroupEvent,
) -> (WarningKind, Severity, Option<Label>, Option<Label>) {
    let label = |grade: Option<Grade>| Some(grade.map_or(Label::Ungraded, Label::Grade));
    match event {
        GroupEvent::BelowBenchmark { from } => (
            WarningKind::GroupBelowBenchmark,
            Severity::Warning,
            label(from),
            label(Some(Grade::Failing)),
        ),
        GroupEvent::Recovered { to } => (
            WarningKind::GroupRecovered,
            Severity::Notice,
            label(Some(Grade::Failing)),
            label(Some(to)),
        ),
        GroupEvent::OutputBelowTarget { from } => (
            WarningKind::GroupOutputBelowTarget,
            Severity::Warning,
            label(from),
            label(Some(Grade::Failing)),
        ),
    }
}

/// The group's figures and the recommended action of a `kind` warning about it: the
/// configured action `base`, with what a tutor needs to act (how many more active
/// members, or the output against its target) and the weakest categories.
pub(in crate::engine) fn figures_and_action(
    group: &GroupState,
    kind: WarningKind,
    base: Arc<str>,
    config: &GroupsConfig,
) -> (GroupFigures, Arc<str>) {
    let weakest = group.weakest_categories(config);
    let weakest_text = weakest
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ");
    let action: Arc<str> = match kind {
        WarningKind::GroupBelowBenchmark => {
            let needed = group.members_needed();
            let noun = if needed == 1 { "member" } else { "members" };
            format!(
                "{base}; needs {needed} more active {noun} this month; weakest categories: \
                 {weakest_text}"
            )
            .into()
        }
        WarningKind::GroupOutputBelowTarget => format!(
            "{base}; {} yuan per active member against a target of {}; weakest categories: {weakest_text}",
            group.output_per_active(),
            config.output_target
        )
        .into(),
        _ => base,
    };
    let figures = GroupFigures {
        members: group.counted,
        active: group.active,
        activity_bp: group.activity_bp(),
        benchmark_bp: group.benchmark_bp(),
        output_per_active: group.output_per_active(),
        output_target: config.output_target,
        weakest_categories: weakest,
        members_needed: group.members_needed(),
    };
    (figures, action)
}
