//! Protobuf input: `churnwatch.v1.Event` (proto/churnwatch/v1/event.proto) → [`Event`],
//! with the same checks and rejection reasons as the JSON decoder.
//!
//! Proto3 cannot tell an absent scalar from its default, so an empty required string and
//! a zero required time are reported as `missing_field`: that is what a producer that
//! forgot to set them sends. Amounts arrive as integer fen, so `malformed_amount` cannot
//! happen here; a negative amount is `negative_amount`.

use compact_str::CompactString;
use prost::Message;

use crate::model::{
    stable_hash, AfterSales, AfterSalesReason, Category, Event, EventBody, EventTime, FeeTier, Fen,
    GroupId, MemberId, Order, Profile, TicketStatus, TutorId,
};
use crate::proto::v1;
use crate::reject::{RejectReason, Rejection};

#[derive(Clone, Debug)]
pub struct ProtobufDecoder {
    max_message_bytes: usize,
}

impl ProtobufDecoder {
    /// A decoder refusing messages longer than `max_message_bytes` bytes.
    pub fn new(max_message_bytes: usize) -> Self {
        ProtobufDecoder { max_message_bytes }
    }

    /// One message. Never panics, whatever the bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, Rejection> {
        super::check_size(bytes, self.max_message_bytes)?;
        let raw = v1::Event::decode(bytes).map_err(|e| {
            Rejection::new(
                RejectReason::Undecodable,
                format!("not a churnwatch.v1.Event: {e}"),
            )
        })?;
        convert(raw)
    }
}

fn convert(raw: v1::Event) -> Result<Event, Rejection> {
    let event_id = required("event_id", raw.event_id)?;
    let member_id = MemberId(required("member_id", raw.member_id)?);
    let ts = required_time("ts_ms", raw.ts_ms)?;
    let Some(body) = raw.body else {
        return Err(Rejection::new(
            RejectReason::MissingField,
            "missing field `body` (the event type): none of member, member_left, order, \
             login, after_sales is set",
        ));
    };
    let body = match body {
        v1::event::Body::Member(p) => EventBody::Member(Profile {
            group_id: GroupId(required("member.group_id", p.group_id)?),
            tutor_id: TutorId(required("member.tutor_id", p.tutor_id)?),
            fee_tier: FeeTier(required("member.fee_tier", p.fee_tier)?),
            joined_at: required_time("member.joined_at_ms", p.joined_at_ms)?,
        }),
        v1::event::Body::MemberLeft(_) => EventBody::MemberLeft,
        v1::event::Body::Order(o) => EventBody::Order(Order {
            order_key: stable_hash(&required("order.order_id", o.order_id)?),
            amount: amount("order.amount_fen", o.amount_fen)?,
            category: Category::from_name(&required("order.category", o.category)?),
        }),
        v1::event::Body::Login(_) => EventBody::Login,
        v1::event::Body::AfterSales(a) => {
            let status = match v1::TicketStatus::try_from(a.status) {
                Ok(v1::TicketStatus::Opened) => TicketStatus::Opened,
                Ok(v1::TicketStatus::Resolved) => TicketStatus::Resolved,
                Ok(v1::TicketStatus::Unspecified) => {
                    return Err(missing("after_sales.status"));
                }
                Err(_) => {
                    return Err(Rejection::new(
                        RejectReason::InvalidField,
                        format!("field `after_sales.status` has unknown value {}", a.status),
                    ))
                }
            };
            EventBody::AfterSales(AfterSales {
                ticket_id: required("after_sales.ticket_id", a.ticket_id)?,
                order_key: stable_hash(&required("after_sales.order_id", a.order_id)?),
                status,
                reason: AfterSalesReason::from_name(&required("after_sales.reason", a.reason)?),
                refund: a
                    .refund_amount_fen
                    .map(|fen| amount("after_sales.refund_amount_fen", fen))
                    .transpose()?,
            })
        }
    };
    Ok(Event {
        event_id,
        member_id,
        ts,
        body,
    })
}

fn missing(field: &str) -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        format!("missing field `{field}`"),
    )
}

fn required(field: &str, value: String) -> Result<CompactString, Rejection> {
    if value.is_empty() {
        return Err(missing(field));
    }
    Ok(CompactString::from(value))
}

fn required_time(field: &str, ms: i64) -> Result<EventTime, Rejection> {
    if ms == 0 {
        return Err(missing(field));
    }
    Ok(EventTime::from_millis(ms))
}

fn amount(field: &str, fen: i64) -> Result<Fen, Rejection> {
    if fen < 0 {
        return Err(Rejection::new(
            RejectReason::NegativeAmount,
            format!("field `{field}` is negative: {fen} fen"),
        ));
    }
    Ok(Fen(fen))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> ProtobufDecoder {
        ProtobufDecoder::new(64 * 1024)
    }

    fn order(amount_fen: i64) -> v1::Event {
        v1::Event {
            event_id: "e1".into(),
            member_id: "m1".into(),
            ts_ms: 1_767_225_600_000,
            body: Some(v1::event::Body::Order(v1::Order {
                order_id: "o1".into(),
                amount_fen,
                category: "skincare".into(),
            })),
        }
    }

    fn reason(event: v1::Event) -> RejectReason {
        match decoder().decode(&event.encode_to_vec()) {
            Ok(e) => panic!("expected a rejection, decoded {e:?}"),
            Err(r) => r.reason,
        }
    }

    #[test]
    fn an_order_decodes_to_the_same_event_as_its_json_form() {
        let from_proto = decoder().decode(&order(129_950).encode_to_vec()).unwrap();
        let from_json = crate::decode::JsonDecoder::new(64 * 1024)
            .decode(
                br#"{"event_id":"e1","member_id":"m1","ts":1767225600000,"type":"order",
                     "order_id":"o1","amount":"1299.50","category":"skincare"}"#,
            )
            .unwrap();
        assert_eq!(from_proto, from_json);
    }

    #[test]
    fn every_event_type_decodes() {
        let bodies = [
            v1::event::Body::Member(v1::MemberProfile {
                group_id: "g1".into(),
                tutor_id: "t1".into(),
                fee_tier: "399".into(),
                joined_at_ms: 1_700_000_000_000,
            }),
            v1::event::Body::MemberLeft(v1::MemberLeft {}),
            v1::event::Body::Login(v1::Login {
                channel: String::new(),
            }),
            v1::event::Body::AfterSales(v1::AfterSales {
                ticket_id: "k1".into(),
                order_id: "o1".into(),
                status: v1::TicketStatus::Resolved as i32,
                reason: "spoiled".into(),
                refund_amount_fen: Some(500),
            }),
        ];
        let names: Vec<&str> = bodies
            .into_iter()
            .map(|body| {
                let mut e = order(1);
                e.body = Some(body);
                decoder()
                    .decode(&e.encode_to_vec())
                    .unwrap()
                    .body
                    .type_name()
            })
            .collect();
        assert_eq!(names, ["member", "member_left", "login", "after_sales"]);
    }

    #[test]
    fn bad_messages_are_refused_with_their_reason() {
        assert_eq!(reason(order(-1)), RejectReason::NegativeAmount);
        let mut no_body = order(1);
        no_body.body = None;
        assert_eq!(reason(no_body), RejectReason::MissingField);
        let mut no_id = order(1);
        no_id.event_id.clear();
        assert_eq!(reason(no_id), RejectReason::MissingField);
        let mut bad_status = order(1);
        bad_status.body = Some(v1::event::Body::AfterSales(v1::AfterSales {
            ticket_id: "k".into(),
            order_id: "o".into(),
            status: 7,
            reason: "quality".into(),
            refund_amount_fen: None,
        }));
        assert_eq!(reason(bad_status), RejectReason::InvalidField);
        let garbage = decoder().decode(b"\xff\xff\xff\xff").unwrap_err();
        assert_eq!(garbage.reason, RejectReason::Undecodable);
        let big = ProtobufDecoder::new(8).decode(&order(1).encode_to_vec());
        assert_eq!(big.unwrap_err().reason, RejectReason::MessageTooLarge);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decoder().decode(&bytes);
        }

        #[test]
        fn truncated_valid_messages_never_panic(cut in 0usize..64, fen in proptest::prelude::any::<i64>()) {
            let bytes = order(fen).encode_to_vec();
            let _ = decoder().decode(&bytes[..cut.min(bytes.len())]);
        }
    }
}
