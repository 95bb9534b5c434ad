//! The state source: which elements of which variables form the state vector, where each one is
//! on the grid, and reading chunks of snapshots.
//!
//! The state vector is the configured variables one after the other; each contributes its kept
//! elements, level-major then points in row-major order of its point dimensions. An element is
//! left out when the land mask says so (`mask_var`, for the variables whose dimensions it fits),
//! or, without a mask, when it is missing in the first snapshot. Later snapshots missing a kept
//! element, or outside the configured limits, fail quality control as a whole: a training state
//! must be complete.

use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use super::config::StateConfig;
use super::field::{FieldLayout, Gather, Projection, Roles, Selection, Slab, level_range};
use super::layout::{GridVariable, StateLayout};
use super::timeline::{self, TimeQc, Timeline};
use crate::cf::{MaskRule, NcFile};
use crate::error::{Error, Result};

/// One state variable and where its elements sit in the state vector.
#[derive(Debug, Clone)]
pub struct StateVariable {
    /// Name, units and grid layout, as recorded in the data set.
    pub grid: GridVariable,
    /// Kept elements `(level index in the file, flat point index)`.
    pub elements: Vec<(usize, usize)>,
    /// Its columns in the state vector.
    pub columns: Range<usize>,
    /// Configured limits.
    pub limits: Option<(f64, f64)>,
    layouts: Vec<FieldLayout>,
    rules: Vec<MaskRule>,
    levels: (usize, usize),
}

/// Quality control of the states.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StateQc {
    /// Times in the files and why some were left out.
    #[serde(flatten)]
    pub time: TimeQc,
    /// Elements left out of the state vector by the mask (or missing in the first snapshot).
    pub elements_masked: usize,
    /// Values at kept elements that were missing (fill, missing_value, NaN).
    pub values_missing: usize,
    /// Values at kept elements outside the file's valid_range.
    pub values_outside_valid_range: usize,
    /// Values outside the configured limits.
    pub values_outside_limits: usize,
    /// Snapshots left out because a kept element was missing or outside valid_range.
    pub snapshots_incomplete: usize,
    /// Snapshots left out because a value was outside the configured limits.
    pub snapshots_outside_limits: usize,
}

/// Whether a snapshot passed quality control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// Complete and within limits.
    Good,
    /// A kept element is missing.
    Incomplete,
    /// A value is outside the configured limits.
    OutsideLimits,
}

/// Raw slabs of consecutive times of one state file, one per variable (see
/// [`StateSource::read_chunk`]).
#[derive(Debug, Default)]
pub struct Chunk {
    /// The file.
    pub file: usize,
    /// First time index in the file.
    pub t0: usize,
    /// Number of times.
    pub n: usize,
    slabs: Vec<Slab>,
}

/// The opened state files.
pub struct StateSource {
    /// The files, in time order.
    pub paths: Vec<PathBuf>,
    files: Vec<NcFile>,
    /// The kept times.
    pub timeline: Timeline,
    /// The state variables.
    pub variables: Vec<StateVariable>,
    /// Members per time (1 without a member dimension).
    pub members: usize,
    /// Per element metadata.
    pub layout: StateLayout,
    /// Name of the member dimension, if any.
    pub member_dim: Option<String>,
}

impl StateSource {
    /// Opens the state files and works out the state vector.
    pub fn open(cfg: &StateConfig, paths: &[PathBuf], tolerance: f64, qc: &mut StateQc) -> Result<StateSource> {
        let files: Vec<NcFile> = paths.iter().map(NcFile::open).collect::<Result<_>>()?;
        let time_vars: Vec<String> = files.iter().map(|f| timeline::time_var(f, &cfg.time_dim, &cfg.time_var)).collect::<Result<_>>()?;
        let timeline = timeline::build(&files, &time_vars, tolerance, "states", &mut qc.time)?;
        if timeline.entries.is_empty() {
            return Err(Error::input(&paths[0], format!("variable `{}`: no time (its dimension is empty); expected at least one state", time_vars[0])));
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let roles = Roles { time: &cfg.time_dim, member: nonempty(&cfg.member_dim), level: nonempty(&cfg.level_dim) };
        let mut variables = Vec::new();
        let mut members = None;
        let mut mask_used = cfg.mask_var.is_empty();
        let mut start = 0;
        let mut layout = StateLayout::default();
        for (vi, name) in cfg.variables.iter().enumerate() {
            let layouts: Vec<FieldLayout> = files.iter().map(|f| FieldLayout::of(f, name, &roles)).collect::<Result<_>>()?;
            for (k, l) in layouts.iter().enumerate().skip(1) {
                if !l.same_but_time(&layouts[0]) {
                    return Err(files[k].var_error(
                        name,
                        format!(
                            "dimensions ({}) differ from those in {} ({}); the state files must share a grid",
                            describe_dims(l),
                            paths[0].display(),
                            describe_dims(&layouts[0])
                        ),
                    ));
                }
            }
            let l0 = &layouts[0];
            match members {
                None => members = Some(l0.members()),
                Some(m) if m != l0.members() => {
                    return Err(files[0].var_error(name, format!("has {} members; `{}` has {m}", l0.members(), cfg.variables[0])));
                }
                _ => {}
            }
            let levels: Vec<usize> = match (l0.level_axis, cfg.levels.is_empty()) {
                (None, _) => vec![0],
                (Some(_), true) => (0..l0.levels()).collect(),
                (Some(_), false) => {
                    if let Some(&bad) = cfg.levels.iter().find(|&&l| l >= l0.levels()) {
                        return Err(Error::config(
                            "configuration",
                            "ingest.state.levels",
                            format!("level {bad} does not exist: `{name}` has {} levels along `{}` (indices from 0)", l0.levels(), cfg.level_dim),
                        ));
                    }
                    cfg.levels.clone()
                }
            };
            let all: Vec<(usize, usize)> = levels.iter().flat_map(|&l| (0..l0.points()).map(move |p| (l, p))).collect();
            let mask = match opt(&cfg.mask_var) {
                Some(m) => Projection::new(&files[0], &m, l0)?,
                None => None,
            };
            let elements: Vec<(usize, usize)> = match mask {
                Some(mask) => {
                    mask_used = true;
                    all.iter().copied().filter(|&(l, p)| mask.at(l0, l, p).is_finite() && mask.at(l0, l, p) != 0.0).collect()
                }
                None => first_snapshot_valid(&files, &timeline, &layouts, &all)?,
            };
            if elements.is_empty() {
                return Err(files[0].var_error(name, "no element is left: every point is masked or missing in the first snapshot"));
            }
            qc.elements_masked += all.len() - elements.len();
            let coord = |configured: &str, axis: &str, names: &[&str]| coordinate(&files[0], l0, configured, axis, names);
            let x = coord(&cfg.x_var, "X", &X_NAMES)?;
            let y = coord(&cfg.y_var, "Y", &Y_NAMES)?;
            let z = coord(&cfg.z_var, "Z", &["depth", "altitude", "height", "model_level_number"])?;
            for &(l, p) in &elements {
                layout.variable.push(vi as i32);
                layout.level.push(if l0.level_axis.is_some() { l as i32 } else { -1 });
                layout.index.push(p as i64);
                let at = |c: &Option<Projection>| c.as_ref().map_or(f64::NAN, |c| c.at(l0, l, p));
                layout.x.push(at(&x));
                layout.y.push(at(&y));
                layout.z.push(at(&z));
            }
            let columns = start..start + elements.len();
            start = columns.end;
            let limits = cfg.limits.iter().find(|lim| &lim.variable == name).map(|lim| (lim.min, lim.max));
            variables.push(StateVariable {
                grid: GridVariable {
                    name: name.clone(),
                    units: files[0].attr_str(Some(name), "units").unwrap_or_default(),
                    long_name: files[0].attr_str(Some(name), "long_name").or_else(|| files[0].attr_str(Some(name), "standard_name")).unwrap_or_default(),
                    level_dim: l0.level_axis.map(|a| l0.dims[a].clone()),
                    point_dims: l0.point_dims(),
                    point_shape: l0.point_shape(),
                },
                columns,
                limits,
                rules: files.iter().map(|f| f.mask_rule(name)).collect(),
                levels: level_range(&elements),
                elements,
                layouts,
            });
        }
        if !mask_used {
            return Err(Error::input(
                &paths[0],
                format!("mask variable `{}` fits none of the state variables (its dimensions must be among theirs, other than time and member)", cfg.mask_var),
            ));
        }
        Ok(StateSource { paths: paths.to_vec(), files, timeline, variables, members: members.unwrap_or(1), layout, member_dim: opt(&cfg.member_dim) })
    }

    /// Length of the state vector.
    pub fn dim(&self) -> usize {
        self.variables.last().map_or(0, |v| v.columns.end)
    }

    /// How many consecutive times to read at once within `budget_mb` (raw values, as stored),
    /// aligned to the HDF5 chunks along time so no chunk is decompressed twice.
    pub fn times_per_chunk(&self, budget_mb: usize) -> usize {
        let per_time: usize = self
            .variables
            .iter()
            .map(|v| {
                let l = &v.layouts[0];
                let size = if self.files[0].is_f32(&v.grid.name).unwrap_or(false) { 4 } else { 8 };
                let levels = if l.level_axis.is_some() { v.levels.1 - v.levels.0 + 1 } else { 1 };
                size * l.members() * levels * l.points()
            })
            .sum();
        let n = (budget_mb << 20) / per_time.max(1);
        let l0 = &self.variables[0].layouts[0];
        let chunk = self.files[0].chunking(&l0.var).ok().flatten().map_or(1, |c| c[l0.time_axis].max(1));
        if n >= chunk { n / chunk * chunk } else { n.max(1) }
    }

    /// Reads times `t0 .. t0+n` of file `file` as stored: the netCDF part of reading states,
    /// which can run on another thread than [`StateSource::row`].
    pub fn read_chunk(&self, file: usize, t0: usize, n: usize, chunk: &mut Chunk) -> Result<()> {
        chunk.slabs.resize_with(self.variables.len(), Slab::default);
        for (v, slab) in self.variables.iter().zip(&mut chunk.slabs) {
            v.layouts[file].read(&self.files[file], t0, n, v.levels, slab)?;
        }
        (chunk.file, chunk.t0, chunk.n) = (file, t0, n);
        Ok(())
    }

    /// One gather per variable, for [`StateSource::row`].
    pub fn gathers(&self) -> Vec<Gather> {
        self.variables.iter().map(|_| Gather::default()).collect()
    }

    /// Writes the state vector of time `t` (index in the file) and member `m` of `chunk` into
    /// `dst` ([`StateSource::dim`] values), masked and unpacked; counts masked values in `qc` and
    /// returns whether none was (the snapshot is complete).
    pub fn row(&self, gathers: &mut [Gather], chunk: &Chunk, t: usize, m: usize, dst: &mut [f64], qc: &mut StateQc) -> bool {
        let mut complete = true;
        for ((v, g), slab) in self.variables.iter().zip(gathers).zip(&chunk.slabs) {
            let sel = Selection { layout: &v.layouts[chunk.file], elements: &v.elements, rule: &v.rules[chunk.file] };
            let counts = g.row(&sel, slab, t - chunk.t0, m, &mut dst[v.columns.clone()]);
            qc.values_missing += counts.missing;
            qc.values_outside_valid_range += counts.out_of_range;
            complete &= counts.missing + counts.out_of_range == 0;
        }
        complete
    }

    /// Quality control of one snapshot; `complete` is what [`StateSource::row`] said.
    pub fn check(&self, row: &[f64], complete: bool, qc: &mut StateQc) -> RowStatus {
        if !complete {
            qc.snapshots_incomplete += 1;
            return RowStatus::Incomplete;
        }
        let mut outside = 0;
        for v in &self.variables {
            if let Some((lo, hi)) = v.limits {
                outside += row[v.columns.clone()].iter().filter(|&&x| x < lo || x > hi).count();
            }
        }
        if outside > 0 {
            qc.values_outside_limits += outside;
            qc.snapshots_outside_limits += 1;
            return RowStatus::OutsideLimits;
        }
        RowStatus::Good
    }
}

/// `Some(s)` unless `s` is empty (an unset optional name).
pub(super) fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn describe_dims(l: &FieldLayout) -> String {
    l.dims.iter().zip(&l.shape).map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", ")
}

/// The elements of `all` that are not missing in member 0 of the first kept snapshot.
fn first_snapshot_valid(files: &[NcFile], timeline: &Timeline, layouts: &[FieldLayout], all: &[(usize, usize)]) -> Result<Vec<(usize, usize)>> {
    let first = timeline.entries[0];
    let (layout, file) = (&layouts[first.file], &files[first.file]);
    let mut slab = Slab::default();
    layout.read(file, first.index, 1, level_range(all), &mut slab)?;
    let mut row = vec![0.0; all.len()];
    let rule = file.mask_rule(&layout.var);
    Gather::default().row(&Selection { layout, elements: all, rule: &rule }, &slab, 0, 0, &mut row);
    Ok(all.iter().zip(&row).filter(|(_, v)| !v.is_nan()).map(|(e, _)| *e).collect())
}

/// Standard names of an x coordinate.
pub(super) const X_NAMES: [&str; 3] = ["longitude", "projection_x_coordinate", "grid_longitude"];
/// Standard names of a y coordinate.
pub(super) const Y_NAMES: [&str; 3] = ["latitude", "projection_y_coordinate", "grid_latitude"];

/// The coordinate of each element along one axis: the `configured` variable, or the first
/// variable with `axis` or one of the standard `names` whose dimensions fit the elements.
pub(super) fn coordinate(file: &NcFile, layout: &FieldLayout, configured: &str, axis: &str, names: &[&str]) -> Result<Option<Projection>> {
    if !configured.is_empty() {
        return Projection::new(file, configured, layout);
    }
    for v in file.var_names() {
        let is_axis = file.attr_str(Some(&v), "axis").is_some_and(|a| a.eq_ignore_ascii_case(axis))
            || file.attr_str(Some(&v), "standard_name").is_some_and(|s| names.contains(&s.as_str()));
        if is_axis
            && v != layout.var
            && let Some(p) = Projection::new(file, &v, layout)?
        {
            return Ok(Some(p));
        }
    }
    Ok(None)
}
