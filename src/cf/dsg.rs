//! Drifter trajectories in CF discrete sampling geometry (`featureType = "trajectory"`).
//!
//! Reads both layouts drifter archives publish: the contiguous ragged array (a `rowSize`-style
//! variable whose `sample_dimension` attribute names the observation dimension) and the
//! multidimensional `(trajectory, obs)` array padded with fill values, plus the single-trajectory
//! case. Writes the contiguous ragged layout.

use super::read::NcFile;
use super::time::TimeUnits;
use super::write::{Attr, NcWriter, Precision};
use crate::error::{Error, Result};

/// One drifter's track; `time` is in the file's time units.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// The `cf_role = "trajectory_id"` value, or the trajectory's index.
    pub id: String,
    /// Times, in [`TrajectorySet::time_units`].
    pub time: Vec<f64>,
    /// x or longitude of each point.
    pub x: Vec<f64>,
    /// y or latitude of each point.
    pub y: Vec<f64>,
}

/// Which of the CF DSG layouts a file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Contiguous ragged array with a row-size variable.
    ContiguousRagged,
    /// `(trajectory, obs)` arrays padded with fill values.
    Multidimensional,
    /// One trajectory along a single dimension.
    Single,
}

/// All trajectories of a file.
#[derive(Debug, Clone)]
pub struct TrajectorySet {
    /// Units and calendar of [`Trajectory::time`].
    pub time_units: TimeUnits,
    /// The tracks.
    pub trajectories: Vec<Trajectory>,
    /// Layout found in the file.
    pub layout: Layout,
    /// Names of the time, x and y variables used.
    pub names: [String; 3],
}

/// Names of the coordinate variables; `None` finds them by `standard_name`/`axis`/`units`.
#[derive(Debug, Clone, Default)]
pub struct DsgNames {
    /// Time variable.
    pub time: Option<String>,
    /// x / longitude variable.
    pub x: Option<String>,
    /// y / latitude variable.
    pub y: Option<String>,
}

/// Reads every trajectory of a CF DSG trajectory file.
pub fn read_trajectories(file: &NcFile, names: &DsgNames) -> Result<TrajectorySet> {
    let feature = file.attr_str(None, "featureType").unwrap_or_default();
    if !feature.eq_ignore_ascii_case("trajectory") {
        return Err(Error::input(
            file.path(),
            format!("global attribute featureType is \"{feature}\"; expected \"trajectory\" (CF discrete sampling geometry)"),
        ));
    }
    let time = find(file, &names.time, &[("standard_name", "time"), ("axis", "T")], "time")?;
    let x = find(file, &names.x, &[("standard_name", "longitude"), ("standard_name", "projection_x_coordinate"), ("axis", "X")], "x/longitude")?;
    let y = find(file, &names.y, &[("standard_name", "latitude"), ("standard_name", "projection_y_coordinate"), ("axis", "Y")], "y/latitude")?;
    let time_units = file.time_units(&time)?;
    let time_dims = file.var_dims(&time)?;
    for v in [&x, &y] {
        let d = file.var_dims(v)?;
        if d != time_dims {
            return Err(file.var_error(v, format!("dimensions ({}) differ from those of `{time}` ({})", d.join(", "), time_dims.join(", "))));
        }
    }
    let read = |v: &str| -> Result<Vec<f64>> { Ok(file.read(v)?.data.into_raw_vec_and_offset().0) };
    let (tv, xv, yv) = (read(&time)?, read(&x)?, read(&y)?);
    let row_size = file.var_names().into_iter().find(|v| file.attr_str(Some(v), "sample_dimension").is_some());

    let (layout, rows): (Layout, Vec<(usize, usize)>) = match (time_dims.len(), row_size) {
        (1, Some(rs)) => {
            let sample_dim = file.attr_str(Some(&rs), "sample_dimension").unwrap_or_default();
            if time_dims[0] != sample_dim {
                return Err(file.var_error(&time, format!("dimension `{}` is not the sample_dimension `{sample_dim}` named by `{rs}`", time_dims[0])));
            }
            let sizes = read(&rs)?;
            let total: f64 = sizes.iter().sum();
            if sizes.iter().any(|s| s.is_nan() || *s < 0.0) || total as usize != tv.len() {
                return Err(file.var_error(&rs, format!("row sizes sum to {total}; expected non-negative counts summing to the {} observations", tv.len())));
            }
            let mut start = 0;
            let rows = sizes.iter().map(|&s| { let r = (start, s as usize); start += s as usize; r }).collect();
            (Layout::ContiguousRagged, rows)
        }
        (1, None) => (Layout::Single, vec![(0, tv.len())]),
        (2, _) => {
            let n_obs = file.dim_len(&time_dims[1])?;
            (Layout::Multidimensional, (0..file.dim_len(&time_dims[0])?).map(|i| (i * n_obs, n_obs)).collect())
        }
        _ => return Err(file.var_error(&time, format!("has dimensions ({}); expected (obs) or (trajectory, obs)", time_dims.join(", ")))),
    };
    let ids = trajectory_ids(file, rows.len());
    let trajectories = rows
        .iter()
        .zip(ids)
        .map(|(&(start, len), id)| {
            // Padding and missing fixes are dropped point by point: a fix needs time and position.
            let keep: Vec<usize> = (start..start + len).filter(|&k| !(tv[k].is_nan() || xv[k].is_nan() || yv[k].is_nan())).collect();
            Trajectory {
                id,
                time: keep.iter().map(|&k| tv[k]).collect(),
                x: keep.iter().map(|&k| xv[k]).collect(),
                y: keep.iter().map(|&k| yv[k]).collect(),
            }
        })
        .collect();
    Ok(TrajectorySet { time_units, trajectories, layout, names: [time, x, y] })
}

fn find(file: &NcFile, configured: &Option<String>, rules: &[(&str, &str)], what: &str) -> Result<String> {
    if let Some(name) = configured {
        file.var_dims(name)?;
        return Ok(name.clone());
    }
    rules.iter().find_map(|(attr, value)| file.find_var_by_attr(attr, value)).ok_or_else(|| {
        Error::input(file.path(), format!("no {what} variable found (looked for {}); name it in the configuration", rules.iter().map(|(a, v)| format!("{a}={v}")).collect::<Vec<_>>().join(", ")))
    })
}

fn trajectory_ids(file: &NcFile, n: usize) -> Vec<String> {
    let numeric = file
        .find_var_by_attr("cf_role", "trajectory_id")
        .and_then(|v| file.read(&v).ok())
        .map(|a| a.data.into_raw_vec_and_offset().0)
        .filter(|v| v.len() == n);
    match numeric {
        Some(v) => v.iter().map(|x| format!("{x}")).collect(),
        None => (0..n).map(|i| i.to_string()).collect(),
    }
}

/// Writes trajectories as a CF contiguous ragged array: dimensions `trajectory` and `obs`,
/// variables `trajectory` (cf_role trajectory_id), `rowSize`, `time`, `x`, `y`. `xy_attrs` are
/// the attributes of the x and y variables (units, standard_name). Sets `featureType`.
pub fn write_ragged(w: &mut NcWriter, set: &TrajectorySet, x_attrs: Vec<Attr<'_>>, y_attrs: Vec<Attr<'_>>) -> Result<()> {
    write_ragged_as(w, set, Precision::F64, x_attrs, y_attrs)
}

/// Like [`write_ragged`], with the positions stored as `precision` (time is always f64: a day
/// count in f32 would lose minutes after a few years).
pub fn write_ragged_as(w: &mut NcWriter, set: &TrajectorySet, precision: Precision, x_attrs: Vec<Attr<'_>>, y_attrs: Vec<Attr<'_>>) -> Result<()> {
    let n_traj = set.trajectories.len();
    let flat = |f: fn(&Trajectory) -> &Vec<f64>| set.trajectories.iter().flat_map(|t| f(t).iter().copied()).collect::<Vec<f64>>();
    let (time, x, y) = (flat(|t| &t.time), flat(|t| &t.x), flat(|t| &t.y));
    w.global("featureType", "trajectory")?;
    w.dim("trajectory", n_traj)?;
    w.dim("obs", time.len())?;
    let ids: Vec<i32> = (0..n_traj as i32).collect();
    w.var_i32("trajectory", &["trajectory"], &ids, vec![("cf_role", "trajectory_id".into()), ("long_name", "trajectory index".into())])?;
    let sizes: Vec<i32> = set.trajectories.iter().map(|t| t.time.len() as i32).collect();
    w.var_i32("rowSize", &["trajectory"], &sizes, vec![("sample_dimension", "obs".into()), ("long_name", "number of observations for this trajectory".into())])?;
    let u = &set.time_units;
    let units = format!("{} since {}", unit_name(u.unit_seconds), u.epoch);
    w.var_f64("time", &["obs"], &time, vec![("standard_name", "time".into()), ("units", units.into()), ("calendar", u.calendar.name().into()), ("axis", "T".into())])?;
    w.var_real("x", &["obs"], &x, precision, x_attrs)?;
    w.var_real("y", &["obs"], &y, precision, y_attrs)?;
    Ok(())
}

/// CF name of a time unit given in seconds.
pub fn unit_name(seconds: f64) -> &'static str {
    match seconds {
        s if s == 86_400.0 => "days",
        s if s == 3_600.0 => "hours",
        s if s == 60.0 => "minutes",
        _ => "seconds",
    }
}
