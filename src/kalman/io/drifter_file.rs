//! Drifter observations for one analysis, read from a CF DSG trajectory file (the synth
//! `lagrangian_drifters.nc` layout, see [`crate::synth::lagrangian`]) and turned into a
//! [`DrifterObs`] on a [`FlowEnsemble`](super::flow_ensemble::FlowEnsemble)'s states.
//!
//! Which tracks: those of one sample (`sample_index(trajectory)`; chosen by `obs_time_index`
//! when the file holds several samples). The analysis time is the last observed time of those
//! tracks (a synth track ends at its sample's time stamp). Model time is
//! `(t - analysis time) / time_unit_days`; each drifter was released `duration` model time units
//! before the analysis time at `(release_x[d], release_y[d])`, `d = drifter(trajectory)`. These
//! set-up attributes come from the trajectory file, else from the prior states file; where both
//! give `time_unit_days` they must agree, or the observed times would not be the flow's.

use crate::cf::NcFile;
use crate::cf::dsg::{DsgNames, read_trajectories};
use crate::cf::time::TimeUnits;
use crate::error::{Error, Result};
use crate::kalman::obs::Observations;
use crate::kalman::obs::drifter_obs::{DrifterObs, DrifterTrack, FlowSlots};

/// How to read the observations (from the stage options).
#[derive(Debug, Clone)]
pub struct DrifterSpec {
    /// Which sample's tracks, when the file holds several.
    pub sample: Option<usize>,
    /// Observation-error standard deviation of each position coordinate.
    pub error_std: Option<f64>,
    /// Longest RK4 step of the operator (model time units).
    pub max_dt: f64,
    /// Predict each position from the previous observed one (see [`DrifterObs::predict`]).
    pub restart: bool,
    /// Prefix of the option keys, for errors (`pipeline.stages.NAME.options`).
    pub options_key: String,
}

/// Drifter observations ready for an analysis.
pub struct LoadedDrifters {
    /// The operator.
    pub op: DrifterObs,
    /// Observed positions (`x, y` per position, unwrapped) and error variances.
    pub obs: Observations,
    /// The sample whose tracks these are (`None`: the file has no `sample_index`).
    pub sample: Option<usize>,
    /// The analysis time, in `time_units`.
    pub time: f64,
    /// The trajectory file's time units.
    pub time_units: TimeUnits,
    /// Number of tracks used.
    pub tracks: usize,
}

/// A numeric global attribute of the trajectory file, else of the prior file.
fn setup(obs: &NcFile, prior: &NcFile, name: &str) -> Result<Vec<f64>> {
    obs.attr_f64s(None, name).or_else(|| prior.attr_f64s(None, name)).ok_or_else(|| {
        Error::input(obs.path(), format!("global attribute `{name}` (drifter set-up) not found here nor in the prior file {}", prior.path().display()))
    })
}

/// Reads the drifter observations of `file` for states of `n_state` elements holding the flow
/// at `slots`; `prior` is the prior states file (fallback for the set-up attributes).
pub fn load(file: &NcFile, prior: &NcFile, n_state: usize, slots: FlowSlots, spec: &DrifterSpec) -> Result<LoadedDrifters> {
    let set = read_trajectories(file, &DsgNames::default())?;
    let n_tracks = set.trajectories.len();
    let per_track = |name: &str| -> Result<Option<Vec<usize>>> {
        if !file.has_var(name) {
            return Ok(None);
        }
        let v = file.read_values(name)?;
        if v.len() != n_tracks || v.iter().any(|x| !(x.is_finite() && *x >= 0.0 && x.fract() == 0.0)) {
            return Err(file.var_error(name, format!("expected {n_tracks} non-negative integers, one per trajectory")));
        }
        Ok(Some(v.iter().map(|&x| x as usize).collect()))
    };
    let sample_index = per_track("sample_index")?;
    let drifter = per_track("drifter")?;
    let key = |k: &str| format!("{}.{k}", spec.options_key);

    // The tracks of one sample.
    let (sample, selected): (Option<usize>, Vec<usize>) = match &sample_index {
        None => (None, (0..n_tracks).collect()),
        Some(idx) => {
            let mut samples: Vec<usize> = idx.clone();
            samples.sort_unstable();
            samples.dedup();
            let s = match (spec.sample, samples.as_slice()) {
                (Some(s), _) if samples.contains(&s) => s,
                (Some(s), _) => {
                    return Err(Error::config(
                        "pipeline file",
                        key("obs_time_index"),
                        format!(
                            "no track of sample {s} in {}; its sample_index values run {} .. {}",
                            file.path().display(),
                            samples[0],
                            samples[samples.len() - 1]
                        ),
                    ));
                }
                (None, [only]) => *only,
                (None, _) => {
                    return Err(Error::config(
                        "pipeline file",
                        key("obs_time_index"),
                        format!("{} holds tracks of {} samples; set which sample (sample_index) to assimilate", file.path().display(), samples.len()),
                    ));
                }
            };
            (Some(s), (0..n_tracks).filter(|&t| idx[t] == s).collect())
        }
    };
    if let Some(&t) = selected.iter().find(|&&t| set.trajectories[t].time.is_empty()) {
        return Err(file.var_error(&set.names[0], format!("trajectory {t} has no observation")));
    }

    let unit_days = setup(file, prior, "time_unit_days")?[0];
    if let (Some(a), Some(b)) = (file.attr_f64s(None, "time_unit_days"), prior.attr_f64s(None, "time_unit_days"))
        && (a[0] - b[0]).abs() > 1e-9 * b[0].abs()
    {
        return Err(Error::input(
            file.path(),
            format!(
                "global attribute `time_unit_days` = {} differs from the prior file's {} ({}); the observed times would not be the flow's model time",
                a[0],
                b[0],
                prior.path().display()
            ),
        ));
    }
    let duration = setup(file, prior, "duration")?[0];
    let (rx, ry) = (setup(file, prior, "release_x")?, setup(file, prior, "release_y")?);
    if rx.len() != ry.len() || !(unit_days > 0.0 && duration > 0.0) {
        return Err(Error::input(
            file.path(),
            format!(
                "drifter set-up: {} release_x and {} release_y values, time_unit_days {unit_days}, duration {duration}; expected as many x as y, and positive times",
                rx.len(),
                ry.len()
            ),
        ));
    }

    let time_var = &set.names[0];
    let stamp = selected.iter().flat_map(|&t| set.trajectories[t].time.iter().copied()).fold(f64::NEG_INFINITY, f64::max);
    let to_model = |t: f64| (t - stamp) * set.time_units.unit_seconds / 86_400.0 / unit_days;
    let mut tracks = Vec::with_capacity(selected.len());
    for &t in &selected {
        let traj = &set.trajectories[t];
        let d = match &drifter {
            Some(d) => d[t],
            None if rx.len() == 1 => 0,
            None => {
                return Err(file.var_error(
                    "drifter",
                    format!("not found, and there are {} release points; expected the release point index of each trajectory", rx.len()),
                ));
            }
        };
        if d >= rx.len() {
            return Err(file.var_error("drifter", format!("trajectory {t} names release point {d}; there are {} (release_x, release_y)", rx.len())));
        }
        let times: Vec<f64> = traj.time.iter().map(|&v| to_model(v)).collect();
        // A position at or before the release (to rounding) means the times are not this flow's.
        if let Some(k) = times.iter().position(|&m| m <= -duration * (1.0 - 1e-9)) {
            return Err(file.var_error(
                time_var,
                format!(
                    "trajectory {t}, point {k} at {} is {:.6} model time units before the analysis time {}, at or before the release ({duration} units, time_unit_days = {unit_days}); the times do not match the flow set-up",
                    set.time_units.decode(traj.time[k]),
                    -times[k],
                    set.time_units.decode(stamp)
                ),
            ));
        }
        // Checked here, not by the operator, so that the message names the variable at fault.
        for (var, values) in [(&set.names[1], &traj.x), (&set.names[2], &traj.y)] {
            if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                return Err(file.var_error(
                    var,
                    format!(
                        "trajectory {t}, point {k}: position {} is not finite; expected a finite position, or _FillValue where a fix is missing",
                        values[k]
                    ),
                ));
            }
        }
        let positions = traj.x.iter().zip(&traj.y).map(|(&x, &y)| [x, y]).collect();
        tracks.push(DrifterTrack { release: [rx[d], ry[d]], release_time: -duration, times, positions });
    }
    let op = DrifterObs::new(n_state, slots, tracks, spec.max_dt).map_err(|e| file.var_error(time_var, e))?.with_restarts(spec.restart);
    let std = match spec.error_std {
        Some(s) if s.is_finite() && s > 0.0 => s,
        Some(s) => return Err(Error::config("pipeline file", key("obs_error_std"), format!("{s} must be finite and > 0"))),
        None => {
            return Err(Error::config(
                "pipeline file",
                key("obs_error_std"),
                "set the drifter position error standard deviation (unit-square lengths, e.g. 0.01; the synth positions are exact, but the update must tolerate the operator's nonlinearity)",
            ));
        }
    };
    let values = op.observed().to_vec();
    let obs = Observations { variance: vec![std * std; values.len()], values };
    Ok(LoadedDrifters { op, obs, sample, time: stamp, time_units: set.time_units, tracks: selected.len() })
}
