//! The `baseline` stage on a gridded prior: a (multivariate) prior ensemble read from CF NetCDF
//! (see [`crate::kalman::io::ensemble_io`]), observations of it (gridded, point and station
//! observations, see [`crate::kalman::io::obs_file`]; or, with `obs_operator = "drifters"`,
//! drifter fixes through each member's velocity, see [`crate::kalman::io::grid_drifter_file`]),
//! the background check, and the analysis written in the prior's layout with the fields
//! `<var>_mean`, `<var>_spread` and `<var>_increment` of every analysed variable.

use ndarray::Array2;
use serde_json::json;

use super::options::{BaselineOptions, OperatorKind};
use super::output::{AnalysisFields, analyse, analysis_file, check_members, staged, write_diagnostics};
use crate::analysis::layout::{borrowed, copied_attributes, copy_globals, copy_variable, statistic_attrs};
use crate::cf::dsg::DsgNames;
use crate::cf::write::Precision;
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::kalman::io::ensemble_io::StateEnsemble;
use crate::kalman::io::grid_drifter_file::{self, GridDrifterSpec};
use crate::kalman::io::obs_file::{self, Dropped, ObsSpec, Target, ValidTime};
use crate::kalman::obs::Observations;
use crate::kalman::obs::grid_drifters::GridDrifterObs;
use crate::kalman::obs::obs_operator::{LinearObs, ObsOperator, observe};
use crate::kalman::obs::screening::screen_groups;
use crate::kalman::{BaselineConfig, Filter, Geometry};
use crate::pipeline::stage::StageContext;

/// Default longest RK4 step of the drifter operator on a gridded prior, seconds: a drifter at
/// 1 m/s moves 900 m in a step, a fraction of any ocean model's grid spacing.
const DEFAULT_DRIFTER_STEP_S: f64 = 900.0;

/// The observation operators of a gridded prior.
enum Operator {
    /// Gridded, point and station observations.
    Linear(LinearObs),
    /// Drifter gaps (two observations, x and y, each).
    Drifters(GridDrifterObs),
}

impl Operator {
    fn as_dyn(&self) -> &dyn ObsOperator {
        match self {
            Operator::Linear(op) => op,
            Operator::Drifters(op) => op,
        }
    }

    /// Observations per unit that is kept or dropped whole (a drifter gap is x and y).
    fn group(&self) -> usize {
        match self {
            Operator::Linear(_) => 1,
            Operator::Drifters(_) => 2,
        }
    }

    fn retain(&self, keep: &[bool]) -> Operator {
        match self {
            Operator::Linear(op) => Operator::Linear(op.retain_rows(keep)),
            Operator::Drifters(op) => Operator::Drifters(op.retain_gaps(&keep.iter().step_by(2).copied().collect::<Vec<_>>())),
        }
    }
}

/// The analysis of a gridded prior with gridded, point, station or drifter observations.
pub(super) fn run(ctx: &StageContext, options: &BaselineOptions, config: &BaselineConfig, options_key: &str) -> Result<serde_json::Value> {
    let started = std::time::Instant::now();
    let variables = &options.variable;
    let member_dim = options.member_dim.as_deref().unwrap_or("member");
    let prior_path = ctx.input("prior")?;
    let prior_file = NcFile::open(prior_path)?;
    let prior = StateEnsemble::read(&prior_file, variables, member_dim)?;
    let drifters = options.obs_operator == OperatorKind::Drifters;
    let velocity = options.velocity();
    let observed = match (&options.observed, &options.obs_variable) {
        _ if drifters => velocity[0].to_string(),
        (Some(o), _) => o.clone(),
        (None, Some(v)) if variables.contains(v) => v.clone(),
        _ => variables[0].clone(),
    };
    let (block, observed_block) = prior.block(&observed).ok_or_else(|| {
        Error::config("pipeline file", format!("{options_key}.velocity"), format!("`{observed}` is not among the analysed variables ({})", variables.join(", ")))
    })?;
    // Interpolation sees the water of the observed level; an out-of-range level is reported by
    // the reader, with the key.
    let level = options.obs_level.filter(|&l| l < observed_block.levels()).unwrap_or(0);
    let (grid, distance) = observed_block.grid_at_level(&prior_file, options.geometry, level)?;
    let obs_path = ctx.input("observations")?;
    let obs_file_nc = NcFile::open(obs_path)?;
    let valid_time = ValidTime::of(&prior_file);
    let (mut op, mut obs, dropped, obs_details) = if drifters {
        let x_dim = observed_block.state_dims.last().expect("state has dimensions");
        let spec = GridDrifterSpec {
            velocity,
            level: options.obs_level,
            error_std: options.obs_error_std.expect("checked: required for drifters"),
            time_tolerance_s: options.obs_time_tolerance_s(),
            max_step_s: options.drifter_dt.unwrap_or(DEFAULT_DRIFTER_STEP_S),
            names: DsgNames { time: None, x: options.obs_x.clone(), y: options.obs_y.clone() },
            options_key,
        };
        let loaded = grid_drifter_file::load(&obs_file_nc, &spec, &prior, &grid, valid_time, prior_file.attr_str(Some(x_dim), "units"))?;
        let details = json!({ "observation_layout": "drifters", "drifter_gaps": loaded.op.gaps().len(), "drifter_tracks": loaded.tracks });
        (Operator::Drifters(loaded.op), loaded.obs, loaded.dropped, details)
    } else {
        let spec = ObsSpec {
            variable: options.obs_variable.clone().expect("checked: required for the auto operator"),
            time_index: options.obs_time_index,
            error_std: options.obs_error_std,
            error_variable: options.obs_error_variable.clone(),
            x: options.obs_x.clone(),
            y: options.obs_y.clone(),
            level: options.obs_level,
            time_tolerance_s: options.obs_time_tolerance_s(),
            mask: options.obs_mask.clone(),
        };
        let target = Target { state: &prior, block, grid: &grid, valid_time, units: prior_file.attr_str(Some(&observed), "units") };
        let loaded = obs_file::load(&obs_file_nc, &spec, &target, options_key)?;
        let details = json!({ "observation_layout": loaded.layout, "observation_times": loaded.times });
        (Operator::Linear(loaded.op), loaded.obs, loaded.dropped, details)
    };
    let what = if drifters { "drifter positions".to_string() } else { format!("variable `{}`", options.obs_variable.as_deref().unwrap_or_default()) };
    warn_dropped(obs_path, &what, &dropped);
    let gross_errors = screen(&mut op, &mut obs, &prior, options.outlier_threshold(), obs_path, &what);
    if obs.values.is_empty() {
        return Err(Error::input(obs_path, format!("{what}: no usable observation of the prior's `{observed}` (see the warnings above)")));
    }
    let statics = if config.needs_static_ensemble() { Some(read_static(ctx, options, member_dim, &prior)?) } else { None };
    let members = prior.ensemble.nrows();
    check_members(config.method, members, prior_path, &variables.join(", "))?;
    let geometry = Geometry { state: prior.locations(&grid), distance };
    let mut filter = Filter::new(config, Some(geometry), statics)?;

    let mut ensemble = prior.ensemble.clone();
    let (before, after) = analyse(&mut filter, &mut ensemble, op.as_dyn(), &obs, ctx.seed)?;
    let fields = AnalysisFields::of(prior.ensemble.view(), ensemble.view());
    let title = format!("contrada {} analysis of {}", config.method.name(), variables.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "));
    write_analysis(ctx, &analysis_file(config.method), &prior_file, &prior, &ensemble, &fields, &title)?;
    let mut details = json!({
        "members": members,
        "variables": variables,
        "observed": observed,
        "state_elements": prior.ensemble.ncols(),
        "observations": obs.values.len(),
        "observations_dropped": dropped,
        "observations_rejected_gross_error": gross_errors,
        "outlier_threshold": options.outlier_threshold(),
        "adaptive_inflation_factor": filter.adaptive_factor(),
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (details.as_object_mut(), obs_details) {
        all.extend(extra);
    }
    write_diagnostics(ctx, config.method, &fields, (before, after), started, details)
}

/// One WARN line per reason observations were dropped (missing values of a gridded field are
/// unobserved points, not losses: they go to the log's INFO level).
fn warn_dropped(path: &std::path::Path, what: &str, dropped: &Dropped) {
    let file = path.display();
    if dropped.missing > 0 {
        tracing::info!("{file}: {what}: {} missing values (unobserved points) skipped", dropped.missing);
    }
    for (count, why) in [
        (dropped.land, "on land or surrounded by land"),
        (dropped.outside_domain, "outside the prior's grid"),
        (dropped.impossible_latitude, "at latitudes beyond +-90 degrees"),
        (dropped.outside_time_window, "dated outside obs_time_tolerance of the prior's valid time"),
    ] {
        if count > 0 {
            tracing::warn!("{file}: {what}: {count} observations dropped: {why}");
        }
    }
}

/// The background check ([`screen_groups`]) on the prior: rejected observations (a drifter
/// gap's x and y together) are removed from `op` and `obs`, announced in a WARN line and counted
/// (the return value).
fn screen(op: &mut Operator, obs: &mut Observations, prior: &StateEnsemble, threshold: f64, path: &std::path::Path, what: &str) -> usize {
    let mut hx = Array2::zeros((0, 0));
    if threshold > 0.0 {
        observe(op.as_dyn(), prior.ensemble.view(), &mut hx);
    }
    let group: Vec<usize> = (0..obs.values.len()).map(|k| k / op.group()).collect();
    let Some(s) = screen_groups(hx.view(), obs, threshold, &group) else { return 0 };
    let dropped = s.keep.iter().filter(|k| !**k).count();
    tracing::warn!(
        "{}: {what}: {dropped} of {} observations rejected by the background check (innovation beyond {threshold} standard deviations of sqrt(var(Hx) + R); largest {:.4e})",
        path.display(),
        obs.values.len(),
        s.largest
    );
    *op = op.retain(&s.keep);
    obs.retain(&s.keep);
    dropped
}

/// The EnOI static ensemble, in the prior's layout, from the `static` input along
/// `static_member_dim` (default: the prior's member dimension).
fn read_static(ctx: &StageContext, options: &BaselineOptions, member_dim: &str, prior: &StateEnsemble) -> Result<Array2<f64>> {
    let path = ctx.input("static")?;
    let file = NcFile::open(path)?;
    let statics = StateEnsemble::read(&file, &options.variable, options.static_member_dim.as_deref().unwrap_or(member_dim))?;
    for (s, p) in statics.blocks.iter().zip(&prior.blocks) {
        if s.state_shape != p.state_shape || s.wet != p.wet {
            return Err(Error::input(
                path,
                format!(
                    "variable `{}`: static ensemble state ({:?}, {} wet points) differs from the prior's ({:?}, {} wet points)",
                    s.variable,
                    s.state_shape,
                    s.wet.len(),
                    p.state_shape,
                    p.wet.len()
                ),
            ));
        }
    }
    Ok(statics.ensemble)
}

/// The analysis file: the prior file with each analysed variable replaced by its analysis
/// ensemble (in its own dtype), plus the analysis fields `<variable>_<statistic>` on each
/// variable's state dimensions.
fn write_analysis(ctx: &StageContext, name: &str, file: &NcFile, prior: &StateEnsemble, ensemble: &Array2<f64>, fields: &AnalysisFields, title: &str) -> Result<()> {
    let mut w = NcWriter::create(&staged(ctx, name), &ctx.section("io")?, title)?;
    copy_globals(&mut w, file)?;
    for (dim, len) in file.dims() {
        w.dim(&dim, len)?;
    }
    let named = fields.named();
    let taken: Vec<String> = prior.blocks.iter().flat_map(|b| named.iter().map(move |(statistic, _)| format!("{}_{statistic}", b.variable))).collect();
    for var in file.var_names() {
        if let Some((b, block)) = prior.block(&var) {
            let dims: Vec<&str> = block.dims.iter().map(String::as_str).collect();
            let attrs = copied_attributes(file, &var)?;
            let precision = if file.is_f32(&var)? { Precision::F32 } else { Precision::F64 };
            let members = ensemble.slice(ndarray::s![.., prior.columns(b)]).to_owned();
            w.var_real(&var, &dims, &block.to_layout(&members), precision, borrowed(&attrs))?;
        } else if taken.contains(&var) {
            // The prior is an earlier analysis (observation sources assimilated one after another).
            tracing::info!("{}: variable `{var}` is replaced by the analysis field of the same name", file.path().display());
        } else if file.read(&var).is_ok() {
            copy_variable(&mut w, file, &var)?;
        } else {
            tracing::warn!("{}: variable `{var}` is not numeric or has no data; not copied to {name}", file.path().display());
        }
    }
    for (b, block) in prior.blocks.iter().enumerate() {
        let dims: Vec<&str> = block.state_dims.iter().map(String::as_str).collect();
        for (statistic, values) in &named {
            let var = format!("{}_{statistic}", block.variable);
            w.var_f64(&var, &dims, &block.field(&values[prior.columns(b)]), statistic_attrs(file, &block.variable, statistic))?;
        }
    }
    w.finish()
}
