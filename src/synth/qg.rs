//! The two-layer QG ocean as a forecasting centre would hold it: from one seeded spin-up of
//! [`crate::models::qg`], the files of an observing-system simulation experiment, CF-1.8 with
//! coordinates in metres.
//!
//! Timeline (all times in hours since `start`, the first archive snapshot, after `spinup_days`):
//! - `qg_archive.nc`: `samples` states every `archive_every_hours` (the climatology and training
//!   set), `psi`, `u`, `v` (and `q` with `write_q`) over `(time, layer, y, x)`, float32;
//! - after `gap_days`, the truth period `T0 .. T0 + truth_days` days: `qg_truth.nc` in the
//!   archive's layout, every `archive_every_hours`;
//! - `forecast_YYYYMMDD.nc` for each day `d = 1 ..= truth_days`: `members` one-day forecasts valid
//!   at `T0 + d` days over `(member, layer, y, x)` with a scalar `time` (the valid time). They
//!   start from perturbed analyses of the truth a day earlier: a centre `truth + e0` and members
//!   `centre + e_m`, all perturbations drawn alike, so that the truth is statistically one more
//!   member and the ensemble is calibrated; the spread then grows with the flow for a day;
//! - observations of the truth period, each with its error standard deviation as the attribute
//!   `error_std`: `stations` tide-gauge-like series of upper-layer `psi` every `obs_every_hours`
//!   as CF DSG `timeSeries`, once `(time, station)` (`qg_stations.nc`) and once `(station, time)`
//!   (`qg_stations_by_station.nc`); a daily satellite swath of upper-layer `psi`
//!   (`qg_swath.nc`, `(time, y, x)`, missing outside a band of `swath_width_m` that moves by
//!   `swath_shift_m` a day, with its `mask`); `drifters` advected by the full upper-layer velocity
//!   (`U1 + u`, `v`; RK4 in time with the velocity interpolated linearly between model steps and
//!   bilinearly in space) as a CF DSG contiguous ragged array (`qg_drifters.nc`, positions in
//!   metres on the periodic domain) and once per day (`drifters_YYYYMMDD.nc`).
//!
//! `psi`, `u` and `v` are the model's anomalies: `u = -dpsi/dy`, `v = dpsi/dx`; the imposed zonal
//! background flow of each layer (`U1`, `U2` in the global attributes) is not included.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged_as};
use crate::cf::time::{Calendar, TimeUnits};
use crate::cf::write::{Attr, NcWriter, Precision};
use crate::config::{IoConfig, Problems};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::models::qg::{QgConfig, QgFields, QgModel};
use crate::progress::Progress;

use super::config::{MAX_SAMPLES, time_units};

/// File of the archive states.
pub const ARCHIVE_FILE: &str = "qg_archive.nc";
/// File of the truth states.
pub const TRUTH_FILE: &str = "qg_truth.nc";
/// Stations, `(time, station)`.
pub const STATIONS_FILE: &str = "qg_stations.nc";
/// Stations, `(station, time)`.
pub const STATIONS_BY_STATION_FILE: &str = "qg_stations_by_station.nc";
/// The daily swath.
pub const SWATH_FILE: &str = "qg_swath.nc";
/// Every drifter over the truth period.
pub const DRIFTERS_FILE: &str = "qg_drifters.nc";

/// `[synth.qg]`: the QG OSSE. `[synth.qg.model]` is the model itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QgSynthConfig {
    /// The model's parameters.
    pub model: QgConfig,
    /// Time stamp of the first archive snapshot, `YYYY-MM-DD[ HH:MM:SS]`.
    pub start: String,
    /// Spin-up before the first snapshot, days (the eddies need a few years to equilibrate).
    pub spinup_days: f64,
    /// RMS PV anomaly of the initial noise, s^-1.
    pub initial_q_rms: f64,
    /// Archive snapshots.
    pub samples: usize,
    /// Hours between snapshots (archive and truth); a multiple of the model step.
    pub archive_every_hours: f64,
    /// Days between the last archive snapshot and the truth period.
    pub gap_days: f64,
    /// Days of the truth period: one forecast file a day, observations throughout.
    pub truth_days: usize,
    /// Members of each daily forecast.
    pub members: usize,
    /// RMS PV of each analysis perturbation, as a fraction of the truth's RMS PV.
    pub perturbation: f64,
    /// Number of stations (at grid-cell centres of the upper layer).
    pub stations: usize,
    /// Station error standard deviation of psi, m^2/s.
    pub station_error_m2_s: f64,
    /// Hours between station and drifter observations; a multiple of the model step.
    pub obs_every_hours: f64,
    /// Width of the daily swath, m.
    pub swath_width_m: f64,
    /// Eastward shift of the swath from one day to the next, m.
    pub swath_shift_m: f64,
    /// Swath error standard deviation of psi, m^2/s.
    pub swath_error_m2_s: f64,
    /// Number of drifters, released at random positions at the start of the truth period.
    pub drifters: usize,
    /// Drifter position error standard deviation, m.
    pub drifter_error_m: f64,
    /// Also write the PV anomaly `q` into the archive and truth.
    pub write_q: bool,
}

impl Default for QgSynthConfig {
    fn default() -> Self {
        QgSynthConfig {
            model: QgConfig::default(),
            start: "2000-01-01 00:00:00".into(),
            spinup_days: 1825.0,
            initial_q_rms: 1e-7,
            samples: 2000,
            archive_every_hours: 12.0,
            gap_days: 30.0,
            truth_days: 10,
            members: 32,
            perturbation: 0.03,
            stations: 40,
            station_error_m2_s: 100.0,
            obs_every_hours: 6.0,
            swath_width_m: 200e3,
            swath_shift_m: 130e3,
            swath_error_m2_s: 100.0,
            drifters: 30,
            drifter_error_m: 500.0,
            write_q: false,
        }
    }
}

impl QgSynthConfig {
    /// Range checks, keys under `synth.qg`.
    pub fn validate(&self, p: &mut Problems) {
        let key = |k: &str| format!("synth.qg.{k}");
        self.model.validate_section("synth.qg.model", p);
        if let Err(e) = time_units("hours", &self.start) {
            p.check(false, key("start"), e);
        }
        p.range(&key("spinup_days"), self.spinup_days, 0.0, 1e6);
        p.range(&key("initial_q_rms"), self.initial_q_rms, 1e-15, 1e-3);
        p.range(&key("samples"), self.samples, 1, MAX_SAMPLES);
        p.range(&key("gap_days"), self.gap_days, 0.0, 1e5);
        p.range(&key("truth_days"), self.truth_days, 1, 100_000);
        p.range(&key("members"), self.members, 2, 100_000);
        p.range(&key("perturbation"), self.perturbation, 0.0, 10.0);
        p.range(&key("stations"), self.stations, 0, self.model.nx * self.model.nx);
        p.range(&key("drifters"), self.drifters, 0, 1_000_000);
        for (k, v) in [("station_error_m2_s", self.station_error_m2_s), ("swath_error_m2_s", self.swath_error_m2_s), ("drifter_error_m", self.drifter_error_m)]
        {
            p.range(&key(k), v, 0.0, 1e12);
        }
        p.range(&key("swath_width_m"), self.swath_width_m, 0.0, self.model.side_m);
        p.range(&key("swath_shift_m"), self.swath_shift_m, 0.0, self.model.side_m);
        let dt_h = self.model.dt_s / 3600.0;
        for (k, hours) in [("archive_every_hours", self.archive_every_hours), ("obs_every_hours", self.obs_every_hours)] {
            let steps = hours / dt_h;
            p.check(
                hours > 0.0 && (steps - steps.round()).abs() < 1e-9,
                key(k),
                format!("{hours} hours is not a positive multiple of the model step ({dt_h} hours)"),
            );
        }
        let per_day = 24.0 / self.archive_every_hours;
        p.check((per_day - per_day.round()).abs() < 1e-9, key("archive_every_hours"), "must divide a day (the forecasts are daily)");
        let gap = self.gap_days * 24.0 / dt_h;
        p.check((gap - gap.round()).abs() < 1e-9, key("gap_days"), "must be a whole number of model steps");
    }

    fn steps(&self, hours: f64) -> usize {
        (hours * 3600.0 / self.model.dt_s).round() as usize
    }
}

/// Generates every file of the QG OSSE into `dir`; returns the file names written.
pub fn generate(cfg: &QgSynthConfig, seed: u64, io: &IoConfig, dir: &Path) -> Result<Vec<String>> {
    let mut model = QgModel::new(&cfg.model)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let units = time_units("hours", &cfg.start).map_err(|e| Error::config("configuration", "synth.qg.start", e))?;
    let mut state = model.random_state(&mut rng, cfg.initial_q_rms);
    let spinup = (cfg.spinup_days * 24.0 * 3600.0 / cfg.model.dt_s).round() as usize;
    let progress = Progress::new("synth qg spin-up", spinup as u64);
    for i in 0..spinup {
        model.step(&mut state);
        if i % 1000 == 999 {
            progress.inc(1000);
        }
    }
    progress.finish();
    check_finite(&state, "the spin-up")?;
    let mut fields = model.new_fields();
    let grid = Grid::of(&model);
    let mut files = Vec::new();

    // The archive, streamed one snapshot at a time.
    let every = cfg.steps(cfg.archive_every_hours);
    let archive_times: Vec<f64> = (0..cfg.samples).map(|i| i as f64 * cfg.archive_every_hours).collect();
    let mut archive = StateFile::create(&dir.join(ARCHIVE_FILE), cfg, &grid, &units, &archive_times, seed, io, "archive")?;
    let progress = Progress::new("synth qg archive", cfg.samples as u64);
    for i in 0..cfg.samples {
        if i > 0 {
            model.integrate(&mut state, every);
        }
        model.fields(&state, &mut fields);
        archive.write(i, &state, &fields)?;
        progress.inc(1);
    }
    progress.finish();
    check_finite(&state, "the archive run")?;
    archive.finish()?;
    files.push(ARCHIVE_FILE.to_string());

    // The truth period, with its observations taken along the way.
    model.integrate(&mut state, cfg.steps(cfg.gap_days * 24.0));
    let t0 = archive_times.last().copied().unwrap_or(0.0) + cfg.gap_days * 24.0;
    let truth_steps = cfg.steps(cfg.truth_days as f64 * 24.0);
    let truth_times: Vec<f64> = (0..=truth_steps / every).map(|k| t0 + k as f64 * cfg.archive_every_hours).collect();
    let mut truth = StateFile::create(&dir.join(TRUTH_FILE), cfg, &grid, &units, &truth_times, seed, io, "truth")?;
    let obs_every = cfg.steps(cfg.obs_every_hours);
    let day = cfg.steps(24.0);
    let stations = Stations::draw(cfg, &grid, &mut rng);
    let mut drifters = Drifters::release(cfg, &grid, &mut rng);
    let mut station_values = Vec::new();
    let mut swath = Vec::new();
    let mut daily_starts = vec![state.clone()];
    let (station_noise, swath_noise) = (normal(cfg.station_error_m2_s), normal(cfg.swath_error_m2_s));
    model.fields(&state, &mut fields);
    // The fields before and after each step, for the drifters; swapped, not copied.
    let mut before = model.new_fields();
    let progress = Progress::new("synth qg truth", truth_steps as u64);
    for step in 0..=truth_steps {
        if step > 0 {
            std::mem::swap(&mut before, &mut fields);
            model.step(&mut state);
            model.fields(&state, &mut fields);
            drifters.advance(&grid, &before, &fields, cfg.model.u1_m_s, cfg.model.dt_s);
        }
        let hours = t0 + step as f64 * cfg.model.dt_s / 3600.0;
        if step % every == 0 {
            truth.write(step / every, &state, &fields)?;
        }
        if step > 0 && step % obs_every == 0 {
            station_values.push((hours, stations.observe(fields.psi(0), &mut rng, &station_noise)));
            drifters.record(hours, &mut rng, cfg.drifter_error_m);
        }
        if step > 0 && step % day == 0 {
            let d = step / day;
            swath.push(swath_of(cfg, &grid, fields.psi(0), (d, hours), &mut rng, &swath_noise));
            daily_starts.push(state.clone());
        }
        progress.inc(1);
    }
    progress.finish();
    check_finite(&state, "the truth run")?;
    truth.finish()?;
    files.push(TRUTH_FILE.to_string());

    // One forecast file a day, from perturbed analyses of the truth a day before.
    let q_rms = |q: &[f64]| (q.iter().map(|v| v * v).sum::<f64>() / q.len() as f64).sqrt();
    for d in 1..=cfg.truth_days {
        let start = &daily_starts[d - 1];
        let scale = cfg.perturbation * q_rms(start);
        let mut centre = start.clone();
        add_perturbation(&mut model, &mut centre, scale, &mut rng);
        let mut members = Vec::with_capacity(cfg.members);
        for _ in 0..cfg.members {
            let mut m = centre.clone();
            add_perturbation(&mut model, &mut m, scale, &mut rng);
            model.integrate(&mut m, day);
            check_finite(&m, "a forecast member")?;
            model.fields(&m, &mut fields);
            members.push(fields.clone());
        }
        let valid = t0 + d as f64 * 24.0;
        let name = format!("forecast_{}.nc", date_stamp(&units, valid));
        write_forecast(&dir.join(&name), cfg, &grid, &units, valid, &members, seed, io)?;
        files.push(name);
    }

    write_stations(&dir.join(STATIONS_FILE), cfg, &stations, &units, &station_values, false, seed, io)?;
    write_stations(&dir.join(STATIONS_BY_STATION_FILE), cfg, &stations, &units, &station_values, true, seed, io)?;
    write_swath(&dir.join(SWATH_FILE), cfg, &grid, &units, &swath, seed, io)?;
    files.extend([STATIONS_FILE, STATIONS_BY_STATION_FILE, SWATH_FILE].map(String::from));
    let all = drifters.tracks(&units, |_| true);
    write_drifters(&dir.join(DRIFTERS_FILE), cfg, &all, seed, io)?;
    files.push(DRIFTERS_FILE.to_string());
    for d in 1..=cfg.truth_days {
        let (from, to) = (t0 + (d - 1) as f64 * 24.0, t0 + d as f64 * 24.0);
        let name = format!("drifters_{}.nc", date_stamp(&units, to));
        write_drifters(&dir.join(&name), cfg, &drifters.tracks(&units, |t| t > from && t <= to), seed, io)?;
        files.push(name);
    }
    Ok(files)
}

fn normal(std: f64) -> Normal<f64> {
    Normal::new(0.0, std.max(0.0)).expect("a finite, non-negative standard deviation")
}

fn check_finite(state: &[f64], what: &str) -> Result<()> {
    if state.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::config("configuration", "synth.qg.model.dt_s", format!("{what} blew up (non-finite PV); reduce the time step or strengthen the filter")))
    }
}

/// Adds a random perturbation of RMS PV `scale` (the model's smooth random state) to `q`.
fn add_perturbation(model: &mut QgModel, q: &mut [f64], scale: f64, rng: &mut StdRng) {
    if scale > 0.0 {
        for (v, e) in q.iter_mut().zip(model.random_state(rng, scale)) {
            *v += e;
        }
    }
}

/// `YYYYMMDD` of `hours` since the epoch of `units`.
fn date_stamp(units: &TimeUnits, hours: f64) -> String {
    let t = units.decode(hours).to_string();
    t.get(..10).unwrap_or(&t).replace('-', "")
}

/// The cell-centred grid.
struct Grid {
    n: usize,
    side: f64,
    coords: Vec<f64>,
}

impl Grid {
    fn of(model: &QgModel) -> Grid {
        Grid { n: model.n(), side: model.config().side_m, coords: model.coordinates_m() }
    }

    /// Bilinear interpolation of the row-major (`y` slow) periodic `field` at `(x, y)` metres.
    fn interpolate(&self, field: &[f64], x: f64, y: f64) -> f64 {
        let dx = self.side / self.n as f64;
        // Cell centres sit at (i + 1/2) dx.
        let (fx, fy) = (x / dx - 0.5, y / dx - 0.5);
        let (i0, j0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - i0, fy - j0);
        let n = self.n as i64;
        let wrap = |i: f64| (i as i64).rem_euclid(n) as usize;
        let (i0, i1, j0, j1) = (wrap(i0), wrap(i0 + 1.0), wrap(j0), wrap(j0 + 1.0));
        let at = |i: usize, j: usize| field[j * self.n + i];
        (1.0 - ay) * ((1.0 - ax) * at(i0, j0) + ax * at(i1, j0)) + ay * ((1.0 - ax) * at(i0, j1) + ax * at(i1, j1))
    }
}

/// Station positions: distinct grid cells of the upper layer.
struct Stations {
    cells: Vec<usize>,
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Stations {
    fn draw(cfg: &QgSynthConfig, grid: &Grid, rng: &mut StdRng) -> Stations {
        let n2 = grid.n * grid.n;
        let cells = rand::seq::index::sample(rng, n2, cfg.stations.min(n2)).into_vec();
        let x = cells.iter().map(|c| grid.coords[c % grid.n]).collect();
        let y = cells.iter().map(|c| grid.coords[c / grid.n]).collect();
        Stations { cells, x, y }
    }

    fn observe(&self, psi: &[f64], rng: &mut StdRng, noise: &Normal<f64>) -> Vec<f64> {
        self.cells.iter().map(|&c| psi[c] + noise.sample(rng)).collect()
    }
}

/// The drifters' true positions (wrapped into the domain) and their noisy records.
struct Drifters {
    x: Vec<f64>,
    y: Vec<f64>,
    records: Vec<Vec<(f64, f64, f64)>>,
}

impl Drifters {
    fn release(cfg: &QgSynthConfig, grid: &Grid, rng: &mut StdRng) -> Drifters {
        let x = (0..cfg.drifters).map(|_| rng.random::<f64>() * grid.side).collect();
        let y = (0..cfg.drifters).map(|_| rng.random::<f64>() * grid.side).collect();
        Drifters { x, y, records: vec![Vec::new(); cfg.drifters] }
    }

    /// One RK4 step of `dt` seconds through the upper-layer velocity `(u1 + u, v)`, linear in time
    /// between the model states `a` (start) and `b` (end).
    fn advance(&mut self, grid: &Grid, a: &QgFields, b: &QgFields, u1: f64, dt: f64) {
        let velocity = |w: f64, x: f64, y: f64| {
            let at = |f: &QgFields, x: f64, y: f64| (grid.interpolate(f.u(0), x, y), grid.interpolate(f.v(0), x, y));
            let ((ua, va), (ub, vb)) = (at(a, x, y), at(b, x, y));
            (u1 + (1.0 - w) * ua + w * ub, (1.0 - w) * va + w * vb)
        };
        for (x, y) in self.x.iter_mut().zip(self.y.iter_mut()) {
            let (k1x, k1y) = velocity(0.0, *x, *y);
            let (k2x, k2y) = velocity(0.5, *x + 0.5 * dt * k1x, *y + 0.5 * dt * k1y);
            let (k3x, k3y) = velocity(0.5, *x + 0.5 * dt * k2x, *y + 0.5 * dt * k2y);
            let (k4x, k4y) = velocity(1.0, *x + dt * k3x, *y + dt * k3y);
            *x = (*x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)).rem_euclid(grid.side);
            *y = (*y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)).rem_euclid(grid.side);
        }
    }

    fn record(&mut self, hours: f64, rng: &mut StdRng, error: f64) {
        let noise = normal(error);
        for ((x, y), rec) in self.x.iter().zip(&self.y).zip(&mut self.records) {
            rec.push((hours, x + noise.sample(rng), y + noise.sample(rng)));
        }
    }

    fn tracks(&self, units: &TimeUnits, keep: impl Fn(f64) -> bool) -> TrajectorySet {
        let trajectories = self
            .records
            .iter()
            .enumerate()
            .map(|(i, rec)| {
                let kept: Vec<_> = rec.iter().filter(|r| keep(r.0)).collect();
                Trajectory {
                    id: i.to_string(),
                    time: kept.iter().map(|r| r.0).collect(),
                    x: kept.iter().map(|r| r.1).collect(),
                    y: kept.iter().map(|r| r.2).collect(),
                }
            })
            .collect();
        TrajectorySet { time_units: units.clone(), trajectories, layout: Layout::ContiguousRagged, names: ["time".into(), "x".into(), "y".into()] }
    }
}

/// One day's swath: upper-layer psi plus noise inside the band, missing (NaN) outside, and the
/// band as a 0/1 mask.
struct SwathDay {
    hours: f64,
    values: Vec<f64>,
    mask: Vec<i32>,
}

/// The swath of day `d` at `hours`: a band of x centred `d` daily shifts east of the origin.
fn swath_of(cfg: &QgSynthConfig, grid: &Grid, psi: &[f64], (d, hours): (usize, f64), rng: &mut StdRng, noise: &Normal<f64>) -> SwathDay {
    let centre = (d as f64 * cfg.swath_shift_m).rem_euclid(grid.side);
    let inside = |x: f64| {
        let off = (x - centre).rem_euclid(grid.side);
        off.min(grid.side - off) <= 0.5 * cfg.swath_width_m
    };
    let mut values = vec![f64::NAN; psi.len()];
    let mut mask = vec![0; psi.len()];
    for (c, (v, m)) in values.iter_mut().zip(&mut mask).enumerate() {
        if inside(grid.coords[c % grid.n]) {
            *v = psi[c] + noise.sample(rng);
            *m = 1;
        }
    }
    SwathDay { hours, values, mask }
}

fn time_attrs(units: &TimeUnits) -> Vec<Attr<'static>> {
    vec![
        ("standard_name", "time".into()),
        ("long_name", "time".into()),
        ("units", format!("hours since {}", units.epoch).into()),
        ("calendar", Calendar::Standard.name().into()),
        ("axis", "T".into()),
    ]
}

/// The model's parameters and the generator's settings, so that a file says how it was made.
fn describe(w: &mut NcWriter, cfg: &QgSynthConfig, seed: u64, what: &str) -> Result<()> {
    let m = &cfg.model;
    w.global("synth_flow", "qg")?;
    w.global("synth_part", what)?;
    w.global("seed", seed.to_string())?;
    w.global("model", "two-layer quasi-geostrophic, doubly periodic beta-plane, pseudo-spectral, AB3 (docs/science.md section 13)")?;
    for (name, v) in [
        ("side_m", m.side_m),
        ("rd_m", m.rd_m),
        ("beta_per_m_s", m.beta_per_m_s),
        ("h1_m", m.h1_m),
        ("h2_m", m.h2_m),
        ("u1_m_s", m.u1_m_s),
        ("u2_m_s", m.u2_m_s),
        ("bottom_drag_per_s", m.bottom_drag_per_s),
        ("dt_s", m.dt_s),
        ("spinup_days", cfg.spinup_days),
    ] {
        w.global(name, v)?;
    }
    w.global("nx", m.nx as i32)?;
    w.global("velocity_note", "u and v are the anomalies -dpsi/dy and dpsi/dx; the background zonal flows u1_m_s, u2_m_s are not included")?;
    Ok(())
}

fn axis_coords(w: &mut NcWriter, grid: &Grid) -> Result<()> {
    for (name, axis, standard) in [("x", "X", "projection_x_coordinate"), ("y", "Y", "projection_y_coordinate")] {
        w.coord(
            name,
            &grid.coords,
            vec![("standard_name", standard.into()), ("long_name", format!("{name} of the cell centre").into()), ("units", "m".into()), ("axis", axis.into())],
        )?;
    }
    Ok(())
}

fn layer_coords(w: &mut NcWriter, cfg: &QgSynthConfig) -> Result<()> {
    w.coord(
        "layer",
        &[1.0, 2.0],
        vec![("long_name", "layer index (1 upper, 2 lower)".into()), ("units", "1".into()), ("positive", "down".into()), ("axis", "Z".into())],
    )?;
    w.var_f64("layer_thickness", &["layer"], &[cfg.model.h1_m, cfg.model.h2_m], vec![("long_name", "resting layer thickness".into()), ("units", "m".into())])
}

/// `(name, long_name, units, standard_name)` of the state variables written.
fn state_variables(cfg: &QgSynthConfig) -> Vec<(&'static str, &'static str, &'static str, Option<&'static str>)> {
    let mut v = vec![
        ("psi", "streamfunction anomaly", "m2 s-1", None),
        ("u", "x velocity anomaly (-d psi / dy)", "m s-1", Some("sea_water_x_velocity")),
        ("v", "y velocity (d psi / dx)", "m s-1", Some("sea_water_y_velocity")),
    ];
    if cfg.write_q {
        v.push(("q", "potential vorticity anomaly", "s-1", None));
    }
    v
}

fn var_attrs(long: &'static str, units: &'static str, standard: Option<&'static str>) -> Vec<Attr<'static>> {
    let mut a: Vec<Attr<'static>> = vec![("long_name", long.into()), ("units", units.into())];
    if let Some(s) = standard {
        a.push(("standard_name", s.into()));
    }
    a
}

/// An archive or truth file, written one snapshot at a time.
struct StateFile {
    w: NcWriter,
    n: usize,
    write_q: bool,
    /// One variable of one snapshot as float32, reused.
    buf: Vec<f32>,
}

impl StateFile {
    #[allow(clippy::too_many_arguments)]
    fn create(path: &Path, cfg: &QgSynthConfig, grid: &Grid, units: &TimeUnits, times: &[f64], seed: u64, io: &IoConfig, what: &str) -> Result<StateFile> {
        let mut w = NcWriter::create(path, io, &format!("contrada synth qg: two-layer QG ocean, {what} states"))?;
        describe(&mut w, cfg, seed, what)?;
        w.coord("time", times, time_attrs(units))?;
        layer_coords(&mut w, cfg)?;
        axis_coords(&mut w, grid)?;
        let n = grid.n;
        for (name, long, u, standard) in state_variables(cfg) {
            w.define::<f32>(name, &["time", "layer", "y", "x"], &[1, 2, n, n], var_attrs(long, u, standard))?;
        }
        Ok(StateFile { w, n, write_q: cfg.write_q, buf: Vec::with_capacity(2 * n * n) })
    }

    fn write(&mut self, index: usize, q: &[f64], f: &QgFields) -> Result<()> {
        let count = [1, 2, self.n, self.n];
        let q = self.write_q.then_some(("q", q));
        for (name, values) in [("psi", f.psi.as_slice()), ("u", &f.u), ("v", &f.v)].into_iter().chain(q) {
            self.buf.clear();
            self.buf.extend(values.iter().map(|&x| x as f32));
            self.w.write_slab(name, &[index, 0, 0, 0], &count, &self.buf)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.w.finish()
    }
}

#[allow(clippy::too_many_arguments)]
fn write_forecast(path: &Path, cfg: &QgSynthConfig, grid: &Grid, units: &TimeUnits, valid: f64, members: &[QgFields], seed: u64, io: &IoConfig) -> Result<()> {
    let mut w = NcWriter::create(path, io, "contrada synth qg: one-day ensemble forecast")?;
    describe(&mut w, cfg, seed, "forecast")?;
    w.global("perturbation", format!("analyses: truth + e0, members: analysis + e_m, RMS PV of each e = {} x the truth's", cfg.perturbation))?;
    w.var_f64("time", &[], &[valid], time_attrs(units))?;
    let ids: Vec<f64> = (1..=members.len()).map(|m| m as f64).collect();
    w.coord("member", &ids, vec![("long_name", "ensemble member".into()), ("units", "1".into())])?;
    layer_coords(&mut w, cfg)?;
    axis_coords(&mut w, grid)?;
    for (name, long, u, standard) in state_variables(cfg).into_iter().filter(|v| v.0 != "q") {
        let values: Vec<f32> = members
            .iter()
            .flat_map(|f| match name {
                "psi" => &f.psi,
                "u" => &f.u,
                _ => &f.v,
            })
            .map(|&x| x as f32)
            .collect();
        let mut attrs = var_attrs(long, u, standard);
        attrs.push(("coordinates", "time".into()));
        w.var_f32(name, &["member", "layer", "y", "x"], &values, attrs)?;
    }
    w.finish()
}

#[allow(clippy::too_many_arguments)]
fn write_stations(
    path: &Path,
    cfg: &QgSynthConfig,
    stations: &Stations,
    units: &TimeUnits,
    series: &[(f64, Vec<f64>)],
    by_station: bool,
    seed: u64,
    io: &IoConfig,
) -> Result<()> {
    let mut w = NcWriter::create(path, io, "contrada synth qg: upper-layer streamfunction at stations")?;
    describe(&mut w, cfg, seed, "stations")?;
    w.global("featureType", "timeSeries")?;
    let times: Vec<f64> = series.iter().map(|s| s.0).collect();
    w.coord("time", &times, time_attrs(units))?;
    w.dim("station", stations.cells.len())?;
    let ids: Vec<i32> = (0..stations.cells.len() as i32).collect();
    w.var_i32("station", &["station"], &ids, vec![("cf_role", "timeseries_id".into()), ("long_name", "station index".into())])?;
    for (name, values, standard) in [("x", &stations.x, "projection_x_coordinate"), ("y", &stations.y, "projection_y_coordinate")] {
        w.var_f64(
            name,
            &["station"],
            values,
            vec![("standard_name", standard.into()), ("units", "m".into()), ("long_name", format!("{name} of the station").into())],
        )?;
    }
    let (n_t, n_s) = (times.len(), stations.cells.len());
    let value = |t: usize, s: usize| series[t].1[s] as f32;
    let (dims, data): ([&str; 2], Vec<f32>) = if by_station {
        (["station", "time"], (0..n_s).flat_map(|s| (0..n_t).map(move |t| value(t, s))).collect())
    } else {
        (["time", "station"], (0..n_t).flat_map(|t| (0..n_s).map(move |s| value(t, s))).collect())
    };
    let mut attrs = var_attrs("upper-layer streamfunction anomaly at the station", "m2 s-1", None);
    attrs.extend([("coordinates", "time x y".into()), ("error_std", cfg.station_error_m2_s.into())]);
    w.var_f32("psi", &dims, &data, attrs)?;
    w.finish()
}

fn write_swath(path: &Path, cfg: &QgSynthConfig, grid: &Grid, units: &TimeUnits, days: &[SwathDay], seed: u64, io: &IoConfig) -> Result<()> {
    let mut w = NcWriter::create(path, io, "contrada synth qg: daily satellite swath of upper-layer streamfunction")?;
    describe(&mut w, cfg, seed, "swath")?;
    w.global("swath", format!("a band of x {} m wide, moving east by {} m a day", cfg.swath_width_m, cfg.swath_shift_m))?;
    let times: Vec<f64> = days.iter().map(|d| d.hours).collect();
    w.coord("time", &times, time_attrs(units))?;
    axis_coords(&mut w, grid)?;
    let values: Vec<f32> = days.iter().flat_map(|d| d.values.iter().map(|&v| v as f32)).collect();
    let mut attrs = var_attrs("upper-layer streamfunction anomaly observed in the swath", "m2 s-1", None);
    attrs.push(("error_std", cfg.swath_error_m2_s.into()));
    w.var_f32("psi", &["time", "y", "x"], &values, attrs)?;
    let mask: Vec<i32> = days.iter().flat_map(|d| d.mask.iter().copied()).collect();
    w.var_i32(
        "mask",
        &["time", "y", "x"],
        &mask,
        vec![
            ("long_name", "inside the day's swath".into()),
            ("units", "1".into()),
            ("flag_values", vec![0i32, 1].into()),
            ("flag_meanings", "outside inside".into()),
        ],
    )?;
    w.finish()
}

fn write_drifters(path: &Path, cfg: &QgSynthConfig, set: &TrajectorySet, seed: u64, io: &IoConfig) -> Result<()> {
    let mut w = NcWriter::create(path, io, "contrada synth qg: surface drifters in the upper layer")?;
    describe(&mut w, cfg, seed, "drifters")?;
    w.global("drifter_error_m", cfg.drifter_error_m)?;
    let pos = |name: &str, standard: &'static str| -> Vec<Attr<'static>> {
        vec![
            ("standard_name", standard.into()),
            ("long_name", format!("{name} position on the periodic domain").into()),
            ("units", "m".into()),
            ("error_std", cfg.drifter_error_m.into()),
        ]
    };
    write_ragged_as(&mut w, set, Precision::F64, pos("x", "projection_x_coordinate"), pos("y", "projection_y_coordinate"))?;
    w.finish()
}
