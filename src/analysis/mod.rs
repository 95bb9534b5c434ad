//! The analysis-file contract shared by `assimilate` and `baseline` and read by `evaluate`: what
//! every analysis stage writes beside its analysis. For now it holds only [`memory`], the peak
//! memory probe both stages report in their diagnostics.

pub mod memory;
