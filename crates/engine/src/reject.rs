//! Why an input message was refused. Every refusal has a stable machine-readable reason
//! (dead-letter header, metric label) and a human detail. Nothing is ever dropped without
//! one of these being produced.

use std::fmt;

/// The closed set of rejection reasons: bounded, so it can label a metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not valid JSON / Protobuf, or not an object.
    Undecodable,
    /// The `type` is none of the five known event types.
    UnknownType,
    /// A required field is absent or null.
    MissingField,
    /// A field is present but of the wrong shape (bad timestamp, empty id, bad status).
    InvalidField,
    /// An amount that is not a decimal number of yuan with at most two decimals.
    MalformedAmount,
    /// An amount below zero.
    NegativeAmount,
    /// Event time more than `max_future_skew` ahead of the wall clock.
    FutureTimestamp,
    /// The raw message is larger than `max_message_bytes`.
    MessageTooLarge,
    /// Older than the retention horizon: the state that would tell whether it is a
    /// duplicate is already gone, so applying it could double-count.
    BeyondRetentionHorizon,
    /// A `member` event whose fee tier has no benchmark row in the configuration.
    UnknownFeeTier,
    /// The first event of a new member when the engine already holds the most members it
    /// can index (`engine::MAX_MEMBERS`): resource exhaustion, refused like bad input so
    /// that nothing is lost and the process does not die.
    MemberCapacity,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::Undecodable,
        RejectReason::UnknownType,
        RejectReason::MissingField,
        RejectReason::InvalidField,
        RejectReason::MalformedAmount,
        RejectReason::NegativeAmount,
        RejectReason::FutureTimestamp,
        RejectReason::MessageTooLarge,
        RejectReason::BeyondRetentionHorizon,
        RejectReason::UnknownFeeTier,
        RejectReason::MemberCapacity,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Undecodable => "undecodable",
            RejectReason::UnknownType => "unknown_type",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::MalformedAmount => "malformed_amount",
            RejectReason::NegativeAmount => "negative_amount",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::MessageTooLarge => "message_too_large",
            RejectReason::BeyondRetentionHorizon => "beyond_retention_horizon",
            RejectReason::UnknownFeeTier => "unknown_fee_tier",
            RejectReason::MemberCapacity => "member_capacity",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused message: the reason plus a detail for people (which field, what value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Rejection {}
