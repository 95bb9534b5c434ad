//! Drifter trajectories as an observation source: tracks from CF DSG files, quality-controlled,
//! and resampled to fixed segments ending at each state time.
//!
//! For a state time `t` the segment is `[t - segment, t]`, sampled at `points` equally spaced
//! times (just `t` for one point). A track's position at a sample time is interpolated linearly in
//! time between the two fixes around it, when they are at most `max_gap` apart; a fix within the
//! time tolerance of a sample time is used as it is. A track is *complete* for `t` when it has a
//! position at every sample time. Each sample gets a fixed number of track slots (`tracks`), filled
//! in file order with complete tracks, then (when padding) with partial ones. Its contribution to
//! the observation vector is `slot × point × (x, y)`, in that nesting.
//!
//! All tracks are held in memory (three f64 per fix); drifter archives are far smaller than the
//! state archives that are streamed.

use std::path::PathBuf;

use serde::Serialize;

use super::config::{ObservationConfig, QcConfig, error_std, in_domain, seconds};
use super::layout::ObsLayout;
use super::qc::{Drops, check_loss};
use super::state::nonempty;
use super::timeline::MISSING_TIME;
use crate::cf::NcFile;
use crate::cf::dsg::{DsgNames, Layout, read_trajectories_counted};
use crate::cf::time::TimeUnits;
use crate::error::{Error, Result};

/// One drifter's kept fixes, times in the source's units.
#[derive(Debug, Clone)]
struct Track {
    time: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
}

/// Quality control of a trajectories source.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TrackQc {
    /// Trajectories in the files.
    pub trajectories: usize,
    /// Fixes in the files (not counting the padding of the multidimensional layout).
    pub fixes_stored: usize,
    /// Fixes kept.
    pub fixes: usize,
    /// Fixes whose time or position is missing (fill, NaN, or a time no calendar decodes).
    pub fixes_missing: usize,
    /// Fixes whose position is infinite.
    pub fixes_not_finite: usize,
    /// Fixes at the same time as the previous fix of their track.
    pub fixes_duplicate_time: usize,
    /// Fixes out of time order in their track, which sorting moved (kept).
    pub fixes_out_of_order: usize,
    /// Fixes outside the domain.
    pub fixes_outside_domain: usize,
    /// Trajectories with no fix left.
    pub trajectories_empty: usize,
}

/// A trajectories source.
pub struct TrackSource {
    /// Source name.
    pub name: String,
    /// The files.
    pub paths: Vec<PathBuf>,
    /// Units of all track times (those of the first file).
    pub units: TimeUnits,
    tracks: Vec<Track>,
    by_start: Vec<usize>,
    longest: f64,
    /// Segment length, in `units`.
    pub segment: f64,
    /// Points per segment.
    pub points: usize,
    /// Track slots per sample (0 until [`TrackSource::set_slots`]).
    pub slots: usize,
    /// Configured slots (0: automatic).
    pub configured_slots: usize,
    max_gap: f64,
    tol: f64,
    error_std: f64,
    names: [String; 2],
    units_xy: [String; 2],
    /// Quality control counts.
    pub qc: TrackQc,
}

impl TrackSource {
    /// Reads every track of `paths`.
    pub fn open(cfg: &ObservationConfig, paths: &[PathBuf], qc_cfg: &QcConfig, tolerance: f64) -> Result<TrackSource> {
        let names =
            DsgNames { time: nonempty(&cfg.time_var).map(String::from), x: nonempty(&cfg.x_var).map(String::from), y: nonempty(&cfg.y_var).map(String::from) };
        let mut qc = TrackQc::default();
        // Losses (missing or invalid data) count towards the limit; the other drops are only warned of.
        let (mut losses, mut others) = (Drops::default(), Drops::default());
        let mut reference: Option<(TimeUnits, [String; 2], [String; 2], f64)> = None;
        let mut tracks = Vec::new();
        let what = format!("source `{}`", cfg.name);
        let mut sorted_tracks = 0;
        for path in paths {
            let file = NcFile::open(path)?;
            let (set, dropped) = read_trajectories_counted(&file, &names)?;
            let [tv, xv, yv] = &set.names;
            if reference.is_none() {
                let units_of = |v: &str| file.attr_str(Some(v), "units").unwrap_or_default();
                reference = Some((set.time_units.clone(), [xv.clone(), yv.clone()], [units_of(xv), units_of(yv)], error_std(&file, xv, cfg)?));
            }
            let units = &reference.as_ref().expect("set above").0;
            if set.time_units.calendar != units.calendar {
                return Err(file.var_error(
                    tv,
                    format!(
                        "calendar `{}` differs from `{}` of {}; files of one source must share a calendar",
                        set.time_units.calendar,
                        units.calendar,
                        paths[0].display()
                    ),
                ));
            }
            if set.layout == Layout::Multidimensional {
                tracing::debug!("{}: multidimensional trajectories; {} padding values are no fixes", path.display(), dropped.padding);
            }
            let stored = set.trajectories.iter().map(|t| t.time.len()).sum::<usize>() + dropped.time + dropped.x + dropped.y;
            qc.fixes_stored += stored;
            qc.trajectories += set.trajectories.len();
            let tol = tolerance / units.unit_seconds;
            let (mut no_time, mut infinite) = (dropped.time, [0, 0]);
            let (duplicates, outside) = (qc.fixes_duplicate_time, qc.fixes_outside_domain);
            for t in set.trajectories {
                let mut fixes: Vec<(f64, f64, f64)> = Vec::with_capacity(t.time.len());
                for k in 0..t.time.len() {
                    match set.time_units.recode(t.time[k], units) {
                        None => no_time += 1,
                        Some(_) if !t.x[k].is_finite() => infinite[0] += 1,
                        Some(_) if !t.y[k].is_finite() => infinite[1] += 1,
                        Some(time) => fixes.push((time, t.x[k], t.y[k])),
                    }
                }
                // Fixes out of order are sorted rather than dropped: one swapped pair would
                // otherwise cost every fix up to the later of the two.
                if fixes.windows(2).any(|w| w[1].0 < w[0].0) {
                    let before = fixes.clone();
                    fixes.sort_by(|a, b| a.0.total_cmp(&b.0));
                    qc.fixes_out_of_order += fixes.iter().zip(&before).filter(|(a, b)| a != b).count();
                    sorted_tracks += 1;
                }
                let mut track = Track { time: Vec::new(), x: Vec::new(), y: Vec::new() };
                for (time, x, y) in fixes {
                    match track.time.last() {
                        Some(&last) if time - last <= tol => qc.fixes_duplicate_time += 1,
                        _ if !in_domain(qc_cfg, x, y) => qc.fixes_outside_domain += 1,
                        _ => {
                            track.time.push(time);
                            track.x.push(x);
                            track.y.push(y);
                        }
                    }
                }
                if track.time.is_empty() {
                    qc.trajectories_empty += 1;
                } else {
                    qc.fixes += track.time.len();
                    tracks.push(track);
                }
            }
            if stored > 0 && no_time == stored {
                return Err(file.var_error(tv, format!("every value is missing ({MISSING_TIME}); expected the time of each fix")));
            }
            qc.fixes_missing += no_time + dropped.x + dropped.y;
            qc.fixes_not_finite += infinite[0] + infinite[1];
            losses.add(format!("`{tv}` missing ({MISSING_TIME})"), no_time, path);
            losses.add(format!("`{xv}` missing (_FillValue or NaN)"), dropped.x, path);
            losses.add(format!("`{yv}` missing (_FillValue or NaN)"), dropped.y, path);
            losses.add(format!("`{xv}` not finite"), infinite[0], path);
            losses.add(format!("`{yv}` not finite"), infinite[1], path);
            others.add("the same time as the fix before it in its trajectory", qc.fixes_duplicate_time - duplicates, path);
            others.add("outside the domain ([ingest.qc] domain_x, domain_y)", qc.fixes_outside_domain - outside, path);
        }
        let lost = qc.fixes_missing + qc.fixes_not_finite;
        if qc.fixes == 0 {
            let why = if lost > 0 { losses.summary() } else { "none was stored, or every one is a duplicate or outside the domain".into() };
            return Err(Error::input(&paths[0], format!("{what}: no fix is left of {} in the files ({why}); expected drifter positions", qc.fixes_stored)));
        }
        check_loss(&what, lost, qc.fixes_stored, "fixes", qc_cfg.max_dropped_fraction, &paths[0], &losses.summary())?;
        losses.warn(&what, qc.fixes_stored, "fixes");
        others.warn(&what, qc.fixes_stored, "fixes");
        if qc.fixes_out_of_order > 0 {
            tracing::warn!(
                "ingest: {what}: {} of {} fixes out of time order in {sorted_tracks} trajectories ({}); sorted by time, none dropped",
                qc.fixes_out_of_order,
                qc.fixes_stored,
                super::qc::join(paths)
            );
        }
        if qc.trajectories_empty > 0 {
            tracing::warn!("ingest: {what}: {} of {} trajectories have no fix left, left out", qc.trajectories_empty, qc.trajectories);
        }
        let (units, names, units_xy, error_std) = reference.expect("at least one file");
        let mut by_start: Vec<usize> = (0..tracks.len()).collect();
        by_start.sort_by(|&a, &b| tracks[a].time[0].total_cmp(&tracks[b].time[0]));
        let longest = tracks.iter().map(|t| t.time[t.time.len() - 1] - t.time[0]).fold(0.0, f64::max);
        let u = units.unit_seconds;
        Ok(TrackSource {
            name: cfg.name.clone(),
            paths: paths.to_vec(),
            tracks,
            by_start,
            longest,
            segment: cfg.segment.as_deref().map_or(0.0, seconds) / u,
            points: cfg.points.unwrap_or(1),
            slots: 0,
            configured_slots: cfg.tracks.unwrap_or(0),
            max_gap: cfg.max_gap.as_deref().map_or(f64::INFINITY, seconds) / u,
            tol: tolerance / u,
            error_std,
            names,
            units_xy,
            units,
            qc,
        })
    }

    /// Values this source contributes to the observation vector.
    pub fn width(&self) -> usize {
        self.slots * self.points * 2
    }

    /// Sets the number of track slots per sample.
    pub fn set_slots(&mut self, slots: usize) {
        self.slots = slots;
    }

    /// First and last fix time over all tracks.
    pub fn span(&self) -> Option<(f64, f64)> {
        let first = self.tracks.iter().map(|t| t.time[0]).reduce(f64::min)?;
        let last = self.tracks.iter().map(|t| t.time[t.time.len() - 1]).reduce(f64::max)?;
        Some((first, last))
    }

    /// Sample time `k` of the segment ending at `tau`.
    fn target(&self, tau: f64, k: usize) -> f64 {
        if self.points == 1 { tau } else { tau - self.segment + self.segment * k as f64 / (self.points - 1) as f64 }
    }

    /// Tracks with a position at every sample time of the segment ending at `tau`, and tracks with
    /// a position at some of them, each in file order.
    pub fn candidates(&self, tau: f64) -> (Vec<u32>, Vec<u32>) {
        let lo = tau - self.segment - self.tol;
        let first = self.by_start.partition_point(|&i| self.tracks[i].time[0] < lo - self.longest);
        let last = self.by_start.partition_point(|&i| self.tracks[i].time[0] <= tau + self.tol);
        let mut hits: Vec<usize> = self.by_start[first..last].iter().copied().filter(|&i| *self.tracks[i].time.last().expect("non-empty") >= lo).collect();
        hits.sort_unstable();
        let (mut complete, mut partial) = (Vec::new(), Vec::new());
        for i in hits {
            let valid = (0..self.points).filter(|&k| self.position(i, self.target(tau, k)).is_some()).count();
            if valid == self.points {
                complete.push(i as u32);
            } else if valid > 0 {
                partial.push(i as u32);
            }
        }
        (complete, partial)
    }

    /// Position of track `i` at time `t`: a fix within the tolerance, or linear interpolation
    /// between the fixes around `t` when they are at most `max_gap` apart.
    fn position(&self, i: usize, t: f64) -> Option<(f64, f64)> {
        let tr = &self.tracks[i];
        let j = tr.time.partition_point(|&s| s < t);
        if j < tr.time.len() && tr.time[j] - t <= self.tol {
            return Some((tr.x[j], tr.y[j]));
        }
        if j > 0 && t - tr.time[j - 1] <= self.tol {
            return Some((tr.x[j - 1], tr.y[j - 1]));
        }
        if j == 0 || j == tr.time.len() || tr.time[j] - tr.time[j - 1] > self.max_gap {
            return None;
        }
        let w = (t - tr.time[j - 1]) / (tr.time[j] - tr.time[j - 1]);
        Some((tr.x[j - 1] + w * (tr.x[j] - tr.x[j - 1]), tr.y[j - 1] + w * (tr.y[j] - tr.y[j - 1])))
    }

    /// Fills this source's part of one observation vector from the tracks in `slots` for the
    /// segment ending at `tau`; slots beyond those given, and points without a position, are
    /// masked.
    pub fn fill(&self, slots: &[u32], tau: f64, vals: &mut [f64], mask: &mut [u8]) {
        vals.fill(f64::NAN);
        mask.fill(0);
        for (s, &i) in slots.iter().enumerate().take(self.slots) {
            for k in 0..self.points {
                if let Some((x, y)) = self.position(i as usize, self.target(tau, k)) {
                    let at = (s * self.points + k) * 2;
                    vals[at] = x;
                    vals[at + 1] = y;
                    mask[at] = 1;
                    mask[at + 1] = 1;
                }
            }
        }
    }

    /// Appends this source's (index `s`) elements to `layout`.
    pub fn describe_layout(&self, s: i32, layout: &mut ObsLayout) {
        let var0 = layout.variable_names.len() as i32;
        for c in 0..2 {
            layout.variable_names.push(format!("{}.{}", self.name, self.names[c]));
            layout.variable_units.push(self.units_xy[c].clone());
        }
        for slot in 0..self.slots {
            for k in 0..self.points {
                for c in 0..2 {
                    layout.source.push(s);
                    layout.variable.push(var0 + c);
                    layout.index.push((slot * self.points + k) as i64);
                    layout.x.push(f64::NAN);
                    layout.y.push(f64::NAN);
                    layout.time_offset.push((self.target(0.0, k)) * self.units.unit_seconds);
                    layout.error_std.push(self.error_std);
                }
            }
        }
    }
}
