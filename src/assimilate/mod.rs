//! Assimilation with the learned conditional generator: observations plus a bank of states in,
//! analysis ensemble and fields out (docs/science.md §7).
//!
//! Output convention, shared with the `baseline` stage and read by `evaluate`: per method M,
//! `analysis_M.nc` holds the analysis ensemble in the bank's layout with `member` in place of
//! `time` (e.g. `psi(member, y, x)`), the fields `<var>_mean`, `<var>_spread` (and `<var>_map`,
//! the best bank member, where the method has one), `<var>_quantile(quantile, ...)` (weighted
//! quantiles at the configured levels) and a length-1 `time` coordinate; and
//! `diagnostics_M.json` holds the method's wall time, peak memory, ESS or retrieved members.

pub mod cache;
pub mod fields;
pub mod generator;
pub mod moments;
pub mod select;
pub mod stage;
