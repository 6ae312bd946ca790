//! What a message says, as text: shared by the chat channels, each with its own markup
//! ([`Markup`]). Every alert says who, what changed, the figures that matter, the
//! recommended action and a link to the member (or group) on the tutor page, with times
//! on the desk's own clock.

use super::super::alert::Alert;
use super::super::directory::{Desk, Directory};
use super::super::local_time::format_local;
use super::super::policy::{Item, Message, MessageKind};
use crate::engine::WarningKind;

/// How a chat channel marks text up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Markup {
    /// `**bold**`, `[text](url)`: WeCom and DingTalk markdown.
    Markdown,
    /// `*bold*`, `<url|text>`: Slack's mrkdwn.
    Slack,
}

impl Markup {
    fn bold(self, text: &str) -> String {
        match self {
            Markup::Markdown => format!("**{text}**"),
            Markup::Slack => format!("*{text}*"),
        }
    }

    fn link(self, text: &str, url: &str) -> String {
        match self {
            Markup::Markdown => format!("[{text}]({url})"),
            Markup::Slack => format!("<{url}|{text}>"),
        }
    }
}

/// The page a warning's subject is shown on.
pub fn link(dir: &Directory, alert: &Alert) -> Option<String> {
    let tutor = alert.tutor_id.as_deref()?;
    let anchor = match (&alert.member_id, &alert.group_id) {
        (Some(m), _) => format!("member-{m}"),
        (None, Some(g)) => format!("group-{g}"),
        (None, None) => return None,
    };
    Some(format!("{}/{tutor}#{anchor}", dir.page_url))
}

/// The message's first line.
pub fn header(message: &Message, desk: &Desk, markup: Markup) -> String {
    let n = message.items.len();
    let noun = if n == 1 { "alert" } else { "alerts" };
    let when = format_local(desk.time_zone, message.at);
    match message.kind {
        MessageKind::Immediate => markup.bold(&format!("churnwatch · {}", desk.name)),
        MessageKind::AfterQuietHours => markup.bold(&format!(
            "{n} {noun} from your quiet hours ({}) · {}",
            desk.quiet_hours, desk.name
        )),
        MessageKind::Digest => {
            markup.bold(&format!("Digest for {}, {when}: {n} {noun}", desk.name))
        }
        MessageKind::Merged => {
            let fell = message
                .items
                .iter()
                .filter_map(Item::alert)
                .filter(|a| a.kind == WarningKind::SegmentDowngrade)
                .count();
            let falls = match fell {
                0 => String::new(),
                1 => ": 1 member fell".to_owned(),
                k => format!(": {k} members fell"),
            };
            markup.bold(&format!(
                "{n} more {noun} while this channel was at its rate limit{falls}"
            ))
        }
    }
}

/// The start of the warning id, as a reference a tutor can quote and a receiver can
/// match a repeat by ("ref 83dbd50b08e6"): a whole id would cost 32 of WeCom's 4096 bytes.
pub fn short_ref(warning_id: &str) -> &str {
    let end = warning_id
        .char_indices()
        .nth(REF_CHARS)
        .map_or(warning_id.len(), |(i, _)| i);
    &warning_id[..end]
}

/// Characters of a warning id in a chat message's reference.
pub const REF_CHARS: usize = 12;

/// One item, as a few lines.
pub fn item(dir: &Directory, desk: &Desk, item: &Item, markup: Markup) -> String {
    match item {
        Item::Alert { alert, fallback } => {
            let mut lines = Vec::new();
            lines.push(format!(
                "{} · {} · {} · ref {}",
                markup.bold(alert.severity.name()),
                alert.kind.name(),
                format_local(desk.time_zone, alert.event_time),
                short_ref(&alert.warning_id)
            ));
            let change = match (&alert.from, &alert.to) {
                (Some(f), Some(t)) => format!("{f} → {t}"),
                (None, Some(t)) => format!("now {t}"),
                _ => String::new(),
            };
            let subject = match (&alert.member_id, &alert.group_id) {
                (Some(m), Some(g)) => format!("Member {} (group {g})", markup.bold(m)),
                (Some(m), None) => format!("Member {}", markup.bold(m)),
                (None, Some(g)) => format!("Group {}", markup.bold(g)),
                (None, None) => "—".to_owned(),
            };
            lines.push(format!("{subject}: {change}"));
            let figures = figures(alert);
            if !figures.is_empty() {
                lines.push(figures);
            }
            if let Some(why) = fallback {
                let tutor = alert.tutor_id.as_deref().unwrap_or("none");
                lines.push(format!("For tutor {tutor} ({}).", why.text()));
            }
            if !alert.action.is_empty() {
                lines.push(format!("Action: {}", alert.action));
            }
            if let Some(url) = link(dir, alert) {
                lines.push(markup.link("Open on the tutor page", &url));
            }
            lines.join("\n")
        }
        Item::TutorLeft {
            tutor_id,
            tutor_name,
            group_id,
            at,
        } => format!(
            "{} · TUTOR_LEFT · {}\nGroup {} has lost its tutor {tutor_name} ({tutor_id}): its \
             warnings come here now. Tutor turnover is a cause of churn: assign a new tutor.",
            markup.bold("WARNING"),
            format_local(desk.time_zone, *at),
            markup.bold(group_id)
        ),
    }
}

/// The figures that matter for the warning's kind, on one line.
fn figures(a: &Alert) -> String {
    let f = |name: &str| a.figure(name);
    let mut parts = Vec::new();
    if a.kind.is_group() {
        if let (Some(act), Some(bench)) = (f("activity"), f("benchmark")) {
            parts.push(format!("activity {act} % against a benchmark of {bench} %"));
        }
        if let (Some(active), Some(members)) = (f("active"), f("members")) {
            parts.push(format!("{active} of {members} active"));
        }
        match f("members_needed").as_deref() {
            None | Some("0") => {}
            Some("1") => parts.push("needs 1 more active member".into()),
            Some(n) => parts.push(format!("needs {n} more active members")),
        }
        if let (Some(out), Some(target)) = (f("output_per_active"), f("output_target")) {
            parts.push(format!("¥{out} per active member (target ¥{target})"));
        }
        if let Some(w) = f("weakest_categories").filter(|w| !w.is_empty()) {
            parts.push(format!("weakest: {w}"));
        }
    } else {
        if let Some(r) = f("recency_days") {
            parts.push(format!("last order {r} d ago"));
        }
        if let Some(m30) = f("m30") {
            parts.push(format!("¥{m30} in 30 d"));
        }
        match f("f90").as_deref() {
            Some("1") => parts.push("1 order in 90 d".into()),
            Some(n) => parts.push(format!("{n} orders in 90 d")),
            None => {}
        }
        if let Some(n) = f("recall_attempt") {
            parts.push(format!("recall attempt {n}"));
        }
        if let Some(d) = f("days_since_login") {
            parts.push(format!("no login for {d} d"));
        }
        if let (Some(t), Some(h)) = (f("ticket_id"), f("ticket_open_hours")) {
            parts.push(format!("ticket {t} open {h} h"));
        }
    }
    parts.join(" · ")
}

/// A message as pages of at most `limit` bytes: the header, then whole items, as many
/// as fit; an item longer than a page on its own is cut at a character boundary. Each
/// page says how many of the message's items it carries, in order.
pub fn pages(
    dir: &Directory,
    desk: &Desk,
    message: &Message,
    markup: Markup,
    limit: usize,
) -> Vec<(String, usize)> {
    let mut pages = Vec::new();
    let mut current = header(message, desk, markup);
    let mut count = 0;
    for it in &message.items {
        let mut text = item(dir, desk, it, markup);
        let sep = "\n\n";
        if count > 0 && current.len() + sep.len() + text.len() > limit {
            pages.push((std::mem::take(&mut current), count));
            current = markup.bold("(continued)");
            count = 0;
        }
        let room = limit.saturating_sub(current.len() + sep.len());
        if text.len() > room {
            let mut cut = room.saturating_sub('…'.len_utf8());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        current.push_str(sep);
        current.push_str(&text);
        count += 1;
    }
    if count > 0 {
        pages.push((current, count));
    }
    pages
}
