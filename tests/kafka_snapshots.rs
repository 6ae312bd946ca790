//! Snapshots against the real broker. A restart starts from the snapshot written at the
//! graceful stop and re-reads nothing; a corrupt or a truncated snapshot is passed over
//! (for an older one, or for the input from its start) and never loaded. Each test ends
//! with the whole warnings topic, read `read_committed`, compared with a clean replay of
//! the same input: no warning missing, none twice.

mod kafka_support;

use std::path::PathBuf;
use std::time::Duration;

use kafka_support::*;

const WAIT: Duration = Duration::from_secs(120);

#[derive(Copy, Clone, Debug, PartialEq)]
enum Damage {
    None,
    /// One byte of the newest snapshot changed.
    Corrupt,
    /// Every snapshot cut to half its length.
    Truncated,
}

/// The group's snapshot files, newest first.
fn snapshots_of(group: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(snapshot_dir().join(group))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|set| {
            std::fs::read_dir(set.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    files.sort();
    files.reverse();
    files
}

fn restart_over(damage: Damage) -> String {
    require_broker();
    let name = format!("snap-{damage:?}").to_lowercase();
    let Topics {
        input,
        warnings,
        dlq,
        group,
    } = topics(&name, 1, 3);
    let lines = workload(3_000, 120, 5);
    let (first, second) = lines.split_at(lines.len() / 2);
    let expected = id_counts(replay(&lines, None).iter().map(|l| json_warning_id(l)));
    let expected_first = replay(first, None).len();
    let sets = settings(&group, &input, "json", &warnings, &dlq);

    // Run 1 handles the first half and stops gracefully: a last snapshot at the commit.
    let cw = Churnwatch::start(&sets, None, &format!("{group}-1"));
    produce(&input, &json_records(first));
    wait_for_warnings(&warnings, expected_first, WAIT);
    assert!(cw.stop().success(), "a graceful stop exits 0");
    let files = snapshots_of(&group);
    assert!(!files.is_empty(), "run 1 wrote snapshots");
    let damaged: Vec<PathBuf> = match damage {
        Damage::None => Vec::new(),
        Damage::Corrupt => {
            let mut bytes = std::fs::read(&files[0]).expect("readable");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            std::fs::write(&files[0], bytes).expect("writable");
            vec![files[0].clone()]
        }
        Damage::Truncated => {
            for f in &files {
                let len = std::fs::metadata(f).expect("a file").len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(f)
                    .and_then(|file| file.set_len(len / 2))
                    .expect("truncatable");
            }
            files.clone()
        }
    };

    // Run 2 starts over the snapshots and handles the second half.
    let mut cw = Churnwatch::start(&sets, None, &format!("{group}-2"));
    cw.wait_for_log("partitions assigned", WAIT);
    produce(&input, &json_records(second));
    wait_for_warnings(&warnings, expected.len(), WAIT);
    let log_path = cw.log.clone();
    assert!(cw.stop().success(), "a graceful stop exits 0");
    let log = std::fs::read_to_string(&log_path).expect("run 2's log");
    for path in &damaged {
        let shown = path.display().to_string();
        assert!(
            log.lines()
                .any(|l| l.contains("passing over a snapshot") && l.contains(&shown)),
            "the damaged {shown} was passed over:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("state loaded from a snapshot") && l.contains(&shown)),
            "the damaged {shown} was loaded:\n{log}"
        );
    }

    let got = id_counts(warning_ids_all(&read_all(
        &warnings,
        Duration::from_secs(60),
    )));
    assert_exactly_once(&expected, &got);
    log
}

#[test]
fn a_restart_starts_from_the_last_snapshot_and_rereads_nothing() {
    let log = restart_over(Damage::None);
    assert!(
        log.contains("state loaded from a snapshot"),
        "run 2 loaded a snapshot:\n{log}"
    );
    assert!(
        log.contains("remaining=0 from=\"a snapshot\""),
        "the snapshot at the graceful stop is at the committed offset:\n{log}"
    );
    assert!(log.contains("restored: 0,"), "nothing was re-read:\n{log}");
}

#[test]
fn a_corrupt_snapshot_is_passed_over_and_nothing_is_lost_or_repeated() {
    let log = restart_over(Damage::Corrupt);
    assert!(log.contains("corrupt"), "{log}");
}

#[test]
fn a_truncated_snapshot_is_passed_over_and_nothing_is_lost_or_repeated() {
    let log = restart_over(Damage::Truncated);
    assert!(log.contains("truncated"), "{log}");
    assert!(
        log.contains("from=\"the start of each partition\""),
        "with every snapshot cut short, the state comes from the input:\n{log}"
    );
}
