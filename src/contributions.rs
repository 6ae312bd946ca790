//! The record format of the internal contributions topic between the two stages
//! (`proto/churnwatch/v1/contributions.proto`): a member-stage task's [`Unit`]s for one
//! group-stage partition, with the task's partition, the input's partition count and its
//! watermark after them.

use prost::Message;

use crate::engine::group::Contribution;
use crate::engine::{Change, Entry, Unit};
use crate::model::{Category, EventTime, Fen, GroupId, MemberId, TutorId};
use crate::proto::v1;

/// The header naming the schema of the topic's records.
pub const SCHEMA: &str = "churnwatch.v1.ContributionBatch";

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub source: u32,
    pub sources: u32,
    pub watermark: EventTime,
    pub units: Vec<Unit>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a ContributionBatch: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("source partition {partition} of {sources}")]
    Source { partition: u32, sources: u32 },
    #[error("unit {seq}: an entry without a group or member id")]
    MissingId { seq: u64 },
    #[error("unit {seq}: an entry without a change")]
    MissingChange { seq: u64 },
    #[error("unit {seq}: expected_pct {pct} is over 100")]
    Percent { seq: u64, pct: u32 },
    #[error("unit {seq}: {count} revenue figures, at most {}", Category::COUNT)]
    Revenue { seq: u64, count: usize },
}

/// Encodes `units` of source partition `source` (of `sources`), its watermark after them.
pub fn encode(source: u32, sources: u32, watermark: EventTime, units: &[Unit]) -> Vec<u8> {
    v1::ContributionBatch {
        source_partition: source,
        source_partitions: sources,
        watermark_ms: watermark.0,
        units: units.iter().map(unit_message).collect(),
    }
    .encode_to_vec()
}

fn unit_message(unit: &Unit) -> v1::ContributionUnit {
    v1::ContributionUnit {
        seq: unit.seq,
        watermark_ms: unit.watermark.0,
        at_ms: unit.at.0,
        emitted_at_ms: unit.emitted_at.0,
        grading_from_ms: unit.grading_from.map(|t| t.0),
        warmup: unit.warmup,
        entries: unit.entries.iter().map(entry_message).collect(),
    }
}

fn entry_message(entry: &Entry) -> v1::ContributionEntry {
    use v1::contribution_entry::Change as Wire;
    let change = match &entry.change {
        Change::Contributes(c) => {
            let mut revenue: Vec<i64> = c.revenue.iter().map(|f| f.0).collect();
            while revenue.last() == Some(&0) {
                revenue.pop();
            }
            Wire::Contributes(v1::MemberContribution {
                tracked: c.tracked,
                counted: c.counted,
                active: c.active,
                expected_pct: u32::from(c.expected_pct),
                revenue_fen: revenue,
            })
        }
        Change::Leaves => Wire::Leaves(v1::Leaves {}),
        Change::Tutor(t) => Wire::TutorId(t.as_str().to_owned()),
    };
    v1::ContributionEntry {
        group_id: entry.group.as_str().to_owned(),
        member_id: entry.member.as_str().to_owned(),
        change: Some(change),
    }
}

/// Decodes a record; a record that does not hold a valid batch is an error (the topic is
/// churnwatch's own: the group stage stops rather than grade from a broken one).
pub fn decode(bytes: &[u8]) -> Result<Batch, WireError> {
    let batch = v1::ContributionBatch::decode(bytes)?;
    if batch.source_partition >= batch.source_partitions {
        return Err(WireError::Source {
            partition: batch.source_partition,
            sources: batch.source_partitions,
        });
    }
    let units = batch
        .units
        .into_iter()
        .map(unit_of)
        .collect::<Result<_, _>>()?;
    Ok(Batch {
        source: batch.source_partition,
        sources: batch.source_partitions,
        watermark: EventTime(batch.watermark_ms),
        units,
    })
}

fn unit_of(unit: v1::ContributionUnit) -> Result<Unit, WireError> {
    let seq = unit.seq;
    let entries = unit
        .entries
        .into_iter()
        .map(|e| entry_of(seq, e))
        .collect::<Result<_, _>>()?;
    Ok(Unit {
        seq,
        watermark: EventTime(unit.watermark_ms),
        at: EventTime(unit.at_ms),
        emitted_at: EventTime(unit.emitted_at_ms),
        grading_from: unit.grading_from_ms.map(EventTime),
        warmup: unit.warmup,
        entries,
        out_mark: 0,
    })
}

fn entry_of(seq: u64, entry: v1::ContributionEntry) -> Result<Entry, WireError> {
    use v1::contribution_entry::Change as Wire;
    if entry.group_id.is_empty() || entry.member_id.is_empty() {
        return Err(WireError::MissingId { seq });
    }
    let change = match entry.change.ok_or(WireError::MissingChange { seq })? {
        Wire::Contributes(c) => {
            let pct = u8::try_from(c.expected_pct)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or(WireError::Percent {
                    seq,
                    pct: c.expected_pct,
                })?;
            if c.revenue_fen.len() > Category::COUNT {
                return Err(WireError::Revenue {
                    seq,
                    count: c.revenue_fen.len(),
                });
            }
            let mut revenue = [Fen::ZERO; Category::COUNT];
            for (into, fen) in revenue.iter_mut().zip(c.revenue_fen) {
                *into = Fen(fen);
            }
            Change::Contributes(Contribution {
                tracked: c.tracked,
                counted: c.counted,
                active: c.active,
                expected_pct: pct,
                revenue,
            })
        }
        Wire::Leaves(_) => Change::Leaves,
        Wire::TutorId(t) => Change::Tutor(TutorId::new(&t)),
    };
    Ok(Entry {
        group: GroupId::new(&entry.group_id),
        member: MemberId::new(&entry.member_id),
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> Vec<Unit> {
        let mut revenue = [Fen::ZERO; Category::COUNT];
        revenue[Category::Skincare.index()] = Fen(120_000);
        revenue[Category::Other.index()] = Fen(-5);
        let entry = |member: &str, change: Change| Entry {
            group: GroupId::new("g1"),
            member: MemberId::new(member),
            change,
        };
        vec![
            Unit {
                seq: 7,
                watermark: EventTime(1_000),
                at: EventTime(1_500),
                emitted_at: EventTime(1_500),
                grading_from: None,
                warmup: false,
                entries: vec![
                    entry("m1", Change::Tutor(TutorId::new("t1"))),
                    entry(
                        "m1",
                        Change::Contributes(Contribution {
                            tracked: true,
                            counted: true,
                            active: true,
                            expected_pct: 65,
                            revenue,
                        }),
                    ),
                    entry("会员2", Change::Leaves),
                ],
                out_mark: 0,
            },
            Unit {
                seq: 8,
                watermark: EventTime(2_000),
                at: EventTime(2_000),
                emitted_at: EventTime(2_100),
                grading_from: Some(EventTime(-3)),
                warmup: true,
                entries: Vec::new(),
                out_mark: 0,
            },
        ]
    }

    #[test]
    fn a_batch_reads_back_as_written() {
        let bytes = encode(3, 8, EventTime(2_000), &units());
        let batch = decode(&bytes).expect("a valid batch");
        assert_eq!(
            batch,
            Batch {
                source: 3,
                sources: 8,
                watermark: EventTime(2_000),
                units: units(),
            }
        );
    }

    #[test]
    fn a_watermark_alone_is_a_batch_without_units() {
        let batch = decode(&encode(0, 1, EventTime(42), &[])).expect("a valid batch");
        assert!(batch.units.is_empty());
        assert_eq!(batch.watermark, EventTime(42));
    }

    #[test]
    fn a_broken_record_is_an_error_not_a_guess() {
        assert!(matches!(decode(b"\xff\xff"), Err(WireError::Decode(_))));
        assert!(matches!(
            decode(&encode(8, 8, EventTime(0), &[])),
            Err(WireError::Source { .. })
        ));
        let mut wire = v1::ContributionBatch::decode(&encode(0, 1, EventTime(0), &units())[..])
            .expect("valid");
        wire.units[0].entries[0].change = None;
        assert!(matches!(
            decode(&wire.encode_to_vec()),
            Err(WireError::MissingChange { seq: 7 })
        ));
        let mut wire = v1::ContributionBatch::decode(&encode(0, 1, EventTime(0), &units())[..])
            .expect("valid");
        if let Some(v1::contribution_entry::Change::Contributes(c)) =
            wire.units[0].entries[1].change.as_mut()
        {
            c.expected_pct = 101;
        }
        assert!(matches!(
            decode(&wire.encode_to_vec()),
            Err(WireError::Percent { pct: 101, .. })
        ));
    }
}
