//! `churnwatch fit`: the churn-probability model's parameters from an event file. The
//! file is replayed through the engine up to the end of the calibration window (events
//! after it are read and set aside), so that a purchase, a duplicate and a refused
//! event mean exactly what they mean to the engine that will use the fit; then every
//! member with an order gives her history at that instant, and the four parameters are
//! fitted by maximum likelihood, for the population and, if asked, per fee tier.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use serde::Serialize;

use super::replay::{replay, ReplayOptions};
use super::summary::InputCounts;
use crate::btyd::{Histories, History, Model, Params};
use crate::churn_model::fit::{fit as fit_model, FitError};
use crate::churn_model::{Fit, ModelFile, Window};
use crate::config::Config;
use crate::engine::{churn_risk, Engine, Segment};
use crate::model::{EventTime, Span};

pub struct FitOptions {
    pub calibration_end: EventTime,
    pub model: Model,
    /// Also fit each fee tier with at least `min_tier_members` members on its own.
    pub per_tier: bool,
    pub min_tier_members: usize,
    pub wall: EventTime,
}

/// Every member's history at the end of the window, with her tier (if she has a profile)
/// and her RFM segment then.
pub struct Cohort {
    pub members: Vec<Entry>,
    /// The earliest first order among them (the start of the calibration window).
    pub first_purchase: Option<EventTime>,
}

pub struct Entry {
    pub id: String,
    pub tier: Option<String>,
    pub segment: Segment,
    pub history: History,
}

impl Cohort {
    pub fn of(engine: &Engine, at: EventTime) -> Cohort {
        let rules = engine.rules();
        let mut first_purchase: Option<EventTime> = None;
        let mut members: Vec<Entry> = engine
            .members()
            .filter_map(|m| {
                let history = churn_risk::history(&m, at)?;
                first_purchase = first_purchase
                    .min(m.first_order_at())
                    .or(m.first_order_at());
                let tier = m
                    .has_profile()
                    .then(|| rules.benchmark.tier_name(m.tier()).to_owned());
                Some(Entry {
                    id: m.id().to_owned(),
                    tier,
                    segment: m.segment,
                    history,
                })
            })
            .collect();
        // The likelihood is a sum: in a fixed order, the fit is the same bits however
        // the engine happened to hold its members.
        members.sort_by(|a, b| a.id.cmp(&b.id));
        Cohort {
            members,
            first_purchase,
        }
    }

    fn histories<'a>(&'a self, tier: Option<&'a str>) -> Histories {
        let mut data = Histories::default();
        for m in &self.members {
            if tier.is_none() || m.tier.as_deref() == tier {
                data.push(m.history);
            }
        }
        data
    }
}

/// Replays `input` up to the calibration end and fits. Returns the model file, the
/// engine as of the calibration end (for `--predictions`) and the input counts.
pub fn fit(
    config: &Config,
    input: impl BufRead,
    options: &FitOptions,
) -> anyhow::Result<(ModelFile, Engine, InputCounts)> {
    let replay_options = ReplayOptions {
        until: Some(options.calibration_end),
        wall: options.wall,
        ignore_after: Some(options.calibration_end),
        threads: 1,
    };
    let (engine, counts) = replay(config, input, &mut io::sink(), None, &replay_options)?;
    let cohort = Cohort::of(&engine, options.calibration_end);
    let fit_of = |tier: Option<&str>| -> Result<Fit, FitError> {
        let data = cohort.histories(tier);
        let fitted = fit_model(options.model, &data)?;
        Ok(Fit::new(options.model, &fitted, &data))
    };
    let population = fit_of(None)?;
    let mut tiers = BTreeMap::new();
    if options.per_tier {
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &cohort.members {
            if let Some(tier) = &m.tier {
                *sizes.entry(tier.as_str()).or_default() += 1;
            }
        }
        for (tier, n) in sizes {
            if n >= options.min_tier_members {
                tiers.insert(tier.to_owned(), fit_of(Some(tier))?);
            }
        }
    }
    let window = Window {
        start: cohort.first_purchase.unwrap_or(options.calibration_end),
        end: options.calibration_end,
    };
    let file = ModelFile::new(options.model, window, population, tiers);
    Ok((file, engine, counts))
}

/// One member's line of `--predictions`.
#[derive(Serialize)]
struct Prediction<'a> {
    member_id: &'a str,
    fee_tier: Option<&'a str>,
    /// Her RFM segment at the same instant, and its rank (0 for `new`).
    segment: &'static str,
    segment_rank: u8,
    /// Repeat purchase days.
    x: u32,
    t_x_days: f64,
    age_days: f64,
    p_alive: f64,
    expected_purchases: f64,
}

/// Every member's P(alive) and expected purchases in the next `horizon`, as of `at`,
/// with the tier's parameters where the file has them, as JSON lines in id order.
pub fn write_predictions(
    engine: &Engine,
    file: &ModelFile,
    at: EventTime,
    horizon: Span,
    out: &mut impl Write,
) -> io::Result<()> {
    let day = Span::DAY.as_millis() as f64;
    let params_of = |tier: Option<&str>| -> Params {
        tier.and_then(|t| file.tiers.get(t))
            .unwrap_or(&file.population)
            .params_ms()
    };
    for m in &Cohort::of(engine, at).members {
        let (h, tier) = (&m.history, m.tier.as_deref());
        let p = params_of(tier);
        let line = Prediction {
            member_id: &m.id,
            fee_tier: tier,
            segment: m.segment.name(),
            segment_rank: m.segment.rank().unwrap_or(0),
            x: h.x,
            t_x_days: h.t_x / day,
            age_days: h.t / day,
            p_alive: file.model.p_alive(&p, *h),
            expected_purchases: file
                .model
                .expected_purchases(&p, *h, horizon.as_millis() as f64),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
