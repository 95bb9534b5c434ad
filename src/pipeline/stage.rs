//! What a pipeline stage is: the [`Stage`] trait every stage kind implements and the
//! [`StageContext`] it runs in. The registry that maps kinds to implementations lives on top, in
//! [`crate::app`]; stages depend on this module only, never on each other or on the registry.
//!
//! A stage reads its named inputs (files), writes every output into the staging directory it is
//! given and returns a short JSON summary for the manifest. It receives only the configuration
//! sections it declares ([`Stage::config_sections`]), so what it can read is exactly what enters
//! its fingerprint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::pipeline::checkpoint::CheckpointDir;
use crate::pipeline::spec::StageSpec;

/// The configuration a stage receives: the values of the dotted keys it declared (`"ingest"`,
/// `"run.backend"`), as JSON so that the stage layer need not know the aggregate's type.
pub type Sections = serde_json::Map<String, serde_json::Value>;

/// Everything a stage run may use.
pub struct StageContext<'a> {
    /// The configuration sections the stage declared, and nothing else (see [`StageContext::section`]).
    pub sections: &'a Sections,
    /// This stage's entry in the pipeline file.
    pub spec: &'a StageSpec,
    /// Named inputs resolved to paths that exist.
    pub inputs: BTreeMap<String, PathBuf>,
    /// Staging directory: write every output here (it is renamed into place on success).
    pub out: &'a Path,
    /// The date window of this run, for windowed stages.
    pub window: Option<NaiveDate>,
    /// Seed for this stage, derived from `run.seed` and the stage name.
    pub seed: u64,
    /// Where a long stage may checkpoint work that a rerun after a kill resumes from; None
    /// outside a pipeline run.
    pub checkpoint: Option<&'a CheckpointDir>,
    /// Where a stage may keep caches that outlive one run and are keyed by content (e.g. the
    /// codes of an assimilation bank, shared by every window): `RUN_DIR/.cache` in a pipeline,
    /// None outside one. Never an output: deleting it only costs recomputation.
    pub cache_dir: Option<&'a Path>,
}

/// One kind of pipeline stage.
pub trait Stage {
    /// Configuration keys whose values change this stage's outputs: whole sections (`"ingest"`) or
    /// dotted keys (`"run.backend"`). The stage receives exactly these and they enter its
    /// fingerprint, so editing anything else (the run directory, another section) does not rerun it.
    fn config_sections(&self) -> &'static [&'static str];
    /// Version of the layout of this stage's outputs, part of its fingerprint: raising it when a
    /// format changes reruns the stage in existing run directories instead of leaving outputs
    /// that later stages can no longer read.
    fn output_format(&self) -> u32 {
        1
    }
    /// Whether outputs are per date window (`--window`), e.g. a daily analysis.
    fn windowed(&self) -> bool {
        false
    }
    /// Checks the stage's options and inputs before anything runs (unknown keys, missing inputs).
    fn check(&self, spec: &StageSpec) -> Result<()>;
    /// Runs the stage; returns a JSON summary stored in the manifest.
    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value>;
}

/// Parses the `options` table of `spec` into a kind's typed options (also usable from
/// [`Stage::check`], before any stage runs); errors name the offending key.
pub fn parse_options<T: DeserializeOwned>(spec: &StageSpec) -> Result<T> {
    let value = toml::Value::Table(spec.options.clone());
    serde_path_to_error::deserialize::<_, T>(value)
        .map_err(|e| Error::config("pipeline file", format!("pipeline.stages.{}.options.{}", spec.name, e.path()), e.inner().to_string()))
}

impl StageContext<'_> {
    /// The declared configuration key `key` as its typed section, e.g.
    /// `ctx.section::<IngestConfig>("ingest")`.
    pub fn section<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let value = self
            .sections
            .get(key)
            .ok_or_else(|| Error::Other(format!("stage `{}` reads configuration `{key}` without declaring it in config_sections", self.spec.kind)))?;
        serde_json::from_value(value.clone()).map_err(|e| Error::Other(format!("configuration `{key}`: {e}")))
    }

    /// Parses this stage's `options` table into the kind's typed options, rejecting unknown keys
    /// with an error that names the key.
    pub fn options<T: DeserializeOwned>(&self) -> Result<T> {
        parse_options(self.spec)
    }

    /// The files of input `name`: the one file, or every file its pattern matched (`name.0`,
    /// `name.1`, ... in order); a configuration error naming the key when it is absent.
    pub fn input_files(&self, name: &str) -> Result<Vec<PathBuf>> {
        input_files(&self.inputs, name)
            .ok_or_else(|| Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{name}", self.spec.name), "this input is required"))
    }

    /// The input called `name`, or a configuration error naming the missing key.
    pub fn input(&self, name: &str) -> Result<&Path> {
        self.inputs
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{name}", self.spec.name), "this input is required"))
    }
}

/// The files of input `name` in `inputs` (see [`StageContext::input_files`]); None when absent.
pub fn input_files(inputs: &BTreeMap<String, PathBuf>, name: &str) -> Option<Vec<PathBuf>> {
    if let Some(p) = inputs.get(name) {
        return Some(vec![p.clone()]);
    }
    let prefix = format!("{name}.");
    let mut numbered: Vec<(usize, PathBuf)> =
        inputs.iter().filter_map(|(k, p)| k.strip_prefix(&prefix)?.parse::<usize>().ok().map(|i| (i, p.clone()))).collect();
    numbered.sort();
    (!numbered.is_empty()).then(|| numbered.into_iter().map(|(_, p)| p).collect())
}
