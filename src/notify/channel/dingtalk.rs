//! DingTalk robot: `POST {url}&timestamp={ms}&sign={sign}` (the URL carries the robot's
//! access token, so it is a secret), `sign` the Base64 of HMAC-SHA256 over
//! `timestamp + "\n" + secret` keyed by the secret, URL-encoded; a markdown body with a
//! title; 20 messages a minute, beyond which it answers errcode 130101.

use base64::Engine as _;
use serde_json::{json, Value};

use super::Limits;
use crate::model::Span;

pub const LIMITS: Limits = Limits {
    content_bytes: 20_000,
    rate: Some((20, Span::minutes(1))),
};

/// The errcode of a robot over its rate limit.
pub const RATE_LIMITED: i64 = 130101;

pub fn body(title: &str, text: &str) -> Value {
    json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
}

/// The `sign` parameter for `timestamp_ms`, URL-encoded.
pub fn sign(timestamp_ms: i64, secret: &str) -> String {
    let mac = super::hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
    percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC).collect()
}

/// The robot's address, signed at `timestamp_ms`.
pub fn url(base: &str, timestamp_ms: i64, secret: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}timestamp={timestamp_ms}&sign={}",
        sign(timestamp_ms, secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with DingTalk's own recipe (Python: `quote_plus(b64encode(hmac(...)))`).
    #[test]
    fn the_signature_is_dingtalks() {
        assert_eq!(
            sign(1_577_836_800_000, "SEC0123456789abcdef"),
            "VIkrYXpqM66nY2agvTap17lAqEfAZw77OqD62%2BMh1G0%3D"
        );
        assert_eq!(
            url(
                "https://oapi.dingtalk.com/robot/send?access_token=T",
                1,
                "s"
            ),
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1&sign={}",
                sign(1, "s")
            )
        );
        assert_eq!(body("t", "x")["markdown"]["title"], "t");
    }
}
