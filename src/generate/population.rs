//! Who exists: members in join order, groups as consecutive blocks of them, tutors as
//! consecutive runs of groups, and the per-group "story" that drives activity over the run.
//!
//! Layout rules (thesis 3.2.1 / 3.2.3):
//! - members are numbered in join order: first the backlog (joined up to `backlog_days`
//!   before `start`), then the members who join during the run, spread evenly over it;
//! - groups fill one after another, 100–400 members each (skewed small, mean ≈ 200, like
//!   the thesis's table); the last group takes the remainder and may be smaller than 100
//!   when it cannot be merged into its predecessor without exceeding 400;
//! - tutors take 5–8 consecutive groups; likewise the last tutor may have fewer than 5
//!   groups when merging would exceed 8;
//! - a share of tutors leaves during the run (thesis 3.3.4): their groups pass to a new
//!   tutor and about 20 % of their members are lost.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::rng::{Purpose, Streams};
use super::GenerateOptions;

/// `first_tday` of a member who never places an order.
pub(super) const NEVER: u16 = u16::MAX;
/// No plan made yet.
pub(super) const NO_PLAN: u32 = u32::MAX;
/// No handover of a group.
pub(super) const NO_HANDOVER: u32 = u32::MAX;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Present,
    /// Left the tutor's groups in a handover: still a member, never heard from again.
    Lost,
    /// Sent `member_left`.
    Left,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Special {
    None,
    Leave,
    Move,
}

/// Everything the generator keeps per member (≈ 48 bytes): the static profile plus the
/// plan of the current tenure month.
#[derive(Clone, Debug)]
pub(super) struct MemberState {
    pub joined_at: i64,
    /// Day of the run in which the member joined (negative: before `start`).
    pub join_slice: i32,
    pub group: u32,
    /// Tenure month (0-based) the plan below belongs to.
    pub plan_month: u32,
    /// Bit j: an order on day j of the planned tenure month.
    pub order_mask: u32,
    /// Bit j: the member opens the shop on day j.
    pub login_mask: u32,
    /// Fen still to be spent this tenure month.
    pub budget: u32,
    /// Tenure day of the first order ever, or [`NEVER`].
    pub first_tday: u16,
    /// Propensity to be active, in percent of the benchmark.
    pub loyalty: u8,
    pub orders_left: u8,
    /// 0 = "199", 1 = "399".
    pub tier: u8,
    /// Preferred monthly spend band (0: < 100, 1: 100–500, 2: 500–1000, 3: > 1000 yuan).
    pub base_band: u8,
    pub status: Status,
    pub special: Special,
    pub special_day: u8,
}

/// A group's activity multiplier at three anchor points (start, middle, end of the run),
/// interpolated linearly: steady, declining, recovering, or dipping and recovering.
#[derive(Clone, Debug)]
pub(super) struct Group {
    /// Join slice of its first member: the group exists from then on.
    pub open_slice: i32,
    pub tutor: u32,
    pub successor: u32,
    pub handover_slice: u32,
    pub health: [f64; 3],
    /// -1 … +1: shifts the monthly spend mix towards low (−) or high (+) bands.
    pub spend_tilt: f64,
    /// Cumulative category weights (order of `CATEGORIES`).
    pub category_cdf: [f64; 9],
}

pub(super) struct Population {
    pub members: Vec<MemberState>,
    pub groups: Vec<Group>,
    /// Per initial tutor: its groups, `first..end`.
    pub tutor_groups: Vec<(u32, u32)>,
    /// Initial tutors plus successors.
    pub tutor_count: u32,
}

/// Shares of the monthly spend bands among buying members (thesis 3.2.1), percent, low to
/// high, and how far a group's tilt of ±1 moves them.
pub(super) const BAND_SHARES: [f64; 4] = [8.0, 45.0, 36.0, 11.0];
const BAND_TILT: [f64; 4] = [-5.0, -8.0, 8.0, 5.0];

/// Category shares in percent, in the order of [`super::behaviour::CATEGORIES`]: mother_baby
/// 20, skincare + cosmetics 18, nutrition 17 (thesis 3.2.1), the rest spread.
pub(super) const CATEGORY_SHARES: [f64; 9] = [
    13.0, // apparel_bags
    11.0, // fresh_food
    9.0,  // home
    17.0, // nutrition
    11.0, // skincare
    7.0,  // cosmetics
    9.0,  // personal_care
    20.0, // mother_baby
    3.0,  // other
];

impl Group {
    pub(super) fn tutor_at(&self, slice: i64) -> u32 {
        if self.handover_slice != NO_HANDOVER && slice >= self.handover_slice as i64 {
            self.successor
        } else {
            self.tutor
        }
    }

    pub(super) fn health_at(&self, slice: i64, days: u32) -> f64 {
        let x = (slice as f64 / days.max(1) as f64).clamp(0.0, 1.0);
        let [h0, h1, h2] = self.health;
        if x < 0.5 {
            h0 + (h1 - h0) * x * 2.0
        } else {
            h1 + (h2 - h1) * (x - 0.5) * 2.0
        }
    }

    pub(super) fn draw_band(&self, rng: &mut ChaCha8Rng) -> u8 {
        let mut u = rng.gen::<f64>() * 100.0;
        for band in 0..3 {
            let share = BAND_SHARES[band] + BAND_TILT[band] * self.spend_tilt;
            if u < share {
                return band as u8;
            }
            u -= share;
        }
        3
    }

    pub(super) fn draw_category(&self, rng: &mut ChaCha8Rng) -> u8 {
        let u = rng.gen::<f64>();
        self.category_cdf.iter().position(|&c| u < c).unwrap_or(8) as u8
    }
}

impl Population {
    pub(super) fn build(opts: &GenerateOptions, streams: &Streams) -> Population {
        let n = opts.members;
        let days = opts.days;
        let day_ms = 86_400_000i64;
        let mut layout = streams.rng(Purpose::Layout, 0, 0);

        // Join slices, non-decreasing with the member index.
        let new_members = ((n as f64) * opts.new_member_share.clamp(0.0, 1.0)).round() as u32;
        let new_members = if days == 0 { 0 } else { new_members.min(n) };
        let backlog = n - new_members;
        let backlog_days = opts.backlog_days.max(1) as u64;
        let join_slice = |i: u32| -> i32 {
            if i < backlog {
                // Evenly over (start - backlog_days, start), oldest first.
                let back = 1 + (backlog - 1 - i) as u64 * backlog_days / backlog.max(1) as u64;
                -(back.min(backlog_days) as i32)
            } else {
                ((i - backlog) as u64 * days as u64 / new_members.max(1) as u64) as i32
            }
        };

        // Group sizes: 100 + 300·u², mean 200.
        let mut sizes: Vec<u32> = Vec::new();
        let mut placed = 0u32;
        while placed < n {
            let u: f64 = layout.gen();
            let size = (100 + (300.0 * u * u) as u32).min(n - placed);
            sizes.push(size);
            placed += size;
        }
        if sizes.len() >= 2 {
            let last = sizes[sizes.len() - 1];
            let prev = sizes[sizes.len() - 2];
            if last < 100 && prev + last <= 400 {
                sizes.pop();
                *sizes.last_mut().expect("two groups") += last;
            }
        }

        // Tutors: 5–8 consecutive groups.
        let mut tutor_groups: Vec<(u32, u32)> = Vec::new();
        let mut g = 0u32;
        let group_count = sizes.len() as u32;
        while g < group_count {
            let take = layout.gen_range(5..=8u32).min(group_count - g);
            tutor_groups.push((g, g + take));
            g += take;
        }
        if tutor_groups.len() >= 2 {
            let (lf, le) = tutor_groups[tutor_groups.len() - 1];
            let (pf, pe) = tutor_groups[tutor_groups.len() - 2];
            if le - lf < 5 && (pe - pf) + (le - lf) <= 8 {
                tutor_groups.pop();
                *tutor_groups.last_mut().expect("two tutors") = (pf, le);
            }
        }

        // Groups.
        let mut groups: Vec<Group> = Vec::with_capacity(sizes.len());
        let mut first_member = 0u32;
        for (t, &(first, end)) in tutor_groups.iter().enumerate() {
            for gi in first..end {
                let mut rng = streams.rng(Purpose::Group, gi as u64, 0);
                groups.push(Group {
                    open_slice: join_slice(first_member),
                    tutor: t as u32,
                    successor: t as u32,
                    handover_slice: NO_HANDOVER,
                    health: draw_health(&mut rng),
                    spend_tilt: rng.gen_range(-1.0..=1.0),
                    category_cdf: draw_categories(&mut rng),
                });
                first_member += sizes[gi as usize];
            }
        }

        // Tutors who leave during the run.
        let tutors = tutor_groups.len() as u32;
        let mut tutor_count = tutors;
        if opts.tutor_leave_share > 0.0 && tutors > 0 && days >= 4 {
            let leaving =
                ((tutors as f64 * opts.tutor_leave_share).round() as u32).clamp(1, tutors);
            let mut order: Vec<u32> = (0..tutors).collect();
            for k in 0..leaving {
                // u32 ranges: a usize range would draw differently on 32-bit targets.
                let pick = layout.gen_range(k..tutors);
                order.swap(k as usize, pick as usize);
                let tutor = order[k as usize];
                let slice = layout.gen_range(days * 3 / 10..=days * 6 / 10).max(1);
                let successor = tutor_count;
                tutor_count += 1;
                let (first, end) = tutor_groups[tutor as usize];
                for group in &mut groups[first as usize..end as usize] {
                    group.successor = successor;
                    group.handover_slice = slice;
                }
            }
        }

        // Members.
        let never = opts.never_order_rate.clamp(0.0, 1.0);
        let late = opts.late_first_order_rate.clamp(0.0, 1.0 - never);
        let tier_399 = opts.tier_399_share.clamp(0.0, 1.0);
        let mut members = Vec::with_capacity(n as usize);
        let mut group = 0usize;
        let mut left_in_group = sizes.first().copied().unwrap_or(0);
        for i in 0..n {
            while left_in_group == 0 {
                group += 1;
                left_in_group = sizes[group];
            }
            left_in_group -= 1;
            let mut rng = streams.rng(Purpose::Member, i as u64, 0);
            let slice = join_slice(i);
            let time_of_day =
                super::time_of_day::local_time_of_day(&mut rng, opts.evening_peak_share * 0.8);
            let slice_start = opts.start.as_millis() + slice as i64 * day_ms;
            let joined_at = slice_start
                + super::time_of_day::offset_in_slice(opts.start.as_millis(), time_of_day);
            let tier = u8::from(rng.gen::<f64>() < tier_399);
            let r: f64 = rng.gen();
            let first_tday = if r < never {
                NEVER
            } else if r < never + late {
                // Misses the activation deadline; a tutor's push brings the first order.
                rng.gen_range(15..=45u16)
            } else {
                // Geometric, mean ≈ 3.5 days, within the 14-day activation window.
                let mut d = 0u16;
                while d < 13 && rng.gen::<f64>() < 0.78 {
                    d += 1;
                }
                d
            };
            let loyalty = if rng.gen::<f64>() < 0.12 {
                rng.gen_range(5..=30u8)
            } else {
                rng.gen_range(70..=135u8)
            };
            let base_band = groups[group].draw_band(&mut rng);
            members.push(MemberState {
                joined_at,
                join_slice: slice,
                group: group as u32,
                plan_month: NO_PLAN,
                order_mask: 0,
                login_mask: 0,
                budget: 0,
                first_tday,
                loyalty,
                orders_left: 0,
                tier,
                base_band,
                status: Status::Present,
                special: Special::None,
                special_day: 0,
            });
        }

        Population {
            members,
            groups,
            tutor_groups,
            tutor_count,
        }
    }

    /// Groups that exist on `slice` are a prefix of the group list (they open in order).
    pub(super) fn open_groups(&self, slice: i64) -> u32 {
        self.groups
            .partition_point(|g| g.open_slice as i64 <= slice) as u32
    }
}

fn draw_health(rng: &mut ChaCha8Rng) -> [f64; 3] {
    let story: f64 = rng.gen();
    if story < 0.4 {
        // Steady, mostly a little above the benchmark.
        let h = rng.gen_range(0.97..1.15);
        [
            h,
            h + rng.gen_range(-0.05..0.05),
            h + rng.gen_range(-0.05..0.05),
        ]
    } else if story < 0.6 {
        // Declining: an overloaded tutor.
        [
            rng.gen_range(1.05..1.2),
            rng.gen_range(0.88..1.0),
            rng.gen_range(0.6..0.75),
        ]
    } else if story < 0.8 {
        // Recovering: a tutor's push.
        [
            rng.gen_range(0.6..0.75),
            rng.gen_range(0.85..1.0),
            rng.gen_range(1.1..1.25),
        ]
    } else {
        // Dip and recovery.
        [
            rng.gen_range(1.0..1.15),
            rng.gen_range(0.6..0.72),
            rng.gen_range(1.05..1.2),
        ]
    }
}

fn draw_categories(rng: &mut ChaCha8Rng) -> [f64; 9] {
    let mut weights = CATEGORY_SHARES;
    for w in &mut weights {
        *w *= rng.gen_range(0.7..1.3);
    }
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut cdf = [0.0; 9];
    for (c, w) in cdf.iter_mut().zip(weights) {
        acc += w / total;
        *c = acc;
    }
    cdf[8] = 1.0;
    cdf
}
