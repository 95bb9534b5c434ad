//! Loading, merging and checking the configuration layers.

use std::collections::HashMap;
use std::path::Path;

use config::{Environment, File, FileFormat};

use super::{Config, Problems};
use crate::error::{Error, Result};

/// The built-in defaults, compiled in so that the binary works from any directory (cron).
const DEFAULT_TOML: &str = include_str!("../../configs/default.toml");
const DEFAULT_NAME: &str = "configs/default.toml";
const ENV_PREFIX: &str = "CONTRADA";

/// One configuration source with the name used in error messages.
struct Layer {
    name: String,
    source: config::Config,
    is_env: bool,
}

/// All layers of a resolved configuration, kept to say where a value came from.
pub struct Layers(Vec<Layer>);

/// A checked configuration and the layers it was built from.
pub struct Resolved {
    /// The merged, typed and validated configuration.
    pub config: Config,
    /// The layers, lowest precedence first.
    pub layers: Layers,
}

impl Layers {
    /// Name of the highest-precedence layer that sets `key` (e.g. a file path or an environment
    /// variable), or "configs/default.toml" when none does.
    pub fn origin(&self, key: &str) -> String {
        for layer in self.0.iter().rev() {
            if layer.source.get::<config::Value>(key).is_ok() {
                return if layer.is_env { env_var_name(key) } else { layer.name.clone() };
            }
        }
        DEFAULT_NAME.to_string()
    }
}

/// The environment variable that sets dotted `key`.
fn env_var_name(key: &str) -> String {
    format!("environment variable {ENV_PREFIX}__{}", key.to_uppercase().replace('.', "__"))
}

/// Builds the configuration: defaults < `pipeline` file < environment < `overrides` (`key=value`).
///
/// `env` is the process environment in production; tests pass their own map.
pub fn load(
    pipeline: Option<&Path>,
    env: HashMap<String, String>,
    overrides: &[(String, String)],
) -> Result<Resolved> {
    let mut layers = vec![Layer {
        name: DEFAULT_NAME.into(),
        source: build(config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml)), DEFAULT_NAME)?,
        is_env: false,
    }];
    if let Some(path) = pipeline {
        layers.push(Layer { name: path.display().to_string(), source: pipeline_layer(path)?, is_env: false });
    }
    let env_source = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(Some(env.into_iter().collect()));
    layers.push(Layer {
        name: "environment".into(),
        source: build(config::Config::builder().add_source(env_source), "environment")?,
        is_env: true,
    });
    let mut cli = config::Config::builder();
    for (key, value) in overrides {
        // A value that reads as TOML (a number, a list, a quoted string) keeps its type, so lists
        // can be set too; anything else (`cpu`, `runs/x`) is taken as a string.
        let line = format!("{key} = {value}");
        if toml::from_str::<toml::Table>(&line).is_ok() {
            cli = cli.add_source(File::from_str(&line, FileFormat::Toml));
        } else {
            cli = cli.set_override(key.as_str(), value.as_str()).map_err(|e| Error::config("command line", key, e.to_string()))?;
        }
    }
    layers.push(Layer { name: "command line".into(), source: build(cli, "command line")?, is_env: false });
    let layers = Layers(layers);

    // Each layer alone must only use known keys: the error then names the layer that has it.
    for layer in &layers.0 {
        deserialize(&layer.source, |key| if layer.is_env { env_var_name(key) } else { layer.name.clone() })?;
    }
    let mut merged = config::Config::builder();
    for layer in &layers.0 {
        merged = merged.add_source(layer.source.clone());
    }
    let merged = build(merged, "merged configuration")?;
    let mut config = deserialize(&merged, |key| layers.origin(key))?;
    if config.pipeline.name.is_empty() && let Some(stem) = pipeline.and_then(|p| p.file_stem()) {
        config.pipeline.name = stem.to_string_lossy().into_owned();
    }
    let mut problems = Problems::default();
    config.validate(&mut problems);
    if let Some((key, message)) = problems.0.into_iter().next() {
        return Err(Error::config(layers.origin(&key), key, message));
    }
    Ok(Resolved { config, layers })
}

fn pipeline_layer(path: &Path) -> Result<config::Config> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(path, "pipeline file not found"),
        _ => Error::io(path, e),
    })?;
    let name = path.display().to_string();
    build(config::Config::builder().add_source(File::from_str(&text, FileFormat::Toml)), &name)
        .map_err(|e| match e {
            Error::Config { message, .. } => Error::input(path, format!("not valid TOML: {message}")),
            other => other,
        })
}

fn build(builder: config::builder::ConfigBuilder<config::builder::DefaultState>, name: &str) -> Result<config::Config> {
    builder.build().map_err(|e| Error::config(name, "(file)", e.to_string()))
}

/// Deserialises `source` into [`Config`], turning the first error into one naming its key and origin.
fn deserialize(source: &config::Config, origin: impl Fn(&str) -> String) -> Result<Config> {
    serde_path_to_error::deserialize::<_, Config>(source.clone()).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.inner().to_string();
        // The config crate appends " for key `...`"; the key is already in our message.
        let message = inner.split(" for key `").next().unwrap_or(&inner).to_string();
        Error::config(origin(&key), key, message)
    })
}

#[cfg(test)]
mod tests {
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
        let r = load(None, HashMap::new(), &set(&[("ingest.qc.domain_x", "[0, 2.5]"), ("run.seed", "7"), ("run.backend", "cpu"), ("io.deflate_level", "3")])).unwrap();
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
        let p = pipeline_file(
            dir.path(),
            "[[pipeline.stages]]\nname = \"a\"\nkind = \"teleport\"\ninputs = { x = \"stage:b/out.nc\" }\n",
        );
        let e = load(Some(&p), HashMap::new(), &[]).err().unwrap().to_string();
        assert!(e.contains("pipeline.stages[0]"), "{e}");
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
