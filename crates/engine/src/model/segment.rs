//! The RFM segments of SPEC §4 (thesis tables 2.4 and 4.3) and their ranks: vocabulary
//! shared by the settings that name them, the engine that assigns them and the output.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A member's RFM segment. `New` has no rank: the member has never ordered.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    New,
    GeneralRetain,
    GeneralMaintain,
    GeneralDevelopment,
    GeneralValue,
    ImportantRetain,
    ImportantMaintain,
    ImportantDevelopment,
    ImportantValue,
}

impl Segment {
    pub const ALL: [Segment; 9] = [
        Segment::New,
        Segment::GeneralRetain,
        Segment::GeneralMaintain,
        Segment::GeneralDevelopment,
        Segment::GeneralValue,
        Segment::ImportantRetain,
        Segment::ImportantMaintain,
        Segment::ImportantDevelopment,
        Segment::ImportantValue,
    ];

    /// 1 (`general_retain`) to 8 (`important_value`); `None` for `new`.
    pub fn rank(self) -> Option<u8> {
        match self {
            Segment::New => None,
            other => Some(other as u8),
        }
    }

    pub fn is_important(self) -> bool {
        self >= Segment::ImportantRetain
    }

    pub const fn name(self) -> &'static str {
        match self {
            Segment::New => "new",
            Segment::GeneralRetain => "general_retain",
            Segment::GeneralMaintain => "general_maintain",
            Segment::GeneralDevelopment => "general_development",
            Segment::GeneralValue => "general_value",
            Segment::ImportantRetain => "important_retain",
            Segment::ImportantMaintain => "important_maintain",
            Segment::ImportantDevelopment => "important_development",
            Segment::ImportantValue => "important_value",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
