//! `contrada inspect`: what a NetCDF file holds, its decoded time range, and the CF problems found.
//!
//! The report is a gate (the command exits 2 when it lists any problem), so every check must be
//! free of false positives on valid CF files and every problem is listed once, naming its
//! variable. A file may declare dimensions far larger than its bytes on disk (unwritten chunks
//! cost nothing), so variables are scanned in bounded pieces; the one whole read, the assembly of
//! discrete-sampling-geometry instances, is refused up front when it would not fit in memory.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::dsg::{DsgNames, instance_ids, read_station_samples, read_trajectories};
use super::read::NcFile;
use super::time::TimeUnits;
use crate::error::{Error, Result};

/// Values read per piece when scanning a variable (8 MiB of doubles, twice: raw and masked).
const PIECE: usize = 1 << 20;
/// Bytes that assembling DSG instances holds per sample: time, x and y read whole, their row
/// indices, and the kept copies in each trajectory.
const BYTES_PER_SAMPLE: u64 = 64;
/// Bytes per instance (trajectory or station): its row, id and track.
const BYTES_PER_INSTANCE: u64 = 160;
const LATITUDE_UNITS: [&str; 6] = ["degrees_north", "degree_north", "degrees_N", "degree_N", "degreesN", "degreeN"];
const POSITION_NAMES: [&str; 6] = ["latitude", "longitude", "projection_x_coordinate", "projection_y_coordinate", "grid_latitude", "grid_longitude"];
const DSG_MARKERS: [&str; 3] = ["cf_role", "sample_dimension", "instance_dimension"];

/// One variable's description.
#[derive(Debug, Clone)]
pub struct VarInfo {
    /// Variable name.
    pub name: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// `units`, if any.
    pub units: Option<String>,
    /// `standard_name`, if any.
    pub standard_name: Option<String>,
}

/// A decoded time coordinate's range.
#[derive(Debug, Clone)]
pub struct TimeRange {
    /// Variable name.
    pub var: String,
    /// CF calendar name.
    pub calendar: String,
    /// Number of values that are set.
    pub count: usize,
    /// Earliest instant, formatted.
    pub first: String,
    /// Latest instant, formatted.
    pub last: String,
}

/// Summary of a CF DSG trajectory file.
#[derive(Debug, Clone)]
pub struct TrajectoryInfo {
    /// Layout name.
    pub layout: String,
    /// Number of trajectories.
    pub count: usize,
    /// Total observations kept (fill/padding removed).
    pub observations: usize,
}

/// What `contrada inspect` prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file.
    pub path: String,
    /// Dimensions `(name, length)`.
    pub dims: Vec<(String, usize)>,
    /// Variables.
    pub vars: Vec<VarInfo>,
    /// Decoded time coordinates.
    pub times: Vec<TimeRange>,
    /// Trajectories, for `featureType = "trajectory"` files.
    pub trajectories: Option<TrajectoryInfo>,
    /// CF problems, each naming the variable, each once.
    pub problems: Vec<String>,
}

/// Problems in the order found, without repeats: two checks may reach the same fault (the DSG
/// reader and the per-variable scan both parse a time variable's units).
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, p: String) {
        if !self.0.contains(&p) {
            self.0.push(p);
        }
    }

    /// An error's message without the file's path, which the report names once at its top.
    fn error(&mut self, e: Error) {
        self.push(match e {
            Error::Input { message, .. } => message,
            e => e.to_string(),
        });
    }
}

/// Inspects `path`. Fails when the file cannot be opened as NetCDF, or when assembling its
/// discrete sampling geometry would need more memory than is available; everything else that is
/// wrong is listed in [`Report::problems`].
pub fn inspect(path: &Path) -> Result<Report> {
    let file = NcFile::open(path)?;
    let numeric = numeric_vars(path);
    let mut problems = Problems::default();
    let conventions = file.attr_str(None, "Conventions");
    if !conventions.as_deref().is_some_and(|c| c.contains("CF-")) {
        problems.push(format!("global attribute Conventions is {:?}; expected \"CF-1.x\"", conventions.unwrap_or_default()));
    }
    let dims = file.dims();
    let mut vars = Vec::new();
    for name in file.var_names() {
        let dims = file.var_dims(&name)?;
        vars.push(VarInfo { units: file.attr_str(Some(&name), "units"), standard_name: file.attr_str(Some(&name), "standard_name"), dims, name });
    }
    let has = |v: &str, attr: &str| file.attr_str(Some(v), attr).is_some();
    let feature = file.attr_str(None, "featureType").unwrap_or_default().to_ascii_lowercase();
    if feature.is_empty()
        && let Some((v, a)) = vars.iter().find_map(|v| DSG_MARKERS.iter().find(|a| has(&v.name, a)).map(|a| (&v.name, a)))
    {
        problems.push(format!(
            "variable `{v}` has a `{a}` attribute, as in a discrete sampling geometry, but the global attribute featureType is missing; expected featureType = \"point\", \"timeSeries\", \"trajectory\", \"profile\", \"timeSeriesProfile\" or \"trajectoryProfile\""
        ));
    }
    let trajectories = dsg_checks(&file, &vars, &feature, &mut problems)?;

    let aux_coords: HashSet<String> = vars
        .iter()
        .filter_map(|v| file.attr_str(Some(&v.name), "coordinates"))
        .flat_map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    let mut times = Vec::new();
    for v in vars.iter().filter(|v| numeric.contains(&v.name)) {
        let name = v.name.as_str();
        let attr = |a: &str| file.attr_str(Some(name), a);
        let is_coord = is_coordinate(v);
        let is_time =
            v.standard_name.as_deref() == Some("time") || attr("axis").as_deref() == Some("T") || v.units.as_deref().is_some_and(|u| u.contains(" since "));
        let bookkeeping = DSG_MARKERS.iter().any(|a| attr(a).is_some());
        let is_lat = v.standard_name.as_deref() == Some("latitude") || v.units.as_deref().is_some_and(|u| LATITUDE_UNITS.contains(&u));
        let is_position = !is_time
            && !bookkeeping
            && (is_coord
                || is_lat
                || aux_coords.contains(name)
                || v.standard_name.as_deref().is_some_and(|s| POSITION_NAMES.contains(&s))
                || attr("axis").is_some_and(|a| ["X", "Y", "Z"].contains(&a.as_str())));
        let is_data = !is_time && !is_position && !bookkeeping;
        if is_coord && !is_time && !bookkeeping && v.units.is_none() {
            problems.push(format!("variable `{name}`: coordinate variable has no `units` attribute"));
        }
        if !(is_time || is_position || is_data) {
            continue;
        }
        let units = match is_time.then(|| file.time_units(name)).transpose() {
            Ok(u) => u,
            Err(e) => {
                problems.error(e);
                continue;
            }
        };
        // Only a coordinate variable orders its dimension; the observations of a point file are a
        // set, and per-observation DSG times are checked per instance in `dsg_checks`.
        let strict_time = is_time && is_coord && feature != "point";
        // A scan stops once its verdict is known: a data variable is only checked for holding
        // something, and a time axis that fails has no range to print.
        let stop = |s: &Scan| (is_data && s.valid > 0) || (strict_time && (s.missing.n > 0 || s.not_increasing.is_some()));
        let scan = match Scan::of(&file, name, is_lat, stop) {
            Ok(s) => s,
            Err(e) => {
                problems.error(e);
                continue;
            }
        };
        if is_data && scan.count > 0 && scan.valid == 0 {
            problems.push(format!("variable `{name}`: every value is missing (_FillValue, missing_value or outside valid_range); expected data"));
        }
        // CF forbids missing values in coordinate variables, and in the auxiliary coordinates of a
        // discrete sampling geometry except as the padding of a multidimensional array (9.6).
        let every_point = is_coord || (!feature.is_empty() && v.dims.len() == 1);
        let expected = if is_coord {
            "a finite value at every point of a coordinate variable"
        } else {
            "a finite value at every sample of a discrete sampling geometry (CF allows missing coordinates only as the padding of a multidimensional array)"
        };
        let located = is_position || (is_time && !strict_time);
        if located
            && every_point
            && let Some((i, x)) = scan.unset.first
        {
            problems.push(format!("variable `{name}`: {} value(s) are NaN, infinite or missing (first: index {i}, {x}); expected {expected}", scan.unset.n));
        } else if located && let Some((i, x)) = scan.non_finite.first {
            problems.push(format!(
                "variable `{name}`: {} value(s) are NaN or infinite (first: index {i}, {x}); expected finite positions and times, missing ones written as _FillValue",
                scan.non_finite.n
            ));
        }
        if let Some((i, x)) = scan.bad_latitude.first {
            problems.push(format!("variable `{name}`: {} latitude(s) outside [-90, 90] (first: index {i}, {x}); expected degrees north", scan.bad_latitude.n));
        }
        if let Some(units) = units {
            match time_range(name, &units, &scan, strict_time) {
                Ok(Some(r)) => times.push(r),
                Ok(None) => {}
                Err(p) => problems.push(p),
            }
        }
    }
    mask_checks(&file, &vars, &mut problems);
    Ok(Report { path: path.display().to_string(), dims, vars, times, trajectories, problems: problems.0 })
}

/// A coordinate variable in the CF sense: one dimension, named like it.
fn is_coordinate(v: &VarInfo) -> bool {
    v.dims.len() == 1 && v.dims[0] == v.name
}

/// Names of the variables holding numbers; text variables (station names, platform codes) are
/// valid CF and have nothing for these checks.
fn numeric_vars(path: &Path) -> HashSet<String> {
    use netcdf::types::NcVariableType as T;
    let Ok(file) = netcdf::open(path) else { return HashSet::new() };
    file.variables().filter(|v| matches!(v.vartype(), T::Int(_) | T::Float(_))).map(|v| v.name()).collect()
}

/// Trajectory and station files: assembles the instances (refused when that would not fit in
/// memory) and checks that per-observation times run forward within each instance.
fn dsg_checks(file: &NcFile, vars: &[VarInfo], feature: &str, problems: &mut Problems) -> Result<Option<TrajectoryInfo>> {
    if feature != "trajectory" && feature != "timeseries" {
        return Ok(None);
    }
    let time = file.find_var_by_attr("standard_name", "time").or_else(|| file.find_var_by_attr("axis", "T"));
    for v in vars {
        if time.as_deref() == Some(v.name.as_str()) {
            ensure_fits(file, v, BYTES_PER_SAMPLE)?;
        } else if ["cf_role", "sample_dimension"].iter().any(|a| file.attr_str(Some(&v.name), a).is_some()) {
            ensure_fits(file, v, BYTES_PER_INSTANCE)?;
        }
    }
    // A time coordinate variable (a single trajectory along `time`, stations on a shared time
    // axis) is checked as one, strictly increasing, by the per-variable scan.
    let per_obs = time.as_deref().and_then(|t| vars.iter().find(|v| v.name == t)).filter(|v| !is_coordinate(v));
    if feature == "trajectory" {
        let set = match read_trajectories(file, &DsgNames::default()) {
            Ok(set) => set,
            Err(e) => {
                problems.error(e);
                return Ok(None);
            }
        };
        if let Some(t) = per_obs {
            for tr in &set.trajectories {
                if let Some(p) = backwards(&t.name, &set.time_units, "trajectory", &tr.id, &tr.time) {
                    problems.push(p);
                }
            }
        }
        let info = TrajectoryInfo {
            layout: format!("{:?}", set.layout),
            count: set.trajectories.len(),
            observations: set.trajectories.iter().map(|t| t.time.len()).sum(),
        };
        return Ok(Some(info));
    }
    let station_dim = vars.iter().find(|v| file.attr_str(Some(&v.name), "cf_role").as_deref() == Some("timeseries_id")).and_then(|v| v.dims.first().cloned());
    if let (Some(t), Some(station_dim)) = (per_obs, station_dim) {
        match read_station_samples(file, Some(&t.name), &station_dim) {
            Ok(s) => {
                let ids = instance_ids(file, "timeseries_id", s.stations).unwrap_or_else(|| (0..s.stations).map(|i| i.to_string()).collect());
                for (row, id) in s.rows.iter().zip(ids) {
                    let times: Vec<f64> = row.iter().map(|&k| s.time[k]).filter(|x| !x.is_nan()).collect();
                    if let Some(p) = backwards(&t.name, &s.time_units, "station", &id, &times) {
                        problems.push(p);
                    }
                }
            }
            Err(e) => problems.error(e),
        }
    }
    Ok(None)
}

/// The problem when an instance's times (missing ones dropped, file order) ever decrease.
/// Equal times pass: two fixes in the same second are common in drifter archives.
fn backwards(var: &str, units: &TimeUnits, kind: &str, id: &str, times: &[f64]) -> Option<String> {
    let k = times.windows(2).position(|w| w[1] < w[0])?;
    Some(format!(
        "variable `{var}`: {kind} {id} goes back in time: its sample {} ({}) follows sample {k} ({}); expected times in order within each {kind}",
        k + 1,
        decode_or_raw(units, times[k + 1]),
        decode_or_raw(units, times[k])
    ))
}

/// Refuses a whole read of `v` (and what is built from it, `bytes_per_value` for each of its
/// values) that would not fit in memory, before allocating anything.
fn ensure_fits(file: &NcFile, v: &VarInfo, bytes_per_value: u64) -> Result<()> {
    let n = v.dims.iter().map(|d| file.dim_len(d).map(|l| l as u64)).try_fold(1u64, |acc, l| l.map(|l| acc.saturating_mul(l)))?;
    file.check_fits_in_memory(&v.name, n, n.saturating_mul(bytes_per_value))
}

/// A mask or flag variable (`flag_meanings`, a name containing "mask", or named by another
/// variable's `ancillary_variables`) must lie over dimensions that some data variable has:
/// otherwise it masks nothing, and a reader applying it would fail or apply it to the wrong axis.
fn mask_checks(file: &NcFile, vars: &[VarInfo], problems: &mut Problems) {
    let ancillary: HashSet<String> = vars
        .iter()
        .filter_map(|v| file.attr_str(Some(&v.name), "ancillary_variables"))
        .flat_map(|a| a.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    let is_mask =
        |v: &VarInfo| file.attr_str(Some(&v.name), "flag_meanings").is_some() || v.name.to_ascii_lowercase().contains("mask") || ancillary.contains(&v.name);
    for mask in vars.iter().filter(|v| is_mask(v)) {
        let fits = |d: &&VarInfo| !is_mask(d) && !is_coordinate(d) && mask.dims.iter().all(|m| d.dims.contains(m));
        if !vars.iter().any(|d| fits(&d)) {
            problems.push(format!(
                "variable `{}`: a mask over ({}) fits no data variable; expected its dimensions to be among those of a variable it masks",
                mask.name,
                mask.dims.join(", ")
            ));
        }
    }
}

/// How many values had some fault, and the first one `(flat index, value)`.
#[derive(Default)]
struct Tally {
    n: usize,
    first: Option<(usize, f64)>,
}

impl Tally {
    fn add(&mut self, i: usize, x: f64) {
        self.n += 1;
        self.first.get_or_insert((i, x));
    }
}

/// What one pass over a variable found, read in pieces of at most [`PIECE`] values.
struct Scan {
    /// Values read.
    count: usize,
    /// Values set (not masked).
    valid: usize,
    /// Least and greatest value set.
    min: f64,
    max: f64,
    /// Masked values (fill, missing_value, outside the valid range, NaN).
    missing: Tally,
    /// Stored NaN or infinity that the variable does not declare as its fill or missing value.
    non_finite: Tally,
    /// Values either missing or non-finite, each counted once.
    unset: Tally,
    /// Set values outside [-90, 90], when the variable is a latitude.
    bad_latitude: Tally,
    /// The first `(index, value, previous value)` where a value is not greater than the one before.
    not_increasing: Option<(usize, f64, f64)>,
}

impl Scan {
    /// Scans variable `name` until `stop` says the rest cannot change what matters.
    fn of(file: &NcFile, name: &str, latitude: bool, stop: impl Fn(&Scan) -> bool) -> Result<Scan> {
        let declared: Vec<f64> = ["_FillValue", "missing_value"].iter().flat_map(|a| file.attr_f64s(Some(name), a).unwrap_or_default()).collect();
        let declared_nan = declared.iter().any(|x| x.is_nan());
        let mut s = Scan {
            count: 0,
            valid: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            missing: Tally::default(),
            non_finite: Tally::default(),
            unset: Tally::default(),
            bad_latitude: Tally::default(),
            not_increasing: None,
        };
        let mut prev = f64::NAN;
        for_each_piece(file, name, |at, raw, masked| {
            for (k, (&r, &x)) in raw.iter().zip(masked).enumerate() {
                let i = at + k;
                let is_declared = if r.is_nan() { declared_nan } else { declared.contains(&r) };
                let bad = !r.is_finite() && !is_declared;
                if bad {
                    s.non_finite.add(i, r);
                }
                if bad || x.is_nan() {
                    s.unset.add(i, if bad { r } else { x });
                }
                if x.is_nan() {
                    s.missing.add(i, r);
                } else {
                    s.valid += 1;
                    s.min = s.min.min(x);
                    s.max = s.max.max(x);
                    if latitude && x.is_finite() && !(-90.0..=90.0).contains(&x) {
                        s.bad_latitude.add(i, x);
                    }
                }
                if s.not_increasing.is_none() && x <= prev {
                    s.not_increasing = Some((i, x, prev));
                }
                prev = x;
            }
            s.count += raw.len();
            !stop(&s)
        })?;
        Ok(s)
    }
}

/// Calls `f(flat index of the first value, raw values, masked values)` on consecutive row-major
/// pieces of variable `name`, each at most [`PIECE`] values, until `f` returns false. The piece
/// spans the trailing axes that fit in it, the axis before them in steps, and one index of each
/// axis further out at a time.
fn for_each_piece(file: &NcFile, name: &str, mut f: impl FnMut(usize, &[f64], &[f64]) -> bool) -> Result<()> {
    let shape: Vec<usize> = file.var_dims(name)?.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let rule = file.mask_rule(name);
    let (mut raw, mut masked) = (Vec::new(), Vec::new());
    let read = |start: &[usize], count: &[usize], raw: &mut Vec<f64>, masked: &mut Vec<f64>| -> Result<()> {
        file.read_slab_raw_into(name, start, count, raw)?;
        masked.clear();
        masked.extend_from_slice(raw);
        rule.apply_all(masked);
        Ok(())
    };
    if shape.is_empty() {
        read(&[], &[], &mut raw, &mut masked)?;
        f(0, &raw, &masked);
        return Ok(());
    }
    if shape.contains(&0) {
        return Ok(());
    }
    let split = (0..shape.len()).find(|&k| shape[k + 1..].iter().product::<usize>() <= PIECE).unwrap_or(shape.len() - 1);
    let inner: usize = shape[split + 1..].iter().product();
    let step = (PIECE / inner).max(1);
    for outer in 0..shape[..split].iter().product::<usize>() {
        let mut start = vec![0; shape.len()];
        let mut rest = outer;
        for a in (0..split).rev() {
            start[a] = rest % shape[a];
            rest /= shape[a];
        }
        let mut count = shape.clone();
        count[..split].fill(1);
        let mut s = 0;
        while s < shape[split] {
            (start[split], count[split]) = (s, step.min(shape[split] - s));
            read(&start, &count, &mut raw, &mut masked)?;
            if !f((outer * shape[split] + s) * inner, &raw, &masked) {
                return Ok(());
            }
            s += count[split];
        }
    }
    Ok(())
}

/// The decoded range of a time variable, or the problem found; `strict` (a time coordinate
/// variable) demands every value set and strictly increasing.
fn time_range(name: &str, units: &TimeUnits, scan: &Scan, strict: bool) -> std::result::Result<Option<TimeRange>, String> {
    if strict {
        if let Some((i, _)) = scan.missing.first {
            return Err(format!("variable `{name}`: time value {i} is missing; expected every time to be set"));
        }
        if let Some((i, x, prev)) = scan.not_increasing {
            return Err(format!(
                "variable `{name}`: time is not strictly increasing: value {i} ({}) follows value {} ({}); expected sorted, unique times",
                decode_or_raw(units, x),
                i - 1,
                decode_or_raw(units, prev)
            ));
        }
        if let Some(x) = [scan.min, scan.max].into_iter().find(|&x| scan.valid > 0 && units.try_decode(x).is_none()) {
            return Err(format!("variable `{name}`: time value {x} is outside the representable range"));
        }
    }
    if scan.valid == 0 {
        return Ok(None);
    }
    Ok(Some(TimeRange {
        var: name.to_string(),
        calendar: units.calendar.name().to_string(),
        count: scan.valid,
        first: decode_or_raw(units, scan.min),
        last: decode_or_raw(units, scan.max),
    }))
}

fn decode_or_raw(units: &TimeUnits, v: f64) -> String {
    units.try_decode(v).map_or_else(|| format!("{v} (not decodable)"), |t| t.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.path)?;
        writeln!(f, "dimensions:")?;
        for (name, len) in &self.dims {
            writeln!(f, "  {name} = {len}")?;
        }
        writeln!(f, "variables:")?;
        for v in &self.vars {
            let units = v.units.as_deref().map(|u| format!(" [{u}]")).unwrap_or_default();
            let sn = v.standard_name.as_deref().map(|s| format!(" standard_name={s}")).unwrap_or_default();
            writeln!(f, "  {}({}){units}{sn}", v.name, v.dims.join(", "))?;
        }
        for t in &self.times {
            writeln!(f, "time {}: {} .. {} ({} values, calendar {})", t.var, t.first, t.last, t.count, t.calendar)?;
        }
        if let Some(t) = &self.trajectories {
            writeln!(f, "trajectories: {} ({} observations, {} layout)", t.count, t.observations, t.layout)?;
        }
        if self.problems.is_empty() {
            writeln!(f, "CF problems: none found")
        } else {
            writeln!(f, "CF problems:")?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
