//! One stage run outside a pipeline, as the `contrada synth`, `train`, `assimilate`, `baseline`
//! and `evaluate` commands do: the stage's own checks and code, its outputs published atomically into a directory the user
//! names, and option problems reported by their command-line flags.
//!
//! A resumable run (training) checkpoints into `.OUT.checkpoint` beside the output directory, tagged
//! with the stage fingerprint a pipeline would record (options, configuration sections, input
//! hashes, seed): the same command rerun after a kill resumes, any other command starts afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::config::Config;
use super::registry::stage_for;
use super::runner::stage_fingerprint;
use crate::error::{Error, Result};
use crate::pipeline::checkpoint::CheckpointDir;
use crate::pipeline::hash::{derive_seed, file_sha256};
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::StageContext;
use crate::pipeline::staging::Staging;

/// What one standalone stage run needs besides the configuration.
pub struct StandaloneRun<'a> {
    /// Stage kind (also its name, so seeds match a pipeline stage of the same name).
    pub kind: &'a str,
    /// The stage's options, as the `options` table of a pipeline stage.
    pub options: toml::Table,
    /// Named input files.
    pub inputs: BTreeMap<String, PathBuf>,
    /// Output directory (created if needed; files of the same name are replaced).
    pub out: &'a Path,
    /// Date window of a windowed stage.
    pub window: Option<NaiveDate>,
    /// Where content-keyed caches go (e.g. an assimilation bank's codes); None: no cache.
    pub cache_dir: Option<PathBuf>,
    /// Checkpoint the work, so that the same command resumes after a kill (inputs are hashed).
    pub resumable: bool,
}

/// Runs the stage; on success its outputs are in `run.out` and the summary and the published
/// files are returned, on error nothing new is left there.
pub fn run_standalone(config: &Config, run: StandaloneRun) -> Result<(serde_json::Value, Vec<PathBuf>)> {
    let stage = stage_for(run.kind)?;
    let spec = StageSpec { name: run.kind.into(), kind: run.kind.into(), inputs: BTreeMap::new(), options: run.options };
    for (name, path) in &run.inputs {
        if !path.is_file() {
            return Err(Error::input(path, format!("--{name}: file not found")));
        }
    }
    let declared = StageSpec { inputs: run.inputs.keys().map(|k| (k.clone(), String::new())).collect(), ..spec.clone() };
    stage.check(&declared).map_err(|e| flag_names(run.kind, e))?;
    let seed = derive_seed(config.run.seed, run.kind);
    let sections = config.sections(stage.config_sections())?;
    let checkpoint = if run.resumable {
        let hashes = run.inputs.iter().map(|(name, path)| Ok((name.clone(), file_sha256(path)?.0))).collect::<Result<BTreeMap<_, _>>>()?;
        let fingerprint = stage_fingerprint(&spec, stage.as_ref(), &sections, &hashes, seed, run.window);
        Some(CheckpointDir::for_stage(run.out, &fingerprint, false)?)
    } else {
        None
    };
    let staging = Staging::new(run.out)?;
    let ctx = StageContext {
        sections: &sections,
        spec: &spec,
        inputs: run.inputs,
        out: staging.path(),
        window: run.window,
        seed,
        checkpoint: checkpoint.as_ref(),
        cache_dir: run.cache_dir.as_deref(),
    };
    // On an error the staging directory is dropped, and with it every partial output.
    let summary = stage.run(&ctx).map_err(|e| flag_names(run.kind, e))?;
    let files = staging.commit_files()?;
    if let Some(c) = checkpoint {
        c.remove()?;
    }
    Ok((summary, files))
}

/// Option and input problems named by their command-line flags
/// (`pipeline.stages.x.options.retrieve_k` -> `--retrieve-k`, `pipeline.stages.x.inputs.analysis`
/// -> `--analysis`; `--input NAME` for `ingest`, whose inputs are named by the configuration):
/// outside a pipeline there is no pipeline file to point at.
fn flag_names(kind: &str, e: Error) -> Error {
    match e {
        Error::Config { key, message, .. } if key.contains(".options.") || key.contains(".inputs.") => {
            let last = key.rsplit('.').next().unwrap_or(&key);
            let flag = last.split('[').next().unwrap_or(last).replace('_', "-");
            let flag = if kind == "ingest" && key.contains(".inputs.") { format!("input {last}") } else { flag };
            Error::Usage(format!("--{flag}: {message}"))
        }
        other => other,
    }
}
