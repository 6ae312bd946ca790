//! A generic webhook: `POST {url}` with a JSON batch of alerts, signed the Standard
//! Webhooks way: headers `webhook-id`, `webhook-timestamp` (seconds) and
//! `webhook-signature` = `v1,` + Base64 of HMAC-SHA256 over `id.timestamp.body`, keyed by
//! the secret (`whsec_` + Base64 of the key, or the key's bytes as given). No rate limit;
//! at most 100 alerts a batch.

use base64::Engine as _;
use serde_json::{json, Value};

use super::super::directory::{Desk, Directory};
use super::super::local_time::format_local;
use super::super::policy::{Item, Message, MessageKind};
use super::{text, Limits, Page};

pub const LIMITS: Limits = Limits {
    content_bytes: usize::MAX,
    rate: None,
};

/// Alerts in one batch.
pub const BATCH: usize = 100;

fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Immediate => "immediate",
        MessageKind::AfterQuietHours => "after_quiet_hours",
        MessageKind::Digest => "digest",
        MessageKind::Merged => "merged",
    }
}

fn item_json(dir: &Directory, desk: &Desk, item: &Item) -> Value {
    match item {
        Item::Alert { alert, fallback } => json!({
            "warning_id": alert.warning_id,
            "kind": alert.kind.name(),
            "severity": alert.severity.name(),
            "member_id": alert.member_id,
            "group_id": alert.group_id,
            "tutor_id": alert.tutor_id,
            "from": alert.from,
            "to": alert.to,
            "event_time": alert.event_time.to_rfc3339(),
            "local_time": format_local(desk.time_zone, alert.event_time),
            "figures": alert.figures,
            "action": alert.action,
            "link": text::link(dir, alert),
            "fallback": fallback.map(|f| f.text()),
        }),
        Item::TutorLeft {
            tutor_id,
            tutor_name,
            group_id,
            at,
        } => json!({
            "warning_id": item.id(),
            "kind": "TUTOR_LEFT",
            "severity": "WARNING",
            "group_id": group_id,
            "tutor_id": tutor_id,
            "tutor_name": tutor_name,
            "event_time": at.to_rfc3339(),
        }),
    }
}

/// The message as batches of at most [`BATCH`] alerts.
pub fn pages(dir: &Directory, desk: &Desk, message: &Message) -> Vec<Page> {
    message
        .items
        .chunks(BATCH)
        .map(|chunk| {
            let batch = json!({
                "type": "churnwatch.alerts",
                "message": kind_name(message.kind),
                "tutor_id": desk.tutor_id,
                "desk": desk.name,
                "released_at": message.at.to_rfc3339(),
                "alerts": chunk.iter().map(|i| item_json(dir, desk, i)).collect::<Vec<_>>(),
            });
            Page {
                content: batch.to_string(),
                items: chunk.len(),
            }
        })
        .collect()
}

/// The `webhook-signature` header for a delivery.
pub fn signature(id: &str, timestamp_s: i64, body: &str, secret: &str) -> String {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| b64.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    };
    let mac = super::hmac_sha256(&key, format!("{id}.{timestamp_s}.{body}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
    format!("v1,{b64}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        assert_eq!(
            signature(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#,
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
