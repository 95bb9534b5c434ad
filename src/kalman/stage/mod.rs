//! The `baseline` pipeline stage, single-analysis mode: a prior ensemble and observations in, the
//! analysis out, with the output convention of the `assimilate` stage (read by `evaluate`):
//! `analysis_<method>.nc` holds the analysis ensemble in the prior's layout (same dimensions and
//! variables, so a model can restart from it) plus the fields `<var>_mean`, `<var>_spread` and
//! `<var>_increment` on the state grid; `diagnostics_<method>.json` holds the innovation
//! statistics and the wall time.
//!
//! Inputs: `prior` (NetCDF with the analysed variables along a member dimension), `observations`
//! (see [`crate::kalman::io::obs_file`]) and, for EnOI and the hybrid filters, `static` (an
//! ensemble of archive states in the prior's layout). The scheme and its tuning come from the
//! `[baseline]` section, which the stage's options override ([`options`]; `docs/baselines.md`
//! lists them). A gridded prior ([`gridded`]) takes gridded, point, station or drifter
//! observations; with `obs_operator = "drifters"` and no `variable` the prior is the Lagrangian
//! flow's states file and the observations are its drifter trajectories (see [`drifter`]; the
//! analysis then has the layout of the `assimilate` stage's). What both share is in [`output`].

pub mod drifter;
pub mod gridded;
pub mod options;
pub mod output;

use crate::error::{Error, Result};
use crate::kalman::BaselineConfig;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext};
use options::{BaselineOptions, OperatorKind};

/// The `baseline` stage.
pub struct BaselineStage;

fn parse_options(spec: &StageSpec) -> Result<BaselineOptions> {
    let value = toml::Value::Table(spec.options.clone());
    serde_path_to_error::deserialize::<_, BaselineOptions>(value)
        .map_err(|e| Error::config("pipeline file", format!("pipeline.stages.{}.options.{}", spec.name, e.path()), e.inner().to_string()))
}

impl Stage for BaselineStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["baseline", "io", "run.seed"]
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        parse_options(spec)?.check(&format!("pipeline.stages.{}.options", spec.name))?;
        for input in ["prior", "observations"] {
            if !spec.inputs.contains_key(input) {
                return Err(Error::config("pipeline file", format!("pipeline.stages.{}.inputs.{input}", spec.name), "this input is required"));
            }
        }
        if let Some(known) = spec.inputs.keys().find(|k| !["prior", "observations", "static"].contains(&k.as_str())) {
            return Err(Error::config(
                "pipeline file",
                format!("pipeline.stages.{}.inputs.{known}", spec.name),
                "unknown input; allowed: prior, observations, static",
            ));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let options: BaselineOptions = ctx.options()?;
        let options_key = format!("pipeline.stages.{}.options", ctx.spec.name);
        options.check(&options_key)?;
        let mut config: BaselineConfig = ctx.section("baseline")?;
        options.apply(&mut config);
        // The options may combine with the section into something neither says alone (a hybrid
        // weight with the enoi method): the first problem names the stage option of the key's name.
        let mut problems = crate::config::Problems::default();
        config.validate(&mut problems);
        if let Some((key, why)) = problems.0.into_iter().next() {
            let option = key.rsplit('.').next().unwrap_or(&key);
            return Err(Error::config("pipeline file", format!("{options_key}.{option}"), why));
        }
        match options.obs_operator {
            OperatorKind::Auto => gridded::run(ctx, &options, &config, &options_key),
            OperatorKind::Drifters if options.gridded_drifters() => gridded::run(ctx, &options, &config, &options_key),
            OperatorKind::Drifters => drifter::run(ctx, &options, &config, &options_key),
        }
    }
}
