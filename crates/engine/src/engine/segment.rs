//! RFM segments (SPEC §4, thesis tables 2.4 and 4.3): the ordered row table that
//! classifies RFM figures, and warning severities (the segments themselves, with their
//! ranks, are vocabulary: `model::Segment`). What a change
//! of segment means and when the next can come is the segment rule's
//! (`rule/segment.rs`).

use serde::{Deserialize, Serialize};

pub use crate::model::Segment;
use crate::model::{Fen, Span};
use crate::settings::SegmentRule;

/// The figures a segment rule reads, at one instant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Rfm {
    /// `now - last_order_at`; `None` if the member never ordered.
    pub recency: Option<Span>,
    pub f30: u32,
    pub m30: Fen,
    pub f90: u32,
}

/// The compiled segment table: rows in evaluation order.
#[derive(Clone, Debug)]
pub struct SegmentTable {
    rules: Vec<SegmentRule>,
    /// By segment, the first row placing a member in it: read at every wake-up plan.
    row_of: [Option<usize>; Segment::ALL.len()],
}

impl SegmentTable {
    pub fn new(rules: &[SegmentRule]) -> SegmentTable {
        let mut row_of = [None; Segment::ALL.len()];
        for (row, rule) in rules.iter().enumerate().rev() {
            row_of[rule.segment as usize] = Some(row);
        }
        SegmentTable {
            rules: rules.to_vec(),
            row_of,
        }
    }

    /// First matching row wins; no match is `general_retain`. A member who never ordered
    /// is classified by the caller (`new` or, after the activation deadline,
    /// `general_retain`), never here.
    pub fn classify(&self, rfm: &Rfm) -> Segment {
        let Some(recency) = rfm.recency else {
            return Segment::GeneralRetain;
        };
        self.rules
            .iter()
            .find(|rule| {
                rule.max_recency.is_none_or(|max| recency <= max)
                    && rule.min_m30.is_none_or(|min| rfm.m30 >= min)
                    && rule.min_f30.is_none_or(|min| rfm.f30 >= min)
                    && rule.min_f90.is_none_or(|min| rfm.f90 >= min)
            })
            .map_or(Segment::GeneralRetain, |rule| rule.segment)
    }

    /// The row that placed a member in `segment`, if a row did (not the fallback).
    ///
    /// Without events, R only grows and the window figures only shrink, so a row that did
    /// not match never starts to: the segment changes exactly when this row stops
    /// matching. Its bounds are the only ones time can cross to change the segment.
    pub fn rule_for(&self, segment: Segment) -> Option<&SegmentRule> {
        self.row_of[segment as usize].map(|row| &self.rules[row])
    }
}

/// How loud a warning is (seed 002: three-level thresholds).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Notice,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Notice, Severity::Warning, Severity::Critical];

    /// The severity named `name` (`"WARNING"`), as warnings and configuration spell it.
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}
