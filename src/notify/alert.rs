//! A warning as the notifier reads it back from the warnings topic or a file: the JSON
//! contract of SPEC §7 or its Protobuf form (`churnwatch.v1.Warning`), checked field by
//! field. The notifier is a consumer like CRM, so it depends on the contracts, not on the
//! engine's in-memory warning; both forms read back to the same alert.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::{Severity, WarningKind};
use crate::model::{EventTime, Fen};
use crate::proto::v1;

/// One warning, as much of it as alerts need.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The idempotency key of every delivery.
    pub warning_id: String,
    pub kind: WarningKind,
    pub severity: Severity,
    pub member_id: Option<String>,
    pub group_id: Option<String>,
    pub tutor_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub event_time: EventTime,
    pub emitted_at: EventTime,
    /// The figures as the engine wrote them (member or group figures, SPEC §7).
    pub figures: Map<String, Value>,
    pub action: String,
    /// Within the member's contact cap: only these reach a tutor.
    pub notify: bool,
}

/// Why a line is not an alert.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("not a warning in the JSON contract: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a churnwatch.v1.Warning: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("unknown warning kind `{0}`")]
    Kind(String),
    #[error("unknown severity `{0}`")]
    Severity(String),
    #[error("`{field}` is not an RFC 3339 instant: {text}")]
    Time { field: &'static str, text: String },
}

#[derive(Deserialize)]
struct Raw {
    warning_id: String,
    kind: String,
    severity: String,
    member_id: Option<String>,
    group_id: Option<String>,
    tutor_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    event_time: String,
    emitted_at: String,
    #[serde(default)]
    figures: Map<String, Value>,
    #[serde(default)]
    action: String,
    notify: bool,
}

impl Alert {
    /// Reads one warning in the JSON form of SPEC §7.
    pub fn from_json(line: &[u8]) -> Result<Alert, AlertError> {
        let raw: Raw = serde_json::from_slice(line)?;
        let kind = WarningKind::ALL
            .into_iter()
            .find(|k| k.name() == raw.kind)
            .ok_or_else(|| AlertError::Kind(raw.kind.clone()))?;
        let severity = Severity::from_name(&raw.severity)
            .ok_or_else(|| AlertError::Severity(raw.severity.clone()))?;
        let time = |field: &'static str, text: &str| {
            EventTime::parse_rfc3339(text).map_err(|_| AlertError::Time {
                field,
                text: text.to_owned(),
            })
        };
        Ok(Alert {
            event_time: time("event_time", &raw.event_time)?,
            emitted_at: time("emitted_at", &raw.emitted_at)?,
            warning_id: raw.warning_id,
            kind,
            severity,
            member_id: raw.member_id,
            group_id: raw.group_id,
            tutor_id: raw.tutor_id,
            from: raw.from,
            to: raw.to,
            figures: raw.figures,
            action: raw.action,
            notify: raw.notify,
        })
    }

    /// Reads one `churnwatch.v1.Warning` record (the warnings topic's default encoding).
    /// The figures take the JSON contract's names and units, so that a message reads the
    /// same whichever form the engine wrote.
    pub fn from_protobuf(record: &[u8]) -> Result<Alert, AlertError> {
        use prost::Message as _;
        let w = v1::Warning::decode(record)?;
        let kind_name = v1::WarningKind::try_from(w.kind)
            .map(|k| k.as_str_name())
            .unwrap_or("");
        let kind = WarningKind::ALL
            .into_iter()
            .find(|k| k.name() == kind_name)
            .ok_or_else(|| AlertError::Kind(format!("{} ({})", kind_name, w.kind)))?;
        let severity_name = v1::Severity::try_from(w.severity)
            .map(|s| s.as_str_name())
            .unwrap_or("");
        let severity = Severity::from_name(severity_name)
            .ok_or_else(|| AlertError::Severity(format!("{} ({})", severity_name, w.severity)))?;
        Ok(Alert {
            warning_id: w.warning_id,
            kind,
            severity,
            member_id: w.member_id,
            group_id: w.group_id,
            tutor_id: w.tutor_id,
            from: w.from,
            to: w.to,
            event_time: EventTime::from_millis(w.event_time_ms),
            emitted_at: EventTime::from_millis(w.emitted_at_ms),
            figures: w.figures.map(figures_json).unwrap_or_default(),
            action: w.action,
            notify: w.notify,
        })
    }

    /// A figure as text, if the warning carries it (`"m30"` → `"1200.00"`, `"f30"` → `"2"`).
    pub fn figure(&self, name: &str) -> Option<String> {
        match self.figures.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            other => Some(other.to_string()),
        }
    }

    /// Whether this is news that a member is back (a later upgrade answers her fall).
    pub fn is_recovery(&self) -> bool {
        self.kind == WarningKind::SegmentUpgrade
    }

    /// Whether a recovery of her makes this alert moot: a fall, a recall call or a churn
    /// risk (the order that lifted her answers it), not an open ticket or a lapse (an
    /// order answers neither).
    pub fn answered_by_recovery(&self) -> bool {
        matches!(
            self.kind,
            WarningKind::SegmentDowngrade
                | WarningKind::ActivationOverdue
                | WarningKind::RecallDue
                | WarningKind::ChurnRisk
        )
    }
}

/// Protobuf figures under the JSON contract's names: money as yuan with two places,
/// shares as percent.
fn figures_json(f: v1::warning::Figures) -> Map<String, Value> {
    let money = |fen: i64| Value::String(Fen(fen).to_string());
    let percent = |bp: i64| Value::Number(crate::output::percent_number(bp));
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    match f {
        v1::warning::Figures::Member(f) => {
            put(
                "recency_days",
                f.recency_days.map_or(Value::Null, Value::from),
            );
            put("f30", f.f30.into());
            put("m30", money(f.m30_fen));
            put("f90", f.f90.into());
            put("lifetime_orders", f.lifetime_orders.into());
            put("lifetime_amount", money(f.lifetime_amount_fen));
            if let Some(n) = f.recall_attempt {
                put("recall_attempt", n.into());
            }
            if let Some(d) = f.days_since_login {
                put("days_since_login", d.into());
            }
            if let Some(t) = f.ticket_id {
                put("ticket_id", t.into());
            }
            if let Some(h) = f.ticket_open_hours {
                put("ticket_open_hours", h.into());
            }
            let millionths = |n: u64| Value::from(crate::output::millionths_number(n));
            if let Some(p) = f.p_alive_ppm {
                put("p_alive", millionths(p.into()));
            }
            if let Some(e) = f.expected_purchases_micro {
                put("expected_purchases", millionths(e));
            }
            if let Some(v) = f.model_version {
                put("model_version", v.into());
            }
            if let Some(t) = f.threshold_ppm {
                put("threshold", millionths(t.into()));
            }
        }
        v1::warning::Figures::Group(f) => {
            put("members", f.members.into());
            put("active", f.active.into());
            put("activity", percent(f.activity_bp));
            put("benchmark", percent(f.benchmark_bp));
            put("output_per_active", money(f.output_per_active_fen));
            put("output_target", money(f.output_target_fen));
            put("weakest_categories", f.weakest_categories.into());
            put("members_needed", f.members_needed.into());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, TimeMode};
    use crate::model::{Event, EventBody, MemberId, Order, Span};

    /// What the engine writes, the notifier reads: every field survives the contract.
    #[test]
    fn a_warning_the_engine_wrote_reads_back_as_an_alert() {
        let mut engine = Engine::new(&crate::config::Config::default().engine(), TimeMode::Replay);
        let t0 = EventTime::from_millis(1_767_225_600_000);
        let mut out = Vec::new();
        let event = Event {
            event_id: "e1".into(),
            member_id: MemberId::new("m1"),
            ts: t0,
            body: EventBody::Order(Order {
                order_key: 7,
                amount: crate::model::Fen::yuan(1200),
                category: crate::model::Category::Skincare,
            }),
        };
        engine.process(0, &event, t0, &mut out).unwrap();
        engine.advance_to(t0 + Span::days(8), &mut out);
        let w = &out[0];
        let mut line = Vec::new();
        crate::output::write_json_line(&mut line, w).unwrap();
        let alert = Alert::from_json(&line).unwrap();
        assert_eq!(alert.warning_id, w.id.to_string());
        assert_eq!((alert.kind, alert.severity), (w.kind, w.severity));
        assert_eq!(alert.member_id.as_deref(), Some("m1"));
        assert_eq!(alert.event_time, w.event_time);
        assert_eq!(alert.from.as_deref(), Some("important_value"));
        assert_eq!(alert.figure("m30").as_deref(), Some("1200.00"));
        assert_eq!(alert.figure("recency_days").as_deref(), Some("7"));
        assert!(alert.notify);
    }

    /// The warnings topic carries Protobuf: it reads back to the alert the JSON line gives,
    /// figures included, for member and group warnings and each kind of detail.
    #[test]
    fn a_protobuf_warning_reads_back_as_the_same_alert_as_its_json_line() {
        use crate::engine::Detail;
        use crate::output::fixtures;
        let warnings = [
            fixtures::member(Detail::None, "m-1"),
            fixtures::member(Detail::RecallAttempt(3), "m-2"),
            fixtures::member(Detail::DaysSinceLogin(61), "m-3"),
            fixtures::member(
                Detail::Ticket {
                    ticket_id: "tk-9".into(),
                    open_hours: 50,
                },
                "m-4",
            ),
            fixtures::group(2_510, 3_600, "g-1"),
        ];
        for w in &warnings {
            let mut line = Vec::new();
            crate::output::write_json_line(&mut line, w).unwrap();
            let from_json = Alert::from_json(&line).unwrap();
            let record = prost::Message::encode_to_vec(&crate::output::to_protobuf(w));
            assert_eq!(Alert::from_protobuf(&record).unwrap(), from_json);
        }
        assert!(matches!(
            Alert::from_protobuf(b"\xff\xff"),
            Err(AlertError::Protobuf(_))
        ));
    }

    #[test]
    fn a_line_outside_the_contract_is_refused_with_its_reason() {
        let good = r#"{"warning_id":"a","kind":"RECALL_DUE","severity":"NOTICE","member_id":"m","group_id":null,"tutor_id":null,"from":null,"to":"general_maintain","event_time":"2026-01-01T00:00:00.000Z","emitted_at":"2026-01-01T00:00:00.000Z","figures":{},"action":"x","notify":true}"#;
        assert!(Alert::from_json(good.as_bytes()).is_ok());
        let bad_kind = good.replace("RECALL_DUE", "RECALL");
        assert!(matches!(
            Alert::from_json(bad_kind.as_bytes()),
            Err(AlertError::Kind(_))
        ));
        let bad_time = good.replace("2026-01-01T00:00:00.000Z\",\"figures", "soon\",\"figures");
        assert!(matches!(
            Alert::from_json(bad_time.as_bytes()),
            Err(AlertError::Time {
                field: "emitted_at",
                ..
            })
        ));
        assert!(matches!(
            Alert::from_json(b"{\"kind\":1}"),
            Err(AlertError::Json(_))
        ));
    }
}
