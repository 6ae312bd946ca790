//! Warnings as Protobuf `churnwatch.v1.Warning` (proto/churnwatch/v1/warning.proto): the
//! same content as the JSON form in Protobuf's own types (fen, epoch milliseconds, basis
//! points).

use crate::engine::{Detail, Figures, Label, Severity, Warning, WarningKind};
use crate::proto::v1;

/// The fully qualified message name, carried in a header of every warning record so a
/// consumer knows how to decode it without guessing.
pub const WARNING_SCHEMA: &str = "churnwatch.v1.Warning";

pub fn to_protobuf(w: &Warning) -> v1::Warning {
    v1::Warning {
        warning_id: w.id.to_string(),
        kind: kind(w.kind) as i32,
        severity: severity(w.severity) as i32,
        member_id: w.member_id.as_ref().map(|id| id.as_str().to_owned()),
        group_id: w.group_id.as_ref().map(|id| id.as_str().to_owned()),
        tutor_id: w.tutor_id.as_ref().map(|id| id.as_str().to_owned()),
        from: w.from.map(|l| Label::name(l).to_owned()),
        to: w.to.map(|l| Label::name(l).to_owned()),
        event_time_ms: w.event_time.as_millis(),
        emitted_at_ms: w.emitted_at.as_millis(),
        figures: Some(figures(&w.figures)),
        action: w.action.to_string(),
        notify: w.notify,
    }
}

fn kind(k: WarningKind) -> v1::WarningKind {
    match k {
        WarningKind::SegmentDowngrade => v1::WarningKind::SegmentDowngrade,
        WarningKind::SegmentUpgrade => v1::WarningKind::SegmentUpgrade,
        WarningKind::ActivationOverdue => v1::WarningKind::ActivationOverdue,
        WarningKind::RecallDue => v1::WarningKind::RecallDue,
        WarningKind::LoginLapsed => v1::WarningKind::LoginLapsed,
        WarningKind::AfterSalesOverdue => v1::WarningKind::AfterSalesOverdue,
        WarningKind::GroupBelowBenchmark => v1::WarningKind::GroupBelowBenchmark,
        WarningKind::GroupRecovered => v1::WarningKind::GroupRecovered,
        WarningKind::GroupOutputBelowTarget => v1::WarningKind::GroupOutputBelowTarget,
    }
}

fn severity(s: Severity) -> v1::Severity {
    match s {
        Severity::Notice => v1::Severity::Notice,
        Severity::Warning => v1::Severity::Warning,
        Severity::Critical => v1::Severity::Critical,
    }
}

fn figures(f: &Figures) -> v1::warning::Figures {
    match f {
        Figures::Member(m) => {
            let mut out = v1::MemberFigures {
                recency_days: m.recency_days,
                f30: m.f30,
                m30_fen: m.m30.0,
                f90: m.f90,
                lifetime_orders: m.lifetime_orders,
                lifetime_amount_fen: m.lifetime_amount.0,
                ..Default::default()
            };
            match &m.detail {
                Detail::None => {}
                Detail::RecallAttempt(n) => out.recall_attempt = Some(u32::from(*n)),
                Detail::DaysSinceLogin(d) => out.days_since_login = Some(*d),
                Detail::Ticket {
                    ticket_id,
                    open_hours,
                } => {
                    out.ticket_id = Some(ticket_id.to_string());
                    out.ticket_open_hours = Some(*open_hours);
                }
            }
            v1::warning::Figures::Member(out)
        }
        Figures::Group(g) => v1::warning::Figures::Group(v1::GroupFigures {
            members: g.members,
            active: g.active,
            activity_bp: g.activity_bp,
            benchmark_bp: g.benchmark_bp,
            output_per_active_fen: g.output_per_active.0,
            output_target_fen: g.output_target.0,
            weakest_categories: g
                .weakest_categories
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            members_needed: g.members_needed,
        }),
    }
}
