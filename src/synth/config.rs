//! The `[synth]` configuration section: one subsection per built-in flow, with the priors, the
//! integration settings and the time stamps of the generated samples. Defaults live in
//! `configs/default.toml`, which documents every key; the `Default` impls here mirror it.

use serde::{Deserialize, Serialize};

use crate::cf::time::{Calendar, TimeUnits};
use crate::cf::write::Precision;
use crate::config::Problems;
use crate::models::fourier_flow::FlowPrior;

/// Largest sample count accepted (a guard against typos such as `samples = 1e9`).
pub const MAX_SAMPLES: usize = 10_000_000;

/// The `[synth]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// `[synth.lagrangian]`: the paper's random-Fourier flow with drifters.
    pub lagrangian: LagrangianConfig,
    /// `[synth.gaussian]`: the paper's Gaussian random field.
    pub gaussian: GaussianConfig,
    /// `[synth.lorenz96]`: Lorenz-96 truth and observations.
    pub lorenz96: Lorenz96Config,
    /// `[synth.qg]`: the two-layer QG ocean with forecasts and observations.
    pub qg: super::qg::QgSynthConfig,
}

/// `[synth.lagrangian]`: incompressible random-Fourier flow on the periodic unit square.
///
/// Prior: for each wave vector `k` in `{-kmax..kmax}^2`, `psi_k` is a circularly symmetric complex
/// Gaussian with `E|psi_k|^2 = amplitude^2 (1 + |k|^2)^(-spectral_slope)` (real and imaginary
/// parts independent, each with half that variance), and `omega_k ~ N(omega_mean, omega_std^2)`,
/// all independent ([`FlowPrior`], see [`LagrangianConfig::prior`]). Model time is nondimensional;
/// a sample's window runs from `-duration` to 0, where 0 is the sample's time stamp.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LagrangianConfig {
    /// Number of independent samples (flows).
    pub samples: usize,
    /// Largest wave number per direction: `(2 kmax + 1)^2` complex coefficients (3: 49, i.e. 98 reals).
    pub kmax: usize,
    /// Overall streamfunction amplitude (see the prior above).
    pub amplitude: f64,
    /// Spectral slope `alpha` of the prior variance `(1 + |k|^2)^(-alpha)`.
    pub spectral_slope: f64,
    /// Mean of the frequencies `omega_k` (radians per model time unit).
    pub omega_mean: f64,
    /// Standard deviation of the frequencies `omega_k`; 0 gives stationary flows.
    pub omega_std: f64,
    /// Draw the frequencies once for the whole data set instead of per sample: the 98 coefficients
    /// then determine a sample's flow, and its tracks, completely (with per-sample frequencies the
    /// tracks also depend on 49 numbers the state does not hold).
    pub shared_frequencies: bool,
    /// RK4 time step (model time units).
    pub dt: f64,
    /// Length of each drifter track (model time units); a whole number of steps.
    pub duration: f64,
    /// Keep one position every this many RK4 steps; must divide the number of steps.
    pub output_every: usize,
    /// Release points `[x, y]` of the drifters, one drifter per point, released at `-duration`.
    pub releases: Vec<[f64; 2]>,
    /// Standard deviation of Gaussian noise added to every kept position (0: exact positions).
    pub position_noise_std: f64,
    /// Write gridded `psi`, `u`, `v` at each sample's time stamp.
    pub fields: bool,
    /// Points per side of the grid for `fields`.
    pub grid: usize,
    /// Also store positions wrapped into `[0, 1)` (for plotting); unwrapped ones are always stored.
    pub wrapped: bool,
    /// Storage type of positions, coefficients, frequencies and fields.
    pub precision: Precision,
    /// Time stamp of sample 0, `YYYY-MM-DD[ HH:MM:SS]` (UTC, standard calendar).
    pub start: String,
    /// Days between consecutive samples' time stamps.
    pub sample_interval_days: f64,
    /// Days per model time unit (with the defaults a 0.1-unit track spans 6 hours).
    pub time_unit_days: f64,
}

impl Default for LagrangianConfig {
    fn default() -> Self {
        let prior = FlowPrior::default();
        LagrangianConfig {
            samples: 1024,
            kmax: prior.kmax,
            amplitude: prior.amplitude,
            spectral_slope: prior.spectral_slope,
            omega_mean: prior.omega_mean,
            omega_std: prior.omega_std,
            shared_frequencies: false,
            dt: 1e-5,
            duration: 0.1,
            output_every: 10,
            releases: vec![[0.75, 0.75]],
            position_noise_std: 0.0,
            fields: true,
            grid: 64,
            wrapped: true,
            precision: Precision::F64,
            start: "2000-01-01 12:00:00".into(),
            sample_interval_days: 1.0,
            time_unit_days: 2.5,
        }
    }
}

impl LagrangianConfig {
    /// The prior the flows are drawn from (`kmax`, `amplitude`, `spectral_slope`, `omega_mean`,
    /// `omega_std`).
    pub fn prior(&self) -> FlowPrior {
        FlowPrior { kmax: self.kmax, amplitude: self.amplitude, spectral_slope: self.spectral_slope, omega_mean: self.omega_mean, omega_std: self.omega_std }
    }

    /// Number of RK4 steps per track.
    pub fn steps(&self) -> usize {
        (self.duration / self.dt).round() as usize
    }

    /// Number of kept positions per track.
    pub fn points(&self) -> usize {
        self.steps() / self.output_every.max(1)
    }
}

/// `[synth.gaussian]`: the Gaussian random field `w` on (0, 1) with covariance
/// `(-d^2/dx^2 + shift)^(-2)` under Neumann conditions, mean zero.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianConfig {
    /// Number of independent samples.
    pub samples: usize,
    /// Number of observed points `x_m = m / (points + 1)`, m = 1..points (the `u` vector).
    pub points: usize,
    /// Number of whitened Karhunen-Loeve coefficients kept (the `v` vector).
    pub kl_coefficients: usize,
    /// Karhunen-Loeve modes `sqrt(2) cos(j pi x)`, j = 1..modes, summed to draw `w`.
    pub modes: usize,
    /// The shift `kappa^2` of the operator (9 in the paper).
    pub shift: f64,
    /// Standard deviation of the noise added to the point values.
    pub noise_std: f64,
    /// Time stamp of sample 0 (samples carry time stamps so that any reader can pair them).
    pub start: String,
    /// Days between consecutive samples' time stamps.
    pub sample_interval_days: f64,
}

impl Default for GaussianConfig {
    fn default() -> Self {
        GaussianConfig {
            samples: 10_000,
            points: 12,
            kl_coefficients: 5,
            modes: 1000,
            shift: 9.0,
            noise_std: 0.05,
            start: "2000-01-01 00:00:00".into(),
            sample_interval_days: 1.0,
        }
    }
}

/// `[synth.lorenz96]`: a Lorenz-96 truth run observed with Gaussian noise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lorenz96Config {
    /// Number of observation times after the initial time (the file holds `samples + 1` times).
    pub samples: usize,
    /// Number of variables on the ring.
    pub variables: usize,
    /// Forcing F.
    pub forcing: f64,
    /// RK4 time step (model time units).
    pub dt: f64,
    /// RK4 steps between observation times (5 x 0.01 = 0.05 model time units).
    pub steps_per_obs: usize,
    /// Standard deviation of the observation noise of every variable.
    pub obs_std: f64,
    /// Model time integrated before time 0 so that the truth starts on the attractor.
    pub spinup: f64,
    /// Time stamp of time 0, `YYYY-MM-DD[ HH:MM:SS]`.
    pub start: String,
    /// Hours per model time unit (Lorenz 1996: 0.05 units ~ 6 hours, so 120).
    pub time_unit_hours: f64,
}

impl Default for Lorenz96Config {
    fn default() -> Self {
        Lorenz96Config {
            samples: 1000,
            variables: 40,
            forcing: 8.0,
            dt: 0.01,
            steps_per_obs: 5,
            obs_std: 1.0,
            spinup: 20.0,
            start: "2026-01-01 00:00:00".into(),
            time_unit_hours: 120.0,
        }
    }
}

/// CF time units `"<unit> since <start>"` in the standard calendar, or why `start` is not a date.
pub fn time_units(unit: &str, start: &str) -> Result<TimeUnits, String> {
    TimeUnits::parse(&format!("{unit} since {start}"), Calendar::Standard)
        .map_err(|_| format!("\"{start}\" is not a date; expected YYYY-MM-DD or \"YYYY-MM-DD HH:MM:SS\""))
}

impl SynthConfig {
    /// Range checks of every subsection.
    pub fn validate(&self, p: &mut Problems) {
        self.lagrangian.validate(p);
        self.gaussian.validate(p);
        self.lorenz96.validate(p);
        self.qg.validate(p);
    }
}

fn check_start(p: &mut Problems, key: &str, start: &str) {
    if let Err(e) = time_units("days", start) {
        p.check(false, key, e);
    }
}

impl LagrangianConfig {
    fn validate(&self, p: &mut Problems) {
        let key = |k: &str| format!("synth.lagrangian.{k}");
        p.range(&key("samples"), self.samples, 1, MAX_SAMPLES);
        p.range(&key("kmax"), self.kmax, 1, 32);
        p.range(&key("amplitude"), self.amplitude, 0.0, 1e3);
        p.range(&key("spectral_slope"), self.spectral_slope, -10.0, 10.0);
        p.range(&key("omega_mean"), self.omega_mean, -1e6, 1e6);
        p.range(&key("omega_std"), self.omega_std, 0.0, 1e6);
        p.range(&key("dt"), self.dt, 1e-9, 1.0);
        p.range(&key("duration"), self.duration, 1e-9, 1e3);
        p.range(&key("output_every"), self.output_every, 1, 1_000_000);
        p.range(&key("position_noise_std"), self.position_noise_std, 0.0, 1e3);
        p.range(&key("grid"), self.grid, 2, 4096);
        p.range(&key("sample_interval_days"), self.sample_interval_days, 1e-9, 1e6);
        p.range(&key("time_unit_days"), self.time_unit_days, 1e-12, 1e6);
        check_start(p, &key("start"), &self.start);
        if self.dt > 0.0 && self.duration > 0.0 && self.output_every > 0 {
            let steps = self.steps();
            let whole = steps > 0 && (steps as f64 * self.dt - self.duration).abs() <= 1e-9 * self.duration;
            p.check(whole, key("duration"), format!("duration {} is not a whole number of steps of dt = {}", self.duration, self.dt));
            p.check(steps <= 100_000_000, key("duration"), format!("duration / dt = {steps} steps; allowed: at most 1e8"));
            p.check(
                steps > 0 && steps.is_multiple_of(self.output_every),
                key("output_every"),
                format!("output_every = {} must divide the {steps} steps (duration / dt), so that each track ends at its sample's time", self.output_every),
            );
        }
        p.check(!self.releases.is_empty(), key("releases"), "at least one release point [x, y] is needed");
        p.check(self.releases.len() <= 1000, key("releases"), "at most 1000 drifters per sample");
        for (i, r) in self.releases.iter().enumerate() {
            p.check(r.iter().all(|c| c.is_finite()), format!("{}[{i}]", key("releases")), format!("release point {r:?} must be finite"));
        }
    }
}

impl GaussianConfig {
    fn validate(&self, p: &mut Problems) {
        let key = |k: &str| format!("synth.gaussian.{k}");
        p.range(&key("samples"), self.samples, 1, MAX_SAMPLES);
        p.range(&key("points"), self.points, 1, 10_000);
        p.range(&key("modes"), self.modes, 1, 100_000);
        p.range(&key("kl_coefficients"), self.kl_coefficients, 1, self.modes.max(1));
        p.range(&key("shift"), self.shift, 1e-9, 1e9);
        p.range(&key("noise_std"), self.noise_std, 0.0, 1e3);
        p.range(&key("sample_interval_days"), self.sample_interval_days, 1e-9, 1e6);
        check_start(p, &key("start"), &self.start);
    }
}

impl Lorenz96Config {
    fn validate(&self, p: &mut Problems) {
        let key = |k: &str| format!("synth.lorenz96.{k}");
        p.range(&key("samples"), self.samples, 1, MAX_SAMPLES);
        p.range(&key("variables"), self.variables, 4, 100_000);
        p.range(&key("forcing"), self.forcing, -1e3, 1e3);
        p.range(&key("dt"), self.dt, 1e-6, 0.1);
        p.range(&key("steps_per_obs"), self.steps_per_obs, 1, 100_000);
        p.range(&key("obs_std"), self.obs_std, 0.0, 1e3);
        p.range(&key("spinup"), self.spinup, 0.0, 1e5);
        p.range(&key("time_unit_hours"), self.time_unit_hours, 1e-9, 1e6);
        check_start(p, &key("start"), &self.start);
    }
}
