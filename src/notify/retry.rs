//! What a receiver's answer means, and when to try again. Pure: the sender passes the
//! answer, the attempt number and a random draw in, so every rule of retrying is tested
//! without a network.
//!
//! - 2xx is delivered, except where a robot answers 200 with an error code in its body
//!   (WeCom, DingTalk): code 0 is delivered, the robot's rate-limit code and WeCom's
//!   "system busy" (-1) are tried again, any other code is permanent;
//! - 429 and the robots' rate-limit codes are tried again no sooner than the receiver
//!   asks (`Retry-After` in seconds or an HTTP date) or, without that, than its window;
//! - 5xx, 408, timeouts and connection failures are tried again after exponential backoff
//!   with jitter;
//! - any other 4xx (a wrong key, a removed robot, a malformed request) is permanent: the
//!   payload is dead-lettered with the answer as its reason.

use std::time::Duration;

use super::channel;
use super::directory::ChannelKind;

/// A receiver's answer to one attempt.
#[derive(Clone, Debug)]
pub enum Answer<'a> {
    Http {
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<&'a str>,
        body: &'a [u8],
    },
    /// No answer within the timeout.
    Timeout,
    /// No connection (refused, reset, DNS).
    Unreachable(String),
}

/// What the sender does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again, no sooner than `not_before` if the receiver said so.
    Retry {
        reason: RetryReason,
        detail: String,
        not_before: Option<Duration>,
    },
    /// Trying again cannot help.
    Permanent(String),
}

/// Why an attempt is repeated (a metric label, so a closed set).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RetryReason {
    RateLimited,
    ServerError,
    Timeout,
    Unreachable,
}

impl RetryReason {
    pub const ALL: [RetryReason; 4] = [
        RetryReason::RateLimited,
        RetryReason::ServerError,
        RetryReason::Timeout,
        RetryReason::Unreachable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Unreachable => "unreachable",
        }
    }
}

/// The error code a robot answers in a 200's body.
#[derive(serde::Deserialize)]
struct RobotAnswer {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// The first bytes of a body, for a reason that says what the receiver said.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}

/// `Retry-After` as seconds or an HTTP date, relative to `now_unix_s`.
pub fn parse_retry_after(value: &str, now_unix_s: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value)
        .ok()?
        .timestamp();
    Some(Duration::from_secs(
        at.saturating_sub(now_unix_s).max(0) as u64
    ))
}

/// Judges one answer from a channel of `kind`; `now_unix_s` reads HTTP-date `Retry-After`s.
pub fn judge(kind: ChannelKind, answer: &Answer<'_>, now_unix_s: i64) -> Verdict {
    let window = || {
        channel::limits(kind)
            .rate
            .map(|(_, w)| Duration::from_millis(w.as_millis().max(0) as u64))
    };
    let retry = |reason, detail: String, not_before| Verdict::Retry {
        reason,
        detail,
        not_before,
    };
    match *answer {
        Answer::Timeout => retry(RetryReason::Timeout, "no answer in time".into(), None),
        Answer::Unreachable(ref why) => retry(RetryReason::Unreachable, why.clone(), None),
        Answer::Http {
            status: 429,
            retry_after,
            body,
        } => retry(
            RetryReason::RateLimited,
            format!("HTTP 429 {}", snippet(body)),
            retry_after
                .and_then(|v| parse_retry_after(v, now_unix_s))
                .or_else(window),
        ),
        Answer::Http { status, body, .. } if status >= 500 || status == 408 => retry(
            RetryReason::ServerError,
            format!("HTTP {status} {}", snippet(body)),
            None,
        ),
        Answer::Http { status, body, .. } if !(200..300).contains(&status) => {
            Verdict::Permanent(format!("HTTP {status} {}", snippet(body)))
        }
        Answer::Http { body, .. } => {
            let rate_code = match kind {
                ChannelKind::Wecom => channel::wecom::RATE_LIMITED,
                ChannelKind::Dingtalk => channel::dingtalk::RATE_LIMITED,
                ChannelKind::Slack | ChannelKind::Webhook => return Verdict::Delivered,
            };
            match serde_json::from_slice::<RobotAnswer>(body) {
                Ok(a) if a.errcode == 0 => Verdict::Delivered,
                Ok(a) if a.errcode == rate_code => retry(
                    RetryReason::RateLimited,
                    format!("errcode {}: {}", a.errcode, a.errmsg),
                    window(),
                ),
                Ok(a) if a.errcode == -1 => retry(
                    RetryReason::ServerError,
                    format!("errcode -1: {}", a.errmsg),
                    None,
                ),
                Ok(a) => Verdict::Permanent(format!("errcode {}: {}", a.errcode, a.errmsg)),
                Err(_) => Verdict::Permanent(format!(
                    "a {} robot answered 2xx without an errcode: {}",
                    kind.name(),
                    snippet(body)
                )),
            }
        }
    }
}

/// Exponential backoff with jitter: attempt `n` (0-based) waits a draw from
/// `[d/2, d]`, `d = min(max, base · 2^n)`, so that receivers coming back are not hit by
/// every notifier at the same instant ("equal jitter"), and never less than half the
/// step, so that a retry storm cannot form either.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before attempt `attempt + 1`, for a uniform draw `unit` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = step / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait after a verdict: the backoff, or longer if the receiver asked for it.
    pub fn after(&self, attempt: u32, unit: f64, not_before: Option<Duration>) -> Duration {
        let backoff = self.delay(attempt, unit);
        not_before.map_or(backoff, |asked| asked.max(backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> Verdict {
        judge(
            ChannelKind::Webhook,
            &Answer::Http {
                status,
                retry_after: None,
                body: body.as_bytes(),
            },
            0,
        )
    }

    fn robot(kind: ChannelKind, body: &str) -> Verdict {
        judge(
            kind,
            &Answer::Http {
                status: 200,
                retry_after: None,
                body: body.as_bytes(),
            },
            0,
        )
    }

    fn reason(v: &Verdict) -> Option<RetryReason> {
        match v {
            Verdict::Retry { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn server_errors_timeouts_and_lost_connections_are_tried_again() {
        assert_eq!(reason(&http(503, "down")), Some(RetryReason::ServerError));
        assert_eq!(reason(&http(500, "")), Some(RetryReason::ServerError));
        assert_eq!(reason(&http(408, "")), Some(RetryReason::ServerError));
        let timeout = judge(ChannelKind::Slack, &Answer::Timeout, 0);
        assert_eq!(reason(&timeout), Some(RetryReason::Timeout));
        let refused = judge(
            ChannelKind::Slack,
            &Answer::Unreachable("refused".into()),
            0,
        );
        assert_eq!(reason(&refused), Some(RetryReason::Unreachable));
    }

    #[test]
    fn a_4xx_that_is_not_a_rate_limit_is_permanent() {
        assert_eq!(
            http(404, "no_service"),
            Verdict::Permanent("HTTP 404 no_service".into())
        );
        assert!(matches!(http(400, ""), Verdict::Permanent(_)));
        assert!(matches!(http(403, ""), Verdict::Permanent(_)));
        assert_eq!(http(204, ""), Verdict::Delivered);
    }

    /// Slack's 429 says how long to wait, in seconds or as a date.
    #[test]
    fn a_429_waits_as_long_as_the_receiver_asks() {
        let v = judge(
            ChannelKind::Slack,
            &Answer::Http {
                status: 429,
                retry_after: Some("7"),
                body: b"rate_limited",
            },
            0,
        );
        assert_eq!(
            v,
            Verdict::Retry {
                reason: RetryReason::RateLimited,
                detail: "HTTP 429 rate_limited".into(),
                not_before: Some(Duration::from_secs(7)),
            }
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_470),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    /// The robots answer 200 with an error code: theirs for "over the limit" waits for
    /// the minute, "system busy" retries, anything else (a wrong key) is permanent.
    #[test]
    fn robots_answer_200_with_an_error_code_in_the_body() {
        let ok = r#"{"errcode":0,"errmsg":"ok"}"#;
        assert_eq!(robot(ChannelKind::Wecom, ok), Verdict::Delivered);
        assert_eq!(robot(ChannelKind::Dingtalk, ok), Verdict::Delivered);
        let wecom_limit = robot(
            ChannelKind::Wecom,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
        );
        assert_eq!(
            wecom_limit,
            Verdict::Retry {
                reason: RetryReason::RateLimited,
                detail: "errcode 45009: api freq out of limit".into(),
                not_before: Some(Duration::from_secs(60)),
            }
        );
        let ding_limit = robot(
            ChannelKind::Dingtalk,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
        );
        assert_eq!(reason(&ding_limit), Some(RetryReason::RateLimited));
        assert_eq!(
            reason(&robot(
                ChannelKind::Wecom,
                r#"{"errcode":-1,"errmsg":"busy"}"#
            )),
            Some(RetryReason::ServerError)
        );
        assert_eq!(
            robot(
                ChannelKind::Wecom,
                r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#
            ),
            Verdict::Permanent("errcode 93000: invalid webhook url".into())
        );
        // DingTalk's limit code means nothing to WeCom.
        assert!(matches!(
            robot(ChannelKind::Wecom, r#"{"errcode":130101,"errmsg":"x"}"#),
            Verdict::Permanent(_)
        ));
        assert!(matches!(
            robot(ChannelKind::Dingtalk, "<html>"),
            Verdict::Permanent(_)
        ));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let b = Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(30),
        };
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(1_200));
        assert_eq!(b.delay(20, 1.0), Duration::from_secs(30), "capped");
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(15));
        for attempt in 0..12 {
            let d = b.delay(attempt, 0.37);
            assert!(d <= b.max && d >= b.delay(attempt, 0.0));
        }
        assert_eq!(
            b.after(0, 0.0, Some(Duration::from_secs(7))),
            Duration::from_secs(7),
            "the receiver's Retry-After wins when longer"
        );
        assert_eq!(b.after(0, 1.0, Some(Duration::ZERO)), b.delay(0, 1.0));
    }
}
