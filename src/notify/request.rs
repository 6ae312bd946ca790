//! One payload as the HTTP request its channel expects: the address (with the robot's key
//! or DingTalk's signature in it), the headers (Standard Webhooks' signature), the body in
//! the receiver's envelope. Pure but for reading the channel's secrets, which happens
//! here, at the moment of sending, and nowhere else; a secret never enters an error.

use base64::Engine as _;

use super::channel::{dingtalk, slack, webhook, wecom};
use super::directory::{Channel, ChannelKind, SecretSource, UrlSource};
use super::outbox::Payload;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The idempotency key of a payload, the same on every attempt and after a restart: the
/// warning id when it carries one alert, else a digest of its ids.
pub fn idempotency_key(payload: &Payload) -> String {
    match payload.ids.as_slice() {
        [one] => one.clone(),
        ids => {
            let digest = xxhash_rust::xxh3::xxh3_128(ids.join("\n").as_bytes());
            format!("batch_{digest:032x}")
        }
    }
}

/// A markdown message's title (DingTalk shows it in the notification): its first line,
/// without markup.
fn title(content: &str) -> String {
    let first = content.lines().next().unwrap_or("churnwatch");
    first.replace(['*', '#'], "").trim().to_owned()
}

/// The request for `payload` on `channel` at `now_ms`, reading secrets with `read`.
pub fn build(
    channel: &Channel,
    payload: &Payload,
    now_ms: i64,
    read: impl Fn(&SecretSource) -> anyhow::Result<String>,
) -> anyhow::Result<Request> {
    let base = match &channel.url {
        UrlSource::Plain(url) => url.clone(),
        UrlSource::Secret(source) => read(source)?,
    };
    let secret = || -> anyhow::Result<String> {
        match &channel.secret {
            Some(source) => read(source),
            None => anyhow::bail!(
                "channel `{}` has no secret configured (secret_env or secret_file)",
                channel.name
            ),
        }
    };
    let json = ("content-type", "application/json".to_owned());
    Ok(match channel.kind {
        ChannelKind::Wecom => Request {
            url: wecom::url(&base, &secret()?),
            headers: vec![json],
            body: wecom::body(&payload.content).to_string(),
        },
        ChannelKind::Dingtalk => Request {
            // A robot without "sign" security takes the bare URL.
            url: match channel.secret {
                Some(_) => dingtalk::url(&base, now_ms, &secret()?),
                None => base,
            },
            headers: vec![json],
            body: dingtalk::body(&title(&payload.content), &payload.content).to_string(),
        },
        ChannelKind::Slack => Request {
            url: base,
            headers: vec![json],
            body: slack::body(&payload.content).to_string(),
        },
        ChannelKind::Webhook => {
            let id = idempotency_key(payload);
            let timestamp = now_ms.div_euclid(1000);
            let signature = webhook::signature(&id, timestamp, &payload.content, &secret()?);
            Request {
                url: base,
                headers: vec![
                    json,
                    ("webhook-id", id),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                ],
                body: payload.content.clone(),
            }
        }
    })
}

/// Standard Webhooks' check, as a receiver makes it: the signature over the id, the
/// timestamp and the body verifies under `secret`. For tests and receivers written in Rust.
pub fn verify_webhook(
    id: &str,
    timestamp: &str,
    body: &str,
    signatures: &str,
    secret: &str,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    let expected = webhook::signature(id, ts, body, secret);
    // The header may carry several space-separated signatures (key rotation).
    signatures.split(' ').any(|s| s == expected)
}

/// DingTalk's check: `sign` (URL-decoded) is the Base64 HMAC of `timestamp\nsecret`.
pub fn verify_dingtalk(timestamp: &str, sign: &str, secret: &str) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    let decoded = percent_encoding::percent_decode_str(sign).decode_utf8_lossy();
    let mac = super::channel::hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac) == decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventTime;
    use crate::notify::policy::MessageKind;

    fn channel(kind: ChannelKind, secret: Option<&str>) -> Channel {
        Channel {
            name: "c".into(),
            kind,
            url: UrlSource::Plain("https://receiver.test/hook".into()),
            secret: secret.map(|s| SecretSource::Env(s.into())),
        }
    }

    fn payload(ids: &[&str]) -> Payload {
        Payload {
            channel: "c".into(),
            kind: ChannelKind::Webhook,
            message: MessageKind::Immediate,
            desk: "t1".into(),
            content: "**churnwatch · Li Na**\nbody".into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            emitted: vec![EventTime::from_millis(0); ids.len()],
            at: EventTime::from_millis(0),
        }
    }

    /// Secrets are read by name: the test's reader answers for the names it knows.
    fn secrets(source: &SecretSource) -> anyhow::Result<String> {
        match source {
            SecretSource::Env(name) if name == "KEY" => Ok("k3y".into()),
            SecretSource::Env(name) if name == "WH" => {
                Ok("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into())
            }
            other => anyhow::bail!("{other:?} is not set"),
        }
    }

    #[test]
    fn a_wecom_request_carries_the_key_in_its_address_and_markdown_in_its_body() {
        let r = build(
            &channel(ChannelKind::Wecom, Some("KEY")),
            &payload(&["w1"]),
            0,
            secrets,
        )
        .unwrap();
        assert_eq!(r.url, "https://receiver.test/hook?key=k3y");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"]["content"], "**churnwatch · Li Na**\nbody");
    }

    #[test]
    fn a_dingtalk_request_is_signed_the_way_dingtalk_checks_it() {
        let now = 1_767_225_600_123;
        let r = build(
            &channel(ChannelKind::Dingtalk, Some("KEY")),
            &payload(&["w1"]),
            now,
            secrets,
        )
        .unwrap();
        let query = r.url.split_once('?').unwrap().1;
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_owned()
        };
        assert_eq!(param("timestamp"), now.to_string());
        assert!(verify_dingtalk(&param("timestamp"), &param("sign"), "k3y"));
        assert!(!verify_dingtalk(
            &param("timestamp"),
            &param("sign"),
            "other"
        ));
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["markdown"]["title"], "churnwatch · Li Na");
    }

    #[test]
    fn a_webhook_request_is_signed_the_standard_webhooks_way_with_a_stable_id() {
        let r = build(
            &channel(ChannelKind::Webhook, Some("WH")),
            &payload(&["w1"]),
            1_614_265_330_000,
            secrets,
        )
        .unwrap();
        let header = |k: &str| r.headers.iter().find(|(h, _)| *h == k).unwrap().1.clone();
        assert_eq!(
            header("webhook-id"),
            "w1",
            "the warning id is the idempotency key"
        );
        assert_eq!(header("webhook-timestamp"), "1614265330");
        assert!(verify_webhook(
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &r.body,
            &header("webhook-signature"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        ));
        assert!(!verify_webhook(
            "w2",
            &header("webhook-timestamp"),
            &r.body,
            &header("webhook-signature"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        ));
        let batch = idempotency_key(&payload(&["a", "b"]));
        assert_eq!(
            batch,
            idempotency_key(&payload(&["a", "b"])),
            "the same on every attempt"
        );
        assert_ne!(batch, idempotency_key(&payload(&["a", "c"])));
    }

    /// A missing secret is an error naming where it should be, never the secret.
    #[test]
    fn a_missing_secret_names_its_source() {
        let err = build(
            &channel(ChannelKind::Wecom, Some("NOPE")),
            &payload(&["w1"]),
            0,
            secrets,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("env NOPE"), "{err}");
        let err = build(
            &channel(ChannelKind::Webhook, None),
            &payload(&["w1"]),
            0,
            secrets,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no secret"), "{err}");
    }
}
