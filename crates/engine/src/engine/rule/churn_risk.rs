//! Issue 16: the churn-probability model's view of a member. So far what both the fit and
//! the figures read, her purchase history; the `CHURN_RISK` warning (its `fire` and
//! `next`, at the instant P(alive) falls below each threshold) is still to come.

use crate::btyd::History;
use crate::engine::member::MemberState;
use crate::model::EventTime;

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
