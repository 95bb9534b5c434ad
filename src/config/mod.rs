//! Typed configuration and its layered loading.
//!
//! Layers, lowest to highest precedence: the built-in `configs/default.toml`, the pipeline file,
//! environment variables `CONTRADA__SECTION__KEY`, and command-line overrides. Every layer is checked
//! on its own for unknown keys (so the error names the file or variable that introduced it), then the
//! merged result is deserialised into [`Config`] and range-checked (errors name the layer that set
//! the offending value).

mod layers;
mod train;
mod validate;

pub use layers::{load, Layers, Resolved};
pub use train::{Schedule, TrainConfig};
pub use validate::Problems;

use serde::{Deserialize, Serialize};

use crate::pipeline::spec::PipelineSpec;

/// The fully resolved configuration of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Settings that apply to the whole run.
    pub run: RunConfig,
    /// NetCDF output settings.
    pub io: IoConfig,
    /// Synthetic data (OSSE) generators.
    pub synth: crate::synth::config::SynthConfig,
    /// Ensemble Kalman baselines.
    pub baseline: crate::kalman::BaselineConfig,
    /// The contrastive model and its training.
    pub train: TrainConfig,
    /// The `ingest` stage: states and observations in, paired and normalised training data out.
    pub ingest: crate::ingest::config::IngestConfig,
    /// The stages of the pipeline (only set by pipeline files).
    pub pipeline: PipelineSpec,
}

/// Which burn backend the learning stages use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum BackendChoice {
    /// wgpu when a hardware adapter exists, the CPU backend otherwise.
    #[default]
    Auto,
    /// Force wgpu (on CPU-only machines: Mesa's software Vulkan driver).
    Wgpu,
    /// Force the CPU backend.
    Cpu,
}

/// Implements `TryFrom<String>` for a `clap::ValueEnum` configuration choice, so that a bad value
/// is reported with the allowed ones (the config crate's own enum errors do not list them).
/// Use with `#[serde(try_from = "String")]` on the enum.
#[macro_export]
macro_rules! choice_from_string {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $crate::config::parse_choice(&s)
            }
        }
    };
}

choice_from_string!(BackendChoice);

/// Parses a choice case-insensitively; the error lists the allowed values.
pub fn parse_choice<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, true).map_err(|_| {
        let allowed: Vec<String> = T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect();
        format!("unknown value `{s}`; allowed: {}", allowed.join(", "))
    })
}

/// The `[run]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Directory that holds the stages' outputs and manifests. Empty: `runs/<pipeline name>`.
    pub run_dir: String,
    /// Master seed; every stage derives its own seed from this and its name.
    pub seed: u64,
    /// Learning backend.
    pub backend: BackendChoice,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { run_dir: String::new(), seed: 20_250_530, backend: BackendChoice::Auto }
    }
}

/// The `[io]` section: how NetCDF outputs are written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IoConfig {
    /// zlib deflate level for every output variable, 0 (off) to 9.
    pub deflate_level: i32,
    /// Byte-shuffle filter before deflate (helps floating-point fields).
    pub shuffle: bool,
    /// Value of the `institution` global attribute.
    pub institution: String,
}

impl Default for IoConfig {
    fn default() -> Self {
        IoConfig { deflate_level: 4, shuffle: true, institution: String::new() }
    }
}

impl Config {
    /// Range checks on every section; each problem names its dotted key and what is allowed.
    pub fn validate(&self, p: &mut Problems) {
        p.range("io.deflate_level", self.io.deflate_level, 0, 9);
        self.synth.validate(p);
        self.baseline.validate(p);
        self.train.validate(p);
        self.pipeline.validate(p);
        self.ingest.validate(p);
        for (i, stage) in self.pipeline.stages.iter().enumerate().filter(|(_, s)| s.kind == "ingest") {
            self.ingest.require(p);
            for input in self.ingest.input_names() {
                p.check(
                    stage.inputs.contains_key(&input),
                    format!("pipeline.stages[{i}].inputs.{input}"),
                    format!("stage `{}` needs input `{input}` (named in [ingest]): a file path or pattern", stage.name),
                );
            }
        }
    }
}
