//! Maximum likelihood for the four parameters, by argmin's Nelder-Mead on their logs
//! (positivity for free; four parameters are the simplex method's home ground, and the
//! likelihood's gradient is not needed). Time is measured in units of the largest age
//! while fitting, as `lifetimes` does, so that the start (every parameter 1) is near the
//! answer whatever the data's time scale.

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;

use crate::btyd::{log_likelihood, Histories, Model, Params};

/// A fit's outcome.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// `alpha` in the histories' unit.
    pub params: Params,
    pub members: usize,
    pub iterations: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("no member has a purchase before the end of the calibration window")]
    NoMembers,
    #[error(
        "every member's first purchase is at the end of the calibration window: no time to fit on"
    )]
    NoTime,
    #[error("the optimiser failed: {0}")]
    Optimiser(String),
    #[error("the optimiser ended at parameters outside the model ({0:?})")]
    Degenerate(Params),
}

/// The simplex stops when the spread of its costs (a mean log-likelihood) is below this.
const SD_TOLERANCE: f64 = 1e-13;
const MAX_ITERATIONS: u64 = 20_000;
/// Nelder-Mead restarted from its own answer until it no longer moves: a simplex can
/// collapse before the optimum on a flat ridge, and a fresh one around the point escapes.
const RESTARTS: usize = 4;

struct NegativeLogLikelihood<'a> {
    model: Model,
    data: &'a Histories,
}

impl CostFunction for NegativeLogLikelihood<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, log_params: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let p = from_logs(log_params);
        let ll = log_likelihood(self.model, &p, self.data);
        // −∞ (parameters outside the model, or exp overflowing) as a cost the simplex
        // moves away from.
        Ok(if ll.is_finite() {
            -ll / self.data.len() as f64
        } else {
            f64::MAX
        })
    }
}

fn from_logs(v: &[f64]) -> Params {
    Params {
        r: v[0].exp(),
        alpha: v[1].exp(),
        a: v[2].exp(),
        b: v[3].exp(),
    }
}

/// Fits `model` to `data`.
pub fn fit(model: Model, data: &Histories) -> Result<Fitted, FitError> {
    if data.is_empty() {
        return Err(FitError::NoMembers);
    }
    let unit = data.max_age();
    if unit.is_nan() || unit <= 0.0 {
        return Err(FitError::NoTime);
    }
    let scaled = data.scaled(unit);
    let mut start = vec![0.0; 4];
    let mut best = f64::MAX;
    let mut iterations = 0;
    for _ in 0..RESTARTS {
        let simplex = simplex_around(&start);
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(SD_TOLERANCE)
            .map_err(|e| FitError::Optimiser(e.to_string()))?;
        let result = Executor::new(
            NegativeLogLikelihood {
                model,
                data: &scaled,
            },
            solver,
        )
        .configure(|state| state.max_iters(MAX_ITERATIONS))
        .run()
        .map_err(|e| FitError::Optimiser(e.to_string()))?;
        let state = result.state();
        iterations += state.get_iter();
        let Some(point) = state.get_best_param() else {
            return Err(FitError::Optimiser("no parameters evaluated".into()));
        };
        let cost = state.get_best_cost();
        let moved = best - cost;
        start = point.clone();
        best = best.min(cost);
        if moved.abs() <= SD_TOLERANCE {
            break;
        }
    }
    let scaled_params = from_logs(&start);
    if !scaled_params.valid() {
        return Err(FitError::Degenerate(scaled_params));
    }
    let params = scaled_params.rescaled(unit);
    Ok(Fitted {
        params,
        members: data.len(),
        iterations,
    })
}

/// The start and one vertex half a unit (a factor e^0.5) along each axis.
fn simplex_around(x: &[f64]) -> Vec<Vec<f64>> {
    let mut simplex = vec![x.to_vec()];
    for i in 0..x.len() {
        let mut v = x.to_vec();
        v[i] += 0.5;
        simplex.push(v);
    }
    simplex
}

#[cfg(test)]
mod tests {
    use super::*;
    use churnwatch_engine::btyd::History;

    /// Histories drawn from BG/NBD itself with known parameters: the fit finds them
    /// again, within what 4,000 members can tell apart.
    #[test]
    fn recovers_the_parameters_it_simulated() {
        use rand::{Rng, SeedableRng};
        let truth = Params {
            r: 0.8,
            alpha: 10.0,
            a: 0.9,
            b: 3.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut data = Histories::default();
        for _ in 0..4_000 {
            let rate = gamma(&mut rng, truth.r) / truth.alpha;
            let dropout = beta(&mut rng, truth.a, truth.b);
            let age = 60.0;
            let (mut t, mut x, mut t_x) = (0.0, 0, 0.0);
            loop {
                t += -(1.0 - rng.gen::<f64>()).ln() / rate;
                if t > age {
                    break;
                }
                x += 1;
                t_x = t;
                if rng.gen::<f64>() < dropout {
                    break;
                }
            }
            data.push(History { x, t_x, t: age });
        }
        let fitted = fit(Model::BgNbd, &data).expect("fits");
        let p = fitted.params;
        for (got, want) in [
            (p.r, truth.r),
            (p.alpha, truth.alpha),
            (p.a, truth.a),
            (p.b, truth.b),
        ] {
            assert!((got / want - 1.0).abs() < 0.35, "{got} vs {want}: {p:?}");
        }
        // And the optimum is one: each parameter nudged either way lowers the likelihood.
        let ll = |q: Params| log_likelihood(Model::BgNbd, &q, &data);
        let at = ll(p);
        for nudge in [0.99, 1.01] {
            for q in [
                Params {
                    r: p.r * nudge,
                    ..p
                },
                Params {
                    alpha: p.alpha * nudge,
                    ..p
                },
                Params {
                    a: p.a * nudge,
                    ..p
                },
                Params {
                    b: p.b * nudge,
                    ..p
                },
            ] {
                assert!(ll(q) < at, "{q:?} beats {p:?}");
            }
        }
    }

    #[test]
    fn refuses_data_it_cannot_fit() {
        assert!(matches!(
            fit(Model::BgNbd, &Histories::default()),
            Err(FitError::NoMembers)
        ));
        let mut data = Histories::default();
        data.push(History {
            x: 0,
            t_x: 0.0,
            t: 0.0,
        });
        assert!(matches!(fit(Model::MbgNbd, &data), Err(FitError::NoTime)));
    }

    /// Marsaglia and Tsang's Gamma(shape, 1) sampler (with the boost for shape < 1).
    fn gamma(rng: &mut impl rand::Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let u: f64 = rng.gen();
            return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let (x, v) = loop {
                let x = normal(rng);
                let v = 1.0 + c * x;
                if v > 0.0 {
                    break (x, v * v * v);
                }
            };
            let u: f64 = rng.gen();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    fn beta(rng: &mut impl rand::Rng, a: f64, b: f64) -> f64 {
        let x = gamma(rng, a);
        x / (x + gamma(rng, b))
    }

    fn normal(rng: &mut impl rand::Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.gen(), rng.gen());
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
