//! Pairing each state time with its observations, by calendar date.
//!
//! A state time is converted to each source's units through its calendar date and time of day
//! ([`TimeUnits::recode`]): a `noleap` state file pairs with `standard` observations on the same
//! dates, and a state date that does not exist in the source's calendar (29 February against a
//! `noleap` source, 30 February of a `360_day` state against a real calendar) has no window there.
//! Window lengths are durations in seconds, measured in the source's calendar.
//!
//! A window is complete when a gridded/stations source has at least one observation time in it,
//! or a trajectories source has as many complete tracks as it has slots. A state time whose window
//! is incomplete for some source is dropped, or kept with that source masked (`pad`); the counts
//! of each case are reported. Nothing here reads observation values: that happens in the data pass.

use serde::Serialize;

use super::config::Incomplete;
use super::observations::Source;
use super::timeline::{Timeline, describe};
use crate::cf::time::TimeUnits;
use crate::error::{Error, Result};

/// A source's window for one state time.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// No observation (only kept when padding).
    Absent,
    /// gridded/stations: the source timeline entries inside the window.
    Field(std::ops::Range<usize>),
    /// trajectories: the tracks filling the slots, in order.
    Tracks(Vec<u32>),
}

/// A state time that has its observations.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index of the state time in the state timeline.
    pub entry: usize,
    /// Per source: the state time in the source's units (NaN when absent) and the window.
    pub windows: Vec<(f64, Window)>,
}

/// Pairing counts of one source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourcePairing {
    /// Source name.
    pub name: String,
    /// State times whose window is complete.
    pub complete: usize,
    /// State times whose window is incomplete (dropped, or padded).
    pub incomplete: usize,
    /// State times whose date does not exist in the source's calendar.
    pub date_not_in_calendar: usize,
    /// trajectories: track slots per sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks: Option<usize>,
    /// trajectories: complete tracks beyond the slots, left out (summed over kept samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks_beyond_slots: Option<usize>,
    /// trajectories: partial tracks not used (summed over kept samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks_partial_unused: Option<usize>,
}

/// Pairing counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairingReport {
    /// Kept state times.
    pub state_times: usize,
    /// State times paired (the candidates for the split).
    pub paired: usize,
    /// State times dropped because a window was incomplete.
    pub dropped_incomplete: usize,
    /// State times kept with some source masked.
    pub padded: usize,
    /// Per source.
    pub sources: Vec<SourcePairing>,
}

/// A source's window for one state time, before the decision to keep the state time.
struct Pending {
    tau: f64,
    window: Window,
    complete: bool,
    beyond: usize,
    unused: usize,
}

impl Pending {
    fn absent() -> Pending {
        Pending { tau: f64::NAN, window: Window::Absent, complete: false, beyond: 0, unused: 0 }
    }
}

/// The pairing of every state time.
pub struct Plan {
    /// The paired state times, in time order.
    pub candidates: Vec<Candidate>,
    /// Counts.
    pub report: PairingReport,
}

/// `value` (in `from`) in `to`'s units through the calendar date, rolling over dates that do not
/// exist in `to`; for comparing spans only.
fn roughly(from: &TimeUnits, value: f64, to: &TimeUnits) -> f64 {
    from.try_decode(value).map_or(f64::NAN, |t| to.encode(&t))
}

/// Fails with a message naming both files when a source's times do not overlap the state times
/// (widened by the source's window): pairing would otherwise produce an empty data set.
pub fn check_overlap(state: &Timeline, state_files: &[std::path::PathBuf], source: &Source) -> Result<()> {
    let (Some((s0, s1)), Some((o0, o1))) = (state.span(), source.span()) else {
        return Err(Error::input(&source.paths()[0], format!("source `{}`: no observation is left after quality control", source.name())));
    };
    let u = source.units();
    let (lo, hi) = (roughly(&state.units, s0, u), roughly(&state.units, s1, u));
    let (before, after) = source.window();
    if o1 < lo - before || o0 > hi + after {
        let files = |p: &[std::path::PathBuf]| p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(Error::input(
            &source.paths()[0],
            format!(
                "observation times of source `{}` ({} to {}) do not overlap the state times of {} ({} to {}); pairing would give an empty data set: check that these files belong together",
                source.name(),
                describe(u, o0),
                describe(u, o1),
                files(state_files),
                state.describe(s0),
                state.describe(s1),
            ),
        ));
    }
    Ok(())
}

/// Pairs every state time with the sources' observations. Sets the track slots of trajectories
/// sources configured with `tracks = 0` to the most complete tracks any window has.
pub fn plan(state: &Timeline, sources: &mut [Source], incomplete: Incomplete, tolerance: f64) -> Plan {
    let n = state.entries.len();
    let mut report = PairingReport { state_times: n, ..Default::default() };
    let mut per_source: Vec<Vec<Pending>> = Vec::new();
    for src in sources.iter_mut() {
        let mut sp = SourcePairing { name: src.name().to_string(), ..Default::default() };
        let units = src.units().clone();
        let taus: Vec<Option<f64>> = state.entries.iter().map(|e| state.units.recode(e.value, &units)).collect();
        sp.date_not_in_calendar = taus.iter().filter(|t| t.is_none()).count();
        let tol = tolerance / units.unit_seconds;
        let windows: Vec<Pending> = match src {
            Source::Field(f) => taus
                .iter()
                .map(|tau| match tau {
                    None => Pending::absent(),
                    Some(tau) => {
                        let r = f.timeline.within(tau - f.window.0 - tol, tau + f.window.1 + tol);
                        let complete = !r.is_empty();
                        Pending { tau: *tau, window: if complete { Window::Field(r) } else { Window::Absent }, complete, beyond: 0, unused: 0 }
                    }
                })
                .collect(),
            Source::Tracks(t) => {
                let found: Vec<Option<(Vec<u32>, Vec<u32>)>> = taus.iter().map(|tau| tau.map(|tau| t.candidates(tau))).collect();
                // Automatic slots: the most complete tracks (when dropping) or tracks (when padding) any window has.
                let most = found
                    .iter()
                    .flatten()
                    .map(|(complete, partial)| if incomplete == Incomplete::Drop { complete.len() } else { complete.len() + partial.len() })
                    .max()
                    .unwrap_or(0);
                let slots = if t.configured_slots == 0 { most } else { t.configured_slots };
                t.set_slots(slots);
                sp.tracks = Some(slots);
                sp.tracks_beyond_slots = Some(0);
                sp.tracks_partial_unused = Some(0);
                taus.iter()
                    .zip(found)
                    .map(|(tau, c)| match (tau, c) {
                        (Some(tau), Some((complete, partial))) => {
                            let chosen: Vec<u32> = match incomplete {
                                Incomplete::Drop => complete.iter().take(slots).copied().collect(),
                                Incomplete::Pad => complete.iter().chain(&partial).take(slots).copied().collect(),
                            };
                            let used_partial = chosen.len() - complete.len().min(chosen.len());
                            Pending {
                                tau: *tau,
                                complete: slots > 0 && complete.len() >= slots,
                                beyond: complete.len().saturating_sub(slots),
                                unused: partial.len() - used_partial,
                                window: if chosen.is_empty() { Window::Absent } else { Window::Tracks(chosen) },
                            }
                        }
                        _ => Pending::absent(),
                    })
                    .collect()
            }
        };
        sp.complete = windows.iter().filter(|w| w.complete).count();
        sp.incomplete = n - sp.complete;
        report.sources.push(sp);
        per_source.push(windows);
    }
    let mut candidates = Vec::new();
    for entry in 0..n {
        let complete = per_source.iter().all(|w| w[entry].complete);
        let has_any = sources.is_empty() || per_source.iter().any(|w| w[entry].window != Window::Absent);
        if (!complete && incomplete == Incomplete::Drop) || !has_any {
            report.dropped_incomplete += 1;
            continue;
        }
        if !complete {
            report.padded += 1;
        }
        let mut windows = Vec::with_capacity(sources.len());
        for (w, sp) in per_source.iter_mut().zip(&mut report.sources) {
            let p = std::mem::replace(&mut w[entry], Pending::absent());
            if let Some(b) = sp.tracks_beyond_slots.as_mut() {
                *b += p.beyond;
            }
            if let Some(u) = sp.tracks_partial_unused.as_mut() {
                *u += p.unused;
            }
            windows.push((p.tau, p.window));
        }
        candidates.push(Candidate { entry, windows });
    }
    report.paired = candidates.len();
    Plan { candidates, report }
}
