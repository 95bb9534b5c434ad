//! The quality-control summary, `qc.json` in the stage outputs: counts per reason for the states,
//! each observation source, the pairing, the split and the samples finally written.
//!
//! The checks themselves happen where the data are read (fill values, NaN and `valid_range` in
//! the CF reader; configured limits, duplicate and out-of-order times, positions outside the
//! domain in the state and observation modules); this module gathers their counts in one place.
//! Whatever quality control leaves out is also said on stderr, one warning per reason with its
//! count ([`Drops`]), and a loss beyond `ingest.qc.max_dropped_fraction` fails the run
//! ([`check_loss`]): a summary in qc.json alone goes unread.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::observations::SourceQc;
use super::pairing::PairingReport;
use super::state::StateQc;
use crate::error::{Error, Result};
use crate::pipeline::manifest::write_json;

/// File name of the summary.
pub const QC_FILE: &str = "qc.json";

/// A source's counts, named.
#[derive(Debug, Clone, Serialize)]
pub struct NamedQc {
    /// Source name.
    pub name: String,
    /// gridded, stations or trajectories.
    pub kind: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: SourceQc,
}

/// Samples (rows) by fate.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SampleCounts {
    /// Paired state times left out so that no window is in two splits.
    pub dropped_split_guard: usize,
    /// Snapshots (time × member) read for the remaining state times.
    pub snapshots_read: usize,
    /// Snapshots left out by state quality control (see `state`).
    pub dropped_state_qc: usize,
    /// Snapshots left out because no observation value survived quality control.
    pub dropped_no_observations: usize,
    /// Rows written to dataset.nc.
    pub written: usize,
    /// ...of which in the training split.
    pub train: usize,
    /// ...in the validation split.
    pub validation: usize,
    /// ...in the test split.
    pub test: usize,
}

/// Everything in qc.json.
#[derive(Debug, Clone, Serialize)]
pub struct QcSummary {
    /// The states.
    pub state: StateQc,
    /// Each observation source, in configuration order.
    pub sources: Vec<NamedQc>,
    /// Pairing of state times with observations.
    pub pairing: PairingReport,
    /// What happened to the paired samples.
    pub samples: SampleCounts,
}

impl QcSummary {
    /// Writes the summary as `dir/qc.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(QC_FILE), self)
    }
}

/// Items left out by quality control, by reason, with the files each reason occurred in: one
/// warning per reason ([`Drops::warn`]).
#[derive(Debug, Default)]
pub struct Drops(Vec<(String, usize, Vec<PathBuf>)>);

impl Drops {
    /// Counts `n` items of `file` left out for `reason`.
    pub fn add(&mut self, reason: impl Into<String>, n: usize, file: &Path) {
        if n == 0 {
            return;
        }
        let reason = reason.into();
        match self.0.iter_mut().find(|(r, ..)| *r == reason) {
            Some((_, count, files)) => {
                *count += n;
                if !files.iter().any(|f| f == file) {
                    files.push(file.to_path_buf());
                }
            }
            None => self.0.push((reason, n, vec![file.to_path_buf()])),
        }
    }

    /// Warns once per reason: `ingest: WHAT: N of TOTAL ITEMS dropped: REASON (FILES)`.
    pub fn warn(&self, what: &str, total: usize, items: &str) {
        for (reason, n, files) in &self.0 {
            tracing::warn!("ingest: {what}: {n} of {total} {items} dropped: {reason} ({})", join(files));
        }
    }

    /// The counts and their reasons, for an error message: "3: `y` not finite; 1: ...".
    pub fn summary(&self) -> String {
        self.0.iter().map(|(reason, n, _)| format!("{n}: {reason}")).collect::<Vec<_>>().join("; ")
    }
}

/// The paths, comma-separated.
pub fn join(files: &[PathBuf]) -> String {
    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Fails, naming `file`, when quality control left out more than `limit` (the configured
/// `ingest.qc.max_dropped_fraction`) of the `total` `items` of `what`; `why` says what was lost.
pub fn check_loss(what: &str, lost: usize, total: usize, items: &str, limit: f64, file: &Path, why: &str) -> Result<()> {
    if total > 0 && lost as f64 > limit * total as f64 {
        return Err(Error::input(
            file,
            format!(
                "{what}: {lost} of {total} {items} dropped by quality control ({why}), more than ingest.qc.max_dropped_fraction = {limit}; expected most of the input to be usable: fix the input, or raise the limit"
            ),
        ));
    }
    Ok(())
}
