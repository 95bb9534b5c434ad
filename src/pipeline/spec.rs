//! The `[pipeline]` section of a pipeline file: its name and the ordered list of stages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Problems;

/// A pipeline: a name and stages run in the order written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSpec {
    /// Pipeline name; defaults to the pipeline file's stem. Names the default run directory.
    pub name: String,
    /// Stages in execution order.
    pub stages: Vec<StageSpec>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageSpec {
    /// Unique name: the stage's output directory inside the run directory.
    pub name: String,
    /// What the stage does: one of the kinds of [`crate::app::registry::KINDS`].
    pub kind: String,
    /// Named inputs: a file path (relative to the current directory) or `stage:NAME/FILE` for a file
    /// written by an earlier stage of the same run; a file pattern (`archive/ocean_*.nc`) names
    /// every matching file (see `app::runner::expand_input`).
    pub inputs: BTreeMap<String, String>,
    /// Stage-kind options (e.g. `flow = "lorenz96"` for `synth`); each kind checks its own keys.
    pub options: toml::Table,
}

impl PipelineSpec {
    /// Checks stage names, that each kind is one of `kinds`, and that `stage:` inputs refer to
    /// earlier stages.
    pub fn validate(&self, kinds: &[&str], p: &mut Problems) {
        for (i, stage) in self.stages.iter().enumerate() {
            let key = format!("pipeline.stages[{i}]");
            let name_ok = !stage.name.is_empty() && stage.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            p.check(name_ok, format!("{key}.name"), format!("stage name `{}` must be non-empty and use only letters, digits, '-' and '_'", stage.name));
            let earlier = &self.stages[..i];
            p.check(!earlier.iter().any(|s| s.name == stage.name), format!("{key}.name"), format!("stage name `{}` is used twice", stage.name));
            p.check(kinds.contains(&stage.kind.as_str()), format!("{key}.kind"), format!("unknown stage kind `{}`; allowed: {}", stage.kind, kinds.join(", ")));
            for (input, value) in &stage.inputs {
                if let Some((from, _)) = value.strip_prefix("stage:").and_then(|r| r.split_once('/')) {
                    p.check(
                        earlier.iter().any(|s| s.name == from),
                        format!("{key}.inputs.{input}"),
                        format!("`{value}` refers to stage `{from}`, which is not an earlier stage of this pipeline"),
                    );
                }
            }
        }
    }
}
