//! The log-likelihood the fit maximises, over every member's history at the end of the
//! calibration window. The Gamma-function ratios of the papers are finite products for
//! integer `x` (`Γ(r+x)/Γ(r) = Π_{j<x} (r+j)`), so no `lgamma` is needed; their logs are
//! summed once per call up to the largest `x`, not once per member.

use super::{History, Model, Params};

/// Members' histories, as the fit reads them.
#[derive(Clone, Debug, Default)]
pub struct Histories {
    histories: Vec<History>,
    max_x: u32,
}

impl Histories {
    pub fn push(&mut self, h: History) {
        self.max_x = self.max_x.max(h.x);
        self.histories.push(h);
    }

    pub fn len(&self) -> usize {
        self.histories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &History> {
        self.histories.iter()
    }

    /// The largest age: the fit measures time in units of it, as `lifetimes` does, so
    /// that the optimiser's start (every parameter 1) is near the answer whatever the data.
    pub fn max_age(&self) -> f64 {
        self.histories.iter().map(|h| h.t).fold(0.0, f64::max)
    }

    /// The same histories with every time divided by `unit`.
    pub fn scaled(&self, unit: f64) -> Histories {
        Histories {
            histories: self
                .histories
                .iter()
                .map(|h| History {
                    x: h.x,
                    t_x: h.t_x / unit,
                    t: h.t / unit,
                })
                .collect(),
            max_x: self.max_x,
        }
    }
}

/// `ln L`, summed over the members (Fader et al. 2005 eq. 6; Batislam et al. 2007 for
/// MBG/NBD). `-∞` for parameters outside the model (not all positive), so that a
/// minimiser of `−ln L` turns away from them.
pub fn log_likelihood(model: Model, p: &Params, data: &Histories) -> f64 {
    if !p.valid() {
        return f64::NEG_INFINITY;
    }
    // MBG/NBD's Beta ratio runs one term further: Γ(b+x+1)/Γ(a+b+x+1).
    let extra = u32::from(model == Model::MbgNbd);
    let n = (data.max_x + extra) as usize + 1;
    // ln Γ(r+x)/Γ(r) and ln [Γ(a+b)Γ(b+x')/(Γ(b)Γ(a+b+x'))] for every x up to the largest.
    let mut ln_rate = Vec::with_capacity(n);
    let mut ln_beta = Vec::with_capacity(n);
    let (mut rate, mut beta) = (0.0, 0.0);
    for j in 0..n {
        ln_rate.push(rate);
        ln_beta.push(beta);
        let j = j as f64;
        rate += (p.r + j).ln();
        beta += (p.b + j).ln() - (p.a + p.b + j).ln();
    }
    let r_ln_alpha = p.r * p.alpha.ln();
    let ln_a = p.a.ln();
    data.iter()
        .map(|h| {
            let xi = h.x as usize;
            let x = f64::from(h.x);
            let a1 = ln_rate[xi] + r_ln_alpha;
            let a3 = -(p.r + x) * (p.alpha + h.t).ln();
            match model {
                Model::BgNbd => {
                    let a2 = ln_beta[xi];
                    if h.x == 0 {
                        a1 + a2 + a3
                    } else {
                        let a4 = ln_a - (p.b + x - 1.0).ln() - (p.r + x) * (p.alpha + h.t_x).ln();
                        a1 + a2 + log_add_exp(a3, a4)
                    }
                }
                Model::MbgNbd => {
                    let a2 = ln_beta[xi + 1];
                    let a4 = ln_a - (p.b + x).ln()
                        + (p.r + x) * ((p.alpha + h.t).ln() - (p.alpha + h.t_x).ln());
                    a1 + a2 + a3 + log_add_exp(a4, 0.0)
                }
            }
        })
        .sum()
}

fn log_add_exp(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    m + ((u - m).exp() + (v - m).exp()).ln()
}
