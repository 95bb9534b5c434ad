//! `evaluate`: every method side by side. Scores each analysis (and the bank, as the
//! climatological baseline) against the truth of an OSSE window — RMSE, bias, spread,
//! spread/skill, fair CRPS, rank histograms, effective sample size, retrieval recall, wall time and
//! memory — and writes `scores.json`, `scores.csv`, a Markdown and a self-contained HTML report,
//! and the PNG plots they show.
//!
//! The same [`evaluate`] serves the `evaluate` pipeline stage and `contrada evaluate`.
//!
//! - [`config`]: options and input names;
//! - [`scoring`]: reading truth, bank and analyses, and scoring them with [`crate::metrics`];
//! - [`sidecar`]: diagnostics, recall, training metrics and drifter tracks;
//! - [`report`]: the files written;
//! - [`stage`]: the pipeline stage.

pub mod config;
pub mod report;
pub mod scoring;
pub mod sidecar;
pub mod stage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::json;

use crate::error::{Error, Result};
use config::{ANALYSIS_PREFIX, BANK, EvaluateOptions, OBSERVATIONS, RECALL, TRAINING, TRUTH, check_inputs};
use scoring::NearObservations;
use sidecar::{Recall, TrainingCurves, read_positions, track_lines};

/// Scores the inputs (named as in a pipeline file: `truth`, `bank`, `analysis*`, `observations`,
/// `training`, `recall`) and writes the report into `out`, an existing (staging) directory. Every
/// input is read and checked before the first file is written. Returns a summary for the manifest.
pub fn evaluate(inputs: &BTreeMap<String, PathBuf>, opts: &EvaluateOptions, window: Option<NaiveDate>, seed: u64, out: &Path) -> Result<serde_json::Value> {
    let t0 = std::time::Instant::now();
    check_inputs(inputs.keys().map(String::as_str), "inputs", "evaluate")?;
    if let Some((key, path)) = inputs.iter().find(|(_, p)| !p.is_file()) {
        return Err(Error::input(path, format!("input `{key}`: file not found")));
    }
    let recall = inputs.get(RECALL).map(|p| Recall::read(p)).transpose()?;
    let training = inputs.get(TRAINING).map(|p| TrainingCurves::read(p)).transpose()?;
    let observed = inputs.get(OBSERVATIONS).map(|p| read_positions(p)).transpose()?;
    let tracks = observed.as_ref().map(track_lines);
    let near = match (opts.near_observations, &observed) {
        (None, _) => None,
        (Some(_), None) => return Err(Error::config("options", "near_observations", "needs the `observations` input (the drifter tracks)")),
        (Some(radius), Some(set)) => {
            let positions = set.trajectories.iter().flat_map(|t| t.x.iter().copied().zip(t.y.iter().copied())).collect();
            Some(NearObservations { radius, period: opts.period.as_deref().map(|p| [p[0], p[1]]), positions })
        }
    };
    let analyses: Vec<(String, PathBuf)> = inputs.iter().filter(|(k, _)| k.starts_with(ANALYSIS_PREFIX)).map(|(k, p)| (k.clone(), p.clone())).collect();
    let eval = scoring::evaluate_methods(
        &inputs[TRUTH],
        inputs.get(BANK).map(PathBuf::as_path),
        &analyses,
        recall.as_ref(),
        opts,
        near.as_ref(),
        window.map(|w| w.to_string()),
        seed,
    )?;
    let files = report::write_all(out, &eval, &report::Extras { tracks: tracks.as_deref(), training: training.as_ref() })?;
    let rmse: serde_json::Map<String, serde_json::Value> = eval
        .truth
        .variables
        .iter()
        .map(|v| {
            (v.name.clone(), eval.methods.iter().map(|m| (m.name.clone(), json!(m.variables[&v.name].scores.rmse))).collect::<serde_json::Map<_, _>>().into())
        })
        .collect();
    tracing::info!("evaluate: {} method(s) on {} variable(s) in {:.1} s", eval.methods.len(), eval.truth.variables.len(), t0.elapsed().as_secs_f64());
    Ok(json!({
        "report": report::REPORT_HTML,
        "methods": eval.methods.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        "variables": eval.truth.variables.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        "truth_time": eval.truth.time,
        "rmse": rmse,
        "files": files,
        "seconds": t0.elapsed().as_secs_f64(),
    }))
}
