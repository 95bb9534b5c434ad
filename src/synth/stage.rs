//! The `synth` pipeline stage and its options, shared with `contrada synth`.

use serde::{Deserialize, Serialize};

use super::config::{MAX_SAMPLES, SynthConfig};
use super::{Flow, generate};
use crate::config::Problems;
use crate::error::{Error, Result};
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext, parse_options};

/// Options of a `synth` stage: the `options` of its pipeline entry and the arguments of
/// `contrada synth` (one declaration).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SynthOptions {
    /// Which flow to generate.
    #[arg(value_enum)]
    pub flow: Flow,
    /// Number of samples (lorenz96: observation times); overrides `synth.<flow>.samples`.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub samples: Option<usize>,
    /// The generator's seed exactly as given (e.g. to reproduce a published data set such as
    /// `sample_data/`); unset, it is derived from `run.seed` and the stage name like every
    /// stage's seed, so `contrada synth` and a pipeline stage named `synth` give the same data.
    #[arg(long)]
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The `synth` pipeline stage: `kind = "synth"`, `options = { flow = "lagrangian" }`, no inputs.
pub struct SynthStage;

impl SynthStage {
    fn options(spec: &StageSpec) -> Result<SynthOptions> {
        let opts: SynthOptions = parse_options(spec)?;
        if let Some(n) = opts.samples {
            let mut p = Problems::default();
            p.range(&format!("pipeline.stages.{}.options.samples", spec.name), n, 1, MAX_SAMPLES);
            if let Some((key, message)) = p.0.into_iter().next() {
                return Err(Error::config("pipeline file", key, message));
            }
        }
        Ok(opts)
    }
}

impl Stage for SynthStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["synth", "io"]
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        Self::options(spec)?;
        if let Some(name) = spec.inputs.keys().next() {
            return Err(Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{name}", spec.name), "a synth stage takes no inputs"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let opts = Self::options(ctx.spec)?;
        let mut synth: SynthConfig = ctx.section("synth")?;
        if let Some(n) = opts.samples {
            match opts.flow {
                Flow::Lagrangian => synth.lagrangian.samples = n,
                Flow::Gaussian => synth.gaussian.samples = n,
                Flow::Lorenz96 => synth.lorenz96.samples = n,
                Flow::Qg => synth.qg.samples = n,
            }
        }
        generate(opts.flow, &synth, &ctx.section("io")?, opts.seed.unwrap_or(ctx.seed), ctx.out)
    }
}
