//! Against Python's `lifetimes` 0.11.3 at the CDNOW fits (weeks), case by case; the whole
//! CDNOW sample is compared by `scripts/cdnow-check.sh`. The expected values were printed
//! by `lifetimes` (`conditional_probability_alive`,
//! `conditional_expected_number_of_purchases_up_to_time(30/7, …)`,
//! `_negative_log_likelihood`).

use super::*;

const BG: Params = Params {
    r: 0.242593,
    alpha: 4.413532,
    a: 0.792886,
    b: 2.425752,
};
const MBG: Params = Params {
    r: 0.524838,
    alpha: 6.182988,
    a: 0.891356,
    b: 1.614000,
};

/// (x, t_x, T) in weeks, then P(alive) and E[X(30 d)] of BG/NBD, then of MBG/NBD.
const CASES: [(u32, f64, f64, [f64; 4]); 7] = [
    (
        0,
        0.0,
        38.86,
        [
            1.0,
            0.023672679565898996,
            0.38971637526699016,
            0.019113790279117873,
        ],
    ),
    (
        2,
        30.43,
        38.86,
        [
            0.7266091024562508,
            0.15759530273452002,
            0.7061263095597923,
            0.16521100857492121,
        ],
    ),
    (
        1,
        1.71,
        38.86,
        [
            0.21222732345209525,
            0.025591499812601694,
            0.1708195948301011,
            0.024215844142637753,
        ],
    ),
    (
        7,
        29.43,
        32.0,
        [
            0.8621501775764318,
            0.7087558817769857,
            0.851203535899154,
            0.6913431639113873,
        ],
    ),
    (
        29,
        35.1,
        36.0,
        [
            0.9520645988972107,
            2.842406989615173,
            0.9478326482212743,
            2.7291055361854792,
        ],
    ),
    (
        0,
        0.0,
        0.5,
        [
            1.0,
            0.18911090682238396,
            0.6348113242362345,
            0.191778826285501,
        ],
    ),
    (
        5,
        10.0,
        60.0,
        [
            0.003151904976175737,
            0.0010780606274249447,
            0.0030874139174602443,
            0.0010808715303504861,
        ],
    ),
];
const LL_BG: f64 = -92.25657462246717;
const LL_MBG: f64 = -92.73848171508355;

fn history(x: u32, t_x: f64, t: f64) -> History {
    History { x, t_x, t }
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-300)
}

#[test]
fn probability_alive_and_expected_purchases_match_lifetimes() {
    for (x, t_x, t, want) in CASES {
        let h = history(x, t_x, t);
        for (model, p, k) in [(Model::BgNbd, BG, 0), (Model::MbgNbd, MBG, 2)] {
            let alive = model.p_alive(&p, h);
            let expected = model.expected_purchases(&p, h, 30.0 / 7.0);
            assert!(
                close(alive, want[k], 1e-12),
                "{model:?} {h:?}: P(alive) {alive} vs {}",
                want[k]
            );
            assert!(
                close(expected, want[k + 1], 1e-11),
                "{model:?} {h:?}: E[X] {expected} vs {}",
                want[k + 1]
            );
        }
    }
}

#[test]
fn the_time_unit_does_not_matter() {
    let week_ms = 604_800_000.0;
    for (x, t_x, t, _) in CASES {
        for (model, p) in [(Model::BgNbd, BG), (Model::MbgNbd, MBG)] {
            let weeks = history(x, t_x, t);
            let ms = history(x, t_x * week_ms, t * week_ms);
            let pm = p.rescaled(week_ms);
            assert!(close(
                model.p_alive(&pm, ms),
                model.p_alive(&p, weeks),
                1e-13
            ));
            assert!(close(
                model.expected_purchases(&pm, ms, 30.0 / 7.0 * week_ms),
                model.expected_purchases(&p, weeks, 30.0 / 7.0),
                1e-12
            ));
        }
    }
}

#[test]
fn log_likelihood_matches_lifetimes() {
    let mut data = Histories::default();
    for (x, t_x, t, _) in CASES {
        data.push(history(x, t_x, t));
    }
    assert!(close(
        log_likelihood(Model::BgNbd, &BG, &data),
        LL_BG,
        1e-12
    ));
    assert!(close(
        log_likelihood(Model::MbgNbd, &MBG, &data),
        LL_MBG,
        1e-12
    ));
    let bad = Params { a: -1.0, ..BG };
    assert_eq!(log_likelihood(Model::BgNbd, &bad, &data), f64::NEG_INFINITY);
}

#[test]
fn a_equal_to_one_is_finite_and_continuous() {
    let h = history(3, 20.0, 30.0);
    for model in [Model::BgNbd, Model::MbgNbd] {
        let at = |a: f64| model.expected_purchases(&Params { a, ..BG }, h, 4.0);
        let (below, one, above) = (at(1.0 - 1e-7), at(1.0), at(1.0 + 1e-7));
        assert!(one.is_finite() && one > 0.0);
        assert!(
            close(one, below, 1e-6) && close(one, above, 1e-6),
            "{below} {one} {above}"
        );
    }
}

#[test]
fn bg_nbd_never_gives_up_on_a_single_purchase_and_mbg_nbd_does() {
    assert_eq!(Model::BgNbd.p_alive(&BG, history(0, 0.0, 1e6)), 1.0);
    assert_eq!(Model::BgNbd.age_at(&BG, 0, 0.0, 0.5), None);
    let young = Model::MbgNbd.p_alive(&MBG, history(0, 0.0, 1.0));
    let old = Model::MbgNbd.p_alive(&MBG, history(0, 0.0, 100.0));
    assert!(young > old && old > 0.0);
}

#[test]
fn the_age_at_a_threshold_solves_the_probability() {
    for (x, t_x, _, _) in CASES {
        for (model, p) in [(Model::BgNbd, BG), (Model::MbgNbd, MBG)] {
            for threshold in [0.5, 0.2, 0.05] {
                let Some(age) = model.age_at(&p, x, t_x, threshold) else {
                    assert!(model == Model::BgNbd && x == 0);
                    continue;
                };
                let at = model.p_alive(&p, history(x, t_x, age));
                assert!(
                    close(at, threshold, 1e-12),
                    "{model:?} x={x}: P at {age} = {at}"
                );
                assert!(model.p_alive(&p, history(x, t_x, age * 0.999 + t_x * 0.001)) > threshold);
            }
        }
    }
    assert_eq!(Model::MbgNbd.age_at(&MBG, 1, 1.0, 1.0), None);
    assert_eq!(Model::MbgNbd.age_at(&MBG, 1, 1.0, 0.0), None);
}

#[test]
fn probability_and_expectation_stay_finite_at_extremes() {
    for model in [Model::BgNbd, Model::MbgNbd] {
        for h in [
            history(100_000, 1e3, 1e9),
            history(1, 0.0, 0.0),
            history(50_000, 5e4, 5e4),
        ] {
            let alive = model.p_alive(&BG, h);
            let expected = model.expected_purchases(&BG, h, 30.0);
            assert!((0.0..=1.0).contains(&alive), "{h:?}: {alive}");
            assert!(expected.is_finite() && expected >= 0.0, "{h:?}: {expected}");
        }
    }
}

/// A fit can drive a and b towards infinity together (a dropout probability all members
/// share): both series give the same expectation where they overlap, and the large-a one
/// stays finite far out.
#[test]
fn expected_purchases_stay_finite_and_continuous_for_large_a_and_b() {
    let h = history(4, 30.0, 50.0);
    for model in [Model::BgNbd, Model::MbgNbd] {
        let at = |a: f64, b: f64| {
            model.expected_purchases(
                &Params {
                    r: 5.0,
                    alpha: 80.0,
                    a,
                    b,
                },
                h,
                30.0,
            )
        };
        let (euler, direct) = (
            at(EULER_UP_TO_A, 10.0 * EULER_UP_TO_A),
            at(EULER_UP_TO_A + 1e-9, 10.0 * EULER_UP_TO_A),
        );
        assert!(
            close(euler, direct, 1e-10),
            "{model:?}: {euler} vs {direct}"
        );
        for (a, b) in [(7.4e9, 8.6e10), (1e6, 1e5)] {
            let e = at(a, b);
            assert!(e.is_finite() && e > 0.0, "{model:?} a={a}: {e}");
        }
    }
}
