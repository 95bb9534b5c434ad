//! Loading, merging and checking the configuration layers, generic over the configuration type
//! (the aggregate of every section lives on top, in [`crate::app::config`]).

use std::collections::HashMap;
use std::path::Path;

use config::{Environment, File, FileFormat};
use serde::de::DeserializeOwned;

use super::Problems;
use crate::error::{Error, Result};

/// The built-in defaults, compiled in so that the binary works from any directory (cron).
pub const DEFAULT_TOML: &str = include_str!("../../configs/default.toml");
const DEFAULT_NAME: &str = "configs/default.toml";
const ENV_PREFIX: &str = "CONTRADA";

/// A configuration the layered loader can build: deserialised from the merged layers (unknown
/// keys rejected by the type itself), then range-checked.
pub trait Layered: DeserializeOwned {
    /// Called once on the merged configuration, before validation, with the pipeline file it was
    /// loaded from (e.g. to default a name to the file's stem).
    fn loaded_from(&mut self, _pipeline: Option<&Path>) {}
    /// Range checks; each problem names its dotted key and what is allowed.
    fn validate(&self, p: &mut Problems);
}

/// One configuration source with the name used in error messages.
struct Layer {
    name: String,
    source: config::Config,
    is_env: bool,
}

/// All layers of a resolved configuration, kept to say where a value came from.
pub struct Layers(Vec<Layer>);

/// A checked configuration and the layers it was built from.
pub struct Resolved<T> {
    /// The merged, typed and validated configuration.
    pub config: T,
    /// The layers, lowest precedence first.
    pub layers: Layers,
}

impl Layers {
    /// Name of the highest-precedence layer that sets `key` (e.g. a file path or an environment
    /// variable); for a key no layer sets (a required key left out, a stage's option under the
    /// stage's name), that of its nearest ancestor, the table that lacks it; else
    /// "configs/default.toml".
    pub fn origin(&self, key: &str) -> String {
        let mut k = key;
        loop {
            for layer in self.0.iter().rev() {
                if layer.source.get::<config::Value>(k).is_ok() {
                    return if layer.is_env { env_var_name(k) } else { layer.name.clone() };
                }
            }
            match k.rfind(['.', '[']) {
                Some(i) => k = &k[..i],
                None => return DEFAULT_NAME.to_string(),
            }
        }
    }
}

/// The environment variable that sets dotted `key`.
fn env_var_name(key: &str) -> String {
    format!("environment variable {ENV_PREFIX}__{}", key.to_uppercase().replace('.', "__"))
}

/// Builds the configuration: defaults < `pipeline` file < environment < `overrides` (`key=value`).
///
/// `env` is the process environment in production; tests pass their own map.
pub fn load<T: Layered>(pipeline: Option<&Path>, env: HashMap<String, String>, overrides: &[(String, String)]) -> Result<Resolved<T>> {
    let mut layers = vec![Layer {
        name: DEFAULT_NAME.into(),
        source: build(config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml)), DEFAULT_NAME)?,
        is_env: false,
    }];
    if let Some(path) = pipeline {
        layers.push(Layer { name: path.display().to_string(), source: pipeline_layer(path)?, is_env: false });
    }
    let env_source = Environment::with_prefix(ENV_PREFIX).prefix_separator("__").separator("__").try_parsing(true).source(Some(env.into_iter().collect()));
    layers.push(Layer { name: "environment".into(), source: build(config::Config::builder().add_source(env_source), "environment")?, is_env: true });
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
        deserialize::<T>(&layer.source, |key| if layer.is_env { env_var_name(key) } else { layer.name.clone() })?;
    }
    let mut merged = config::Config::builder();
    for layer in &layers.0 {
        merged = merged.add_source(layer.source.clone());
    }
    let merged = build(merged, "merged configuration")?;
    let mut config = deserialize::<T>(&merged, |key| layers.origin(key))?;
    config.loaded_from(pipeline);
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
    build(config::Config::builder().add_source(File::from_str(&text, FileFormat::Toml)), &name).map_err(|e| match e {
        Error::Config { message, .. } => Error::input(path, format!("not valid TOML: {message}")),
        other => other,
    })
}

fn build(builder: config::builder::ConfigBuilder<config::builder::DefaultState>, name: &str) -> Result<config::Config> {
    builder.build().map_err(|e| Error::config(name, "(file)", e.to_string()))
}

/// Deserialises `source` into `T`, turning the first error into one naming its key and origin.
fn deserialize<T: DeserializeOwned>(source: &config::Config, origin: impl Fn(&str) -> String) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(source.clone()).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.inner().to_string();
        // The config crate appends " for key `...`"; the key is already in our message.
        let message = inner.split(" for key `").next().unwrap_or(&inner).to_string();
        Error::config(origin(&key), key, message)
    })
}
