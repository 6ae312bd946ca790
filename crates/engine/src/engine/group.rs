//! Community groups (SPEC §5): running aggregates of the members' contributions and the
//! figures read from them. The grades, with their hysteresis, and what a change of grade
//! warns are the group-grade rule's (`rule/group_grade.rs`).
//!
//! A group never looks at its members directly. Each member contributes a
//! [`Contribution`] (counted? active? expected probability? 30-day revenue by category),
//! and the engine adds the difference whenever a member's contribution changes, so the
//! aggregates are always the sum over the members at their last evaluation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Category, Fen, GroupId};
use crate::settings::GroupsConfig;

/// A grade of activity against the benchmark, or of output against the target.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Failing,
    Qualified,
    Good,
    Excellent,
}

impl Grade {
    pub const ALL: [Grade; 4] = [
        Grade::Failing,
        Grade::Qualified,
        Grade::Good,
        Grade::Excellent,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Grade::Failing => "failing",
            Grade::Qualified => "qualified",
            Grade::Good => "good",
            Grade::Excellent => "excellent",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one member adds to its group's figures at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contribution {
    /// Tracked in the group (has a profile, has not left).
    pub tracked: bool,
    /// Past the first tenure month: enters members, active, revenue and benchmark.
    pub counted: bool,
    pub active: bool,
    /// Expected active probability for her tier and tenure month, percent.
    pub expected_pct: u8,
    /// Revenue of her orders in the 30-day window, by category.
    pub revenue: [Fen; Category::COUNT],
}

/// Running figures of one group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupState {
    pub id: GroupId,
    /// Interned tutor of the most recent profile that placed a member here.
    pub tutor: Option<u32>,
    pub tracked: u32,
    pub counted: u32,
    pub active: u32,
    /// Sum of counted members' expected probabilities, in percent.
    pub expected_sum: u32,
    pub revenue: [Fen; Category::COUNT],
    /// `None` while ungraded (fewer than `min_group_size` counted members).
    pub activity_grade: Option<Grade>,
    pub output_grade: Option<Grade>,
    /// Queued for re-grading at the current instant.
    pub(crate) dirty: bool,
}

impl GroupState {
    pub fn new(id: GroupId) -> GroupState {
        GroupState {
            id,
            tutor: None,
            tracked: 0,
            counted: 0,
            active: 0,
            expected_sum: 0,
            revenue: [Fen::ZERO; Category::COUNT],
            activity_grade: None,
            output_grade: None,
            dirty: false,
        }
    }

    pub fn add(&mut self, c: &Contribution) {
        self.apply(c, 1);
    }

    pub fn remove(&mut self, c: &Contribution) {
        self.apply(c, -1);
    }

    /// `remove(before)` then `add(after)`, in one pass.
    pub fn replace(&mut self, before: &Contribution, after: &Contribution) {
        let step = |total: &mut u32, was: bool, is: bool| {
            *total = total.saturating_add_signed(i32::from(is) - i32::from(was));
        };
        step(&mut self.tracked, before.tracked, after.tracked);
        step(&mut self.counted, before.counted, after.counted);
        step(
            &mut self.active,
            before.counted && before.active,
            after.counted && after.active,
        );
        let expected = |c: &Contribution| {
            if c.counted {
                i32::from(c.expected_pct)
            } else {
                0
            }
        };
        self.expected_sum = self
            .expected_sum
            .saturating_add_signed(expected(after) - expected(before));
        let revenue = |c: &Contribution, i: usize| if c.counted { c.revenue[i].0 } else { 0 };
        for (i, total) in self.revenue.iter_mut().enumerate() {
            total.0 += revenue(after, i) - revenue(before, i);
        }
    }

    fn apply(&mut self, c: &Contribution, sign: i32) {
        let step = |total: &mut u32, on: bool| {
            if on {
                *total = total.saturating_add_signed(sign);
            }
        };
        step(&mut self.tracked, c.tracked);
        step(&mut self.counted, c.counted);
        step(&mut self.active, c.counted && c.active);
        if c.counted {
            self.expected_sum = self
                .expected_sum
                .saturating_add_signed(sign * i32::from(c.expected_pct));
            for (total, part) in self.revenue.iter_mut().zip(c.revenue.iter()) {
                total.0 += i64::from(sign) * part.0;
            }
        }
    }

    pub fn revenue_total(&self) -> Fen {
        self.revenue.iter().copied().sum()
    }

    /// Activity minus benchmark, in percentage points times `counted` (exact).
    pub(in crate::engine) fn activity_margin(&self) -> i128 {
        i128::from(self.active) * 100 - i128::from(self.expected_sum)
    }

    /// Output minus target, in percent of the target times `target × active` (exact).
    /// With no active member the output is zero.
    pub(in crate::engine) fn output_margin(&self, target: Fen) -> i128 {
        i128::from(self.revenue_total().0) * 100
            - i128::from(target.0) * i128::from(self.active) * 100
    }

    pub fn activity_bp(&self) -> i64 {
        ratio_bp(i64::from(self.active) * 10_000, self.counted)
    }

    pub fn benchmark_bp(&self) -> i64 {
        ratio_bp(i64::from(self.expected_sum) * 100, self.counted)
    }

    pub fn output_per_active(&self) -> Fen {
        if self.active == 0 {
            Fen::ZERO
        } else {
            Fen(self.revenue_total().0.div_euclid(i64::from(self.active)))
        }
    }

    /// Active members missing to reach the benchmark: ceil((expected − 100·active) / 100).
    pub fn members_needed(&self) -> u32 {
        let missing = i64::from(self.expected_sum) - i64::from(self.active) * 100;
        u32::try_from((missing.max(0) + 99) / 100).unwrap_or(u32::MAX)
    }

    /// The named categories whose revenue per active member is furthest below the
    /// configured category benchmark, weakest first (ties in catalogue order).
    pub fn weakest_categories(&self, config: &GroupsConfig) -> Vec<Category> {
        let mut ranked: Vec<(Category, i64, i64)> = Category::NAMED
            .iter()
            .filter_map(|c| {
                config
                    .category_benchmark
                    .get(c)
                    .map(|b| (*c, self.revenue[c.index()].0, b.0))
            })
            .collect();
        // a/b < c/d  ⇔  a·d < c·b for positive denominators: no division, no float.
        ranked.sort_by(|x, y| {
            (i128::from(x.1) * i128::from(y.2)).cmp(&(i128::from(y.1) * i128::from(x.2)))
        });
        ranked
            .into_iter()
            .take(config.weakest_categories)
            .map(|(c, _, _)| c)
            .collect()
    }
}

fn ratio_bp(numerator: i64, denominator: u32) -> i64 {
    if denominator == 0 {
        0
    } else {
        numerator / i64::from(denominator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::group_grade::GroupEvent;

    fn member(expected: u8, active: bool, revenue_yuan: i64) -> Contribution {
        let mut revenue = [Fen::ZERO; Category::COUNT];
        revenue[Category::Skincare.index()] = Fen::yuan(revenue_yuan);
        Contribution {
            tracked: true,
            counted: true,
            active,
            expected_pct: expected,
            revenue,
        }
    }

    /// A group of `n` tier-199 members over a year old (36 % expected), `active` of them
    /// active, each active one spending `spend` yuan.
    fn group(n: u32, active: u32, spend: i64) -> GroupState {
        let mut g = GroupState::new(GroupId::new("g1"));
        for i in 0..n {
            let is_active = i < active;
            g.add(&member(36, is_active, if is_active { spend } else { 0 }));
        }
        g
    }

    /// The one-pass move must leave the figures exactly as removing the old contribution
    /// and adding the new one: over every combination of the flags.
    #[test]
    fn replacing_a_contribution_equals_removing_then_adding_it() {
        let figures = |g: &GroupState| (g.tracked, g.counted, g.active, g.expected_sum, g.revenue);
        let variants: Vec<Contribution> = (0..16u8)
            .map(|bits| {
                let mut c = member(40 + bits, bits & 1 != 0, i64::from(bits) * 7);
                c.revenue[Category::Home.index()] = Fen(i64::from(bits) * 13);
                c.tracked = bits & 2 != 0;
                c.counted = bits & 4 != 0;
                c.active = bits & 8 != 0 || c.active;
                c
            })
            .collect();
        for before in &variants {
            for after in &variants {
                let mut by_steps = group(12, 5, 300);
                by_steps.add(before);
                let mut in_one = by_steps.clone();
                by_steps.remove(before);
                by_steps.add(after);
                in_one.replace(before, after);
                assert_eq!(
                    figures(&in_one),
                    figures(&by_steps),
                    "{before:?} -> {after:?}"
                );
            }
        }
    }

    fn regrade(g: &mut GroupState) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        g.regrade(&GroupsConfig::default(), true, &mut events);
        events
    }

    #[test]
    fn the_thesis_example_a_hundred_tier_199_members_over_a_year_expect_36_active() {
        let g = group(100, 36, 450);
        assert_eq!(g.benchmark_bp(), 3600);
        assert_eq!(g.members_needed(), 0);
        let g = group(100, 32, 450);
        assert_eq!(g.members_needed(), 4, "needs 4 more active members");
    }

    #[test]
    fn activity_grades_are_inclusive_lower_bounds_in_points_above_benchmark() {
        for (active, grade) in [
            (41, Grade::Excellent),
            (40, Grade::Good),
            (38, Grade::Good),
            (37, Grade::Qualified),
            (36, Grade::Qualified),
            (35, Grade::Failing),
        ] {
            let mut g = group(100, active, 450);
            regrade(&mut g);
            assert_eq!(g.activity_grade, Some(grade), "{active} active of 100");
        }
    }

    #[test]
    fn falling_below_the_benchmark_warns_once_and_recovery_needs_the_hysteresis_band() {
        let mut g = group(100, 36, 450);
        assert!(regrade(&mut g).is_empty());
        g.remove(&member(36, true, 450));
        g.add(&member(36, false, 0));
        assert_eq!(
            regrade(&mut g),
            vec![GroupEvent::BelowBenchmark {
                from: Some(Grade::Qualified)
            }]
        );
        assert!(
            regrade(&mut g).is_empty(),
            "no second warning while still failing"
        );
        // Back exactly at the benchmark: inside the 1-point band, still failing.
        g.remove(&member(36, false, 0));
        g.add(&member(36, true, 450));
        assert!(regrade(&mut g).is_empty());
        assert_eq!(g.activity_grade, Some(Grade::Failing));
        // One point above: recovered.
        g.remove(&member(36, false, 0));
        g.add(&member(36, true, 450));
        assert_eq!(
            regrade(&mut g),
            vec![GroupEvent::Recovered {
                to: Grade::Qualified
            }]
        );
    }

    #[test]
    fn small_groups_are_tracked_but_not_graded_and_warn_on_becoming_graded_while_failing() {
        let mut g = group(9, 0, 0);
        assert!(regrade(&mut g).is_empty());
        assert_eq!(g.activity_grade, None);
        g.add(&member(36, false, 0));
        let events = regrade(&mut g);
        assert!(
            events.contains(&GroupEvent::BelowBenchmark { from: None }),
            "{events:?}"
        );
        assert!(
            events.contains(&GroupEvent::OutputBelowTarget { from: None }),
            "{events:?}"
        );
    }

    #[test]
    fn output_is_graded_against_the_target_per_active_member() {
        for (spend, grade) in [
            (495, Grade::Excellent),
            (494, Grade::Good),
            (473, Grade::Good),
            (472, Grade::Qualified),
            (450, Grade::Qualified),
            (449, Grade::Failing),
        ] {
            let mut g = group(100, 40, spend);
            regrade(&mut g);
            assert_eq!(
                g.output_grade,
                Some(grade),
                "{spend} yuan per active member"
            );
        }
        // 472.5 is exactly +5 %: good.
        let mut g = group(100, 2, 0);
        g.add(&member(36, true, 0));
        g.revenue[Category::Skincare.index()] = Fen(3 * 47250);
        regrade(&mut g);
        assert_eq!(g.output_grade, Some(Grade::Good));
    }

    #[test]
    fn weakest_categories_are_furthest_below_their_benchmark() {
        let config = GroupsConfig::default();
        let mut g = group(20, 10, 0);
        for c in Category::NAMED {
            g.revenue[c.index()] = Fen(config.category_benchmark[&c].0 * 10);
        }
        g.revenue[Category::Home.index()].0 /= 2;
        g.revenue[Category::PersonalCare.index()].0 /= 4;
        assert_eq!(
            g.weakest_categories(&config),
            vec![Category::PersonalCare, Category::Home]
        );
    }
}
