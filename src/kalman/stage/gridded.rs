//! The `baseline` stage with gridded or point observations (`obs_operator = "auto"`): a prior
//! ensemble read from CF NetCDF (see [`crate::kalman::io::ensemble_io`]), observations of it (see
//! [`crate::kalman::io::obs_file`]), and the analysis written in the prior's layout with the
//! fields `<var>_mean`, `<var>_spread` and `<var>_increment` on the state grid.

use ndarray::Array2;
use serde_json::json;

use super::options::BaselineOptions;
use super::output::{AnalysisFields, analyse, analysis_file, check_members, staged, write_diagnostics};
use crate::analysis::layout::{borrowed, copied_attributes, copy_globals, copy_variable, statistic_attrs};
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::kalman::io::ensemble_io::PriorEnsemble;
use crate::kalman::io::obs_file::{self, ObsSpec};
use crate::kalman::{BaselineConfig, Filter, Geometry, Method};
use crate::pipeline::stage::StageContext;

/// The analysis of a gridded prior with gridded or point observations.
pub(super) fn run(ctx: &StageContext, options: &BaselineOptions, config: &BaselineConfig, options_key: &str) -> Result<serde_json::Value> {
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

/// The EnOI static ensemble, in the prior's layout.
fn read_static(ctx: &StageContext, variable: &str, member_dim: &str, prior: &PriorEnsemble) -> Result<Array2<f64>> {
    let path = ctx.input("static")?;
    let file = NcFile::open(path)?;
    let statics = PriorEnsemble::read(&file, variable, member_dim)?;
    if statics.state_shape != prior.state_shape || statics.wet != prior.wet {
        return Err(Error::input(
            path,
            format!(
                "variable `{variable}`: static ensemble state ({:?}, {} wet points) differs from the prior's ({:?}, {} wet points)",
                statics.state_shape,
                statics.wet.len(),
                prior.state_shape,
                prior.wet.len()
            ),
        ));
    }
    Ok(statics.ensemble)
}

/// The analysis file: the prior file with the analysed variable replaced by the analysis
/// ensemble, plus the analysis fields `<variable>_<statistic>` on the state dimensions.
fn write_analysis(
    ctx: &StageContext,
    name: &str,
    file: &NcFile,
    prior: &PriorEnsemble,
    ensemble: &Array2<f64>,
    fields: &[(&str, &[f64])],
    title: &str,
) -> Result<()> {
    let mut w = NcWriter::create(&staged(ctx, name), &ctx.section("io")?, title)?;
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
