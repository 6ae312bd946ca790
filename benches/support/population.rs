//! The benches' typical population: what a generated member has after 60 days, a
//! profile in one of 100-member groups (700 members per tutor), three orders within 90
//! days and a login.

use churnwatch::config::Config;
use churnwatch::engine::{Engine, TimeMode};
use churnwatch::model::*;

/// The population's first day: 2026-01-01.
pub const T0: EventTime = EventTime(1_767_225_600_000);

/// An engine holding `n` typical members.
pub fn typical_engine(n: u32) -> Engine {
    let t0 = T0;
    let wall = EventTime::from_millis(i64::MAX / 2);
    let mut engine = Engine::new(&Config::default().engine(), TimeMode::Replay);
    let mut out = Vec::new();
    // Events in time order over 60 days; members interleaved so each day touches all.
    for step in 0..5u32 {
        for i in 0..n {
            let member_id = MemberId::new(&format!("m{i:08}"));
            let ts = t0 + Span::days(i64::from(step) * 12) + Span::millis(i64::from(i));
            let body = match step {
                0 => EventBody::Member(Profile {
                    group_id: GroupId::new(&format!("g{:06}", i / 100)),
                    tutor_id: TutorId::new(&format!("t{:05}", i / 700)),
                    fee_tier: FeeTier::new(if i % 2 == 0 { "199" } else { "399" }),
                    joined_at: t0 - Span::days(i64::from(i % 400)),
                }),
                4 => EventBody::Login,
                _ => EventBody::Order(Order {
                    order_key: u64::from(i) << 8 | u64::from(step),
                    amount: Fen(10_000 + i64::from(i % 90_000)),
                    category: Category::ALL[(i % 9) as usize],
                }),
            };
            let event = Event {
                event_id: "e".into(),
                member_id,
                ts,
                body,
            };
            let _ = engine.process(0, &event, wall, &mut out);
            out.clear();
        }
    }
    engine
}

/// Member counts from the command line, or 1 M and 10 M.
pub fn counts_from_args() -> Vec<u32> {
    let counts: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        vec![1_000_000, 10_000_000]
    } else {
        counts
    }
}
