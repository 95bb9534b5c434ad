//! Ensemble Kalman baselines: the stochastic EnKF, the ETKF, the LETKF and EnOI behind one
//! [`Analysis`] trait, with inflation, localisation and observation operators kept in modules of
//! their own (DAPPER's separation of methods, operators and statistics), a twin-experiment cycling
//! driver that validates them as filters, and the `[baseline]` configuration section.
//!
//! All schemes work in ensemble space with whitened observations (see [`ensemble_space`]) and
//! assume a diagonal observation-error covariance, given as one variance per observation.

pub mod cycling;
pub mod diagnostics;
pub mod drifter_file;
pub mod drifter_obs;
pub mod drifter_stage;
pub mod enkf;
pub mod enoi;
pub mod ensemble;
pub mod ensemble_io;
pub mod ensemble_space;
pub mod etkf;
pub mod flow_ensemble;
pub mod inflation;
pub mod lagrangian_twin;
pub mod letkf;
pub mod localization;
pub mod obs_file;
pub mod obs_operator;
pub mod stage;

use ndarray::Array2;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::config::Problems;
use crate::error::{Error, Result};
use inflation::{Inflation, Relaxation};
use localization::{Distance, Localizer, Point};
use obs_operator::ObsOperator;

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
    /// EnOI: scaling of the static ensemble covariance (B = alpha * sample covariance).
    pub enoi_alpha: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig { method: Method::Etkf, inflation: 1.0, relax: Relaxation::None, relax_alpha: 0.0, localization_radius: 6.0, enoi_alpha: 1.0 }
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
    }
}

/// Observations for one analysis: values and their error variances (diagonal R).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Observed values `y`.
    pub values: Vec<f64>,
    /// Error variance of each observation.
    pub variance: Vec<f64>,
}

impl Observations {
    /// Checks there are `m` finite values with finite positive variances.
    pub fn check(&self, m: usize) -> Result<()> {
        if self.values.len() != m || self.variance.len() != m {
            return Err(Error::Other(format!(
                "{} observation values and {} variances for an operator with {m} observations",
                self.values.len(),
                self.variance.len()
            )));
        }
        if let Some(k) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Other(format!("observation {k} is not finite ({})", self.values[k])));
        }
        if let Some(k) = self.variance.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::Other(format!("observation {k} has error variance {}; expected a finite value > 0", self.variance[k])));
        }
        Ok(())
    }
}

/// One ensemble analysis scheme.
pub trait Analysis {
    /// Updates `ensemble` (members x state, standard layout) with observations `obs` of operator
    /// `op`. Random draws (perturbed observations) come from `rng`.
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, rng: &mut StdRng) -> Result<()>;
}

/// Where the state elements are, for the schemes that localise.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Location of each state element.
    pub state: Vec<Point>,
    /// How distances are measured.
    pub distance: Distance,
}

/// An analysis scheme followed by inflation: one filter step.
pub struct Filter {
    analysis: Box<dyn Analysis>,
    inflation: Inflation,
    prior: Array2<f64>,
}

impl Filter {
    /// The filter `config` describes. LETKF needs `geometry`; EnOI needs `static_ensemble`
    /// (members x state) whose covariance, scaled by `enoi_alpha`, is the background covariance.
    pub fn new(config: &BaselineConfig, geometry: Option<Geometry>, static_ensemble: Option<Array2<f64>>) -> Result<Filter> {
        let analysis: Box<dyn Analysis> = match config.method {
            Method::Etkf => Box::new(etkf::Etkf::default()),
            Method::Enkf => Box::new(enkf::Enkf::default()),
            Method::Letkf => {
                let g = geometry.ok_or_else(|| Error::Other("the LETKF needs the locations of the state elements".into()))?;
                Box::new(letkf::Letkf::new(Localizer { distance: g.distance, radius: config.localization_radius }, g.state))
            }
            Method::Enoi => {
                let e = static_ensemble.ok_or_else(|| Error::Other("EnOI needs a static ensemble".into()))?;
                Box::new(enoi::Enoi::new(e, config.enoi_alpha)?)
            }
        };
        Ok(Filter { analysis, inflation: Inflation::new(config.inflation, config.relax, config.relax_alpha), prior: Array2::zeros((0, 0)) })
    }

    /// Analyses `ensemble` in place, then inflates it.
    pub fn assimilate(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, rng: &mut StdRng) -> Result<()> {
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

/// Checks that `ensemble` and `op` agree on the state size and there are at least two members
/// (one for EnOI, which does not use the ensemble's own covariance).
fn check_shapes(ensemble: &Array2<f64>, op: &dyn ObsOperator, min_members: usize) -> Result<()> {
    if ensemble.ncols() != op.n_state() {
        return Err(Error::Other(format!("ensemble state size {} differs from the observation operator's {}", ensemble.ncols(), op.n_state())));
    }
    if ensemble.nrows() < min_members {
        return Err(Error::Other(format!("ensemble has {} member(s); this scheme needs at least {min_members}", ensemble.nrows())));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support;
