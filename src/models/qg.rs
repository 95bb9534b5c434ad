//! The two-layer quasi-geostrophic (QG) ocean of docs/science.md §13: a doubly periodic square of
//! side `L` on a beta-plane, layer depths `H1` (upper) and `H2`, deformation radius `rd`, an imposed
//! zonal background flow `U1`, `U2` whose shear drives baroclinic instability, and linear bottom
//! drag on the lower layer. Its default ([`QgConfig::default`]) is the classic eddying regime of
//! pyqg's two-layer model.
//!
//! Numerics, as pyqg's `QGModel`:
//! - pseudo-spectral on an `n x n` grid: the PV anomalies `q1`, `q2` are prognostic, the
//!   streamfunction follows by inverting the 2 x 2 matrix of §13.3 per wavenumber, the Jacobian is
//!   computed in flux form `d(u q)/dx + d(v q)/dy` with the products taken on the grid;
//! - small scales: pyqg's exponential filter (`exp(-23.6 (K dx - 0.65 pi)^4)` beyond
//!   `K dx = 0.65 pi`), the 2/3 rule (an exact projection, under which the semi-discrete
//!   equations conserve energy and enstrophy), or nothing; the Nyquist wavenumbers are always zero;
//! - third-order Adams-Bashforth (AB3), started with one Heun step and one AB2 step, the filter
//!   applied after each step (pyqg starts with forward Euler; see [`Model::step`] for why not).
//!
//! The state vector is the grid-point PV anomaly, `q1` then `q2`, each row-major with `y` slow:
//! `state[layer * n^2 + j * n + i]` sits at `(x_i, y_j) = ((i + 1/2) dx, (j + 1/2) dx)` (cell
//! centres, `dx = L / n`). Everything is SI: metres, seconds, s^-1 for PV. Streamfunction and
//! velocities are diagnostic ([`QgModel::fields`]); the velocities are the anomalies
//! `u = -dpsi/dy`, `v = dpsi/dx`, to which the background `U_i` adds in the zonal direction.
//!
//! Adams-Bashforth keeps the last two tendencies inside the model. They are used only while the
//! state handed to [`Model::step`] is, bit for bit, the one the previous step returned; any other
//! state (a new run, an ensemble member, an analysis) restarts with the Heun and AB2 steps. So one
//! model can advance several trajectories in turn and stays correct, at third order only for a
//! trajectory stepped without interruption.
//!
//! Stepping allocates nothing: the FFT plans and every buffer are made in [`QgModel::new`].

use std::f64::consts::{PI, TAU};
use std::sync::Arc;

use rand::Rng;
use rand_distr::StandardNormal;
use realfft::num_complex::Complex64;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use super::{Model, StateVariable};
use crate::config::Problems;
use crate::error::{Error, Result};

/// How the model removes enstrophy at the grid scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QgFilter {
    /// pyqg's exponential filter: wavenumbers with `K dx > 0.65 pi` are multiplied by
    /// `exp(-23.6 (K dx - 0.65 pi)^4)` after every step (the default).
    Exponential,
    /// The 2/3 rule: wavenumbers with `3 |k| >= n` or `3 |l| >= n` (integer wavenumbers) are kept at
    /// zero. Removes aliasing exactly; without other dissipation, energy and enstrophy are then
    /// conserved up to the time-stepping error. Does not dissipate the enstrophy cascade.
    TwoThirds,
    /// No filter (only the Nyquist wavenumbers are zero): aliased, for experiments only.
    None,
}

/// The two-layer QG model's parameters (docs/science.md §13.1). SI units, named in the fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QgConfig {
    /// Side `L` of the doubly periodic square (m).
    pub side_m: f64,
    /// Grid points per side `n` (even); the grid is `n x n`, spacing `L / n`.
    pub nx: usize,
    /// Baroclinic deformation radius `rd` (m).
    pub rd_m: f64,
    /// Meridional gradient of the Coriolis parameter `beta` (m^-1 s^-1).
    pub beta_per_m_s: f64,
    /// Upper-layer depth `H1` (m).
    pub h1_m: f64,
    /// Lower-layer depth `H2` (m).
    pub h2_m: f64,
    /// Upper-layer background zonal flow `U1` (m/s).
    pub u1_m_s: f64,
    /// Lower-layer background zonal flow `U2` (m/s).
    pub u2_m_s: f64,
    /// Linear bottom-drag rate `r_ek` on the lower layer (s^-1); 0 turns it off.
    pub bottom_drag_per_s: f64,
    /// Time step (s).
    pub dt_s: f64,
    /// Small-scale filter.
    pub filter: QgFilter,
}

impl Default for QgConfig {
    /// The classic eddying regime (pyqg's `QGModel` defaults): L = 1000 km, rd = 15 km,
    /// beta = 1.5e-11 m^-1 s^-1, H1 = 500 m, H2 = 2000 m, U1 = 0.025 m/s, U2 = 0,
    /// r_ek = 5.787e-7 s^-1, dt = 2 h, 64 x 64 points, exponential filter.
    fn default() -> Self {
        QgConfig {
            side_m: 1.0e6,
            nx: 64,
            rd_m: 15.0e3,
            beta_per_m_s: 1.5e-11,
            h1_m: 500.0,
            h2_m: 2000.0,
            u1_m_s: 0.025,
            u2_m_s: 0.0,
            bottom_drag_per_s: 5.787e-7,
            dt_s: 7200.0,
            filter: QgFilter::Exponential,
        }
    }
}

impl QgConfig {
    /// Range checks, with keys under `section` (e.g. `synth.qg.model`, where the OSSE generator
    /// reads it from).
    pub fn validate_section(&self, section: &str, p: &mut Problems) {
        let key = |name: &str| format!("{section}.{name}");
        let finite = |p: &mut Problems, name: &str, v: f64| p.check(v.is_finite(), key(name), format!("value {v} must be finite"));
        for (name, v) in [
            ("side_m", self.side_m),
            ("rd_m", self.rd_m),
            ("beta_per_m_s", self.beta_per_m_s),
            ("h1_m", self.h1_m),
            ("h2_m", self.h2_m),
            ("u1_m_s", self.u1_m_s),
            ("u2_m_s", self.u2_m_s),
            ("bottom_drag_per_s", self.bottom_drag_per_s),
            ("dt_s", self.dt_s),
        ] {
            finite(p, name, v);
        }
        p.range(&key("side_m"), self.side_m, 1.0e3, 1.0e8);
        p.range(&key("nx"), self.nx, 8, 4096);
        p.check(self.nx.is_multiple_of(2), key("nx"), format!("value {} must be even (the FFT's Nyquist wavenumber is dropped)", self.nx));
        p.range(&key("rd_m"), self.rd_m, 1.0, 1.0e7);
        p.range(&key("beta_per_m_s"), self.beta_per_m_s, -1.0e-9, 1.0e-9);
        p.range(&key("h1_m"), self.h1_m, 1.0, 1.0e5);
        p.range(&key("h2_m"), self.h2_m, 1.0, 1.0e5);
        p.range(&key("u1_m_s"), self.u1_m_s, -10.0, 10.0);
        p.range(&key("u2_m_s"), self.u2_m_s, -10.0, 10.0);
        p.range(&key("bottom_drag_per_s"), self.bottom_drag_per_s, 0.0, 1.0e-3);
        p.range(&key("dt_s"), self.dt_s, 1.0, 1.0e7);
        // The background flow alone must not cross a grid cell per step (the eddies add to this;
        // an explicit scheme needs a Courant number well below one).
        let courant = self.u1_m_s.abs().max(self.u2_m_s.abs()) * self.dt_s * self.nx.max(1) as f64 / self.side_m;
        p.check(courant.is_nan() || courant <= 1.0, key("dt_s"), format!("the background flow crosses {courant:.2} grid cells per step; allowed: at most 1"));
    }

    /// `F1 = 1 / (rd^2 (1 + H1/H2))` and `F2 = (H1/H2) F1` (m^-2), §13.1.
    pub fn f1_f2(&self) -> (f64, f64) {
        let delta = self.h1_m / self.h2_m;
        let f1 = 1.0 / (self.rd_m * self.rd_m * (1.0 + delta));
        (f1, delta * f1)
    }

    /// Background PV gradients `Qy1 = beta + F1 (U1 - U2)`, `Qy2 = beta - F2 (U1 - U2)` (§13.2).
    pub fn qy(&self) -> [f64; 2] {
        let (f1, f2) = self.f1_f2();
        let shear = self.u1_m_s - self.u2_m_s;
        [self.beta_per_m_s + f1 * shear, self.beta_per_m_s - f2 * shear]
    }

    /// Grid spacing `L / n` (m).
    pub fn dx_m(&self) -> f64 {
        self.side_m / self.nx as f64
    }
}

/// Streamfunction and velocity anomalies of both layers on the grid, laid out as the state
/// (`[layer * n^2 + j * n + i]`). Made by [`QgModel::new_fields`], filled by [`QgModel::fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct QgFields {
    n: usize,
    /// Streamfunction `psi` (m^2/s).
    pub psi: Vec<f64>,
    /// Zonal velocity anomaly `u = -dpsi/dy` (m/s); the layer's background `U_i` is not included.
    pub u: Vec<f64>,
    /// Meridional velocity `v = dpsi/dx` (m/s).
    pub v: Vec<f64>,
}

impl QgFields {
    fn layer<'a>(&self, field: &'a [f64], layer: usize) -> &'a [f64] {
        let n2 = self.n * self.n;
        &field[layer * n2..(layer + 1) * n2]
    }

    /// Streamfunction of `layer` (0 upper, 1 lower), row-major with `y` slow.
    pub fn psi(&self, layer: usize) -> &[f64] {
        self.layer(&self.psi, layer)
    }

    /// Zonal velocity anomaly of `layer`.
    pub fn u(&self, layer: usize) -> &[f64] {
        self.layer(&self.u, layer)
    }

    /// Meridional velocity of `layer`.
    pub fn v(&self, layer: usize) -> &[f64] {
        self.layer(&self.v, layer)
    }
}

/// Domain-averaged energetics of a state (docs/science.md §13.6), per unit mass (m^2 s^-2) and,
/// for enstrophy, s^-2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QgEnergetics {
    /// Kinetic energy of each layer, `mean |grad psi_i|^2 / 2`.
    pub kinetic: [f64; 2],
    /// Domain kinetic energy, depth-weighted: `sum_i (H_i / H) kinetic[i]`.
    pub kinetic_total: f64,
    /// Available potential energy `(H1 / H) F1 mean (psi1 - psi2)^2 / 2`.
    pub potential: f64,
    /// Total energy `kinetic_total + potential`: conserved without forcing and dissipation when
    /// `U1 = U2`.
    pub energy: f64,
    /// Potential enstrophy of each layer, `mean(q_i^2) / 2`: conserved when `beta = 0` and `U1 = U2`.
    pub enstrophy: [f64; 2],
    /// Depth-weighted potential enstrophy `sum_i (H_i / H) enstrophy[i]`: conserved for any `beta`
    /// when `U1 = U2`.
    pub enstrophy_total: f64,
}

/// The 2-D real FFT of an `n x n` field, with its plans and scratch. Spectra are `nk x n` with
/// `nk = n/2 + 1` (x wavenumbers slow, so that the y transforms run over contiguous columns) and
/// normalised: `f(x, y) = sum f^(k, l) exp(i (k x + l y))` over the full spectrum.
#[derive(Clone)]
struct Fft2 {
    n: usize,
    nk: usize,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    col_forward: Arc<dyn Fft<f64>>,
    col_inverse: Arc<dyn Fft<f64>>,
    /// One grid row: the real-to-complex transform overwrites its input.
    row: Vec<f64>,
    /// Row spectra, `n x nk` (y slow).
    rows: Vec<Complex64>,
    scratch: Vec<Complex64>,
}

impl Fft2 {
    fn new(n: usize) -> Fft2 {
        let mut real = RealFftPlanner::<f64>::new();
        let mut complex = FftPlanner::<f64>::new();
        let (r2c, c2r) = (real.plan_fft_forward(n), real.plan_fft_inverse(n));
        let (col_forward, col_inverse) = (complex.plan_fft_forward(n), complex.plan_fft_inverse(n));
        let scratch_len =
            r2c.get_scratch_len().max(c2r.get_scratch_len()).max(col_forward.get_inplace_scratch_len()).max(col_inverse.get_inplace_scratch_len());
        let nk = n / 2 + 1;
        Fft2 {
            n,
            nk,
            r2c,
            c2r,
            col_forward,
            col_inverse,
            row: vec![0.0; n],
            rows: vec![Complex64::default(); n * nk],
            scratch: vec![Complex64::default(); scratch_len],
        }
    }

    /// The normalised spectrum of `field` (`n^2` values, row-major, y slow) into `out` (`nk * n`).
    fn forward(&mut self, field: &[f64], out: &mut [Complex64]) {
        self.forward_unnormalised(field, out);
        let scale = 1.0 / (self.n * self.n) as f64;
        out.iter_mut().for_each(|c| *c *= scale);
    }

    /// [`Fft2::forward`] times `n^2`: for a caller that has already scaled `field` (on the way,
    /// in a loop it runs anyway) and so saves a pass over the spectrum.
    fn forward_unnormalised(&mut self, field: &[f64], out: &mut [Complex64]) {
        let (n, nk) = (self.n, self.nk);
        for (src, spec) in field.chunks_exact(n).zip(self.rows.chunks_exact_mut(nk)) {
            self.row.copy_from_slice(src);
            self.r2c.process_with_scratch(&mut self.row, spec, &mut self.scratch).expect("FFT buffers are sized at construction");
        }
        // Transposed (cache-blocked) so that each x wavenumber's y transform is contiguous. The
        // x-Nyquist column is not transformed: the model keeps it at zero.
        transpose::transpose(&self.rows, out, nk, n);
        let (carried, nyquist) = out.split_at_mut((nk - 1) * n);
        nyquist.fill(Complex64::default());
        self.col_forward.process_with_scratch(carried, &mut self.scratch);
    }

    /// The field of spectrum `spec` (`nk * n`, destroyed; its x-Nyquist column is taken as zero)
    /// into `field` (`n^2`).
    fn inverse(&mut self, spec: &mut [Complex64], field: &mut [f64]) {
        let (n, nk) = (self.n, self.nk);
        let (carried, nyquist) = spec.split_at_mut((nk - 1) * n);
        nyquist.fill(Complex64::default());
        self.col_inverse.process_with_scratch(carried, &mut self.scratch);
        transpose::transpose(spec, &mut self.rows, n, nk);
        for (row, dst) in self.rows.chunks_exact_mut(nk).zip(field.chunks_exact_mut(n)) {
            // The k = 0 entry of a real row is real; after the y transform it carries a
            // rounding-level imaginary part, which the real transform must not see.
            row[0].im = 0.0;
            self.c2r.process_with_scratch(row, dst, &mut self.scratch).expect("FFT buffers are sized at construction");
        }
    }
}

/// The two-layer QG model ([`QgConfig`]) behind the [`Model`] trait, with its FFT plans, wavenumber
/// tables and Adams-Bashforth history. See the module documentation for the state layout.
#[derive(Clone)]
pub struct QgModel {
    config: QgConfig,
    n: usize,
    fft: Fft2,
    /// Zonal wavenumbers `k` (rad/m), `nk` of them.
    kx: Vec<f64>,
    /// Meridional wavenumbers `l` (rad/m), `n` of them, in FFT order.
    ly: Vec<f64>,
    /// `K^2` per spectral index `ik * n + il`.
    k2: Vec<f64>,
    /// `keep / det M` (0 for the mean mode and for the wavenumbers the model keeps at zero).
    inv_det: Vec<f64>,
    /// 1 for the wavenumbers the model carries, 0 for Nyquist (and beyond 2/3 under that rule).
    keep: Vec<f64>,
    /// Multiplies the spectrum after each step (`keep` times the exponential filter, if chosen).
    filter: Vec<f64>,
    f1: f64,
    f2: f64,
    qy: [f64; 2],
    /// Spectral PV of both layers at the current time.
    qh: Vec<Complex64>,
    /// The last three tendencies (both layers each); `tend[newest]` is the latest.
    tend: [Vec<Complex64>; 3],
    newest: usize,
    /// How many earlier tendencies the next step may use (0: restart with a Heun step).
    history: usize,
    /// The state the last step returned: the history belongs to it only.
    last: Vec<f64>,
    /// The spectrum at the start of a Heun step, and the grid PV of its predictor.
    qh_start: Vec<Complex64>,
    q_predicted: Vec<f64>,
    // Scratch.
    psih: Vec<Complex64>,
    work: Vec<Complex64>,
    work2: Vec<Complex64>,
    uqh: Vec<Complex64>,
    vqh: Vec<Complex64>,
    /// Grid velocities `u1, v1, u2, v2`.
    velocities: [Vec<f64>; 4],
    flux: Vec<f64>,
}

impl std::fmt::Debug for QgModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QgModel").field("config", &self.config).field("history", &self.history).finish_non_exhaustive()
    }
}

/// `i z`.
fn times_i(z: Complex64) -> Complex64 {
    Complex64::new(-z.im, z.re)
}

impl QgModel {
    /// The model `config` describes, or the first range problem as a configuration error.
    pub fn new(config: &QgConfig) -> Result<QgModel> {
        let mut problems = Problems::default();
        config.validate_section("qg", &mut problems);
        if let Some((key, message)) = problems.0.into_iter().next() {
            return Err(Error::config("QG model configuration", key, message));
        }
        let n = config.nx;
        let nk = n / 2 + 1;
        let ns = nk * n;
        let dk = TAU / config.side_m;
        let signed = |i: usize| if i <= n / 2 { i as f64 } else { i as f64 - n as f64 };
        let kx: Vec<f64> = (0..nk).map(|i| dk * i as f64).collect();
        let ly: Vec<f64> = (0..n).map(|i| dk * signed(i)).collect();
        let (f1, f2) = config.f1_f2();
        let dx = config.dx_m();
        let (mut k2, mut inv_det, mut keep, mut filter) = (vec![0.0; ns], vec![0.0; ns], vec![0.0; ns], vec![0.0; ns]);
        for (ik, &k) in kx.iter().enumerate() {
            for (il, &l) in ly.iter().enumerate() {
                let s = ik * n + il;
                let kk = k * k + l * l;
                k2[s] = kk;
                let nyquist = ik == n / 2 || il == n / 2;
                let truncated = config.filter == QgFilter::TwoThirds && (3 * ik >= n || 3.0 * signed(il).abs() >= n as f64);
                keep[s] = if nyquist || truncated { 0.0 } else { 1.0 };
                inv_det[s] = if kk > 0.0 { keep[s] / (kk * (kk + f1 + f2)) } else { 0.0 };
                // pyqg's filter, in the grid-scale wavenumber K dx.
                let (cutoff, strength) = (0.65 * PI, 23.6);
                let wv = kk.sqrt() * dx;
                let smooth = if config.filter == QgFilter::Exponential && wv > cutoff { (-strength * (wv - cutoff).powi(4)).exp() } else { 1.0 };
                filter[s] = keep[s] * smooth;
            }
        }
        let zeros = || vec![Complex64::default(); 2 * ns];
        Ok(QgModel {
            config: config.clone(),
            n,
            fft: Fft2::new(n),
            kx,
            ly,
            k2,
            inv_det,
            keep,
            filter,
            f1,
            f2,
            qy: config.qy(),
            qh: zeros(),
            tend: [zeros(), zeros(), zeros()],
            newest: 0,
            history: 0,
            last: vec![0.0; 2 * n * n],
            qh_start: zeros(),
            q_predicted: vec![0.0; 2 * n * n],
            psih: zeros(),
            work: vec![Complex64::default(); ns],
            work2: vec![Complex64::default(); ns],
            uqh: vec![Complex64::default(); ns],
            vqh: vec![Complex64::default(); ns],
            velocities: std::array::from_fn(|_| vec![0.0; n * n]),
            flux: vec![0.0; n * n],
        })
    }

    /// The configuration the model was made from.
    pub fn config(&self) -> &QgConfig {
        &self.config
    }

    /// Grid points per side `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Cell-centre coordinates `(i + 1/2) L / n`, i = 0..n (m); the same for `x` and `y`.
    pub fn coordinates_m(&self) -> Vec<f64> {
        let dx = self.config.dx_m();
        (0..self.n).map(|i| (i as f64 + 0.5) * dx).collect()
    }

    /// Forgets the Adams-Bashforth history: the next step starts again with a Heun step. (Only
    /// needed to restart the same state vector; any other state restarts by itself.)
    pub fn reset(&mut self) {
        self.history = 0;
    }

    /// `psi^ = M^-1 q^` per wavenumber (§13.3), both layers, for the spectra `q1`, `q2`.
    fn invert(f1: f64, f2: f64, k2: &[f64], inv_det: &[f64], q1: &[Complex64], q2: &[Complex64], psi: &mut [Complex64]) {
        let (p1, p2) = psi.split_at_mut(k2.len());
        for s in 0..k2.len() {
            let (a, b) = (q1[s], q2[s]);
            p1[s] = (-(a * (k2[s] + f2)) - b * f1) * inv_det[s];
            p2[s] = (-(a * f2) - b * (k2[s] + f1)) * inv_det[s];
        }
    }

    /// The state's spectra into `uqh` (layer 1) and `vqh` (layer 2), and their streamfunctions into
    /// `psih`, for the diagnostics.
    fn analyse(&mut self, state: &[f64]) {
        let n2 = self.n * self.n;
        assert_eq!(state.len(), 2 * n2, "a QG state has 2 n^2 values");
        self.fft.forward(&state[..n2], &mut self.uqh);
        self.fft.forward(&state[n2..], &mut self.vqh);
        for ((a, b), k) in self.uqh.iter_mut().zip(self.vqh.iter_mut()).zip(&self.keep) {
            *a *= k;
            *b *= k;
        }
        Self::invert(self.f1, self.f2, &self.k2, &self.inv_det, &self.uqh, &self.vqh, &mut self.psih);
    }

    /// A buffer for [`QgModel::fields`].
    pub fn new_fields(&self) -> QgFields {
        let len = 2 * self.n * self.n;
        QgFields { n: self.n, psi: vec![0.0; len], u: vec![0.0; len], v: vec![0.0; len] }
    }

    /// Streamfunction and velocity anomalies of `state` into `out` (allocates nothing).
    pub fn fields(&mut self, state: &[f64], out: &mut QgFields) {
        self.analyse(state);
        let (n, n2, ns) = (self.n, self.n * self.n, self.k2.len());
        for layer in 0..2 {
            let psih = &self.psih[layer * ns..(layer + 1) * ns];
            let range = layer * n2..(layer + 1) * n2;
            self.work.copy_from_slice(psih);
            self.fft.inverse(&mut self.work, &mut out.psi[range.clone()]);
            for (((wu, wv), p), &k) in self.work.chunks_exact_mut(n).zip(self.work2.chunks_exact_mut(n)).zip(psih.chunks_exact(n)).zip(&self.kx) {
                for (((wu, wv), p), &l) in wu.iter_mut().zip(wv.iter_mut()).zip(p).zip(&self.ly) {
                    *wu = times_i(*p) * -l;
                    *wv = times_i(*p) * k;
                }
            }
            self.fft.inverse(&mut self.work, &mut out.u[range.clone()]);
            self.fft.inverse(&mut self.work2, &mut out.v[range]);
        }
    }

    /// Domain-averaged energy and enstrophy of `state` (§13.6; allocates nothing).
    pub fn energetics(&mut self, state: &[f64]) -> QgEnergetics {
        self.analyse(state);
        let (n, ns) = (self.n, self.k2.len());
        let (psi1, psi2) = self.psih.split_at(ns);
        // Parseval over the half spectrum: the x wavenumbers 1..n/2-1 stand for their conjugates too.
        let (mut ke, mut pe, mut z) = ([0.0; 2], 0.0, [0.0; 2]);
        for s in 0..ns {
            let ik = s / n;
            let w = if ik == 0 || ik == n / 2 { 0.5 } else { 1.0 };
            ke[0] += w * self.k2[s] * psi1[s].norm_sqr();
            ke[1] += w * self.k2[s] * psi2[s].norm_sqr();
            pe += w * (psi1[s] - psi2[s]).norm_sqr();
            z[0] += w * self.uqh[s].norm_sqr();
            z[1] += w * self.vqh[s].norm_sqr();
        }
        let h = self.config.h1_m + self.config.h2_m;
        let (w1, w2) = (self.config.h1_m / h, self.config.h2_m / h);
        let kinetic_total = w1 * ke[0] + w2 * ke[1];
        let potential = w1 * self.f1 * pe;
        QgEnergetics { kinetic: ke, kinetic_total, potential, energy: kinetic_total + potential, enstrophy: z, enstrophy_total: w1 * z[0] + w2 * z[1] }
    }

    /// The PV anomaly `q = M psi` (§13.2) of the streamfunctions `psi` (laid out as the state) into
    /// `q`: how to start from a streamfunction.
    pub fn q_from_psi(&mut self, psi: &[f64], q: &mut [f64]) {
        let (n2, ns) = (self.n * self.n, self.k2.len());
        assert!(psi.len() == 2 * n2 && q.len() == 2 * n2, "QG fields have 2 n^2 values");
        self.fft.forward(&psi[..n2], &mut self.uqh);
        self.fft.forward(&psi[n2..], &mut self.vqh);
        let (q1, q2) = self.psih.split_at_mut(ns);
        for s in 0..ns {
            let (a, b) = (self.uqh[s] * self.keep[s], self.vqh[s] * self.keep[s]);
            q1[s] = -(a * (self.k2[s] + self.f1)) + b * self.f1;
            q2[s] = a * self.f2 - b * (self.k2[s] + self.f2);
        }
        for layer in 0..2 {
            self.work.copy_from_slice(&self.psih[layer * ns..(layer + 1) * ns]);
            self.fft.inverse(&mut self.work, &mut q[layer * n2..(layer + 1) * n2]);
        }
    }

    /// A small random initial state: in each layer Gaussian white noise low-passed to integer
    /// wavenumber magnitudes `1..=n/6` (inside every filter's pass band), mean removed, scaled to an
    /// RMS PV anomaly of `q_rms` (s^-1). For a spin-up, 1e-9 (kinetic energy about 1e-9 m^2/s^2,
    /// 1e-5 of the equilibrated one) seeds the instability of the default regime, which equilibrates
    /// after 4-6 model years; the equilibrated eddies have an RMS PV of order 1e-6.
    pub fn random_state(&mut self, rng: &mut impl Rng, q_rms: f64) -> Vec<f64> {
        let (n, n2, ns) = (self.n, self.n * self.n, self.k2.len());
        let mut state: Vec<f64> = (0..2 * n2).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
        let kmax = (n / 6).max(1) as f64 * TAU / self.config.side_m;
        for layer in 0..2 {
            let field = &mut state[layer * n2..(layer + 1) * n2];
            self.fft.forward(field, &mut self.work);
            for s in 0..ns {
                if self.k2[s] == 0.0 || self.k2[s] > kmax * kmax * (1.0 + 1e-12) || self.keep[s] == 0.0 {
                    self.work[s] = Complex64::default();
                }
            }
            self.fft.inverse(&mut self.work, field);
            let rms = (field.iter().map(|v| v * v).sum::<f64>() / n2 as f64).sqrt();
            if rms > 0.0 {
                field.iter_mut().for_each(|v| *v *= q_rms / rms);
            }
        }
        state
    }

    /// The tendency `dq^/dt` of the spectral PV `self.qh`, whose grid values are `q`, into
    /// `self.tend[slot]` (§13.2 in spectral form).
    fn tendency(&mut self, q: &[f64], slot: usize) {
        let (n, n2, ns) = (self.n, self.n * self.n, self.k2.len());
        let (f1, f2) = (self.f1, self.f2);
        // One pass over the spectrum: psi^ = M^-1 q^ (§13.3) and from it u^ = -i l psi^,
        // v^ = i k psi^ of both layers (uqh and vqh hold the lower layer's until the fluxes need them).
        {
            let (q1, q2) = self.qh.split_at(ns);
            let (p1, p2) = self.psih.split_at_mut(ns);
            let rows = q1.chunks_exact(n).zip(q2.chunks_exact(n)).zip(p1.chunks_exact_mut(n).zip(p2.chunks_exact_mut(n)));
            let outs = self.work.chunks_exact_mut(n).zip(self.work2.chunks_exact_mut(n)).zip(self.uqh.chunks_exact_mut(n).zip(self.vqh.chunks_exact_mut(n)));
            let tables = self.kx.iter().zip(self.k2.chunks_exact(n).zip(self.inv_det.chunks_exact(n)));
            for ((((q1, q2), (p1, p2)), ((u1, v1), (u2, v2))), (&k, (k2, inv_det))) in rows.zip(outs).zip(tables) {
                // Every slice re-cut to length n, so that the indexing below needs no bounds checks.
                let (q1, q2, p1, p2, k2, inv_det, ly) = (&q1[..n], &q2[..n], &mut p1[..n], &mut p2[..n], &k2[..n], &inv_det[..n], &self.ly[..n]);
                let (u1, v1, u2, v2) = (&mut u1[..n], &mut v1[..n], &mut u2[..n], &mut v2[..n]);
                for i in 0..n {
                    let (a, b) = (q1[i], q2[i]);
                    let (psi1, psi2) = ((-(a * (k2[i] + f2)) - b * f1) * inv_det[i], (-(a * f2) - b * (k2[i] + f1)) * inv_det[i]);
                    p1[i] = psi1;
                    p2[i] = psi2;
                    let l = ly[i];
                    let (ip1, ip2) = (times_i(psi1), times_i(psi2));
                    u1[i] = ip1 * -l;
                    v1[i] = ip1 * k;
                    u2[i] = ip2 * -l;
                    v2[i] = ip2 * k;
                }
            }
        }
        let [ug1, vg1, ug2, vg2] = &mut self.velocities;
        self.fft.inverse(&mut self.work, ug1);
        self.fft.inverse(&mut self.work2, vg1);
        self.fft.inverse(&mut self.uqh, ug2);
        self.fft.inverse(&mut self.vqh, vg2);
        let drag = self.config.bottom_drag_per_s;
        let ubg = [self.config.u1_m_s, self.config.u2_m_s];
        let scale = 1.0 / n2 as f64;
        for layer in 0..2 {
            let spec = layer * ns..(layer + 1) * ns;
            let (ug, vg) = (&self.velocities[2 * layer], &self.velocities[2 * layer + 1]);
            // The fluxes u q and v q, scaled here so that their unnormalised transforms come out
            // normalised.
            let ql = &q[layer * n2..(layer + 1) * n2];
            for ((f, u), q) in self.flux.iter_mut().zip(ug).zip(ql) {
                *f = u * q * scale;
            }
            self.fft.forward_unnormalised(&self.flux, &mut self.uqh);
            for ((f, v), q) in self.flux.iter_mut().zip(vg).zip(ql) {
                *f = v * q * scale;
            }
            self.fft.forward_unnormalised(&self.flux, &mut self.vqh);
            // -J(psi, q) - U dq/dx - Qy dpsi/dx (+ r_ek K^2 psi in the lower layer: -r_ek lap psi2).
            let (u, qy, r) = (ubg[layer], self.qy[layer], if layer == 1 { drag } else { 0.0 });
            let psih = &self.psih[spec.clone()];
            let chunks = self.uqh.chunks_exact(n).zip(self.vqh.chunks_exact(n)).zip(self.qh[spec.clone()].chunks_exact(n)).zip(psih.chunks_exact(n));
            for ((((fu, fv), qh), p), (&k, (k2, tend))) in
                chunks.zip(self.kx.iter().zip(self.k2.chunks_exact(n).zip(self.tend[slot][spec.clone()].chunks_exact_mut(n))))
            {
                for (((((fu, fv), qh), p), &l), (k2, t)) in fu.iter().zip(fv).zip(qh).zip(p).zip(&self.ly).zip(k2.iter().zip(tend.iter_mut())) {
                    let z = *fu * k + *fv * l + (*qh * u + *p * qy) * k;
                    *t = -times_i(z) + *p * (r * k2);
                }
            }
        }
    }
}

impl Model for QgModel {
    fn name(&self) -> &'static str {
        "qg"
    }

    /// The time step in seconds.
    fn dt(&self) -> f64 {
        self.config.dt_s
    }

    /// `q1` (upper layer) then `q2` (lower layer), `n^2` grid values each.
    fn variables(&self) -> Vec<StateVariable> {
        let len = self.n * self.n;
        vec![
            StateVariable { name: "q1", len, description: "upper-layer PV anomaly (s-1) on the n x n cell-centred grid, y slow" },
            StateVariable { name: "q2", len, description: "lower-layer PV anomaly (s-1) on the n x n cell-centred grid, y slow" },
        ]
    }

    /// One time step: AB3, or after a restart (see the module documentation) a Heun step and then
    /// an AB2 step. Heun costs a second tendency, once per restart; forward Euler, as pyqg starts,
    /// would leave an O(dt^2) error in every restarted trajectory (an energy gain of about 1e-5 in
    /// the conservation test's state).
    fn step(&mut self, state: &mut [f64]) {
        let (n2, ns) = (self.n * self.n, self.k2.len());
        assert_eq!(state.len(), 2 * n2, "a QG state has 2 n^2 values");
        if self.history == 0 || state != &self.last[..] {
            // A state the model has not just produced: its spectrum, without the wavenumbers the
            // model keeps at zero, and back to the grid so that grid and spectrum agree.
            self.history = 0;
            for layer in 0..2 {
                let (field, spec) = (&mut state[layer * n2..(layer + 1) * n2], &mut self.qh[layer * ns..(layer + 1) * ns]);
                self.fft.forward(field, spec);
                for (c, k) in spec.iter_mut().zip(&self.keep) {
                    *c *= k;
                }
                self.work.copy_from_slice(spec);
                self.fft.inverse(&mut self.work, field);
            }
        }
        let slot = (self.newest + 1) % 3;
        self.tendency(state, slot);
        let dt = self.config.dt_s;
        if self.history == 0 {
            // The start: Heun's method (second order) rather than pyqg's forward Euler, whose
            // one-step error is O(dt^2), second order in the invariants too; an ensemble filter
            // restarts at every analysis and would pay it each cycle. Its midpoint tendency is not
            // kept: the history holds tendencies at the grid times only.
            let spare = (slot + 1) % 3;
            self.qh_start.copy_from_slice(&self.qh);
            for s in 0..2 * ns {
                self.qh[s] = (self.qh_start[s] + self.tend[slot][s] * dt) * self.keep[s % ns];
            }
            let mut predicted = std::mem::take(&mut self.q_predicted);
            for layer in 0..2 {
                self.work.copy_from_slice(&self.qh[layer * ns..(layer + 1) * ns]);
                self.fft.inverse(&mut self.work, &mut predicted[layer * n2..(layer + 1) * n2]);
            }
            self.tendency(&predicted, spare);
            self.q_predicted = predicted;
            let (t0, t1) = (&self.tend[slot], &self.tend[spare]);
            for s in 0..2 * ns {
                self.qh[s] = (self.qh_start[s] + (t0[s] + t1[s]) * (0.5 * dt)) * self.filter[s % ns];
            }
            self.psih.copy_from_slice(&self.qh);
        } else {
            let (c0, c1, c2) = if self.history == 1 { (1.5 * dt, -0.5 * dt, 0.0) } else { (23.0 / 12.0 * dt, -16.0 / 12.0 * dt, 5.0 / 12.0 * dt) };
            // After a restart the tendency two steps back does not exist yet; the fresh one stands
            // in for it with a zero weight (the stale buffer may hold anything, NaN included, and
            // 0 x NaN is NaN).
            let (t0, t1) = (&self.tend[slot], &self.tend[self.newest]);
            let t2 = if self.history >= 2 { &self.tend[(self.newest + 2) % 3] } else { t0 };
            // The new spectrum also goes to psih (scratch until the next tendency), which the inverse
            // transforms below may destroy: one pass instead of an update and a copy.
            let layers = self.qh.chunks_exact_mut(ns).zip(self.psih.chunks_exact_mut(ns));
            for ((((q, out), a), b), c) in layers.zip(t0.chunks_exact(ns)).zip(t1.chunks_exact(ns)).zip(t2.chunks_exact(ns)) {
                for (((((q, o), a), b), c), f) in q.iter_mut().zip(out.iter_mut()).zip(a).zip(b).zip(c).zip(&self.filter) {
                    *q = (*q + *a * c0 + *b * c1 + *c * c2) * f;
                    *o = *q;
                }
            }
        }
        self.newest = slot;
        self.history = (self.history + 1).min(2);
        for (spec, field) in self.psih.chunks_exact_mut(ns).zip(state.chunks_exact_mut(n2)) {
            self.fft.inverse(spec, field);
        }
        self.last.copy_from_slice(state);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn small() -> QgConfig {
        QgConfig { nx: 16, ..QgConfig::default() }
    }

    #[test]
    fn the_model_can_move_to_another_thread() {
        // The OSSE generator runs members on rayon's threads: the FFT plans must not pin the model.
        fn send_sync<T: Send + Sync>() {}
        send_sync::<QgModel>();
    }

    #[test]
    fn the_model_trait_describes_the_state() {
        let m = QgModel::new(&small()).unwrap();
        assert_eq!((m.name(), m.state_len(), m.dt()), ("qg", 2 * 16 * 16, 7200.0));
        assert_eq!(m.variables().iter().map(|v| v.name).collect::<Vec<_>>(), ["q1", "q2"]);
        let x = m.coordinates_m();
        assert_eq!((x[0], x[15]), (31_250.0, 968_750.0));
    }

    #[test]
    fn interleaved_trajectories_step_as_separate_runs() {
        // One model advancing two states in turn restarts for each (every step a Heun step), so
        // that each ends exactly where a fresh start of every step takes it; a model that kept one
        // history across states would mix the two trajectories' tendencies. Uninterrupted, the
        // same model uses its history (AB3), which gives a different, more accurate result.
        let mut m = QgModel::new(&small()).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (a0, b0) = (m.random_state(&mut rng, 1e-6), m.random_state(&mut rng, 1e-6));
        let (mut a, mut b) = (a0.clone(), b0.clone());
        for _ in 0..4 {
            m.step(&mut a);
            m.step(&mut b);
        }
        let mut fresh = QgModel::new(&small()).unwrap();
        let (mut a_heun, mut b_heun) = (a0.clone(), b0);
        for _ in 0..4 {
            fresh.reset();
            fresh.step(&mut a_heun);
            fresh.reset();
            fresh.step(&mut b_heun);
        }
        assert_eq!((&a, &b), (&a_heun, &b_heun));
        let mut a_ab3 = a0;
        QgModel::new(&small()).unwrap().integrate(&mut a_ab3, 4);
        assert_ne!(a, a_ab3);
        let diff = a.iter().zip(&a_ab3).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-3 * a.iter().fold(0.0f64, |m, v| m.max(v.abs())), "both are consistent schemes: {diff:e}");
    }

    #[test]
    fn velocities_follow_u_minus_dpsi_dy_and_v_dpsi_dx() {
        // psi = cos(k x + l y): u = -dpsi/dy = l sin(.), v = dpsi/dx = -k sin(.). A sign or axis
        // swap in the spectral derivatives (or the transposed spectrum layout) fails here.
        let cfg = small();
        let mut m = QgModel::new(&cfg).unwrap();
        let n = cfg.nx;
        let x = m.coordinates_m();
        let (k, l) = (TAU * 2.0 / cfg.side_m, TAU * 3.0 / cfg.side_m);
        let mut psi = vec![0.0; 2 * n * n];
        for j in 0..n {
            for i in 0..n {
                psi[j * n + i] = (k * x[i] + l * x[j]).cos();
                psi[n * n + j * n + i] = 0.5 * (k * x[i] + l * x[j]).cos();
            }
        }
        let mut q = vec![0.0; 2 * n * n];
        m.q_from_psi(&psi, &mut q);
        let mut f = m.new_fields();
        m.fields(&q, &mut f);
        for j in 0..n {
            for i in 0..n {
                let s = (k * x[i] + l * x[j]).sin();
                let (idx, tol) = (j * n + i, 1e-9 * k.max(l));
                assert!((f.psi(0)[idx] - psi[idx]).abs() < 1e-9);
                assert!((f.u(0)[idx] - l * s).abs() < tol, "u at ({i}, {j})");
                assert!((f.v(0)[idx] + k * s).abs() < tol, "v at ({i}, {j})");
                assert!((f.v(1)[idx] + 0.5 * k * s).abs() < tol, "lower-layer v at ({i}, {j})");
            }
        }
    }

    #[test]
    fn configuration_is_range_checked_and_strict() {
        let bad = QgConfig { nx: 33, bottom_drag_per_s: -1.0, rd_m: f64::NAN, dt_s: 5e6, ..QgConfig::default() };
        let mut p = Problems::default();
        bad.validate_section("synth.qg.model", &mut p);
        let keys: Vec<&str> = p.0.iter().map(|(k, _)| k.as_str()).collect();
        for key in ["synth.qg.model.nx", "synth.qg.model.bottom_drag_per_s", "synth.qg.model.rd_m", "synth.qg.model.dt_s"] {
            assert!(keys.contains(&key), "{key} not flagged: {keys:?}");
        }
        let mut p = Problems::default();
        QgConfig::default().validate_section("synth.qg.model", &mut p);
        assert!(p.0.is_empty(), "{:?}", p.0);
        assert!(matches!(QgModel::new(&bad), Err(Error::Config { .. })));
        // Serde: partial sections take the defaults, unknown keys are refused.
        let partial: QgConfig = toml::from_str("nx = 128\nfilter = \"two_thirds\"").unwrap();
        assert_eq!(partial, QgConfig { nx: 128, filter: QgFilter::TwoThirds, ..QgConfig::default() });
        assert!(toml::from_str::<QgConfig>("side = 1e6").is_err());
    }
}
