//! A warning as the notifier reads it back from the warnings topic or a file: the JSON
//! contract of SPEC §7, checked field by field. The notifier is a consumer like CRM, so
//! it depends on the contract, not on the engine's in-memory warning.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::{Severity, WarningKind};
use crate::model::EventTime;

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

    /// Whether a recovery of her makes this alert moot: a fall or a recall call, not an
    /// open ticket or a lapse (an order answers neither).
    pub fn answered_by_recovery(&self) -> bool {
        matches!(
            self.kind,
            WarningKind::SegmentDowngrade | WarningKind::ActivationOverdue | WarningKind::RecallDue
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, TimeMode};
    use crate::model::{Event, EventBody, MemberId, Order, Span};

    /// What the engine writes, the notifier reads: every field survives the contract.
    #[test]
    fn a_warning_the_engine_wrote_reads_back_as_an_alert() {
        let mut engine = Engine::new(&crate::config::Config::default(), TimeMode::Replay);
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
