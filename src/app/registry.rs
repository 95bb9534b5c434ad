//! The stage registry: which stage kinds this build has and the code behind each. The only place
//! that names every stage; the stages themselves know only [`crate::pipeline::stage`].

use crate::error::{Error, Result};
use crate::pipeline::stage::Stage;

/// Stage kinds available in this build, as written in pipeline files.
pub const KINDS: &[&str] = &["synth", "ingest", "train", "assimilate", "baseline", "evaluate"];

/// The stage implementation for `kind` (already validated against [`KINDS`]).
pub fn stage_for(kind: &str) -> Result<Box<dyn Stage>> {
    match kind {
        "synth" => Ok(Box::new(crate::synth::stage::SynthStage)),
        "ingest" => Ok(Box::new(crate::ingest::stage::IngestStage)),
        "train" => Ok(Box::new(crate::learn::stage::TrainStage)),
        "assimilate" => Ok(Box::new(crate::assimilate::stage::AssimilateStage)),
        "baseline" => Ok(Box::new(crate::kalman::stage::BaselineStage)),
        "evaluate" => Ok(Box::new(crate::evaluate::stage::EvaluateStage)),
        _ => Err(Error::Other(format!("stage kind `{kind}` is not available in this build; available: {}", KINDS.join(", ")))),
    }
}

/// The options of stage `kind` as command-line flags (`retrieve_k` is `--retrieve-k`): the
/// command a stage's subcommand flattens, for `--help` and for checking that every option has a
/// flag. Each stage declares its options once, as one struct deriving both `clap::Args` and
/// `Deserialize`.
pub fn options_command(kind: &str) -> Result<clap::Command> {
    use clap::Args;
    let cmd = clap::Command::new("options").no_binary_name(true);
    Ok(match kind {
        "synth" => crate::synth::stage::SynthOptions::augment_args(cmd),
        "ingest" => cmd,
        "train" => crate::learn::stage::TrainOptions::augment_args(cmd),
        "assimilate" => crate::assimilate::stage::AssimilateOptions::augment_args(cmd),
        "baseline" => crate::kalman::stage::options::BaselineOptions::augment_args(cmd),
        "evaluate" => crate::evaluate::config::EvaluateOptions::augment_args(cmd),
        _ => return Err(Error::Other(format!("stage kind `{kind}` is not available in this build; available: {}", KINDS.join(", ")))),
    })
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;

    /// Every option of `T` (every key of its serialised form, unset ones included) has a flag of
    /// the same name, and the flags' defaults are the options' serde defaults (`table` holds only
    /// what has no default).
    fn flags_cover_options<T: Args + FromArgMatches + Serialize + DeserializeOwned>(kind: &str, argv: &[&str], table: &str) {
        let cmd = options_command(kind).unwrap();
        let from_flags = T::from_arg_matches(&cmd.clone().try_get_matches_from(argv).unwrap()).unwrap();
        let from_flags = serde_json::to_value(&from_flags).unwrap();
        let longs: Vec<String> = cmd.get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect();
        let keys: Vec<&String> = from_flags.as_object().unwrap().keys().collect();
        assert!(!keys.is_empty() || kind == "train", "{kind}: no options found");
        for key in &keys {
            let flag = key.replace('_', "-");
            let positional = cmd.get_arguments().any(|a| a.get_id() == key.as_str() && a.is_positional());
            assert!(positional || longs.contains(&flag), "{kind}: option `{key}` has no flag --{flag}; flags: {longs:?}");
        }
        assert_eq!(longs.len() + cmd.get_arguments().filter(|a| a.is_positional()).count(), keys.len(), "{kind}: a flag that is not an option");
        let from_serde: T = toml::from_str(table).unwrap();
        assert_eq!(serde_json::to_value(&from_serde).unwrap(), from_flags, "{kind}: flag defaults differ from the option defaults");
    }

    #[test]
    fn every_stage_option_has_a_flag_with_the_same_default() {
        flags_cover_options::<crate::synth::stage::SynthOptions>("synth", &["lagrangian"], "flow = \"lagrangian\"");
        flags_cover_options::<crate::learn::stage::TrainOptions>("train", &[], "");
        flags_cover_options::<crate::assimilate::stage::AssimilateOptions>("assimilate", &[], "");
        flags_cover_options::<crate::kalman::stage::options::BaselineOptions>("baseline", &[], "");
        flags_cover_options::<crate::evaluate::config::EvaluateOptions>("evaluate", &[], "");
        assert_eq!(options_command("ingest").unwrap().get_arguments().count(), 0, "ingest takes no options");
        for kind in KINDS {
            options_command(kind).unwrap();
            // Every configuration key a stage declares exists (a typo would starve the stage).
            crate::app::config::Config::default().sections(stage_for(kind).unwrap().config_sections()).unwrap();
        }
    }
}
