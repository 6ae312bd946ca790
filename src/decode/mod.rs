//! Input decoding: one raw message → a validated [`Event`](crate::model::Event), or a typed
//! [`Rejection`](crate::reject::Rejection) naming why it was refused (SPEC §2).
//!
//! Everything that can be checked without engine state is checked here — shape, required
//! fields, amounts, timestamps' syntax, message size — so the engine never sees bad input.
//! Checks that need a clock or state (future skew, retention horizon, fee-tier
//! configuration) happen later and are not this module's business.

mod json;
mod protobuf;

pub use json::JsonDecoder;
pub use protobuf::ProtobufDecoder;

use crate::reject::{RejectReason, Rejection};

/// Size first, in every encoding: an oversized message is refused without spending time
/// parsing it.
fn check_size(bytes: &[u8], max_message_bytes: usize) -> Result<(), Rejection> {
    if bytes.len() > max_message_bytes {
        return Err(Rejection::new(
            RejectReason::MessageTooLarge,
            format!(
                "message is {} bytes, more than max_message_bytes = {max_message_bytes}",
                bytes.len()
            ),
        ));
    }
    Ok(())
}
