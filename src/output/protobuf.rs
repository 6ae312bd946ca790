//! Warnings as Protobuf `churnwatch.v1.Warning` (proto/churnwatch/v1/warning.proto): the
//! same content as the JSON form in Protobuf's own types (fen, epoch milliseconds, basis
//! points).

use crate::engine::{Detail, Figures, Label, Severity, Warning, WarningKind};
use crate::proto::v1;

/// The fully qualified message name, carried in a header of every warning record so a
/// consumer knows how to decode it without guessing.
pub const WARNING_SCHEMA: &str = "churnwatch.v1.Warning";

/// `w` as a new message.
pub fn to_protobuf(w: &Warning) -> v1::Warning {
    let mut out = v1::Warning::default();
    fill_protobuf(w, &mut out);
    out
}

/// Overwrites `out` with `w`, reusing its strings' capacity: the warnings topic encodes
/// one message per warning, and a fresh message costs seven allocations.
pub fn fill_protobuf(w: &Warning, out: &mut v1::Warning) {
    fn set(dst: &mut String, src: &str) {
        dst.clear();
        dst.push_str(src);
    }
    fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
        match src {
            None => *dst = None,
            Some(src) => set(dst.get_or_insert_with(String::new), src),
        }
    }
    set_id(&mut out.warning_id, w);
    out.kind = kind(w.kind) as i32;
    out.severity = severity(w.severity) as i32;
    set_opt(
        &mut out.member_id,
        w.member_id.as_ref().map(|id| id.as_str()),
    );
    set_opt(&mut out.group_id, w.group_id.as_ref().map(|id| id.as_str()));
    set_opt(&mut out.tutor_id, w.tutor_id.as_ref().map(|id| id.as_str()));
    set_opt(&mut out.from, w.from.map(Label::name));
    set_opt(&mut out.to, w.to.map(Label::name));
    out.event_time_ms = w.event_time.as_millis();
    out.emitted_at_ms = w.emitted_at.as_millis();
    out.figures = Some(figures(&w.figures));
    set(&mut out.action, &w.action);
    out.notify = w.notify;
}

/// The id as 32 lower-case hex digits, written into `dst` without a temporary string.
fn set_id(dst: &mut String, w: &Warning) {
    use std::fmt::Write as _;
    dst.clear();
    // Writing to a String cannot fail.
    let _ = write!(dst, "{}", w.id);
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
        WarningKind::ChurnRisk => v1::WarningKind::ChurnRisk,
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
            if let Some(churn) = &m.churn {
                out.p_alive_ppm = Some(churn.p_alive_ppm);
                out.expected_purchases_micro = Some(churn.expected_purchases_micro);
                out.model_version = Some(churn.version.to_string());
            }
            match &m.detail {
                Detail::None => {}
                Detail::ChurnRisk { threshold_ppm } => out.threshold_ppm = Some(*threshold_ppm),
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

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::output::fixtures::{group, member};

    #[test]
    fn a_reused_message_encodes_exactly_like_a_fresh_one() {
        let warnings = [
            member(Detail::RecallAttempt(3), "a"),
            group(4010, 4500, "g"),
            member(
                Detail::Ticket {
                    ticket_id: "k1".into(),
                    open_hours: 49,
                },
                "中文",
            ),
            member(Detail::None, ""),
        ];
        let mut reused = v1::Warning::default();
        for w in &warnings {
            fill_protobuf(w, &mut reused);
            assert_eq!(reused, to_protobuf(w));
            assert_eq!(reused.encode_to_vec(), to_protobuf(w).encode_to_vec());
        }
    }

    #[test]
    fn the_message_carries_what_the_json_form_carries() {
        let w = to_protobuf(&member(Detail::DaysSinceLogin(31), "x"));
        let back = v1::Warning::decode(&*w.encode_to_vec()).unwrap();
        assert_eq!(back.warning_id, "83dbd50b08e6566bd4005ad9fafc42e3");
        assert_eq!(back.kind(), v1::WarningKind::SegmentDowngrade);
        assert_eq!(back.severity(), v1::Severity::Warning);
        assert_eq!(back.member_id.as_deref(), Some("mx"));
        assert_eq!(back.from.as_deref(), Some("important_value"));
        assert_eq!(back.to.as_deref(), Some("important_maintain"));
        assert_eq!(back.event_time_ms, 1_767_867_600_001);
        assert!(back.notify);
        let Some(v1::warning::Figures::Member(f)) = back.figures else {
            panic!("member figures expected");
        };
        assert_eq!(
            (f.recency_days, f.m30_fen, f.days_since_login),
            (Some(7), 120_000, Some(31))
        );
        let g = to_protobuf(&group(4010, 4500, "g"));
        let Some(v1::warning::Figures::Group(f)) = g.figures else {
            panic!("group figures expected");
        };
        assert_eq!((f.activity_bp, f.benchmark_bp), (4010, 4500));
        assert_eq!(f.weakest_categories, ["fresh_food", "mother_baby"]);
        assert_eq!(g.member_id, None);
    }

    #[test]
    fn churn_risk_and_the_model_figures_travel_in_fixed_point() {
        let mut w = member(
            Detail::ChurnRisk {
                threshold_ppm: 200_000,
            },
            "c",
        );
        w.kind = WarningKind::ChurnRisk;
        w.to = Some(crate::engine::Label::Risk(2));
        if let Figures::Member(f) = &mut w.figures {
            f.churn = Some(crate::engine::churn_model::ChurnFigures {
                p_alive_ppm: 199_999,
                expected_purchases_micro: 1_250_000,
                version: "mbg_nbd-20250930-9699473f".into(),
            });
        }
        let back = v1::Warning::decode(&*to_protobuf(&w).encode_to_vec()).unwrap();
        assert_eq!(back.kind(), v1::WarningKind::ChurnRisk);
        assert_eq!(back.to.as_deref(), Some("high_risk"));
        let Some(v1::warning::Figures::Member(f)) = back.figures else {
            panic!("member figures expected");
        };
        assert_eq!(f.p_alive_ppm, Some(199_999));
        assert_eq!(f.expected_purchases_micro, Some(1_250_000));
        assert_eq!(
            f.model_version.as_deref(),
            Some("mbg_nbd-20250930-9699473f")
        );
        assert_eq!(f.threshold_ppm, Some(200_000));
        // Without the model, none of them.
        let plain = to_protobuf(&member(Detail::None, "p"));
        let Some(v1::warning::Figures::Member(f)) = plain.figures else {
            panic!("member figures expected");
        };
        assert_eq!((f.p_alive_ppm, f.model_version), (None, None));
    }
}
