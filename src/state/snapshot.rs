//! Local snapshots: the engine's whole state plus the input offsets it reflects, in one
//! file per snapshot, so that a restart re-reads only what came after.
//!
//! A file, all integers little-endian:
//!
//! ```text
//! magic "CWSNAP\0\1" | header length u32 | header | engine image | body length u64 | checksum u64
//! ```
//!
//! The header (bincode) names the format, the build, a fingerprint of the configuration
//! the state was derived under, the wall-clock instant it was taken and each input
//! partition's next offset, in the engine's partition order. The checksum is xxh3-64 of
//! every byte before it. A file is written under a temporary name, synced and then renamed,
//! so a crash leaves either the old set of snapshots or the new one; a torn or altered file
//! fails the length or the checksum and is never loaded.
//!
//! Snapshots live in `<dir>/<group id>/<assignment key>/`: the key is a digest of the
//! sorted partition set, because the engine's state covers exactly the partitions it
//! was built from. An instance assigned another set finds no snapshot and rebuilds from
//! the input.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::config::Config;
use crate::engine::{Engine, TimeMode};
use crate::model::EventTime;

const MAGIC: &[u8; 8] = b"CWSNAP\0\x01";
/// Bumped whenever the header or the engine image changes shape.
const FORMAT: u32 = 4;
const EXTENSION: &str = "snap";
/// Magic, header length, and the trailer's body length and checksum.
const FRAMING: usize = 8 + 4 + 8 + 8;

/// One input partition as a snapshot records it: everything below `next` is in the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub next: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    build: String,
    config: u64,
    taken_at: i64,
    members: u64,
    partitions: Vec<PartitionOffset>,
}

/// Why a snapshot file was passed over. Bounded: labels a metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Shorter than its framing says: a half-written file.
    Truncated,
    /// Bad magic, bad checksum, or an image that does not decode.
    Corrupt,
    /// Another format, build or configuration.
    Incompatible,
    /// It reflects input beyond the group's committed offsets: the output of that input
    /// was never committed, so loading it would lose warnings.
    AheadOfCommit,
    /// The file could not be read.
    Unreadable,
}

impl Skip {
    pub const ALL: [Skip; 5] = [
        Skip::Truncated,
        Skip::Corrupt,
        Skip::Incompatible,
        Skip::AheadOfCommit,
        Skip::Unreadable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Skip::Truncated => "truncated",
            Skip::Corrupt => "corrupt",
            Skip::Incompatible => "incompatible",
            Skip::AheadOfCommit => "ahead_of_commit",
            Skip::Unreadable => "unreadable",
        }
    }
}

/// A snapshot that was loaded: the engine and where its input resumes.
pub struct Restored {
    pub engine: Engine,
    pub partitions: Vec<PartitionOffset>,
    pub taken_at: EventTime,
    pub path: PathBuf,
}

impl Restored {
    /// Where `topic`/`partition` resumes, if the snapshot covers it.
    pub fn offset_of(&self, topic: &str, partition: i32) -> Option<i64> {
        next_offset(&self.partitions, topic, partition)
    }
}

/// `topic`/`partition`'s next offset in `offsets`, if listed.
pub fn next_offset(offsets: &[PartitionOffset], topic: &str, partition: i32) -> Option<i64> {
    offsets
        .iter()
        .find(|p| p.topic == topic && p.partition == partition)
        .map(|p| p.next)
}

impl std::fmt::Debug for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restored")
            .field("partitions", &self.partitions)
            .field("taken_at", &self.taken_at)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A snapshot written under its temporary name, to be synced and put in place.
#[derive(Debug)]
pub struct Written {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    pub bytes: u64,
}

/// The snapshots of one consumer group on this machine.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    root: PathBuf,
    keep: usize,
    /// The configuration restored engines run under, and its fingerprint.
    config: Config,
    fingerprint: u64,
    mode: TimeMode,
}

/// Digest of the settings the state is derived under: a snapshot taken under other
/// rules would go on from figures those rules never produced.
pub fn config_fingerprint(config: &Config) -> u64 {
    #[derive(Serialize)]
    struct Derived<'a> {
        time: &'a crate::config::TimeConfig,
        segments: &'a crate::config::SegmentsConfig,
        lifecycle: &'a crate::config::LifecycleConfig,
        groups: &'a crate::config::GroupsConfig,
        alerts: &'a crate::config::AlertsConfig,
        max_members: usize,
        time_mode: crate::config::KafkaTimeMode,
        /// A member-stage task's engine is not a whole input's, nor the other way round.
        topology: crate::config::Topology,
        churn_risk: &'a crate::config::ChurnRiskConfig,
        /// The parameters themselves, by the version that names them (the file's path
        /// alone could name other parameters after a new fit).
        churn_model: Option<&'a str>,
    }
    let derived = Derived {
        time: &config.time,
        segments: &config.segments,
        lifecycle: &config.lifecycle,
        groups: &config.groups,
        alerts: &config.alerts,
        max_members: config.state.max_members,
        time_mode: config.kafka.time_mode,
        topology: config.kafka.topology,
        churn_risk: &config.churn_risk,
        churn_model: config.churn_model.as_deref().map(|f| f.version.as_str()),
    };
    // Serializing plain settings to TOML cannot fail; an empty text would only make
    // every snapshot incompatible, never a wrong one loadable.
    xxh3_64(toml::to_string(&derived).unwrap_or_default().as_bytes())
}

/// The directory name for a partition set: order-independent.
fn assignment_key(partitions: &[(String, i32)]) -> String {
    let mut sorted: Vec<String> = partitions
        .iter()
        .map(|(t, p)| format!("{t}\0{p}"))
        .collect();
    sorted.sort();
    format!("{:016x}", xxh3_64(sorted.join("\n").as_bytes()))
}

/// Keeps a running checksum of what passes through.
struct Hashing<W> {
    inner: W,
    hash: Xxh3,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl SnapshotStore {
    /// Snapshots of `config.kafka.group_id` under `dir`, keeping the newest `keep`.
    pub fn new(dir: &Path, config: &Config, mode: TimeMode) -> SnapshotStore {
        SnapshotStore {
            root: dir.join(sanitize(&config.kafka.group_id)),
            keep: config.state.snapshots_kept.max(1),
            config: config.clone(),
            fingerprint: config_fingerprint(config),
            mode,
        }
    }

    fn dir_for(&self, partitions: &[(String, i32)]) -> PathBuf {
        self.root.join(assignment_key(partitions))
    }

    /// Writes `engine` with the offsets it reflects under a temporary name. The caller
    /// hands the result to [`SnapshotStore::finish`], which may run on another thread.
    pub fn write(
        &self,
        engine: &Engine,
        partitions: &[PartitionOffset],
        taken_at: EventTime,
    ) -> anyhow::Result<Written> {
        let set: Vec<(String, i32)> = partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let dir = self.dir_for(&set);
        fs::create_dir_all(&dir)?;
        let name = format!("{:016}.{EXTENSION}", taken_at.as_millis().max(0));
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        // The buffer sits outside the checksum, so that the hash sees large slices
        // rather than one call per field.
        let mut out = BufWriter::with_capacity(
            1 << 20,
            Hashing {
                inner: File::create(&tmp)?,
                hash: Xxh3::new(),
                written: 0,
            },
        );
        let header = bincode::serialize(&Header {
            format: FORMAT,
            build: env!("CARGO_PKG_VERSION").to_owned(),
            config: self.fingerprint,
            taken_at: taken_at.as_millis(),
            members: engine.member_count() as u64,
            partitions: partitions.to_vec(),
        })?;
        out.write_all(MAGIC)?;
        out.write_all(&(header.len() as u32).to_le_bytes())?;
        out.write_all(&header)?;
        out.flush()?;
        let body_start = out.get_ref().written;
        engine.write_image(&mut out)?;
        out.flush()?;
        let body = out.get_ref().written - body_start;
        out.write_all(&body.to_le_bytes())?;
        let hashed = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let mut file = hashed.inner;
        file.write_all(&hashed.hash.digest().to_le_bytes())?;
        Ok(Written {
            file,
            tmp,
            path,
            bytes: hashed.written + 8,
        })
    }

    /// Syncs a written snapshot, puts it in place and removes the oldest beyond `keep`.
    pub fn finish(&self, written: Written) -> io::Result<PathBuf> {
        written.file.sync_all()?;
        fs::rename(&written.tmp, &written.path)?;
        if let Some(dir) = written.path.parent() {
            // The rename is durable once the directory is.
            File::open(dir)?.sync_all()?;
            let files = snapshot_files(dir)?;
            for old in files.iter().skip(self.keep) {
                fs::remove_file(old)?;
            }
        }
        Ok(written.path)
    }

    /// The newest snapshot of `partitions` that is whole, compatible and not ahead of
    /// `committed` (each partition's committed offset; `None` = nothing committed).
    /// Every file passed over is reported to `skipped`. Leftover temporary files of
    /// writes that never finished are removed.
    pub fn load(
        &self,
        committed: &[(String, i32, Option<i64>)],
        mut skipped: impl FnMut(&Path, Skip, &str),
    ) -> Option<Restored> {
        let set: Vec<(String, i32)> = committed.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        let dir = self.dir_for(&set);
        remove_leftovers(&dir);
        let files = snapshot_files(&dir).ok()?;
        for path in files {
            match self.read(&path, committed) {
                Ok(restored) => return Some(restored),
                Err((skip, why)) => skipped(&path, skip, &why),
            }
        }
        None
    }

    fn read(
        &self,
        path: &Path,
        committed: &[(String, i32, Option<i64>)],
    ) -> Result<Restored, (Skip, String)> {
        let unreadable = |e: io::Error| (Skip::Unreadable, e.to_string());
        let mut file = File::open(path).map_err(unreadable)?;
        // Two passes, so that neither the file nor a half-decoded state of it is ever
        // held in memory beside the engine: check everything, then decode.
        let (header, body) = verify(&mut file)?;
        if header.format != FORMAT
            || header.build != env!("CARGO_PKG_VERSION")
            || header.config != self.fingerprint
        {
            return Err((
                Skip::Incompatible,
                format!(
                    "format {} of build {}, taken under another configuration or build",
                    header.format, header.build
                ),
            ));
        }
        let mut want: Vec<(&str, i32)> =
            committed.iter().map(|(t, p, _)| (t.as_str(), *p)).collect();
        let mut have: Vec<(&str, i32)> = header
            .partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition))
            .collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return Err((Skip::Incompatible, "another partition set".to_owned()));
        }
        for p in &header.partitions {
            let commit = committed
                .iter()
                .find(|(t, n, _)| *t == p.topic && *n == p.partition)
                .and_then(|(_, _, c)| *c)
                .unwrap_or(0);
            if p.next > commit {
                return Err((
                    Skip::AheadOfCommit,
                    format!(
                        "{}/{} at offset {}, committed {}",
                        p.topic, p.partition, p.next, commit
                    ),
                ));
            }
        }
        file.seek(SeekFrom::Start(body.start)).map_err(unreadable)?;
        // The buffer on top, so that the decoder's many small reads stay in it.
        let image = BufReader::with_capacity(1 << 20, file.take(body.end - body.start));
        let engine = Engine::read_image(&self.config.engine(), self.mode, image)
            .map_err(|e| (Skip::Corrupt, e.to_string()))?;
        Ok(Restored {
            engine,
            partitions: header.partitions,
            taken_at: EventTime::from_millis(header.taken_at),
            path: path.to_owned(),
        })
    }
}

/// Checks a snapshot file's framing and checksum, reading it once in 1 MiB slices;
/// returns its header and where its engine image lies.
fn verify(file: &mut File) -> Result<(Header, std::ops::Range<u64>), (Skip, String)> {
    let unreadable = |e: io::Error| (Skip::Unreadable, e.to_string());
    let len = file.metadata().map_err(unreadable)?.len();
    if len < FRAMING as u64 {
        return Err((Skip::Truncated, format!("{len} bytes")));
    }
    // The trailer first: the body's length and the checksum.
    let mut trailer = [0u8; 16];
    file.seek(SeekFrom::End(-16)).map_err(unreadable)?;
    file.read_exact(&mut trailer).map_err(unreadable)?;
    let (body_len, checksum) = trailer.split_at(8);
    let body_len = u64::from_le_bytes(body_len.try_into().unwrap_or_default());
    let checksum = u64::from_le_bytes(checksum.try_into().unwrap_or_default());
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut reader = BufReader::with_capacity(1 << 20, &*file);
    let mut hashed = Hashing {
        inner: io::sink(),
        hash: Xxh3::new(),
        written: 0,
    };
    let mut start = [0u8; 12];
    reader.read_exact(&mut start).map_err(unreadable)?;
    hashed.write_all(&start).map_err(unreadable)?;
    if &start[..8] != MAGIC {
        return Err((Skip::Corrupt, "not a churnwatch snapshot".to_owned()));
    }
    let header_len = u64::from(u32::from_le_bytes([
        start[8], start[9], start[10], start[11],
    ]));
    let header_end = 12 + header_len;
    match header_end
        .checked_add(body_len)
        .and_then(|n| n.checked_add(16))
    {
        Some(n) if n == len => {}
        // A cut-off file ends inside the body, so its "trailer" is body bytes: most
        // likely a length that does not fit. Either way the file is short of itself.
        Some(n) if n > len => return Err((Skip::Truncated, format!("{len} of {n} bytes"))),
        _ => {
            return Err((
                Skip::Truncated,
                format!("{len} bytes, framing does not add up"),
            ))
        }
    }
    let mut header = vec![0u8; header_len as usize];
    reader.read_exact(&mut header).map_err(unreadable)?;
    hashed.write_all(&header).map_err(unreadable)?;
    // The body and its length, hashed as they stream past.
    io::copy(&mut reader.take(body_len + 8), &mut hashed).map_err(unreadable)?;
    if hashed.hash.digest() != checksum {
        return Err((Skip::Corrupt, "checksum mismatch".to_owned()));
    }
    let header: Header =
        bincode::deserialize(&header).map_err(|e| (Skip::Corrupt, format!("header: {e}")))?;
    Ok((header, header_end..header_end + body_len))
}

/// Snapshot files in `dir`, newest first.
fn snapshot_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == EXTENSION)
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    // Names are zero-padded instants: name order is time order.
    files.sort();
    files.reverse();
    Ok(files)
}

/// Temporary files of writes that never finished (a crash mid-write), other than this
/// process's own.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let own = format!(".tmp-{}", std::process::id());
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !name.ends_with(&own) {
            // Best effort: a leftover is never loaded anyway.
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A group id as a directory name: anything but `[A-Za-z0-9._-]` becomes `_`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::JsonDecoder;

    const WALL: EventTime = EventTime(1_800_000_000_000);

    fn engine(config: &Config, members: usize) -> Engine {
        let mut engine = Engine::new(&config.engine(), TimeMode::Live);
        let decoder = JsonDecoder::new(4096);
        let mut out = Vec::new();
        for i in 0..members {
            for line in [
                format!(
                    r#"{{"event_id":"p{i}","member_id":"m{i}","ts":"2026-01-01T10:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"399","joined_at":"2025-01-01T00:00:00Z"}}"#
                ),
                format!(
                    r#"{{"event_id":"o{i}","member_id":"m{i}","ts":"2026-01-02T10:00:00Z","type":"order","order_id":"o{i}","amount":"1200","category":"home"}}"#
                ),
            ] {
                let event = decoder.decode(line.as_bytes()).expect("a good line");
                engine.process(0, &event, WALL, &mut out).expect("applied");
            }
        }
        engine
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn temp_dir(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("churnwatch-snapshot-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Dir(dir)
    }

    fn at(topic: &str, partition: i32, next: i64) -> PartitionOffset {
        PartitionOffset {
            topic: topic.to_owned(),
            partition,
            next,
        }
    }

    fn committed(offsets: &[(i32, i64)]) -> Vec<(String, i32, Option<i64>)> {
        offsets
            .iter()
            .map(|&(p, o)| ("in".to_owned(), p, Some(o)))
            .collect()
    }

    /// Writes and finishes a snapshot of `members` members at `offsets`, taken at `ms`.
    fn save(
        store: &SnapshotStore,
        config: &Config,
        members: usize,
        offsets: &[(i32, i64)],
        ms: i64,
    ) -> PathBuf {
        let parts: Vec<PartitionOffset> = offsets.iter().map(|&(p, o)| at("in", p, o)).collect();
        let written = store
            .write(&engine(config, members), &parts, EventTime(ms))
            .expect("written");
        store.finish(written).expect("in place")
    }

    fn load(store: &SnapshotStore, offsets: &[(i32, i64)]) -> (Option<Restored>, Vec<Skip>) {
        let mut skips = Vec::new();
        let restored = store.load(&committed(offsets), |_, skip, _| skips.push(skip));
        (restored, skips)
    }

    #[test]
    fn a_snapshot_reads_back_with_its_offsets() {
        let dir = temp_dir("roundtrip");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        save(&store, &config, 3, &[(1, 40), (0, 7)], 1_000);
        // The committed offsets may list the partitions in any order.
        let (restored, skips) = load(&store, &[(0, 9), (1, 40)]);
        let restored = restored.expect("the snapshot is used");
        assert!(skips.is_empty());
        assert_eq!(restored.partitions, vec![at("in", 1, 40), at("in", 0, 7)]);
        assert_eq!(restored.taken_at, EventTime(1_000));
        assert_eq!(restored.engine.member_count(), 3);
        let mut a = Vec::new();
        let mut b = Vec::new();
        crate::cli::state_out::write(&engine(&config, 3), &mut a).expect("in memory");
        crate::cli::state_out::write(&restored.engine, &mut b).expect("in memory");
        assert_eq!(a, b, "the same state");
        let (none, _) = load(&store, &[(0, 9)]);
        assert!(none.is_none(), "another partition set has no snapshot");
    }

    #[test]
    fn a_truncated_snapshot_is_never_loaded_at_any_length() {
        let dir = temp_dir("truncated");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        let path = save(&store, &config, 20, &[(0, 5)], 1_000);
        let whole = fs::read(&path).expect("readable");
        let step = (whole.len() / 97).max(1);
        for len in (0..whole.len()).step_by(step).chain([whole.len() - 1]) {
            fs::write(&path, &whole[..len]).expect("writable");
            let (restored, skips) = load(&store, &[(0, 5)]);
            assert!(
                restored.is_none(),
                "loaded a file cut to {len} of {} bytes",
                whole.len()
            );
            assert!(
                matches!(skips.as_slice(), [Skip::Truncated] | [Skip::Corrupt]),
                "cut to {len}: {skips:?}"
            );
        }
    }

    #[test]
    fn a_corrupt_snapshot_is_never_loaded_whichever_byte_changed() {
        let dir = temp_dir("corrupt");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        let path = save(&store, &config, 20, &[(0, 5)], 1_000);
        let whole = fs::read(&path).expect("readable");
        let step = (whole.len() / 89).max(1);
        for i in (0..whole.len()).step_by(step).chain([whole.len() - 1]) {
            let mut bad = whole.clone();
            bad[i] ^= 0x20;
            fs::write(&path, &bad).expect("writable");
            let (restored, skips) = load(&store, &[(0, 5)]);
            assert!(restored.is_none(), "loaded a file with byte {i} changed");
            assert_eq!(skips.len(), 1, "byte {i}: {skips:?}");
        }
    }

    #[test]
    fn a_snapshot_ahead_of_the_commit_gives_way_to_the_one_before() {
        let dir = temp_dir("ahead");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        save(&store, &config, 2, &[(0, 5)], 1_000);
        save(&store, &config, 4, &[(0, 10)], 2_000);
        let (restored, skips) = load(&store, &[(0, 7)]);
        let restored = restored.expect("the older snapshot");
        assert_eq!(restored.partitions, vec![at("in", 0, 5)]);
        assert_eq!(restored.engine.member_count(), 2);
        assert_eq!(skips, vec![Skip::AheadOfCommit]);
        let (newest, skips) = load(&store, &[(0, 10)]);
        assert_eq!(newest.expect("the newest").engine.member_count(), 4);
        assert!(skips.is_empty());
    }

    #[test]
    fn another_configuration_makes_a_snapshot_incompatible() {
        let dir = temp_dir("config");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        save(&store, &config, 2, &[(0, 5)], 1_000);
        let mut other = config.clone();
        other.alerts.member_warning_cap = 5;
        let store = SnapshotStore::new(&dir.0, &other, TimeMode::Live);
        let (restored, skips) = load(&store, &[(0, 5)]);
        assert!(restored.is_none());
        assert_eq!(skips, vec![Skip::Incompatible]);
    }

    #[test]
    fn only_the_newest_are_kept_and_leftovers_are_removed() {
        let dir = temp_dir("keep");
        let config = Config::default();
        let store = SnapshotStore::new(&dir.0, &config, TimeMode::Live);
        for ms in [1_000, 2_000, 3_000] {
            save(&store, &config, 1, &[(0, 5)], ms);
        }
        let path = save(&store, &config, 1, &[(0, 5)], 4_000);
        let snap_dir = path.parent().expect("a directory");
        let leftover = snap_dir.join(".0000000000005000.snap.tmp-1");
        fs::write(&leftover, b"half").expect("writable");
        assert_eq!(
            snapshot_files(snap_dir).expect("listable").len(),
            config.state.snapshots_kept
        );
        let (restored, _) = load(&store, &[(0, 5)]);
        assert_eq!(restored.expect("the newest").taken_at, EventTime(4_000));
        assert!(
            !leftover.exists(),
            "a half-written file of a dead process goes"
        );
    }

    #[test]
    fn group_ids_make_safe_directory_names() {
        assert_eq!(sanitize("churnwatch"), "churnwatch");
        assert_eq!(sanitize("../x/y"), "_.._x_y");
        assert_eq!(sanitize(""), "_");
    }
}
