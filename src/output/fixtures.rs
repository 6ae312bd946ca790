//! Sample warnings for the encoders' tests: every field set, awkward text where text goes.

use std::sync::Arc;

use crate::engine::{
    Detail, Figures, Grade, GroupFigures, Label, MemberFigures, Segment, Severity, Warning,
    WarningId, WarningKind,
};
use crate::model::{Category, EventTime, Fen, GroupId, MemberId, TutorId};

pub fn member(detail: Detail, awkward: &str) -> Warning {
    Warning {
        id: WarningId(0x83db_d50b_08e6_566b_d400_5ad9_fafc_42e3),
        kind: WarningKind::SegmentDowngrade,
        severity: Severity::Warning,
        member_id: Some(MemberId::new(&format!("m{awkward}"))),
        group_id: Some(GroupId::new(awkward)),
        tutor_id: Some(TutorId::new(&format!("{awkward}{awkward}{awkward}t"))),
        from: Some(Label::Segment(Segment::ImportantValue)),
        to: Some(Label::Segment(Segment::ImportantMaintain)),
        event_time: EventTime::from_millis(1_767_867_600_001),
        emitted_at: EventTime::from_millis(1_772_323_200_000),
        figures: Figures::Member(MemberFigures {
            recency_days: Some(7),
            f30: 1,
            m30: Fen(120_000),
            f90: 1,
            lifetime_orders: 1,
            lifetime_amount: Fen(120_000),
            churn: None,
            detail,
        }),
        action: Arc::from(format!("personal check-in; {awkward}")),
        notify: true,
    }
}

pub fn group(activity_bp: i64, benchmark_bp: i64, awkward: &str) -> Warning {
    Warning {
        id: WarningId(1),
        kind: WarningKind::GroupBelowBenchmark,
        severity: Severity::Notice,
        member_id: None,
        group_id: Some(GroupId::new(awkward)),
        tutor_id: None,
        from: Some(Label::Grade(Grade::Good)),
        to: Some(Label::Ungraded),
        event_time: EventTime::from_millis(-1),
        emitted_at: EventTime::from_millis(0),
        figures: Figures::Group(GroupFigures {
            members: 250,
            active: 90,
            activity_bp,
            benchmark_bp,
            output_per_active: Fen(-5),
            output_target: Fen(i64::MAX),
            weakest_categories: vec![Category::FreshFood, Category::MotherBaby],
            members_needed: u32::MAX,
        }),
        action: Arc::from(awkward),
        notify: false,
    }
}
