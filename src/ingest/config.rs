//! The `[ingest]` section: which files hold the states and the observations, how they are laid
//! out, how they are paired in time, quality-controlled, split and summarised.
//!
//! Everything about a user's files is said here, not in code: variable and dimension names, the
//! kind of each observation source, the pairing windows. Range checks run at load for every
//! configuration ([`IngestConfig::validate`]); the keys an ingest run cannot do without are checked
//! when a pipeline has an ingest stage, or when `contrada ingest` runs ([`IngestConfig::require`]).

use serde::{Deserialize, Serialize};

use crate::cf::NcFile;
use crate::cf::time::parse_duration;
use crate::cf::write::Precision;
use crate::choice_from_string;
use crate::config::Problems;
use crate::error::Result;

/// The `[ingest]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Where the states are and how their variables are laid out.
    pub state: StateConfig,
    /// The observation sources, in the order their values appear in the observation vector.
    pub observations: Vec<ObservationConfig>,
    /// Quality-control limits beyond those in the files.
    pub qc: QcConfig,
    /// Train/validation/test split.
    pub split: SplitConfig,
    /// Normalisation statistics.
    pub stats: StatsConfig,
    /// EOF basis of the states.
    pub eof: EofConfig,
    /// What to do with a state time whose observation window is incomplete.
    pub incomplete: Incomplete,
    /// Two times closer than this are the same time (duplicates; window edges), e.g. "1 second".
    pub tolerance: String,
    /// Storage type of the state rows (`dataset.states.bin`) and of `obs` (`dataset.nc`).
    pub precision: Precision,
    /// zlib deflate level of `dataset.nc`, 0 (off) to 9 (the states file is not compressed).
    pub deflate_level: i32,
    /// Memory budget of one chunk of consecutive state times as stored, in MiB; up to three chunks
    /// of states and five of rows are in memory at once (see `stream` in the ingest module).
    pub chunk_mb: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            state: StateConfig::default(),
            observations: Vec::new(),
            qc: QcConfig::default(),
            split: SplitConfig::default(),
            stats: StatsConfig::default(),
            eof: EofConfig::default(),
            incomplete: Incomplete::Drop,
            tolerance: "1 second".into(),
            precision: Precision::F32,
            deflate_level: 0,
            chunk_mb: 64,
        }
    }
}

/// `[ingest.state]`: the state variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Name of the stage input (or `--input` of `contrada ingest`) holding the state file(s).
    pub input: String,
    /// State variables, concatenated in this order into the state vector.
    pub variables: Vec<String>,
    /// The time dimension.
    pub time_dim: String,
    /// The time variable; empty: the variable named like `time_dim`.
    pub time_var: String,
    /// Ensemble member dimension (each member a sample); empty: none.
    pub member_dim: String,
    /// Depth or layer dimension; empty: none.
    pub level_dim: String,
    /// Indices along `level_dim` to keep; empty: all.
    pub levels: Vec<usize>,
    /// Land/sea mask variable: points where it is 0 or missing are left out of the state vector.
    /// Empty: the points missing in the first snapshot are left out.
    pub mask_var: String,
    /// Coordinate variables written beside each state element (for localisation and for writing
    /// fields back); empty: found by `axis`/`standard_name`, or none.
    pub x_var: String,
    /// See `x_var`.
    pub y_var: String,
    /// See `x_var`; the coordinate of `level_dim`.
    pub z_var: String,
    /// Physical limits: a snapshot with a value outside them fails QC.
    pub limits: Vec<Limit>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            input: "states".into(),
            variables: Vec::new(),
            time_dim: "time".into(),
            time_var: String::new(),
            member_dim: String::new(),
            level_dim: String::new(),
            levels: Vec::new(),
            mask_var: String::new(),
            x_var: String::new(),
            y_var: String::new(),
            z_var: String::new(),
            limits: Vec::new(),
        }
    }
}

/// A configured range check of one variable, in its physical (unpacked) units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The variable.
    pub variable: String,
    /// Smallest acceptable value.
    pub min: f64,
    /// Largest acceptable value.
    pub max: f64,
}

/// The layout of an observation source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum ObsKind {
    /// Fields on a grid `(time, ...)`, with an optional static mask.
    Gridded,
    /// Series at fixed stations `(time, station)`, with x/y or lon/lat per station.
    Stations,
    /// Drifter tracks in CF discrete sampling geometry (`featureType = "trajectory"`).
    Trajectories,
}
choice_from_string!(ObsKind);

/// How the observations inside a window become one value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Combine {
    /// For each element, the valid value closest in time to the state time.
    #[default]
    Nearest,
    /// For each element, the mean of its valid values in the window.
    Mean,
}
choice_from_string!(Combine);

/// What happens to a state time whose observation window is incomplete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Incomplete {
    /// The state time is left out of the data set.
    #[default]
    Drop,
    /// The state time is kept; the missing observations are masked (`obs_mask = 0`).
    Pad,
}
choice_from_string!(Incomplete);

/// One `[[ingest.observations]]` entry. Keys that only apply to some kinds are options, so a key
/// set for the wrong kind can be refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservationConfig {
    /// Source name: used in the data set's metadata; letters, digits, '_' and '-'.
    pub name: String,
    /// Layout: gridded | stations | trajectories.
    pub kind: Option<ObsKind>,
    /// Stage input holding the file(s); empty: the same as `name`.
    pub input: String,
    /// gridded/stations: the observed variables.
    pub variables: Vec<String>,
    /// gridded/stations: the time dimension (default "time").
    pub time_dim: Option<String>,
    /// The time variable; empty: found from `time_dim` (gridded/stations) or by CF rules.
    pub time_var: String,
    /// stations: the station dimension.
    pub station_dim: Option<String>,
    /// gridded: static mask variable; points where it is 0 or missing are left out.
    pub mask_var: Option<String>,
    /// x / longitude variable (trajectories: of each fix; stations: of each station; gridded: of
    /// each point); empty: found by `axis`/`standard_name`.
    pub x_var: String,
    /// y / latitude variable, as `x_var`.
    pub y_var: String,
    /// Range checks of the observed variables (values outside are masked).
    pub limits: Vec<Limit>,
    /// Observation error standard deviation, in the variables' units.
    pub error_std: Option<f64>,
    /// Or: name of the variable attribute that holds it (e.g. "error_std").
    pub error_attribute: Option<String>,
    /// gridded/stations: observations from `window_before` before the state time... (default "0")
    pub window_before: Option<String>,
    /// ...to `window_after` after it (default "0").
    pub window_after: Option<String>,
    /// gridded/stations: nearest | mean of the values in the window.
    pub combine: Option<Combine>,
    /// trajectories: length of the track segment that ends at the state time, e.g. "6 hours".
    pub segment: Option<String>,
    /// trajectories: points the segment is resampled to (linear interpolation in time).
    pub points: Option<usize>,
    /// trajectories: tracks per sample; 0 (default): the most complete tracks any window has.
    pub tracks: Option<usize>,
    /// trajectories: interpolate only between fixes at most this far apart (default: any).
    pub max_gap: Option<String>,
}

/// `[ingest.qc]`: checks beyond the files' own fill values and valid ranges.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QcConfig {
    /// `[min, max]` of x/longitude of observation positions; empty: no check.
    pub domain_x: Vec<f64>,
    /// `[min, max]` of y/latitude; empty: no check.
    pub domain_y: Vec<f64>,
    /// The run fails when quality control drops more than this fraction of the state snapshots,
    /// or of one source's observations (fixes, times or values), as missing or invalid: a loss that
    /// large means a broken input, not a few bad records.
    pub max_dropped_fraction: f64,
}

impl Default for QcConfig {
    fn default() -> Self {
        QcConfig { domain_x: Vec::new(), domain_y: Vec::new(), max_dropped_fraction: 0.5 }
    }
}

/// `[ingest.split]`: fractions of contiguous time blocks per split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Fraction of blocks for training.
    pub train: f64,
    /// Fraction for validation.
    pub validation: f64,
    /// Fraction for testing.
    pub test: f64,
    /// Number of contiguous time blocks the samples are cut into before the seeded assignment.
    pub blocks: usize,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { train: 0.7, validation: 0.15, test: 0.15, blocks: 20 }
    }
}

/// How states are normalised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Normalise {
    /// One mean and standard deviation per variable (all its points and levels).
    #[default]
    Variable,
    /// One mean and standard deviation per state element.
    Point,
}
choice_from_string!(Normalise);

/// `[ingest.stats]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// variable | point.
    pub normalise: Normalise,
}

/// `[ingest.eof]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EofConfig {
    /// Number of EOF modes kept (0: no EOF basis).
    pub modes: usize,
    /// At most this many training snapshots enter the SVD (a seeded uniform subsample beyond).
    pub max_snapshots: usize,
    /// ...and at most this much memory for them, in MiB.
    pub max_memory_mb: usize,
}

impl Default for EofConfig {
    fn default() -> Self {
        EofConfig { modes: 20, max_snapshots: 2000, max_memory_mb: 512 }
    }
}

/// Parses a configured duration (seconds), recording a problem under `key`.
fn duration(p: &mut Problems, key: &str, text: &str) -> f64 {
    parse_duration(text).unwrap_or_else(|e| {
        p.check(false, key, e);
        0.0
    })
}

/// A configured duration in seconds; `text` was validated at load, so a failure is reported as 0.
pub fn seconds(text: &str) -> f64 {
    parse_duration(text).unwrap_or(0.0)
}

fn check_limits(p: &mut Problems, key: &str, limits: &[Limit], variables: &[String]) {
    for (i, l) in limits.iter().enumerate() {
        let k = format!("{key}[{i}]");
        p.check(l.min < l.max, format!("{k}.min"), format!("min {} must be below max {}", l.min, l.max));
        if !variables.is_empty() {
            p.check(
                variables.contains(&l.variable),
                format!("{k}.variable"),
                format!("`{}` is not one of the configured variables: {}", l.variable, variables.join(", ")),
            );
        }
    }
}

fn check_domain(p: &mut Problems, key: &str, d: &[f64]) {
    p.check(d.is_empty() || (d.len() == 2 && d[0] < d[1]), key, "expected [] (no check) or [min, max] with min < max");
}

impl IngestConfig {
    /// Range and consistency checks that hold whether or not an ingest runs.
    pub fn validate(&self, p: &mut Problems) {
        p.range("ingest.deflate_level", self.deflate_level, 0, 9);
        p.range("ingest.chunk_mb", self.chunk_mb, 1, 1 << 20);
        duration(p, "ingest.tolerance", &self.tolerance);
        let s = &self.state;
        p.check(!s.time_dim.is_empty(), "ingest.state.time_dim", "must name the time dimension");
        p.check(s.levels.is_empty() || !s.level_dim.is_empty(), "ingest.state.levels", "levels need ingest.state.level_dim");
        check_limits(p, "ingest.state.limits", &s.limits, &s.variables);
        check_domain(p, "ingest.qc.domain_x", &self.qc.domain_x);
        check_domain(p, "ingest.qc.domain_y", &self.qc.domain_y);
        p.range("ingest.qc.max_dropped_fraction", self.qc.max_dropped_fraction, 0.0, 1.0);
        let sp = &self.split;
        for (k, v) in [("train", sp.train), ("validation", sp.validation), ("test", sp.test)] {
            p.range(&format!("ingest.split.{k}"), v, 0.0, 1.0);
        }
        let sum = sp.train + sp.validation + sp.test;
        p.check((sum - 1.0).abs() < 1e-9, "ingest.split", format!("train + validation + test is {sum}; expected 1"));
        p.check(sp.train > 0.0, "ingest.split.train", "must be greater than 0: statistics come from the training split");
        let nonzero = [sp.train, sp.validation, sp.test].iter().filter(|&&f| f > 0.0).count();
        p.check(
            sp.blocks >= nonzero,
            "ingest.split.blocks",
            format!("value {} is too small; allowed: at least {nonzero} (one block per split in use)", sp.blocks),
        );
        p.positive("ingest.eof.max_snapshots", self.eof.max_snapshots);
        p.positive("ingest.eof.max_memory_mb", self.eof.max_memory_mb);
        for (i, o) in self.observations.iter().enumerate() {
            o.validate(p, &format!("ingest.observations[{i}]"));
            if self.observations[..i].iter().any(|e| e.name == o.name) {
                p.check(false, format!("ingest.observations[{i}].name"), format!("source name `{}` is used twice", o.name));
            }
        }
    }

    /// Checks the keys an ingest run needs (the state variables); for pipelines with an ingest
    /// stage and for `contrada ingest`.
    pub fn require(&self, p: &mut Problems) {
        p.check(!self.state.variables.is_empty(), "ingest.state.variables", "required: the state variables, e.g. [\"temp\", \"salt\"]");
    }

    /// The stage input names an ingest reads: the state input, then each source's.
    pub fn input_names(&self) -> Vec<String> {
        std::iter::once(self.state.input.clone()).chain(self.observations.iter().map(|o| o.input_name().to_string())).collect()
    }
}

impl ObservationConfig {
    /// The stage input holding this source's files.
    pub fn input_name(&self) -> &str {
        if self.input.is_empty() { &self.name } else { &self.input }
    }

    /// The kind (validated to be set).
    pub fn kind(&self) -> ObsKind {
        self.kind.unwrap_or(ObsKind::Gridded)
    }

    /// `window_before` and `window_after` in seconds.
    pub fn window(&self) -> (f64, f64) {
        let get = |o: &Option<String>| o.as_deref().map_or(0.0, seconds);
        (get(&self.window_before), get(&self.window_after))
    }

    fn validate(&self, p: &mut Problems, key: &str) {
        let name_ok = !self.name.is_empty() && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        p.check(name_ok, format!("{key}.name"), format!("source name `{}` must be non-empty and use only letters, digits, '_' and '-'", self.name));
        let Some(kind) = self.kind else {
            p.check(false, format!("{key}.kind"), "required; allowed: gridded, stations, trajectories");
            return;
        };
        let tracks = kind == ObsKind::Trajectories;
        let only = |p: &mut Problems, set: bool, k: &str, kinds: &str| {
            p.check(!set, format!("{key}.{k}"), format!("applies only to kind {kinds}, not {}", format!("{kind:?}").to_lowercase()));
        };
        for (set, k) in
            [(self.segment.is_some(), "segment"), (self.points.is_some(), "points"), (self.tracks.is_some(), "tracks"), (self.max_gap.is_some(), "max_gap")]
        {
            if !tracks {
                only(p, set, k, "trajectories");
            }
        }
        for (set, k) in [
            (!self.variables.is_empty(), "variables"),
            (self.time_dim.is_some(), "time_dim"),
            (self.window_before.is_some(), "window_before"),
            (self.window_after.is_some(), "window_after"),
            (self.combine.is_some(), "combine"),
            (!self.limits.is_empty(), "limits"),
        ] {
            if tracks {
                only(p, set, k, "gridded or stations");
            }
        }
        if kind != ObsKind::Stations {
            only(p, self.station_dim.is_some(), "station_dim", "stations");
        }
        if kind != ObsKind::Gridded {
            only(p, self.mask_var.is_some(), "mask_var", "gridded");
        }
        if tracks {
            match &self.segment {
                None => p.check(false, format!("{key}.segment"), "required for trajectories: the segment length ending at each state time, e.g. \"6 hours\""),
                Some(s) => {
                    let secs = duration(p, &format!("{key}.segment"), s);
                    let points = self.points.unwrap_or(0);
                    p.check(self.points.is_some(), format!("{key}.points"), "required for trajectories: points per resampled segment");
                    p.check(
                        points >= 1 && (secs == 0.0 || points >= 2),
                        format!("{key}.points"),
                        format!("value {points} is out of range; allowed: 1 or more, 2 or more when the segment is longer than 0"),
                    );
                }
            }
            if let Some(g) = &self.max_gap {
                duration(p, &format!("{key}.max_gap"), g);
            }
        } else {
            p.check(!self.variables.is_empty(), format!("{key}.variables"), "required for gridded and stations sources");
            if kind == ObsKind::Stations {
                p.check(self.station_dim.as_deref().is_some_and(|d| !d.is_empty()), format!("{key}.station_dim"), "required for stations sources");
            }
            for (k, v) in [("window_before", &self.window_before), ("window_after", &self.window_after)] {
                if let Some(v) = v {
                    duration(p, &format!("{key}.{k}"), v);
                }
            }
        }
        check_limits(p, &format!("{key}.limits"), &self.limits, &self.variables);
        if let Some(e) = self.error_std {
            p.check(e > 0.0 && e.is_finite(), format!("{key}.error_std"), format!("value {e} must be greater than 0"));
        }
        p.check(!(self.error_std.is_some() && self.error_attribute.is_some()), format!("{key}.error_attribute"), "set error_std or error_attribute, not both");
    }
}

/// Whether `(x, y)` is inside the configured domain (no check on an axis without one).
pub fn in_domain(qc: &QcConfig, x: f64, y: f64) -> bool {
    let inside = |d: &[f64], v: f64| d.len() != 2 || (v >= d[0] && v <= d[1]);
    inside(&qc.domain_x, x) && inside(&qc.domain_y, y)
}

/// The error standard deviation of variable `var`: configured, or from its attribute, else NaN.
pub fn error_std(file: &NcFile, var: &str, cfg: &ObservationConfig) -> Result<f64> {
    if let Some(e) = cfg.error_std {
        return Ok(e);
    }
    match &cfg.error_attribute {
        None => Ok(f64::NAN),
        Some(a) => file
            .attr_f64s(Some(var), a)
            .and_then(|v| v.first().copied())
            .filter(|e| e.is_finite() && *e > 0.0)
            .ok_or_else(|| file.var_error(var, format!("no positive numeric attribute `{a}` (the configured error_attribute)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(cfg: &IngestConfig) -> Vec<String> {
        let mut p = Problems::default();
        cfg.validate(&mut p);
        cfg.require(&mut p);
        p.0.into_iter().map(|(k, m)| format!("{k}: {m}")).collect()
    }

    fn drifters() -> ObservationConfig {
        ObservationConfig {
            name: "drifters".into(),
            kind: Some(ObsKind::Trajectories),
            segment: Some("6 hours".into()),
            points: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_configuration_passes() {
        let cfg =
            IngestConfig { state: StateConfig { variables: vec!["psi".into()], ..Default::default() }, observations: vec![drifters()], ..Default::default() };
        assert_eq!(problems(&cfg), Vec::<String>::new());
    }

    #[test]
    fn problems_name_their_keys() {
        let mut sst = ObservationConfig { name: "sst".into(), kind: Some(ObsKind::Gridded), segment: Some("1 day".into()), ..Default::default() };
        sst.window_after = Some("3 fortnights".into());
        let cfg = IngestConfig {
            observations: vec![drifters(), sst, ObservationConfig { name: "drifters".into(), ..Default::default() }],
            split: SplitConfig { train: 0.5, ..Default::default() },
            ..Default::default()
        };
        let found = problems(&cfg);
        for needle in [
            "ingest.state.variables: required",
            "ingest.observations[1].segment: applies only to kind trajectories",
            "ingest.observations[1].variables: required",
            "ingest.observations[1].window_after: duration \"3 fortnights\"",
            "ingest.observations[2].kind: required",
            "ingest.observations[2].name: source name `drifters` is used twice",
            "ingest.split: train + validation + test is 0.8",
        ] {
            assert!(found.iter().any(|f| f.starts_with(needle)), "missing `{needle}` in {found:#?}");
        }
    }

    #[test]
    fn trajectories_need_a_segment_and_enough_points() {
        let mut d = drifters();
        d.points = Some(1);
        let cfg = IngestConfig { state: StateConfig { variables: vec!["psi".into()], ..Default::default() }, observations: vec![d], ..Default::default() };
        let found = problems(&cfg);
        assert!(found.iter().any(|f| f.starts_with("ingest.observations[0].points")), "{found:?}");
        let mut d = drifters();
        d.segment = Some("0".into());
        d.points = Some(1);
        let cfg = IngestConfig { state: cfg.state.clone(), observations: vec![d], ..Default::default() };
        assert!(problems(&cfg).is_empty(), "a zero-length segment of one point is the position at the state time");
    }
}
