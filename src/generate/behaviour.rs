//! What members do, day by day: monthly activity plans along the tenure benchmark, spend
//! and orders, logins, after-sales tickets, leaving, moving, tutor handovers.
//!
//! A member's behaviour is planned one tenure month (30 days from `joined_at`) at a time
//! from a sub-stream keyed by (member, month): whether it is active (the benchmark
//! probability for its tier and tenure month × its loyalty × its group's health at that
//! time), its spend for the month (thesis mix), on which days it orders and on which it
//! merely logs in. The events of one day then come from a sub-stream keyed by (member,
//! day). Events that fall on a later day (ticket updates, duplicate orders) wait in a
//! per-day queue.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::population::{MemberState, Population, Special, Status, NEVER};
use super::rng::{Purpose, Streams};
use super::{GenerateOptions, Kind, Raw};

use super::time_of_day::{local_time_of_day, offset_in_slice, DAY, HOUR, MINUTE};

/// Thesis table 3.2.1 / SPEC §5 in percent: [tier 199, tier 399] × tenure month 1..13+.
pub(super) const BENCHMARK: [[u8; 13]; 2] = [
    [40, 57, 55, 50, 48, 46, 44, 42, 41, 39, 38, 37, 36],
    [40, 65, 65, 58, 55, 52, 51, 50, 48, 46, 44, 42, 40],
];

/// The benchmark turned into a monthly activity probability needs a lift: a fifth of the
/// members never order and the 30-day window straddles two tenure months. Calibrated so
/// that a group of health 1.0 sits a little above its benchmark.
const ACTIVITY_CALIBRATION: f64 = 1.22;

pub(super) const CHANNELS: [&str; 3] = ["mini_program", "app", "h5"];
pub(super) const REASONS: [&str; 6] = [
    "damaged_package",
    "spoiled",
    "quality",
    "wrong_item",
    "late_delivery",
    "other",
];
const REASON_WEIGHTS: [f64; 6] = [25.0, 10.0, 20.0, 12.0, 25.0, 8.0];
const FRESH_FOOD: u8 = 1;

fn benchmark(tier: u8, month0: u32) -> f64 {
    BENCHMARK[tier as usize & 1][month0.min(12) as usize] as f64 / 100.0
}

/// Monthly spend in fen within a band, strictly inside its bounds. Within a band the
/// spend leans to the low end (the minimum of two uniform draws: integer-only, mean at a
/// third of the band), like real baskets.
fn spend_in_band(band: u8, rng: &mut ChaCha8Rng) -> u32 {
    let mut low_leaning = |width: u32| rng.gen_range(0..width).min(rng.gen_range(0..width));
    match band {
        0 => 990 + low_leaning(9_010),
        1 => 10_000 + low_leaning(40_000),
        2 => 50_000 + low_leaning(50_000),
        _ => {
            let base = 100_001 + low_leaning(100_000);
            if rng.gen::<f64>() < 0.2 {
                base + rng.gen_range(0..100_000)
            } else {
                base
            }
        }
    }
}

fn orders_in_band(band: u8, rng: &mut ChaCha8Rng) -> u32 {
    match band {
        0 => 1,
        1 => {
            let r: f64 = rng.gen();
            if r < 0.45 {
                1
            } else if r < 0.8 {
                2
            } else {
                3
            }
        }
        2 => rng.gen_range(2..=4),
        _ => rng.gen_range(3..=7),
    }
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Sets `n` distinct random bits of `mask` in `lo..30`; returns how many were set.
fn place_days(rng: &mut ChaCha8Rng, mask: &mut u32, lo: u32, n: u32) -> u32 {
    let free = (lo..30).filter(|j| *mask & (1 << j) == 0).count() as u32;
    let n = n.min(free);
    let mut placed = 0;
    while placed < n {
        let j = rng.gen_range(lo..30);
        if *mask & (1 << j) == 0 {
            *mask |= 1 << j;
            placed += 1;
        }
    }
    n
}

pub(super) struct Generator {
    pub opts: GenerateOptions,
    pub streams: Streams,
    pub pop: Population,
    /// Events already generated for later slices, by slice.
    pending: Vec<Vec<Raw>>,
}

/// Where one slice's events go.
struct Sink<'a> {
    slice: u32,
    start_ms: i64,
    days: u32,
    now: &'a mut Vec<Raw>,
    pending: &'a mut [Vec<Raw>],
}

impl Sink<'_> {
    fn push(&mut self, raw: Raw) {
        let slice = (raw.ts - self.start_ms).div_euclid(DAY);
        if slice <= self.slice as i64 {
            self.now.push(raw);
        } else if slice < self.days as i64 {
            self.pending[slice as usize].push(raw);
        }
        // Beyond the run: dropped (a ticket stays open, a duplicate never arrives).
    }
}

impl Generator {
    pub(super) fn new(opts: &GenerateOptions) -> Generator {
        let streams = Streams::new(opts.seed);
        let pop = Population::build(opts, &streams);
        Generator {
            opts: opts.clone(),
            streams,
            pop,
            pending: (0..opts.days).map(|_| Vec::new()).collect(),
        }
    }

    /// All events of day `d` of the run, sorted by time (ties in generation order).
    pub(super) fn fill_slice(&mut self, d: u32, out: &mut Vec<Raw>) {
        out.clear();
        out.append(&mut self.pending[d as usize]);
        let start_ms = self.opts.start.as_millis();
        let slice_start = start_ms + d as i64 * DAY;
        let mut members = std::mem::take(&mut self.pop.members);
        let mut sink = Sink {
            slice: d,
            start_ms,
            days: self.opts.days,
            now: out,
            pending: &mut self.pending,
        };
        let ctx = Ctx {
            opts: &self.opts,
            streams: &self.streams,
            pop: &self.pop,
            slice_start,
            d,
        };
        // Members are in join order: stop at the first who has not joined yet.
        for (i, m) in members.iter_mut().enumerate() {
            if m.join_slice > d as i32 {
                break;
            }
            if m.status == Status::Left {
                continue;
            }
            ctx.member_day(i as u32, m, &mut sink);
        }
        self.pop.members = members;
        out.sort_by_key(|r| r.ts);
    }
}

struct Ctx<'a> {
    opts: &'a GenerateOptions,
    streams: &'a Streams,
    pop: &'a Population,
    slice_start: i64,
    d: u32,
}

impl Ctx<'_> {
    fn member_day(&self, i: u32, m: &mut MemberState, sink: &mut Sink) {
        let d = self.d;
        let slice_end = self.slice_start + DAY;
        let pop = self.pop;
        let group = &pop.groups[m.group as usize];

        // The profile: at `start` for the backlog, at joining for newcomers.
        let profile_slice = m.join_slice.max(0) as u32;
        if profile_slice == d {
            let ts = m.joined_at.max(self.opts.start.as_millis());
            sink.push(profile(i, ts, m.group, group.tutor_at(d as i64), m.tier));
        }
        // A tutor handover moves every present member of the group to the successor.
        if group.handover_slice == d && profile_slice < d {
            let mut rng = self.streams.rng(Purpose::Handover, i as u64, 0);
            let tod = rng.gen_range(9 * HOUR..18 * HOUR);
            let ts = self.slice_start + offset_in_slice(self.opts.start.as_millis(), tod);
            if m.status == Status::Present {
                sink.push(profile(i, ts, m.group, group.successor, m.tier));
                if rng.gen::<f64>() < 0.2 {
                    m.status = Status::Lost;
                }
            }
        }
        if m.status != Status::Present {
            return;
        }

        let tday = (d as i64 - m.join_slice as i64) as u32;
        let month = tday / 30;
        let j = tday % 30;
        if m.plan_month != month {
            self.plan_month(i, m, month);
        }
        let bit = 1u32 << j;
        if (m.order_mask | m.login_mask) & bit == 0
            && !(m.special != Special::None && m.special_day as u32 == j)
        {
            return;
        }

        let mut rng = self.streams.rng(Purpose::Day, i as u64, d as u64);
        // Nothing of a member before its joining.
        let floor = if tday == 0 {
            (m.joined_at + MINUTE).min(slice_end - 1)
        } else {
            self.slice_start
        };
        let at = |rng: &mut ChaCha8Rng, peak: f64| -> i64 {
            let tod = local_time_of_day(rng, peak);
            let t = self.slice_start + offset_in_slice(self.opts.start.as_millis(), tod);
            if t < floor {
                (floor + rng.gen_range(0..4 * HOUR)).min(slice_end - 1)
            } else {
                t
            }
        };
        let order_peak = self.opts.evening_peak_share;
        let login_peak = self.opts.evening_peak_share * 0.8;

        if m.order_mask & bit != 0 {
            let ts = at(&mut rng, order_peak);
            let login = (ts - rng.gen_range(MINUTE..20 * MINUTE)).max(floor).min(ts);
            sink.push(login_event(i, login, &mut rng));
            self.order(i, m, ts, &mut rng, sink);
            if rng.gen::<f64>() < 0.15 {
                let ts = at(&mut rng, login_peak);
                sink.push(login_event(i, ts, &mut rng));
            }
        } else if m.login_mask & bit != 0 {
            let n = if rng.gen::<f64>() < 0.2 { 2 } else { 1 };
            for _ in 0..n {
                let ts = at(&mut rng, login_peak);
                sink.push(login_event(i, ts, &mut rng));
            }
        }

        if m.special != Special::None && m.special_day as u32 == j {
            let ts = at(&mut rng, login_peak);
            match m.special {
                Special::Leave => {
                    sink.push(Raw {
                        ts,
                        member: i,
                        kind: Kind::MemberLeft,
                        ..Raw::default()
                    });
                    m.status = Status::Left;
                }
                Special::Move => {
                    if let Some(target) = self.move_target(m.group, &mut rng) {
                        m.group = target;
                        let tutor = pop.groups[target as usize].tutor_at(d as i64);
                        sink.push(profile(i, ts, target, tutor, m.tier));
                    }
                }
                Special::None => {}
            }
            m.special = Special::None;
        }
    }

    fn order(&self, i: u32, m: &mut MemberState, ts: i64, rng: &mut ChaCha8Rng, sink: &mut Sink) {
        // Split the month's budget: the last order takes what is left, the others a share
        // of ±40 % rounded to 0.10 yuan, every order at least 1 yuan when possible.
        let left = m.orders_left.max(1) as u64;
        let budget = m.budget as u64;
        let amount = if left == 1 {
            budget
        } else {
            let share = budget / left;
            let a = share * rng.gen_range(60..=140u64) / 100 / 10 * 10;
            let max = budget.saturating_sub(100 * (left - 1));
            if max < 100 {
                share
            } else {
                a.clamp(100, max)
            }
        };
        m.budget = (budget - amount) as u32;
        m.orders_left = m.orders_left.saturating_sub(1);
        let amount = amount.max(1) as u32;
        let group = &self.pop.groups[m.group as usize];
        let category = group.draw_category(rng);
        let order = Raw {
            ts,
            member: i,
            kind: Kind::Order,
            a: amount,
            b: self.d,
            c: category,
            flags: 0,
        };
        sink.push(order);
        if rng.gen::<f64>() < self.opts.duplicate_order_rate {
            let later = ts + rng.gen_range(1_000..15 * MINUTE);
            sink.push(Raw {
                ts: later,
                flags: Raw::DUPLICATE,
                ..order
            });
        }
        if rng.gen::<f64>() < self.opts.after_sales_rate {
            let opened = ts + rng.gen_range(HOUR..72 * HOUR);
            let mut weights = REASON_WEIGHTS;
            if category == FRESH_FOOD {
                weights[1] = 60.0;
            }
            let reason = pick_weighted(rng, &weights) as u8;
            let ticket = Raw {
                ts: opened,
                kind: Kind::AfterSales,
                a: 0,
                c: reason,
                ..order
            };
            sink.push(ticket);
            let late = self.opts.after_sales_late_share.clamp(0.0, 1.0);
            let open = self
                .opts
                .after_sales_unresolved_share
                .clamp(0.0, 1.0 - late);
            let r: f64 = rng.gen();
            let resolved_after = if r < 1.0 - late - open {
                Some(rng.gen_range(10 * MINUTE..47 * HOUR + 50 * MINUTE))
            } else if r < 1.0 - open {
                Some(rng.gen_range(49 * HOUR..240 * HOUR))
            } else {
                None
            };
            if let Some(after) = resolved_after {
                let (refund, flags) = if rng.gen::<f64>() < 0.6 {
                    let pct = if rng.gen::<f64>() < 0.3 {
                        100
                    } else {
                        rng.gen_range(10..100u64)
                    };
                    (
                        (amount as u64 * pct / 100).max(1) as u32,
                        Raw::RESOLVED | Raw::REFUND,
                    )
                } else {
                    (0, Raw::RESOLVED)
                };
                sink.push(Raw {
                    ts: opened + after,
                    a: refund,
                    flags,
                    ..ticket
                });
            }
        }
    }

    fn move_target(&self, current: u32, rng: &mut ChaCha8Rng) -> Option<u32> {
        let pop = self.pop;
        let open = pop.open_groups(self.d as i64);
        let tutor = pop.groups[current as usize].tutor as usize;
        let (first, end) = pop.tutor_groups[tutor];
        let end = end.min(open);
        if rng.gen::<f64>() < 0.7 && end > first + 1 {
            let g = rng.gen_range(first..end - 1);
            return Some(if g >= current { g + 1 } else { g });
        }
        if open < 2 {
            return None;
        }
        let g = rng.gen_range(0..open - 1);
        Some(if g >= current { g + 1 } else { g })
    }

    fn plan_month(&self, i: u32, m: &mut MemberState, month: u32) {
        let mut rng = self.streams.rng(Purpose::Plan, i as u64, month as u64);
        m.plan_month = month;
        m.order_mask = 0;
        m.login_mask = 0;
        m.budget = 0;
        m.orders_left = 0;
        m.special = Special::None;

        let group = &self.pop.groups[m.group as usize];
        let lo = 30 * month;
        let loyalty = m.loyalty as f64 / 100.0;
        let dormant = m.loyalty < 50;
        let first = m.first_tday as u32;
        let mut forced_first = None;
        let (active, login_rate, lapse) = if m.first_tday == NEVER {
            (false, 0.05, 0.5)
        } else if first >= lo + 30 {
            // Not yet activated: browses, waits for a tutor's push.
            (false, 0.12, 0.15)
        } else if first >= lo {
            forced_first = Some(first - lo);
            (true, 0.3, 0.0)
        } else {
            let mid = m.join_slice as i64 + lo as i64 + 15;
            let p = benchmark(m.tier, month)
                * ACTIVITY_CALIBRATION
                * self.opts.activity_scale
                * loyalty
                * group.health_at(mid, self.opts.days);
            let active = rng.gen::<f64>() < p.min(0.95);
            if active {
                (true, 0.22, 0.0)
            } else {
                (false, 0.1, if dormant { 0.6 } else { 0.25 })
            }
        };

        if active {
            let band = if rng.gen::<f64>() < 0.7 {
                m.base_band
            } else {
                group.draw_band(&mut rng)
            };
            let budget = spend_in_band(band, &mut rng);
            let n = orders_in_band(band, &mut rng);
            let mut mask = 0u32;
            let placed = match forced_first {
                Some(f) => {
                    mask |= 1 << f;
                    1 + place_days(&mut rng, &mut mask, f + 1, n - 1)
                }
                None => place_days(&mut rng, &mut mask, 0, n),
            };
            m.order_mask = mask;
            m.orders_left = placed as u8;
            m.budget = budget;
        }

        let lapsed = rng.gen::<f64>() < lapse;
        let rate = if lapsed {
            0.0
        } else {
            (login_rate * self.opts.login_scale).min(1.0)
        };
        let mut logins = m.order_mask;
        for j in 0..30 {
            if rng.gen::<f64>() < rate {
                logins |= 1 << j;
            }
        }
        if month == 0 && m.join_slice >= 0 {
            logins |= 1; // opens the mini-program on joining
        }
        m.login_mask = logins;

        if month > 0 && forced_first.is_none() {
            let leave = self.opts.monthly_leave_rate
                * if dormant || m.first_tday == NEVER {
                    3.0
                } else {
                    1.0
                };
            let r: f64 = rng.gen();
            let day = rng.gen_range(0..30u8);
            if !active && r < leave {
                m.special = Special::Leave;
                m.special_day = day;
                // Nothing after the leaving day.
                let keep = (1u32 << day) - 1;
                m.login_mask &= keep;
                m.order_mask &= keep;
            } else if rng.gen::<f64>() < self.opts.monthly_move_rate {
                m.special = Special::Move;
                m.special_day = day;
            }
        }
    }
}

fn profile(member: u32, ts: i64, group: u32, tutor: u32, tier: u8) -> Raw {
    Raw {
        ts,
        member,
        kind: Kind::Member,
        a: group,
        b: tutor,
        c: tier,
        flags: 0,
    }
}

fn login_event(member: u32, ts: i64, rng: &mut ChaCha8Rng) -> Raw {
    let channel = pick_weighted(rng, &[75.0, 15.0, 10.0]) as u8;
    Raw {
        ts,
        member,
        kind: Kind::Login,
        c: channel,
        ..Raw::default()
    }
}
