//! `churnwatch notify --input warnings.jsonl --dry-run --directory tutors.toml`: the
//! messages each tutor would get from a file of warnings (the JSON lines `replay` writes),
//! printed instead of sent, for trying a directory out. Time is the warnings' own: each
//! is offered at its `emitted_at`, and what quiet hours, digests and rate limits hold back
//! is released at the instants it would be, until nothing waits.

use std::io::{BufRead, Write};

use crate::model::EventTime;
use crate::notify::local_time::format_local;
use crate::notify::{Alert, Directory, MessageKind, Outbox, Payload, Policy};

/// How many warning ids the dry run remembers to tell repeats (as the notifier will).
pub const RECENT_IDS: usize = 100_000;

/// What a dry run saw, for its summary.
#[derive(Debug, Default)]
pub struct DryRun {
    pub lines: u64,
    /// Lines that are not warnings, with their line numbers and reasons.
    pub refused: Vec<(u64, String)>,
    pub payloads: u64,
}

/// Runs `input` through the policy and prints every payload to `out`.
pub fn dry_run(
    dir: &Directory,
    input: impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<(DryRun, Policy, Outbox)> {
    let mut policy = Policy::new(RECENT_IDS);
    let mut outbox = Outbox::default();
    let mut seen = DryRun::default();
    let mut messages = Vec::new();
    let mut payloads = Vec::new();
    let mut clock = EventTime::MIN;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        seen.lines += 1;
        if line.trim().is_empty() {
            continue;
        }
        let alert = match Alert::from_json(line.as_bytes()) {
            Ok(a) => a,
            Err(e) => {
                seen.refused.push((n as u64 + 1, e.to_string()));
                continue;
            }
        };
        // The warnings' clock never runs back, whatever order a file has them in.
        let now = alert.emitted_at.max(clock);
        release_until(dir, &mut policy, &mut outbox, now, &mut payloads);
        policy.offer(dir, alert, now, &mut messages);
        for m in messages.drain(..) {
            outbox.push(&m);
        }
        outbox.poll(dir, now, &mut payloads);
        clock = now;
        print(dir, &mut payloads, out, &mut seen)?;
    }
    // The end of the file: everything held is released when it would be.
    release_until(dir, &mut policy, &mut outbox, EventTime::MAX, &mut payloads);
    print(dir, &mut payloads, out, &mut seen)?;
    Ok((seen, policy, outbox))
}

/// Steps through every instant up to `until` at which something held becomes due.
fn release_until(
    dir: &Directory,
    policy: &mut Policy,
    outbox: &mut Outbox,
    until: EventTime,
    payloads: &mut Vec<Payload>,
) {
    let mut messages = Vec::new();
    while let Some(at) = [policy.next_due(), outbox.next_due(dir)]
        .into_iter()
        .flatten()
        .min()
        .filter(|at| *at <= until)
    {
        policy.tick(dir, at, &mut messages);
        for m in messages.drain(..) {
            outbox.push(&m);
        }
        outbox.poll(dir, at, payloads);
    }
}

fn print(
    dir: &Directory,
    payloads: &mut Vec<Payload>,
    out: &mut impl Write,
    seen: &mut DryRun,
) -> anyhow::Result<()> {
    for p in payloads.drain(..) {
        seen.payloads += 1;
        let desk = dir.desk(&p.desk).unwrap_or(&dir.fallback);
        let who = match &desk.tutor_id {
            Some(id) => format!("{} ({id})", desk.name),
            None => desk.name.clone(),
        };
        let kind = match p.message {
            MessageKind::Immediate => "immediate",
            MessageKind::AfterQuietHours => "after quiet hours",
            MessageKind::Digest => "digest",
            MessageKind::Merged => "merged (rate limit)",
        };
        let n = p.ids.len();
        writeln!(
            out,
            "── {} · to {who} · {} channel {} · {kind} · {n} alert{}",
            format_local(desk.time_zone, p.at),
            p.kind.name(),
            p.channel,
            if n == 1 { "" } else { "s" }
        )?;
        writeln!(out, "{}\n", p.content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Li Na (t1) on the WeCom robot `li`, on the default Shanghai clock and quiet hours.
    use crate::notify::policy::tests::DIRECTORY;

    fn line(id: &str, severity: &str, kind: &str, at: &str, notify: bool) -> String {
        format!(
            r#"{{"warning_id":"{id}","kind":"{kind}","severity":"{severity}","member_id":"m-{id}","group_id":"g1","tutor_id":"t1","from":"important_value","to":"general_value","event_time":"{at}","emitted_at":"{at}","figures":{{"recency_days":14,"f30":1,"m30":"120.00","f90":3,"lifetime_orders":9,"lifetime_amount":"2000.00"}},"action":"personal call today","notify":{notify}}}"#
        )
    }

    /// The whole path on a small file: a CRITICAL at night goes at once, a WARNING waits
    /// for 08:00, a NOTICE for the 09:00 digest, a capped one never goes, a bad line is
    /// reported by number; each message says who, what, the figures, the action and the
    /// link, on the tutor's clock.
    #[test]
    fn a_dry_run_prints_what_each_tutor_would_get_and_when() {
        let dir = Directory::from_toml(DIRECTORY).unwrap();
        let input = [
            line(
                "c1",
                "CRITICAL",
                "SEGMENT_DOWNGRADE",
                "2026-03-01T15:00:00.000Z",
                true,
            ),
            line(
                "w1",
                "WARNING",
                "SEGMENT_DOWNGRADE",
                "2026-03-01T16:00:00.000Z",
                true,
            ),
            "not json".to_owned(),
            line(
                "n1",
                "NOTICE",
                "RECALL_DUE",
                "2026-03-01T17:00:00.000Z",
                true,
            ),
            line(
                "x1",
                "WARNING",
                "SEGMENT_DOWNGRADE",
                "2026-03-01T18:00:00.000Z",
                false,
            ),
        ]
        .join("\n");
        let mut out = Vec::new();
        let (seen, policy, _) = dry_run(&dir, input.as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(seen.refused.len(), 1);
        assert_eq!(seen.refused[0].0, 3, "the bad line's number");
        assert_eq!(seen.payloads, 3, "{text}");
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("──")).collect();
        assert_eq!(
            headers,
            vec![
                "── 2026-03-01 23:00 CST · to Li Na (t1) · wecom channel li · immediate · 1 alert",
                "── 2026-03-02 08:00 CST · to Li Na (t1) · wecom channel li · after quiet hours · 1 alert",
                "── 2026-03-02 09:00 CST · to Li Na (t1) · wecom channel li · digest · 1 alert",
            ]
        );
        for needle in [
            "**CRITICAL** · SEGMENT_DOWNGRADE · 2026-03-01 23:00 CST",
            "Member **m-c1** (group g1): important_value → general_value",
            "last order 14 d ago · ¥120.00 in 30 d · 3 orders in 90 d",
            "Action: personal call today",
            "[Open on the tutor page](https://retention.example.com/tutors/t1#member-m-c1)",
            "**NOTICE** · RECALL_DUE · 2026-03-02 01:00 CST",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("m-x1"), "a capped warning reaches no tutor");
        assert_eq!(policy.counts.not_notified, 1);
        assert_eq!(policy.waiting(), 0);
    }
}
