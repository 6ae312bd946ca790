//! Random event streams for property tests (proptest): a few members in two groups,
//! events in rough time order with some disorder, late arrivals and redeliveries.

use churnwatch::model::*;
use proptest::prelude::*;

use super::{day, T0};

pub const MEMBERS: usize = 6;
pub const GROUPS: [&str; 2] = ["g0", "g1"];
pub const TIERS: [&str; 2] = ["199", "399"];
pub const TUTORS: [&str; 2] = ["t0", "t1"];

/// A random input: members with fixed join dates, events in rough time order with some
/// disorder and some late arrivals, a few redeliveries.
pub fn stream() -> impl Strategy<Value = Vec<Event>> {
    stream_with_spells(20)
}

/// [`stream`] whose quiet spells last up to `spell` × 2 days: at 200, members fall silent
/// for over a year and come back.
pub fn stream_with_spells(spell: i64) -> impl Strategy<Value = Vec<Event>> {
    let joined = prop::collection::vec(-400i64..60, MEMBERS);
    let steps = prop::collection::vec(
        (
            0usize..MEMBERS,
            0u8..10,
            0i64..(2 * 86_400_000),
            0u8..10,
            0i64..300_000,
            0usize..GROUPS.len(),
            0usize..TIERS.len(),
            0u8..9,
        ),
        1..160,
    );
    (joined, steps).prop_map(move |(joined, steps)| {
        let mut now = T0;
        let mut events: Vec<Event> = Vec::new();
        for (n, (member, kind, advance, late, amount_yuan, group, tier, cat)) in
            steps.into_iter().enumerate()
        {
            // One step in nine is a quiet spell of up to 40 days, so that lapses, recall
            // attempts and window expiries become the earliest pending change.
            let advance = if cat == 8 { advance * spell } else { advance };
            now = now + Span::millis(advance);
            // One event in ten arrives up to three days late.
            let ts = if late == 0 {
                now - Span::millis(advance * 3 / 2)
            } else {
                now
            };
            let member_id = MemberId::new(&format!("m{member}"));
            let body = match kind {
                0 => EventBody::Member(Profile {
                    group_id: GroupId::new(GROUPS[group]),
                    // Decorrelated from the group, so members change tutor on their own.
                    tutor_id: TutorId::new(TUTORS[tier]),
                    fee_tier: FeeTier::new(TIERS[tier]),
                    joined_at: day(joined[member]),
                }),
                1 if late == 9 => EventBody::MemberLeft,
                1..=5 => EventBody::Order(Order {
                    order_key: stable_hash(&format!("o{n}")),
                    amount: Fen(amount_yuan * 7),
                    category: Category::ALL[usize::from(cat)],
                }),
                6 | 7 => EventBody::Login,
                _ => EventBody::AfterSales(AfterSales {
                    ticket_id: format!("k{}", n % 7).into(),
                    order_key: 0,
                    status: if late % 2 == 0 {
                        TicketStatus::Opened
                    } else {
                        TicketStatus::Resolved
                    },
                    reason: AfterSalesReason::Quality,
                    refund: None,
                }),
            };
            let event = Event {
                event_id: format!("e{n}").into(),
                member_id,
                ts,
                body,
            };
            if late == 1 {
                events.push(event.clone()); // redelivery
            }
            events.push(event);
        }
        events
    })
}
