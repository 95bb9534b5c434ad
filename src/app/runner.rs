//! Runs a pipeline's stages in order inside a locked run directory.
//!
//! For each stage: resolve and hash its inputs, compute its fingerprint, skip it when a complete
//! manifest with the same fingerprint and intact outputs exists, otherwise run it into a staging
//! directory and publish outputs plus manifest with one rename. A stage may checkpoint its work
//! in a checkpoint directory tied to the fingerprint ([`crate::pipeline::checkpoint`]), which
//! survives a killed run and is removed once the outputs are published.
//!
//! The fingerprint depends on what the stage computes from, never on where things are: the run
//! directory and the paths of inputs stay out of it (inputs enter by name and content hash), so
//! a run directory copied elsewhere, or named explicitly with `--run-dir`, reruns nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use serde_json::json;

use super::config::Config;
use super::registry::stage_for;
use crate::error::{Error, Result};
use crate::pipeline::checkpoint::CheckpointDir;
use crate::pipeline::hash::{derive_seed, file_sha256, sha256};
use crate::pipeline::lock::RunLock;
use crate::pipeline::manifest::{self, FileRecord, MANIFEST, Manifest, RUN_RECORD, RunRecord, StageOutcome};
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Sections, Stage, StageContext};
use crate::pipeline::staging::{Staging, remove_stale};

/// What to run and where.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run directory (holds the lock, the manifests and the outputs).
    pub run_dir: PathBuf,
    /// Date window for windowed stages.
    pub window: Option<NaiveDate>,
    /// Run only this stage (its inputs from earlier stages must exist).
    pub only_stage: Option<String>,
    /// Rerun stages even when they are already done.
    pub force: bool,
    /// The pipeline file, named in errors about its keys (empty: "pipeline file").
    pub pipeline_file: PathBuf,
}

/// The run directory a configuration asks for: `run.run_dir`, or `runs/<pipeline name>`.
pub fn default_run_dir(config: &Config) -> PathBuf {
    if config.run.run_dir.is_empty() { Path::new("runs").join(&config.pipeline.name) } else { PathBuf::from(&config.run.run_dir) }
}

/// Runs the pipeline; returns each stage's outcome. Stops at the first failing stage.
pub fn run(config: &Config, opts: &RunOptions) -> Result<Vec<StageOutcome>> {
    run_stages(config, opts).map_err(|e| e.in_pipeline(&opts.pipeline_file))
}

fn run_stages(config: &Config, opts: &RunOptions) -> Result<Vec<StageOutcome>> {
    let stages = &config.pipeline.stages;
    if stages.is_empty() {
        return Err(Error::config("pipeline file", "pipeline.stages", "the pipeline has no stages"));
    }
    if let Some(only) = &opts.only_stage
        && !stages.iter().any(|s| &s.name == only)
    {
        let names: Vec<_> = stages.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::Usage(format!("--stage {only}: no such stage; stages: {}", names.join(", "))));
    }
    // Every stage is checked before any runs: a typo in the last stage fails in seconds, not hours.
    let impls: Vec<Box<dyn Stage>> = stages.iter().map(|s| stage_for(&s.kind)).collect::<Result<_>>()?;
    for (spec, stage) in stages.iter().zip(&impls) {
        stage.check(spec)?;
    }
    // So are the files the stages read from outside the run: a missing input of the last stage
    // must not cost the run of the others (nor leave their outputs behind as if it had worked).
    for spec in stages.iter().filter(|s| opts.only_stage.as_ref().is_none_or(|only| only == &s.name)) {
        for (name, value) in spec.inputs.iter().filter(|(_, v)| !v.starts_with("stage:")) {
            expand_input(name, Path::new(value), &input_context(spec, name))?;
        }
    }

    let _lock = RunLock::acquire(&opts.run_dir)?;
    let stale = remove_stale(&opts.run_dir)?;
    if stale > 0 {
        tracing::info!("removed {stale} staging director{} left by an interrupted run", if stale == 1 { "y" } else { "ies" });
    }
    let mut record = RunRecord { pipeline: config.pipeline.name.clone(), window: opts.window.map(|w| w.to_string()), started: now(), stages: Vec::new() };
    let record_path = opts.run_dir.join(RUN_RECORD);
    // Written before any stage runs: `contrada status` shows the run under way, and the file's
    // blocks can take the record of a failure even when the disk has filled up meanwhile.
    manifest::write_json(&record_path, &record)?;
    for (spec, stage) in stages.iter().zip(&impls) {
        if opts.only_stage.as_ref().is_some_and(|only| only != &spec.name) {
            continue;
        }
        let t0 = Instant::now();
        let result = run_stage(config, opts, spec, stage.as_ref()).map_err(|e| e.in_pipeline(&opts.pipeline_file));
        let (status, message) = match &result {
            Ok(true) => ("done", None),
            Ok(false) => ("skipped", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        record.stages.push(StageOutcome { stage: spec.name.clone(), status: status.into(), elapsed_s: t0.elapsed().as_secs_f64(), message });
        let recorded = manifest::write_json(&record_path, &record);
        if let Err(e) = result {
            // The stage's error is what the user must see; a full disk may also stop the record.
            if let Err(write_error) = recorded.or_else(|_| manifest::overwrite_json_in_place(&record_path, &record)) {
                tracing::warn!("could not record the failure of stage {} in {}: {write_error}", spec.name, record_path.display());
            }
            return Err(Error::Stage { stage: spec.name.clone(), source: Box::new(e) });
        }
        recorded?;
    }
    Ok(record.stages)
}

/// Output directory of a stage: `RUN_DIR/NAME`, or `RUN_DIR/NAME/WINDOW` for windowed stages.
pub fn stage_dir(run_dir: &Path, spec: &StageSpec, stage: &dyn Stage, window: Option<NaiveDate>) -> PathBuf {
    let dir = run_dir.join(&spec.name);
    if stage.windowed() { dir.join(window.map_or_else(|| "all".to_string(), |w| w.to_string())) } else { dir }
}

/// The fingerprint of a stage run: a hash of the stage's name, kind and options, the configuration
/// keys it declares (`sections`, see [`Config::sections`]), the content hash of each named input,
/// its seed and window, the contrada version and the stage's output format.
pub fn stage_fingerprint(
    spec: &StageSpec,
    stage: &dyn Stage,
    sections: &Sections,
    input_hashes: &BTreeMap<String, String>,
    seed: u64,
    window: Option<NaiveDate>,
) -> String {
    sha256(
        json!({
            "name": spec.name, "kind": spec.kind, "options": spec.options, "config": sections,
            "inputs": input_hashes, "seed": seed, "window": window.map(|w| w.to_string()),
            "version": env!("CARGO_PKG_VERSION"), "output_format": stage.output_format(),
        })
        .to_string()
        .as_bytes(),
    )
}

/// Runs one stage unless already done; returns whether it ran.
fn run_stage(config: &Config, opts: &RunOptions, spec: &StageSpec, stage: &dyn Stage) -> Result<bool> {
    let window = if stage.windowed() { opts.window } else { None };
    let out_dir = stage_dir(&opts.run_dir, spec, stage, window);
    let inputs = resolve_inputs(config, opts, spec)?;
    let input_records = inputs
        .iter()
        .map(|(name, path)| {
            let (sha256, bytes) = file_sha256(path)?;
            Ok(FileRecord { name: name.clone(), path: path.display().to_string(), sha256, bytes })
        })
        .collect::<Result<Vec<_>>>()?;
    let seed = derive_seed(config.run.seed, &spec.name);
    let sections = config.sections(stage.config_sections())?;
    let hashes = input_records.iter().map(|r| (r.name.clone(), r.sha256.clone())).collect();
    let fingerprint = stage_fingerprint(spec, stage, &sections, &hashes, seed, window);

    if !opts.force && is_current(&out_dir, &fingerprint) {
        tracing::info!("stage {}: already done ({})", spec.name, out_dir.display());
        return Ok(false);
    }
    tracing::info!("stage {} ({}): running", spec.name, spec.kind);
    let started = now();
    let t0 = Instant::now();
    // Checkpoints of a killed run with the same fingerprint are kept for the stage to resume from.
    let checkpoint = CheckpointDir::for_stage(&out_dir, &fingerprint, opts.force)?;
    let staging = Staging::new(&out_dir)?;
    let cache_dir = opts.run_dir.join(".cache");
    let ctx = StageContext { sections: &sections, spec, inputs, out: staging.path(), window, seed, checkpoint: Some(&checkpoint), cache_dir: Some(&cache_dir) };
    let summary = stage.run(&ctx)?;
    let outputs = output_records(staging.path())?;
    let manifest = Manifest {
        stage: spec.name.clone(),
        kind: spec.kind.clone(),
        status: "complete".into(),
        fingerprint,
        window: window.map(|w| w.to_string()),
        inputs: input_records,
        outputs,
        config: serde_json::Value::Object(sections.clone()),
        seed,
        contrada_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: crate::GIT_REVISION.into(),
        started,
        finished: now(),
        elapsed_s: t0.elapsed().as_secs_f64(),
        summary,
    };
    manifest::write_json(&staging.path().join(MANIFEST), &manifest)?;
    staging.commit_dir()?;
    checkpoint.remove()?;
    tracing::info!("stage {}: done in {:.1} s -> {}", spec.name, manifest.elapsed_s, out_dir.display());
    Ok(true)
}

/// Maps each named input to a path that exists; `stage:NAME/FILE` points into this run. A value
/// with a file pattern (`*`, `?`, `[...]`) expands to every matching file, in sorted order, under
/// the keys `NAME.0`, `NAME.1`, ... (see [`expand_input`]), so each file is hashed in the manifest.
fn resolve_inputs(config: &Config, opts: &RunOptions, spec: &StageSpec) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for (name, value) in &spec.inputs {
        let path = match value.strip_prefix("stage:").and_then(|r| r.split_once('/')) {
            Some((from, file)) => {
                let from_spec = config.pipeline.stages.iter().find(|s| s.name == from).expect("validated at load");
                let from_stage = stage_for(&from_spec.kind)?;
                stage_dir(&opts.run_dir, from_spec, from_stage.as_ref(), opts.window).join(file)
            }
            None => PathBuf::from(value),
        };
        out.extend(expand_input(name, &path, &input_context(spec, name))?);
    }
    Ok(out)
}

/// How errors name input `name` of stage `spec`.
fn input_context(spec: &StageSpec, name: &str) -> String {
    format!("input `{name}` of stage `{}` (pipeline.stages.{}.inputs.{name})", spec.name, spec.name)
}

/// The files an input names: `path` itself under the key `name` when it exists, or, when it is a
/// pattern, each match in sorted order under `name.0`, `name.1`, ... A pattern that matches no
/// file, or a path that does not exist, is an input error mentioning `context`.
pub fn expand_input(name: &str, path: &Path, context: &str) -> Result<Vec<(String, PathBuf)>> {
    let text = path.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        if !path.exists() {
            return Err(Error::input(path, format!("{context} does not exist")));
        }
        return Ok(vec![(name.to_string(), path.to_path_buf())]);
    }
    let matches = glob::glob(&text).map_err(|e| Error::input(path, format!("{context}: bad file pattern: {e}")))?;
    let mut files: Vec<PathBuf> = matches.filter_map(|m| m.ok()).filter(|p| p.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::input(path, format!("{context}: the pattern matches no file")));
    }
    Ok(files.into_iter().enumerate().map(|(i, p)| (format!("{name}.{i}"), p)).collect())
}

/// Whether `dir` holds a complete manifest with this fingerprint and every output it lists, intact.
fn is_current(dir: &Path, fingerprint: &str) -> bool {
    let Ok(m) = manifest::read_json::<Manifest>(&dir.join(MANIFEST)) else { return false };
    m.status == "complete"
        && m.fingerprint == fingerprint
        && m.outputs.iter().all(|o| file_sha256(&dir.join(&o.path)).is_ok_and(|(h, n)| h == o.sha256 && n == o.bytes))
}

fn output_records(dir: &Path) -> Result<Vec<FileRecord>> {
    let mut records = Vec::new();
    collect_outputs(dir, dir, &mut records)?;
    records.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(records)
}

fn collect_outputs(root: &Path, dir: &Path, out: &mut Vec<FileRecord>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            collect_outputs(root, &path, out)?;
        } else if path.file_name().is_some_and(|n| n != MANIFEST) {
            let rel = path.strip_prefix(root).expect("inside root").display().to_string();
            let (sha256, bytes) = file_sha256(&path)?;
            out.push(FileRecord { name: rel.clone(), path: rel, sha256, bytes });
        }
    }
    Ok(())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
