//! Snapshot times (SPEC §9: 1 M members restored in ≤ 5 s): how long writing one holds
//! up the engine thread, how long syncing it takes, and how long loading it takes
//! (read, checksum, decode), for typical members.
//!
//! `cargo bench --bench restore [-- COUNTS...]` (default 1000000 10000000). Three rounds
//! per count; medians. The file is read from the page cache, as on a restart of the same
//! machine; a cold disk adds its read time (file size / disk bandwidth).

#[path = "support/population.rs"]
mod population;

use std::time::{Duration, Instant};

use churnwatch::config::Config;
use churnwatch::engine::TimeMode;
use churnwatch::model::EventTime;
use churnwatch::state::{PartitionOffset, SnapshotStore};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn main() {
    churnwatch::alloc::tune_for_long_lived_state();
    let counts = population::counts_from_args();
    let config = Config::default();
    for n in counts {
        let engine = population::typical_engine(n);
        let dir =
            std::env::temp_dir().join(format!("churnwatch-bench-restore-{}", std::process::id()));
        let store = SnapshotStore::new(&dir, &config, TimeMode::Replay);
        let next = i64::from(n) * 5;
        let offsets = [PartitionOffset {
            topic: "in".to_owned(),
            partition: 0,
            next,
        }];
        let committed = [("in".to_owned(), 0, Some(next))];
        let (mut pauses, mut syncs, mut loads) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for round in 0..3 {
            let began = Instant::now();
            let written = store
                .write(&engine, &offsets, EventTime::from_millis(round))
                .expect("snapshot written");
            pauses.push(began.elapsed());
            bytes = written.bytes;
            let began = Instant::now();
            store.finish(written).expect("snapshot in place");
            syncs.push(began.elapsed());
            let began = Instant::now();
            let restored = store
                .load(&committed, |path, skip, why| {
                    panic!("{} passed over: {skip:?} {why}", path.display())
                })
                .expect("the snapshot loads");
            loads.push(began.elapsed());
            assert_eq!(restored.engine.member_count(), n as usize);
        }
        println!(
            "{n} members: snapshot {:.0} MB ({:.0} bytes per member); engine paused {:.2} s to write, sync {:.2} s; restore {:.2} s",
            bytes as f64 / 1e6,
            bytes as f64 / f64::from(n),
            median(pauses),
            median(syncs),
            median(loads)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
