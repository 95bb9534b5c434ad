//! CF discrete sampling geometries: drifter trajectories (`featureType = "trajectory"`) and
//! station time series (`featureType = "timeSeries"`).
//!
//! Reads the layouts such archives publish: the contiguous ragged array (a `rowSize`-style
//! variable whose `sample_dimension` attribute names the observation dimension), the indexed
//! ragged array (an index variable whose `instance_dimension` attribute names the trajectory or
//! station dimension), and the multidimensional `(instance, obs)` array padded with fill values,
//! plus the single-trajectory case. Writes trajectories in the contiguous ragged layout.

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
    /// Indexed ragged array with an instance-index variable.
    IndexedRagged,
    /// `(trajectory, obs)` or `(station, obs)` arrays padded with fill values.
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

/// Fixes [`read_trajectories_counted`] left out, by the first of their coordinates that is
/// missing (fill or NaN): time, then x, then y.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedFixes {
    /// Fixes without a time.
    pub time: usize,
    /// Fixes with a time but no x.
    pub x: usize,
    /// Fixes with a time and an x but no y.
    pub y: usize,
    /// Padding of the multidimensional layout (time, x and y all missing): no fix at all.
    pub padding: usize,
}

/// Reads every trajectory of a CF DSG trajectory file.
pub fn read_trajectories(file: &NcFile, names: &DsgNames) -> Result<TrajectorySet> {
    read_trajectories_counted(file, names).map(|(set, _)| set)
}

/// Like [`read_trajectories`], also counting the fixes left out because a coordinate is missing.
pub fn read_trajectories_counted(file: &NcFile, names: &DsgNames) -> Result<(TrajectorySet, DroppedFixes)> {
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
    let (layout, rows): (Layout, Vec<Vec<usize>>) = match (time_dims.len(), ragged_index(file, &time_dims[0])?) {
        (1, Some(r)) => (r.layout, r.rows),
        (1, None) => {
            if let Some(rs) = file.var_names().into_iter().find(|v| file.attr_str(Some(v), "sample_dimension").is_some()) {
                let sample_dim = file.attr_str(Some(&rs), "sample_dimension").unwrap_or_default();
                return Err(file.var_error(&time, format!("dimension `{}` is not the sample_dimension `{sample_dim}` named by `{rs}`", time_dims[0])));
            }
            (Layout::Single, vec![(0..tv.len()).collect()])
        }
        (2, _) => (Layout::Multidimensional, padded_rows(file, &time_dims)?),
        _ => return Err(file.var_error(&time, format!("has dimensions ({}); expected (obs) or (trajectory, obs)", time_dims.join(", ")))),
    };
    let ids = trajectory_ids(file, rows.len());
    let mut dropped = DroppedFixes::default();
    let trajectories = rows
        .iter()
        .zip(ids)
        .map(|(row, id)| {
            // Padding and missing fixes are dropped point by point: a fix needs time and position.
            let mut keep = Vec::with_capacity(row.len());
            for &k in row {
                match (tv[k].is_nan(), xv[k].is_nan(), yv[k].is_nan()) {
                    (true, true, true) if layout == Layout::Multidimensional => dropped.padding += 1,
                    (true, _, _) => dropped.time += 1,
                    (_, true, _) => dropped.x += 1,
                    (_, _, true) => dropped.y += 1,
                    _ => keep.push(k),
                }
            }
            Trajectory { id, time: keep.iter().map(|&k| tv[k]).collect(), x: keep.iter().map(|&k| xv[k]).collect(), y: keep.iter().map(|&k| yv[k]).collect() }
        })
        .collect();
    Ok((TrajectorySet { time_units, trajectories, layout, names: [time, x, y] }, dropped))
}

/// How the samples along a ragged array's sample dimension belong to its instances (trajectories
/// or stations).
#[derive(Debug, Clone, PartialEq)]
pub struct RaggedIndex {
    /// Contiguous or indexed.
    pub layout: Layout,
    /// The instance dimension (`trajectory`, `station`).
    pub instance_dim: String,
    /// Per instance, the indices of its samples in file order.
    pub rows: Vec<Vec<usize>>,
}

/// The instances of the samples along `sample_dim`: from a count variable whose
/// `sample_dimension` attribute names `sample_dim` (contiguous ragged array), or from an index
/// variable over `sample_dim` whose `instance_dimension` attribute names the instance dimension
/// (indexed ragged array). None when the file has neither.
pub fn ragged_index(file: &NcFile, sample_dim: &str) -> Result<Option<RaggedIndex>> {
    let n_samples = file.dim_len(sample_dim)?;
    let names = file.var_names();
    if let Some(count) = names.iter().find(|v| file.attr_str(Some(v), "sample_dimension").as_deref() == Some(sample_dim)) {
        let dims = file.var_dims(count)?;
        let [instance_dim] = dims.as_slice() else {
            return Err(file.var_error(count, format!("has dimensions ({}); a count variable must have exactly the instance dimension", dims.join(", "))));
        };
        let sizes = file.read_values(count)?;
        let total: f64 = sizes.iter().sum();
        if sizes.iter().any(|s| s.is_nan() || *s < 0.0 || s.fract() != 0.0) || total != n_samples as f64 {
            return Err(file
                .var_error(count, format!("row sizes sum to {total}; expected non-negative counts summing to the {n_samples} samples along `{sample_dim}`")));
        }
        let mut start = 0;
        let rows = sizes
            .iter()
            .map(|&s| {
                start += s as usize;
                (start - s as usize..start).collect()
            })
            .collect();
        return Ok(Some(RaggedIndex { layout: Layout::ContiguousRagged, instance_dim: instance_dim.clone(), rows }));
    }
    let over_samples = |v: &&String| file.var_dims(v).is_ok_and(|d| d == [sample_dim]);
    let Some(index) = names.iter().filter(over_samples).find(|v| file.attr_str(Some(v), "instance_dimension").is_some()) else {
        return Ok(None);
    };
    let instance_dim = file.attr_str(Some(index), "instance_dimension").unwrap_or_default();
    let n_instances =
        file.dim_len(&instance_dim).map_err(|_| file.var_error(index, format!("its instance_dimension `{instance_dim}` is not a dimension of the file")))?;
    let mut rows = vec![Vec::new(); n_instances];
    for (k, i) in file.read_values(index)?.into_iter().enumerate() {
        // A masked index is a sample that belongs to no instance (CF allows unused samples).
        if i.is_nan() {
            continue;
        }
        if i < 0.0 || i.fract() != 0.0 || i as usize >= n_instances {
            return Err(file.var_error(
                index,
                format!("sample {k} has instance index {i}; expected 0 to {} (the length of `{instance_dim}`) or a fill value", n_instances.saturating_sub(1)),
            ));
        }
        rows[i as usize].push(k);
    }
    Ok(Some(RaggedIndex { layout: Layout::IndexedRagged, instance_dim, rows }))
}

/// Rows of a padded `(instance, obs)` array: instance `i` owns the flat indices `i * obs ..`.
fn padded_rows(file: &NcFile, dims: &[String]) -> Result<Vec<Vec<usize>>> {
    let n_obs = file.dim_len(&dims[1])?;
    Ok((0..file.dim_len(&dims[0])?).map(|i| (i * n_obs..(i + 1) * n_obs).collect()).collect())
}

/// The samples of a CF DSG station file (`featureType = "timeSeries"`) stored per observation
/// rather than on a shared time axis: a contiguous or indexed ragged array, or the padded
/// `(station, obs)` array.
#[derive(Debug, Clone)]
pub struct StationSamples {
    /// Units and calendar of [`StationSamples::time`].
    pub time_units: TimeUnits,
    /// Layout found in the file.
    pub layout: Layout,
    /// Number of stations (the length of the station dimension).
    pub stations: usize,
    /// Dimensions of the time variable: every observed variable must have exactly these.
    pub sample_dims: Vec<String>,
    /// Per station, the flat indices (over `sample_dims`) of its samples.
    pub rows: Vec<Vec<usize>>,
    /// Time of every sample, flat over `sample_dims`, in the file's units; NaN where missing.
    pub time: Vec<f64>,
}

/// Reads the station and time of every sample of a station file in a per-observation layout;
/// `time_var` is the configured time variable, or None to find it by CF rules.
pub fn read_station_samples(file: &NcFile, time_var: Option<&str>, station_dim: &str) -> Result<StationSamples> {
    let feature = file.attr_str(None, "featureType").unwrap_or_default();
    if !feature.eq_ignore_ascii_case("timeSeries") {
        return Err(Error::input(
            file.path(),
            format!(
                "global attribute featureType is \"{feature}\"; a station file without a shared time dimension must be a CF discrete sampling geometry with featureType = \"timeSeries\""
            ),
        ));
    }
    let time = find(file, &time_var.map(str::to_string), &[("standard_name", "time"), ("axis", "T")], "time")?;
    let sample_dims = file.var_dims(&time)?;
    let stations = file.dim_len(station_dim)?;
    let (layout, rows) = match sample_dims.as_slice() {
        [sample] => {
            let r = ragged_index(file, sample)?.ok_or_else(|| {
                file.var_error(
                    &time,
                    format!(
                        "is over `{sample}`, but no variable with a sample_dimension or instance_dimension attribute says which station each sample belongs to"
                    ),
                )
            })?;
            (r.layout, r.rows)
        }
        [first, _] if first == station_dim => (Layout::Multidimensional, padded_rows(file, &sample_dims)?),
        _ => {
            return Err(file.var_error(&time, format!("has dimensions ({}); expected (obs) in a ragged array or ({station_dim}, obs)", sample_dims.join(", "))));
        }
    };
    if rows.len() != stations {
        return Err(file.var_error(&time, format!("its samples belong to {} instances, but the station dimension `{station_dim}` has {stations}", rows.len())));
    }
    let (time_units, time) = file.read_time_values(&time)?;
    Ok(StationSamples { time_units, layout, stations, sample_dims, rows, time })
}

fn find(file: &NcFile, configured: &Option<String>, rules: &[(&str, &str)], what: &str) -> Result<String> {
    if let Some(name) = configured {
        file.var_dims(name)?;
        return Ok(name.clone());
    }
    rules.iter().find_map(|(attr, value)| file.find_var_by_attr(attr, value)).ok_or_else(|| {
        Error::input(
            file.path(),
            format!(
                "no {what} variable found (looked for {}); name it in the configuration",
                rules.iter().map(|(a, v)| format!("{a}={v}")).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn trajectory_ids(file: &NcFile, n: usize) -> Vec<String> {
    instance_ids(file, "trajectory_id", n).unwrap_or_else(|| (0..n).map(|i| i.to_string()).collect())
}

/// The numeric values of the `cf_role = role` variable (`trajectory_id`, `timeseries_id`) as
/// text, when the file has one with `n` values.
pub fn instance_ids(file: &NcFile, role: &str, n: usize) -> Option<Vec<String>> {
    let values = file.find_var_by_attr("cf_role", role).and_then(|v| file.read(&v).ok()).map(|a| a.data.into_raw_vec_and_offset().0);
    values.filter(|v| v.len() == n).map(|v| v.iter().map(|x| format!("{x}")).collect())
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
    w.var_i32(
        "rowSize",
        &["trajectory"],
        &sizes,
        vec![("sample_dimension", "obs".into()), ("long_name", "number of observations for this trajectory".into())],
    )?;
    let u = &set.time_units;
    let units = format!("{} since {}", unit_name(u.unit_seconds), u.epoch);
    w.var_f64(
        "time",
        &["obs"],
        &time,
        vec![("standard_name", "time".into()), ("units", units.into()), ("calendar", u.calendar.name().into()), ("axis", "T".into())],
    )?;
    w.var_real("x", &["obs"], &x, precision, x_attrs)?;
    w.var_real("y", &["obs"], &y, precision, y_attrs)?;
    Ok(())
}

/// CF name of a time unit given in seconds.
pub fn unit_name(seconds: f64) -> &'static str {
    match seconds {
        86_400.0 => "days",
        3_600.0 => "hours",
        60.0 => "minutes",
        _ => "seconds",
    }
}
