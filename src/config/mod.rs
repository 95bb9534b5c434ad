//! The configuration core: the sections every stage may share (`[run]`, `[io]`, the backend
//! choice) and the layered loader, generic over the configuration type. Each stage's own section
//! type lives in that stage's room; the aggregate of all of them is [`crate::app::config::Config`].
//!
//! Layers, lowest to highest precedence: the built-in `configs/default.toml`, the pipeline file,
//! environment variables `CONTRADA__SECTION__KEY`, and command-line overrides. Every layer is checked
//! on its own for unknown keys (so the error names the file or variable that introduced it), then the
//! merged result is deserialised and range-checked (errors name the layer that set the offending value).

mod layers;
mod validate;

pub use layers::{DEFAULT_TOML, Layered, Layers, Resolved, load};
pub use validate::Problems;

use serde::{Deserialize, Serialize};

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
