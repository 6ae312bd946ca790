//! Rebalances against the real broker. One instance of a consumer group holds every input
//! partition (the one the group gives the first input's partition 0); others stand by.
//! When instances join and leave mid-stream, the input and the state move between them,
//! through the snapshots and the input, and the warnings topic, read `read_committed`,
//! still holds exactly the warnings of a clean replay: none missing, none twice.

mod http_support;
mod kafka_support;

use std::time::Duration;

use http_support::{get, wait_for};
use kafka_support::*;

const WAIT: Duration = Duration::from_secs(90);

/// What an instance's log says it does since the last rebalance.
#[derive(Clone, Debug, PartialEq)]
enum Role {
    Joining,
    StandingBy,
    Reading(usize),
}

fn role(cw: &Churnwatch) -> Role {
    let log = cw.log_text();
    let last = log.lines().rev().find(|l| {
        ["standing by", "partitions assigned", "partitions revoked"]
            .iter()
            .any(|t| l.contains(t))
    });
    match last {
        None => Role::Joining,
        Some(l) if l.contains("partitions revoked") => Role::Joining,
        Some(l) if l.contains("standing by") => Role::StandingBy,
        Some(l) => {
            let n = l
                .split("partitions=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Role::Reading(n)
        }
    }
}

/// Waits until the instances' roles are `expected` (in any order).
/// The tests' settings, but with librdkafka's default session timeout instead of the
/// 6 s the kill tests use: nobody is killed here (leaving is graceful, so the group does
/// not wait out a session), and on 2 busy cores a 6 s session can expire under load, which
/// would fence the active instance and make it exit instead of stand by.
fn rebalance_settings(group: &str, input: &str, warnings: &str, dlq: &str) -> Vec<String> {
    settings(group, input, "json", warnings, dlq)
        .into_iter()
        .filter(|s| !s.starts_with("kafka.consumer_properties.session.timeout.ms="))
        .collect()
}

fn wait_for_roles(instances: &[&Churnwatch], mut expected: Vec<Role>, what: &str) {
    let key = |r: &Role| format!("{r:?}");
    expected.sort_by_key(key);
    wait_on_instances(
        instances,
        WAIT,
        &format!("{what}: roles, expected {expected:?}"),
        role,
        |roles| {
            let mut roles = roles.to_vec();
            roles.sort_by_key(key);
            roles == expected
        },
    );
}

#[test]
fn one_instance_reads_every_partition_and_a_standby_takes_over() {
    require_broker();
    let Topics {
        input,
        warnings,
        dlq,
        group,
    } = topics("lease", 4, 1);
    let lines = workload(500, 60, 3);
    produce(&input, &json_records(&lines));
    let sets = rebalance_settings(&group, &input, &warnings, &dlq);
    let a = Churnwatch::start(&sets, None, &format!("{group}-a"));
    wait_for_roles(&[&a], vec![Role::Reading(4)], "alone");
    let b = Churnwatch::start(&sets, None, &format!("{group}-b"));
    // After the rebalance one of them reads all four partitions, the other none (the
    // group's own split would have given each two).
    wait_for_roles(
        &[&a, &b],
        vec![Role::Reading(4), Role::StandingBy],
        "b joined",
    );
    let (mut active, mut standby) = if role(&a) == Role::StandingBy {
        (b, a)
    } else {
        (a, b)
    };
    // Queries go to the instance holding the state; a standby says so (503) rather than
    // answer from an empty state, and is ready (to take over) all the same.
    let member = member_key(&lines[0]);
    let (at_active, at_standby) = (active.http_address(), standby.http_address());
    let reply = get(&format!("http://{at_standby}/v1/members/{member}"), None);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("standing by"), "{}", reply.body);
    assert_eq!(
        get(&format!("http://{at_standby}/readyz"), None).status,
        200
    );
    wait_for("the active instance knows the member", WAIT, || {
        (get(&format!("http://{at_active}/v1/members/{member}"), None).status == 200).then_some(())
    });
    assert!(active.stop().success());
    wait_for_roles(&[&standby], vec![Role::Reading(4)], "the active one left");
    assert!(standby.stop().success());
    // Snapshots come only from the instance holding the input: one partition set.
    let sets: Vec<_> = std::fs::read_dir(snapshot_dir().join(&group))
        .expect("the group's snapshot directory")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(sets.len(), 1, "partition sets with snapshots: {sets:?}");
}

#[test]
fn instances_joining_and_leaving_mid_stream_move_the_state_and_keep_exactly_once() {
    require_broker();
    // One input partition: the order the replay sees is the order of the topic.
    let Topics {
        input,
        warnings,
        dlq,
        group,
    } = topics("rebalance", 1, 3);
    let lines = workload(20_000, 120, 17);
    let expected = id_counts(replay(&lines, None).iter().map(|l| json_warning_id(l)));
    let mut sets = rebalance_settings(&group, &input, &warnings, &dlq);
    sets.push("kafka.delivery=exactly_once".to_owned());
    let slices: Vec<Vec<Record>> = lines
        .chunks(lines.len().div_ceil(3))
        .map(json_records)
        .collect();
    eprintln!(
        "{} events, {} warnings expected",
        lines.len(),
        expected.len()
    );

    // A new instance joins while the running one handles its input and the next slice
    // arrives; then the old one leaves: the new one holds the input now, whichever held
    // it between, and the state has moved to it.
    let hand_over = |old: Churnwatch, name: &str, slice: &[Record]| -> Churnwatch {
        let new = Churnwatch::start(&sets, None, &format!("{group}-{name}"));
        produce(&input, slice);
        wait_for_roles(
            &[&old, &new],
            vec![Role::Reading(1), Role::StandingBy],
            &format!("{name} joined"),
        );
        assert!(old.stop().success());
        wait_for_roles(
            &[&new],
            vec![Role::Reading(1)],
            &format!("{name} took over"),
        );
        new
    };
    let a = Churnwatch::start(&sets, None, &format!("{group}-a"));
    produce(&input, &slices[0]);
    wait_for_roles(&[&a], vec![Role::Reading(1)], "a alone");
    let b = hand_over(a, "b", &slices[1]);
    let c = hand_over(b, "c", &slices[2]);
    wait_for_warnings(&warnings, expected.len(), Duration::from_secs(240));
    let c_log = c.log_text();
    assert!(c.stop().success(), "a graceful stop exits 0");
    assert!(
        c_log.contains("from=\"a snapshot\"") || c_log.contains("from=a snapshot"),
        "the state reached C through a snapshot of B's:\n{c_log}"
    );

    let got = id_counts(warning_ids_all(&read_all(
        &warnings,
        Duration::from_secs(60),
    )));
    assert_exactly_once(&expected, &got);
}
