//! The ingest output, `dataset.nc`, and its loader.
//!
//! One NetCDF-4 file (CF-1.8 where CF has something to say), `format_version = 2`, and the state
//! vectors in a binary file beside it, `dataset.states.bin` (layout, format version and checksum:
//! [`super::state_rows`]), which is written by a thread of its own while the state archive is
//! read. Both files' integrity is recorded in the stage manifest (SHA-256), and `dataset.nc`
//! records the states file's name, size and checksum. Values are in physical units; the
//! normalisation statistics are stored beside them (`(x - mean) / std` normalises). Layout of
//! `dataset.nc`:
//!
//! | variable | dimensions | meaning |
//! |---|---|---|
//! | `time` | sample | state time, in the state files' units and calendar |
//! | `member` | sample | ensemble member (only with a member dimension) |
//! | `split` | sample | 0 train, 1 validation, 2 test (`flag_values`/`flag_meanings`) |
//! | `state_file`, `state_time_index` | sample | where the snapshot is in the state files (global `state_files`, one path per line) |
//! | global `states_file`, `states_file_bytes`, `states_file_xxh3_128` | | the states file (row `i` is sample `i`), its size and the checksum of its rows |
//! | `obs`, `obs_mask` | sample, obs_dim | observation vector (fill where masked) and 1 = observed |
//! | `state_mean`, `state_std` | state_dim | normalisation, training split |
//! | `obs_mean`, `obs_std` | obs_dim | normalisation per observed variable, training split |
//! | `state_variable` | state_dim | which variable (`flag_meanings` names them; `varK_*` attributes give units, level dimension, point dimensions and shape of variable K) |
//! | `state_level` | state_dim | index along the variable's level dimension (-1: none) |
//! | `state_index` | state_dim | row-major flat index over the variable's point dimensions |
//! | `state_x`, `state_y`, `state_z` | state_dim | coordinates (fill where unknown) |
//! | `obs_source` | obs_dim | which source (`flag_meanings`; `srcK_*` attributes: kind, files one per line, pairing) |
//! | `obs_variable` | obs_dim | which `source.variable` (`flag_meanings`; `varK_units`) |
//! | `obs_index` | obs_dim | grid point, station, or `track * points + point` within the source |
//! | `obs_x`, `obs_y` | obs_dim | position of a gridded point or station (fill for trajectories) |
//! | `obs_time_offset` | obs_dim | time of the value minus the state time, seconds |
//! | `obs_error_std` | obs_dim | observation error standard deviation (fill where unknown) |
//! | `eof` | mode, state_dim | orthonormal EOFs of the normalised training states |
//! | `eof_mean` | state_dim | mean of the normalised snapshots the EOFs were computed from |
//! | `eof_variance` | mode | variance along each EOF (attributes: total_variance, snapshots, training_snapshots) |
//!
//! `obs*` variables are absent when there is no observation source, `eof*` when no EOF is kept.
//! Writing is streamed: the `sample` dimension is unlimited and rows are appended chunk by chunk;
//! [`Dataset::load`] reads the state rows in chunks too.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use netcdf::AttributeValue;

use super::layout::{GridVariable, ObsLayout, Real, StateLayout};
use super::split::Split;
use super::state_rows::{StatesReader, StatesRecord};
use crate::cf::dsg::unit_name;
use crate::cf::time::TimeUnits;
use crate::cf::write::{Attr, Precision};
use crate::cf::{NcFile, NcWriter};
use crate::config::IoConfig;
use crate::error::{Error, Result};

/// Version of the layout above; bumped on any incompatible change (2: states in their own file).
pub const FORMAT_VERSION: i32 = 2;
/// File name of the data set in the stage outputs.
pub const DATASET_FILE: &str = "dataset.nc";
/// Target number of values per HDF5 chunk of the per-sample matrices.
const CHUNK_ELEMS: usize = 1 << 18;

/// An observation source as recorded in the data set.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMeta {
    /// Source name.
    pub name: String,
    /// gridded, stations or trajectories.
    pub kind: String,
    /// Its files.
    pub files: Vec<String>,
    /// Free-form description of the pairing (window, segment).
    pub pairing: String,
}

/// What the data set describes, known before any row is written.
pub struct Header<'a> {
    /// Units and calendar of the state times.
    pub time_units: &'a TimeUnits,
    /// Name of the member dimension, if any.
    pub member_dim: Option<&'a str>,
    /// The state variables.
    pub grid: &'a [GridVariable],
    /// Per state element.
    pub state: &'a StateLayout,
    /// Per observation element.
    pub obs: &'a ObsLayout,
    /// The sources.
    pub sources: &'a [SourceMeta],
    /// The state files.
    pub state_files: &'a [String],
    /// Storage type of `state` and `obs`.
    pub precision: Precision,
    /// Global attributes to add (settings, counts).
    pub globals: Vec<(String, AttributeValue)>,
}

/// A chunk of rows to append.
#[derive(Debug)]
pub struct Rows {
    /// State times.
    pub time: Vec<f64>,
    /// Members.
    pub member: Vec<i32>,
    /// Split flags.
    pub split: Vec<i32>,
    /// State file of each row.
    pub file: Vec<i32>,
    /// Time index in that file.
    pub index: Vec<i32>,
    /// State vectors, row-major (written to the states file, not to `dataset.nc`).
    pub state: Real,
    /// Observation vectors, row-major, NaN (fill) where masked.
    pub obs: Real,
    /// 1 where observed.
    pub obs_mask: Vec<i8>,
}

impl Rows {
    /// No rows yet, values stored as `precision`.
    pub fn new(precision: Precision) -> Rows {
        Rows {
            time: Vec::new(),
            member: Vec::new(),
            split: Vec::new(),
            file: Vec::new(),
            index: Vec::new(),
            state: Real::new(precision),
            obs: Real::new(precision),
            obs_mask: Vec::new(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Removes every row, keeping the allocations.
    pub fn clear(&mut self) {
        self.time.clear();
        self.member.clear();
        self.split.clear();
        self.file.clear();
        self.index.clear();
        self.state.clear();
        self.obs.clear();
        self.obs_mask.clear();
    }
}

/// The statistics written once all rows are in.
pub struct Statistics<'a> {
    /// Per state element.
    pub state_mean: &'a [f64],
    /// Per state element.
    pub state_std: &'a [f64],
    /// Per observation element.
    pub obs_mean: &'a [f64],
    /// Per observation element.
    pub obs_std: &'a [f64],
    /// The EOF basis, if any.
    pub eof: Option<&'a EofBasis>,
}

/// An EOF basis as stored.
#[derive(Debug, Clone)]
pub struct EofBasis {
    /// `modes × state_dim`, orthonormal.
    pub modes: Array2<f64>,
    /// Mean of the normalised snapshots used.
    pub mean: Array1<f64>,
    /// Variance along each mode.
    pub variance: Array1<f64>,
    /// Total variance of the snapshots used.
    pub total_variance: f64,
    /// Snapshots used.
    pub snapshots: usize,
    /// Training snapshots available (more than `snapshots` when subsampled).
    pub training_snapshots: usize,
}

/// `dataset.nc` being written.
pub struct DatasetWriter {
    w: NcWriter,
    path: PathBuf,
    rows: usize,
    state_dim: usize,
    obs_dim: usize,
    members: bool,
}

fn text(s: impl Into<String>) -> AttributeValue {
    AttributeValue::Str(s.into())
}

/// `flag_values` 0, 1, ... and `flag_meanings` `names` of an int variable (CF wants the values in
/// the type of the variable they describe).
fn flags(names: &[String]) -> Vec<Attr<'static>> {
    vec![("flag_values", AttributeValue::Ints((0..names.len() as i32).collect())), ("flag_meanings", text(names.join(" ")))]
}

/// `value` as a 32-bit integer: CF-1.8 has no 64-bit integer type, so an index or count that does
/// not fit cannot be written as one.
fn int32(path: &Path, what: &str, value: i64) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::Other(format!("{}: {what} is {value}, beyond the 32-bit integers of CF-1.8", path.display())))
}

/// [`int32`] of every value of the index variable `name`.
fn int32s(path: &Path, name: &str, values: &[i64]) -> Result<Vec<i32>> {
    values.iter().map(|&v| int32(path, &format!("variable `{name}`"), v)).collect()
}

fn row_chunks(dim: usize) -> [usize; 2] {
    [(CHUNK_ELEMS / dim.max(1)).max(1), dim.clamp(1, CHUNK_ELEMS)]
}

impl DatasetWriter {
    /// Creates `path` and writes everything but the rows and the statistics.
    pub fn create(path: &Path, io: &IoConfig, h: &Header) -> Result<DatasetWriter> {
        let mut w = NcWriter::create(path, io, "contrada ingest: paired states and observations")?;
        let (sd, od) = (h.state.variable.len(), h.obs.variable.len());
        w.global("format_version", FORMAT_VERSION)?;
        w.global("contrada_artifact", "ingest dataset")?;
        // One path per line: paths may contain blanks.
        w.global("state_files", h.state_files.join("\n"))?;
        for (k, v) in &h.globals {
            w.global(k, v.clone())?;
        }
        w.unlimited_dim("sample")?;
        w.dim("state_dim", sd)?;
        let u = h.time_units;
        let units = format!("{} since {}", unit_name(u.unit_seconds), u.epoch);
        let one = &[4096];
        w.define::<f64>(
            "time",
            &["sample"],
            one,
            vec![
                ("standard_name", text("time")),
                ("long_name", text("state time")),
                ("units", text(units)),
                ("calendar", text(u.calendar.name())),
                ("axis", text("T")),
            ],
        )?;
        if let Some(m) = h.member_dim {
            w.define::<i32>("member", &["sample"], one, vec![("long_name", text(format!("index along the state files' `{m}` dimension")))])?;
        }
        let split_names: Vec<String> = Split::ALL.iter().map(|s| s.name().to_string()).collect();
        let mut split_attrs = flags(&split_names);
        split_attrs.push(("long_name", text("train / validation / test split")));
        w.define::<i32>("split", &["sample"], one, split_attrs)?;
        w.define::<i32>("state_file", &["sample"], one, vec![("long_name", text("index into the global attribute state_files"))])?;
        w.define::<i32>("state_time_index", &["sample"], one, vec![("long_name", text("index along the time dimension of that state file"))])?;
        let real = |w: &mut NcWriter, name: &str, dims: &[&str], chunks: &[usize], attrs: Vec<Attr<'_>>| match h.precision {
            Precision::F32 => w.define::<f32>(name, dims, chunks, attrs),
            Precision::F64 => w.define::<f64>(name, dims, chunks, attrs),
        };
        let vnames: Vec<String> = h.grid.iter().map(|g| g.name.clone()).collect();
        let mut per_var: Vec<(String, AttributeValue)> = Vec::new();
        for (k, g) in h.grid.iter().enumerate() {
            per_var.push((format!("var{k}_units"), text(g.units.clone())));
            per_var.push((format!("var{k}_long_name"), text(g.long_name.clone())));
            per_var.push((format!("var{k}_level_dim"), text(g.level_dim.clone().unwrap_or_default())));
            per_var.push((format!("var{k}_point_dims"), text(g.point_dims.join(" "))));
            let what = format!("attribute `var{k}_point_shape` of `state_variable`");
            let shape = g.point_shape.iter().map(|&n| int32(path, &what, n as i64)).collect::<Result<_>>()?;
            per_var.push((format!("var{k}_point_shape"), AttributeValue::Ints(shape)));
        }
        let mut vattrs: Vec<Attr<'_>> = flags(&vnames);
        vattrs.push(("long_name", text("state variable of each state element")));
        vattrs.extend(per_var.iter().map(|(k, v)| (k.as_str(), v.clone())));
        w.var_i32("state_variable", &["state_dim"], &h.state.variable, vattrs)?;
        w.var_i32("state_level", &["state_dim"], &h.state.level, vec![("long_name", text("index along the variable's level dimension, -1 without one"))])?;
        w.var_f64("state_x", &["state_dim"], &h.state.x, vec![("long_name", text("x or longitude of the state element"))])?;
        w.var_f64("state_y", &["state_dim"], &h.state.y, vec![("long_name", text("y or latitude of the state element"))])?;
        w.var_f64("state_z", &["state_dim"], &h.state.z, vec![("long_name", text("level coordinate of the state element"))])?;
        let state_index = int32s(path, "state_index", &h.state.index)?;
        w.var_i32("state_index", &["state_dim"], &state_index, vec![("long_name", text("row-major flat index over the variable's point dimensions"))])?;
        if od > 0 {
            w.dim("obs_dim", od)?;
            let chunks = row_chunks(od);
            real(
                &mut w,
                "obs",
                &["sample", "obs_dim"],
                &chunks,
                vec![("long_name", text("observation vector, physical units (see obs_variable); fill where obs_mask is 0"))],
            )?;
            let mut mask_attrs = vec![("flag_values", AttributeValue::Schars(vec![0, 1])), ("flag_meanings", text("missing observed"))];
            mask_attrs.push(("long_name", text("1 where the observation exists and passed quality control")));
            w.define::<i8>("obs_mask", &["sample", "obs_dim"], &chunks, mask_attrs)?;
            let mut per_src: Vec<(String, AttributeValue)> = Vec::new();
            for (k, src) in h.sources.iter().enumerate() {
                per_src.push((format!("src{k}_kind"), text(src.kind.clone())));
                per_src.push((format!("src{k}_files"), text(src.files.join("\n"))));
                per_src.push((format!("src{k}_pairing"), text(src.pairing.clone())));
            }
            let mut sattrs: Vec<Attr<'_>> = flags(&h.obs.source_names);
            sattrs.push(("long_name", text("observation source of each observation element")));
            sattrs.extend(per_src.iter().map(|(k, v)| (k.as_str(), v.clone())));
            w.var_i32("obs_source", &["obs_dim"], &h.obs.source, sattrs)?;
            let units: Vec<(String, AttributeValue)> =
                h.obs.variable_units.iter().enumerate().map(|(k, u)| (format!("var{k}_units"), text(u.clone()))).collect();
            let mut oattrs: Vec<Attr<'_>> = flags(&h.obs.variable_names);
            oattrs.push(("long_name", text("observed variable (source.variable) of each observation element")));
            oattrs.extend(units.iter().map(|(k, v)| (k.as_str(), v.clone())));
            w.var_i32("obs_variable", &["obs_dim"], &h.obs.variable, oattrs)?;
            let obs_index = int32s(path, "obs_index", &h.obs.index)?;
            w.var_i32("obs_index", &["obs_dim"], &obs_index, vec![("long_name", text("grid point, station, or track * points + point within the source"))])?;
            w.var_f64("obs_x", &["obs_dim"], &h.obs.x, vec![("long_name", text("x or longitude of a gridded point or station"))])?;
            w.var_f64("obs_y", &["obs_dim"], &h.obs.y, vec![("long_name", text("y or latitude of a gridded point or station"))])?;
            w.var_f64(
                "obs_time_offset",
                &["obs_dim"],
                &h.obs.time_offset,
                vec![("long_name", text("time of the value minus the state time")), ("units", text("s"))],
            )?;
            w.var_f64(
                "obs_error_std",
                &["obs_dim"],
                &h.obs.error_std,
                vec![("long_name", text("observation error standard deviation, in the variable's units"))],
            )?;
        }
        Ok(DatasetWriter { w, path: path.to_path_buf(), rows: 0, state_dim: sd, obs_dim: od, members: h.member_dim.is_some() })
    }

    /// Appends rows, all but their state vectors (those go to a [`super::state_rows::StatesWriter`]).
    pub fn append(&mut self, r: &Rows) -> Result<()> {
        let (n, at) = (r.len(), self.rows);
        if n == 0 {
            return Ok(());
        }
        self.w.write_slab("time", &[at], &[n], &r.time)?;
        if self.members {
            self.w.write_slab("member", &[at], &[n], &r.member)?;
        }
        self.w.write_slab("split", &[at], &[n], &r.split)?;
        self.w.write_slab("state_file", &[at], &[n], &r.file)?;
        self.w.write_slab("state_time_index", &[at], &[n], &r.index)?;
        if self.obs_dim > 0 {
            r.obs.write(&mut self.w, "obs", &[at, 0], &[n, self.obs_dim])?;
            self.w.write_slab("obs_mask", &[at, 0], &[n, self.obs_dim], &r.obs_mask)?;
        }
        self.rows += n;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Records the states file, writes the statistics and closes the file.
    pub fn finish(mut self, s: &Statistics, states: &StatesRecord) -> Result<()> {
        if (states.rows, states.cols) != (self.rows, self.state_dim) {
            return Err(Error::Other(format!(
                "{}: {} x {} state values written for {} samples of {} elements",
                states.file, states.rows, states.cols, self.rows, self.state_dim
            )));
        }
        let (w, path) = (&mut self.w, self.path.as_path());
        w.global("states_file", states.file.as_str())?;
        // A double, exact to 2^53 bytes: CF-1.8 has no 64-bit integer, and a file may pass 2^31.
        w.global("states_file_bytes", AttributeValue::Double(states.bytes as f64))?;
        w.global("states_file_xxh3_128", states.xxh3_128.as_str())?;
        w.var_f64("state_mean", &["state_dim"], s.state_mean, vec![("long_name", text("mean of the state element over the training split"))])?;
        w.var_f64("state_std", &["state_dim"], s.state_std, vec![("long_name", text("standard deviation of the state element over the training split"))])?;
        if self.obs_dim > 0 {
            w.var_f64("obs_mean", &["obs_dim"], s.obs_mean, vec![("long_name", text("mean of the observed variable over the training split"))])?;
            w.var_f64("obs_std", &["obs_dim"], s.obs_std, vec![("long_name", text("standard deviation of the observed variable over the training split"))])?;
        }
        if let Some(e) = s.eof.filter(|e| e.modes.nrows() > 0) {
            w.dim("mode", e.modes.nrows())?;
            let modes: Vec<f64> = e.modes.iter().copied().collect();
            w.var_f64("eof", &["mode", "state_dim"], &modes, vec![("long_name", text("empirical orthogonal functions of the normalised training states"))])?;
            w.var_f64(
                "eof_mean",
                &["state_dim"],
                e.mean.as_slice().expect("contiguous"),
                vec![("long_name", text("mean of the normalised snapshots the EOFs were computed from"))],
            )?;
            let attrs = vec![
                ("long_name", text("variance of the normalised states along each EOF (divisor n - 1)")),
                ("total_variance", AttributeValue::Double(e.total_variance)),
                ("snapshots", AttributeValue::Int(int32(path, "attribute `snapshots` of `eof_variance`", e.snapshots as i64)?)),
                ("training_snapshots", AttributeValue::Int(int32(path, "attribute `training_snapshots` of `eof_variance`", e.training_snapshots as i64)?)),
                (
                    "method",
                    text(if e.snapshots < e.training_snapshots { "seeded uniform subsample of the training snapshots" } else { "all training snapshots" }),
                ),
            ];
            w.var_f64("eof_variance", &["mode"], e.variance.as_slice().expect("contiguous"), attrs)?;
        }
        self.w.finish()
    }
}

/// A data set loaded into memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Units and calendar of `time`.
    pub time_units: TimeUnits,
    /// State time of each sample.
    pub time: Vec<f64>,
    /// Member of each sample (None without a member dimension).
    pub member: Option<Vec<i32>>,
    /// Split of each sample.
    pub split: Vec<Split>,
    /// State file index and time index of each sample.
    pub source: Vec<(usize, usize)>,
    /// The state files.
    pub state_files: Vec<String>,
    /// States, `sample × state_dim`, physical units.
    pub state: Array2<f64>,
    /// Observations, `sample × obs_dim`, NaN where masked.
    pub obs: Array2<f64>,
    /// 1 where observed.
    pub obs_mask: Array2<u8>,
    /// Normalisation of the states.
    pub state_mean: Array1<f64>,
    /// Normalisation of the states.
    pub state_std: Array1<f64>,
    /// Normalisation of the observations.
    pub obs_mean: Array1<f64>,
    /// Normalisation of the observations.
    pub obs_std: Array1<f64>,
    /// The EOF basis, if one was kept.
    pub eof: Option<EofBasis>,
    /// The state variables on their grids.
    pub grid: Vec<GridVariable>,
    /// Per state element.
    pub state_layout: StateLayout,
    /// Per observation element.
    pub obs_layout: ObsLayout,
    /// The observation sources.
    pub sources: Vec<SourceMeta>,
}

impl Dataset {
    /// Loads `path` (a `dataset.nc` written by ingest) and its states file into memory; the
    /// state rows are read in chunks and their checksum checked.
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset> {
        Self::load_with(path.as_ref(), true)
    }

    /// Loads everything but the state vectors: `state` has the samples as rows and no column.
    /// For readers that need a large bank's layout and times but not its states (or read them in
    /// pieces with [`Dataset::read_states`]), so the states need not fit in memory twice.
    pub fn load_without_states(path: impl AsRef<Path>) -> Result<Dataset> {
        Self::load_with(path.as_ref(), false)
    }

    /// A reader of the state vectors of `path` (physical units), row chunk by row chunk in order,
    /// so that a large bank need not fit in memory; `finish` checks the checksum at the end.
    pub fn states_reader(path: impl AsRef<Path>) -> Result<StatesReader> {
        open_states(&NcFile::open(path.as_ref())?)
    }

    fn load_with(path: &Path, states: bool) -> Result<Dataset> {
        let f = NcFile::open(path)?;
        let version = f.attr_f64s(None, "format_version").and_then(|v| v.first().copied());
        if version != Some(FORMAT_VERSION as f64) {
            return Err(Error::input(
                path,
                format!("global attribute format_version is {version:?}; expected {FORMAT_VERSION} (a dataset.nc written by this version of contrada ingest)"),
            ));
        }
        let n = f.dim_len("sample")?;
        let sd = f.dim_len("state_dim")?;
        let od = if f.has_var("obs") { f.dim_len("obs_dim")? } else { 0 };
        let vals = |name: &str| f.read_values(name);
        let ints = |name: &str| -> Result<Vec<i32>> { Ok(vals(name)?.into_iter().map(|v| v as i32).collect()) };
        let matrix = |name: &str, cols: usize| -> Result<Array2<f64>> {
            if cols == 0 {
                return Ok(Array2::zeros((n, 0)));
            }
            Array2::from_shape_vec((n, cols), vals(name)?).map_err(|e| Error::input(path, format!("variable `{name}`: {e}")))
        };
        let split = ints("split")?
            .into_iter()
            .map(|v| Split::from_flag(v).ok_or_else(|| f.var_error("split", format!("flag {v}; expected 0, 1 or 2"))))
            .collect::<Result<_>>()?;
        let source = ints("state_file")?.into_iter().zip(ints("state_time_index")?).map(|(a, b)| (a as usize, b as usize)).collect();
        let grid = read_grid(&f)?;
        let state_layout = StateLayout {
            variable: ints("state_variable")?,
            level: ints("state_level")?,
            index: vals("state_index")?.into_iter().map(|v| v as i64).collect(),
            x: vals("state_x")?,
            y: vals("state_y")?,
            z: vals("state_z")?,
        };
        let (obs_layout, sources) = if od > 0 { read_obs_layout(&f)? } else { (ObsLayout::default(), Vec::new()) };
        let obs_mask = matrix("obs_mask", od)?.mapv(|v| u8::from(v == 1.0));
        let eof = if f.has_var("eof") {
            let modes = f.dim_len("mode")?;
            let attr = |a: &str| f.attr_f64s(Some("eof_variance"), a).and_then(|v| v.first().copied()).unwrap_or(f64::NAN);
            Some(EofBasis {
                modes: Array2::from_shape_vec((modes, sd), vals("eof")?).map_err(|e| Error::input(path, format!("variable `eof`: {e}")))?,
                mean: Array1::from(vals("eof_mean")?),
                variance: Array1::from(vals("eof_variance")?),
                total_variance: attr("total_variance"),
                snapshots: attr("snapshots") as usize,
                training_snapshots: attr("training_snapshots") as usize,
            })
        } else {
            None
        };
        let opt_vec = |name: &str, len: usize| -> Result<Array1<f64>> { if len == 0 { Ok(Array1::zeros(0)) } else { Ok(Array1::from(vals(name)?)) } };
        Ok(Dataset {
            time_units: f.time_units("time")?,
            time: vals("time")?,
            member: if f.has_var("member") { Some(ints("member")?) } else { None },
            split,
            source,
            state_files: f.attr_str(None, "state_files").unwrap_or_default().lines().map(String::from).collect(),
            state: if states { read_states(&f, n, sd)? } else { Array2::zeros((n, 0)) },
            obs: matrix("obs", od)?,
            obs_mask,
            state_mean: Array1::from(vals("state_mean")?),
            state_std: Array1::from(vals("state_std")?),
            obs_mean: opt_vec("obs_mean", od)?,
            obs_std: opt_vec("obs_std", od)?,
            eof,
            grid,
            state_layout,
            obs_layout,
            sources,
        })
    }

    /// Indices of the samples in `split`.
    pub fn indices(&self, split: Split) -> Vec<usize> {
        (0..self.split.len()).filter(|&i| self.split[i] == split).collect()
    }

    /// `(state - state_mean) / state_std`.
    pub fn normalised_state(&self) -> Array2<f64> {
        (&self.state - &self.state_mean) / &self.state_std
    }

    /// `(obs - obs_mean) / obs_std`, 0 where masked.
    pub fn normalised_obs(&self) -> Array2<f64> {
        let mut z = (&self.obs - &self.obs_mean) / &self.obs_std;
        z.zip_mut_with(&self.obs_mask, |v, &m| {
            if m == 0 {
                *v = 0.0;
            }
        });
        z
    }
}

/// Rows read per call, so that no second copy of the states is held while loading.
const LOAD_ROWS_BYTES: usize = 64 << 20;

/// The states file `dataset.nc` (`f`) records, opened and checked against that record.
fn open_states(f: &NcFile) -> Result<StatesReader> {
    let path = f.path();
    let missing = |a: &str| Error::input(path, format!("global attribute `{a}` is missing; expected in a dataset.nc written by contrada ingest"));
    let file = f.attr_str(None, "states_file").ok_or_else(|| missing("states_file"))?;
    if file.contains(['/', '\\']) {
        return Err(Error::input(path, format!("global attribute `states_file` is {file:?}; expected a file name beside it")));
    }
    let record = StatesRecord {
        rows: f.dim_len("sample")?,
        cols: f.dim_len("state_dim")?,
        bytes: f.attr_f64s(None, "states_file_bytes").and_then(|v| v.first().copied()).ok_or_else(|| missing("states_file_bytes"))? as u64,
        xxh3_128: f.attr_str(None, "states_file_xxh3_128").ok_or_else(|| missing("states_file_xxh3_128"))?,
        file,
    };
    StatesReader::open(&path.with_file_name(&record.file), &record)
}

/// The state rows from the states file `f` records, `n × sd`.
fn read_states(f: &NcFile, n: usize, sd: usize) -> Result<Array2<f64>> {
    let mut reader = open_states(f)?;
    let mut state = Array2::zeros((n, sd));
    let rows = (LOAD_ROWS_BYTES / (8 * sd.max(1))).max(1);
    for mut chunk in state.axis_chunks_iter_mut(ndarray::Axis(0), rows) {
        reader.read_rows(chunk.as_slice_mut().expect("rows of a standard-layout array are contiguous"))?;
    }
    reader.finish()?;
    Ok(state)
}

fn flag_names(f: &NcFile, var: &str) -> Vec<String> {
    f.attr_str(Some(var), "flag_meanings").unwrap_or_default().split_whitespace().map(String::from).collect()
}

fn read_grid(f: &NcFile) -> Result<Vec<GridVariable>> {
    let a = |k: usize, what: &str| f.attr_str(Some("state_variable"), &format!("var{k}_{what}")).unwrap_or_default();
    Ok(flag_names(f, "state_variable")
        .into_iter()
        .enumerate()
        .map(|(k, name)| GridVariable {
            name,
            units: a(k, "units"),
            long_name: a(k, "long_name"),
            level_dim: Some(a(k, "level_dim")).filter(|s| !s.is_empty()),
            point_dims: a(k, "point_dims").split_whitespace().map(String::from).collect(),
            point_shape: f.attr_f64s(Some("state_variable"), &format!("var{k}_point_shape")).unwrap_or_default().into_iter().map(|v| v as usize).collect(),
        })
        .collect())
}

fn read_obs_layout(f: &NcFile) -> Result<(ObsLayout, Vec<SourceMeta>)> {
    let vals = |name: &str| f.read_values(name);
    let ints = |name: &str| -> Result<Vec<i32>> { Ok(vals(name)?.into_iter().map(|v| v as i32).collect()) };
    let source_names = flag_names(f, "obs_source");
    let variable_names = flag_names(f, "obs_variable");
    let variable_units = (0..variable_names.len()).map(|k| f.attr_str(Some("obs_variable"), &format!("var{k}_units")).unwrap_or_default()).collect();
    let sa = |k: usize, what: &str| f.attr_str(Some("obs_source"), &format!("src{k}_{what}")).unwrap_or_default();
    let sources = source_names
        .iter()
        .enumerate()
        .map(|(k, name)| SourceMeta {
            name: name.clone(),
            kind: sa(k, "kind"),
            files: sa(k, "files").lines().map(String::from).collect(),
            pairing: sa(k, "pairing"),
        })
        .collect();
    let layout = ObsLayout {
        source: ints("obs_source")?,
        variable: ints("obs_variable")?,
        index: vals("obs_index")?.into_iter().map(|v| v as i64).collect(),
        x: vals("obs_x")?,
        y: vals("obs_y")?,
        time_offset: vals("obs_time_offset")?,
        error_std: vals("obs_error_std")?,
        source_names,
        variable_names,
        variable_units,
    };
    Ok((layout, sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_beyond_int32_is_an_error_naming_the_variable() {
        let path = Path::new("dataset.nc");
        assert_eq!(int32s(path, "state_index", &[0, i32::MAX as i64]).unwrap(), vec![0, i32::MAX]);
        let e = int32s(path, "obs_index", &[1, i32::MAX as i64 + 1]).unwrap_err().to_string();
        assert!(e.contains("`obs_index`") && e.contains("2147483648"), "{e}");
    }
}
