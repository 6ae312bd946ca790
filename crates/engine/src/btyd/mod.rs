//! "Buy till you die": the BG/NBD model (Fader, Hardie & Lee 2005) and its modified form
//! MBG/NBD (Batislam, Denizel & Filiztekin 2007), as closed forms over one member's
//! purchase history. Pure arithmetic on `f64`; the engine decides what a purchase is and
//! when to ask, the service fits the parameters (`churnwatch fit`).
//!
//! A member's history is `(x, t_x, T)`: her repeat purchases, the time from her first
//! purchase to her last, and her age since her first purchase. Times are in whatever unit
//! `alpha` is in (the engine uses milliseconds); both probabilities below depend on time
//! only through ratios, so they do not change with the unit.
//!
//! The formulas are those of Python's `lifetimes` 0.11 (`BetaGeoFitter`,
//! `ModifiedBetaGeoFitter`), which `scripts/cdnow-check.sh` compares against member by
//! member on the CDNOW sample.

mod hyp2f1;
mod likelihood;

pub use likelihood::{log_likelihood, Histories};

use serde::{Deserialize, Serialize};

/// Which of the two models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// BG/NBD: a member may drop out only after a repeat purchase, so one who bought once
    /// is alive with probability 1 for ever.
    BgNbd,
    /// MBG/NBD: she may also drop out at her first purchase, so her P(alive) falls with
    /// time whatever she bought.
    MbgNbd,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Model::BgNbd => "bg_nbd",
            Model::MbgNbd => "mbg_nbd",
        }
    }
}

/// The four parameters: purchase rates are Gamma(r, α) across members, dropout
/// probabilities Beta(a, b). `alpha` is a time (its unit is the history's unit).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl Params {
    /// All four finite and positive: what the formulas below assume.
    pub fn valid(&self) -> bool {
        [self.r, self.alpha, self.a, self.b]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }

    /// The same model with time in a unit `factor` times smaller (`alpha` in days to
    /// milliseconds: `factor` = 86 400 000).
    pub fn rescaled(self, factor: f64) -> Params {
        Params {
            alpha: self.alpha * factor,
            ..self
        }
    }
}

/// One member's purchase history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct History {
    /// Repeat purchases (purchases after the first).
    pub x: u32,
    /// From the first purchase to the last.
    pub t_x: f64,
    /// From the first purchase to now; `t_x ≤ t`.
    pub t: f64,
}

impl Model {
    /// `ln K` of `P(alive) = 1 / (1 + K·((α+T)/(α+t_x))^(r+x))`; `None` where P(alive) is 1
    /// whatever the time (BG/NBD with no repeat purchase).
    fn ln_k(self, p: &Params, x: u32) -> Option<f64> {
        let x = f64::from(x);
        match self {
            Model::BgNbd if x == 0.0 => None,
            Model::BgNbd => Some(p.a.ln() - (p.b + x - 1.0).ln()),
            Model::MbgNbd => Some(p.a.ln() - (p.b + x).ln()),
        }
    }

    /// The probability that she is still a customer, given her history.
    pub fn p_alive(self, p: &Params, h: History) -> f64 {
        match self.ln_k(p, h.x) {
            None => 1.0,
            Some(ln_k) => {
                // One logarithm of the ratio: this runs at every evaluation of a member.
                let ln_ratio = ((p.alpha + h.t) / (p.alpha + h.t_x)).ln();
                let log_odds_dead = ln_k + (p.r + f64::from(h.x)) * ln_ratio;
                // 1/(1 + e^d): exact where e^d over- or underflows.
                if log_odds_dead > 0.0 {
                    let e = (-log_odds_dead).exp();
                    e / (1.0 + e)
                } else {
                    1.0 / (1.0 + log_odds_dead.exp())
                }
            }
        }
    }

    /// Her expected purchases in the next `horizon` (same unit as `alpha`): eq. (10) of
    /// Fader et al. 2005 for BG/NBD, Wagner & Hoppe 2008 for MBG/NBD. Written with
    /// Euler's transformation of the 2F1 term so that every term of its series past the
    /// first few has one sign (no cancellation, no overflow at large x), and with the
    /// factor `a − 1` kept out of it so that `a = 1` is finite (see [`hyp2f1::euler_tail`]);
    /// for large `a` (a fit whose dropout prior has all but collapsed to one value), the
    /// untransformed series.
    pub fn expected_purchases(self, p: &Params, h: History, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let x = f64::from(h.x);
        // c of the hypergeometric term, and its first parameter after Euler's transform.
        let (big_c, big_a) = match self {
            Model::BgNbd => (p.a + p.b + x - 1.0, p.a + p.b - 1.0 - p.r),
            Model::MbgNbd => (p.a + p.b + x, p.a + p.b - p.r),
        };
        let z = horizon / (p.alpha + h.t + horizon);
        let ln_1mz = (p.alpha + h.t).ln() - (p.alpha + h.t + horizon).ln();
        let numerator = if p.a <= EULER_UP_TO_A {
            let u = (p.a - 1.0) * ln_1mz;
            let tail = hyp2f1::euler_tail(big_a, p.a, big_c, z);
            big_c * (-ln_1mz * exprel(u) - u.exp() * tail)
        } else {
            // The Euler form's terms peak near n = a·z, and past a few hundred they
            // overflow before they shrink; the defining series of the untransformed
            // 2F1(r+x, b'; C; z) has ratios below z·(r+x+n)/(n+1) here instead, and with
            // a that large (1−z)^(a−1) is small, so `1 − H` does not cancel.
            let b_prime = match self {
                Model::BgNbd => p.b + x,
                Model::MbgNbd => p.b + x + 1.0,
            };
            let ln_h = hyp2f1::hyp2f1(p.r + x, b_prime, big_c, z).ln() + (p.r + x) * ln_1mz;
            big_c * -ln_h.exp_m1() / (p.a - 1.0)
        };
        let denominator = 1.0
            + match self.ln_k(p, h.x) {
                None => 0.0,
                Some(ln_k) => {
                    let ln_ratio = (p.alpha + h.t).ln() - (p.alpha + h.t_x).ln();
                    (ln_k + (p.r + x) * ln_ratio).exp()
                }
            };
        numerator / denominator
    }

    /// The age at which P(alive) falls to `threshold` if she buys nothing more: the `T`
    /// solving `K·((α+T)/(α+t_x))^(r+x) = (1−p)/p`. `None` where it never falls
    /// (BG/NBD with no repeat purchase) or for a threshold outside (0, 1). At or below
    /// `t_x` when it is already below the threshold at her last purchase.
    pub fn age_at(self, p: &Params, x: u32, t_x: f64, threshold: f64) -> Option<f64> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return None;
        }
        self.age_at_log_odds(p, x, t_x, ((1.0 - threshold) / threshold).ln())
    }

    /// [`Model::age_at`] with the threshold given as `ln((1 − p)/p)`, for a caller that
    /// asks often about the same thresholds.
    pub fn age_at_log_odds(self, p: &Params, x: u32, t_x: f64, log_odds: f64) -> Option<f64> {
        let ln_k = self.ln_k(p, x)?;
        Some((p.alpha + t_x) * ((log_odds - ln_k) / (p.r + f64::from(x))).exp() - p.alpha)
    }
}

/// Up to this `a` the expected purchases use the Euler form of their 2F1 term.
const EULER_UP_TO_A: f64 = 50.0;

/// `(e^u − 1)/u`, 1 at `u = 0`.
fn exprel(u: f64) -> f64 {
    if u.abs() < 1e-8 {
        1.0 + u / 2.0
    } else {
        u.exp_m1() / u
    }
}

#[cfg(test)]
mod tests;
