//! The one Gauss hypergeometric series the expected-purchases formula needs, summed with a
//! stated error bound. No crate offers a 2F1 worth the dependency (docs/churn-model.md
//! lists the ones read); this series is short because the formula only ever needs
//! `0 ≤ z < 1` and, after Euler's transformation, a numerator parameter that keeps every
//! term past the first few of one sign.

/// `U = Σ_{n≥1} (A)_n (a)_{n−1} zⁿ / ((C)_n n!)`, so that
/// `2F1(A, a−1; C; z) = 1 + (a−1)·U`. Written this way the factor `a − 1`, which is zero
/// at `a = 1` and cancels against the `1/(a−1)` of the expected-purchases formula, stays
/// outside: the formula is finite there instead of 0/0.
///
/// For `0 ≤ z < 1`, `a > 0`, and `C` not a non-positive integer; its terms peak near
/// n = a·z, so it is for moderate `a` (the caller switches to [`hyp2f1`] above that).
pub fn euler_tail(big_a: f64, a: f64, big_c: f64, z: f64) -> f64 {
    if z == 0.0 {
        return 0.0;
    }
    // The n-th term's ratio to the one before is that of 2F1(A, a−1; C; z)'s.
    sum_from(big_a * z / big_c, 1, big_a, a - 1.0, big_c, z)
}

/// `2F1(A, B; C; z)` by its defining series, for `0 ≤ z < 1` and `C` not a non-positive
/// integer.
pub fn hyp2f1(big_a: f64, big_b: f64, big_c: f64, z: f64) -> f64 {
    sum_from(1.0, 0, big_a, big_b, big_c, z)
}

/// `Σ_{n≥n0} t_n` where `t_{n0} = first` and `t_{n+1}/t_n = (A+n)(B+n)z/((C+n)(n+1))`.
///
/// Once `A + N`, `B + N` and `C + N` are all positive every later term has the sign of
/// the N-th, and every later ratio is at most
/// `ρ = z·max(1, (A+N)/(N+1))·max(1, (B+N)/(C+N))` (both fractions fall towards 1 when
/// above it), so the tail after term N is at most `|t_N|·ρ/(1−ρ)`. Summing stops when
/// that bound is below `REL_TOL·|sum|` (or below `f64::MIN_POSITIVE` when the sum is
/// zero): the error of the result is that bound plus the rounding of the terms summed,
/// about `n·ε` relative.
fn sum_from(first: f64, n0: u32, big_a: f64, big_b: f64, big_c: f64, z: f64) -> f64 {
    debug_assert!((0.0..1.0).contains(&z), "z = {z} outside [0, 1)");
    let mut term = first;
    let mut sum = term;
    let mut n = f64::from(n0);
    for _ in 0..MAX_TERMS {
        let (an, bn, cn) = (big_a + n, big_b + n, big_c + n);
        if an > 0.0 && bn > 0.0 && cn > 0.0 {
            let rho = z * (an / (n + 1.0)).max(1.0) * (bn / cn).max(1.0);
            if rho < 1.0 {
                let tail = term.abs() * rho / (1.0 - rho);
                if tail <= REL_TOL * sum.abs() || tail < f64::MIN_POSITIVE {
                    return sum;
                }
            }
        }
        term *= an * bn * z / (cn * (n + 1.0));
        sum += term;
        n += 1.0;
    }
    // Reached only for z within about 1e-4 of 1, which a horizon of up to a year does not
    // come near (z ≤ t/(α + t)); the sum so far is still the best estimate there is.
    sum
}

/// Relative tolerance on the truncated tail.
pub const REL_TOL: f64 = 1e-16;
/// A bound on the terms summed: at `z = 0.99` the series needs about 4,000.
const MAX_TERMS: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain series of 2F1, term by term, far past convergence: the reference.
    fn hyp2f1_direct(a: f64, b: f64, c: f64, z: f64) -> f64 {
        let (mut term, mut sum) = (1.0, 1.0);
        for n in 0..20_000 {
            let n = n as f64;
            term *= (a + n) * (b + n) * z / ((c + n) * (n + 1.0));
            sum += term;
        }
        sum
    }

    #[test]
    fn one_plus_a_minus_one_times_u_is_the_hypergeometric_function() {
        for &(big_a, a, big_c, z) in &[
            (2.0, 0.79, 3.2, 0.1),
            (-0.5, 0.3, 1.7, 0.45),
            (0.2, 2.5, 40.0, 0.49),
            (3.0, 1.5, 0.6, 0.9),
        ] {
            let want = hyp2f1_direct(big_a, a - 1.0, big_c, z);
            let got = 1.0 + (a - 1.0) * euler_tail(big_a, a, big_c, z);
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "2F1({big_a}, {}, {big_c}, {z}): {got} vs {want}",
                a - 1.0
            );
        }
    }

    #[test]
    fn known_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1−z)/z, i.e. A = 1, a = 2, C = 2.
        for z in [0.05, 0.3, 0.6, 0.95] {
            let got = 1.0 + euler_tail(1.0, 2.0, 2.0, z);
            let want = -(1.0 - z).ln() / z;
            assert!(
                ((got - want) / want).abs() < 1e-14,
                "z={z}: {got} vs {want}"
            );
        }
        // 2F1(A, b; b; z) = (1−z)^−A, here b = a − 1 = 1.5.
        let (big_a, z) = (0.7, 0.4);
        let got = 1.0 + 1.5 * euler_tail(big_a, 2.5, 1.5, z);
        let want = (1.0 - z).powf(-big_a);
        assert!(((got - want) / want).abs() < 1e-14, "{got} vs {want}");
    }

    #[test]
    fn the_defining_series_is_the_hypergeometric_function() {
        for &(a, b, c, z) in &[
            (0.3, 2.0, 5.0, 0.2),
            (4.0, 50.0, 900.0, 0.45),
            (-0.5, 1.5, 2.5, 0.7),
        ] {
            let (got, want) = (hyp2f1(a, b, c, z), hyp2f1_direct(a, b, c, z));
            assert!(((got - want) / want).abs() < 1e-13, "{got} vs {want}");
        }
        assert_eq!(hyp2f1(2.0, 3.0, 4.0, 0.0), 1.0);
    }

    #[test]
    fn z_zero_is_the_empty_tail() {
        assert_eq!(euler_tail(2.0, 0.5, 3.0, 0.0), 0.0);
    }
}
