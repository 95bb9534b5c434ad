//! The `evaluate` pipeline stage: the glue from a stage context to [`super::evaluate`].

use super::config::{EvaluateOptions, check_inputs};
use super::evaluate;
use crate::error::Result;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext};

/// The `evaluate` pipeline stage: `kind = "evaluate"`, inputs `truth` and `bank` / `analysis*`
/// (plus optional `observations`, `training`, `recall`), options [`EvaluateOptions`]. Windowed:
/// it scores one window's analyses.
pub struct EvaluateStage;

impl Stage for EvaluateStage {
    fn config_sections(&self) -> &'static [&'static str] {
        // Options and inputs enter the fingerprint through the stage spec; no configuration section
        // changes the scores.
        &[]
    }

    fn windowed(&self) -> bool {
        true
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        EvaluateOptions::from_spec(spec)?;
        check_inputs(spec.inputs.keys().map(String::as_str), &format!("pipeline.stages.{}.inputs", spec.name), "pipeline file")
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let opts = EvaluateOptions::from_spec(ctx.spec)?;
        evaluate(&ctx.inputs, &opts, ctx.window, ctx.seed, ctx.out)
    }
}
