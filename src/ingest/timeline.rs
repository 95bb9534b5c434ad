//! The ordered times of a source spread over one or more files, after quality control.
//!
//! Files of one source are concatenated in the order given (sorted names for a pattern). Each
//! time is expressed in the first file's units (the files must share a calendar); a time that is
//! missing, equal (within the tolerance) to the last kept time, or earlier than it, is left out and
//! counted: duplicate times appear where archives overlap, e.g. restart files written twice.

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
    /// Missing (fill or NaN) times.
    pub missing_time: usize,
    /// Times equal to the previous kept time.
    pub duplicate_time: usize,
    /// Times earlier than the previous kept time.
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

/// Builds the timeline of `files` from their time variables `vars` (one per file), leaving out
/// and counting missing, duplicate and out-of-order times; `tolerance` is in seconds.
pub fn build(files: &[NcFile], vars: &[String], tolerance: f64, qc: &mut TimeQc) -> Result<Timeline> {
    let mut units: Option<TimeUnits> = None;
    let mut entries: Vec<TimeEntry> = Vec::new();
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
        let tol = tolerance / reference.unit_seconds;
        qc.times += values.len();
        for (index, &raw) in values.iter().enumerate() {
            let Some(value) = file_units.recode(raw, &reference) else {
                qc.missing_time += 1;
                continue;
            };
            match entries.last() {
                Some(last) if (value - last.value).abs() <= tol => qc.duplicate_time += 1,
                Some(last) if value < last.value => qc.out_of_order_time += 1,
                _ => entries.push(TimeEntry { file: k, index, value }),
            }
        }
    }
    let units = units.ok_or_else(|| Error::Other("a source without files".into()))?;
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
