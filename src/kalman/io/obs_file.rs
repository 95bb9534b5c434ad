//! Observations for one analysis, read from a CF NetCDF file and turned into an observation
//! operator on a prior ensemble's state. Two layouts (the full, configurable ingest is its own
//! issue; this reads what `synth` and simple user files hold):
//!
//! - **gridded**: the observed variable has the state's dimensions (plus, optionally, a leading
//!   time dimension, of which one time is used); missing values are unobserved points, and the
//!   operator selects the observed elements;
//! - **points**: the observed variable runs along one dimension, with x/longitude and
//!   y/latitude coordinate variables along it; the operator interpolates the state bilinearly to
//!   each point (land corners excluded). Points outside the grid or surrounded by land are dropped
//!   and counted.
//!
//! Observation errors come from a per-observation standard-deviation variable or one value for all.

use serde::{Deserialize, Serialize};

use super::ensemble_io::PriorEnsemble;
use crate::cf::NcFile;
use crate::error::{Error, Result};
use crate::kalman::localization::Point;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{Grid, LinearObs};

/// Where the observations are in the file (part of the stage options).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObsSpec {
    /// The observed variable.
    pub variable: String,
    /// Which time to use when the variable has a leading time dimension longer than one.
    pub time_index: Option<usize>,
    /// Observation-error standard deviation for every observation.
    pub error_std: Option<f64>,
    /// A variable of per-observation error standard deviations (same dimensions as `variable`).
    pub error_variable: Option<String>,
    /// Points layout: the x/longitude variable (found by standard_name/axis when not given).
    pub x: Option<String>,
    /// Points layout: the y/latitude variable.
    pub y: Option<String>,
}

/// Observations ready for an analysis.
pub struct LoadedObs {
    /// The operator on the prior's (wet) state.
    pub op: LinearObs,
    /// Values and error variances.
    pub obs: Observations,
    /// `"gridded"` or `"points"`.
    pub layout: &'static str,
    /// Points dropped because they lie outside the grid or on land.
    pub dropped: usize,
}

fn values(file: &NcFile, name: &str, time: Option<(usize, usize)>) -> Result<Vec<f64>> {
    let dims = file.var_dims(name)?;
    let lens: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let (start, count) = match time {
        Some((index, _)) => {
            let mut start = vec![0; dims.len()];
            start[0] = index;
            let mut count = lens.clone();
            count[0] = 1;
            (start, count)
        }
        None => (vec![0; dims.len()], lens),
    };
    Ok(file.read_slab(name, &start, &count)?.data.iter().copied().collect())
}

/// Reads the observations `spec` names from `file` for `prior` on `grid`.
pub fn load(file: &NcFile, spec: &ObsSpec, prior: &PriorEnsemble, grid: &Grid, options_key: &str) -> Result<LoadedObs> {
    let var = spec.variable.as_str();
    let dims = file.var_dims(var)?;
    let key = |k: &str| format!("{options_key}.{k}");
    let err_config = |k: &str, msg: String| Error::config("pipeline file", key(k), msg);
    // Gridded observations have the state's dimensions, either with one more leading (time)
    // dimension or with a longer first dimension where the prior has a single time.
    let lens: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let extra_leading = dims.len() == prior.state_dims.len() + 1 && dims[1..] == prior.state_dims[..];
    let longer_first = dims == prior.state_dims && prior.state_shape[0] == 1 && lens[0] > 1;
    let time = if extra_leading || longer_first {
        let n = lens[0];
        let index = match spec.time_index {
            Some(i) if i < n => i,
            Some(i) => return Err(err_config("obs_time_index", format!("{i} is out of range; `{var}` has {n} times (0 to {})", n - 1))),
            None if n == 1 => 0,
            None => return Err(err_config("obs_time_index", format!("`{var}` has {n} times along `{}`; set which one to assimilate", dims[0]))),
        };
        Some((index, n))
    } else {
        None
    };
    let gridded = time.is_some() || dims == prior.state_dims;
    let y = values(file, var, time)?;
    let errors: Vec<f64> = match (&spec.error_variable, spec.error_std) {
        (Some(name), _) => {
            if file.var_dims(name)? != dims {
                return Err(file.var_error(name, format!("expected the dimensions of `{var}` ({})", dims.join(", "))));
            }
            values(file, name, time)?
        }
        (None, Some(std)) if std.is_finite() && std > 0.0 => vec![std; y.len()],
        (None, Some(std)) => return Err(err_config("obs_error_std", format!("{std} must be finite and > 0"))),
        (None, None) => return Err(err_config("obs_error_std", "set the observation-error standard deviation (or obs_error_variable)".into())),
    };
    let usable = |k: usize| y[k].is_finite() && errors[k].is_finite() && errors[k] > 0.0;

    if gridded {
        if y.len() != prior.state_len() {
            return Err(
                file.var_error(var, format!("has {} values per time; the prior's `{}` has {} state elements", y.len(), prior.variable, prior.state_len()))
            );
        }
        let positions = prior.positions();
        let locations = prior.locations(grid);
        let (mut indices, mut obs) = (Vec::new(), Observations::default());
        for k in (0..y.len()).filter(|&k| usable(k)) {
            // An observation over land has no state to observe.
            if let Some(p) = positions[k] {
                indices.push(p);
                obs.values.push(y[k]);
                obs.variance.push(errors[k] * errors[k]);
            }
        }
        let op = LinearObs::selection(&locations, &indices).map_err(|e| Error::input(file.path(), e))?;
        let dropped = y.len() - indices.len();
        return Ok(LoadedObs { op, obs, layout: "gridded", dropped });
    }

    if dims.len() != 1 {
        return Err(file.var_error(
            var,
            format!(
                "has dimensions ({}); expected the state's ({}), optionally after a time dimension, or one dimension of points",
                dims.join(", "),
                prior.state_dims.join(", ")
            ),
        ));
    }
    if prior.state_len() != grid.len() {
        return Err(file.var_error(var, "point observations need a state with a single level (one horizontal field)"));
    }
    let find = |given: &Option<String>, rules: &[(&str, &str)], what: &str| -> Result<String> {
        match given {
            Some(name) => Ok(name.clone()),
            None => rules.iter().find_map(|(a, v)| file.find_var_by_attr(a, v).filter(|n| file.var_dims(n).is_ok_and(|d| d == dims))).ok_or_else(|| {
                err_config(
                    if what == "x" { "obs_x" } else { "obs_y" },
                    format!("no {what} coordinate along `{}` found in the observation file; name it", dims[0]),
                )
            }),
        }
    };
    let x_name = find(&spec.x, &[("standard_name", "longitude"), ("standard_name", "projection_x_coordinate"), ("axis", "X")], "x")?;
    let y_name = find(&spec.y, &[("standard_name", "latitude"), ("standard_name", "projection_y_coordinate"), ("axis", "Y")], "y")?;
    let (px, py) = (values(file, &x_name, None)?, values(file, &y_name, None)?);
    if px.len() != y.len() || py.len() != y.len() {
        return Err(file.var_error(&x_name, format!("expected {} values, one per observation", y.len())));
    }
    let (mut points, mut obs) = (Vec::<Point>::new(), Observations::default());
    for k in (0..y.len()).filter(|&k| usable(k)) {
        let p = [px[k], py[k]];
        if grid.can_observe(p) {
            points.push(p);
            obs.values.push(y[k]);
            obs.variance.push(errors[k] * errors[k]);
        }
    }
    let dropped = y.len() - points.len();
    let op = LinearObs::bilinear(grid, &points).and_then(|op| op.on_subset(&prior.positions(), prior.wet.len())).map_err(|e| Error::input(file.path(), e))?;
    Ok(LoadedObs { op, obs, layout: "points", dropped })
}
