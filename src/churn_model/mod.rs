//! The churn-probability model's parameters as a file: what `churnwatch fit` writes and
//! the configuration names. TOML, with `alpha` in days (the unit the literature quotes
//! it in, divided by 7 for its weeks) and a version that every warning computed with
//! it will name, so that a replay is reproducible.

pub mod fit;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::btyd::{log_likelihood, Histories, Model, Params};
use crate::model::{EventTime, Span};

/// The layout of the file; bumped when it changes shape.
pub const FORMAT: u32 = 1;

/// A fitted model, for the whole population and, when fitted per tier, for each tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: u32,
    /// `<model>-<calibration end, YYYYMMDD>-<8 hex digits of the parameters' hash>`.
    pub version: String,
    pub model: Model,
    /// The calibration window (RFC 3339): the first purchase of any member fitted, and
    /// the instant the histories are as of (events after it were not used).
    pub calibration_start: String,
    pub calibration_end: String,
    pub population: Fit,
    /// By fee tier, for the tiers fitted on their own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, Fit>,
}

/// One fit: its parameters (`alpha` in days), over how many members, and how well.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub members: u64,
    pub r: f64,
    pub alpha_days: f64,
    pub a: f64,
    pub b: f64,
    /// Mean ln L per member, time in days.
    pub log_likelihood: f64,
}

impl Fit {
    /// The parameters with `alpha` in milliseconds, as the engine's histories are.
    pub fn params_ms(&self) -> Params {
        Params {
            r: self.r,
            alpha: self.alpha_days,
            a: self.a,
            b: self.b,
        }
        .rescaled(Span::DAY.as_millis() as f64)
    }

    /// From a fit of `model` over `data`, histories in milliseconds.
    pub fn new(model: Model, fitted: &fit::Fitted, data: &Histories) -> Fit {
        let day = Span::DAY.as_millis() as f64;
        let days = fitted.params.rescaled(1.0 / day);
        Fit {
            members: fitted.members as u64,
            r: days.r,
            alpha_days: days.alpha,
            a: days.a,
            b: days.b,
            log_likelihood: log_likelihood(model, &days, &data.scaled(day)) / data.len() as f64,
        }
    }
}

impl Fit {
    /// The MBG/NBD fit of the CDNOW sample (`scripts/cdnow-check.sh`, `alpha` in days): a
    /// realistic model for tests and benches that need one without fitting.
    pub const CDNOW_MBG_NBD: Fit = Fit {
        members: 2357,
        r: 0.524843,
        alpha_days: 43.281613,
        a: 0.891359,
        b: 1.614003,
        log_likelihood: -6.093864,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The window a model was fitted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: EventTime,
    pub end: EventTime,
}

impl ModelFile {
    pub fn new(
        model: Model,
        window: Window,
        population: Fit,
        tiers: BTreeMap<String, Fit>,
    ) -> ModelFile {
        let mut file = ModelFile {
            format: FORMAT,
            version: String::new(),
            model,
            calibration_start: window.start.to_rfc3339(),
            calibration_end: window.end.to_rfc3339(),
            population,
            tiers,
        };
        // The hash covers everything but the version itself.
        let body = toml::to_string(&file).unwrap_or_default();
        let hash = xxhash_rust::xxh3::xxh3_64(body.as_bytes()) as u32;
        let date: String = file
            .calibration_end
            .chars()
            .filter(char::is_ascii_digit)
            .take(8)
            .collect();
        file.version = format!("{}-{date}-{hash:08x}", model.as_str());
        file
    }

    /// [`Fit::CDNOW_MBG_NBD`] as a file, for the whole population, fitted "at" the epoch.
    pub fn cdnow_mbg_nbd() -> ModelFile {
        let epoch = EventTime::from_millis(0);
        ModelFile::new(
            Model::MbgNbd,
            Window {
                start: epoch,
                end: epoch,
            },
            Fit::CDNOW_MBG_NBD,
            BTreeMap::new(),
        )
    }

    pub fn to_toml(&self) -> String {
        let mut text = String::from("# Written by `churnwatch fit`; `alpha_days` in days.\n");
        text.push_str(&toml::to_string(self).unwrap_or_default());
        text
    }

    pub fn load(path: &Path) -> Result<ModelFile, ModelFileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ModelFileError::Invalid {
            path: name,
            message,
        })
    }

    pub fn parse(text: &str) -> Result<ModelFile, String> {
        let file: ModelFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.format != FORMAT {
            return Err(format!(
                "format {} (this build reads format {FORMAT}); fit the model again",
                file.format
            ));
        }
        for (name, fit) in std::iter::once(("population", &file.population))
            .chain(file.tiers.iter().map(|(t, f)| (t.as_str(), f)))
        {
            if !fit.params_ms().valid() {
                return Err(format!(
                    "{name}: parameters must be positive and finite: {fit:?}"
                ));
            }
        }
        Ok(file)
    }
}
