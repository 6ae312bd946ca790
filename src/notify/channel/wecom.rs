//! WeCom (企业微信) group robot: `POST {url}?key={key}` with
//! `{"msgtype":"markdown","markdown":{"content":…}}`; content at most 4096 bytes; 20
//! messages a minute per robot, beyond which it answers errcode 45009.

use serde_json::{json, Value};

use super::Limits;
use crate::model::Span;

pub const LIMITS: Limits = Limits {
    content_bytes: 4096,
    rate: Some((20, Span::minutes(1))),
};

/// The errcode of a robot over its rate limit.
pub const RATE_LIMITED: i64 = 45009;

pub fn body(content: &str) -> Value {
    json!({"msgtype": "markdown", "markdown": {"content": content}})
}

/// The robot's address for `key`.
pub fn url(base: &str, key: &str) -> String {
    let encoded: String =
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("{base}?key={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_markdown_message_in_the_robots_envelope() {
        assert_eq!(
            body("**hi**").to_string(),
            r#"{"markdown":{"content":"**hi**"},"msgtype":"markdown"}"#
        );
        assert_eq!(
            url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "a-b/c"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a%2Db%2Fc"
        );
    }
}
