//! When `run` writes snapshots and which one it starts from.
//!
//! The engine thread writes a snapshot between poll rounds, once its state is restored
//! and `state.snapshot_interval` has passed: the state then reflects exactly the messages
//! handled so far, and each partition's position is the offset it resumes from. Writing
//! streams the engine into a file (the engine thread pauses for that); syncing and
//! putting the file in place happen on a helper thread. A snapshot is skipped while the
//! previous one is still being synced.
//!
//! On assignment the newest snapshot of the same partition set that is not ahead of the
//! group's committed offsets is loaded, and each partition is read from the snapshot's
//! offset instead of its beginning; messages from there to the committed offset only
//! rebuild state, as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::assignment::Assignment;
use crate::clock::wall_clock;
use crate::config::Config;
use crate::engine::{Engine, TimeMode};
use crate::metrics::Metrics;
use crate::state::{PartitionOffset, Restored, SnapshotStore, Written};

/// The store of `state.snapshot_dir`; `None` when it is empty (no snapshots).
fn store(config: &Config, mode: TimeMode) -> Option<SnapshotStore> {
    let dir = &config.state.snapshot_dir;
    (!dir.is_empty()).then(|| SnapshotStore::new(dir.as_ref(), config, mode))
}

/// Loads snapshots; shared with the consumer's rebalance callback.
#[derive(Clone)]
pub struct SnapshotLoader {
    store: SnapshotStore,
    metrics: Arc<Metrics>,
}

impl SnapshotLoader {
    pub fn new(config: &Config, mode: TimeMode, metrics: Arc<Metrics>) -> Option<SnapshotLoader> {
        Some(SnapshotLoader {
            store: store(config, mode)?,
            metrics,
        })
    }

    /// The snapshot to start `committed`'s partitions from, if one is usable.
    pub fn load(&self, committed: &[(String, i32, Option<i64>)]) -> Option<Restored> {
        let began = Instant::now();
        let restored = self.store.load(committed, |path, skip, why| {
            warn!(path = %path.display(), reason = skip.code(), detail = why,
                  "passing over a snapshot");
            self.metrics.snapshot_skipped(skip);
        });
        if let Some(r) = &restored {
            let seconds = began.elapsed().as_secs_f64();
            self.metrics.snapshot_loaded(seconds);
            info!(
                path = %r.path.display(),
                members = r.engine.member_count(),
                taken_at = %r.taken_at,
                seconds = format!("{seconds:.2}"),
                "state loaded from a snapshot"
            );
        }
        restored
    }
}

/// Writes snapshots from the engine thread.
pub struct SnapshotWriter {
    store: SnapshotStore,
    every: Duration,
    last: Instant,
    busy: Arc<AtomicBool>,
    finisher: Option<(SyncSender<Written>, JoinHandle<()>)>,
    metrics: Arc<Metrics>,
}

impl SnapshotWriter {
    pub fn new(config: &Config, mode: TimeMode, metrics: Arc<Metrics>) -> Option<SnapshotWriter> {
        let store = store(config, mode)?;
        let busy = Arc::new(AtomicBool::new(false));
        let (tx, rx) = sync_channel::<Written>(1);
        let finisher = {
            let (store, busy, metrics) = (store.clone(), busy.clone(), metrics.clone());
            std::thread::Builder::new()
                .name("snapshots".to_owned())
                .spawn(move || {
                    for written in rx {
                        finish(&store, &metrics, &busy, written);
                    }
                })
                .ok()
        };
        let finisher = finisher.map(|handle| (tx, handle));
        if finisher.is_none() {
            warn!("no thread for snapshots: they are written and synced inline");
        }
        Some(SnapshotWriter {
            store,
            every: Duration::from_millis(
                u64::try_from(config.state.snapshot_interval.as_millis()).unwrap_or(u64::MAX),
            ),
            last: Instant::now(),
            busy,
            finisher,
            metrics,
        })
    }

    /// Writes a snapshot if one is due and the previous one is in place.
    pub fn maybe_write(&mut self, engine: &Engine, assignment: &Assignment) {
        if self.last.elapsed() < self.every || self.busy.load(Ordering::Acquire) {
            return;
        }
        self.last = Instant::now();
        self.write(engine, assignment);
    }

    /// A last snapshot at a graceful stop, in place before this returns.
    pub fn write_final(&mut self, engine: &Engine, assignment: &Assignment) {
        self.wait_until_in_place();
        self.write(engine, assignment);
        if let Some((tx, handle)) = self.finisher.take() {
            drop(tx);
            // The helper only ends when the channel closes; a panic there is reported by
            // the missing snapshot metric, not here.
            let _ = handle.join();
        }
    }

    fn write(&mut self, engine: &Engine, assignment: &Assignment) {
        let offsets: Vec<PartitionOffset> = assignment
            .partitions()
            .iter()
            .map(|p| PartitionOffset {
                topic: p.topic.clone(),
                partition: p.partition,
                next: p.position,
            })
            .collect();
        self.write_offsets(engine, &offsets);
    }

    /// A task's snapshot (two stages: one engine per input partition, each with its own
    /// timing): written if the previous one is in place, or with `wait` after waiting for
    /// it and put in place before this returns; whether it was written.
    pub fn write_task(&mut self, engine: &Engine, offsets: &[PartitionOffset], wait: bool) -> bool {
        if !wait {
            if self.busy.load(Ordering::Acquire) {
                return false;
            }
            self.write_offsets(engine, offsets);
            return true;
        }
        self.wait_until_in_place();
        self.write_inline(engine, offsets);
        true
    }

    /// Waits for the previous snapshot to be synced and in place.
    fn wait_until_in_place(&self) {
        while self.busy.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How often a snapshot is due.
    pub fn interval(&self) -> Duration {
        self.every
    }

    fn write_inline(&mut self, engine: &Engine, offsets: &[PartitionOffset]) {
        if let Some(written) = self.write_file(engine, offsets) {
            self.busy.store(true, Ordering::Release);
            self.finish_inline(written);
        }
    }

    /// Writes the file under its temporary name, the engine thread paused meanwhile.
    fn write_file(&mut self, engine: &Engine, offsets: &[PartitionOffset]) -> Option<Written> {
        if offsets.is_empty() {
            return None;
        }
        let began = Instant::now();
        match self.store.write(engine, offsets, wall_clock()) {
            Ok(w) => {
                self.metrics.snapshot_pause(began.elapsed().as_secs_f64());
                Some(w)
            }
            Err(e) => {
                self.metrics.snapshot_failed();
                warn!(error = %e, "writing a snapshot failed");
                None
            }
        }
    }

    fn write_offsets(&mut self, engine: &Engine, offsets: &[PartitionOffset]) {
        let Some(written) = self.write_file(engine, offsets) else {
            return;
        };
        self.busy.store(true, Ordering::Release);
        match &self.finisher {
            Some((tx, _)) => {
                if let Err(e) = tx.send(written) {
                    // The helper is gone: finish here.
                    self.finish_inline(e.0);
                }
            }
            None => self.finish_inline(written),
        }
    }

    fn finish_inline(&self, written: Written) {
        finish(&self.store, &self.metrics, &self.busy, written);
    }
}

/// Syncs `written` and puts it in place, then lets the next snapshot be written.
fn finish(store: &SnapshotStore, metrics: &Metrics, busy: &AtomicBool, written: Written) {
    let bytes = written.bytes;
    match store.finish(written) {
        Ok(path) => {
            metrics.snapshot_written(bytes);
            debug!(path = %path.display(), bytes, "snapshot in place");
        }
        Err(e) => {
            metrics.snapshot_failed();
            warn!(error = %e, "a snapshot could not be put in place");
        }
    }
    busy.store(false, Ordering::Release);
}
