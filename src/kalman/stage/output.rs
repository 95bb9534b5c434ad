//! What both kinds of `baseline` stage share: the filter step with its innovation statistics, the
//! analysis fields, and the outputs' names and diagnostics file (the `assimilate` stage's
//! convention, read by `evaluate`).

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::analysis::diagnostics::Diagnostics;
use crate::error::{Error, Result};
use crate::kalman::methods::diagnostics::InnovationStats;
use crate::kalman::methods::ensemble::{mean_into, spread, spread_per_element};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};
use crate::kalman::{Filter, Method};
use crate::pipeline::stage::StageContext;

/// The analysis file of `method` (the contract of [`crate::analysis::diagnostics`]).
pub fn analysis_file(method: Method) -> String {
    crate::analysis::diagnostics::analysis_file(method.name())
}

/// Every scheme but EnOI estimates covariances from the ensemble: it needs two members.
pub(super) fn check_members(method: Method, members: usize, prior_path: &Path, variable: &str) -> Result<()> {
    if method != Method::Enoi && members < 2 {
        return Err(Error::input(prior_path, format!("variable `{variable}`: {} needs at least 2 members, the prior has {members}", method.name())));
    }
    Ok(())
}

/// One filter step on `ensemble` with the innovation statistics of the prior and the analysis.
/// Random draws (perturbed observations) come from `seed`.
pub(super) fn analyse(
    filter: &mut Filter,
    ensemble: &mut Array2<f64>,
    op: &dyn ObsOperator,
    obs: &Observations,
    seed: u64,
) -> Result<(InnovationStats, InnovationStats)> {
    let mut hx = Array2::zeros((0, 0));
    observe(op, ensemble.view(), &mut hx);
    let before = InnovationStats::of(hx.view(), obs);
    let mut rng = StdRng::seed_from_u64(seed);
    filter.assimilate(ensemble, op, obs, &mut rng)?;
    observe(op, ensemble.view(), &mut hx);
    Ok((before, InnovationStats::of(hx.view(), obs)))
}

/// The analysis fields of every state element, and the overall spreads.
pub(super) struct AnalysisFields {
    /// Analysis mean.
    pub mean: Vec<f64>,
    /// Analysis spread (ddof = 1).
    pub spread: Vec<f64>,
    /// Analysis mean minus prior mean.
    pub increment: Vec<f64>,
    /// Root-mean-square spread of the prior and of the analysis.
    pub prior_spread: f64,
    /// See `prior_spread`.
    pub analysis_spread: f64,
}

impl AnalysisFields {
    /// The fields of `analysis` against `prior` (both members x state).
    pub fn of(prior: ArrayView2<f64>, analysis: ArrayView2<f64>) -> AnalysisFields {
        let n = prior.ncols();
        let (mut prior_mean, mut mean, mut spread_field) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        mean_into(prior, &mut prior_mean);
        mean_into(analysis, &mut mean);
        spread_per_element(analysis, &mean, &mut spread_field);
        let increment = mean.iter().zip(&prior_mean).map(|(a, b)| a - b).collect();
        AnalysisFields { prior_spread: spread(prior, &prior_mean), analysis_spread: spread(analysis, &mean), mean, spread: spread_field, increment }
    }

    /// `(statistic, values)` in the order they are written.
    pub fn named(&self) -> [(&'static str, &[f64]); 3] {
        [("mean", &self.mean), ("spread", &self.spread), ("increment", &self.increment)]
    }
}

/// Writes `diagnostics_<method>.json` into the stage's staging directory and returns it (the
/// stage summary): the method, the spreads, the innovation statistics of the prior and the
/// analysis, the wall time since `started`, the process's peak memory (both read by
/// `evaluate`), and the stage's own `details` (a JSON object).
pub(super) fn write_diagnostics(
    ctx: &StageContext,
    method: Method,
    fields: &AnalysisFields,
    (before, after): (InnovationStats, InnovationStats),
    started: std::time::Instant,
    details: serde_json::Value,
) -> Result<serde_json::Value> {
    let mut own = json!({
        "prior_spread": fields.prior_spread,
        "analysis_spread": fields.analysis_spread,
        "innovation_prior": before,
        "innovation_analysis": after,
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (own.as_object_mut(), details) {
        all.extend(extra);
    }
    Diagnostics::measured(method.name(), started, own).write(ctx.out)
}

/// Path of output `name` in the stage's staging directory.
pub(super) fn staged(ctx: &StageContext, name: &str) -> std::path::PathBuf {
    Path::new(ctx.out).join(name)
}
