//! The `baseline` pipeline stage, single-analysis mode: a prior ensemble and observations in, the
//! analysis out, with the output convention of the `assimilate` stage (read by `evaluate`):
//! `analysis_<method>.nc` holds the analysis ensemble in the prior's layout (same dimensions and
//! variables, so a model can restart from it) plus the fields `<var>_mean`, `<var>_spread` and
//! `<var>_increment` on the state grid; `diagnostics_<method>.json` holds the innovation
//! statistics and the wall time.
//!
//! Inputs: `prior` (NetCDF with the analysed variable along a member dimension), `observations`
//! (see [`super::obs_file`]) and, for EnOI, `static` (an ensemble of archive states in the
//! prior's layout). The scheme and its tuning come from the `[baseline]` section; `options.method`
//! overrides the scheme so one pipeline can compare several.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use netcdf::AttributeValue;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use serde_json::json;

use super::diagnostics::InnovationStats;
use super::ensemble::{mean_into, spread, spread_per_element};
use super::ensemble_io::{GeometryKind, PriorEnsemble};
use super::obs_file::{self, ObsSpec};
use super::obs_operator::observe;
use super::{Filter, Geometry, Method};
use crate::cf::{NcFile, NcWriter};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::hash::derive_seed;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::staging::Staging;
use crate::stages::{Stage, StageContext};

/// The analysis file of `method`.
pub fn analysis_file(method: Method) -> String {
    format!("analysis_{}.nc", method.name())
}

/// The diagnostics file of `method`.
pub fn diagnostics_file(method: Method) -> String {
    format!("diagnostics_{}.json", method.name())
}

/// Options of a `baseline` stage in a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineOptions {
    /// Overrides `baseline.method`.
    #[serde(default)]
    pub method: Option<Method>,
    /// The analysed variable of the prior file.
    pub variable: String,
    /// The prior's member dimension.
    #[serde(default = "default_member_dim")]
    pub member_dim: String,
    /// Grid geometry: auto | periodic | plane | sphere.
    #[serde(default)]
    pub geometry: GeometryKind,
    /// The observed variable of the observation file.
    pub obs_variable: String,
    /// Which time of the observations to use, when they have several.
    #[serde(default)]
    pub obs_time_index: Option<usize>,
    /// Observation-error standard deviation for every observation.
    #[serde(default)]
    pub obs_error_std: Option<f64>,
    /// Per-observation error standard deviations (a variable of the observation file).
    #[serde(default)]
    pub obs_error_variable: Option<String>,
    /// Point observations: their x/longitude variable.
    #[serde(default)]
    pub obs_x: Option<String>,
    /// Point observations: their y/latitude variable.
    #[serde(default)]
    pub obs_y: Option<String>,
}

fn default_member_dim() -> String {
    "member".into()
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
        parse_options(spec)?;
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
        let mut config = ctx.config.baseline.clone();
        if let Some(m) = options.method {
            config.method = m;
        }
        let started = std::time::Instant::now();
        let options_key = format!("pipeline.stages.{}.options", ctx.spec.name);
        let prior_path = ctx.input("prior")?;
        let prior_file = NcFile::open(prior_path)?;
        let prior = PriorEnsemble::read(&prior_file, &options.variable, &options.member_dim)?;
        let (grid, distance) = prior.grid(&prior_file, options.geometry)?;
        let obs_path = ctx.input("observations")?;
        let obs_file_nc = NcFile::open(obs_path)?;
        let spec = ObsSpec {
            variable: options.obs_variable.clone(),
            time_index: options.obs_time_index,
            error_std: options.obs_error_std,
            error_variable: options.obs_error_variable.clone(),
            x: options.obs_x.clone(),
            y: options.obs_y.clone(),
        };
        let loaded = obs_file::load(&obs_file_nc, &spec, &prior, &grid, &options_key)?;
        if loaded.obs.values.is_empty() {
            return Err(Error::input(obs_path, format!("variable `{}`: no usable observation on the prior's grid ({} dropped)", options.obs_variable, loaded.dropped)));
        }
        let statics = match config.method {
            Method::Enoi => Some(read_static(ctx, &options, &prior)?),
            _ => None,
        };
        let members = prior.ensemble.nrows();
        if config.method != Method::Enoi && members < 2 {
            return Err(Error::input(prior_path, format!("variable `{}`: {} needs at least 2 members, the prior has {members}", options.variable, config.method.name())));
        }
        let geometry = Geometry { state: prior.locations(&grid), distance };
        let mut filter = Filter::new(&config, Some(geometry), statics)?;

        let mut ensemble = prior.ensemble.clone();
        let mut hx = Array2::zeros((0, 0));
        observe(&loaded.op, ensemble.view(), &mut hx);
        let before = InnovationStats::of(hx.view(), &loaded.obs);
        let mut rng = StdRng::seed_from_u64(ctx.seed);
        filter.assimilate(&mut ensemble, &loaded.op, &loaded.obs, &mut rng)?;
        observe(&loaded.op, ensemble.view(), &mut hx);
        let after = InnovationStats::of(hx.view(), &loaded.obs);

        let n = prior.wet.len();
        let (mut prior_mean, mut mean) = (vec![0.0; n], vec![0.0; n]);
        mean_into(prior.ensemble.view(), &mut prior_mean);
        mean_into(ensemble.view(), &mut mean);
        let mut spread_field = vec![0.0; n];
        spread_per_element(ensemble.view(), &mean, &mut spread_field);
        let increment: Vec<f64> = mean.iter().zip(&prior_mean).map(|(a, b)| a - b).collect();

        let title = format!("contrada {} analysis of `{}`", config.method.name(), options.variable);
        let fields: [(&str, &[f64]); 3] = [("mean", &mean), ("spread", &spread_field), ("increment", &increment)];
        write_analysis(ctx, &analysis_file(config.method), &prior_file, &prior, &ensemble, &fields, &title)?;
        let summary = json!({
            "method": config.method.name(),
            "members": members,
            "state_elements": n,
            "observations": loaded.obs.values.len(),
            "observation_layout": loaded.layout,
            "observations_dropped": loaded.dropped,
            "prior_spread": spread(prior.ensemble.view(), &prior_mean),
            "analysis_spread": spread(ensemble.view(), &mean),
            "innovation_prior": before,
            "innovation_analysis": after,
            "wall_time_s": started.elapsed().as_secs_f64(),
        });
        let diagnostics = staged(ctx, &diagnostics_file(config.method));
        std::fs::write(&diagnostics, serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.to_string()))?).map_err(|e| Error::io(&diagnostics, e))?;
        Ok(summary)
    }
}

/// Runs one baseline analysis outside a pipeline (`contrada baseline`): the stage with `options`
/// (the pipeline options table) and `inputs`, its outputs published atomically into `out`.
pub fn run_standalone(config: &Config, options: toml::Table, inputs: BTreeMap<String, PathBuf>, out: &Path) -> Result<serde_json::Value> {
    let spec = StageSpec { name: "baseline".into(), kind: "baseline".into(), inputs: BTreeMap::new(), options };
    let stage = BaselineStage;
    let cli_key = |e: Error| match e {
        // Report option problems by their command-line names.
        Error::Config { key, message, .. } => {
            let flag = key.rsplit('.').next().unwrap_or(&key).replace('_', "-");
            Error::Usage(format!("--{flag}: {message}"))
        }
        other => other,
    };
    stage.check(&StageSpec { inputs: inputs.keys().map(|k| (k.clone(), String::new())).collect(), ..spec.clone() }).map_err(cli_key)?;
    let staging = Staging::new(out)?;
    let ctx = StageContext { config, spec: &spec, inputs, out: staging.path(), window: None, seed: derive_seed(config.run.seed, "baseline"), checkpoint: None, cache_dir: None };
    match stage.run(&ctx) {
        Ok(summary) => {
            staging.commit_files()?;
            Ok(summary)
        }
        Err(e) => {
            // Nothing partial stays behind; the error is what matters, not a failed clean-up.
            let _ = std::fs::remove_dir_all(staging.path());
            Err(cli_key(e))
        }
    }
}

/// The EnOI static ensemble, in the prior's layout.
fn read_static(ctx: &StageContext, options: &BaselineOptions, prior: &PriorEnsemble) -> Result<Array2<f64>> {
    let path = ctx.input("static")?;
    let file = NcFile::open(path)?;
    let statics = PriorEnsemble::read(&file, &options.variable, &options.member_dim)?;
    if statics.state_shape != prior.state_shape || statics.wet != prior.wet {
        return Err(Error::input(
            path,
            format!("variable `{}`: static ensemble state ({:?}, {} wet points) differs from the prior's ({:?}, {} wet points)", options.variable, statics.state_shape, statics.wet.len(), prior.state_shape, prior.wet.len()),
        ));
    }
    Ok(statics.ensemble)
}

/// Attributes that describe packing or validity of the input values, not the analysed ones.
const DROPPED_ATTRIBUTES: &[&str] = &["_FillValue", "missing_value", "scale_factor", "add_offset", "valid_range", "valid_min", "valid_max"];

fn copied_attributes(file: &NcFile, var: &str) -> Result<Vec<(String, AttributeValue)>> {
    Ok(file.attributes(Some(var))?.into_iter().filter(|(k, _)| !DROPPED_ATTRIBUTES.contains(&k.as_str())).collect())
}

fn borrowed(attrs: &[(String, AttributeValue)]) -> Vec<(&str, AttributeValue)> {
    attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// Copies variable `name` of `file` (values and attributes) into `w`, keeping integers integer.
fn copy_variable(w: &mut NcWriter, file: &NcFile, name: &str) -> Result<()> {
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
fn copy_globals(w: &mut NcWriter, file: &NcFile) -> Result<()> {
    for (k, v) in file.attributes(None)? {
        if !["Conventions", "title", "source", "history"].contains(&k.as_str()) {
            w.global(&k, v)?;
        }
    }
    Ok(())
}

fn staged(ctx: &StageContext, name: &str) -> std::path::PathBuf {
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
    let units = file.attr_str(Some(&prior.variable), "units");
    let long = file.attr_str(Some(&prior.variable), "long_name").unwrap_or_else(|| prior.variable.clone());
    for ((statistic, values), var) in fields.iter().zip(&taken) {
        let mut attrs: Vec<(&str, AttributeValue)> = vec![("long_name", format!("{long} (analysis {statistic})").into())];
        if let Some(u) = &units {
            attrs.push(("units", u.as_str().into()));
        }
        match *statistic {
            "spread" => attrs.push(("comment", "unbiased ensemble standard deviation (ddof = 1)".into())),
            "increment" => attrs.push(("comment", "analysis mean minus prior mean".into())),
            _ => {}
        }
        w.var_f64(var, &dims, &prior.field(values), attrs)?;
    }
    w.finish()
}
