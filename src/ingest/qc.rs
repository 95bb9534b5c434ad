//! The quality-control summary, `qc.json` in the stage outputs: counts per reason for the states,
//! each observation source, the pairing, the split and the samples finally written.
//!
//! The checks themselves happen where the data are read (fill values, NaN and `valid_range` in
//! the CF reader; configured limits, duplicate and out-of-order times, positions outside the
//! domain in the state and observation modules); this module gathers their counts in one place.

use std::path::Path;

use serde::Serialize;

use super::observations::SourceQc;
use super::pairing::PairingReport;
use super::state::StateQc;
use crate::error::Result;
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
