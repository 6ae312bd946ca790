//! Issue 16, `CHURN_RISK`: P(alive) under the fitted model, warned the first millisecond
//! it is below each threshold, lifted by an order, with the contact cap and the severity
//! rule, the model's version in every warning, per-tier parameters, and invisible
//! eviction.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use churnwatch::btyd::{History, Model, Params};
use churnwatch::churn_model::{Fit, ModelFile, Window};
use churnwatch::config::Config;
use churnwatch::engine::{Figures, Label, Severity, Warning, WarningKind};
use churnwatch::model::{EventTime, MemberId, Span};
use common::*;
use proptest::prelude::*;

/// The MBG/NBD fit of the CDNOW sample, alpha in days.
fn cdnow_mbg() -> Fit {
    Fit::CDNOW_MBG_NBD
}

fn fit(r: f64, alpha_days: f64, a: f64, b: f64) -> Fit {
    Fit {
        members: 1000,
        r,
        alpha_days,
        a,
        b,
        log_likelihood: -1.0,
    }
}

fn with_model(model: Model, population: Fit, tiers: &[(&str, Fit)]) -> Config {
    let mut config = Config::default();
    let tiers: BTreeMap<String, Fit> = tiers.iter().map(|(t, f)| (t.to_string(), *f)).collect();
    config.churn_model = Some(Arc::new(ModelFile::new(
        model,
        Window { start: T0, end: T0 },
        population,
        tiers,
    )));
    config
}

fn churn(s: &Scenario) -> Vec<&Warning> {
    s.of_kind(WarningKind::ChurnRisk)
}

/// P(alive) of a member whose purchase days are `days` (epoch ms of each first order of
/// the day), at `at`, as the model computes it from scratch.
fn p_alive(model: Model, p: &Fit, first: EventTime, last: EventTime, x: u32, at: EventTime) -> f64 {
    let params: Params = p.params_ms();
    let h = History {
        x,
        t_x: (last.as_millis() - first.as_millis()) as f64,
        t: (at.as_millis() - first.as_millis()) as f64,
    };
    model.p_alive(&params, h)
}

#[test]
fn warns_at_the_first_millisecond_below_each_threshold() {
    let config = with_model(Model::MbgNbd, cdnow_mbg(), &[]);
    let mut s = Scenario::with_config(config);
    s.profile("m1", "g1", "199", day(0), day(0));
    s.order("m1", "o1", 80, day(1));
    // MBG/NBD with one purchase: 0.644 at once, 0.5 after about 91 days, 0.2 after about
    // five years.
    s.advance(day(4000));
    let w = churn(&s);
    assert_eq!(w.len(), 2, "{w:#?}");
    let p = cdnow_mbg();
    for (warning, threshold, from, to) in [
        (w[0], 0.5, "likely_active", "at_risk"),
        (w[1], 0.2, "at_risk", "high_risk"),
    ] {
        let t = warning.event_time;
        let before = p_alive(Model::MbgNbd, &p, day(1), day(1), 0, t - MS);
        let at = p_alive(Model::MbgNbd, &p, day(1), day(1), 0, t);
        assert!(
            before >= threshold && at < threshold,
            "{t}: {before} then {at}"
        );
        assert_eq!(warning.from.map(Label::name), Some(from));
        assert_eq!(warning.to.map(Label::name), Some(to));
        let Figures::Member(f) = &warning.figures else {
            panic!("member figures")
        };
        let figures = f.churn.as_ref().expect("churn figures");
        assert_eq!(figures.p_alive_ppm, (at * 1e6).floor() as u32);
        assert!(figures.version.starts_with("mbg_nbd-"));
        assert_eq!(
            f.detail,
            churnwatch::engine::Detail::ChurnRisk {
                threshold_ppm: (threshold * 1e6) as u32
            }
        );
    }
    assert!(w[0].event_time > day(85) && w[0].event_time < day(100));
    assert!(w[1].event_time > day(1500) && w[1].event_time < day(2500));
}

#[test]
fn bg_nbd_never_warns_about_a_single_purchase() {
    let bg = fit(0.242593, 4.413532 * 7.0, 0.792886, 2.425752);
    let mut s = Scenario::with_config(with_model(Model::BgNbd, bg, &[]));
    s.profile("m1", "g1", "199", day(0), day(0));
    s.order("m1", "o1", 80, day(1));
    // Two orders on one day are one purchase occasion: still no repeat purchase.
    s.order("m1", "o2", 80, day(1) + Span::hours(5));
    s.advance(day(3000));
    assert!(churn(&s).is_empty(), "{:#?}", churn(&s));
    // A second purchase day makes her mortal (and, after 3,000 days between her two
    // purchases, the model takes decades to give up on her).
    s.order("m1", "o3", 80, day(3001));
    s.advance(day(40_000));
    assert_eq!(churn(&s).len(), 2);
}

#[test]
fn an_order_lifts_it_and_a_later_fall_warns_again() {
    let mut s = Scenario::with_config(with_model(Model::MbgNbd, cdnow_mbg(), &[]));
    s.profile("m1", "g1", "199", day(0), day(0));
    s.order("m1", "o1", 80, day(1));
    s.advance(day(150));
    assert_eq!(churn(&s).len(), 1);
    s.take();
    s.order("m1", "o2", 80, day(151));
    let view = s.engine.member(&MemberId::new("m1")).unwrap();
    assert_eq!(view.risk_level(), 0, "the order lifted her above 0.5");
    assert!(churn(&s).is_empty(), "rising is not warned");
    s.advance(day(900));
    let w = churn(&s);
    assert!(!w.is_empty());
    assert_eq!(w[0].to.map(Label::name), Some("at_risk"));
    let p = cdnow_mbg();
    let t = w[0].event_time;
    assert!(p_alive(Model::MbgNbd, &p, day(1), day(151), 1, t - MS) >= 0.5);
    assert!(p_alive(Model::MbgNbd, &p, day(1), day(151), 1, t) < 0.5);
}

/// Steep parameters (P(alive) halves within a day) so that she is still in an important
/// segment when it falls.
#[test]
fn severity_follows_the_segment_and_the_contact_cap_applies() {
    let steep = fit(1.0, 1.0, 1.0, 1.5);
    let mut config = with_model(Model::MbgNbd, steep, &[]);
    config.churn_risk.thresholds = vec![0.5, 0.4, 0.3];
    config.alerts.member_warning_cap = 2;
    let mut s = Scenario::with_config(config);
    s.profile("m1", "g1", "399", day(0), day(0));
    s.order("m1", "o1", 1200, day(1));
    s.profile("m2", "g1", "399", day(0), day(0));
    s.order("m2", "o2", 20, day(1));
    s.advance(day(6));
    let of = |m: &str| -> Vec<(Severity, bool)> {
        churn(&s)
            .into_iter()
            .filter(|w| w.member_id.as_ref().is_some_and(|id| id.as_str() == m))
            .map(|w| (w.severity, w.notify))
            .collect()
    };
    // Three thresholds crossed: two notified, the third over the cap of 2 per 7 days.
    assert_eq!(
        of("m1"),
        [
            (Severity::Warning, true),
            (Severity::Warning, true),
            (Severity::Warning, false)
        ]
    );
    assert_eq!(
        of("m2"),
        [
            (Severity::Notice, true),
            (Severity::Notice, true),
            (Severity::Notice, false)
        ]
    );
}

#[test]
fn each_tier_uses_its_own_parameters() {
    let slow = cdnow_mbg();
    let fast = fit(0.524838, 10.0, 0.891356, 1.614);
    let config = with_model(Model::MbgNbd, slow, &[("399", fast)]);
    let mut s = Scenario::with_config(config);
    s.profile("m199", "g1", "199", day(0), day(0));
    s.profile("m399", "g1", "399", day(0), day(0));
    s.order("m199", "o1", 80, day(1));
    s.order("m399", "o2", 80, day(1));
    s.advance(day(200));
    let first = |m: &str| {
        churn(&s)
            .into_iter()
            .find(|w| w.member_id.as_ref().is_some_and(|id| id.as_str() == m))
            .map(|w| w.event_time)
            .expect("warned")
    };
    for (member, p) in [("m199", slow), ("m399", fast)] {
        let t = first(member);
        assert!(
            p_alive(Model::MbgNbd, &p, day(1), day(1), 0, t - MS) >= 0.5,
            "{member}"
        );
        assert!(
            p_alive(Model::MbgNbd, &p, day(1), day(1), 0, t) < 0.5,
            "{member}"
        );
    }
    assert!(first("m399") < first("m199"));
}

#[test]
fn every_member_warning_names_the_model_version_and_none_without_a_model() {
    let events = |s: &mut Scenario| {
        s.profile("m1", "g1", "399", day(0), day(0));
        s.order("m1", "o1", 1200, day(1));
        s.advance(day(400));
    };
    let mut on = Scenario::with_config(with_model(Model::MbgNbd, cdnow_mbg(), &[]));
    events(&mut on);
    let version = on
        .engine
        .rules()
        .churn
        .as_ref()
        .unwrap()
        .version
        .to_string();
    let members: Vec<&Warning> = on
        .warnings
        .iter()
        .filter(|w| w.member_id.is_some())
        .collect();
    assert!(members.len() > 3);
    for w in &members {
        let Figures::Member(f) = &w.figures else {
            panic!()
        };
        assert_eq!(
            f.churn.as_ref().map(|c| &*c.version),
            Some(version.as_str()),
            "{w:?}"
        );
    }

    let mut off = Scenario::new();
    events(&mut off);
    assert!(churn(&off).is_empty());
    for w in &off.warnings {
        if let Figures::Member(f) = &w.figures {
            assert!(f.churn.is_none());
        }
    }
    // Without its own warnings and figures, the model changes nothing else.
    let strip = |ws: &[Warning]| -> Vec<_> {
        ws.iter()
            .filter(|w| w.kind != WarningKind::ChurnRisk)
            .map(|w| (w.id, w.event_time, w.severity))
            .collect()
    };
    assert_eq!(strip(&on.warnings), strip(&off.warnings));
}

#[test]
fn eviction_is_invisible_to_the_churn_model() {
    let run = |evict: bool| {
        let mut config = with_model(Model::MbgNbd, fit(0.6, 20.0, 0.9, 1.6), &[]);
        config.state.evict_dormant_after = if evict { Span::days(120) } else { Span::ZERO };
        let mut s = Scenario::with_config(config);
        s.profile("m1", "g1", "199", day(0), day(0));
        s.order("m1", "o1", 300, day(1));
        s.order("m1", "o2", 300, day(20));
        s.advance(day(2000));
        assert_eq!(s.engine.is_dormant(&MemberId::new("m1")), evict);
        s.order("m1", "o3", 300, day(2001));
        s.advance(day(5000));
        let m = s.engine.member(&MemberId::new("m1")).unwrap();
        let (days, level) = (m.purchase_days(), m.risk_level());
        (s.take(), days, level)
    };
    let (kept, evicted) = (run(false), run(true));
    assert!(
        kept.0
            .iter()
            .filter(|w| w.kind == WarningKind::ChurnRisk)
            .count()
            >= 3
    );
    assert_eq!(kept, evicted);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For random parameters, thresholds and purchase histories, every `CHURN_RISK` is
    /// at the first millisecond P(alive) is below its threshold, and every threshold
    /// P(alive) ends below was warned.
    #[test]
    fn the_warned_instant_is_exact(
        r in 0.1f64..3.0,
        alpha_days in 1.0f64..200.0,
        a in 0.2f64..5.0,
        b in 0.2f64..10.0,
        gaps in proptest::collection::vec(1i64..20 * 86_400_000, 1..8),
        first_ms in 0i64..86_400_000,
        high in 0.3f64..0.95,
        ratio in 0.05f64..0.9,
        mbg in any::<bool>(),
    ) {
        let model = if mbg { Model::MbgNbd } else { Model::BgNbd };
        let p = fit(r, alpha_days, a, b);
        let mut config = with_model(model, p, &[]);
        config.churn_risk.thresholds = vec![high, high * ratio];
        config.alerts.member_warning_cap = 0;
        let mut s = Scenario::with_config(config);
        s.profile("m1", "g1", "199", day(0), day(0));
        let first = day(1) + Span::millis(first_ms);
        let mut at = first;
        let mut days = std::collections::BTreeSet::new();
        for (i, gap) in gaps.iter().enumerate() {
            if i > 0 {
                at = at + Span::millis(*gap);
            }
            days.insert(at.as_millis().div_euclid(86_400_000));
            s.order("m1", &format!("o{i}"), 50, at);
        }
        let last = at;
        let x = days.len() as u32 - 1;
        let end = last + Span::days(20_000);
        s.advance(end);
        let warned: Vec<&Warning> = churn(&s).into_iter().filter(|w| w.event_time > last).collect();
        for w in &warned {
            let Some(churnwatch::engine::Detail::ChurnRisk { threshold_ppm }) =
                (match &w.figures { Figures::Member(f) => Some(f.detail.clone()), _ => None })
            else {
                panic!("detail")
            };
            let threshold = if threshold_ppm == (high * 1e6).round() as u32 { high } else { high * ratio };
            let t = w.event_time;
            prop_assert!(p_alive(model, &p, first, last, x, t - MS) >= threshold, "{t} - 1 ms");
            prop_assert!(p_alive(model, &p, first, last, x, t) < threshold, "{t}");
        }
        let at_end = p_alive(model, &p, first, last, x, end);
        let at_last = p_alive(model, &p, first, last, x, last);
        let below = |pa: f64| [high, high * ratio].iter().filter(|&&t| pa < t).count();
        prop_assert_eq!(warned.len(), below(at_end) - below(at_last));
    }
}
