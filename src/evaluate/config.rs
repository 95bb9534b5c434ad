//! Options of the `evaluate` stage (the `options` table of its pipeline entry, or the flags of
//! `contrada evaluate`), and the names of its inputs.

use serde::{Deserialize, Serialize};

use crate::cf::time::{Calendar, CfDateTime, TimeUnits};
use crate::error::{Error, Result};
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::parse_options;

/// Input holding the truth: a states file with a time dimension.
pub const TRUTH: &str = "truth";
/// Optional input: drifter trajectories (CF DSG) drawn over the analysis mean maps.
pub const OBSERVATIONS: &str = "observations";
/// Optional input: the bank of past states, scored as the climatological ensemble.
pub const BANK: &str = "bank";
/// Optional input: `metrics.csv` of the train stage, for the training curves.
pub const TRAINING: &str = "training";
/// Optional input: `recall.json` of the train stage, for R@1 and R@5.
pub const RECALL: &str = "recall";
/// Prefix of the analysis inputs (`analysis`, `analysis_reweight`, ...).
pub const ANALYSIS_PREFIX: &str = "analysis";

/// Options of an `evaluate` stage: the `options` of its pipeline entry and the flags of
/// `contrada evaluate` (one declaration).
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateOptions {
    /// Variables to score; `None`: every variable of the truth over `(time, y, x)` that some
    /// analysis (or, without analyses, the bank) holds. Each analysis must then hold all of them.
    #[arg(long, value_delimiter = ',', value_name = "VAR,VAR")]
    pub variables: Option<Vec<String>>,
    /// Which truth time to score against: `"match"` (default) takes the truth time equal to the
    /// analyses' `time`, else the truth's only time; a date-time (`"2026-11-28 12:00:00"`) picks
    /// that time.
    #[arg(long, value_name = "match|DATETIME")]
    pub truth_time: Option<String>,
    /// Variables scored as anomalies from their spatial mean (truth, each member and each
    /// analysis mean alike), e.g. `["psi"]`: a streamfunction is defined up to a constant, which
    /// no velocity or drifter observation can see and which would otherwise dominate its RMSE.
    #[arg(long, value_delimiter = ',', value_name = "VAR,VAR")]
    pub anomalies: Option<Vec<String>>,
    /// Also score each gridded variable at only the grid points within this distance (in the
    /// grid's coordinate units) of an observed drifter position (input `observations`), as
    /// `<var>_near_obs`: where the observations carry information, apart from the field far from
    /// any of them, which no method can know better than the climatology.
    #[arg(long, value_name = "DISTANCE")]
    pub near_observations: Option<f64>,
    /// Periods of x and y for a periodic domain, e.g. `[1.0, 1.0]` (distances wrap); none: planar.
    #[arg(long, value_delimiter = ',', value_name = "X,Y")]
    pub period: Option<Vec<f64>>,
}

/// How the truth time is chosen (see [`EvaluateOptions::truth_time`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TruthTime {
    /// The analyses' time, else the only truth time.
    Match,
    /// This instant (in the truth file's calendar).
    At(CfDateTime),
}

impl EvaluateOptions {
    /// Parses and checks the options of `spec`; errors name the offending key.
    pub fn from_spec(spec: &StageSpec) -> Result<EvaluateOptions> {
        let opts: EvaluateOptions = parse_options(spec)?;
        opts.check(&format!("pipeline.stages.{}.options", spec.name))?;
        Ok(opts)
    }

    /// Checks values: a non-empty list of distinct variable names, a valid truth-time rule.
    /// `prefix` locates the options in errors (`contrada evaluate` names them by their flags).
    fn check(&self, prefix: &str) -> Result<()> {
        let origin = "pipeline file";
        if let Some(vars) = &self.variables {
            let distinct = vars.iter().enumerate().all(|(i, v)| !vars[..i].contains(v));
            if vars.is_empty() || vars.iter().any(|v| v.trim().is_empty()) || !distinct {
                return Err(Error::config(
                    origin,
                    format!("{prefix}.variables"),
                    "expected a non-empty list of distinct variable names, e.g. [\"psi\", \"u\", \"v\"]",
                ));
            }
        }
        if let Some(vars) = &self.anomalies
            && let Some(v) = vars.iter().find(|v| self.variables.as_ref().is_some_and(|all| !all.contains(v)))
        {
            return Err(Error::config(
                origin,
                format!("{prefix}.anomalies"),
                format!("`{v}` is not among the scored variables {:?}", self.variables.as_deref().unwrap_or_default()),
            ));
        }
        if let Some(r) = self.near_observations
            && !(r.is_finite() && r > 0.0)
        {
            return Err(Error::config(
                origin,
                format!("{prefix}.near_observations"),
                format!("{r}; expected a positive distance in the grid's coordinate units"),
            ));
        }
        if let Some(p) = &self.period
            && !(p.len() == 2 && p.iter().all(|v| v.is_finite() && *v > 0.0))
        {
            return Err(Error::config(origin, format!("{prefix}.period"), format!("{p:?}; expected two positive periods [x, y], e.g. [1.0, 1.0]")));
        }
        self.truth_time_rule(Calendar::Standard).map_err(|m| Error::config(origin, format!("{prefix}.truth_time"), m))?;
        Ok(())
    }

    /// The truth-time rule, with a date-time read in `calendar` (the truth file's).
    pub fn truth_time_rule(&self, calendar: Calendar) -> std::result::Result<TruthTime, String> {
        match self.truth_time.as_deref().map(str::trim) {
            None | Some("match") => Ok(TruthTime::Match),
            Some(text) => TimeUnits::parse(&format!("seconds since {text}"), calendar)
                .map(|u| TruthTime::At(u.epoch))
                .map_err(|_| format!("`{text}`: allowed: \"match\" or a date-time such as \"2026-11-28 12:00:00\"")),
        }
    }
}

/// Checks the input names of an evaluate stage: `truth` is required, the others are
/// `observations`, `bank`, `training`, `recall` and any number of `analysis*`; at least one of
/// `bank` and an analysis must be there, or there is nothing to score.
pub fn check_inputs<'a>(names: impl IntoIterator<Item = &'a str>, prefix: &str, origin: &str) -> Result<()> {
    let names: Vec<&str> = names.into_iter().collect();
    for name in &names {
        let known = [TRUTH, OBSERVATIONS, BANK, TRAINING, RECALL].contains(name) || name.starts_with(ANALYSIS_PREFIX);
        if !known {
            return Err(Error::config(
                origin,
                format!("{prefix}.{name}"),
                "unknown input; allowed: truth, observations, bank, training, recall and analysis* (e.g. analysis_etkf)",
            ));
        }
    }
    if !names.contains(&TRUTH) {
        return Err(Error::config(origin, format!("{prefix}.{TRUTH}"), "this input is required: the truth states file"));
    }
    if !names.iter().any(|n| *n == BANK || n.starts_with(ANALYSIS_PREFIX)) {
        return Err(Error::config(origin, format!("{prefix}.{ANALYSIS_PREFIX}"), "nothing to score: give a bank or at least one analysis* input"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &str, inputs: &[&str]) -> StageSpec {
        StageSpec {
            name: "eval".into(),
            kind: "evaluate".into(),
            inputs: inputs.iter().map(|k| (k.to_string(), "x.nc".to_string())).collect(),
            options: toml::from_str(options).unwrap(),
        }
    }

    #[test]
    fn options_parse_and_bad_values_name_their_key() {
        let o = EvaluateOptions::from_spec(&spec("variables = [\"psi\"]\ntruth_time = \"2026-11-28 12:00\"", &[])).unwrap();
        assert_eq!(o.variables.as_deref(), Some(&["psi".to_string()][..]));
        assert_eq!(o.truth_time_rule(Calendar::Standard).unwrap(), TruthTime::At(CfDateTime { hour: 12, ..CfDateTime::date(2026, 11, 28) }));
        assert_eq!(EvaluateOptions::default().truth_time_rule(Calendar::Standard).unwrap(), TruthTime::Match);
        for (bad, key) in
            [("variables = []", "variables"), ("variables = [\"u\", \"u\"]", "variables"), ("truth_time = \"soon\"", "truth_time"), ("colour = 1", "colour")]
        {
            let e = EvaluateOptions::from_spec(&spec(bad, &[])).unwrap_err().to_string();
            assert!(e.contains(&format!("pipeline.stages.eval.options.{key}")), "{bad}: {e}");
            assert_eq!(EvaluateOptions::from_spec(&spec(bad, &[])).unwrap_err().exit_code(), 2);
        }
    }

    #[test]
    fn inputs_need_truth_and_something_to_score() {
        let p = "pipeline.stages.eval.inputs";
        assert!(check_inputs(["truth", "bank"], p, "f").is_ok());
        assert!(check_inputs(["truth", "analysis_etkf", "analysis", "recall", "training", "observations"], p, "f").is_ok());
        assert!(check_inputs(["bank"], p, "f").unwrap_err().to_string().contains("inputs.truth"));
        assert!(check_inputs(["truth", "recall"], p, "f").unwrap_err().to_string().contains("nothing to score"));
        assert!(check_inputs(["truth", "bank", "forecast"], p, "f").unwrap_err().to_string().contains("inputs.forecast"));
    }
}
