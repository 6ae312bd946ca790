//! What churnwatch writes to Kafka, as keys, payloads and headers: warnings (Protobuf or
//! JSON) and dead letters.

use prost::Message as _;
use rdkafka::message::{BorrowedHeaders, Header, OwnedHeaders};

use crate::config::Encoding;
use crate::engine::Warning;
use crate::output::{fill_protobuf, JsonWriter, WARNING_SCHEMA};
use crate::proto::v1;
use crate::reject::Rejection;

/// Header naming the payload's schema: `churnwatch.v1.Warning`, or
/// `churnwatch.warning.json` for the JSON form of SPEC §7.
pub const SCHEMA_HEADER: &str = "churnwatch.schema";
pub const JSON_SCHEMA: &str = "churnwatch.warning.json";
/// The warning's deterministic id, so a consumer can de-duplicate without decoding.
pub const WARNING_ID_HEADER: &str = "churnwatch.warning_id";

/// Dead-letter headers (SPEC §2): why, and where the message came from.
pub const DLQ_REASON: &str = "churnwatch.reason";
pub const DLQ_DETAIL: &str = "churnwatch.detail";
pub const DLQ_TOPIC: &str = "churnwatch.source.topic";
pub const DLQ_PARTITION: &str = "churnwatch.source.partition";
pub const DLQ_OFFSET: &str = "churnwatch.source.offset";

pub struct WarningRecord<'a> {
    pub key: &'a str,
    pub payload: &'a [u8],
    pub headers: OwnedHeaders,
}

/// Encodes warnings into buffers it keeps: the producer copies each record, so nothing
/// needs a fresh allocation per warning.
pub struct WarningEncoder {
    encoding: Encoding,
    json: JsonWriter,
    message: v1::Warning,
    key: String,
    payload: Vec<u8>,
    id: String,
}

impl WarningEncoder {
    pub fn new(encoding: Encoding) -> Self {
        WarningEncoder {
            encoding,
            json: JsonWriter::new(),
            message: v1::Warning::default(),
            key: String::new(),
            payload: Vec::new(),
            id: String::new(),
        }
    }

    /// `w` as a record; the borrowed parts are valid until the next call.
    pub fn encode(&mut self, w: &Warning) -> WarningRecord<'_> {
        use std::fmt::Write as _;
        // Member warnings are keyed by member, group warnings by group: each subject's
        // warnings stay in order on one partition.
        self.key.clear();
        if let Some(subject) = w
            .member_id
            .as_ref()
            .map(|m| m.as_str())
            .or(w.group_id.as_ref().map(|g| g.as_str()))
        {
            self.key.push_str(subject);
        }
        self.payload.clear();
        let schema = match self.encoding {
            Encoding::Protobuf => {
                fill_protobuf(w, &mut self.message);
                // Encoding into a Vec only fails for lack of capacity, and a Vec grows.
                let _ = self.message.encode(&mut self.payload);
                WARNING_SCHEMA
            }
            Encoding::Json => {
                let line = self.json.line(w);
                // One message per warning: the line's `\n` is a file separator.
                self.payload
                    .extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
                JSON_SCHEMA
            }
        };
        self.id.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.id, "{}", w.id);
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: SCHEMA_HEADER,
                value: Some(schema),
            })
            .insert(Header {
                key: WARNING_ID_HEADER,
                value: Some(&self.id),
            });
        WarningRecord {
            key: &self.key,
            payload: &self.payload,
            headers,
        }
    }
}

/// The original message's headers, followed by the dead-letter headers.
pub fn dead_letter_headers(
    original: Option<&BorrowedHeaders>,
    rejection: &Rejection,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OwnedHeaders {
    let headers = original.map_or_else(OwnedHeaders::new, BorrowedHeaders::detach);
    let partition = partition.to_string();
    let offset = offset.to_string();
    headers
        .insert(Header {
            key: DLQ_REASON,
            value: Some(rejection.reason.code()),
        })
        .insert(Header {
            key: DLQ_DETAIL,
            value: Some(&rejection.detail),
        })
        .insert(Header {
            key: DLQ_TOPIC,
            value: Some(topic),
        })
        .insert(Header {
            key: DLQ_PARTITION,
            value: Some(&partition),
        })
        .insert(Header {
            key: DLQ_OFFSET,
            value: Some(&offset),
        })
}
