//! The `ingest` pipeline stage: the glue from a stage context to [`super::run`].

use super::config::IngestConfig;
use super::{IngestInputs, dataset, run};
use crate::error::{Error, Result};
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext};

/// The `ingest` pipeline stage; everything it needs is in `[ingest]` and its inputs.
pub struct IngestStage;

impl Stage for IngestStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["ingest", "io"]
    }

    fn output_format(&self) -> u32 {
        dataset::FORMAT_VERSION as u32
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        match spec.options.keys().next() {
            Some(k) => Err(Error::config(
                "pipeline file",
                format!("pipeline.stages.{}.options.{k}", spec.name),
                "the ingest stage takes no options; configure it in [ingest]",
            )),
            None => Ok(()),
        }
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let cfg: IngestConfig = ctx.section("ingest")?;
        let inputs = IngestInputs::from_map(&cfg, &ctx.inputs, |name| {
            Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{name}", ctx.spec.name), "this input is required (named in [ingest])")
        })?;
        // An input [ingest] does not name would be ignored: a misspelt source name, or a file the
        // user believes is ingested.
        let known: Vec<&str> = std::iter::once(cfg.state.input.as_str()).chain(cfg.observations.iter().map(|o| o.input_name())).collect();
        for name in ctx.inputs.keys() {
            let base = name.rsplit_once('.').filter(|(_, i)| i.parse::<usize>().is_ok()).map_or(name.as_str(), |(b, _)| b);
            if !known.contains(&base) {
                return Err(Error::config(
                    "pipeline file",
                    format!("pipeline.stages.{}.inputs.{base}", ctx.spec.name),
                    format!("[ingest] reads no input of this name; it reads {}", known.join(", ")),
                ));
            }
        }
        run(&cfg, &ctx.section("io")?, &inputs, ctx.out, ctx.seed)
    }
}
