//! Verification scores for analyses and ensembles, one definition used by every stage and report.

pub mod scores;

pub use scores::{EnsembleScores, bias, crps_fair, member_mean, member_std, rank_chi2, rank_histogram, rmse, spread};
