//! Slack incoming webhook: `POST {url}` (the URL is the secret) with `{"text":…}` in
//! mrkdwn; about one message a second, beyond which Slack answers HTTP 429 with
//! `Retry-After`, which the sender honours.

use serde_json::{json, Value};

use super::Limits;
use crate::model::Span;

pub const LIMITS: Limits = Limits {
    content_bytes: 40_000,
    rate: Some((1, Span::seconds(1))),
};

pub fn body(text: &str) -> Value {
    json!({ "text": text })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_goes_in_a_text_field() {
        assert_eq!(super::body("*hi*").to_string(), r#"{"text":"*hi*"}"#);
    }
}
