use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::Value;

use super::behaviour::BENCHMARK;
use super::*;
use crate::model::{AfterSalesReason, Category, Fen};

const DAY: i64 = 86_400_000;

fn generate(opts: &GenerateOptions) -> String {
    let mut out = Vec::new();
    write_jsonl(opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The default workload, generated once for all tests.
fn default_run() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| generate(&GenerateOptions::default()))
}

fn small(seed: u64) -> GenerateOptions {
    GenerateOptions {
        seed,
        members: 400,
        days: 45,
        ..GenerateOptions::default()
    }
}

fn fen(v: &Value) -> i64 {
    Fen::parse_yuan(v.as_str().expect("amount is a string"))
        .unwrap()
        .as_fen()
}

fn ts(v: &Value) -> i64 {
    let text = v.as_str().expect("time is a string");
    let t = EventTime::parse_rfc3339(text).unwrap();
    assert_eq!(t.to_rfc3339(), text, "not canonical RFC 3339 UTC millis");
    t.as_millis()
}

#[test]
fn generate_same_seed_same_bytes_other_seed_other_bytes() {
    let a = generate(&small(7));
    let b = generate(&small(7));
    let c = generate(&small(8));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn generate_iterator_and_writer_agree() {
    let opts = small(3);
    let mut joined = String::new();
    let mut last = EventTime::MIN;
    let mut workload = Workload::new(&opts);
    for (t, line) in workload.by_ref() {
        assert!(!line.contains('\n'));
        assert!(t >= last);
        last = t;
        joined.push_str(&line);
        joined.push('\n');
    }
    assert_eq!(joined, generate(&opts));
    let stats = workload.stats();
    assert_eq!(stats.lines as usize, joined.lines().count());
    assert_eq!(
        stats.lines,
        stats.member + stats.member_left + stats.order + stats.login + stats.after_sales
    );
    assert_eq!(stats.members, opts.members as u64);
}

#[test]
fn generate_empty_and_tiny_runs_work() {
    let none = GenerateOptions {
        members: 0,
        ..small(1)
    };
    assert_eq!(generate(&none), "");
    let zero_days = GenerateOptions {
        days: 0,
        ..small(1)
    };
    assert_eq!(generate(&zero_days), "");
    let tiny = GenerateOptions {
        members: 3,
        days: 2,
        ..small(1)
    };
    assert!(generate(&tiny).lines().count() >= 3);
}

/// Keys in order, per type.
fn expected_keys(kind: &str, resolved_with_refund: bool) -> Vec<&'static str> {
    let mut keys = vec!["event_id", "member_id", "ts", "type"];
    match kind {
        "member" => keys.extend(["group_id", "tutor_id", "fee_tier", "joined_at"]),
        "member_left" => {}
        "order" => keys.extend(["order_id", "amount", "category"]),
        "login" => keys.extend(["channel"]),
        "after_sales" => {
            keys.extend(["ticket_id", "order_id", "status", "reason"]);
            if resolved_with_refund {
                keys.push("refund_amount");
            }
        }
        other => panic!("unknown type {other}"),
    }
    keys
}

/// The top-level keys of a flat JSON object, in textual order.
fn keys_in_order(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        assert_eq!(bytes[i], b'"', "{line}");
        let end = i + 1 + line[i + 1..].find('"').unwrap();
        keys.push(line[i + 1..end].to_owned());
        // Skip `:"value"` and the following comma or brace (every value is a string).
        assert_eq!(&line[end + 1..end + 3], ":\"", "{line}");
        let v_end = end + 3 + line[end + 3..].find('"').unwrap();
        i = v_end + 2;
    }
    keys
}

#[test]
fn generate_lines_follow_the_input_schema() {
    let run = default_run();
    let start = GenerateOptions::default().start.as_millis();
    let end = start + 120 * DAY;
    let mut last_ts = i64::MIN;
    let mut orders: BTreeMap<String, i64> = BTreeMap::new();
    for line in run.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().unwrap();
        let kind = obj["type"].as_str().unwrap();
        let refund = obj.contains_key("refund_amount");
        assert_eq!(keys_in_order(line), expected_keys(kind, refund), "{line}");
        let t = ts(&v["ts"]);
        assert!(t >= last_ts, "time went backwards at {line}");
        assert!((start..end).contains(&t), "{line}");
        last_ts = t;
        let member = v["member_id"].as_str().unwrap();
        assert!(member.starts_with('m') && member.len() == 8, "{line}");
        assert!(v["event_id"].as_str().unwrap().starts_with('e'));
        match kind {
            "member" => {
                assert!(v["group_id"].as_str().unwrap().starts_with('g'));
                assert!(v["tutor_id"].as_str().unwrap().starts_with('t'));
                assert!(["199", "399"].contains(&v["fee_tier"].as_str().unwrap()));
                let joined = ts(&v["joined_at"]);
                assert!(joined <= t && joined >= start - 451 * DAY, "{line}");
            }
            "order" => {
                let amount = fen(&v["amount"]);
                assert!(amount > 0, "{line}");
                let cat = v["category"].as_str().unwrap();
                assert_eq!(Category::from_name(cat).name(), cat);
                orders.insert(v["order_id"].as_str().unwrap().to_owned(), amount);
            }
            "login" => {
                assert!(["mini_program", "app", "h5"].contains(&v["channel"].as_str().unwrap()));
            }
            "after_sales" => {
                let status = v["status"].as_str().unwrap();
                assert!(status == "opened" || status == "resolved");
                assert!(!refund || status == "resolved");
                let reason = v["reason"].as_str().unwrap();
                assert!(
                    reason == "other"
                        || AfterSalesReason::from_name(reason) != AfterSalesReason::Other
                );
                let order = v["order_id"].as_str().unwrap();
                let amount = *orders.get(order).expect("ticket for an earlier order");
                if refund {
                    let r = fen(&v["refund_amount"]);
                    assert!(r > 0 && r <= amount, "{line}");
                }
                assert_eq!(&v["ticket_id"].as_str().unwrap()[2..], &order[1..]);
            }
            _ => {}
        }
    }
}

#[test]
fn generate_ids_are_unique_except_the_deliberate_duplicates() {
    let run = default_run();
    let lines: Vec<&str> = run.lines().collect();
    let mut ids = BTreeSet::new();
    let mut redelivered = 0;
    let mut orders: BTreeMap<String, Value> = BTreeMap::new();
    let mut duplicate_orders = 0;
    let mut profiles: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let id = v["event_id"].as_str().unwrap().to_owned();
        if !ids.insert(id) {
            // A redelivery: the very same bytes right after the original.
            assert_eq!(*line, lines[i - 1], "event id reused by a different line");
            redelivered += 1;
            continue;
        }
        match v["type"].as_str().unwrap() {
            "order" => {
                let order_id = v["order_id"].as_str().unwrap().to_owned();
                if let Some(first) = orders.get(&order_id) {
                    for key in ["member_id", "amount", "category"] {
                        assert_eq!(first[key], v[key], "{line}");
                    }
                    duplicate_orders += 1;
                } else {
                    orders.insert(order_id, v);
                }
            }
            "member" => {
                *profiles
                    .entry(v["member_id"].as_str().unwrap().to_owned())
                    .or_default() += 1
            }
            _ => {}
        }
    }
    assert_eq!(profiles.len(), 2_000);
    let moved = profiles.values().filter(|&&n| n > 1).count();
    assert!(moved > 0 && moved < 2_000, "moves and handovers: {moved}");
    // Small but present.
    assert!(
        (1..200).contains(&redelivered),
        "{redelivered} redeliveries"
    );
    assert!(
        (1..100).contains(&duplicate_orders),
        "{duplicate_orders} duplicate orders"
    );
}

#[test]
fn generate_tutors_have_5_to_8_groups_and_groups_100_to_400_members() {
    let run = default_run();
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();
    let mut tutor_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in run.lines().filter(|l| l.contains("\"type\":\"member\"")) {
        let v: Value = serde_json::from_str(line).unwrap();
        let member = v["member_id"].as_str().unwrap().to_owned();
        let group = v["group_id"].as_str().unwrap().to_owned();
        tutor_groups
            .entry(v["tutor_id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(group.clone());
        group_of.entry(member).or_insert(group); // the group joined first
    }
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for g in group_of.values() {
        *sizes.entry(g.clone()).or_default() += 1;
    }
    let last_group = sizes.keys().last().unwrap().clone();
    for (g, n) in &sizes {
        assert!(
            *g == last_group || (100..=400).contains(n),
            "{g} has {n} members"
        );
    }
    for (t, groups) in &tutor_groups {
        // The tutor of the last (remainder) group may have fewer.
        if !groups.contains(&last_group) {
            assert!(
                (5..=8).contains(&groups.len()),
                "{t} has {} groups",
                groups.len()
            );
        }
        assert!(groups.len() <= 8);
    }
    assert!(sizes.len() >= 5, "{} groups", sizes.len());
}

#[test]
fn generate_orders_peak_in_the_evening_china_time() {
    let run = default_run();
    let (mut peak, mut all) = (0, 0);
    for line in run.lines().filter(|l| l.contains("\"type\":\"order\"")) {
        let v: Value = serde_json::from_str(line).unwrap();
        let local = (ts(&v["ts"]) + 8 * 3_600_000).rem_euclid(DAY);
        all += 1;
        if local >= 19 * 3_600_000 + 30 * 60_000 {
            peak += 1;
        }
    }
    let share = peak as f64 / all as f64;
    println!("evening share of {all} orders: {share:.3}");
    // Uniform would be 4.5 h / 24 h = 18.75 %.
    assert!(share > 0.35 && share < 0.6, "evening share {share}");
}

/// Monthly spend per member and tenure month, for tenure months wholly inside the run.
fn monthly_spend(run: &str, opts: &GenerateOptions) -> Vec<i64> {
    let start = opts.start.as_millis();
    let slice = |t: i64| (t - start).div_euclid(DAY);
    let mut join_slice: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen_orders = BTreeSet::new();
    let mut spend: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in run.lines() {
        if !(line.contains("\"type\":\"order\"") || line.contains("\"type\":\"member\"")) {
            continue;
        }
        let v: Value = serde_json::from_str(line).unwrap();
        let member = v["member_id"].as_str().unwrap().to_owned();
        if v["type"] == "member" {
            join_slice
                .entry(member)
                .or_insert_with(|| slice(ts(&v["joined_at"])));
            continue;
        }
        if !seen_orders.insert(v["order_id"].as_str().unwrap().to_owned()) {
            continue;
        }
        let month = (slice(ts(&v["ts"])) - join_slice[&member]).div_euclid(30);
        *spend.entry((member, month)).or_default() += fen(&v["amount"]);
    }
    spend
        .into_iter()
        .filter(|((member, month), _)| {
            let first = join_slice[member] + 30 * month;
            first >= 0 && first + 30 <= opts.days as i64
        })
        .map(|(_, fen)| fen)
        .collect()
}

#[test]
fn generate_monthly_spend_mix_matches_the_thesis() {
    let opts = GenerateOptions {
        members: 20_000,
        days: 60,
        seed: 11,
        ..GenerateOptions::default()
    };
    let spend = monthly_spend(&generate(&opts), &opts);
    assert!(spend.len() > 5_000, "{} buying member-months", spend.len());
    let n = spend.len() as f64;
    let share =
        |f: &dyn Fn(i64) -> bool| spend.iter().filter(|&&s| f(s)).count() as f64 / n * 100.0;
    let over_1000 = share(&|s| s > 100_000);
    let from_500 = share(&|s| (50_000..=100_000).contains(&s));
    let from_100 = share(&|s| (10_000..50_000).contains(&s));
    let under_100 = share(&|s| s < 10_000);
    println!("spend mix over {n} member-months: {over_1000:.1}/{from_500:.1}/{from_100:.1}/{under_100:.1}");
    for (got, want) in [
        (over_1000, 11.0),
        (from_500, 36.0),
        (from_100, 45.0),
        (under_100, 8.0),
    ] {
        assert!(
            (got - want).abs() < 2.5,
            "spend mix {over_1000:.1}/{from_500:.1}/{from_100:.1}/{under_100:.1}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A deliberately simple model of the engine's rules (SPEC §4–§6), sampled once a day, to
// show that the default workload reaches every warning kind after the 30-day warm-up.

#[derive(Default)]
struct MemberLog {
    joined_at: i64,
    tier: usize,
    /// (time, group) of every profile.
    profiles: Vec<(i64, String)>,
    left: Option<i64>,
    orders: Vec<(i64, i64)>,
    logins: Vec<i64>,
}

struct Replay {
    start: i64,
    end: i64,
    members: BTreeMap<String, MemberLog>,
    /// ticket → (opened, resolved)
    tickets: BTreeMap<String, (i64, Option<i64>)>,
}

fn replay(run: &str, opts: &GenerateOptions) -> Replay {
    let mut members: BTreeMap<String, MemberLog> = BTreeMap::new();
    let mut tickets: BTreeMap<String, (i64, Option<i64>)> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let mut order_ids = BTreeSet::new();
    for line in run.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if !ids.insert(v["event_id"].as_str().unwrap().to_owned()) {
            continue;
        }
        let t = ts(&v["ts"]);
        let m = members
            .entry(v["member_id"].as_str().unwrap().to_owned())
            .or_default();
        match v["type"].as_str().unwrap() {
            "member" => {
                m.joined_at = ts(&v["joined_at"]);
                m.tier = usize::from(v["fee_tier"] == "399");
                m.profiles
                    .push((t, v["group_id"].as_str().unwrap().to_owned()));
            }
            "member_left" => m.left = Some(t),
            "order" => {
                if order_ids.insert(v["order_id"].as_str().unwrap().to_owned()) {
                    m.orders.push((t, fen(&v["amount"])));
                }
            }
            "login" => m.logins.push(t),
            "after_sales" => {
                let id = v["ticket_id"].as_str().unwrap().to_owned();
                if v["status"] == "opened" {
                    tickets.insert(id, (t, None));
                } else {
                    tickets.get_mut(&id).unwrap().1 = Some(t);
                }
            }
            _ => unreachable!(),
        }
    }
    let start = opts.start.as_millis();
    Replay {
        start,
        end: start + opts.days as i64 * DAY,
        members,
        tickets,
    }
}

#[derive(Debug, Default)]
struct GroupDay {
    counted: usize,
    active: usize,
    benchmark: f64,
    revenue: i64,
}

impl Replay {
    /// Group figures at instant `t` by the SPEC §5 rules.
    fn groups_at(&self, t: i64) -> BTreeMap<String, GroupDay> {
        let mut groups: BTreeMap<String, GroupDay> = BTreeMap::new();
        for m in self.members.values() {
            let Some((_, group)) = m.profiles.iter().rev().find(|(pt, _)| *pt <= t) else {
                continue;
            };
            if m.left.is_some_and(|l| l <= t) || t - m.joined_at < 30 * DAY {
                continue;
            }
            let g = groups.entry(group.clone()).or_default();
            g.counted += 1;
            let month = (((t - m.joined_at) / DAY) / 30).min(12) as usize;
            g.benchmark += BENCHMARK[m.tier][month] as f64 / 100.0;
            let window: Vec<_> = m
                .orders
                .iter()
                .filter(|(ot, _)| *ot > t - 30 * DAY && *ot <= t)
                .collect();
            if !window.is_empty() {
                g.active += 1;
                g.revenue += window.iter().map(|(_, a)| a).sum::<i64>();
            }
        }
        for g in groups.values_mut() {
            g.benchmark /= g.counted.max(1) as f64;
        }
        groups
    }

    /// Per day after the warm-up: (day, group, activity − benchmark in points, output per
    /// active member in yuan) for graded groups.
    fn group_series(&self, from_day: i64) -> Vec<(i64, String, f64, f64)> {
        let days = (self.end - self.start) / DAY;
        let mut series = Vec::new();
        for day in from_day..days {
            let t = self.start + (day + 1) * DAY - 1;
            for (id, g) in self.groups_at(t) {
                if g.counted < 10 {
                    continue;
                }
                let gap = (g.active as f64 / g.counted as f64 - g.benchmark) * 100.0;
                let output = g.revenue as f64 / 100.0 / g.active.max(1) as f64;
                series.push((day, id, gap, output));
            }
        }
        series
    }
}

/// (falls, recoveries) of a per-group series with a failing line at 0 and hysteresis.
fn crossings(series: &[(i64, String, f64)], hysteresis: f64) -> (usize, usize) {
    let mut failing: BTreeMap<&str, bool> = BTreeMap::new();
    let (mut falls, mut recoveries) = (0, 0);
    for (_, g, x) in series {
        let state = failing.entry(g).or_insert(*x < 0.0);
        if !*state && *x < 0.0 {
            *state = true;
            falls += 1;
        } else if *state && *x >= hysteresis {
            *state = false;
            recoveries += 1;
        }
    }
    (falls, recoveries)
}

#[test]
fn generate_default_workload_reaches_every_warning_kind() {
    let opts = GenerateOptions::default();
    let r = replay(default_run(), &opts);
    let (start, end) = (r.start, r.end);

    // ACTIVATION_OVERDUE: a newcomer with no order within 14 days.
    let overdue = r
        .members
        .values()
        .filter(|m| m.joined_at >= start && m.joined_at + 14 * DAY < end)
        .filter(|m| !m.orders.iter().any(|(t, _)| *t <= m.joined_at + 14 * DAY))
        .count();
    let newcomers = r
        .members
        .values()
        .filter(|m| m.joined_at >= start && m.joined_at + 14 * DAY < end)
        .count();
    let share = overdue as f64 / newcomers as f64;
    println!("activation overdue: {overdue} of {newcomers}");
    assert!(
        (0.2..0.45).contains(&share),
        "activation overdue {overdue}/{newcomers}"
    );

    // SEGMENT_DOWNGRADE: an order followed by 8 quiet days; RECALL_DUE: by 31 quiet days;
    // SEGMENT_UPGRADE: an order of ≥ 100 yuan after more than 30 quiet days.
    let (mut downgrades, mut recalls, mut upgrades) = (0, 0, 0);
    for m in r.members.values() {
        let mut times: Vec<i64> = m.orders.iter().map(|(t, _)| *t).collect();
        times.push(end);
        for (w, pair) in times.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            downgrades += usize::from(gap > 8 * DAY);
            recalls += usize::from(gap > 31 * DAY);
            if pair[1] < end && gap > 31 * DAY && m.orders[w + 1].1 >= 10_000 {
                upgrades += 1;
            }
        }
    }
    assert!(
        downgrades > 100 && recalls > 50 && upgrades > 10,
        "{downgrades} {recalls} {upgrades}"
    );

    // LOGIN_LAPSED at 30 and 60 days.
    let lapsed = |days: i64| {
        r.members
            .values()
            .filter(|m| {
                let mut times = m.logins.clone();
                times.push(end);
                times.windows(2).any(|p| p[1] - p[0] > days * DAY)
            })
            .count()
    };
    assert!(
        lapsed(30) > 50 && lapsed(60) > 10,
        "lapsed {} {}",
        lapsed(30),
        lapsed(60)
    );

    // AFTER_SALES_OVERDUE.
    let sla = 48 * 3_600_000;
    let late = r
        .tickets
        .values()
        .filter(|(opened, resolved)| {
            opened + sla < end && !matches!(resolved, Some(t) if *t <= opened + sla)
        })
        .count();
    assert!(late >= 3, "{late} overdue tickets of {}", r.tickets.len());

    // Groups, after the warm-up: activity crosses its benchmark both ways (1-point
    // hysteresis), and output per active member falls below the 450-yuan target.
    let series = r.group_series(35);
    let activity: Vec<_> = series
        .iter()
        .map(|(d, g, gap, _)| (*d, g.clone(), *gap))
        .collect();
    let output: Vec<_> = series
        .iter()
        .map(|(d, g, _, out)| (*d, g.clone(), out - 450.0))
        .collect();
    let (falls, recoveries) = crossings(&activity, 1.0);
    assert!(
        falls >= 1 && recoveries >= 1,
        "activity crossings {falls} {recoveries}"
    );
    let (out_falls, _) = crossings(&output, 0.0);
    let below = output.iter().filter(|(_, _, x)| *x < 0.0).count();
    assert!(out_falls >= 1 || below > 0, "output never below target");
}
