//! Observations from an ingest `dataset.nc`: the quality-controlled observation vectors the
//! learned methods are given, so that a baseline and a learned analysis of the same window see the
//! same data. The file is read through its documented contract (the layout table of
//! `crate::ingest::dataset`: `obs`, `obs_mask`, `obs_source`, `obs_variable`, `obs_x`, `obs_y`,
//! `obs_time_offset`, `obs_error_std`, `time`), not through ingest's code: the baselines import no
//! stage room.
//!
//! Which observations: `obs_variable` names a `source.variable` of the data set (`stations.psi`),
//! a source (`stations`: all its variables) or `all`; of the sample whose time is the prior's
//! valid time (within `obs_time_tolerance`; `obs_time_index` picks a sample by index). Each
//! observation's own `obs_time_offset` must be within the tolerance too, and its error is the data
//! set's `obs_error_std`, or `obs_error_std` of the options where the data set has none. Positions
//! are interpolated bilinearly on `obs_level` of the observed variable, as point observations of a
//! file are. Trajectory sources have no fixed positions in the data set (their values are the
//! positions): assimilate drifters from their CF DSG file with `obs_operator = "drifters"`.

use super::obs_file::{Dropped, LoadedObs, ObsSpec, PointObs, Target, observed_level, same_units};
use crate::cf::NcFile;
use crate::error::{Error, Result};

/// Whether `file` is an ingest data set with observations.
pub fn is_dataset(file: &NcFile) -> bool {
    ["obs", "obs_mask", "obs_source", "obs_variable", "obs_x", "obs_y", "obs_time_offset"].iter().all(|v| file.has_var(v))
}

fn flag_names(file: &NcFile, var: &str) -> Vec<String> {
    file.attr_str(Some(var), "flag_meanings").unwrap_or_default().split_whitespace().map(String::from).collect()
}

/// Reads the observations `spec` selects from the data set `file` for `target`.
pub fn load(file: &NcFile, spec: &ObsSpec, target: &Target, options_key: &str) -> Result<LoadedObs> {
    let err_config = |k: &str, msg: String| Error::config("pipeline file", format!("{options_key}.{k}"), msg);
    let (variables, sources) = (flag_names(file, "obs_variable"), flag_names(file, "obs_source"));
    let var_of: Vec<usize> = file.read_values("obs_variable")?.iter().map(|&v| v as usize).collect();
    let source_of: Vec<usize> = file.read_values("obs_source")?.iter().map(|&v| v as usize).collect();
    let wanted = |k: usize| {
        let name = variables.get(var_of[k]).map(String::as_str).unwrap_or_default();
        let source = sources.get(source_of[k]).map(String::as_str).unwrap_or_default();
        spec.variable == "all" || spec.variable == name || spec.variable == source
    };
    let selected: Vec<usize> = (0..var_of.len()).filter(|&k| wanted(k)).collect();
    if selected.is_empty() {
        return Err(err_config(
            "obs_variable",
            format!("`{}` is not an observed variable or source of {} (it has {}; or \"all\")", spec.variable, file.path().display(), variables.join(", ")),
        ));
    }
    let level = observed_level(spec, target, &err_config)?;
    let block = &target.state.blocks[target.block];
    for v in selected.iter().map(|&k| var_of[k]).collect::<std::collections::BTreeSet<_>>() {
        let units = file.attr_str(Some("obs_variable"), &format!("var{v}_units")).unwrap_or_default();
        if let Some(ours) = &target.units
            && !units.is_empty()
            && !same_units(&units, ours)
        {
            return Err(file.var_error("obs_variable", format!("`{}` has units `{units}`; the state variable `{}` has `{ours}`", variables[v], block.variable)));
        }
    }

    // The sample at the prior's valid time.
    let (units, times) = file.read_time_values("time")?;
    let describe = |s: usize| units.try_decode(times[s]).map_or_else(|| times[s].to_string(), |d| d.to_string());
    let offset = |s: usize| target.valid_time.as_ref().and_then(|v| v.seconds_to(&units, times[s]));
    let sample = match (spec.time_index, &target.valid_time) {
        (Some(i), _) if i >= times.len() => return Err(err_config("obs_time_index", format!("{i} is out of range; the data set has {} samples", times.len()))),
        (Some(i), None) => i,
        (Some(i), Some(v)) => match offset(i) {
            Some(s) if s.abs() <= spec.time_tolerance_s => i,
            _ => return Err(err_config("obs_time_index", format!("selects sample {i} at {}, outside obs_time_tolerance of the prior's valid time {}", describe(i), v.describe()))),
        },
        (None, Some(v)) => (0..times.len())
            .filter(|&s| offset(s).is_some_and(|o| o.abs() <= spec.time_tolerance_s))
            .min_by(|&a, &b| offset(a).unwrap().abs().total_cmp(&offset(b).unwrap().abs()))
            .ok_or_else(|| Error::input(file.path(), format!("no sample within {} hours of the prior's valid time {}", spec.time_tolerance_s / 3600.0, v.describe())))?,
        (None, None) if times.len() == 1 => 0,
        (None, None) => return Err(err_config("obs_time_index", format!("the data set has {} samples and the prior no single valid time; set which sample", times.len()))),
    };
    let n_obs = var_of.len();
    let row = |name: &str| -> Result<Vec<f64>> { Ok(file.read_slab(name, &[sample, 0], &[1, n_obs])?.data.iter().copied().collect()) };
    let (values, mask) = (row("obs")?, row("obs_mask")?);
    let (x, y, time_offset) = (file.read_values("obs_x")?, file.read_values("obs_y")?, file.read_values("obs_time_offset")?);
    let errors = if file.has_var("obs_error_std") { file.read_values("obs_error_std")? } else { vec![f64::NAN; n_obs] };
    let mut points = PointObs::default();
    let mut masked = 0;
    for &k in &selected {
        if !(x[k].is_finite() && y[k].is_finite()) {
            let name = &variables[var_of[k]];
            return Err(err_config(
                "obs_variable",
                format!("`{name}` has no fixed positions in the data set (a trajectory source); assimilate drifters from their CF DSG file with obs_operator = \"drifters\""),
            ));
        }
        if mask[k] != 1.0 {
            masked += 1;
            continue;
        }
        let error = if errors[k].is_finite() && errors[k] > 0.0 {
            errors[k]
        } else {
            spec.error_std.ok_or_else(|| err_config("obs_error_std", format!("the data set gives no error for `{}`; set the observation-error standard deviation", variables[var_of[k]])))?
        };
        points.push(target, [x[k], y[k]], values[k], error, time_offset[k].abs() <= spec.time_tolerance_s);
    }
    let op = points.operator(target, level).map_err(|e| Error::input(file.path(), e))?;
    let dropped = Dropped { missing: points.dropped.missing + masked, ..points.dropped };
    Ok(LoadedObs { op, obs: points.obs, layout: "dataset", dropped, times: vec![describe(sample)] })
}
