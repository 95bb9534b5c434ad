//! The analysis-file contract shared by `assimilate` and `baseline` and read by `evaluate`: what
//! every analysis stage writes and how.
//!
//! - [`diagnostics`]: the file names `analysis_<method>.nc` / `diagnostics_<method>.json` and the
//!   typed [`diagnostics::Diagnostics`] both stages write and `evaluate` reads;
//! - [`layout`]: copying a prior file's variables and attributes into an analysis file, and the
//!   attributes of the analysis fields `<var>_<statistic>`;
//! - [`memory`]: the peak-memory probe reported in the diagnostics.

pub mod diagnostics;
pub mod layout;
pub mod memory;
