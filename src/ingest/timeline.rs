//! The ordered times of a source spread over one or more files, after quality control.
//!
//! Files of one source are concatenated in the order given (sorted names for a pattern) and their
//! times sorted. Each time is expressed in the first file's units (the files must share a
//! calendar). A time coordinate may not have missing values (CF 1.8, section 5), and two records of
//! one file at the same time are ambiguous: both are errors. The same time in two files is where
//! archives overlap (restart files written twice): the earlier file's record is kept and the other
//! left out, with a warning, as is a sort of times out of order.

use std::collections::BTreeSet;
use std::ops::Range;

use serde::Serialize;

use crate::cf::NcFile;
use crate::cf::time::TimeUnits;
use crate::error::{Error, Result};

/// One kept time: which file, which index along its time dimension, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeEntry {
    /// Index of the file in the source's file list.
    pub file: usize,
    /// Index along the file's time dimension.
    pub index: usize,
    /// The time in [`Timeline::units`].
    pub value: f64,
}

/// The kept times of a source, strictly increasing.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Units and calendar of every [`TimeEntry::value`] (those of the first file).
    pub units: TimeUnits,
    /// The kept times in order.
    pub entries: Vec<TimeEntry>,
}

/// Quality control of times: how many there were and why some were left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimeQc {
    /// Times in the files.
    pub times: usize,
    /// Missing (fill or NaN) times, left out (only where a record may lack a time: ragged stations).
    pub missing_time: usize,
    /// Times equal to a kept time of an earlier file (or, ragged stations, of the same station), left out.
    pub duplicate_time: usize,
    /// Times that sorting moved: out of order in the files, kept.
    pub out_of_order_time: usize,
}

/// The name of the time variable: `configured`, or the variable named like `time_dim`, or the
/// variable over `time_dim` alone with `standard_name = "time"` or `axis = "T"`.
pub fn time_var(file: &NcFile, time_dim: &str, configured: &str) -> Result<String> {
    if !configured.is_empty() {
        file.var_dims(configured)?;
        return Ok(configured.to_string());
    }
    if file.has_var(time_dim) {
        return Ok(time_dim.to_string());
    }
    let over_dim = |v: &String| file.var_dims(v).is_ok_and(|d| d == [time_dim]);
    file.var_names()
        .into_iter()
        .filter(over_dim)
        .find(|v| {
            file.attr_str(Some(v), "standard_name").is_some_and(|s| s == "time") || file.attr_str(Some(v), "axis").is_some_and(|s| s == "T")
        })
        .ok_or_else(|| {
            Error::input(
                file.path(),
                format!("no time variable over dimension `{time_dim}` (looked for a variable named `{time_dim}`, or with standard_name=time or axis=T); name it in the configuration (time_var)"),
            )
        })
}

/// Why a time counts as missing, for messages.
pub const MISSING_TIME: &str =
    "_FillValue, NaN, or a value no calendar decodes, such as the netCDF default fill 9.97e36 of a variable without a _FillValue attribute";

/// Builds the timeline of `files` from their time variables `vars` (one per file), sorted, with
/// the duplicates of earlier files left out (see the module notes); `tolerance` is in seconds and
/// `what` names the source in warnings ("states", "source `sst`").
pub fn build(files: &[NcFile], vars: &[String], tolerance: f64, what: &str, qc: &mut TimeQc) -> Result<Timeline> {
    let mut units: Option<TimeUnits> = None;
    let mut all: Vec<TimeEntry> = Vec::new();
    for (k, (file, var)) in files.iter().zip(vars).enumerate() {
        let (file_units, values) = file.read_time_values(var)?;
        let reference = units.get_or_insert_with(|| file_units.clone()).clone();
        if file_units.calendar != reference.calendar {
            return Err(file.var_error(
                var,
                format!(
                    "calendar `{}` differs from `{}` of {}; files of one source must share a calendar",
                    file_units.calendar,
                    reference.calendar,
                    files[0].path().display()
                ),
            ));
        }
        qc.times += values.len();
        let recoded: Vec<Option<f64>> = values.iter().map(|&raw| file_units.recode(raw, &reference)).collect();
        if let Some(i) = recoded.iter().position(Option::is_none) {
            let message = if recoded.iter().all(Option::is_none) {
                format!("every value is missing ({MISSING_TIME}); expected the time of each record")
            } else {
                format!("time value {i} is missing ({MISSING_TIME}); a time coordinate may not have missing values: expected every record's time")
            };
            return Err(file.var_error(var, message));
        }
        all.extend(recoded.into_iter().flatten().enumerate().map(|(index, value)| TimeEntry { file: k, index, value }));
    }
    let units = units.ok_or_else(|| Error::Other("a source without files".into()))?;
    let tol = tolerance / units.unit_seconds;
    let mut sorted = all.clone();
    // Stable: of equal times, the earlier file's record comes first and is the one kept.
    sorted.sort_by(|a, b| a.value.total_cmp(&b.value));
    let moved: BTreeSet<usize> = sorted.iter().zip(&all).filter(|(s, a)| s != a).map(|(s, _)| s.file).collect();
    qc.out_of_order_time += sorted.iter().zip(&all).filter(|(s, a)| s != a).count();
    let mut entries: Vec<TimeEntry> = Vec::with_capacity(sorted.len());
    let mut duplicated = BTreeSet::new();
    for e in sorted {
        match entries.last() {
            Some(last) if e.value - last.value <= tol && last.file == e.file => {
                let (a, b) = (last.index.min(e.index), last.index.max(e.index));
                return Err(files[e.file].var_error(
                    &vars[e.file],
                    format!(
                        "values {a} and {b} are the same time, {}; expected unique times, since either record could be meant (the same time in two files, where archives overlap, is fine: the earlier file's record is kept)",
                        describe(&units, e.value)
                    ),
                ));
            }
            Some(last) if e.value - last.value <= tol => {
                qc.duplicate_time += 1;
                duplicated.insert(e.file);
            }
            _ => entries.push(e),
        }
    }
    let place =
        |which: &BTreeSet<usize>| which.iter().map(|&k| format!("{} (variable `{}`)", files[k].path().display(), vars[k])).collect::<Vec<_>>().join(", ");
    if qc.duplicate_time > 0 {
        tracing::warn!(
            "ingest: {what}: {} of {} times dropped: the same time as a record of an earlier file, which is kept, in {}",
            qc.duplicate_time,
            qc.times,
            place(&duplicated)
        );
    }
    if qc.out_of_order_time > 0 {
        tracing::warn!("ingest: {what}: {} of {} times out of order in {}; sorted by time, none dropped", qc.out_of_order_time, qc.times, place(&moved));
    }
    Ok(Timeline { units, entries })
}

impl Timeline {
    /// First and last kept time, or None when no time was kept.
    pub fn span(&self) -> Option<(f64, f64)> {
        Some((self.entries.first()?.value, self.entries.last()?.value))
    }

    /// The entries with `lo <= value <= hi`.
    pub fn within(&self, lo: f64, hi: f64) -> Range<usize> {
        let a = self.entries.partition_point(|e| e.value < lo);
        let b = self.entries.partition_point(|e| e.value <= hi);
        a..b.max(a)
    }

    /// `value` as a date for messages, e.g. `2000-03-01 00:00:00 (noleap)`.
    pub fn describe(&self, value: f64) -> String {
        describe(&self.units, value)
    }
}

/// `value` in `units` as a date for messages.
pub fn describe(units: &TimeUnits, value: f64) -> String {
    match units.try_decode(value) {
        Some(t) => format!("{t} ({})", units.calendar),
        None => format!("{value} (undecodable)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::time::Calendar;

    fn timeline(values: &[f64]) -> Timeline {
        let units = TimeUnits::parse("days since 2000-01-01", Calendar::Standard).unwrap();
        Timeline { units, entries: values.iter().enumerate().map(|(i, &value)| TimeEntry { file: 0, index: i, value }).collect() }
    }

    #[test]
    fn within_includes_both_ends() {
        let t = timeline(&[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(t.within(1.0, 2.0), 1..3);
        assert_eq!(t.within(1.5, 1.7), 2..2);
        assert_eq!(t.within(-5.0, -1.0), 0..0);
        assert_eq!(t.within(3.0, 9.0), 3..4);
        assert_eq!(t.span(), Some((0.0, 3.0)));
    }
}
