//! Station series stored per observation rather than on a shared time axis: CF discrete
//! sampling geometry `timeSeries` files in the contiguous or indexed ragged layout, or the padded
//! `(station, obs)` layout.
//!
//! Stations are matched across files by id or position. Each station keeps its own times, so
//! the source's timeline is the union of every station's observation times (times within the tolerance of an entry's first time share that entry), and
//! each entry lists the observations made at it. The files are read once when the source opens:
//! station files are small next to a state archive, and the observation windows then come from
//! memory. Values stay as stored until a window takes them, so masking and the QC counts work
//! exactly as for a `(time, station)` file.

use std::collections::HashMap;
use std::path::PathBuf;

use super::config::ObservationConfig;
use super::field::FieldLayout;
use super::qc::join;
use super::state::{X_NAMES, Y_NAMES, coordinate, nonempty};
use super::timeline::{MISSING_TIME, TimeEntry, TimeQc, Timeline};
use crate::cf::dsg::{instance_ids, read_station_samples};
use crate::cf::time::TimeUnits;
use crate::cf::{MaskCounts, MaskRule, NcFile};
use crate::error::{Error, Result};

/// What makes two stations of different files the same station.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum StationKey {
    /// The `timeseries_id` value.
    Id(String),
    /// The bits of x and y.
    Position(u64, u64),
}

/// The observations of a ragged stations source, grouped by timeline entry.
pub struct RaggedStations {
    /// Records of timeline entry `j`: `starts[j] .. starts[j + 1]`.
    starts: Vec<usize>,
    /// File and station of each record.
    records: Vec<(usize, usize)>,
    /// Stored (packed, unmasked) values: `values[variable][record]`.
    values: Vec<Vec<f64>>,
    /// Number of stations.
    stations: usize,
    /// Name of the per-observation dimension, for layouts.
    sample_dim: String,
    /// Position of each station.
    x: Vec<f64>,
    /// See `x`.
    y: Vec<f64>,
    /// Column of each station within one variable's part of a row; None where it is not kept.
    columns: Vec<Option<usize>>,
}

impl RaggedStations {
    /// Reads the source's variables, the sample times and the station positions of every file.
    ///
    /// Stations are matched across files by their `cf_role = "timeseries_id"` value where a file
    /// has one, else by position: a source may be one file per station (as in-situ archives
    /// publish them), or files that each hold many stations. Positions come from `x_var` / `y_var`
    /// or by `standard_name` / `axis`, as for a `(time, station)` file. Missing times and a
    /// station's repeated time (within `tolerance` seconds) are left out and counted in `qc`.
    pub fn open(files: &[NcFile], cfg: &ObservationConfig, station_dim: &str, tolerance: f64, qc: &mut TimeQc) -> Result<(Timeline, RaggedStations)> {
        let variables = &cfg.variables;
        let mut units: Option<TimeUnits> = None;
        // (time, file, station, flat sample index), then the stored values per file and variable.
        let mut samples: Vec<(f64, usize, usize, usize)> = Vec::new();
        let mut stored: Vec<Vec<Vec<f64>>> = Vec::new();
        let mut index: HashMap<StationKey, usize> = HashMap::new();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut sample_dim = String::new();
        for (k, file) in files.iter().enumerate() {
            let s = read_station_samples(file, nonempty(&cfg.time_var), station_dim)?;
            let reference = units.get_or_insert_with(|| s.time_units.clone()).clone();
            if s.time_units.calendar != reference.calendar {
                return Err(Error::input(
                    file.path(),
                    format!(
                        "calendar `{}` differs from `{}` of {}; files of one source must share a calendar",
                        s.time_units.calendar,
                        reference.calendar,
                        files[0].path().display()
                    ),
                ));
            }
            if k == 0 {
                sample_dim = s.sample_dims.last().cloned().unwrap_or_default();
            }
            let local = Self::pseudo_layout(&variables[0], &sample_dim, station_dim, 0, s.stations);
            let at = |var: &str, axis: &str, names: &[&str]| -> Result<Vec<f64>> {
                let p = coordinate(file, &local, var, axis, names)?.ok_or_else(|| {
                    Error::input(
                        file.path(),
                        format!(
                            "source `{}`: no {axis} coordinate over `{station_dim}` found; a stations source needs one per station: set {}_var",
                            cfg.name,
                            axis.to_lowercase()
                        ),
                    )
                })?;
                Ok((0..s.stations).map(|j| p.at(&local, 0, j)).collect())
            };
            let (xs, ys) = (at(&cfg.x_var, "X", &X_NAMES)?, at(&cfg.y_var, "Y", &Y_NAMES)?);
            let ids = instance_ids(file, "timeseries_id", s.stations);
            let global: Vec<usize> = (0..s.stations)
                .map(|j| {
                    let key = match &ids {
                        Some(ids) => StationKey::Id(ids[j].clone()),
                        None => StationKey::Position(xs[j].to_bits(), ys[j].to_bits()),
                    };
                    *index.entry(key).or_insert_with(|| {
                        x.push(xs[j]);
                        y.push(ys[j]);
                        x.len() - 1
                    })
                })
                .collect();
            let mut per_var = Vec::with_capacity(variables.len());
            for var in variables {
                let dims = file.var_dims(var)?;
                if dims != s.sample_dims {
                    return Err(file
                        .var_error(var, format!("has dimensions ({}); expected those of the time variable ({})", dims.join(", "), s.sample_dims.join(", "))));
                }
                let count: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
                let mut raw = Vec::new();
                file.read_slab_raw_into::<f64>(var, &vec![0; count.len()], &count, &mut raw)?;
                per_var.push(raw);
            }
            stored.push(per_var);
            for (row, &station) in s.rows.iter().zip(&global) {
                qc.times += row.len();
                for &sample in row {
                    match s.time_units.recode(s.time[sample], &reference) {
                        Some(t) => samples.push((t, k, station, sample)),
                        None => qc.missing_time += 1,
                    }
                }
            }
        }
        let stations = x.len();
        let units = units.ok_or_else(|| Error::Other("a source without files".into()))?;
        let tol = tolerance / units.unit_seconds;
        // Stable: samples at one time stay in file and station order.
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut entries: Vec<TimeEntry> = Vec::new();
        let mut starts = Vec::new();
        let mut records = Vec::new();
        let mut values = vec![Vec::new(); variables.len()];
        let mut last_entry = vec![usize::MAX; stations];
        for (t, k, station, sample) in samples {
            if entries.last().is_none_or(|e| t - e.value > tol) {
                starts.push(records.len());
                entries.push(TimeEntry { file: k, index: entries.len(), value: t });
            }
            let j = entries.len() - 1;
            if last_entry[station] == j {
                qc.duplicate_time += 1;
                continue;
            }
            last_entry[station] = j;
            records.push((k, station));
            for (v, out) in values.iter_mut().enumerate() {
                out.push(stored[k][v][sample]);
            }
        }
        starts.push(records.len());
        let what = format!("source `{}`", cfg.name);
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path().to_path_buf()).collect();
        if qc.missing_time > 0 {
            tracing::warn!("ingest: {what}: {} of {} observations dropped: time missing ({MISSING_TIME}) ({})", qc.missing_time, qc.times, join(&paths));
        }
        if qc.duplicate_time > 0 {
            tracing::warn!(
                "ingest: {what}: {} of {} observations dropped: a station's second record at one time, the first kept ({})",
                qc.duplicate_time,
                qc.times,
                join(&paths)
            );
        }
        let store = RaggedStations { starts, records, values, stations, sample_dim, x, y, columns: vec![None; stations] };
        Ok((Timeline { units, entries }, store))
    }

    /// A layout for `var` with the records as times and the stations (of all files) as points,
    /// so that the source's variables look like those of a `(time, station)` file.
    pub fn layout(&self, var: &str, station_dim: &str) -> FieldLayout {
        Self::pseudo_layout(var, &self.sample_dim, station_dim, self.records.len(), self.stations)
    }

    fn pseudo_layout(var: &str, sample_dim: &str, station_dim: &str, records: usize, stations: usize) -> FieldLayout {
        FieldLayout {
            var: var.to_string(),
            dims: vec![sample_dim.to_string(), station_dim.to_string()],
            shape: vec![records, stations],
            time_axis: 0,
            member_axis: None,
            level_axis: None,
            point_axes: vec![1],
        }
    }

    /// x and y of every station, in the order of [`RaggedStations::layout`]'s points.
    pub fn positions(&self) -> (&[f64], &[f64]) {
        (&self.x, &self.y)
    }

    /// Keeps the stations of `elements` (`(0, station)` pairs), in that order.
    pub fn select(&mut self, elements: &[(usize, usize)]) {
        self.columns = vec![None; self.stations];
        for (c, &(_, station)) in elements.iter().enumerate() {
            self.columns[station] = Some(c);
        }
    }

    /// Fills `dst` (one variable's part of a row) with the values of variable `v` observed at
    /// timeline entry `j`, unpacked by each file's `rules`; NaN where a kept station has none.
    pub fn fill_row(&self, j: usize, v: usize, rules: &[MaskRule], dst: &mut [f64]) -> MaskCounts {
        dst.fill(f64::NAN);
        let mut counts = MaskCounts::default();
        for r in self.starts[j]..self.starts[j + 1] {
            let (k, station) = self.records[r];
            if let Some(c) = self.columns[station] {
                dst[c] = rules[k].unpack(self.values[v][r], &mut counts);
            }
        }
        counts
    }
}
