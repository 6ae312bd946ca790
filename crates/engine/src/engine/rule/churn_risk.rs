//! Issue 16, `CHURN_RISK`: when a member's P(alive) under the fitted BG/NBD or MBG/NBD
//! model ([`crate::btyd`]) falls below each of `churn_risk.thresholds` (default 0.5 and
//! 0.2), at the first millisecond it is below. `next` asks for a wake-up where the closed
//! form puts the crossing (at most a millisecond early); `fire` computes P itself at the
//! instant judged, so the warning's instant is P's own. Between her orders P(alive) only
//! falls; an order moves it (usually up: "an order lifts it again", and a later fall
//! warns again). WARNING for a member of an `important_*` segment, NOTICE otherwise;
//! never CRITICAL, so the contact cap always applies (an estimate alone does not
//! override it; the RFM downgrades already carry the critical falls).
//!
//! A purchase here is a purchase day (see [`history`]); a member without an order has no
//! history and no risk level.

use super::{Earliest, Pending};
use crate::btyd::History;
use crate::engine::churn_model::{ChurnFigures, ChurnModel};
use crate::engine::member::MemberState;
use crate::engine::warning::{Detail, Label, WarningKind};
use crate::engine::{Segment, Severity};
use crate::model::EventTime;

/// Her fee tier, for the model's per-tier parameters; `None` without a profile.
fn tier(m: &MemberState) -> Option<u8> {
    m.has_profile().then(|| m.tier())
}

/// Her P(alive) at `at`; `None` before her first order.
pub fn p_alive(model: &ChurnModel, m: &MemberState, at: EventTime) -> Option<f64> {
    history(m, at).map(|h| model.p_alive(tier(m), h))
}

/// Her figures at `at`, for a warning or a query; `None` before her first order.
pub fn figures(model: &ChurnModel, m: &MemberState, at: EventTime) -> Option<ChurnFigures> {
    history(m, at).map(|h| model.figures(tier(m), h))
}

/// How many thresholds her P(alive) is below at `at` (0 before her first order).
pub fn level_at(model: &ChurnModel, m: &MemberState, at: EventTime) -> u8 {
    p_alive(model, m, at).map_or(0, |p| model.level_of(p))
}

/// Her purchase history at `now` in milliseconds, as the models read it: repeat purchase
/// days, from her first order to her last, from her first order to `now`. `None` before
/// her first order (the models describe customers, from their first purchase on).
pub fn history(m: &MemberState, now: EventTime) -> Option<History> {
    let first = m.first_order_at()?;
    let last = m.last_order_at()?;
    Some(History {
        x: m.purchase_days().saturating_sub(1),
        t_x: (last.as_millis() - first.as_millis()) as f64,
        t: (now.as_millis().max(last.as_millis()) - first.as_millis()) as f64,
    })
}

/// Warns when her risk level at `at` is above `level` (the level last evaluated), once,
/// naming the lowest threshold now crossed; `level` becomes the level at `at`, lower too
/// (after an order).
#[inline]
pub(in crate::engine) fn fire(
    model: &ChurnModel,
    m: &MemberState,
    at: EventTime,
    target: Segment,
    level: &mut u8,
    pending: &mut Vec<Pending>,
) {
    let now = level_at(model, m, at);
    if now > *level {
        let threshold = model.threshold(now).unwrap_or(0.0);
        pending.push(Pending {
            kind: WarningKind::ChurnRisk,
            severity: severity(target),
            from: Some(Label::Risk(*level)),
            to: Some(Label::Risk(now)),
            detail: Detail::ChurnRisk {
                threshold_ppm: (threshold * 1e6).round() as u32,
            },
            notify: false,
        });
    }
    *level = now;
}

fn severity(target: Segment) -> Severity {
    if target.is_important() {
        Severity::Warning
    } else {
        Severity::Notice
    }
}

/// When her P(alive) next falls below a threshold, if she buys nothing before.
#[inline]
pub(in crate::engine) fn next(
    model: &ChurnModel,
    m: &MemberState,
    now: EventTime,
    earliest: &mut Earliest,
) {
    let (Some(h), Some(first)) = (history(m, now), m.first_order_at()) else {
        return;
    };
    if let Some(at) = model.crossing(tier(m), h, first, m.risk_level(), now) {
        earliest.consider(at);
    }
}
