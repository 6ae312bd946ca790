//! The decoded input event: what every input encoding (JSON, Protobuf) turns into, and the
//! only thing the engine consumes. Validation that needs no engine state happens before a
//! value of this type exists, so the engine never sees a malformed amount or timestamp.

use compact_str::CompactString;

use super::category::{AfterSalesReason, Category, TicketStatus};
use super::ids::{FeeTier, GroupId, MemberId, TutorId};
use super::money::Fen;
use super::time::EventTime;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_id: CompactString,
    pub member_id: MemberId,
    pub ts: EventTime,
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventBody {
    /// Upsert of the member's profile: joined, moved group, changed tutor or tier.
    Member(Profile),
    /// Membership ended: the member leaves all group counts.
    MemberLeft,
    Order(Order),
    Login,
    AfterSales(AfterSales),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub group_id: GroupId,
    pub tutor_id: TutorId,
    pub fee_tier: FeeTier,
    pub joined_at: EventTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// `stable_hash(order_id)`: enough to recognise a redelivered order.
    pub order_key: u64,
    /// Non-negative, checked at decode time.
    pub amount: Fen,
    pub category: Category,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfterSales {
    pub ticket_id: CompactString,
    pub order_key: u64,
    pub status: TicketStatus,
    pub reason: AfterSalesReason,
    pub refund: Option<Fen>,
}

/// The `type` names of the input schema, in [`EventBody::type_index`] order.
pub const TYPE_NAMES: [&str; 5] = ["member", "member_left", "order", "login", "after_sales"];

impl EventBody {
    /// The `type` field of the input schema.
    pub fn type_name(&self) -> &'static str {
        TYPE_NAMES[self.type_index()]
    }

    /// Position of the type in [`TYPE_NAMES`]: lets counters be plain arrays.
    pub fn type_index(&self) -> usize {
        match self {
            EventBody::Member(_) => 0,
            EventBody::MemberLeft => 1,
            EventBody::Order(_) => 2,
            EventBody::Login => 3,
            EventBody::AfterSales(_) => 4,
        }
    }
}
