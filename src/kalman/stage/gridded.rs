//! The `baseline` stage with gridded or point observations (`obs_operator = "auto"`): a prior
//! ensemble read from CF NetCDF (see [`crate::kalman::io::ensemble_io`]), observations of it (see
//! [`crate::kalman::io::obs_file`]), and the analysis written in the prior's layout with the
//! fields `<var>_mean`, `<var>_spread` and `<var>_increment` on the state grid.

use ndarray::Array2;
use serde_json::json;

use super::options::BaselineOptions;
use super::output::{AnalysisFields, analyse, analysis_file, check_members, staged, write_diagnostics};
use crate::analysis::layout::{borrowed, copied_attributes, copy_globals, copy_variable, statistic_attrs};
use crate::cf::write::Precision;
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::kalman::io::ensemble_io::StateEnsemble;
use crate::kalman::io::obs_file::{self, Dropped, LoadedObs, ObsSpec, Target, ValidTime};
use crate::kalman::obs::obs_operator::observe;
use crate::kalman::obs::screening::outliers;
use crate::kalman::{BaselineConfig, Filter, Geometry, Method};
use crate::pipeline::stage::StageContext;

/// The analysis of a gridded prior with gridded, point or station observations.
pub(super) fn run(ctx: &StageContext, options: &BaselineOptions, config: &BaselineConfig, options_key: &str) -> Result<serde_json::Value> {
    let started = std::time::Instant::now();
    let variables = &options.variable;
    let obs_variable = options.obs_variable.clone().expect("checked: required for the auto operator");
    let member_dim = options.member_dim.as_deref().unwrap_or("member");
    let prior_path = ctx.input("prior")?;
    let prior_file = NcFile::open(prior_path)?;
    let prior = StateEnsemble::read(&prior_file, variables, member_dim)?;
    let observed = options.observed.clone().unwrap_or_else(|| if variables.contains(&obs_variable) { obs_variable.clone() } else { variables[0].clone() });
    let (block, observed_block) = prior.block(&observed).expect("checked: among the analysed variables");
    // Interpolation sees the water of the observed level; an out-of-range level is reported by
    // the reader, with the key.
    let level = options.obs_level.filter(|&l| l < observed_block.levels()).unwrap_or(0);
    let (grid, distance) = observed_block.grid_at_level(&prior_file, options.geometry, level)?;
    let obs_path = ctx.input("observations")?;
    let obs_file_nc = NcFile::open(obs_path)?;
    let spec = ObsSpec {
        variable: obs_variable.clone(),
        time_index: options.obs_time_index,
        error_std: options.obs_error_std,
        error_variable: options.obs_error_variable.clone(),
        x: options.obs_x.clone(),
        y: options.obs_y.clone(),
        level: options.obs_level,
        time_tolerance_s: options.obs_time_tolerance_s(),
    };
    let target = Target { state: &prior, block, grid: &grid, valid_time: ValidTime::of(&prior_file), units: prior_file.attr_str(Some(&observed), "units") };
    let mut loaded = obs_file::load(&obs_file_nc, &spec, &target, options_key)?;
    warn_dropped(obs_path, &obs_variable, &loaded.dropped);
    let gross_errors = screen(&mut loaded, &prior, options.outlier_threshold(), obs_path, &obs_variable);
    if loaded.obs.values.is_empty() {
        return Err(Error::input(obs_path, format!("variable `{obs_variable}`: no usable observation of the prior's `{observed}` (see the warnings above)")));
    }
    let statics = match config.method {
        Method::Enoi => Some(read_static(ctx, options, member_dim, &prior)?),
        _ => None,
    };
    let members = prior.ensemble.nrows();
    check_members(config.method, members, prior_path, &variables.join(", "))?;
    let geometry = Geometry { state: prior.locations(&grid), distance };
    let mut filter = Filter::new(config, Some(geometry), statics)?;

    let mut ensemble = prior.ensemble.clone();
    let (before, after) = analyse(&mut filter, &mut ensemble, &loaded.op, &loaded.obs, ctx.seed)?;
    let fields = AnalysisFields::of(prior.ensemble.view(), ensemble.view());
    let title = format!("contrada {} analysis of {}", config.method.name(), variables.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "));
    write_analysis(ctx, &analysis_file(config.method), &prior_file, &prior, &ensemble, &fields, &title)?;
    let details = json!({
        "members": members,
        "variables": variables,
        "observed": observed,
        "state_elements": prior.ensemble.ncols(),
        "observations": loaded.obs.values.len(),
        "observation_layout": loaded.layout,
        "observation_times": loaded.times,
        "observations_dropped": loaded.dropped,
        "observations_rejected_gross_error": gross_errors,
        "outlier_threshold": options.outlier_threshold(),
    });
    write_diagnostics(ctx, config.method, &fields, (before, after), started, details)
}

/// One WARN line per reason observations were dropped (missing values of a gridded field are
/// unobserved points, not losses: they go to the log's INFO level).
fn warn_dropped(path: &std::path::Path, var: &str, dropped: &Dropped) {
    let file = path.display();
    if dropped.missing > 0 {
        tracing::info!("{file}: variable `{var}`: {} missing values (unobserved points) skipped", dropped.missing);
    }
    for (count, why) in [
        (dropped.land, "on land or surrounded by land"),
        (dropped.outside_domain, "outside the prior's grid"),
        (dropped.impossible_latitude, "at latitudes beyond +-90 degrees"),
        (dropped.outside_time_window, "dated outside obs_time_tolerance of the prior's valid time"),
    ] {
        if count > 0 {
            tracing::warn!("{file}: variable `{var}`: {count} observations dropped: {why}");
        }
    }
}

/// The background check ([`outliers`]) on the prior: rejected observations are removed from
/// `loaded`, announced in a WARN line and counted (the return value).
fn screen(loaded: &mut LoadedObs, prior: &StateEnsemble, threshold: f64, path: &std::path::Path, var: &str) -> usize {
    if threshold == 0.0 {
        return 0;
    }
    let mut hx = Array2::zeros((0, 0));
    observe(&loaded.op, prior.ensemble.view(), &mut hx);
    let rejected = outliers(hx.view(), &loaded.obs, threshold);
    if rejected.is_empty() {
        return 0;
    }
    let worst = rejected.iter().map(|&k| (k, (loaded.obs.values[k] - hx.column(k).mean().unwrap_or(0.0)).abs())).max_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
    tracing::warn!(
        "{}: variable `{var}`: {} of {} observations rejected by the background check (innovation beyond {threshold} standard deviations of sqrt(var(Hx) + R); largest {:.4e} at observation {})",
        path.display(),
        rejected.len(),
        loaded.obs.values.len(),
        worst.1,
        worst.0
    );
    let mut keep = vec![true; loaded.obs.values.len()];
    rejected.iter().for_each(|&k| keep[k] = false);
    loaded.op = loaded.op.retain_rows(&keep);
    loaded.obs.retain(&keep);
    rejected.len()
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
            tracing::warn!("{}: variable `{var}` is replaced by the analysis field of the same name", file.path().display());
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
