//! The configuration compiled into the shapes the hot path reads: the segment table, the
//! benchmark rows by tier number, and the action texts as shared strings.

use std::sync::Arc;

use super::benchmark::BenchmarkTable;
use super::churn_model::ChurnModel;
use super::segment::{Segment, SegmentTable};
use super::warning::WarningKind;
use crate::settings::{Actions, Settings};

#[derive(Clone, Debug)]
pub struct Rules {
    pub settings: Settings,
    pub segments: SegmentTable,
    pub benchmark: BenchmarkTable,
    /// The churn-probability model, when configured.
    pub churn: Option<ChurnModel>,
    segment_actions: Vec<Arc<str>>,
    kind_actions: Vec<Arc<str>>,
}

impl Rules {
    pub fn new(config: &Settings) -> Rules {
        let a: &Actions = &config.actions;
        let segment_actions = Segment::ALL
            .iter()
            .map(|s| {
                let text = match s {
                    Segment::New => &a.activation_overdue,
                    Segment::GeneralRetain => &a.general_retain,
                    Segment::GeneralMaintain => &a.general_maintain,
                    Segment::GeneralDevelopment => &a.general_development,
                    Segment::GeneralValue => &a.general_value,
                    Segment::ImportantRetain => &a.important_retain,
                    Segment::ImportantMaintain => &a.important_maintain,
                    Segment::ImportantDevelopment => &a.important_development,
                    Segment::ImportantValue => &a.important_value,
                };
                Arc::from(text.as_str())
            })
            .collect();
        let kind_actions = WarningKind::ALL
            .iter()
            .map(|k| {
                let text = match k {
                    WarningKind::SegmentDowngrade | WarningKind::SegmentUpgrade => "",
                    WarningKind::ActivationOverdue => &a.activation_overdue,
                    WarningKind::RecallDue => &a.recall_due,
                    WarningKind::LoginLapsed => &a.login_lapsed,
                    WarningKind::AfterSalesOverdue => &a.after_sales_overdue,
                    WarningKind::GroupBelowBenchmark => &a.group_below_benchmark,
                    WarningKind::GroupRecovered => &a.group_recovered,
                    WarningKind::GroupOutputBelowTarget => &a.group_output_below_target,
                    WarningKind::ChurnRisk => &a.churn_risk,
                };
                Arc::from(text)
            })
            .collect();
        let benchmark = BenchmarkTable::new(&config.groups.benchmark);
        Rules {
            settings: config.clone(),
            segments: SegmentTable::new(&config.segments.rules),
            churn: config
                .churn_risk
                .as_ref()
                .map(|c| ChurnModel::new(c, &benchmark)),
            benchmark,
            segment_actions,
            kind_actions,
        }
    }

    /// The recommended action for a member who has just landed in `segment`.
    pub fn segment_action(&self, segment: Segment) -> Arc<str> {
        Arc::clone(&self.segment_actions[segment as usize])
    }

    pub fn kind_action(&self, kind: WarningKind) -> Arc<str> {
        Arc::clone(&self.kind_actions[kind as usize])
    }
}
