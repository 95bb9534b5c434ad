//! The `baseline` pipeline stage, single-analysis mode: a prior ensemble and observations in, the
//! analysis out, with the output convention of the `assimilate` stage (read by `evaluate`):
//! `analysis_<method>.nc` holds the analysis ensemble in the prior's layout (same dimensions and
//! variables, so a model can restart from it) plus the fields `<var>_mean`, `<var>_spread` and
//! `<var>_increment` on the state grid; `diagnostics_<method>.json` holds the innovation
//! statistics and the wall time.
//!
//! Inputs: `prior` (NetCDF with the analysed variable along a member dimension), `observations`
//! (see [`crate::kalman::io::obs_file`]) and, for EnOI, `static` (an ensemble of archive states in the
//! prior's layout). The scheme and its tuning come from the `[baseline]` section; `options.method`
//! overrides the scheme so one pipeline can compare several. With `obs_operator = "drifters"` the
//! prior is the Lagrangian flow's states file and the observations are drifter trajectories (see
//! [`drifter`]; the analysis then has the layout of the `assimilate` stage's).

pub mod drifter;

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use netcdf::AttributeValue;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use serde_json::json;

use crate::kalman::methods::diagnostics::InnovationStats;
use crate::kalman::methods::ensemble::{mean_into, spread, spread_per_element};
use crate::kalman::io::ensemble_io::{GeometryKind, PriorEnsemble};
use crate::kalman::io::obs_file::{self, ObsSpec};
use crate::kalman::obs::obs_operator::{observe, ObsOperator};
use crate::kalman::{BaselineConfig, Filter, Geometry, Method};
use crate::kalman::obs::Observations;
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::pipeline::spec::StageSpec;
use crate::stages::{Stage, StageContext};

/// The analysis file of `method`.
pub fn analysis_file(method: Method) -> String {
    format!("analysis_{}.nc", method.name())
}

/// The diagnostics file of `method`.
pub fn diagnostics_file(method: Method) -> String {
    format!("diagnostics_{}.json", method.name())
}

/// Which observation operator a `baseline` stage builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorKind {
    /// Gridded or point observations of a gridded prior (see [`crate::kalman::io::obs_file`]).
    #[default]
    Auto,
    /// Drifter trajectories of the Lagrangian flow (see [`crate::kalman::io::drifter_file`]): the prior is a
    /// `lagrangian_states.nc` whose samples are the members.
    Drifters,
}

/// Options of a `baseline` stage in a pipeline file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineOptions {
    /// Overrides `baseline.method`.
    pub method: Option<Method>,
    /// Observation operator: `auto` (gridded or point observations) or `drifters`.
    pub obs_operator: OperatorKind,
    /// The analysed variable of the prior file (`auto` only).
    pub variable: Option<String>,
    /// The prior's member dimension (default `member`; `time` for `drifters`).
    pub member_dim: Option<String>,
    /// Grid geometry: auto | periodic | plane | sphere (`auto` operator only; the Lagrangian flow
    /// is on the periodic unit square).
    pub geometry: GeometryKind,
    /// The observed variable of the observation file (`auto` only).
    pub obs_variable: Option<String>,
    /// Which time of the observations to use, when they have several (`drifters`: which
    /// sample's tracks, by `sample_index`).
    pub obs_time_index: Option<usize>,
    /// Observation-error standard deviation for every observation.
    pub obs_error_std: Option<f64>,
    /// Per-observation error standard deviations (a variable of the observation file).
    pub obs_error_variable: Option<String>,
    /// Point observations: their x/longitude variable.
    pub obs_x: Option<String>,
    /// Point observations: their y/latitude variable.
    pub obs_y: Option<String>,
    /// `drifters`: prior members drawn (seeded, without replacement) from the prior file's
    /// samples; all of them when unset.
    pub members: Option<usize>,
    /// `drifters`, EnOI: static members drawn from the `static` file's samples; all when unset.
    pub static_members: Option<usize>,
    /// `drifters`: longest RK4 step of the drifter operator, model time units.
    pub drifter_dt: Option<f64>,
    /// `drifters`: predict each observed position from the previous observed one (the default)
    /// instead of along the member's whole track (see [`crate::kalman::obs::drifter_obs::DrifterObs::predict`]).
    /// Whole tracks diverge from member to member faster than a linear update can follow: on the
    /// sample data no scheme beat its prior mean with them, while one-gap displacements did.
    pub drifter_restart: Option<bool>,
}

impl BaselineOptions {
    /// Whether the drifter operator restarts each gap at the observed position (the default).
    pub fn drifter_restart(&self) -> bool {
        self.drifter_restart.unwrap_or(true)
    }

    /// Checks that the options given fit the operator; errors name the key under `prefix`.
    fn check(&self, prefix: &str) -> Result<()> {
        let bad = |k: &str, why: &str| Error::config("pipeline file", format!("{prefix}.{k}"), why.to_string());
        match self.obs_operator {
            OperatorKind::Auto => {
                for (k, missing) in [("variable", self.variable.is_none()), ("obs_variable", self.obs_variable.is_none())] {
                    if missing {
                        return Err(bad(k, "this option is required (or set obs_operator = \"drifters\")"));
                    }
                }
                let drifter_only = [("members", self.members.is_some()), ("static_members", self.static_members.is_some()), ("drifter_dt", self.drifter_dt.is_some()), ("drifter_restart", self.drifter_restart.is_some())];
                if let Some((k, _)) = drifter_only.iter().find(|(_, set)| *set) {
                    return Err(bad(k, "applies to obs_operator = \"drifters\" only"));
                }
            }
            OperatorKind::Drifters => {
                let gridded_only = [
                    ("variable", self.variable.is_some()),
                    ("obs_variable", self.obs_variable.is_some()),
                    ("obs_error_variable", self.obs_error_variable.is_some()),
                    ("obs_x", self.obs_x.is_some()),
                    ("obs_y", self.obs_y.is_some()),
                    ("geometry", self.geometry != GeometryKind::Auto),
                ];
                if let Some((k, _)) = gridded_only.iter().find(|(_, set)| *set) {
                    return Err(bad(k, "does not apply to obs_operator = \"drifters\" (the state is the prior file's coef, omega and gridded fields, on the periodic unit square)"));
                }
                if let Some(dt) = self.drifter_dt
                    && !(dt.is_finite() && dt > 0.0)
                {
                    return Err(bad("drifter_dt", "must be finite and > 0"));
                }
            }
        }
        Ok(())
    }
}

/// The `baseline` stage.
pub struct BaselineStage;

fn parse_options(spec: &StageSpec) -> Result<BaselineOptions> {
    let value = toml::Value::Table(spec.options.clone());
    serde_path_to_error::deserialize::<_, BaselineOptions>(value)
        .map_err(|e| Error::config("pipeline file", format!("pipeline.stages.{}.options.{}", spec.name, e.path()), e.inner().to_string()))
}

impl Stage for BaselineStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["baseline", "io"]
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        parse_options(spec)?.check(&format!("pipeline.stages.{}.options", spec.name))?;
        for input in ["prior", "observations"] {
            if !spec.inputs.contains_key(input) {
                return Err(Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{input}", spec.name), "this input is required"));
            }
        }
        if let Some(known) = spec.inputs.keys().find(|k| !["prior", "observations", "static"].contains(&k.as_str())) {
            return Err(Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{known}", spec.name), "unknown input; allowed: prior, observations, static"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let options: BaselineOptions = ctx.options()?;
        let options_key = format!("pipeline.stages.{}.options", ctx.spec.name);
        options.check(&options_key)?;
        let mut config = ctx.config.baseline.clone();
        if let Some(m) = options.method {
            config.method = m;
        }
        match options.obs_operator {
            OperatorKind::Auto => run_gridded(ctx, &options, &config, &options_key),
            OperatorKind::Drifters => drifter::run(ctx, &options, &config, &options_key),
        }
    }
}

/// The analysis of a gridded prior with gridded or point observations.
fn run_gridded(ctx: &StageContext, options: &BaselineOptions, config: &BaselineConfig, options_key: &str) -> Result<serde_json::Value> {
    let started = std::time::Instant::now();
    let variable = options.variable.as_deref().expect("checked: required for the auto operator");
    let obs_variable = options.obs_variable.clone().expect("checked: required for the auto operator");
    let member_dim = options.member_dim.as_deref().unwrap_or("member");
    let prior_path = ctx.input("prior")?;
    let prior_file = NcFile::open(prior_path)?;
    let prior = PriorEnsemble::read(&prior_file, variable, member_dim)?;
    let (grid, distance) = prior.grid(&prior_file, options.geometry)?;
    let obs_path = ctx.input("observations")?;
    let obs_file_nc = NcFile::open(obs_path)?;
    let spec = ObsSpec {
        variable: obs_variable.clone(),
        time_index: options.obs_time_index,
        error_std: options.obs_error_std,
        error_variable: options.obs_error_variable.clone(),
        x: options.obs_x.clone(),
        y: options.obs_y.clone(),
    };
    let loaded = obs_file::load(&obs_file_nc, &spec, &prior, &grid, options_key)?;
    if loaded.obs.values.is_empty() {
        return Err(Error::input(obs_path, format!("variable `{obs_variable}`: no usable observation on the prior's grid ({} dropped)", loaded.dropped)));
    }
    let statics = match config.method {
        Method::Enoi => Some(read_static(ctx, variable, member_dim, &prior)?),
        _ => None,
    };
    let members = prior.ensemble.nrows();
    check_members(config.method, members, prior_path, variable)?;
    let geometry = Geometry { state: prior.locations(&grid), distance };
    let mut filter = Filter::new(config, Some(geometry), statics)?;

    let mut ensemble = prior.ensemble.clone();
    let (before, after) = analyse(&mut filter, &mut ensemble, &loaded.op, &loaded.obs, ctx.seed)?;
    let fields = AnalysisFields::of(prior.ensemble.view(), ensemble.view());
    let title = format!("contrada {} analysis of `{variable}`", config.method.name());
    write_analysis(ctx, &analysis_file(config.method), &prior_file, &prior, &ensemble, &fields.named(), &title)?;
    let details = json!({
        "members": members,
        "state_elements": prior.wet.len(),
        "observations": loaded.obs.values.len(),
        "observation_layout": loaded.layout,
        "observations_dropped": loaded.dropped,
    });
    write_diagnostics(ctx, config.method, &fields, (before, after), started, details)
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
pub(super) fn analyse(filter: &mut Filter, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, seed: u64) -> Result<(InnovationStats, InnovationStats)> {
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
    let mut summary = json!({
        "method": method.name(),
        "prior_spread": fields.prior_spread,
        "analysis_spread": fields.analysis_spread,
        "innovation_prior": before,
        "innovation_analysis": after,
        "wall_time_s": started.elapsed().as_secs_f64(),
        "peak_rss_bytes": crate::analysis::memory::peak_rss_bytes(),
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (summary.as_object_mut(), details) {
        all.extend(extra);
    }
    let path = staged(ctx, &diagnostics_file(method));
    std::fs::write(&path, serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.to_string()))?).map_err(|e| Error::io(&path, e))?;
    Ok(summary)
}

/// The EnOI static ensemble, in the prior's layout.
fn read_static(ctx: &StageContext, variable: &str, member_dim: &str, prior: &PriorEnsemble) -> Result<Array2<f64>> {
    let path = ctx.input("static")?;
    let file = NcFile::open(path)?;
    let statics = PriorEnsemble::read(&file, variable, member_dim)?;
    if statics.state_shape != prior.state_shape || statics.wet != prior.wet {
        return Err(Error::input(
            path,
            format!("variable `{variable}`: static ensemble state ({:?}, {} wet points) differs from the prior's ({:?}, {} wet points)", statics.state_shape, statics.wet.len(), prior.state_shape, prior.wet.len()),
        ));
    }
    Ok(statics.ensemble)
}

/// Attributes that describe packing or validity of the input values, not the analysed ones.
const DROPPED_ATTRIBUTES: &[&str] = &["_FillValue", "missing_value", "scale_factor", "add_offset", "valid_range", "valid_min", "valid_max"];

/// The attributes of `var` that still describe analysed values (units, names, comments).
pub(super) fn copied_attributes(file: &NcFile, var: &str) -> Result<Vec<(String, AttributeValue)>> {
    Ok(file.attributes(Some(var))?.into_iter().filter(|(k, _)| !DROPPED_ATTRIBUTES.contains(&k.as_str())).collect())
}

/// `attrs` in the form [`NcWriter`] takes.
pub(super) fn borrowed(attrs: &[(String, AttributeValue)]) -> Vec<(&str, AttributeValue)> {
    attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// Copies variable `name` of `file` (values and attributes) into `w`, keeping integers integer.
pub(super) fn copy_variable(w: &mut NcWriter, file: &NcFile, name: &str) -> Result<()> {
    let dims = file.var_dims(name)?;
    let dim_refs: Vec<&str> = dims.iter().map(String::as_str).collect();
    let values: Vec<f64> = file.read(name)?.data.iter().copied().collect();
    let attrs = copied_attributes(file, name)?;
    if file.is_integer(name)? && values.iter().all(|v| v.is_finite() && v.abs() <= i32::MAX as f64) {
        let ints: Vec<i32> = values.iter().map(|&v| v as i32).collect();
        w.var_i32(name, &dim_refs, &ints, borrowed(&attrs))
    } else {
        w.var_f64(name, &dim_refs, &values, borrowed(&attrs))
    }
}

/// Copies the global attributes that [`NcWriter::create`] does not set itself.
pub(super) fn copy_globals(w: &mut NcWriter, file: &NcFile) -> Result<()> {
    for (k, v) in file.attributes(None)? {
        if !["Conventions", "title", "source", "history"].contains(&k.as_str()) {
            w.global(&k, v)?;
        }
    }
    Ok(())
}

/// Path of output `name` in the stage's staging directory.
pub(super) fn staged(ctx: &StageContext, name: &str) -> std::path::PathBuf {
    Path::new(ctx.out).join(name)
}

/// The analysis file: the prior file with the analysed variable replaced by the analysis
/// ensemble, plus the analysis fields `<variable>_<statistic>` on the state dimensions.
fn write_analysis(ctx: &StageContext, name: &str, file: &NcFile, prior: &PriorEnsemble, ensemble: &Array2<f64>, fields: &[(&str, &[f64])], title: &str) -> Result<()> {
    let mut w = NcWriter::create(&staged(ctx, name), &ctx.config.io, title)?;
    copy_globals(&mut w, file)?;
    for (dim, len) in file.dims() {
        w.dim(&dim, len)?;
    }
    let taken: Vec<String> = fields.iter().map(|(statistic, _)| format!("{}_{statistic}", prior.variable)).collect();
    for var in file.var_names() {
        if var == prior.variable {
            let dims: Vec<&str> = prior.dims.iter().map(String::as_str).collect();
            let attrs = copied_attributes(file, &var)?;
            w.var_f64(&var, &dims, &prior.to_layout(ensemble), borrowed(&attrs))?;
        } else if taken.contains(&var) {
            tracing::warn!("{}: variable `{var}` is replaced by the analysis field of the same name", file.path().display());
        } else if file.read(&var).is_ok() {
            copy_variable(&mut w, file, &var)?;
        } else {
            tracing::warn!("{}: variable `{var}` is not numeric or has no data; not copied to {name}", file.path().display());
        }
    }
    let dims: Vec<&str> = prior.state_dims.iter().map(String::as_str).collect();
    for ((statistic, values), var) in fields.iter().zip(&taken) {
        w.var_f64(var, &dims, &prior.field(values), statistic_attrs(file, &prior.variable, statistic))?;
    }
    w.finish()
}

/// Attributes of the analysis field `<var>_<statistic>` (`mean`, `spread` or `increment`):
/// the units of `var` in `file` and a long name and comment saying what the field is.
pub(super) fn statistic_attrs(file: &NcFile, var: &str, statistic: &str) -> Vec<(&'static str, AttributeValue)> {
    let long = file.attr_str(Some(var), "long_name").unwrap_or_else(|| var.to_string());
    let mut attrs: Vec<(&str, AttributeValue)> = vec![("long_name", format!("{long} (analysis {statistic})").into())];
    if let Some(u) = file.attr_str(Some(var), "units") {
        attrs.push(("units", u.into()));
    }
    match statistic {
        "spread" => attrs.push(("comment", "unbiased ensemble standard deviation (ddof = 1)".into())),
        "increment" => attrs.push(("comment", "analysis mean minus prior mean".into())),
        _ => {}
    }
    attrs
}
