//! `contrada inspect`: what a NetCDF file holds, its decoded time range, and the CF problems found.

use std::fmt;
use std::path::Path;

use super::dsg::{DsgNames, read_trajectories};
use super::read::NcFile;
use crate::error::Result;

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
    /// Number of values.
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
    /// CF problems, each naming the variable.
    pub problems: Vec<String>,
}

/// Inspects `path`. Fails only when the file cannot be opened as NetCDF; everything else that is
/// wrong is listed in [`Report::problems`].
pub fn inspect(path: &Path) -> Result<Report> {
    let file = NcFile::open(path)?;
    let mut problems = Vec::new();
    let conventions = file.attr_str(None, "Conventions");
    if !conventions.as_deref().is_some_and(|c| c.contains("CF-")) {
        problems.push(format!("global attribute Conventions is {:?}; expected \"CF-1.x\"", conventions.unwrap_or_default()));
    }
    let dims = file.dims();
    let dim_names: Vec<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
    let feature = file.attr_str(None, "featureType").unwrap_or_default();
    let is_dsg = feature.eq_ignore_ascii_case("trajectory");
    let mut vars = Vec::new();
    let mut times = Vec::new();
    for name in file.var_names() {
        let info = VarInfo {
            dims: file.var_dims(&name)?,
            units: file.attr_str(Some(&name), "units"),
            standard_name: file.attr_str(Some(&name), "standard_name"),
            name: name.clone(),
        };
        let is_coord = info.dims.len() == 1 && info.dims[0] == name && dim_names.contains(&name.as_str());
        let is_time = info.standard_name.as_deref() == Some("time")
            || file.attr_str(Some(&name), "axis").as_deref() == Some("T")
            || info.units.as_deref().is_some_and(|u| u.contains(" since "));
        let is_bookkeeping = file.attr_str(Some(&name), "cf_role").is_some() || file.attr_str(Some(&name), "sample_dimension").is_some();
        if is_time {
            match time_range(&file, &name, !is_dsg) {
                Ok(r) => times.push(r),
                Err(e) => problems.push(e.to_string()),
            }
        } else if is_coord && info.units.is_none() && !is_bookkeeping {
            problems.push(format!("variable `{name}`: coordinate variable has no `units` attribute"));
        } else if !is_coord
            && !is_bookkeeping
            && let Err(e) = file.read(&name)
        {
            problems.push(e.to_string());
        }
        vars.push(info);
    }
    let trajectories = if is_dsg {
        match read_trajectories(&file, &DsgNames::default()) {
            Ok(set) => Some(TrajectoryInfo {
                layout: format!("{:?}", set.layout),
                count: set.trajectories.len(),
                observations: set.trajectories.iter().map(|t| t.time.len()).sum(),
            }),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        }
    } else {
        None
    };
    Ok(Report { path: path.display().to_string(), dims, vars, times, trajectories, problems })
}

/// Decodes a time variable's range; `monotonic` demands strictly increasing values (a grid axis).
fn time_range(file: &NcFile, name: &str, monotonic: bool) -> Result<TimeRange> {
    let units = file.time_units(name)?;
    let values: Vec<f64> = if monotonic { file.read_time(name)?.values } else { file.read(name)?.data.iter().copied().filter(|v| !v.is_nan()).collect() };
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(TimeRange {
        var: name.to_string(),
        calendar: units.calendar.name().to_string(),
        count: values.len(),
        first: decode_or_raw(&units, lo),
        last: decode_or_raw(&units, hi),
    })
}

fn decode_or_raw(units: &super::time::TimeUnits, v: f64) -> String {
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
