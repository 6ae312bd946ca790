//! The JSON input encoding: one object per message (per line for JSON-lines input).
//!
//! Decoding is a single pass of `serde_json` over the message, borrowing from it: every
//! known field is captured as a small [`Scalar`] (strings borrowed unless they contain
//! escapes) or, for amounts, as the raw JSON text (`&RawValue`) so that money never passes
//! through a float. No `serde_json::Value` is built. Validation then runs over the
//! captured fields in a fixed order — duplicates, `event_id`, `member_id`, `ts`, `type`,
//! then the type's own fields in SPEC order — so each bad message gets one deterministic
//! reason.

use std::borrow::Cow;
use std::fmt;

use compact_str::{CompactString, ToCompactString};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::model::{
    stable_hash, AfterSales, AfterSalesReason, Category, Event, EventBody, EventTime, FeeTier, Fen,
    GroupId, MemberId, Order, Profile, TicketStatus, TutorId,
};
use crate::reject::{RejectReason, Rejection};

/// Decodes JSON input messages into [`Event`]s.
#[derive(Clone, Debug)]
pub struct JsonDecoder {
    max_message_bytes: usize,
}

impl JsonDecoder {
    /// A decoder refusing messages longer than `max_message_bytes` bytes.
    pub fn new(max_message_bytes: usize) -> Self {
        JsonDecoder { max_message_bytes }
    }

    /// One message (one JSON object; for JSON-lines input, one line without its newline).
    ///
    /// Surrounding JSON whitespace is allowed. Never panics, whatever the bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, Rejection> {
        super::check_size(bytes, self.max_message_bytes)?;
        if let Some(event) = fast::decode(bytes) {
            return Ok(event);
        }
        Self::decode_general(bytes)
    }

    /// The general path: every message, including those the fast path declines, and the
    /// only one that explains a refusal.
    fn decode_general(bytes: &[u8]) -> Result<Event, Rejection> {
        // Validating UTF-8 up front covers the whole message, including the values of
        // ignored fields, which serde_json would otherwise skip over unchecked.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Rejection::new(
                RejectReason::Undecodable,
                format!("message is not UTF-8: {e}"),
            )
        })?;
        let mut fields = Fields::default();
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(FieldsVisitor(&mut fields))
            .map_err(undecodable)?;
        de.end().map_err(undecodable)?;
        fields.take_event()
    }
}

fn undecodable(e: serde_json::Error) -> Rejection {
    Rejection::new(RejectReason::Undecodable, format!("not a JSON object: {e}"))
}

/// The fields of the schema this decoder reads. `channel` is deliberately absent: it is
/// optional and ignored, so it is treated like any unknown field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Field {
    EventId,
    MemberId,
    Ts,
    Type,
    GroupId,
    TutorId,
    FeeTier,
    JoinedAt,
    OrderId,
    Category,
    TicketId,
    Status,
    Reason,
    // Amounts last: they are captured as raw text, not as a `Scalar`.
    Amount,
    RefundAmount,
}

/// Number of fields before `Amount`, i.e. those captured as a [`Scalar`].
const SCALAR_FIELDS: usize = Field::Amount as usize;

impl Field {
    fn from_key(key: &str) -> Option<Field> {
        Some(match key {
            "event_id" => Field::EventId,
            "member_id" => Field::MemberId,
            "ts" => Field::Ts,
            "type" => Field::Type,
            "group_id" => Field::GroupId,
            "tutor_id" => Field::TutorId,
            "fee_tier" => Field::FeeTier,
            "joined_at" => Field::JoinedAt,
            "order_id" => Field::OrderId,
            "category" => Field::Category,
            "ticket_id" => Field::TicketId,
            "status" => Field::Status,
            "reason" => Field::Reason,
            "amount" => Field::Amount,
            "refund_amount" => Field::RefundAmount,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::EventId => "event_id",
            Field::MemberId => "member_id",
            Field::Ts => "ts",
            Field::Type => "type",
            Field::GroupId => "group_id",
            Field::TutorId => "tutor_id",
            Field::FeeTier => "fee_tier",
            Field::JoinedAt => "joined_at",
            Field::OrderId => "order_id",
            Field::Category => "category",
            Field::TicketId => "ticket_id",
            Field::Status => "status",
            Field::Reason => "reason",
            Field::Amount => "amount",
            Field::RefundAmount => "refund_amount",
        }
    }
}

/// An object key: a known [`Field`] or `None` for anything else (ignored).
struct Key(Option<Field>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            // Borrowed and unescaped keys both arrive here (the default `visit_borrowed_str`
            // forwards), so an escaped key such as "\u0074s" still names `ts`.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(Field::from_key(v)))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A captured JSON value of a non-amount field: enough to validate it without a
/// `serde_json::Value`. Strings borrow from the message unless they contain escapes.
#[derive(Debug)]
enum Scalar<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float,
    Bool,
    Array,
    Object,
}

impl Scalar<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Str(_) => "a string",
            Scalar::Int(_) | Scalar::UInt(_) => "an integer",
            Scalar::Float => "a non-integer number",
            Scalar::Bool => "a boolean",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar<'de>, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// Everything captured from one message, before validation.
#[derive(Default)]
struct Fields<'a> {
    scalars: [Option<Scalar<'a>>; SCALAR_FIELDS],
    amount: Option<&'a RawValue>,
    refund_amount: Option<&'a RawValue>,
    /// The first known field that appeared more than once.
    duplicate: Option<Field>,
}

/// Fills in a [`Fields`] owned by the caller (filling in place rather than returning the
/// few hundred bytes of `Fields` by value measurably helps throughput).
struct FieldsVisitor<'f, 'de>(&'f mut Fields<'de>);

impl<'de> Visitor<'de> for FieldsVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = self.0;
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let seen = match key {
                None => {
                    map.next_value::<IgnoredAny>()?;
                    false
                }
                Some(Field::Amount) => fields.amount.replace(map.next_value()?).is_some(),
                Some(Field::RefundAmount) => {
                    fields.refund_amount.replace(map.next_value()?).is_some()
                }
                Some(field) => {
                    let value: Scalar<'de> = map.next_value()?;
                    // In range: every field before `Amount` indexes below SCALAR_FIELDS, and
                    // the two amount fields are matched above.
                    match fields.scalars.get_mut(field as usize) {
                        Some(slot) => slot.replace(value).is_some(),
                        None => false,
                    }
                }
            };
            if seen && fields.duplicate.is_none() {
                fields.duplicate = key;
            }
        }
        Ok(())
    }
}

fn missing(field: Field) -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        format!("missing field `{}`", field.name()),
    )
}

fn invalid(field: Field, why: impl fmt::Display) -> Rejection {
    Rejection::new(
        RejectReason::InvalidField,
        format!("field `{}` {why}", field.name()),
    )
}

/// At most this many characters of an offending value are quoted back in a detail.
const QUOTE_LIMIT: usize = 64;

/// A value quoted for a rejection detail, cut short so a detail stays small.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

impl<'a> Fields<'a> {
    /// Takes a required field out: absent and `null` are both missing.
    fn take(&mut self, field: Field) -> Result<Scalar<'a>, Rejection> {
        match self.scalars.get_mut(field as usize).and_then(Option::take) {
            None | Some(Scalar::Null) => Err(missing(field)),
            Some(value) => Ok(value),
        }
    }

    /// A required string.
    fn text(&mut self, field: Field) -> Result<Cow<'a, str>, Rejection> {
        match self.take(field)? {
            Scalar::Str(s) => Ok(s),
            other => Err(invalid(
                field,
                format_args!("must be a string, got {}", other.kind()),
            )),
        }
    }

    /// A required, non-empty identifier.
    fn id(&mut self, field: Field) -> Result<CompactString, Rejection> {
        let text = self.text(field)?;
        if text.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        Ok(CompactString::from(text))
    }

    /// A required timestamp: RFC 3339 with an offset, or integer epoch milliseconds.
    fn time(&mut self, field: Field) -> Result<EventTime, Rejection> {
        match self.take(field)? {
            Scalar::Str(s) => EventTime::parse_rfc3339(&s).map_err(|_| {
                invalid(
                    field,
                    format_args!("is not RFC 3339 with an offset: {}", quote(&s)),
                )
            }),
            Scalar::Int(ms) => Ok(EventTime::from_millis(ms)),
            Scalar::UInt(ms) => i64::try_from(ms)
                .map(EventTime::from_millis)
                .map_err(|_| invalid(field, format_args!("epoch milliseconds {ms} out of range"))),
            other => Err(invalid(
                field,
                format_args!(
                    "must be an RFC 3339 string or integer epoch milliseconds, got {}",
                    other.kind()
                ),
            )),
        }
    }

    /// A fee tier: a non-empty string or an integer, kept as its text.
    fn fee_tier(&mut self) -> Result<FeeTier, Rejection> {
        let field = Field::FeeTier;
        match self.take(field)? {
            Scalar::Str(s) if s.is_empty() => Err(invalid(field, "must not be empty")),
            Scalar::Str(s) => Ok(FeeTier(CompactString::from(s))),
            Scalar::Int(n) => Ok(FeeTier(n.to_compact_string())),
            Scalar::UInt(n) => Ok(FeeTier(n.to_compact_string())),
            other => Err(invalid(
                field,
                format_args!("must be a string or an integer, got {}", other.kind()),
            )),
        }
    }

    fn take_event(&mut self) -> Result<Event, Rejection> {
        if let Some(field) = self.duplicate {
            return Err(invalid(field, "appears more than once"));
        }
        let event_id = self.id(Field::EventId)?;
        let member_id = MemberId(self.id(Field::MemberId)?);
        let ts = self.time(Field::Ts)?;
        let kind = self.text(Field::Type)?;
        let body = match &*kind {
            "member" => EventBody::Member(Profile {
                group_id: GroupId(self.id(Field::GroupId)?),
                tutor_id: TutorId(self.id(Field::TutorId)?),
                fee_tier: self.fee_tier()?,
                joined_at: self.time(Field::JoinedAt)?,
            }),
            "member_left" => EventBody::MemberLeft,
            "order" => EventBody::Order(Order {
                order_key: stable_hash(&self.text_id(Field::OrderId)?),
                amount: required_amount(Field::Amount, self.amount)?,
                category: Category::from_name(&self.text(Field::Category)?),
            }),
            "login" => EventBody::Login,
            "after_sales" => EventBody::AfterSales(AfterSales {
                ticket_id: self.id(Field::TicketId)?,
                order_key: stable_hash(&self.text_id(Field::OrderId)?),
                status: match &*self.text(Field::Status)? {
                    "opened" => TicketStatus::Opened,
                    "resolved" => TicketStatus::Resolved,
                    other => {
                        return Err(invalid(
                            Field::Status,
                            format_args!(
                                "must be \"opened\" or \"resolved\", got {}",
                                quote(other)
                            ),
                        ))
                    }
                },
                reason: AfterSalesReason::from_name(&self.text(Field::Reason)?),
                refund: optional_amount(Field::RefundAmount, self.refund_amount)?,
            }),
            other => {
                return Err(Rejection::new(
                    RejectReason::UnknownType,
                    format!("unknown event type {}", quote(other)),
                ))
            }
        };
        Ok(Event {
            event_id,
            member_id,
            ts,
            body,
        })
    }

    /// A required, non-empty identifier that is only hashed, so it is not copied.
    fn text_id(&mut self, field: Field) -> Result<Cow<'a, str>, Rejection> {
        let text = self.text(field)?;
        if text.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        Ok(text)
    }
}

fn required_amount(field: Field, raw: Option<&RawValue>) -> Result<Fen, Rejection> {
    optional_amount(field, raw)?.ok_or_else(|| missing(field))
}

/// An amount from its raw JSON text: a number or a string holding a decimal of yuan with
/// at most two decimals. Absent or `null` is `None`. The number's text is parsed exactly
/// by [`Fen::parse_yuan`]; no float is ever involved.
fn optional_amount(field: Field, raw: Option<&RawValue>) -> Result<Option<Fen>, Rejection> {
    let Some(raw) = raw else { return Ok(None) };
    let json = raw.get();
    let malformed = |shown: &str| {
        Rejection::new(
            RejectReason::MalformedAmount,
            format!(
                "field `{}` is not a decimal amount of yuan with at most two decimals: {}",
                field.name(),
                quote(shown)
            ),
        )
    };
    let text: Cow<'_, str> = match json.as_bytes().first() {
        Some(b'n') if json == "null" => return Ok(None),
        Some(b'-' | b'0'..=b'9') => Cow::Borrowed(json),
        Some(b'"') => match json.get(1..json.len() - 1) {
            // The raw text is a complete JSON string, so without a backslash its content
            // is exactly what lies between the quotes.
            Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
            _ => Cow::Owned(serde_json::from_str::<String>(json).map_err(|_| malformed(json))?),
        },
        // true, false, arrays and objects.
        _ => return Err(malformed(json)),
    };
    match Fen::parse_yuan(&text) {
        Ok(fen) if fen.as_fen() < 0 => Err(Rejection::new(
            RejectReason::NegativeAmount,
            format!("field `{}` is negative: {}", field.name(), quote(&text)),
        )),
        Ok(fen) => Ok(Some(fen)),
        Err(_) => Err(malformed(&text)),
    }
}

/// The fast path: one hand-written pass over the bytes for the common message — a flat
/// object of strings and numbers, no escapes, every field valid. It either yields
/// exactly the event the general path would, or declines (`None`) and the general path
/// decides, so accepting and refusing keep one definition. It declines at anything else:
/// bytes that are not UTF-8, escapes, `null`, booleans, nested values, duplicate fields, any value
/// the general path would refuse, and numbers or timestamps it does not parse itself
/// exactly like the general path (timestamps go to the same RFC 3339 parser the general
/// path uses).
mod fast {
    use compact_str::CompactString;

    use super::Field;
    use crate::model::{
        stable_hash, AfterSales, AfterSalesReason, Category, Event, EventBody, EventTime, FeeTier,
        Fen, GroupId, MemberId, Order, Profile, TicketStatus, TutorId,
    };

    const FIELDS: usize = Field::RefundAmount as usize + 1;

    /// A value: a string's content (no escapes) or a number's text (valid JSON grammar).
    #[derive(Copy, Clone)]
    enum Val<'a> {
        Str(&'a str),
        Num(&'a str),
    }

    struct Scan<'a> {
        /// The message, already checked to be UTF-8: slices between ASCII delimiters
        /// are then `str`s without a second check.
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Scan<'a> {
        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
                self.i += 1;
            }
        }

        fn next(&mut self) -> Option<u8> {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            Some(c)
        }

        fn text(&self, from: usize) -> Option<&'a str> {
            self.s.get(from..self.i)
        }

        /// A string after its opening quote: declines escapes and control characters.
        fn string(&mut self) -> Option<&'a str> {
            let start = self.i;
            loop {
                match self.next()? {
                    b'"' => break,
                    b'\\' | 0..=0x1F => return None,
                    _ => {}
                }
            }
            self.i -= 1;
            let text = self.text(start);
            self.i += 1;
            text
        }

        fn digits(&mut self) -> usize {
            let start = self.i;
            while let Some(b'0'..=b'9') = self.b.get(self.i) {
                self.i += 1;
            }
            self.i - start
        }

        /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as JSON has it.
        fn number(&mut self) -> Option<&'a str> {
            let start = self.i;
            if self.b.get(self.i) == Some(&b'-') {
                self.i += 1;
            }
            match self.b.get(self.i) {
                Some(b'0') => self.i += 1,
                Some(b'1'..=b'9') => {
                    self.digits();
                }
                _ => return None,
            }
            if self.b.get(self.i) == Some(&b'.') {
                self.i += 1;
                if self.digits() == 0 {
                    return None;
                }
            }
            if let Some(b'e' | b'E') = self.b.get(self.i) {
                self.i += 1;
                if let Some(b'+' | b'-') = self.b.get(self.i) {
                    self.i += 1;
                }
                if self.digits() == 0 {
                    return None;
                }
            }
            self.text(start)
        }

        fn value(&mut self) -> Option<Val<'a>> {
            match self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    self.string().map(Val::Str)
                }
                b'-' | b'0'..=b'9' => self.number().map(Val::Num),
                _ => None,
            }
        }
    }

    fn key(text: &str) -> Option<Field> {
        Field::from_key(text)
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Event> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut vals: [Option<Val<'_>>; FIELDS] = [None; FIELDS];
        let mut p = Scan {
            s: text,
            b: bytes,
            i: 0,
        };
        p.ws();
        if p.next()? != b'{' {
            return None;
        }
        loop {
            p.ws();
            if p.next()? != b'"' {
                return None;
            }
            let name = p.string()?;
            p.ws();
            if p.next()? != b':' {
                return None;
            }
            p.ws();
            let val = p.value()?;
            if let Some(field) = key(name) {
                let slot = vals.get_mut(field as usize)?;
                if slot.replace(val).is_some() {
                    return None;
                }
            }
            p.ws();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        p.ws();
        if p.i != bytes.len() {
            return None;
        }
        event(&vals)
    }

    fn event(vals: &[Option<Val<'_>>; FIELDS]) -> Option<Event> {
        let get = |f: Field| vals[f as usize];
        let text = |f: Field| match get(f) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        };
        let id = |f: Field| text(f).filter(|s| !s.is_empty());
        let time = |f: Field| match get(f)? {
            Val::Str(s) => rfc3339(s),
            Val::Num(n) => epoch_millis(n),
        };
        let amount = |v: Val<'_>| {
            let text = match v {
                Val::Str(s) | Val::Num(s) => s,
            };
            Fen::parse_yuan(text).ok().filter(|fen| fen.as_fen() >= 0)
        };
        let event_id = CompactString::from(id(Field::EventId)?);
        let member_id = MemberId::new(id(Field::MemberId)?);
        let ts = time(Field::Ts)?;
        let body = match text(Field::Type)? {
            "member" => EventBody::Member(Profile {
                group_id: GroupId::new(id(Field::GroupId)?),
                tutor_id: TutorId::new(id(Field::TutorId)?),
                fee_tier: FeeTier::new(id(Field::FeeTier)?),
                joined_at: time(Field::JoinedAt)?,
            }),
            "member_left" => EventBody::MemberLeft,
            "order" => EventBody::Order(Order {
                order_key: stable_hash(id(Field::OrderId)?),
                amount: amount(get(Field::Amount)?)?,
                category: Category::from_name(text(Field::Category)?),
            }),
            "login" => EventBody::Login,
            "after_sales" => EventBody::AfterSales(AfterSales {
                ticket_id: CompactString::from(id(Field::TicketId)?),
                order_key: stable_hash(id(Field::OrderId)?),
                status: match text(Field::Status)? {
                    "opened" => TicketStatus::Opened,
                    "resolved" => TicketStatus::Resolved,
                    _ => return None,
                },
                reason: AfterSalesReason::from_name(text(Field::Reason)?),
                refund: match get(Field::RefundAmount) {
                    None => None,
                    Some(v) => Some(amount(v)?),
                },
            }),
            _ => return None,
        };
        Some(Event {
            event_id,
            member_id,
            ts,
            body,
        })
    }

    /// Integer epoch milliseconds, as the general path reads them: an integer token that
    /// fits an `i64`. Declines `-0`, which JSON parsers read as a float.
    fn epoch_millis(n: &str) -> Option<EventTime> {
        if n.contains(['.', 'e', 'E']) || n == "-0" {
            return None;
        }
        n.parse::<i64>().ok().map(EventTime::from_millis)
    }

    /// The general path's parser, fast for the common UTC form
    /// ([`crate::model::rfc3339`]).
    fn rfc3339(s: &str) -> Option<EventTime> {
        EventTime::parse_rfc3339(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 64 * 1024;

    fn decoder() -> JsonDecoder {
        JsonDecoder::new(LIMIT)
    }

    fn decode(text: &str) -> Result<Event, Rejection> {
        decoder().decode(text.as_bytes())
    }

    fn ok(text: &str) -> Event {
        match decode(text) {
            Ok(event) => event,
            Err(r) => panic!("{text} was rejected: {r}"),
        }
    }

    fn rejected(text: &str, reason: RejectReason) -> Rejection {
        match decode(text) {
            Ok(event) => panic!("{text} decoded to {event:?}, expected {reason}"),
            Err(r) => {
                assert_eq!(r.reason, reason, "{text}: {r}");
                r
            }
        }
    }

    const T0: &str = "2026-03-01T08:00:00.123+08:00";
    const T0_MS: i64 = 1_772_323_200_123;

    fn order_with_amount(amount: &str) -> String {
        format!(
            r#"{{"event_id":"e1","member_id":"m1","ts":"{T0}","type":"order","order_id":"o1","amount":{amount},"category":"home"}}"#
        )
    }

    fn refund_with_amount(amount: &str) -> String {
        format!(
            r#"{{"event_id":"e1","member_id":"m1","ts":"{T0}","type":"after_sales","ticket_id":"t1","order_id":"o1","status":"opened","reason":"spoiled","refund_amount":{amount}}}"#
        )
    }

    /// One valid message of each type, as (type, JSON object text without the braces).
    fn valid_bodies() -> Vec<(&'static str, String)> {
        let common = format!(r#""event_id":"e1","member_id":"m1","ts":"{T0}""#);
        vec![
            (
                "member",
                format!(
                    r#"{common},"type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"199","joined_at":"{T0}""#
                ),
            ),
            ("member_left", format!(r#"{common},"type":"member_left""#)),
            (
                "order",
                format!(
                    r#"{common},"type":"order","order_id":"o1","amount":"12.30","category":"home""#
                ),
            ),
            (
                "login",
                format!(r#"{common},"type":"login","channel":"mini_program""#),
            ),
            (
                "after_sales",
                format!(
                    r#"{common},"type":"after_sales","ticket_id":"k1","order_id":"o1","status":"opened","reason":"spoiled","refund_amount":5"#
                ),
            ),
        ]
    }

    fn required_fields(kind: &str) -> &'static [&'static str] {
        const COMMON: [&str; 4] = ["event_id", "member_id", "ts", "type"];
        match kind {
            "member" => &[
                "event_id",
                "member_id",
                "ts",
                "type",
                "group_id",
                "tutor_id",
                "fee_tier",
                "joined_at",
            ],
            "order" => &[
                "event_id",
                "member_id",
                "ts",
                "type",
                "order_id",
                "amount",
                "category",
            ],
            "after_sales" => &[
                "event_id",
                "member_id",
                "ts",
                "type",
                "ticket_id",
                "order_id",
                "status",
                "reason",
            ],
            _ => &COMMON,
        }
    }

    /// Replaces the value of `field` in a flat test object with `value`, or removes the
    /// field when `value` is `None`.
    fn with_field(body: &str, field: &str, value: Option<&str>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut found = false;
        // Test bodies have no commas inside values.
        for part in body.split(',') {
            if part.starts_with(&format!("\"{field}\":")) {
                found = true;
                if let Some(v) = value {
                    parts.push(format!("\"{field}\":{v}"));
                }
            } else {
                parts.push(part.to_owned());
            }
        }
        assert!(found, "{field} not in {body}");
        format!("{{{}}}", parts.join(","))
    }

    // ---- every event type decodes fully ----

    #[test]
    fn member_event_decodes_every_field() {
        let e = ok(
            r#"{"event_id":"e-1","member_id":"m-1","ts":"2026-03-01T00:00:00Z","type":"member","group_id":"g-7","tutor_id":"t-3","fee_tier":"399","joined_at":"2026-02-01T00:00:00.5Z"}"#,
        );
        assert_eq!(e.event_id, "e-1");
        assert_eq!(e.member_id, MemberId::new("m-1"));
        assert_eq!(
            e.ts,
            EventTime::parse_rfc3339("2026-03-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            e.body,
            EventBody::Member(Profile {
                group_id: GroupId::new("g-7"),
                tutor_id: TutorId::new("t-3"),
                fee_tier: FeeTier::new("399"),
                joined_at: EventTime::parse_rfc3339("2026-02-01T00:00:00.500Z").unwrap(),
            })
        );
    }

    #[test]
    fn member_left_event_decodes() {
        let e = ok(&format!(
            r#"{{"event_id":"e2","member_id":"m2","ts":{T0_MS},"type":"member_left"}}"#
        ));
        assert_eq!(
            e,
            Event {
                event_id: "e2".into(),
                member_id: MemberId::new("m2"),
                ts: EventTime(T0_MS),
                body: EventBody::MemberLeft
            }
        );
    }

    #[test]
    fn order_event_decodes_every_field() {
        let e = ok(&format!(
            r#"{{"event_id":"e3","member_id":"m3","ts":"{T0}","type":"order","order_id":"o-42","amount":199.9,"category":"fresh_food"}}"#
        ));
        assert_eq!(
            e,
            Event {
                event_id: "e3".into(),
                member_id: MemberId::new("m3"),
                ts: EventTime(T0_MS),
                body: EventBody::Order(Order {
                    order_key: stable_hash("o-42"),
                    amount: Fen(19990),
                    category: Category::FreshFood
                })
            }
        );
    }

    #[test]
    fn login_event_decodes_and_ignores_channel() {
        let expected = Event {
            event_id: "e4".into(),
            member_id: MemberId::new("m4"),
            ts: EventTime(T0_MS),
            body: EventBody::Login,
        };
        let base = format!(r#""event_id":"e4","member_id":"m4","ts":"{T0}","type":"login""#);
        assert_eq!(ok(&format!("{{{base}}}")), expected);
        assert_eq!(ok(&format!(r#"{{{base},"channel":"app"}}"#)), expected);
        // Optional and ignored: even a channel of an odd shape does not matter.
        assert_eq!(
            ok(&format!(r#"{{{base},"channel":{{"x":[1]}}}}"#)),
            expected
        );
    }

    #[test]
    fn after_sales_event_decodes_every_field() {
        let e = ok(&format!(
            r#"{{"event_id":"e5","member_id":"m5","ts":"{T0}","type":"after_sales","ticket_id":"k-9","order_id":"o-42","status":"resolved","reason":"damaged_package","refund_amount":"25.5"}}"#
        ));
        assert_eq!(
            e,
            Event {
                event_id: "e5".into(),
                member_id: MemberId::new("m5"),
                ts: EventTime(T0_MS),
                body: EventBody::AfterSales(AfterSales {
                    ticket_id: "k-9".into(),
                    order_key: stable_hash("o-42"),
                    status: TicketStatus::Resolved,
                    reason: AfterSalesReason::DamagedPackage,
                    refund: Some(Fen(2550)),
                })
            }
        );
    }

    #[test]
    fn after_sales_without_refund_or_with_null_refund_has_none() {
        for tail in ["", r#","refund_amount":null"#] {
            let e = ok(&format!(
                r#"{{"event_id":"e","member_id":"m","ts":"{T0}","type":"after_sales","ticket_id":"k","order_id":"o","status":"opened","reason":"quality"{tail}}}"#
            ));
            let EventBody::AfterSales(a) = e.body else {
                panic!("not after_sales: {e:?}")
            };
            assert_eq!(a.status, TicketStatus::Opened);
            assert_eq!(a.reason, AfterSalesReason::Quality);
            assert_eq!(a.refund, None);
        }
    }

    #[test]
    fn every_reason_name_is_recognised_and_unknown_reason_counts_as_other() {
        for (name, reason) in [
            ("damaged_package", AfterSalesReason::DamagedPackage),
            ("spoiled", AfterSalesReason::Spoiled),
            ("quality", AfterSalesReason::Quality),
            ("wrong_item", AfterSalesReason::WrongItem),
            ("late_delivery", AfterSalesReason::LateDelivery),
            ("other", AfterSalesReason::Other),
            ("lost_in_space", AfterSalesReason::Other),
            ("", AfterSalesReason::Other),
        ] {
            let body = &valid_bodies()[4].1;
            let e = ok(&with_field(body, "reason", Some(&format!("{name:?}"))));
            let EventBody::AfterSales(a) = e.body else {
                panic!()
            };
            assert_eq!(a.reason, reason, "{name}");
        }
    }

    // ---- timestamps ----

    #[test]
    fn epoch_millis_and_rfc3339_timestamps_are_equivalent() {
        let member = |ts: &str, joined: &str| {
            ok(&format!(
                r#"{{"event_id":"e","member_id":"m","ts":{ts},"type":"member","group_id":"g","tutor_id":"t","fee_tier":199,"joined_at":{joined}}}"#
            ))
        };
        let a = member(&format!("\"{T0}\""), "\"2026-03-01T00:00:00.123Z\"");
        let b = member(&T0_MS.to_string(), &T0_MS.to_string());
        assert_eq!(a, b);
        assert_eq!(a.ts, EventTime(T0_MS));
        // Before the epoch, both forms agree too.
        let c = member(
            "\"1969-12-31T23:59:59.999Z\"",
            "\"1969-12-31T23:59:59.999Z\"",
        );
        let d = member("-1", "-1");
        assert_eq!(c, d);
    }

    #[test]
    fn timestamp_without_offset_is_invalid() {
        let body = &valid_bodies()[3].1;
        for bad in [
            "\"2026-03-01T08:00:00\"",
            "\"2026-03-01\"",
            "\"yesterday\"",
            "\"\"",
        ] {
            let r = rejected(
                &with_field(body, "ts", Some(bad)),
                RejectReason::InvalidField,
            );
            assert!(r.detail.contains("`ts`"), "{}", r.detail);
        }
        let member = &valid_bodies()[0].1;
        let r = rejected(
            &with_field(member, "joined_at", Some("\"2026-03-01 08:00\"")),
            RejectReason::InvalidField,
        );
        assert!(r.detail.contains("`joined_at`"), "{}", r.detail);
    }

    #[test]
    fn timestamp_of_any_other_json_type_is_invalid() {
        let body = &valid_bodies()[3].1;
        for bad in [
            "1772323200123.0",
            "1.7e12",
            "true",
            "[]",
            "{}",
            "18446744073709551615",
        ] {
            let r = rejected(
                &with_field(body, "ts", Some(bad)),
                RejectReason::InvalidField,
            );
            assert!(r.detail.contains("`ts`"), "{bad}: {}", r.detail);
        }
    }

    // ---- fee tier ----

    #[test]
    fn fee_tier_as_integer_or_string_is_kept_as_text() {
        let body = &valid_bodies()[0].1;
        for (json, text) in [
            ("199", "199"),
            ("\"199\"", "199"),
            ("399", "399"),
            ("\"vip\"", "vip"),
        ] {
            let e = ok(&with_field(body, "fee_tier", Some(json)));
            let EventBody::Member(p) = e.body else {
                panic!()
            };
            assert_eq!(p.fee_tier, FeeTier::new(text));
        }
    }

    #[test]
    fn fee_tier_of_wrong_type_or_empty_is_invalid() {
        let body = &valid_bodies()[0].1;
        for bad in ["199.0", "true", "\"\"", "[199]"] {
            let r = rejected(
                &with_field(body, "fee_tier", Some(bad)),
                RejectReason::InvalidField,
            );
            assert!(r.detail.contains("`fee_tier`"), "{}", r.detail);
        }
    }

    // ---- amounts ----

    #[test]
    fn amount_as_number_and_as_string_are_equal() {
        for (json, fen) in [
            ("0", 0),
            ("\"0\"", 0),
            ("12", 1200),
            ("\"12\"", 1200),
            ("12.3", 1230),
            ("\"12.3\"", 1230),
            ("12.34", 1234),
            ("\"12.34\"", 1234),
            ("0.07", 7),
            ("\"\\u0031\\u0032.5\"", 1250),
        ] {
            let e = ok(&order_with_amount(json));
            let EventBody::Order(o) = e.body else {
                panic!()
            };
            assert_eq!(o.amount, Fen(fen), "{json}");
        }
    }

    #[test]
    fn amount_with_three_decimals_is_malformed() {
        rejected(&order_with_amount("12.345"), RejectReason::MalformedAmount);
        rejected(
            &order_with_amount("\"12.345\""),
            RejectReason::MalformedAmount,
        );
        // Trailing zeros do not make a third decimal acceptable: the text is what counts.
        rejected(&order_with_amount("12.300"), RejectReason::MalformedAmount);
    }

    #[test]
    fn amount_in_exponent_notation_is_malformed() {
        for bad in ["1e3", "1E3", "1.5e2", "\"1e3\"", "-1e3"] {
            rejected(&order_with_amount(bad), RejectReason::MalformedAmount);
        }
    }

    #[test]
    fn amount_that_is_not_a_decimal_is_malformed() {
        for bad in [
            "\"abc\"", "true", "false", "[]", "[1]", "{}", "\"\"", "\" 12\"", "\"12 \"", "\"+12\"",
            "\".5\"", "\"5.\"", "\"1,5\"",
        ] {
            let r = rejected(&order_with_amount(bad), RejectReason::MalformedAmount);
            assert!(r.detail.contains("`amount`"), "{}", r.detail);
        }
    }

    #[test]
    fn amount_too_large_for_fen_is_malformed() {
        rejected(
            &order_with_amount("99999999999999999999"),
            RejectReason::MalformedAmount,
        );
        rejected(
            &order_with_amount("\"92233720368547759\""),
            RejectReason::MalformedAmount,
        );
    }

    #[test]
    fn negative_amount_is_rejected() {
        for bad in ["-1", "-0.01", "\"-12.30\""] {
            let r = rejected(&order_with_amount(bad), RejectReason::NegativeAmount);
            assert!(r.detail.contains("`amount`"), "{}", r.detail);
        }
    }

    #[test]
    fn negative_refund_is_rejected() {
        for bad in ["-5", "\"-0.50\""] {
            let r = rejected(&refund_with_amount(bad), RejectReason::NegativeAmount);
            assert!(r.detail.contains("`refund_amount`"), "{}", r.detail);
        }
    }

    #[test]
    fn malformed_refund_is_rejected() {
        for bad in ["1.234", "\"x\"", "true", "{}"] {
            let r = rejected(&refund_with_amount(bad), RejectReason::MalformedAmount);
            assert!(r.detail.contains("`refund_amount`"), "{}", r.detail);
        }
    }

    #[test]
    fn missing_or_null_amount_is_missing_field() {
        let body = &valid_bodies()[2].1;
        for value in [None, Some("null")] {
            let r = rejected(
                &with_field(body, "amount", value),
                RejectReason::MissingField,
            );
            assert!(r.detail.contains("`amount`"), "{}", r.detail);
        }
    }

    // ---- categories ----

    #[test]
    fn every_category_name_is_recognised() {
        for category in Category::NAMED {
            let body = &valid_bodies()[2].1;
            let e = ok(&with_field(
                body,
                "category",
                Some(&format!("\"{}\"", category.name())),
            ));
            let EventBody::Order(o) = e.body else {
                panic!()
            };
            assert_eq!(o.category, category);
        }
    }

    #[test]
    fn unknown_category_counts_as_other() {
        for name in ["\"garden\"", "\"other\"", "\"\"", "\"HOME\""] {
            let e = ok(&with_field(&valid_bodies()[2].1, "category", Some(name)));
            let EventBody::Order(o) = e.body else {
                panic!()
            };
            assert_eq!(o.category, Category::Other, "{name}");
        }
    }

    #[test]
    fn missing_category_is_missing_field() {
        let r = rejected(
            &with_field(&valid_bodies()[2].1, "category", None),
            RejectReason::MissingField,
        );
        assert!(r.detail.contains("`category`"), "{}", r.detail);
    }

    #[test]
    fn category_of_wrong_type_is_invalid() {
        let r = rejected(
            &with_field(&valid_bodies()[2].1, "category", Some("3")),
            RejectReason::InvalidField,
        );
        assert!(r.detail.contains("`category`"), "{}", r.detail);
    }

    // ---- status, reason ----

    #[test]
    fn status_other_than_opened_or_resolved_is_invalid() {
        let body = &valid_bodies()[4].1;
        for bad in ["\"closed\"", "\"Opened\"", "\"\"", "1", "true"] {
            let r = rejected(
                &with_field(body, "status", Some(bad)),
                RejectReason::InvalidField,
            );
            assert!(r.detail.contains("`status`"), "{}", r.detail);
        }
    }

    #[test]
    fn missing_reason_is_missing_field() {
        let r = rejected(
            &with_field(&valid_bodies()[4].1, "reason", None),
            RejectReason::MissingField,
        );
        assert!(r.detail.contains("`reason`"), "{}", r.detail);
    }

    // ---- type ----

    #[test]
    fn unknown_type_is_rejected() {
        let body = &valid_bodies()[3].1;
        for bad in ["\"purchase\"", "\"Order\"", "\"\""] {
            rejected(
                &with_field(body, "type", Some(bad)),
                RejectReason::UnknownType,
            );
        }
    }

    #[test]
    fn type_of_wrong_json_type_is_invalid() {
        let r = rejected(
            &with_field(&valid_bodies()[3].1, "type", Some("3")),
            RejectReason::InvalidField,
        );
        assert!(r.detail.contains("`type`"), "{}", r.detail);
    }

    // ---- shape ----

    #[test]
    fn valid_bodies_decode() {
        for (kind, body) in valid_bodies() {
            assert_eq!(ok(&format!("{{{body}}}")).body.type_name(), kind);
        }
    }

    #[test]
    fn missing_or_null_required_field_is_named_in_detail() {
        for (kind, body) in valid_bodies() {
            for field in required_fields(kind) {
                for value in [None, Some("null")] {
                    let r = rejected(&with_field(&body, field, value), RejectReason::MissingField);
                    assert!(
                        r.detail.contains(&format!("`{field}`")),
                        "{kind}/{field}: {}",
                        r.detail
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_json_type_is_invalid_field_naming_it() {
        for (kind, body) in valid_bodies() {
            for field in required_fields(kind) {
                if matches!(*field, "amount" | "ts" | "joined_at" | "fee_tier") {
                    continue; // covered by their own tests: numbers are valid there
                }
                for bad in ["1", "1.5", "true", "[\"x\"]", "{\"a\":\"b\"}"] {
                    let r = rejected(
                        &with_field(&body, field, Some(bad)),
                        RejectReason::InvalidField,
                    );
                    assert!(
                        r.detail.contains(&format!("`{field}`")),
                        "{kind}/{field}: {}",
                        r.detail
                    );
                }
            }
        }
    }

    #[test]
    fn empty_id_is_invalid() {
        for (kind, body) in valid_bodies() {
            for field in [
                "event_id",
                "member_id",
                "group_id",
                "tutor_id",
                "order_id",
                "ticket_id",
            ] {
                if !required_fields(kind).contains(&field) {
                    continue;
                }
                let r = rejected(
                    &with_field(&body, field, Some("\"\"")),
                    RejectReason::InvalidField,
                );
                assert!(
                    r.detail.contains(&format!("`{field}`")),
                    "{kind}/{field}: {}",
                    r.detail
                );
            }
        }
    }

    #[test]
    fn duplicate_field_is_invalid() {
        let r = rejected(
            r#"{"event_id":"e","member_id":"m","ts":0,"type":"order","order_id":"o","amount":1,"amount":2,"category":"home"}"#,
            RejectReason::InvalidField,
        );
        assert!(r.detail.contains("`amount`"), "{}", r.detail);
        let r = rejected(
            r#"{"event_id":"e","member_id":"m","member_id":"n","ts":0,"type":"login"}"#,
            RejectReason::InvalidField,
        );
        assert!(r.detail.contains("`member_id`"), "{}", r.detail);
        // Unknown fields may repeat: they are ignored.
        ok(r#"{"event_id":"e","member_id":"m","ts":0,"type":"login","x":1,"x":2}"#);
    }

    #[test]
    fn unknown_extra_fields_are_ignored() {
        let plain = ok(&format!("{{{}}}", valid_bodies()[2].1));
        let extended = ok(&format!(
            r#"{{"schema":2,{},"nested":{{"a":[1,2,{{"b":null}}],"c":"\u00e9"}},"flag":true,"n":1e400}}"#,
            valid_bodies()[2].1
        ));
        assert_eq!(plain, extended);
        // Fields of other types are extra here and ignored too, whatever their shape.
        let login = ok(&format!(
            r#"{{{},"amount":"abc","status":5}}"#,
            valid_bodies()[3].1
        ));
        assert_eq!(login.body, EventBody::Login);
    }

    #[test]
    fn surrounding_whitespace_is_allowed() {
        let e = ok(&format!(" \t{{{}}}\r\n", valid_bodies()[3].1));
        assert_eq!(e.body, EventBody::Login);
    }

    #[test]
    fn not_json_is_undecodable() {
        for bad in [
            "",
            " ",
            "not json",
            "{",
            "{\"event_id\":}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{'a':1}",
        ] {
            rejected(bad, RejectReason::Undecodable);
        }
        // Two objects in one message, or trailing garbage.
        let body = format!("{{{}}}", valid_bodies()[3].1);
        rejected(&format!("{body}{body}"), RejectReason::Undecodable);
        rejected(&format!("{body} x"), RejectReason::Undecodable);
    }

    #[test]
    fn non_object_is_undecodable() {
        for bad in [
            "[]",
            "[{\"type\":\"login\"}]",
            "\"login\"",
            "42",
            "null",
            "true",
        ] {
            rejected(bad, RejectReason::Undecodable);
        }
    }

    #[test]
    fn invalid_utf8_is_undecodable() {
        let mut bytes = format!("{{{},\"note\":\"X\"}}", valid_bodies()[3].1).into_bytes();
        let at = bytes.iter().rposition(|&b| b == b'X').unwrap();
        // Inside an ignored field, where serde_json alone would not look.
        bytes[at] = 0xff;
        let r = decoder().decode(&bytes).unwrap_err();
        assert_eq!(r.reason, RejectReason::Undecodable);
    }

    #[test]
    fn deeply_nested_unknown_field_is_rejected_without_overflowing() {
        let depth = 100_000;
        let text = format!(r#"{{"x":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        // Ignored values are skipped iteratively, so this may even decode; what matters is
        // that it does not overflow the stack.
        let _ = JsonDecoder::new(usize::MAX).decode(text.as_bytes());
        // In a known field too: captured as "an array", so the field is invalid.
        let in_known = format!(
            r#"{{"event_id":"e","member_id":{}{},"ts":0,"type":"login"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = JsonDecoder::new(usize::MAX)
            .decode(in_known.as_bytes())
            .unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidField, "{r}");
        // Unbalanced nesting is simply not JSON.
        let unbalanced = format!(r#"{{"x":{}}}"#, "[".repeat(depth));
        let r = JsonDecoder::new(usize::MAX)
            .decode(unbalanced.as_bytes())
            .unwrap_err();
        assert_eq!(r.reason, RejectReason::Undecodable, "{r}");
    }

    #[test]
    fn oversized_message_is_rejected_before_parsing() {
        let d = JsonDecoder::new(16);
        // Not even JSON: the size check comes first, so it is too large, not undecodable.
        let r = d.decode(&[0xff; 17]).unwrap_err();
        assert_eq!(r.reason, RejectReason::MessageTooLarge);
        assert!(
            r.detail.contains("17") && r.detail.contains("16"),
            "{}",
            r.detail
        );
        // Exactly at the limit is fine as far as size goes.
        assert_eq!(
            d.decode(&[0xff; 16]).unwrap_err().reason,
            RejectReason::Undecodable
        );
        let login = r#"{"event_id":"e","member_id":"m","ts":0,"type":"login"}"#;
        assert!(JsonDecoder::new(login.len())
            .decode(login.as_bytes())
            .is_ok());
        assert_eq!(
            JsonDecoder::new(login.len() - 1)
                .decode(login.as_bytes())
                .unwrap_err()
                .reason,
            RejectReason::MessageTooLarge
        );
    }

    #[test]
    fn escaped_member_id_is_unescaped() {
        let e = ok(
            r#"{"event_id":"e\"1\\","member_id":"m\u00e9\/\n\ud83d\ude00","ts":0,"type":"order","order_id":"o\u002d1","amount":1,"category":"h\u006fme"}"#,
        );
        assert_eq!(e.event_id, "e\"1\\");
        assert_eq!(e.member_id.as_str(), "mé/\n😀");
        let EventBody::Order(o) = e.body else {
            panic!()
        };
        assert_eq!(o.order_key, stable_hash("o-1"));
        assert_eq!(o.category, Category::Home);
    }

    #[test]
    fn escaped_field_names_are_recognised() {
        let e = ok(r#"{"event_id":"e","\u006dember_id":"m","\u0074s":0,"type":"login"}"#);
        assert_eq!(e.member_id.as_str(), "m");
    }

    #[test]
    fn long_ids_are_kept_whole() {
        let long = "m".repeat(100);
        let e = ok(&format!(
            r#"{{"event_id":"e","member_id":"{long}","ts":0,"type":"login"}}"#
        ));
        assert_eq!(e.member_id.as_str(), long);
    }

    // ---- properties ----

    /// The generator's workload takes the fast path throughout, with the general path's
    /// result.
    #[test]
    fn generated_lines_take_the_fast_path_with_the_same_result() {
        use crate::generate::{GenerateOptions, Workload};
        let mut workload = Workload::new(&GenerateOptions {
            members: 300,
            ..GenerateOptions::default()
        });
        let mut line = Vec::new();
        let mut lines = 0;
        while workload.next_into(&mut line).is_some() {
            let general = JsonDecoder::decode_general(&line).ok();
            assert!(general.is_some(), "{}", String::from_utf8_lossy(&line));
            assert_eq!(fast::decode(&line), general);
            lines += 1;
        }
        assert!(lines > 1000);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            // Any outcome is fine as long as it is a value, not a panic.
            let _ = JsonDecoder::new(256).decode(&bytes);
        }

        #[test]
        fn json_like_text_never_panics(text in r#"[{}\[\]":, 0-9a-z_.\-+eE\\]{0,200}"#) {
            let _ = decode(&text);
        }

        #[test]
        fn mutated_valid_messages_never_panic(
            which in 0usize..5,
            at in any::<proptest::sample::Index>(),
            insert in proptest::collection::vec(any::<u8>(), 0..8),
            cut in 0usize..4,
        ) {
            let mut bytes = format!("{{{}}}", valid_bodies()[which].1).into_bytes();
            let at = at.index(bytes.len());
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, insert);
            let _ = decoder().decode(&bytes);
        }

        /// Wherever the fast path answers, it answers exactly what the general path does.
        #[test]
        fn the_fast_path_agrees_with_the_general_path(
            which in 0usize..5,
            at in any::<proptest::sample::Index>(),
            insert in r#"[{}\[\]":, 0-9a-z_.\-+eETZ\\é]{0,6}"#,
            cut in 0usize..4,
        ) {
            let mut bytes = format!("{{{}}}", valid_bodies()[which].1).into_bytes();
            let general = JsonDecoder::decode_general(&bytes).map_err(|r| r.to_string());
            prop_assert_eq!(fast::decode(&bytes), general.ok());
            let at = at.index(bytes.len());
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, insert.bytes());
            if let Some(event) = fast::decode(&bytes) {
                let general = JsonDecoder::decode_general(&bytes).map_err(|r| r.to_string());
                prop_assert_eq!(Ok(event), general);
            }
        }

        #[test]
        fn amounts_round_trip_exactly(n in 0i64..1_000_000_000_000) {
            let yuan = format!("{}.{:02}", n / 100, n % 100);
            for json in [format!("\"{yuan}\""), yuan.clone()] {
                let e = decode(&order_with_amount(&json)).map_err(|r| TestCaseError::fail(r.to_string()))?;
                let EventBody::Order(o) = e.body else { return Err(TestCaseError::fail("not an order")) };
                prop_assert_eq!(o.amount, Fen(n));
            }
            let e = decode(&refund_with_amount(&yuan)).map_err(|r| TestCaseError::fail(r.to_string()))?;
            let EventBody::AfterSales(a) = e.body else { return Err(TestCaseError::fail("not after_sales")) };
            prop_assert_eq!(a.refund, Some(Fen(n)));
        }
    }
}
