//! The fitted churn-probability model as the engine reads it: parameters by fee tier
//! index, the thresholds, the horizon of the expected purchases, the version every figure
//! names. Knows histories, not members: [`super::rule::churn_risk`] reads a member's
//! history from her record and holds the rule.

use std::sync::Arc;

use super::benchmark::BenchmarkTable;
use crate::btyd::{History, Model, Params};
use crate::model::EventTime;
use crate::settings::{ChurnRiskSettings, MAX_RISK_LEVELS};

/// The names of the risk levels (how many thresholds P(alive) is below), as `from`/`to`.
pub const LEVEL_NAMES: [&str; MAX_RISK_LEVELS + 1] =
    ["likely_active", "at_risk", "high_risk", "very_high_risk"];

#[derive(Clone, Debug)]
pub struct ChurnModel {
    pub model: Model,
    pub version: Arc<str>,
    population: Params,
    /// By fee tier index; the population's where a tier has no fit of its own.
    by_tier: Vec<Params>,
    thresholds: Vec<f64>,
    /// `ln((1 − p)/p)` of each threshold, for the closed-form crossing.
    log_odds: Vec<f64>,
    horizon_ms: f64,
}

/// A member's model figures at an instant, in fixed point so that warnings compare and
/// print exactly: P(alive) in millionths (rounded down), expected purchases in
/// millionths (rounded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnFigures {
    pub p_alive_ppm: u32,
    pub expected_purchases_micro: u64,
    pub version: Arc<str>,
}

impl ChurnModel {
    pub fn new(settings: &ChurnRiskSettings, benchmark: &BenchmarkTable) -> ChurnModel {
        let by_tier = (0..benchmark.tier_count())
            .map(|i| {
                let name = benchmark.tier_name(i as u8);
                settings
                    .tiers
                    .get(name)
                    .copied()
                    .unwrap_or(settings.population)
            })
            .collect();
        ChurnModel {
            model: settings.model,
            version: Arc::from(settings.version.as_str()),
            population: settings.population,
            by_tier,
            thresholds: settings.thresholds.clone(),
            log_odds: settings
                .thresholds
                .iter()
                .map(|p| ((1.0 - p) / p).ln())
                .collect(),
            horizon_ms: settings.horizon.as_millis() as f64,
        }
    }

    /// The parameters for a member of fee tier `tier` (`None`: no profile yet).
    pub fn params(&self, tier: Option<u8>) -> &Params {
        tier.and_then(|t| self.by_tier.get(usize::from(t)))
            .unwrap_or(&self.population)
    }

    pub fn p_alive(&self, tier: Option<u8>, h: History) -> f64 {
        self.model.p_alive(self.params(tier), h)
    }

    /// The figures of a history, for a warning or a query.
    pub fn figures(&self, tier: Option<u8>, h: History) -> ChurnFigures {
        let p = self.params(tier);
        let alive = self.model.p_alive(p, h);
        let expected = self.model.expected_purchases(p, h, self.horizon_ms);
        ChurnFigures {
            // Rounded down, so that a P(alive) just below a threshold never shows as the
            // threshold itself.
            p_alive_ppm: (alive * 1e6).floor().clamp(0.0, 1e6) as u32,
            expected_purchases_micro: (expected * 1e6).round().max(0.0) as u64,
            version: Arc::clone(&self.version),
        }
    }

    /// How many thresholds `p_alive` is below.
    pub fn level_of(&self, p_alive: f64) -> u8 {
        // Thresholds are strictly decreasing: those above P(alive) come first.
        self.thresholds.iter().take_while(|&&t| p_alive < t).count() as u8
    }

    /// The threshold whose crossing puts a member at `level` (1-based).
    pub fn threshold(&self, level: u8) -> Option<f64> {
        usize::from(level)
            .checked_sub(1)
            .and_then(|i| self.thresholds.get(i).copied())
    }

    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// When to look again at whether P(alive) of history `h` (first purchase at `first`)
    /// is below the threshold after `level`, if nothing is bought before: the millisecond
    /// at which the closed form's age falls, or the next one if that has passed.
    ///
    /// That is at most a millisecond before the first millisecond it is below (the
    /// closed form is within a few ulps of the age, far less than a millisecond), never
    /// after it, so the judgement at the wake-up ([`super::rule::churn_risk`]'s `fire`,
    /// which computes P itself) decides the instant; when the wake-up comes a
    /// millisecond early, P is not below yet, nothing fires and the re-plan asks for
    /// the next millisecond. One extra evaluation per crossing, instead of evaluating P
    /// at the millisecond either side at every re-plan.
    pub fn crossing(
        &self,
        tier: Option<u8>,
        h: History,
        first: EventTime,
        level: u8,
        now: EventTime,
    ) -> Option<EventTime> {
        let log_odds = *self.log_odds.get(usize::from(level))?;
        let age = self
            .model
            .age_at_log_odds(self.params(tier), h.x, h.t_x, log_odds)?;
        // Past about 30 000 years (or not a number): never, as far as a timer cares.
        if age.is_nan() || age >= 1e15 {
            return None;
        }
        let at = first.as_millis() + age.max(0.0).floor() as i64;
        Some(EventTime::from_millis(at.max(now.as_millis() + 1)))
    }
}
