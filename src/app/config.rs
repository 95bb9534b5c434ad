//! The configuration aggregate: every section of a run, as pipeline files and `--set` write them.
//! It lives on top because it names every stage's section type; stages themselves receive only
//! the keys they declare (see [`crate::pipeline::stage::StageContext::section`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::registry::KINDS;
use crate::config::{IoConfig, Layered, Problems, Resolved, RunConfig};
use crate::error::Result;
use crate::pipeline::spec::PipelineSpec;
use crate::pipeline::stage::Sections;

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
    pub train: crate::learn::config::TrainConfig,
    /// The `ingest` stage: states and observations in, paired and normalised training data out.
    pub ingest: crate::ingest::config::IngestConfig,
    /// The stages of the pipeline (only set by pipeline files).
    pub pipeline: PipelineSpec,
}

impl Layered for Config {
    fn loaded_from(&mut self, pipeline: Option<&Path>) {
        if self.pipeline.name.is_empty()
            && let Some(stem) = pipeline.and_then(|p| p.file_stem())
        {
            self.pipeline.name = stem.to_string_lossy().into_owned();
        }
    }

    fn validate(&self, p: &mut Problems) {
        p.range("io.deflate_level", self.io.deflate_level, 0, 9);
        self.synth.validate(p);
        self.baseline.validate(p);
        self.train.validate(p);
        self.pipeline.validate(KINDS, p);
        self.ingest.validate(p);
        // Each stage's own checks (options, input names) run at load too: a problem recorded here
        // is reported with the layer that set the key, the pipeline file's path, where the stage
        // alone could only say "pipeline file".
        for stage in &self.pipeline.stages {
            if let Ok(kind) = super::registry::stage_for(&stage.kind)
                && let Err(crate::Error::Config { key, message, .. }) = kind.check(stage)
            {
                p.check(false, key, message);
            }
        }
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

/// Builds the configuration: defaults < `pipeline` file < environment < `overrides` (`key=value`).
/// `env` is the process environment in production; tests pass their own map.
pub fn load(pipeline: Option<&Path>, env: HashMap<String, String>, overrides: &[(String, String)]) -> Result<Resolved<Config>> {
    crate::config::load(pipeline, env, overrides)
}

impl Config {
    /// The values of the dotted keys `keys` (`"ingest"`, `"run.backend"`): what a stage that
    /// declares them receives. A declared key the configuration does not have is a bug of the stage.
    pub fn sections(&self, keys: &[&str]) -> Result<Sections> {
        let all = serde_json::to_value(self).map_err(|e| crate::Error::Other(e.to_string()))?;
        keys.iter()
            .map(|key| match key.split('.').try_fold(&all, |v, part| v.get(part)) {
                Some(v) => Ok((key.to_string(), v.clone())),
                None => Err(crate::Error::Other(format!("a stage declares the configuration key `{key}`, which the configuration does not have"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn pipeline_file(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("p.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline_file(dir.path(), "[run]\nseed = 1\n[io]\ndeflate_level = 1\nshuffle = false\n");
        let r = load(Some(&p), env(&[("CONTRADA__IO__DEFLATE_LEVEL", "2"), ("CONTRADA__RUN__SEED", "3")]), &[("run.seed".into(), "5".into())]).unwrap();
        assert_eq!(r.config.run.seed, 5, "command line beats environment");
        assert_eq!(r.config.io.deflate_level, 2, "environment beats pipeline file");
        assert!(!r.config.io.shuffle, "pipeline file beats defaults");
        assert_eq!(r.config.pipeline.name, "p", "pipeline name defaults to the file stem");
        assert_eq!(r.layers.origin("io.shuffle"), p.display().to_string());
        assert_eq!(r.layers.origin("io.deflate_level"), "environment variable CONTRADA__IO__DEFLATE_LEVEL");
    }

    #[test]
    fn unknown_key_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline_file(dir.path(), "[io]\ndeflate = 3\n");
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 2);
        assert!(msg.contains(&p.display().to_string()) && msg.contains("io.deflate") && msg.contains("deflate_level"), "{msg}");
    }

    #[test]
    fn unknown_environment_key_names_the_variable() {
        let e = load(None, env(&[("CONTRADA__RUN__SEEDS", "3")]), &[]).err().unwrap().to_string();
        assert!(e.contains("CONTRADA__RUN__SEEDS") && e.contains("seed"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_where_it_was_set() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline_file(dir.path(), "[io]\ndeflate_level = 12\n");
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap().to_string();
        assert!(e.contains(&p.display().to_string()) && e.contains("io.deflate_level") && e.contains("0 to 9"), "{e}");
        let e = load(Some(&p), env(&[("CONTRADA__IO__DEFLATE_LEVEL", "-1")]), &[]).err().unwrap().to_string();
        assert!(e.contains("CONTRADA__IO__DEFLATE_LEVEL") && e.contains("-1"), "{e}");
    }

    #[test]
    fn command_line_values_may_be_lists_numbers_or_bare_strings() {
        let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let r = load(None, HashMap::new(), &set(&[("ingest.qc.domain_x", "[0, 2.5]"), ("run.seed", "7"), ("run.backend", "cpu"), ("io.deflate_level", "3")]))
            .unwrap();
        assert_eq!(r.config.ingest.qc.domain_x, vec![0.0, 2.5]);
        assert_eq!((r.config.run.seed, r.config.io.deflate_level), (7, 3));
        assert_eq!(r.layers.origin("ingest.qc.domain_x"), "command line");
        let r = load(None, HashMap::new(), &set(&[("run.backend", "\"wgpu\"")])).unwrap();
        assert_eq!(format!("{:?}", r.config.run.backend).to_lowercase(), "wgpu");
        let e = load(None, HashMap::new(), &set(&[("ingest.qc.domain_x", "[0.0, \"east\"]")])).err().unwrap().to_string();
        assert!(e.contains("command line") && e.contains("ingest.qc.domain_x"), "{e}");
    }

    #[test]
    fn bad_enum_lists_the_allowed_values() {
        let e = load(None, HashMap::new(), &[("run.backend".into(), "tpu".into())]).err().unwrap().to_string();
        assert!(e.contains("command line") && e.contains("run.backend") && e.contains("wgpu") && e.contains("cpu"), "{e}");
    }

    #[test]
    fn unknown_stage_kind_and_forward_references_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline_file(dir.path(), "[[pipeline.stages]]\nname = \"a\"\nkind = \"teleport\"\n");
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap().to_string();
        assert!(e.contains("pipeline.stages[0].kind") && e.contains("teleport"), "{e}");
        let p = pipeline_file(dir.path(), "[[pipeline.stages]]\nname = \"a\"\nkind = \"teleport\"\ninputs = { x = \"stage:b/out.nc\" }\n");
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap().to_string();
        assert!(e.contains("pipeline.stages[0]"), "{e}");
    }

    #[test]
    fn stage_option_errors_name_the_pipeline_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[pipeline.stages]]\nname = \"truth\"\nkind = \"synth\"\noptions = { flow = \"lorenz96\", sampels = 3 }\n";
        let p = pipeline_file(dir.path(), text);
        let e = load(Some(&p), HashMap::new(), &[]).err().expect("an unknown option").to_string();
        assert!(e.contains(&p.display().to_string()) && e.contains("pipeline.stages.truth.options") && e.contains("sampels"), "{e}");
        assert!(!e.contains("pipeline file:"), "{e}");
    }

    #[test]
    fn invalid_toml_is_an_input_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline_file(dir.path(), "[run\nseed = 1\n");
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("p.toml") && e.to_string().contains("TOML"), "{e}");
    }
}

#[cfg(test)]
mod defaults {
    use super::*;

    /// Every key of `v` as a dotted path, tables descended into.
    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| keys(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out)),
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn default_toml_documents_every_key_with_the_rust_default() {
        let rust = toml::Value::try_from(Config::default()).unwrap();
        let loaded = toml::Value::try_from(load(None, HashMap::new(), &[]).unwrap().config).unwrap();
        assert_eq!(loaded, rust, "configs/default.toml sets a value other than the Rust default");
        let file: toml::Value = toml::from_str(crate::config::DEFAULT_TOML).unwrap();
        let (mut documented, mut all) = (Vec::new(), Vec::new());
        keys("", &file, &mut documented);
        keys("", &rust, &mut all);
        all.retain(|k| !k.starts_with("pipeline."));
        documented.sort();
        all.sort();
        // A list of tables that is empty by default is documented as a commented `[[key]]` example.
        let missing: Vec<_> = all.iter().filter(|k| !documented.contains(k) && !crate::config::DEFAULT_TOML.contains(&format!("[[{k}]]"))).collect();
        assert!(missing.is_empty(), "configs/default.toml does not document {missing:?}");
    }
}
