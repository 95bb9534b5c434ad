//! The options of a `baseline` stage in a pipeline file, and their checks against the operator
//! they configure.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kalman::Method;
use crate::kalman::io::ensemble_io::GeometryKind;

/// Which observation operator a `baseline` stage builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OperatorKind {
    /// Gridded or point observations of a gridded prior (see [`crate::kalman::io::obs_file`]).
    #[default]
    Auto,
    /// Drifter trajectories of the Lagrangian flow (see [`crate::kalman::io::drifter_file`]): the
    /// prior is a `lagrangian_states.nc` whose samples are the members.
    Drifters,
}

/// Options of a `baseline` stage: the `options` of its pipeline entry and the flags of
/// `contrada baseline` (one declaration; the flag defaults are [`Default`]'s).
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineOptions {
    /// Overrides `baseline.method`.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// Observation operator: `auto` (gridded or point observations) or `drifters`.
    #[arg(long, value_enum, default_value_t = OperatorKind::default())]
    pub obs_operator: OperatorKind,
    /// The analysed variable of the prior file (`auto` only).
    #[arg(long)]
    pub variable: Option<String>,
    /// The prior's member dimension (default `member`; `time` for `drifters`).
    #[arg(long)]
    pub member_dim: Option<String>,
    /// Grid geometry: auto | periodic | plane | sphere (`auto` operator only; the Lagrangian flow
    /// is on the periodic unit square).
    #[arg(long, value_enum, default_value_t = GeometryKind::default())]
    pub geometry: GeometryKind,
    /// The observed variable of the observation file (`auto` only).
    #[arg(long)]
    pub obs_variable: Option<String>,
    /// Which time of the observations to use, when they have several (`drifters`: which
    /// sample's tracks, by `sample_index`).
    #[arg(long)]
    pub obs_time_index: Option<usize>,
    /// Observation-error standard deviation for every observation.
    #[arg(long)]
    pub obs_error_std: Option<f64>,
    /// Per-observation error standard deviations (a variable of the observation file).
    #[arg(long)]
    pub obs_error_variable: Option<String>,
    /// Point observations: their x/longitude variable.
    #[arg(long)]
    pub obs_x: Option<String>,
    /// Point observations: their y/latitude variable.
    #[arg(long)]
    pub obs_y: Option<String>,
    /// `drifters`: prior members drawn (seeded, without replacement) from the prior file's
    /// samples; all of them when unset.
    #[arg(long)]
    pub members: Option<usize>,
    /// `drifters`, EnOI: static members drawn from the `static` file's samples; all when unset.
    #[arg(long)]
    pub static_members: Option<usize>,
    /// `drifters`: longest RK4 step of the drifter operator, model time units.
    #[arg(long)]
    pub drifter_dt: Option<f64>,
    /// `drifters`: predict each observed position from the previous observed one (the default)
    /// instead of along the member's whole track (see
    /// [`crate::kalman::obs::drifter_obs::DrifterObs::predict`]). Whole tracks diverge from member
    /// to member faster than a linear update can follow: on the sample data no scheme beat its
    /// prior mean with them, while one-gap displacements did.
    #[arg(long, value_name = "BOOL")]
    pub drifter_restart: Option<bool>,
}

impl BaselineOptions {
    /// Whether the drifter operator restarts each gap at the observed position (the default).
    pub fn drifter_restart(&self) -> bool {
        self.drifter_restart.unwrap_or(true)
    }

    /// Checks that the options given fit the operator; errors name the key under `prefix`.
    pub(super) fn check(&self, prefix: &str) -> Result<()> {
        let bad = |k: &str, why: &str| Error::config("pipeline file", format!("{prefix}.{k}"), why.to_string());
        match self.obs_operator {
            OperatorKind::Auto => {
                for (k, missing) in [("variable", self.variable.is_none()), ("obs_variable", self.obs_variable.is_none())] {
                    if missing {
                        return Err(bad(k, "this option is required (or set obs_operator = \"drifters\")"));
                    }
                }
                let drifter_only = [
                    ("members", self.members.is_some()),
                    ("static_members", self.static_members.is_some()),
                    ("drifter_dt", self.drifter_dt.is_some()),
                    ("drifter_restart", self.drifter_restart.is_some()),
                ];
                if let Some((k, _)) = drifter_only.iter().find(|(_, set)| *set) {
                    return Err(bad(k, "applies to obs_operator = \"drifters\" only"));
                }
            }
            OperatorKind::Drifters => {
                let gridded_only = [
                    ("variable", self.variable.is_some()),
                    ("obs_variable", self.obs_variable.is_some()),
                    ("obs_error_variable", self.obs_error_variable.is_some()),
                    ("obs_x", self.obs_x.is_some()),
                    ("obs_y", self.obs_y.is_some()),
                    ("geometry", self.geometry != GeometryKind::Auto),
                ];
                if let Some((k, _)) = gridded_only.iter().find(|(_, set)| *set) {
                    return Err(bad(
                        k,
                        "does not apply to obs_operator = \"drifters\" (the state is the prior file's coef, omega and gridded fields, on the periodic unit square)",
                    ));
                }
                if let Some(dt) = self.drifter_dt
                    && !(dt.is_finite() && dt > 0.0)
                {
                    return Err(bad("drifter_dt", "must be finite and > 0"));
                }
            }
        }
        Ok(())
    }
}
