//! The options of a `baseline` stage in a pipeline file, and their checks against the operator
//! they configure.

use serde::{Deserialize, Serialize};

use crate::cf::time::parse_duration;
use crate::error::{Error, Result};
use crate::kalman::io::ensemble_io::GeometryKind;
use crate::kalman::methods::inflation::Relaxation;
use crate::kalman::{BaselineConfig, Method};

/// The default `obs_time_tolerance`: observations up to 3 hours from the prior's valid time.
const DEFAULT_TIME_TOLERANCE: &str = "3 hours";
/// The default `outlier_threshold` (DART's customary 3 standard deviations).
const DEFAULT_OUTLIER_THRESHOLD: f64 = 3.0;

/// One name or a list of names (`variable = "psi"` or `variable = ["psi", "u", "v"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Which observation operator a `baseline` stage builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OperatorKind {
    /// Gridded, point or station observations of a gridded prior, or an ingest data set (see
    /// [`crate::kalman::io::obs_file`]).
    #[default]
    Auto,
    /// Drifter fixes: through each member's velocity on a gridded prior when `variable` is set
    /// (see [`crate::kalman::io::grid_drifter_file`]), else the Lagrangian flow's trajectories
    /// (see [`crate::kalman::io::drifter_file`]; the prior is a `lagrangian_states.nc` whose
    /// samples are the members).
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
    /// The analysed variables of the prior file (`auto` only): one name or a list, updated
    /// jointly (e.g. `["psi", "u", "v"]`: observations of psi correct the velocities too). They
    /// share the member dimension and the horizontal grid; levels may differ.
    #[arg(long, value_delimiter = ',')]
    #[serde(deserialize_with = "one_or_many")]
    pub variable: Vec<String>,
    /// The analysed variable the observations measure (`auto` only; default: the one named like
    /// `obs_variable`, else the first).
    #[arg(long)]
    pub observed: Option<String>,
    /// Which horizontal field (level index, counting the dimensions before y and x) of the
    /// observed variable surface, swath and station observations see (`auto` only; needed when
    /// it has several).
    #[arg(long)]
    pub obs_level: Option<usize>,
    /// Largest time between an observation and the prior's valid time, e.g. "3 hours" (`auto`
    /// only; default "3 hours").
    #[arg(long)]
    pub obs_time_tolerance: Option<String>,
    /// Background check: observations whose innovation exceeds this many standard deviations
    /// `sqrt(var(Hx) + R)` are rejected (default 3; 0 turns the check off; drifters of the
    /// Lagrangian flow: the whole track).
    #[arg(long)]
    pub outlier_threshold: Option<f64>,
    /// Overrides `baseline.localization_radius`.
    #[arg(long)]
    pub localization_radius: Option<f64>,
    /// Overrides `baseline.inflation`.
    #[arg(long)]
    pub inflation: Option<f64>,
    /// Overrides `baseline.relax` (none | rtpp | rtps).
    #[arg(long, value_enum)]
    pub relax: Option<Relaxation>,
    /// Overrides `baseline.relax_alpha`.
    #[arg(long)]
    pub relax_alpha: Option<f64>,
    /// Overrides `baseline.hybrid_weight` (ETKF, LETKF; needs the `static` input).
    #[arg(long)]
    pub hybrid_weight: Option<f64>,
    /// Overrides `baseline.enoi_alpha` (EnOI, and the static part of a hybrid).
    #[arg(long)]
    pub enoi_alpha: Option<f64>,
    /// Overrides `baseline.adaptive_inflation`.
    #[arg(long, value_name = "BOOL")]
    pub adaptive_inflation: Option<bool>,
    /// `drifters` on a gridded prior: the analysed variables holding the x (eastward) and y
    /// (northward) velocity in m/s that the drifters follow (default `["u", "v"]`).
    #[arg(long, value_delimiter = ',')]
    pub velocity: Option<Vec<String>>,
    /// EnOI: the member dimension of the `static` file (default: `member_dim`), e.g. `time` for
    /// an archive of states.
    #[arg(long)]
    pub static_member_dim: Option<String>,
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
    /// A variable of the observation file that is 0 or missing where nothing is observed (a
    /// swath's mask), with the observed variable's dimensions or those without time (`auto` only).
    #[arg(long)]
    pub obs_mask: Option<String>,
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
    /// `drifters`: longest RK4 step of the drifter operator: model time units on the Lagrangian
    /// flow, seconds on a gridded prior (default 900).
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
    /// The time window around the prior's valid time, seconds.
    pub fn obs_time_tolerance_s(&self) -> f64 {
        parse_duration(self.obs_time_tolerance.as_deref().unwrap_or(DEFAULT_TIME_TOLERANCE)).expect("checked")
    }

    /// The velocity variables the drifter operator of a gridded prior follows.
    pub fn velocity(&self) -> [&str; 2] {
        match self.velocity.as_deref() {
            Some([u, v]) => [u.as_str(), v.as_str()],
            _ => ["u", "v"],
        }
    }

    /// Whether this is the drifter operator on a gridded prior (analysed variables given) rather
    /// than on the Lagrangian flow's states file.
    pub fn gridded_drifters(&self) -> bool {
        self.obs_operator == OperatorKind::Drifters && !self.variable.is_empty()
    }

    /// The background-check threshold (0: off).
    pub fn outlier_threshold(&self) -> f64 {
        self.outlier_threshold.unwrap_or(DEFAULT_OUTLIER_THRESHOLD)
    }

    /// `config` with this stage's overrides.
    pub fn apply(&self, config: &mut BaselineConfig) {
        if let Some(m) = self.method {
            config.method = m;
        }
        if let Some(r) = self.localization_radius {
            config.localization_radius = r;
        }
        if let Some(i) = self.inflation {
            config.inflation = i;
        }
        if let Some(r) = self.relax {
            config.relax = r;
        }
        if let Some(a) = self.relax_alpha {
            config.relax_alpha = a;
        }
        if let Some(a) = self.adaptive_inflation {
            config.adaptive_inflation = a;
        }
        if let Some(w) = self.hybrid_weight {
            config.hybrid_weight = w;
        }
        if let Some(a) = self.enoi_alpha {
            config.enoi_alpha = a;
        }
    }

    /// Whether the drifter operator restarts each gap at the observed position (the default).
    pub fn drifter_restart(&self) -> bool {
        self.drifter_restart.unwrap_or(true)
    }

    /// Checks that the options given fit the operator; errors name the key under `prefix`.
    pub(super) fn check(&self, prefix: &str) -> Result<()> {
        let bad = |k: &str, why: &str| Error::config("pipeline file", format!("{prefix}.{k}"), why.to_string());
        let ranges = [
            ("localization_radius", self.localization_radius, 0.0, f64::INFINITY, false),
            ("inflation", self.inflation, 1.0, 10.0, true),
            ("relax_alpha", self.relax_alpha, 0.0, 1.0, true),
            ("outlier_threshold", self.outlier_threshold, 0.0, f64::INFINITY, true),
            ("enoi_alpha", self.enoi_alpha, 0.0, f64::INFINITY, false),
        ];
        if let Some(w) = self.hybrid_weight
            && !(0.0..1.0).contains(&w)
        {
            return Err(bad("hybrid_weight", &format!("{w} is outside [0, 1)")));
        }
        for (k, value, lo, hi, closed) in ranges {
            if let Some(v) = value
                && !(v.is_finite() && v <= hi && if closed { v >= lo } else { v > lo })
            {
                let why = if hi.is_finite() { format!("{v} is outside [{lo}, {hi}]") } else { format!("{v}: expected a finite number {} {lo}", if closed { ">=" } else { ">" }) };
                return Err(bad(k, &why));
            }
        }
        if let Some(t) = &self.obs_time_tolerance {
            parse_duration(t).map_err(|e| bad("obs_time_tolerance", &e))?;
        }
        match self.obs_operator {
            OperatorKind::Auto => {
                for (k, missing) in [("variable", self.variable.is_empty()), ("obs_variable", self.obs_variable.is_none())] {
                    if missing {
                        return Err(bad(k, "this option is required (or set obs_operator = \"drifters\")"));
                    }
                }
                if let Some(o) = &self.observed
                    && !self.variable.contains(o)
                {
                    return Err(bad("observed", &format!("`{o}` is not among the analysed variables ({})", self.variable.join(", "))));
                }
                let drifter_only = [
                    ("velocity", self.velocity.is_some()),
                    ("members", self.members.is_some()),
                    ("static_members", self.static_members.is_some()),
                    ("drifter_dt", self.drifter_dt.is_some()),
                    ("drifter_restart", self.drifter_restart.is_some()),
                ];
                if let Some((k, _)) = drifter_only.iter().find(|(_, set)| *set) {
                    return Err(bad(k, "applies to obs_operator = \"drifters\" only"));
                }
            }
            OperatorKind::Drifters if self.gridded_drifters() => {
                let not_here = [
                    ("observed", self.observed.is_some()),
                    ("obs_mask", self.obs_mask.is_some()),
                    ("obs_variable", self.obs_variable.is_some()),
                    ("obs_error_variable", self.obs_error_variable.is_some()),
                    ("obs_time_index", self.obs_time_index.is_some()),
                    ("members", self.members.is_some()),
                    ("static_members", self.static_members.is_some()),
                    ("drifter_restart", self.drifter_restart.is_some()),
                ];
                if let Some((k, _)) = not_here.iter().find(|(_, set)| *set) {
                    return Err(bad(
                        k,
                        "does not apply to drifters on a gridded prior (fixes within obs_time_tolerance of the prior's valid time, every gap restarted at its observed fix)",
                    ));
                }
                if self.obs_error_std.is_none() {
                    return Err(bad("obs_error_std", "set the position error of a drifter fix, in the grid's coordinate units"));
                }
                if let Some(v) = &self.velocity
                    && v.len() != 2
                {
                    return Err(bad("velocity", &format!("expected two variables (x and y velocity), got {}", v.len())));
                }
                if let Some(v) = self.velocity().iter().find(|v| !self.variable.iter().any(|a| a == *v)) {
                    return Err(bad("velocity", &format!("`{v}` is not among the analysed variables ({}): drifters follow the analysed velocity", self.variable.join(", "))));
                }
                if let Some(dt) = self.drifter_dt
                    && !(dt.is_finite() && dt > 0.0)
                {
                    return Err(bad("drifter_dt", "must be finite and > 0"));
                }
            }
            OperatorKind::Drifters => {
                let gridded_only = [
                    ("observed", self.observed.is_some()),
                    ("obs_level", self.obs_level.is_some()),
                    ("obs_time_tolerance", self.obs_time_tolerance.is_some()),
                    ("static_member_dim", self.static_member_dim.is_some()),
                    ("velocity", self.velocity.is_some()),
                    ("obs_variable", self.obs_variable.is_some()),
                    ("obs_error_variable", self.obs_error_variable.is_some()),
                    ("obs_mask", self.obs_mask.is_some()),
                    ("obs_x", self.obs_x.is_some()),
                    ("obs_y", self.obs_y.is_some()),
                    ("geometry", self.geometry != GeometryKind::Auto),
                ];
                if let Some((k, _)) = gridded_only.iter().find(|(_, set)| *set) {
                    return Err(bad(
                        k,
                        "does not apply to obs_operator = \"drifters\" on the Lagrangian flow (the state is the prior file's coef, omega and gridded fields, on the periodic unit square); set `variable` for drifters on a gridded prior",
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
