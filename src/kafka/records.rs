//! What churnwatch writes to Kafka, as keys, payloads and headers: warnings (Protobuf or
//! JSON) and dead letters.

use prost::Message as _;
use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::config::Encoding;
use crate::engine::Warning;
use crate::output::{to_protobuf, JsonWriter, WARNING_SCHEMA};
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

pub struct WarningRecord {
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
}

pub struct WarningEncoder {
    encoding: Encoding,
    json: JsonWriter,
}

impl WarningEncoder {
    pub fn new(encoding: Encoding) -> Self {
        WarningEncoder {
            encoding,
            json: JsonWriter::new(),
        }
    }

    pub fn encode(&mut self, w: &Warning) -> WarningRecord {
        // Member warnings are keyed by member, group warnings by group: each subject's
        // warnings stay in order on one partition.
        let key = match (&w.member_id, &w.group_id) {
            (Some(m), _) => m.as_str().to_owned(),
            (None, Some(g)) => g.as_str().to_owned(),
            (None, None) => String::new(),
        };
        let (payload, schema) = match self.encoding {
            Encoding::Protobuf => (to_protobuf(w).encode_to_vec(), WARNING_SCHEMA),
            Encoding::Json => {
                let line = self.json.line(w);
                // One message per warning: the line's `\n` is a file separator.
                let body = line.strip_suffix(b"\n").unwrap_or(line);
                (body.to_vec(), JSON_SCHEMA)
            }
        };
        let id = w.id.to_string();
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: SCHEMA_HEADER,
                value: Some(schema),
            })
            .insert(Header {
                key: WARNING_ID_HEADER,
                value: Some(&id),
            });
        WarningRecord {
            key,
            payload,
            headers,
        }
    }
}

/// The original message's headers, followed by the dead-letter headers.
pub fn dead_letter_headers(
    original: Option<&impl Headers>,
    rejection: &Rejection,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = original {
        for h in original.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
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
