//! The receivers churnwatch delivers to, one small module each: what a message looks like
//! there (its markup, its envelope), its limits (message size, messages a minute) and how
//! it is signed. The pages a message becomes are computed here; sending them is the
//! delivery edge's business.
//!
//! | kind | module | a page | rate |
//! |---|---|---|---|
//! | WeCom group robot | `wecom` | markdown, ≤ 4096 bytes | 20 a minute per robot |
//! | DingTalk robot | `dingtalk` | markdown, ≤ 20 000 bytes | 20 a minute per robot |
//! | Slack incoming webhook | `slack` | mrkdwn, ≤ 40 000 bytes | 1 a second (429 Retry-After beyond) |
//! | generic webhook | `webhook` | a JSON batch of ≤ 100 alerts | none |

pub mod dingtalk;
pub mod slack;
pub mod text;
pub mod webhook;
pub mod wecom;

use super::directory::{ChannelKind, Desk, Directory};
use super::policy::Message;
use crate::model::Span;

/// HMAC-SHA256 of `message` under `key`, as DingTalk and Standard Webhooks sign.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// What a receiver accepts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of content one message may carry.
    pub content_bytes: usize,
    /// At most this many messages per this window, if the receiver limits them.
    pub rate: Option<(u32, Span)>,
}

pub fn limits(kind: ChannelKind) -> Limits {
    match kind {
        ChannelKind::Wecom => wecom::LIMITS,
        ChannelKind::Dingtalk => dingtalk::LIMITS,
        ChannelKind::Slack => slack::LIMITS,
        ChannelKind::Webhook => webhook::LIMITS,
    }
}

/// One message as the receiver gets it: its content (markdown, mrkdwn or a JSON batch)
/// and how many of the message's items, in order, it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub content: String,
    pub items: usize,
}

/// The pages `message` becomes on a channel of `kind`, for `desk`.
pub fn pages(kind: ChannelKind, dir: &Directory, desk: &Desk, message: &Message) -> Vec<Page> {
    let limit = limits(kind).content_bytes;
    let chat = |markup| {
        text::pages(dir, desk, message, markup, limit)
            .into_iter()
            .map(|(content, items)| Page { content, items })
            .collect()
    };
    match kind {
        ChannelKind::Wecom | ChannelKind::Dingtalk => chat(text::Markup::Markdown),
        ChannelKind::Slack => chat(text::Markup::Slack),
        ChannelKind::Webhook => webhook::pages(dir, desk, message),
    }
}
