//! Observation sources: gridded fields and station series (read like states, through
//! [`super::field`], or from CF DSG ragged station files through [`super::ragged_stations`]),
//! and drifter trajectories ([`super::tracks`]), behind one [`Source`] type that pairing and the
//! data pass use.
//!
//! A gridded or stations source contributes `variables × elements` values to the observation
//! vector, variable-major; an element is a grid point kept by the mask and the domain check, or a
//! station with a position inside the domain. Its observations are read in windows of times that
//! move forward with the state times, through a small cache, so a long archive is never held in
//! memory.

use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use super::config::{Combine, ObsKind, ObservationConfig, QcConfig, error_std, in_domain};
use super::field::{FieldLayout, Gather, Projection, Roles, Selection, Slab};
use super::layout::ObsLayout;
use super::qc::{check_loss, join};
use super::ragged_stations::RaggedStations;
use super::state::{X_NAMES, Y_NAMES, coordinate, nonempty};
use super::timeline::{self, TimeQc, Timeline};
use super::tracks::{TrackQc, TrackSource};
use crate::cf::time::TimeUnits;
use crate::cf::{MaskRule, NcFile};
use crate::error::{Error, Result};

/// An observation source of any kind.
// A handful exist per ingest and they are never moved in a loop: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// gridded or stations.
    Field(FieldSource),
    /// trajectories.
    Tracks(TrackSource),
}

/// Quality control of a gridded or stations source.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FieldQc {
    /// Times in the files and why some were left out.
    #[serde(flatten)]
    pub time: TimeQc,
    /// Grid points left out by the mask.
    pub elements_masked: usize,
    /// Points or stations left out because their position is outside the domain.
    pub elements_outside_domain: usize,
    /// Stations left out because their position is missing.
    pub elements_without_position: usize,
    /// Values read (observation times inside some window × elements × variables).
    pub values_read: usize,
    /// Values missing (fill, missing_value, NaN).
    pub values_missing: usize,
    /// Values outside the file's valid_range.
    pub values_outside_valid_range: usize,
    /// Values outside the configured limits.
    pub values_outside_limits: usize,
}

/// One observed variable of a field source.
struct FieldVariable {
    name: String,
    units: String,
    layouts: Vec<FieldLayout>,
    rules: Vec<MaskRule>,
    limits: Option<(f64, f64)>,
    error_std: f64,
    /// Values read that survived quality control.
    valid: usize,
}

/// A gridded or stations source.
pub struct FieldSource {
    /// Source name.
    pub name: String,
    /// gridded or stations.
    pub kind: ObsKind,
    /// The files.
    pub paths: Vec<PathBuf>,
    files: Vec<NcFile>,
    /// The kept observation times.
    pub timeline: Timeline,
    variables: Vec<FieldVariable>,
    elements: Vec<(usize, usize)>,
    x: Vec<f64>,
    y: Vec<f64>,
    /// Window before and after the state time, in timeline units.
    pub window: (f64, f64),
    combine: Combine,
    /// Quality control counts.
    pub qc: FieldQc,
    slab: Slab,
    gathers: Vec<Gather>,
    /// The observations of a source stored per observation; None: read from the files by time.
    ragged: Option<RaggedStations>,
    cache: Cache,
}

/// Rows of observation times `start .. start + rows`, each `len` values.
#[derive(Default)]
struct Cache {
    start: usize,
    rows: usize,
    values: Vec<f64>,
}

impl FieldSource {
    /// Opens a gridded or stations source.
    pub fn open(cfg: &ObservationConfig, paths: &[PathBuf], qc_cfg: &QcConfig, tolerance: f64) -> Result<FieldSource> {
        let kind = cfg.kind();
        let files: Vec<NcFile> = paths.iter().map(NcFile::open).collect::<Result<_>>()?;
        let time_dim = cfg.time_dim.clone().unwrap_or_else(|| "time".into());
        let station_dim = cfg.station_dim.as_deref().unwrap_or_default();
        let mut qc = FieldQc::default();
        // A stations variable not over (time, station) is stored per observation (CF DSG).
        let dims = files[0].var_dims(&cfg.variables[0])?;
        let per_observation = kind == ObsKind::Stations && !(dims.iter().any(|d| d == &time_dim) && dims.iter().any(|d| d == station_dim));
        let (timeline, ragged) = if per_observation {
            let (timeline, ragged) = RaggedStations::open(&files, cfg, station_dim, tolerance, &mut qc.time)?;
            let what = format!("source `{}`", cfg.name);
            check_loss(&what, qc.time.missing_time, qc.time.times, "observations", qc_cfg.max_dropped_fraction, &paths[0], "time missing")?;
            (timeline, Some(ragged))
        } else {
            let time_vars: Vec<String> = files.iter().map(|f| timeline::time_var(f, &time_dim, &cfg.time_var)).collect::<Result<_>>()?;
            (timeline::build(&files, &time_vars, tolerance, &format!("source `{}`", cfg.name), &mut qc.time)?, None)
        };
        let roles = Roles { time: &time_dim, member: None, level: None };
        let mut variables = Vec::new();
        for name in &cfg.variables {
            let layouts: Vec<FieldLayout> = match &ragged {
                Some(r) => files.iter().map(|_| r.layout(name, station_dim)).collect(),
                None => files.iter().map(|f| FieldLayout::of(f, name, &roles)).collect::<Result<_>>()?,
            };
            for (k, l) in layouts.iter().enumerate() {
                let first = variables.first().map_or(&layouts[0], |v: &FieldVariable| &v.layouts[0]);
                if l.point_dims() != first.point_dims() || l.point_shape() != first.point_shape() {
                    return Err(files[k].var_error(
                        name,
                        format!(
                            "its dimensions other than time ({}) differ from those of `{}` in {}; one source's variables must share a grid",
                            l.point_dims().join(", "),
                            first.var,
                            paths[0].display()
                        ),
                    ));
                }
            }
            if kind == ObsKind::Stations && layouts[0].point_dims() != [station_dim] {
                return Err(files[0].var_error(
                    name,
                    format!(
                        "has dimensions ({}); a stations variable must have exactly the time dimension `{time_dim}` and the station dimension `{station_dim}`, or be stored per observation in a CF DSG timeSeries file",
                        layouts[0].dims.join(", ")
                    ),
                ));
            }
            variables.push(FieldVariable {
                name: name.clone(),
                units: files[0].attr_str(Some(name), "units").unwrap_or_default(),
                limits: cfg.limits.iter().find(|l| &l.variable == name).map(|l| (l.min, l.max)),
                error_std: error_std(&files[0], name, cfg)?,
                valid: 0,
                rules: files.iter().map(|f| f.mask_rule(name)).collect(),
                layouts,
            });
        }
        let l0 = variables[0].layouts[0].clone();
        let mut elements: Vec<(usize, usize)> = (0..l0.points()).map(|p| (0, p)).collect();
        if let Some(m) = cfg.mask_var.as_deref().and_then(nonempty) {
            let mask = Projection::new(&files[0], m, &l0)?
                .ok_or_else(|| files[0].var_error(m, format!("the mask's dimensions must be among ({})", l0.point_dims().join(", "))))?;
            let before = elements.len();
            elements.retain(|&(l, p)| mask.at(&l0, l, p).is_finite() && mask.at(&l0, l, p) != 0.0);
            qc.elements_masked = before - elements.len();
        }
        let positions = match &ragged {
            Some(r) => {
                let (x, y) = r.positions();
                Some((x.to_vec(), y.to_vec()))
            }
            None => {
                let x = coordinate(&files[0], &l0, &cfg.x_var, "X", &X_NAMES)?;
                let y = coordinate(&files[0], &l0, &cfg.y_var, "Y", &Y_NAMES)?;
                x.zip(y).map(|(x, y)| ((0..l0.points()).map(|p| x.at(&l0, 0, p)).collect(), (0..l0.points()).map(|p| y.at(&l0, 0, p)).collect()))
            }
        };
        let domain = !qc_cfg.domain_x.is_empty() || !qc_cfg.domain_y.is_empty();
        let (x, y): (Vec<f64>, Vec<f64>) = match positions {
            Some(xy) => xy,
            _ if kind == ObsKind::Stations || domain => {
                let why = if kind == ObsKind::Stations { "a stations source needs them" } else { "the domain check ([ingest.qc]) needs them" };
                return Err(Error::input(
                    &paths[0],
                    format!(
                        "source `{}`: no x and y (or longitude and latitude) coordinates over ({}) found; {why}: set x_var and y_var",
                        cfg.name,
                        l0.point_dims().join(", ")
                    ),
                ));
            }
            _ => {
                let n = elements.len();
                return Ok(Self::assemble(cfg, paths, files, (timeline, ragged), variables, elements, vec![f64::NAN; n], vec![f64::NAN; n], qc));
            }
        };
        let (mut xs, mut ys, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for &(l, p) in &elements {
            let (px, py) = (x[p], y[p]);
            if px.is_nan() || py.is_nan() {
                qc.elements_without_position += 1;
            } else if !in_domain(qc_cfg, px, py) {
                qc.elements_outside_domain += 1;
            } else {
                kept.push((l, p));
                xs.push(px);
                ys.push(py);
            }
        }
        if kept.is_empty() {
            return Err(Error::input(&paths[0], format!("source `{}`: no point or station is left after the mask and the domain check", cfg.name)));
        }
        let items = if kind == ObsKind::Stations { "stations" } else { "points" };
        for (n, why) in
            [(qc.elements_without_position, "position missing"), (qc.elements_outside_domain, "outside the domain ([ingest.qc] domain_x, domain_y)")]
        {
            if n > 0 {
                tracing::warn!("ingest: source `{}`: {n} of {} {items} dropped: {why} ({})", cfg.name, elements.len(), join(paths));
            }
        }
        Ok(Self::assemble(cfg, paths, files, (timeline, ragged), variables, kept, xs, ys, qc))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        cfg: &ObservationConfig,
        paths: &[PathBuf],
        files: Vec<NcFile>,
        (timeline, mut ragged): (Timeline, Option<RaggedStations>),
        variables: Vec<FieldVariable>,
        elements: Vec<(usize, usize)>,
        x: Vec<f64>,
        y: Vec<f64>,
        qc: FieldQc,
    ) -> FieldSource {
        if let Some(r) = &mut ragged {
            r.select(&elements);
        }
        let (before, after) = cfg.window();
        let u = timeline.units.unit_seconds;
        let gathers = variables.iter().map(|_| Gather::default()).collect();
        FieldSource {
            name: cfg.name.clone(),
            kind: cfg.kind(),
            paths: paths.to_vec(),
            files,
            timeline,
            variables,
            elements,
            x,
            y,
            window: (before / u, after / u),
            combine: cfg.combine.unwrap_or_default(),
            qc,
            slab: Slab::default(),
            gathers,
            ragged,
            cache: Cache::default(),
        }
    }

    /// Values this source contributes to the observation vector.
    pub fn width(&self) -> usize {
        self.variables.len() * self.elements.len()
    }

    /// Makes the cache hold observation times `range` (entries of the timeline), reading only
    /// those not already held; ranges are expected to move forward.
    fn ensure(&mut self, range: Range<usize>) -> Result<()> {
        let len = self.width();
        let (cs, ce) = (self.cache.start, self.cache.start + self.cache.rows);
        if range.start >= cs && range.end <= ce {
            return Ok(());
        }
        // Rows from range.start on stay cached when the new range starts inside the old one.
        let first_new = if range.start >= cs && range.start < ce {
            self.cache.values.drain(..(range.start - cs) * len);
            ce
        } else {
            self.cache.values.clear();
            range.start
        };
        self.cache.start = range.start;
        let at = self.cache.values.len();
        self.cache.values.resize(at + (range.end - first_new) * len, 0.0);
        let mut k = first_new;
        while k < range.end {
            // One read per run of consecutive times in one file (all at once from memory).
            let e = self.timeline.entries[k];
            let mut n = 1;
            let consecutive =
                |m: usize| self.ragged.is_some() || (self.timeline.entries[m].file == e.file && self.timeline.entries[m].index == e.index + m - k);
            while k + n < range.end && consecutive(k + n) {
                n += 1;
            }
            let row0 = at + (k - first_new) * len;
            let ne = self.elements.len();
            for (vi, (v, g)) in self.variables.iter_mut().zip(&mut self.gathers).enumerate() {
                if self.ragged.is_none() {
                    v.layouts[e.file].read(&self.files[e.file], e.index, n, (0, 0), &mut self.slab)?;
                }
                for r in 0..n {
                    let cols = row0 + r * len + vi * ne..row0 + r * len + (vi + 1) * ne;
                    let dst = &mut self.cache.values[cols];
                    let counts = match &self.ragged {
                        Some(store) => store.fill_row(k + r, vi, &v.rules, dst),
                        None => g.row(&Selection { layout: &v.layouts[e.file], elements: &self.elements, rule: &v.rules[e.file] }, &self.slab, r, 0, dst),
                    };
                    self.qc.values_missing += counts.missing;
                    self.qc.values_outside_valid_range += counts.out_of_range;
                    if let Some((lo, hi)) = v.limits {
                        for x in dst.iter_mut().filter(|x| **x < lo || **x > hi) {
                            *x = f64::NAN;
                            self.qc.values_outside_limits += 1;
                        }
                    }
                    v.valid += dst.iter().filter(|x| !x.is_nan()).count();
                }
            }
            self.qc.values_read += n * len;
            k += n;
        }
        self.cache.rows = range.end - self.cache.start;
        Ok(())
    }

    /// Fills `vals`/`mask` (this source's part of one observation vector) from the observation
    /// times `range` around the state time `tau` (timeline units).
    pub fn fill(&mut self, range: Range<usize>, tau: f64, vals: &mut [f64], mask: &mut [u8]) -> Result<()> {
        self.ensure(range.clone())?;
        let len = self.width();
        let rows = |j: usize| &self.cache.values[(j - self.cache.start) * len..(j - self.cache.start + 1) * len];
        for c in 0..len {
            let (mut best, mut best_dt, mut sum, mut count) = (f64::NAN, f64::INFINITY, 0.0, 0usize);
            for j in range.clone() {
                let v = rows(j)[c];
                if v.is_nan() {
                    continue;
                }
                let dt = (self.timeline.entries[j].value - tau).abs();
                if dt < best_dt {
                    (best, best_dt) = (v, dt);
                }
                sum += v;
                count += 1;
            }
            let value = match self.combine {
                Combine::Nearest => best,
                Combine::Mean if count > 0 => sum / count as f64,
                Combine::Mean => f64::NAN,
            };
            vals[c] = value;
            mask[c] = u8::from(!value.is_nan());
        }
        Ok(())
    }

    /// After the data pass: warns of the values quality control masked, and fails when they are
    /// more than `limit` of those read. Missing values are not counted: observations are often
    /// sparse (clouds, gaps), and what is absent was never lost.
    fn check_values(&self, limit: f64) -> Result<()> {
        let what = format!("source `{}`", self.name);
        let q = &self.qc;
        for (n, why) in [(q.values_outside_valid_range, "outside the file's valid_range"), (q.values_outside_limits, "outside the configured limits")] {
            if n > 0 {
                tracing::warn!("ingest: {what}: {n} of {} values read masked: {why} ({})", q.values_read, join(&self.paths));
            }
        }
        let bad = q.values_outside_valid_range + q.values_outside_limits;
        check_loss(&what, bad, q.values_read, "values", limit, &self.paths[0], "outside valid_range or the configured limits")?;
        for v in self.variables.iter().filter(|v| v.valid == 0 && q.values_read > 0) {
            tracing::warn!(
                "ingest: {what}: every value of `{}` read is missing or masked ({}); its observations are masked in every sample",
                v.name,
                join(&self.paths)
            );
        }
        Ok(())
    }

    /// The error for a source with a variable of which no value survived: why no sample could
    /// be written, when that is the case.
    fn all_missing(&self) -> Option<Error> {
        let v = self.variables.iter().find(|v| v.valid == 0 && self.qc.values_read > 0)?;
        Some(Error::input(
            &self.paths[0],
            format!(
                "source `{}`, variable `{}`: every value read for the paired state times is missing (_FillValue, NaN, valid_range or the configured limits; files {}); expected observations",
                self.name,
                v.name,
                join(&self.paths)
            ),
        ))
    }

    fn describe_layout(&self, s: i32, layout: &mut ObsLayout) {
        for v in &self.variables {
            let var = layout.variable_names.len() as i32;
            layout.variable_names.push(format!("{}.{}", self.name, v.name));
            layout.variable_units.push(v.units.clone());
            for (k, &(_, p)) in self.elements.iter().enumerate() {
                layout.source.push(s);
                layout.variable.push(var);
                layout.index.push(p as i64);
                layout.x.push(self.x[k]);
                layout.y.push(self.y[k]);
                layout.time_offset.push(0.0);
                layout.error_std.push(v.error_std);
            }
        }
    }
}

/// Quality control counts of a source, for qc.json.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum SourceQc {
    /// gridded or stations.
    Field(FieldQc),
    /// trajectories.
    Tracks(TrackQc),
}

impl Source {
    /// Opens the source `cfg` from `paths`.
    pub fn open(cfg: &ObservationConfig, paths: &[PathBuf], qc: &QcConfig, tolerance: f64) -> Result<Source> {
        Ok(match cfg.kind() {
            ObsKind::Trajectories => Source::Tracks(TrackSource::open(cfg, paths, qc, tolerance)?),
            _ => Source::Field(FieldSource::open(cfg, paths, qc, tolerance)?),
        })
    }

    /// Source name.
    pub fn name(&self) -> &str {
        match self {
            Source::Field(f) => &f.name,
            Source::Tracks(t) => &t.name,
        }
    }

    /// The files.
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            Source::Field(f) => &f.paths,
            Source::Tracks(t) => &t.paths,
        }
    }

    /// Units of the source's times.
    pub fn units(&self) -> &TimeUnits {
        match self {
            Source::Field(f) => &f.timeline.units,
            Source::Tracks(t) => &t.units,
        }
    }

    /// Values this source contributes to the observation vector (trajectories: once the number
    /// of tracks is known).
    pub fn width(&self) -> usize {
        match self {
            Source::Field(f) => f.width(),
            Source::Tracks(t) => t.width(),
        }
    }

    /// First and last observation time (source units), or None without observations.
    pub fn span(&self) -> Option<(f64, f64)> {
        match self {
            Source::Field(f) => f.timeline.span(),
            Source::Tracks(t) => t.span(),
        }
    }

    /// The window around a state time, in source units: (before, after).
    pub fn window(&self) -> (f64, f64) {
        match self {
            Source::Field(f) => f.window,
            Source::Tracks(t) => (t.segment, 0.0),
        }
    }

    /// QC counts.
    pub fn qc(&self) -> SourceQc {
        match self {
            Source::Field(f) => SourceQc::Field(f.qc),
            Source::Tracks(t) => SourceQc::Tracks(t.qc),
        }
    }

    /// After the data pass: warnings of what quality control masked, and the loss limit (see
    /// [`FieldSource::check_values`]; a trajectories source was checked when opened).
    pub fn check_values(&self, limit: f64) -> Result<()> {
        match self {
            Source::Field(f) => f.check_values(limit),
            Source::Tracks(_) => Ok(()),
        }
    }

    /// The error naming this source when a variable of it has no value that survived quality
    /// control (why no sample could be written).
    pub fn all_missing(&self) -> Option<Error> {
        match self {
            Source::Field(f) => f.all_missing(),
            Source::Tracks(_) => None,
        }
    }

    /// Describes the kind in words for metadata.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Source::Field(f) if f.kind == ObsKind::Stations => "stations",
            Source::Field(_) => "gridded",
            Source::Tracks(_) => "trajectories",
        }
    }

    /// Appends this source's (index `s`) elements to `layout`.
    pub fn describe_layout(&self, s: i32, layout: &mut ObsLayout) {
        layout.source_names.push(self.name().to_string());
        match self {
            Source::Field(f) => f.describe_layout(s, layout),
            Source::Tracks(t) => t.describe_layout(s, layout),
        }
    }
}

/// The layout of the whole observation vector.
pub fn obs_layout(sources: &[Source]) -> ObsLayout {
    let mut layout = ObsLayout::default();
    for (s, src) in sources.iter().enumerate() {
        src.describe_layout(s as i32, &mut layout);
    }
    layout
}
