//! Observations for one analysis, read from a CF NetCDF file and turned into an observation
//! operator on a (multivariate) prior ensemble's state, with the sanity checks an operational
//! system makes before it lets an observation near the state. Layouts:
//!
//! - **gridded**: the observed variable has the observed state variable's dimensions, or only its
//!   two horizontal ones (a surface field or a satellite swath, of the level `obs_level`);
//!   either may follow a time dimension. Missing values are unobserved points; the operator
//!   selects the observed elements;
//! - **points**: the observed variable runs along one dimension of points, with x/longitude and
//!   y/latitude coordinate variables along it; the operator interpolates the level `obs_level`
//!   bilinearly to each point (land corners excluded). A time coordinate along the same dimension
//!   (a CF DSG `point` file) dates each observation;
//! - **stations**: CF DSG `timeSeries` in either orthogonal layout, `(time, station)` or
//!   `(station, time)`, with x/y coordinates along the station dimension: the points layout at
//!   the selected times.
//!
//! **Time.** When the prior has a valid time (a scalar or length-one time coordinate) and the
//! observations have times, only observations within `obs_time_tolerance` of the valid time are
//! used (all of them, as observations at the analysis time); none there is an error naming the
//! nearest time, and so is an explicit `obs_time_index` outside the window: an observation a year
//! away from its prior is a mistake, not data.
//!
//! **Checks.** The observed variable's `units` must equal the state variable's (an error naming
//! both); points outside the grid, surrounded by land, or at impossible latitudes are dropped and
//! counted by reason (the stage prints one WARN line per reason). Observation errors come from a
//! per-observation standard-deviation variable or one value for all.

use serde::{Deserialize, Serialize};

use super::ensemble_io::StateEnsemble;
use crate::cf::NcFile;
use crate::cf::time::TimeUnits;
use crate::error::{Error, Result};
use crate::kalman::localization::Point;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{Grid, GridKind, LinearObs, Unobservable};

/// Where the observations are in the file and which part of the state they observe (part of the
/// stage options).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObsSpec {
    /// The observed variable.
    pub variable: String,
    /// Which time to use when the variable has a time dimension.
    pub time_index: Option<usize>,
    /// Observation-error standard deviation for every observation.
    pub error_std: Option<f64>,
    /// A variable of per-observation error standard deviations (same dimensions as `variable`).
    pub error_variable: Option<String>,
    /// Points layout: the x/longitude variable (found by standard_name/axis when not given).
    pub x: Option<String>,
    /// Points layout: the y/latitude variable.
    pub y: Option<String>,
    /// Which horizontal field (level index) of the observed state variable horizontal and point
    /// observations see; needed when the variable has more than one.
    pub level: Option<usize>,
    /// Largest distance in time between an observation and the prior's valid time, seconds.
    pub time_tolerance_s: f64,
    /// A variable of the observation file, with the observed variable's dimensions (or those
    /// without time), that is 0 or missing where nothing is observed: a swath's mask.
    pub mask: Option<String>,
}

/// The prior's valid time, in its own units.
#[derive(Debug, Clone)]
pub struct ValidTime {
    /// The prior's time units.
    pub units: TimeUnits,
    /// The valid time in those units.
    pub value: f64,
}

impl ValidTime {
    /// The valid time of `file`: its `time` coordinate (or the variable with `standard_name =
    /// "time"`) when it holds one value; `None` when there is none, several, or no CF units.
    pub fn of(file: &NcFile) -> Option<ValidTime> {
        let name = Some("time".to_string()).filter(|n| file.has_var(n)).or_else(|| file.find_var_by_attr("standard_name", "time"))?;
        // A time without CF units cannot be compared with anything: no window check then.
        let (units, values) = file.read_time_values(&name).ok()?;
        match values.as_slice() {
            [v] if v.is_finite() => Some(ValidTime { units, value: *v }),
            _ => None,
        }
    }

    /// Seconds from the valid time to `value` in `units` (None when not comparable).
    pub fn seconds_to(&self, units: &TimeUnits, value: f64) -> Option<f64> {
        units.recode(value, &self.units).map(|v| (v - self.value) * self.units.unit_seconds)
    }

    /// The valid time as a date and time.
    pub fn describe(&self) -> String {
        self.units.try_decode(self.value).map_or_else(|| format!("{}", self.value), |t| t.to_string())
    }
}

/// What the observations are read against: the state, which of its variables they observe, on
/// which grid, and when the prior is valid.
pub struct Target<'a> {
    /// The prior ensemble.
    pub state: &'a StateEnsemble,
    /// Index of the observed block (variable) in `state`.
    pub block: usize,
    /// The horizontal grid with the water mask of the observed level.
    pub grid: &'a Grid,
    /// The prior's valid time, when known.
    pub valid_time: Option<ValidTime>,
    /// The observed state variable's units, when it has them.
    pub units: Option<String>,
}

/// Observations dropped before the analysis, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dropped {
    /// Missing values or missing/non-positive errors (unobserved points of a gridded field).
    pub missing: usize,
    /// Over land, or with only land around them.
    pub land: usize,
    /// Outside a bounded grid.
    pub outside_domain: usize,
    /// Latitudes beyond +-90 degrees.
    pub impossible_latitude: usize,
    /// Point observations dated outside the time window.
    pub outside_time_window: usize,
}

impl Dropped {
    /// Counts one observation at a position the grid cannot interpolate to.
    pub fn count(&mut self, why: Unobservable) {
        match why {
            Unobservable::Land => self.land += 1,
            Unobservable::Outside(_) => self.outside_domain += 1,
            Unobservable::NotFinite(_) => self.missing += 1,
        }
    }
}

/// Observations ready for an analysis.
pub struct LoadedObs {
    /// The operator on the prior's (wet, joint) state.
    pub op: LinearObs,
    /// Values and error variances.
    pub obs: Observations,
    /// `"gridded"`, `"points"` or `"stations"`.
    pub layout: &'static str,
    /// What was dropped, by reason.
    pub dropped: Dropped,
    /// The observation times used (decoded), when the file has them.
    pub times: Vec<String>,
}

/// A time dimension of the observed variable: its axis, length, and decoded coordinate.
struct TimeDim {
    axis: usize,
    len: usize,
    coordinate: Option<(TimeUnits, Vec<f64>)>,
}

/// Reads `name` with axis `fixed.0` held at index `fixed.1` (or whole), flattened.
fn read_at(file: &NcFile, name: &str, fixed: Option<(usize, usize)>) -> Result<Vec<f64>> {
    let dims = file.var_dims(name)?;
    let mut count: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let mut start = vec![0; dims.len()];
    if let Some((axis, index)) = fixed {
        start[axis] = index;
        count[axis] = 1;
    }
    Ok(file.read_slab(name, &start, &count)?.data.iter().copied().collect())
}

/// The time coordinate of dimension `dim`, when `file` has one with CF time units.
fn time_coordinate(file: &NcFile, dim: &str) -> Option<(TimeUnits, Vec<f64>)> {
    if !file.has_var(dim) || file.var_dims(dim).ok()? != [dim.to_string()] || !file.attr_str(Some(dim), "units")?.contains(" since ") {
        return None;
    }
    file.read_time_values(dim).ok()
}

/// Units compared as written, apart from blanks and `^` (`m^2 s^-1` is `m2 s-1`).
pub(super) fn same_units(a: &str, b: &str) -> bool {
    let canonical = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '^').collect::<String>().to_lowercase();
    canonical(a) == canonical(b)
}

/// Reads the observations `spec` names from `file` for `target`. Configuration errors name keys
/// under `options_key`.
pub fn load(file: &NcFile, spec: &ObsSpec, target: &Target, options_key: &str) -> Result<LoadedObs> {
    if super::dataset_obs::is_dataset(file) {
        return super::dataset_obs::load(file, spec, target, options_key);
    }
    let var = spec.variable.as_str();
    let block = &target.state.blocks[target.block];
    let err_config = |k: &str, msg: String| Error::config("pipeline file", format!("{options_key}.{k}"), msg);
    if let (Some(theirs), Some(ours)) = (file.attr_str(Some(var), "units"), &target.units)
        && !same_units(&theirs, ours)
    {
        return Err(file.var_error(var, format!("has units `{theirs}`; the state variable `{}` has `{ours}`: convert one of them", block.variable)));
    }
    let dims = file.var_dims(var)?;
    let lens: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let n_state_dims = block.state_dims.len();
    let horizontal = &block.state_dims[n_state_dims - n_state_dims.min(2)..];
    // The state's dimensions without a time of length one, which an observation file may carry
    // with several times.
    let squeezed: Vec<&String> = block.state_dims.iter().zip(&block.state_shape).filter(|(d, n)| !(**n == 1 && dims.first() == Some(*d))).map(|(d, _)| d).collect();
    let time = dims
        .iter()
        .enumerate()
        .find_map(|(axis, d)| time_coordinate(file, d).map(|c| TimeDim { axis, len: lens[axis], coordinate: Some(c) }))
        .or_else(|| {
            // Without a time coordinate: a leading dimension the state does not have (or has with
            // length one) in front of the state's or the horizontal dimensions.
            let rest: Vec<&String> = dims.iter().skip(1).collect();
            let leading = dims.len() > 1 && (rest == squeezed || rest.iter().map(|s| s.as_str()).eq(horizontal.iter().map(String::as_str)));
            leading.then(|| TimeDim { axis: 0, len: lens[0], coordinate: None })
        });
    let time_axis = time.as_ref().map(|t| t.axis);
    let other: Vec<&String> = dims.iter().enumerate().filter(|(a, _)| Some(*a) != time_axis).map(|(_, d)| d).collect();
    let full = other == squeezed || other.iter().copied().eq(block.state_dims.iter());
    let surface = !full && other.iter().map(|s| s.as_str()).eq(horizontal.iter().map(String::as_str));
    let points = !full && !surface && other.len() == 1;
    if !(full || surface || points) {
        return Err(file.var_error(
            var,
            format!(
                "has dimensions ({}); expected the dimensions of `{}` ({}) or its horizontal ones, optionally with a time dimension, or points (one dimension, or time and station)",
                dims.join(", "),
                block.variable,
                block.state_dims.join(", ")
            ),
        ));
    }
    let level = if full { 0 } else { observed_level(spec, target, &err_config)? };
    let selected = select_times(file, spec, &time, target.valid_time.as_ref(), var, &err_config)?;
    let times: Vec<String> = match &time {
        Some(TimeDim { coordinate: Some((units, values)), .. }) => {
            selected.iter().map(|&t| units.try_decode(values[t]).map_or_else(|| values[t].to_string(), |d| d.to_string())).collect()
        }
        _ => Vec::new(),
    };

    let errors_for = |fixed: Option<(usize, usize)>, n: usize| -> Result<Vec<f64>> {
        match (&spec.error_variable, spec.error_std) {
            (Some(name), _) => {
                if file.var_dims(name)? != dims {
                    return Err(file.var_error(name, format!("expected the dimensions of `{var}` ({})", dims.join(", "))));
                }
                read_at(file, name, fixed)
            }
            (None, Some(std)) if std.is_finite() && std > 0.0 => Ok(vec![std; n]),
            (None, Some(std)) => Err(err_config("obs_error_std", format!("{std} must be finite and > 0"))),
            (None, None) => Err(err_config("obs_error_std", "set the observation-error standard deviation (or obs_error_variable)".into())),
        }
    };
    let fixed_at = |t: Option<usize>| time.as_ref().zip(t).map(|(td, t)| (td.axis, t));
    // The mask at the same time as the values, or a static one without the time dimension.
    let mask_for = |fixed: Option<(usize, usize)>| -> Result<Option<Vec<f64>>> {
        let Some(name) = &spec.mask else { return Ok(None) };
        let mask_dims = file.var_dims(name)?;
        if mask_dims == dims {
            Ok(Some(read_at(file, name, fixed)?))
        } else if mask_dims.iter().eq(other.iter().copied()) {
            Ok(Some(read_at(file, name, None)?))
        } else {
            Err(file.var_error(name, format!("has dimensions ({}); expected those of `{var}` ({}), with or without its time", mask_dims.join(", "), dims.join(", "))))
        }
    };
    let masked = |mask: &Option<Vec<f64>>, k: usize| mask.as_ref().is_some_and(|m| !(m[k].is_finite() && m[k] != 0.0));
    let slices: Vec<Option<usize>> = if time.is_some() { selected.iter().map(|&t| Some(t)).collect() } else { vec![None] };
    if full || surface {
        // The state column of each value of a time slice (None on land).
        let columns: Vec<Option<usize>> = if full {
            let offset = target.state.offsets[target.block];
            block.positions().into_iter().map(|p| p.map(|p| offset + p)).collect()
        } else {
            target.state.level_columns(target.block, level)
        };
        let (mut indices, mut obs, mut dropped) = (Vec::new(), Observations::default(), Dropped::default());
        for t in slices {
            let y = read_at(file, var, fixed_at(t))?;
            if y.len() != columns.len() {
                return Err(file.var_error(var, format!("has {} values per time; expected {} for `{}`", y.len(), columns.len(), block.variable)));
            }
            let errors = errors_for(fixed_at(t), y.len())?;
            let mask = mask_for(fixed_at(t))?;
            for k in 0..y.len() {
                if !(y[k].is_finite() && errors[k].is_finite() && errors[k] > 0.0) || masked(&mask, k) {
                    dropped.missing += 1;
                    continue;
                }
                match columns[k] {
                    Some(j) => {
                        indices.push(j);
                        obs.values.push(y[k]);
                        obs.variance.push(errors[k] * errors[k]);
                    }
                    None => dropped.land += 1,
                }
            }
        }
        let locations = target.state.locations(target.grid);
        let op = LinearObs::selection(&locations, &indices).map_err(|e| Error::input(file.path(), e))?;
        return Ok(LoadedObs { op, obs, layout: "gridded", dropped, times });
    }

    let points_dim = other[0].as_str();
    let find = |given: &Option<String>, rules: &[(&str, &str)], key: &str, what: &str| -> Result<String> {
        match given {
            Some(name) => Ok(name.clone()),
            None => rules.iter().find_map(|(a, v)| file.find_var_by_attr(a, v).filter(|n| file.var_dims(n).is_ok_and(|d| d == [points_dim]))).ok_or_else(|| {
                err_config(key, format!("no {what} coordinate along `{points_dim}` found in the observation file; name it"))
            }),
        }
    };
    let x_name = find(&spec.x, &[("standard_name", "longitude"), ("standard_name", "projection_x_coordinate"), ("axis", "X")], "obs_x", "x")?;
    let y_name = find(&spec.y, &[("standard_name", "latitude"), ("standard_name", "projection_y_coordinate"), ("axis", "Y")], "obs_y", "y")?;
    let (px, py) = (read_at(file, &x_name, None)?, read_at(file, &y_name, None)?);
    let n_points = lens[dims.iter().position(|d| d == points_dim).expect("one of the dimensions")];
    if px.len() != n_points || py.len() != n_points {
        return Err(file.var_error(&x_name, format!("expected {n_points} values, one per point along `{points_dim}`")));
    }
    // A DSG point file dates each observation: a time variable along the points.
    let point_times = if time.is_none() {
        file.var_names()
            .into_iter()
            .find(|n| file.var_dims(n).is_ok_and(|d| d == [points_dim]) && file.attr_str(Some(n), "units").is_some_and(|u| u.contains(" since ")))
            .map(|n| file.read_time_values(&n))
            .transpose()?
    } else {
        None
    };
    let in_window = |k: usize| match (&point_times, &target.valid_time) {
        (Some((units, values)), Some(valid)) => valid.seconds_to(units, values[k]).is_some_and(|s| s.abs() <= spec.time_tolerance_s),
        _ => true,
    };
    let mut points = PointObs::default();
    for t in slices {
        let y = read_at(file, var, fixed_at(t))?;
        let errors = errors_for(fixed_at(t), y.len())?;
        let mask = mask_for(fixed_at(t))?;
        for k in 0..y.len() {
            let value = if masked(&mask, k) { f64::NAN } else { y[k] };
            points.push(target, [px[k], py[k]], value, errors[k], in_window(k));
        }
    }
    let op = points.operator(target, level).map_err(|e| Error::input(file.path(), e))?;
    let layout = if time.is_some() { "stations" } else { "points" };
    Ok(LoadedObs { op, obs: points.obs, layout, dropped: points.dropped, times })
}

/// The level (horizontal field) of the observed variable that horizontal and point observations
/// see: `obs_level`, which must be given when the variable has more than one.
pub(super) fn observed_level(spec: &ObsSpec, target: &Target, err_config: &dyn Fn(&str, String) -> Error) -> Result<usize> {
    target.state.blocks[target.block].level(spec.level).map_err(|why| err_config("obs_level", why))
}

/// Point observations being collected: the usable ones and the drops by reason.
#[derive(Default)]
pub(super) struct PointObs {
    /// Positions of the kept observations.
    pub points: Vec<Point>,
    /// Their values and error variances.
    pub obs: Observations,
    /// What was left out.
    pub dropped: Dropped,
}

impl PointObs {
    /// Adds the observation `value` with error `error` at `p` if it is usable on `target`'s grid
    /// (and `in_window`), or counts why not.
    pub fn push(&mut self, target: &Target, p: Point, value: f64, error: f64, in_window: bool) {
        let usable = value.is_finite() && error.is_finite() && error > 0.0 && p[0].is_finite() && p[1].is_finite();
        if !usable {
            self.dropped.missing += 1;
        } else if !in_window {
            self.dropped.outside_time_window += 1;
        } else if target.grid.kind == GridKind::LatLon && p[1].abs() > 90.0 {
            self.dropped.impossible_latitude += 1;
        } else if let Err(why) = target.grid.interpolation_weights(p) {
            self.dropped.count(why);
        } else {
            self.points.push(p);
            self.obs.values.push(value);
            self.obs.variance.push(error * error);
        }
    }

    /// The bilinear operator from horizontal field `level` of the observed variable to the points.
    pub fn operator(&self, target: &Target, level: usize) -> std::result::Result<LinearObs, String> {
        // Columns of the bilinear operator are points of the level's plane; map them into the state.
        let columns = target.state.level_columns(target.block, level);
        LinearObs::bilinear(target.grid, &self.points).and_then(|op| op.on_subset(&columns, target.state.ensemble.ncols()))
    }
}

/// The time indices to assimilate: `obs_time_index` if given (checked against the window), else
/// every time within the tolerance of the prior's valid time, else the only one.
fn select_times(
    file: &NcFile,
    spec: &ObsSpec,
    time: &Option<TimeDim>,
    valid: Option<&ValidTime>,
    var: &str,
    err_config: &dyn Fn(&str, String) -> Error,
) -> Result<Vec<usize>> {
    let Some(td) = time else {
        if let Some(i) = spec.time_index {
            return Err(err_config("obs_time_index", format!("{i} given, but `{var}` has no time dimension")));
        }
        return Ok(Vec::new());
    };
    let n = td.len;
    let hours = |s: f64| s / 3600.0;
    let offsets: Option<Vec<Option<f64>>> = match (&td.coordinate, valid) {
        (Some((units, values)), Some(valid)) => Some(values.iter().map(|&v| valid.seconds_to(units, v)).collect()),
        _ => None,
    };
    let describe = |t: usize| match &td.coordinate {
        Some((units, values)) => units.try_decode(values[t]).map_or_else(|| values[t].to_string(), |d| d.to_string()),
        None => format!("index {t}"),
    };
    if let Some(i) = spec.time_index {
        if i >= n {
            return Err(err_config("obs_time_index", format!("{i} is out of range; `{var}` has {n} times (0 to {})", n - 1)));
        }
        if let (Some(offsets), Some(valid)) = (&offsets, valid) {
            match offsets[i] {
                Some(s) if s.abs() <= spec.time_tolerance_s => {}
                _ => {
                    return Err(err_config(
                        "obs_time_index",
                        format!(
                            "selects {} of `{var}` in {}, {} hours from the prior's valid time {}; obs_time_tolerance allows {} hours",
                            describe(i),
                            file.path().display(),
                            offsets[i].map_or_else(|| "an undecodable number of".to_string(), |s| format!("{:.1}", hours(s))),
                            valid.describe(),
                            hours(spec.time_tolerance_s)
                        ),
                    ));
                }
            }
        }
        return Ok(vec![i]);
    }
    if let (Some(offsets), Some(valid)) = (&offsets, valid) {
        let chosen: Vec<usize> = (0..n).filter(|&t| offsets[t].is_some_and(|s| s.abs() <= spec.time_tolerance_s)).collect();
        if chosen.is_empty() {
            let nearest = (0..n).filter(|&t| offsets[t].is_some()).min_by(|&a, &b| offsets[a].unwrap().abs().total_cmp(&offsets[b].unwrap().abs()));
            return Err(Error::input(
                file.path(),
                format!(
                    "variable `{var}`: no observation time within {} hours of the prior's valid time {} (nearest: {}); widen obs_time_tolerance or pair the files of the same day",
                    hours(spec.time_tolerance_s),
                    valid.describe(),
                    nearest.map_or_else(|| "none decodable".to_string(), |t| describe(t))
                ),
            ));
        }
        return Ok(chosen);
    }
    if n == 1 {
        return Ok(vec![0]);
    }
    let dim = file.var_dims(var)?.swap_remove(td.axis);
    Err(err_config("obs_time_index", format!("`{var}` has {n} times along `{dim}` and the prior no single valid time to match them with; set which one to assimilate")))
}
