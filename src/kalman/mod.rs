//! Ensemble Kalman baselines: the stochastic EnKF, the ETKF, the LETKF and EnOI behind one
//! [`Analysis`] trait, with inflation, localisation and observation operators kept in modules of
//! their own (DAPPER's separation of methods, operators and statistics), a twin-experiment cycling
//! driver that validates them as filters, and the `[baseline]` configuration section.
//!
//! All schemes work in ensemble space with whitened observations (see
//! [`methods::ensemble_space`]) and assume a diagonal observation-error covariance, given as one
//! variance per observation.
//!
//! The room, from the bottom up (each part uses only those before it):
//! - [`localization`]: points, distances and the Gaspari-Cohn taper, shared by the operators
//!   (observation locations), the LETKF and the file readers (grid geometry);
//! - [`obs`]: [`Observations`] and the operators `H` (gridded and point operators, the drifter
//!   forward model of the Lagrangian flow from [`crate::models`]);
//! - [`methods`]: the analysis schemes behind [`Analysis`], inflation, and the ensemble and
//!   innovation statistics;
//! - this module: the `[baseline]` section ([`BaselineConfig`], [`Method`]) and the [`Filter`]
//!   it builds, which the stage and the twin experiments run;
//! - [`io`]: ensembles and observations read from CF NetCDF, and the analysis files written back;
//! - [`stage`]: the `baseline` pipeline stage;
//! - [`twin`]: twin experiments (Lorenz-96, the Lagrangian flow, the QG ocean) cycling a filter
//!   through a model.

pub mod io;
pub mod localization;
pub mod methods;
pub mod obs;
pub mod stage;
pub mod twin;

use ndarray::Array2;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::config::Problems;
use crate::error::{Error, Result};
use localization::{Distance, Localizer, Point};
use methods::adaptive_inflation::AdaptiveInflation;
use methods::hybrid::Hybrid;
use methods::inflation::{Inflation, Relaxation};
use methods::{Analysis, enkf, enoi, etkf, letkf};
use obs::Observations;
use obs::obs_operator::ObsOperator;

/// Which analysis scheme a baseline runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Stochastic EnKF with perturbed observations (Burgers et al. 1998).
    Enkf,
    /// Ensemble transform Kalman filter, symmetric square root (Bishop et al. 2001; Hunt et al. 2007).
    #[default]
    Etkf,
    /// Local ETKF: one ETKF per state element with Gaspari-Cohn tapered observation errors.
    Letkf,
    /// Ensemble optimal interpolation with a static ensemble (Oke et al. 2002; Evensen 2003).
    Enoi,
}

impl Method {
    /// The lower-case name used in configuration and outputs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Enkf => "enkf",
            Method::Etkf => "etkf",
            Method::Letkf => "letkf",
            Method::Enoi => "enoi",
        }
    }
}

/// The `[baseline]` configuration section: the analysis scheme and its tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Analysis scheme.
    pub method: Method,
    /// Multiplicative inflation of the analysis anomalies (1 = none).
    pub inflation: f64,
    /// Relaxation towards the prior: none, rtpp or rtps.
    pub relax: Relaxation,
    /// Relaxation weight alpha, 0 to 1.
    pub relax_alpha: f64,
    /// LETKF localisation radius: distance at which the Gaspari-Cohn taper is about exp(-1/2)
    /// (DAPPER's `loc_rad`), in grid units, coordinate units, or km on the sphere.
    pub localization_radius: f64,
    /// Scaling of the static ensemble's sample covariance: EnOI's `B` and the hybrid's `B_s` are
    /// `enoi_alpha` times it.
    pub enoi_alpha: f64,
    /// Adaptive multiplicative prior inflation estimated from the innovations (see
    /// [`methods::adaptive_inflation`]), before the analysis and any fixed `inflation` after it.
    pub adaptive_inflation: bool,
    /// Uncertainty (standard deviation) of the adaptive factor carried from one analysis to the
    /// next: smaller adapts more slowly and more steadily.
    pub adaptive_inflation_sd: f64,
    /// Largest adaptive factor (on the covariance).
    pub adaptive_inflation_max: f64,
    /// ETKF and LETKF: weight `beta` in [0, 1) of the static covariance in the hybrid background
    /// covariance `(1 - beta) P_e + beta B_s` of the mean update (0 = the pure ensemble filter;
    /// see [`methods::hybrid`]). `B_s` is the static ensemble's sample covariance times
    /// `enoi_alpha`.
    pub hybrid_weight: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            method: Method::Etkf,
            inflation: 1.0,
            relax: Relaxation::None,
            relax_alpha: 0.0,
            localization_radius: 6.0,
            enoi_alpha: 1.0,
            adaptive_inflation: false,
            adaptive_inflation_sd: 0.2,
            adaptive_inflation_max: 4.0,
            hybrid_weight: 0.0,
        }
    }
}

impl BaselineConfig {
    /// Range checks for [`crate::config::Config::validate`].
    pub fn validate(&self, p: &mut Problems) {
        p.range("baseline.inflation", self.inflation, 1.0, 10.0);
        p.range("baseline.relax_alpha", self.relax_alpha, 0.0, 1.0);
        p.positive("baseline.localization_radius", self.localization_radius);
        p.check(self.localization_radius.is_finite(), "baseline.localization_radius", "must be finite");
        p.positive("baseline.enoi_alpha", self.enoi_alpha);
        p.check(self.enoi_alpha.is_finite(), "baseline.enoi_alpha", "must be finite");
        p.positive("baseline.adaptive_inflation_sd", self.adaptive_inflation_sd);
        p.check(self.adaptive_inflation_sd.is_finite(), "baseline.adaptive_inflation_sd", "must be finite");
        p.range("baseline.adaptive_inflation_max", self.adaptive_inflation_max, 1.0, 100.0);
        p.check((0.0..1.0).contains(&self.hybrid_weight), "baseline.hybrid_weight", format!("value {} must be in [0, 1)", self.hybrid_weight));
        p.check(
            self.hybrid_weight == 0.0 || matches!(self.method, Method::Etkf | Method::Letkf),
            "baseline.hybrid_weight",
            format!("a hybrid covariance is available for the etkf and the letkf only, not for the {}", self.method.name()),
        );
    }

    /// Whether [`Filter::new`] needs a static ensemble: EnOI, and the hybrid ETKF and LETKF.
    pub fn needs_static_ensemble(&self) -> bool {
        self.method == Method::Enoi || self.hybrid_weight > 0.0
    }
}

/// Where the state elements are, for the schemes that localise.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Location of each state element.
    pub state: Vec<Point>,
    /// How distances are measured.
    pub distance: Distance,
}

/// The static half of the hybrid covariance `config` asks for, made from `static_ensemble` (taken
/// out of it), or `None` for a pure ensemble filter.
fn hybrid_part(config: &BaselineConfig, static_ensemble: &mut Option<Array2<f64>>) -> Result<Option<Hybrid>> {
    if config.hybrid_weight == 0.0 {
        return Ok(None);
    }
    if !matches!(config.method, Method::Etkf | Method::Letkf) {
        return Err(Error::Other(format!("baseline.hybrid_weight: the {} has no hybrid covariance (etkf and letkf only)", config.method.name())));
    }
    let e = static_ensemble.take().ok_or_else(|| {
        Error::Other(format!(
            "the hybrid {} (baseline.hybrid_weight = {}) needs a static ensemble for its static covariance",
            config.method.name(),
            config.hybrid_weight
        ))
    })?;
    Hybrid::new(e, config.hybrid_weight, config.enoi_alpha).map(Some)
}

/// An analysis scheme between adaptive prior inflation and posterior inflation: one filter step.
pub struct Filter {
    analysis: Box<dyn Analysis>,
    adaptive: Option<AdaptiveInflation>,
    inflation: Inflation,
    prior: Array2<f64>,
}

impl Filter {
    /// The filter `config` describes. LETKF needs `geometry`; EnOI needs `static_ensemble`
    /// (members x state) whose covariance, scaled by `enoi_alpha`, is the background covariance;
    /// the ETKF and LETKF with `hybrid_weight > 0` need it for the static part of theirs
    /// ([`BaselineConfig::needs_static_ensemble`]).
    pub fn new(config: &BaselineConfig, geometry: Option<Geometry>, static_ensemble: Option<Array2<f64>>) -> Result<Filter> {
        let mut static_ensemble = static_ensemble;
        let hybrid = hybrid_part(config, &mut static_ensemble)?;
        let analysis: Box<dyn Analysis> = match config.method {
            Method::Etkf => Box::new(hybrid.map_or_else(etkf::Etkf::default, etkf::Etkf::hybrid)),
            Method::Enkf => Box::new(enkf::Enkf::default()),
            Method::Letkf => {
                let g = geometry.ok_or_else(|| Error::Other("the LETKF needs the locations of the state elements".into()))?;
                let letkf = letkf::Letkf::new(Localizer { distance: g.distance, radius: config.localization_radius }, g.state);
                Box::new(match hybrid {
                    Some(h) => letkf.with_hybrid(h),
                    None => letkf,
                })
            }
            Method::Enoi => {
                let e = static_ensemble.ok_or_else(|| Error::Other("EnOI needs a static ensemble".into()))?;
                Box::new(enoi::Enoi::new(e, config.enoi_alpha)?)
            }
        };
        let adaptive = config.adaptive_inflation.then(|| AdaptiveInflation::new(config.adaptive_inflation_sd, config.adaptive_inflation_max));
        Ok(Filter { analysis, adaptive, inflation: Inflation::new(config.inflation, config.relax, config.relax_alpha), prior: Array2::zeros((0, 0)) })
    }

    /// The adaptive prior inflation factor of the last analysis, when adaptive inflation is on.
    pub fn adaptive_factor(&self) -> Option<f64> {
        self.adaptive.as_ref().and_then(AdaptiveInflation::factor)
    }

    /// Inflates `ensemble` adaptively (if configured), analyses it in place, then inflates it.
    pub fn assimilate(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, rng: &mut StdRng) -> Result<()> {
        if let Some(adaptive) = &mut self.adaptive {
            obs.check(op.n_obs())?;
            adaptive.inflate_prior(ensemble, op, obs);
        }
        if !self.inflation.is_identity() {
            if self.prior.dim() != ensemble.dim() {
                self.prior = ensemble.clone();
            } else {
                self.prior.assign(ensemble);
            }
        }
        self.analysis.analyse(ensemble, op, obs, rng)?;
        self.inflation.apply(self.prior.view(), ensemble);
        Ok(())
    }
}
