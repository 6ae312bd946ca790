//! The two stages (`kafka.topology = "two_stage"`) against the real broker: eight input
//! partitions, instances of two worker threads each joining, killed with -9 and restarted
//! mid-stream. The warnings topic, read `read_committed`, holds exactly the warning ids of
//! `churnwatch replay --partitions 8` over the same input: none missing, none twice. A
//! member's or group's query is answered on every instance by the one running its task.
//! And in live
//! mode an input partition with no records does not hold group warnings back.

mod http_support;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use churnwatch::model::{EventTime, Span};
use churnwatch::partitioner::Partitioner;
use kafka_support::*;
use rdkafka::message::OwnedMessage;
use rdkafka::Message as _;

const PARTITIONS: u32 = 8;

/// The tests' settings for a two-stage instance of `threads` workers. librdkafka's session
/// timeout is left out: under `group.protocol = "consumer"` the broker sets it (6 s in
/// scripts/kafka-local.sh).
fn two_stage_settings(t: &Topics, instance: &str, threads: usize) -> Vec<String> {
    let mut sets: Vec<String> = settings(&t.group, &t.input, "json", &t.warnings, &t.dlq)
        .into_iter()
        .filter(|s| !s.starts_with("kafka.consumer_properties.session.timeout.ms="))
        .collect();
    sets.extend([
        "kafka.topology=two_stage".to_owned(),
        "kafka.delivery=exactly_once".to_owned(),
        format!("kafka.threads={threads}"),
        format!("kafka.instance_id={instance}"),
        // JSON, so that the test can read each warning's event time.
        "kafka.warnings_encoding=json".to_owned(),
    ]);
    sets
}

/// The member-stage and group-stage tasks an instance's workers say they hold now (from
/// the last assignment line of each worker in its log).
fn tasks_held(cw: &Churnwatch) -> usize {
    let log = cw.log_text();
    let mut last = std::collections::BTreeMap::new();
    for l in log.lines() {
        if !(l.contains("partitions assigned") || l.contains("partitions revoked")) {
            continue;
        }
        let thread = field(l, "thread=").unwrap_or_default();
        let held = if l.contains("partitions assigned") {
            list_len(l, "member_tasks=") + list_len(l, "group_tasks=")
        } else {
            0
        };
        last.insert(thread, held);
    }
    last.values().sum()
}

fn field(line: &str, name: &str) -> Option<String> {
    let rest = &line[line.find(name)? + name.len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}

/// The length of a `name=[a, b, …]` list in a log line.
fn list_len(line: &str, name: &str) -> usize {
    let Some(start) = line.find(name) else {
        return 0;
    };
    let rest = &line[start + name.len()..];
    let end = rest.find(']').unwrap_or(rest.len());
    rest[..end]
        .trim_start_matches('[')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .count()
}

/// Waits until `instances` together hold every task (each input partition and each
/// contributions partition once).
fn wait_for_every_task(instances: &[&Churnwatch], what: &str) {
    wait_on_instances(
        instances,
        Duration::from_secs(120),
        &format!("{what}: tasks held"),
        tasks_held,
        |held| held.iter().sum::<usize>() == 2 * PARTITIONS as usize && held.iter().all(|n| *n > 0),
    );
}

/// The contributions partition of a group, as the member stage routes it.
fn group_partition(group: &str) -> u32 {
    churnwatch::engine::group_partition(&churnwatch::model::GroupId::new(group), PARTITIONS)
}

/// The members whose group changes to one on another contributions partition: their
/// removal and their addition go to different group-stage tasks.
fn members_moving_across_group_tasks(lines: &[String]) -> BTreeSet<String> {
    let mut group_of = std::collections::HashMap::new();
    let mut moving = BTreeSet::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("generated lines are JSON");
        let (Some(member), Some(group)) = (v["member_id"].as_str(), v["group_id"].as_str()) else {
            continue;
        };
        if let Some(before) = group_of.insert(member.to_owned(), group.to_owned()) {
            if group_partition(&before) != group_partition(group) {
                moving.insert(member.to_owned());
            }
        }
    }
    moving
}

/// `lines` with one login per input partition two days after their last event, and the
/// instant before which both sides have graded exactly the same: a deployment cannot know
/// that its input has ended, so each partition stops at its own watermark, while the
/// replay advances every partition to the latest one. With the same last event on every
/// partition the two agree on everything a day past the workload's end.
fn closed_on_every_partition(mut lines: Vec<String>) -> (Vec<String>, EventTime) {
    let time = |l: &str| -> EventTime {
        let v: serde_json::Value = serde_json::from_str(l).expect("generated lines are JSON");
        EventTime::parse_rfc3339(v["ts"].as_str().expect("a ts")).expect("an RFC 3339 ts")
    };
    let last = lines.iter().map(|l| time(l)).max().expect("a workload");
    let close = last + Span::days(2);
    let mut closers = Vec::new();
    for p in 0..PARTITIONS {
        let member = lines
            .iter()
            .map(|l| member_key(l))
            .find(|m| Partitioner::ConsistentRandom.partition(m.as_bytes(), PARTITIONS) == Some(p))
            .expect("the workload has members on every partition");
        closers.push(format!(
            r#"{{"event_id":"close-{p}","member_id":"{member}","ts":"{}","type":"login","channel":"mini_program"}}"#,
            close.to_rfc3339()
        ));
    }
    lines.extend(closers);
    (lines, last + Span::days(1))
}

fn event_time(warning: &serde_json::Value) -> EventTime {
    EventTime::parse_rfc3339(warning["event_time"].as_str().expect("an event_time"))
        .expect("an RFC 3339 event_time")
}

/// The ids of the JSON warnings on the topic whose event time is before `cutoff`.
fn ids_before(messages: &[OwnedMessage], cutoff: EventTime) -> Vec<String> {
    messages
        .iter()
        .filter(|m| {
            let v: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON warnings");
            event_time(&v) < cutoff
        })
        .flat_map(|m| warning_ids_all(std::slice::from_ref(m)))
        .collect()
}

/// A member's or group's query is answered on every instance with the answer of the one
/// running its task (the others forward it there); asked with the forwarding mark, only
/// the owner answers and the others say another instance holds it. A tutor's board is
/// gathered from every instance.
fn queries_are_answered_where_their_task_runs(instances: &mut [&mut Churnwatch], lines: &[String]) {
    let bases: Vec<String> = instances
        .iter_mut()
        .map(|cw| format!("http://{}", cw.http_address()))
        .collect();
    let mut members = BTreeSet::new();
    let mut groups = BTreeSet::new();
    // The tutor each group's latest profile names, and so the busiest tutor.
    let mut tutor_of = std::collections::BTreeMap::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON events");
        if v["type"] == "member" {
            let group = v["group_id"].as_str().unwrap_or_default().to_owned();
            members.insert(v["member_id"].as_str().unwrap_or_default().to_owned());
            tutor_of.insert(
                group.clone(),
                v["tutor_id"].as_str().unwrap_or_default().to_owned(),
            );
            groups.insert(group);
        }
    }
    let mut groups_of = std::collections::BTreeMap::new();
    for t in tutor_of.values() {
        *groups_of.entry(t.clone()).or_insert(0) += 1;
    }
    let tutor = groups_of
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(t, _)| t);
    let paths = members
        .iter()
        .take(12)
        .map(|m| format!("/v1/members/{m}"))
        .chain(groups.iter().take(6).map(|g| format!("/v1/groups/{g}")));
    for path in paths {
        // A task moved at the last rebalance may still be rebuilding, or not yet claimed
        // by its new owner: asked again then.
        http_support::wait_for(&path, Duration::from_secs(60), || {
            let direct: Vec<http_support::Reply> = bases
                .iter()
                .map(|b| {
                    http_support::get_with(
                        &format!("{b}{path}"),
                        &[("x-churnwatch-forwarded", "1")],
                    )
                })
                .collect();
            let owners: Vec<&http_support::Reply> =
                direct.iter().filter(|r| r.status == 200).collect();
            let elsewhere = direct
                .iter()
                .filter(|r| r.status == 503 && r.body.contains("another instance"))
                .count();
            let [owner] = owners[..] else {
                return None;
            };
            let everywhere = bases
                .iter()
                .map(|b| http_support::get(&format!("{b}{path}"), None))
                .all(|r| r.status == 200 && r.body == owner.body);
            (elsewhere == bases.len() - 1 && everywhere).then_some(())
        });
    }
    // A tutor's board is gathered from every instance's share: the same on each, and
    // whole (her groups live on several group tasks, her members on several member tasks).
    let tutor = tutor.expect("the workload has profiles");
    let path = format!("/v1/tutors/{tutor}/at-risk?limit=1000");
    let board = http_support::wait_for(&path, Duration::from_secs(60), || {
        let boards: Vec<http_support::Reply> = bases
            .iter()
            .map(|b| http_support::get(&format!("{b}{path}"), None))
            .collect();
        let first = &boards[0];
        (first.status == 200
            && boards
                .iter()
                .all(|r| r.status == 200 && r.body == first.body))
        .then(|| first.json())
    });
    let groups = board["groups"].as_array().map_or(0, Vec::len);
    let at_risk = board["at_risk"].as_array().map_or(0, Vec::len);
    assert!(groups >= 2, "her groups from several group tasks: {board}");
    assert_eq!(
        Some(at_risk as u64),
        board["at_risk_total"].as_u64(),
        "every member at risk is listed under the limit: {board}"
    );
    let group_tasks: BTreeSet<u32> = board["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["group_id"].as_str())
        .map(group_partition)
        .collect();
    assert!(
        group_tasks.len() >= 2,
        "groups on several tasks: {group_tasks:?}"
    );
    // Asked with the forwarding mark, an instance answers for its own tasks only, and
    // none runs them all.
    for b in &bases {
        let reply =
            http_support::get_with(&format!("{b}{path}"), &[("x-churnwatch-forwarded", "1")]);
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.body.contains("another instance"), "{}", reply.body);
    }
}

#[test]
fn instances_killed_and_added_mid_stream_give_exactly_the_partitioned_replays_warnings() {
    let t = topics("two-stage", PARTITIONS as i32, 2);
    let (lines, cutoff) = closed_on_every_partition(workload(3_000, 120, 29));
    let moving = members_moving_across_group_tasks(&lines);
    assert!(
        !moving.is_empty(),
        "the workload moves members between groups of different group-stage tasks"
    );
    let replayed = replay_with(&lines, None, &["--partitions", &PARTITIONS.to_string()]);
    let all_replayed = id_counts(replayed.iter().map(|l| json_warning_id(l)));
    let expected = id_counts(
        replayed
            .iter()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON warnings");
                event_time(&v) < cutoff
            })
            .map(|l| json_warning_id(l)),
    );
    assert!(
        expected.len() > 1000,
        "the cutoff keeps the workload's warnings: {} of {}",
        expected.len(),
        all_replayed.len()
    );
    eprintln!(
        "{} events, {} warnings expected before {cutoff}, {} members move across group tasks",
        lines.len(),
        expected.len(),
        moving.len()
    );
    let slices: Vec<Vec<Record>> = lines
        .chunks(lines.len().div_ceil(5))
        .map(json_records)
        .collect();
    let start = |name: &str| {
        Churnwatch::start(
            &two_stage_settings(&t, name, 2),
            None,
            &format!("{}-{name}", t.group),
        )
    };

    let a = start("a");
    let b = start("b");
    produce(&t.input, &slices[0]);
    wait_for_every_task(&[&a, &b], "a and b");
    wait_for_warnings(&t.warnings, 1, Duration::from_secs(120));
    produce(&t.input, &slices[1]);
    // Killed mid-stream: its open transactions are aborted, its tasks rebuilt by b and c
    // from what it committed.
    a.kill9();
    let mut c = start("c");
    produce(&t.input, &slices[2]);
    wait_for_every_task(&[&b, &c], "a killed, c added");
    // Restarted under the same instance id: static membership, and its transactional ids
    // fence anything the killed process left open.
    let mut a = start("a");
    produce(&t.input, &slices[3]);
    wait_for_every_task(&[&a, &b, &c], "a back");

    // The tasks it took back were snapshotted by the workers that gave them up.
    assert!(
        a.log_text().contains("state loaded from a snapshot"),
        "the restarted instance starts its tasks from snapshots: {}",
        a.log_text()
    );
    // Killed with three alive: its tasks go to the two left.
    b.kill9();
    produce(&t.input, &slices[4]);
    wait_for_every_task(&[&a, &c], "b killed");
    // Every expected warning, not just as many: those after the cutoff count too, and the
    // tasks b held may still be rebuilding.
    http_support::wait_for("every expected warning", Duration::from_secs(300), || {
        let got = id_counts(ids_before(
            &read_all(&t.warnings, Duration::from_secs(30)),
            cutoff,
        ));
        expected.keys().all(|id| got.contains_key(id)).then_some(())
    });
    queries_are_answered_where_their_task_runs(&mut [&mut a, &mut c], &lines);
    // Anything repeated after the last expected warning would come within a commit or two.
    std::thread::sleep(Duration::from_secs(3));
    for cw in [a, c] {
        let log = cw.log.clone();
        assert!(
            cw.stop().success(),
            "a graceful stop exits 0: {}",
            log.display()
        );
    }
    let messages = read_all(&t.warnings, Duration::from_secs(60));
    // After the cutoff too, nothing the replay does not give and nothing twice.
    let everything = id_counts(warning_ids_all(&messages));
    let strays: Vec<_> = everything
        .iter()
        .filter(|(id, n)| **n > 1 || !all_replayed.contains_key(*id))
        .collect();
    assert!(
        strays.is_empty(),
        "repeated or unknown warnings: {strays:?}"
    );
    assert_exactly_once(&expected, &id_counts(ids_before(&messages, cutoff)));
}

#[test]
fn an_idle_input_partition_does_not_hold_group_warnings_back_in_live_mode() {
    let t = topics("two-stage-idle", 4, 1);
    // Every event of members placed on partition 3 is left out: its task never reads one.
    let lines: Vec<String> = workload(1_000, 120, 31)
        .into_iter()
        .filter(|l| Partitioner::ConsistentRandom.partition(member_key(l).as_bytes(), 4) != Some(3))
        .collect();
    let mut sets = two_stage_settings(&t, "idle", 2);
    sets.retain(|s| s != "kafka.time_mode=event_time");
    sets.extend([
        "kafka.time_mode=live".to_owned(),
        "time.idle_timeout=2s".to_owned(),
        "kafka.group_partitions=2".to_owned(),
    ]);
    let cw = Churnwatch::start(&sets, None, &t.group);
    produce(&t.input, &json_records(&lines));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let records = read_all(&t.warnings, Duration::from_secs(10));
        let groups = records
            .iter()
            .filter(|m| {
                let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                key.starts_with('g')
            })
            .count();
        if groups > 0 {
            eprintln!("{} warnings, {groups} of groups", records.len());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no group warning within 120 s with partition 3 idle; log:\n{}",
            cw.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(cw.stop().success());
}
