//! Drifter fixes from a CF DSG trajectory file (any of the layouts [`crate::cf::dsg`] reads) as
//! observations of a gridded prior's velocity, through [`GridDrifterObs`].
//!
//! Which fixes: those within `obs_time_tolerance` of the prior's valid time (a daily file of the
//! day before the analysis with a tolerance of one day, say). Consecutive fixes of a track make
//! one gap each. The observation error of a gap's end position is the fix error `sigma` of the
//! end **and** of the start it restarts from: its variance is `2 sigma^2` (the correlation between
//! consecutive gaps, which share a fix, is neglected, as a diagonal R must).

use super::ensemble_io::StateEnsemble;
use super::obs_file::{Dropped, ValidTime};
use crate::cf::NcFile;
use crate::cf::dsg::{DsgNames, read_trajectories_counted};
use crate::error::{Error, Result};
use crate::kalman::obs::Observations;
use crate::kalman::obs::grid_drifters::{Gap, GridDrifterObs, VelocitySlots};
use crate::kalman::obs::obs_operator::{Grid, GridKind};

/// How to read the fixes and where the velocity is (from the stage options).
pub struct GridDrifterSpec<'a> {
    /// The analysed variables holding the eastward and northward velocity, m/s.
    pub velocity: [&'a str; 2],
    /// Level index of the velocity the drifters follow, when the variables have several.
    pub level: Option<usize>,
    /// Position error of each fix, in the grid's coordinate units.
    pub error_std: f64,
    /// Largest time between a fix and the prior's valid time, seconds.
    pub time_tolerance_s: f64,
    /// Longest RK4 step, seconds.
    pub max_step_s: f64,
    /// The x and y variables of the file, when not found by their standard names.
    pub names: DsgNames,
    /// Prefix of the option keys, for errors.
    pub options_key: &'a str,
}

/// Drifter observations ready for an analysis.
pub struct LoadedGridDrifters {
    /// The operator.
    pub op: GridDrifterObs,
    /// End positions (`x, y` per gap) and error variances.
    pub obs: Observations,
    /// What was dropped, by reason (counted in fixes for missing and out-of-window ones, in gaps
    /// for the others).
    pub dropped: Dropped,
    /// Tracks with at least one gap.
    pub tracks: usize,
}

/// Metres per unit of a plane coordinate with `units`.
fn metres_per_unit(units: &str) -> Option<f64> {
    match units.trim().to_lowercase().as_str() {
        "m" | "metre" | "metres" | "meter" | "meters" => Some(1.0),
        "km" | "kilometre" | "kilometres" | "kilometer" | "kilometers" => Some(1000.0),
        _ => None,
    }
}

/// Reads the fixes of `file` as gaps on `grid` (the velocity level's water), for the prior `state`
/// valid at `valid`; `x_units` are the units of the prior's x coordinate.
pub fn load(file: &NcFile, spec: &GridDrifterSpec, state: &StateEnsemble, grid: &Grid, valid: Option<ValidTime>, x_units: Option<String>) -> Result<LoadedGridDrifters> {
    let key = |k: &str| format!("{}.{k}", spec.options_key);
    let err_config = |k: &str, msg: String| Error::config("pipeline file", key(k), msg);
    let mut slots_of = Vec::new();
    for name in spec.velocity {
        let (b, block) = state.block(name).ok_or_else(|| {
            err_config("velocity", format!("`{name}` is not among the analysed variables ({}); drifters follow the analysed velocity", state.variables().join(", ")))
        })?;
        let level = block.level(spec.level).map_err(|why| err_config("obs_level", why))?;
        slots_of.push(state.level_columns(b, level));
    }
    let metres = match grid.kind {
        GridKind::LatLon => 1.0,
        _ => {
            let units = x_units.clone().unwrap_or_default();
            metres_per_unit(&units)
                .ok_or_else(|| Error::input(file.path(), format!("drifters on a plane grid need the prior's x/y coordinates in m or km; they are in `{units}`")))?
        }
    };
    let valid = valid.ok_or_else(|| err_config("obs_time_tolerance", "the prior has no single valid time (a scalar or length-one `time`) to choose drifter fixes around".into()))?;
    let (set, missing) = read_trajectories_counted(file, &spec.names)?;
    let [_, x_name, _] = &set.names;
    if let (Some(theirs), Some(ours), false) = (file.attr_str(Some(x_name), "units"), &x_units, grid.kind == GridKind::LatLon)
        && metres_per_unit(&theirs) != metres_per_unit(ours)
    {
        return Err(file.var_error(x_name, format!("has units `{theirs}`; the prior's grid is in `{ours}`")));
    }
    let mut dropped = Dropped { missing: missing.time + missing.x + missing.y, ..Dropped::default() };
    let (mut gaps, mut obs, mut tracks) = (Vec::new(), Observations::default(), 0);
    let variance = 2.0 * spec.error_std * spec.error_std;
    for track in &set.trajectories {
        let mut fixes: Vec<(f64, [f64; 2])> = Vec::new();
        for ((&t, &x), &y) in track.time.iter().zip(&track.x).zip(&track.y) {
            match valid.seconds_to(&set.time_units, t) {
                Some(s) if s.abs() <= spec.time_tolerance_s => fixes.push((s, [x, y])),
                _ => dropped.outside_time_window += 1,
            }
        }
        fixes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let before = gaps.len();
        for pair in fixes.windows(2) {
            let ((t0, start), (t1, end)) = (pair[0], pair[1]);
            if grid.kind == GridKind::LatLon && (start[1].abs() > 90.0 || end[1].abs() > 90.0) {
                dropped.impossible_latitude += 1;
                continue;
            }
            if let Some(why) = [start, end].iter().find_map(|&p| grid.interpolation_weights(p).err()) {
                dropped.count(why);
                continue;
            }
            if t1 <= t0 {
                // A repeated fix carries no displacement.
                dropped.missing += 1;
                continue;
            }
            gaps.push(Gap { start, end, seconds: t1 - t0 });
            obs.values.extend(end);
            obs.variance.extend([variance, variance]);
        }
        tracks += usize::from(gaps.len() > before);
    }
    let slots = VelocitySlots { grid: grid.clone(), v: slots_of.pop().expect("two"), u: slots_of.pop().expect("two"), metres_per_unit: metres };
    let n_state = state.ensemble.ncols();
    Ok(LoadedGridDrifters { op: GridDrifterObs::new(n_state, slots, gaps, spec.max_step_s), obs, dropped, tracks })
}
