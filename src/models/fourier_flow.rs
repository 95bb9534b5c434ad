//! The random-Fourier incompressible flow on the periodic unit square, its prior, the RK4 drifter
//! integrator (the hot loop of the Lagrangian experiment), and the flow as a [`Model`]
//! ([`FourierFlowModel`]).
//!
//! `psi(x, t) = Re sum_k psi_k exp(i omega_k t) exp(2 pi i k.x)` over `k` in `{-kmax..kmax}^2`, and
//! `(u, v) = (-d psi/dy, d psi/dx)`, evaluated analytically (so exactly divergence-free):
//! `u = 2 pi Im sum_k k_y c_k E_k`, `v = -2 pi Im sum_k k_x c_k E_k` with `c_k = psi_k exp(i omega_k t)`
//! and `E_k = X^{k_x} Y^{k_y}`, `X = exp(2 pi i x)`, `Y = exp(2 pi i y)`.
//!
//! Speed (the paper's data set is 64,536 tracks of 10^4 RK4 steps):
//! - modes `k` and `-k` are folded into one (see [`Workspace`]), halving the sum;
//! - the sum is separable: per evaluation, the powers of `X` and `Y` cost `3 kmax` complex
//!   products and each folded mode one more;
//! - `X`, `Y` need one `sin_cos` each per step; the RK4 stages rotate them by their small offsets
//!   with a Taylor series;
//! - the time factors `exp(i omega_k t)` advance by a precomputed rotation per half step instead
//!   of a `sin_cos` per mode and stage.
//!
//! Nothing is allocated while integrating: the [`Workspace`] is made once per thread.

use std::f64::consts::TAU;
use std::ops::{Add, AddAssign, Mul};

use rand::Rng;
use rand_distr::StandardNormal;

use super::{Model, StateVariable};

/// The prior a [`FourierFlow`] is drawn from: `psi_k` complex Gaussian with
/// `E|psi_k|^2 = amplitude^2 (1 + |k|^2)^(-spectral_slope)` (real and imaginary parts independent,
/// each with half that variance) and `omega_k ~ N(omega_mean, omega_std^2)`, all independent.
/// (The synth `[synth.lagrangian]` section holds these among its track and output settings.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowPrior {
    /// Largest wave number per direction: `(2 kmax + 1)^2` complex coefficients.
    pub kmax: usize,
    /// Overall streamfunction amplitude.
    pub amplitude: f64,
    /// Spectral slope `alpha` of the prior variance `(1 + |k|^2)^(-alpha)`.
    pub spectral_slope: f64,
    /// Mean of the frequencies `omega_k` (radians per model time unit).
    pub omega_mean: f64,
    /// Standard deviation of the frequencies `omega_k`; 0 gives stationary flows.
    pub omega_std: f64,
}

impl Default for FlowPrior {
    /// The paper's prior: `kmax = 3` (49 modes), amplitude 0.25, slope 2, `omega ~ N(0, 10^2)`.
    fn default() -> Self {
        FlowPrior { kmax: 3, amplitude: 0.25, spectral_slope: 2.0, omega_mean: 0.0, omega_std: 10.0 }
    }
}

/// A complex number; just the operations the flow needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Complex {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

impl Complex {
    const ZERO: Complex = Complex { re: 0.0, im: 0.0 };

    /// `exp(i theta)`.
    #[inline]
    pub fn cis(theta: f64) -> Complex {
        let (s, c) = theta.sin_cos();
        Complex { re: c, im: s }
    }

    #[inline]
    fn conj(self) -> Complex {
        Complex { re: self.re, im: -self.im }
    }
}

impl Mul for Complex {
    type Output = Complex;
    #[inline]
    fn mul(self, o: Complex) -> Complex {
        Complex { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
}

impl Add for Complex {
    type Output = Complex;
    #[inline]
    fn add(self, o: Complex) -> Complex {
        Complex { re: self.re + o.re, im: self.im + o.im }
    }
}

impl AddAssign for Complex {
    #[inline]
    fn add_assign(&mut self, o: Complex) {
        self.re += o.re;
        self.im += o.im;
    }
}

/// One realisation of the flow: amplitudes and frequencies of every mode.
///
/// Mode `m` has wave vector `(k_x, k_y) = (m / side - kmax, m % side - kmax)`, `side = 2 kmax + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct FourierFlow {
    /// Largest wave number per direction.
    pub kmax: usize,
    /// `psi_k`: the complex amplitude of each mode at model time 0.
    pub amplitude: Vec<Complex>,
    /// `omega_k`: angular frequency of each mode (radians per model time unit).
    pub omega: Vec<f64>,
}

impl FourierFlow {
    /// Wave vector `(k_x, k_y)` of mode `m` for truncation `kmax`.
    pub fn wave_vector(kmax: usize, m: usize) -> (i32, i32) {
        let side = 2 * kmax + 1;
        ((m / side) as i32 - kmax as i32, (m % side) as i32 - kmax as i32)
    }

    /// Draws a flow from the prior `cfg`: first the amplitudes (real then imaginary part, mode by
    /// mode), then the frequencies.
    pub fn draw(cfg: &FlowPrior, rng: &mut impl Rng) -> FourierFlow {
        let side = 2 * cfg.kmax + 1;
        let amplitude = (0..side * side)
            .map(|m| {
                let (kx, ky) = Self::wave_vector(cfg.kmax, m);
                let k2 = (kx * kx + ky * ky) as f64;
                let sd = cfg.amplitude * (1.0 + k2).powf(-cfg.spectral_slope / 2.0) / 2f64.sqrt();
                let re: f64 = rng.sample(StandardNormal);
                let im: f64 = rng.sample(StandardNormal);
                Complex { re: sd * re, im: sd * im }
            })
            .collect();
        let omega = (0..side * side).map(|_| cfg.omega_mean + cfg.omega_std * rng.sample::<f64, _>(StandardNormal)).collect();
        FourierFlow { kmax: cfg.kmax, amplitude, omega }
    }

    /// The real coefficient vector `[Re psi_0, Im psi_0, Re psi_1, ...]` (2 per mode).
    pub fn coefficients(&self) -> Vec<f64> {
        self.amplitude.iter().flat_map(|c| [c.re, c.im]).collect()
    }
}

/// Folded, time-dependent coefficients and scratch for [`integrate`] and [`grid_fields`], made
/// once per thread; nothing in it is allocated while integrating.
///
/// Because `psi` is the real part of the sum, the modes `k` and `-k` combine into one:
/// `Re(c_k E_k) + Re(c_-k E_-k) = Re((c_k + conj(c_-k)) E_k)`, and likewise for the velocity. So the
/// flow is summed over the half plane `k_x > 0`, or `k_x = 0, k_y >= 0`, with folded coefficients
/// `d_k = c_k + conj(c_-k)` (`d_0 = c_0`): half the work of the full sum. Half-plane slot
/// `h = r * side + j` holds `k = (r, j - kmax)`, `r = 0..=kmax`; the slots `r = 0, j < kmax` stay 0.
/// Each `d_h` is the sum of two rotating terms, `a_h` (`c_k`, frequency `omega_k`) and
/// `a_{H+h}` (`conj(c_-k)`, frequency `-omega_-k`), kept in `a_re`/`a_im` (length `2H`).
#[derive(Debug, Clone)]
pub struct Workspace {
    kmax: usize,
    a_re: Vec<f64>,
    a_im: Vec<f64>,
    rot_re: Vec<f64>,
    rot_im: Vec<f64>,
    /// Folded coefficients `[re, im]` at the start (`ends[0]` after loading) and end of a step
    /// (the two swap roles every step), and in the middle of a step.
    ends: [[Vec<f64>; 2]; 2],
    dh: [Vec<f64>; 2],
    powers: Powers,
}

/// Powers `Y^(j - kmax)`, j = 0..side, and the `k_y` of each column.
#[derive(Debug, Clone)]
struct Powers {
    yr: Vec<f64>,
    yi: Vec<f64>,
    ky: Vec<f64>,
}

impl Workspace {
    /// Scratch space for flows truncated at `kmax`.
    pub fn new(kmax: usize) -> Workspace {
        let side = 2 * kmax + 1;
        let half = (kmax + 1) * side;
        let z = |n: usize| vec![0.0; n];
        Workspace {
            kmax,
            a_re: z(2 * half),
            a_im: z(2 * half),
            rot_re: z(2 * half),
            rot_im: z(2 * half),
            ends: [[z(half), z(half)], [z(half), z(half)]],
            dh: [z(half), z(half)],
            powers: Powers { yr: z(side), yi: z(side), ky: (0..side).map(|j| j as f64 - kmax as f64).collect() },
        }
    }

    /// Loads `flow` at model time `t0` into `ends[0]`, with rotations for half steps of `dt / 2`.
    fn load(&mut self, flow: &FourierFlow, t0: f64, dt: f64) {
        assert_eq!(flow.kmax, self.kmax, "workspace made for another truncation");
        let (kmax, side) = (self.kmax as i32, 2 * self.kmax + 1);
        let half = self.dh[0].len();
        let full = |kx: i32, ky: i32| ((kx + kmax) as usize) * side + (ky + kmax) as usize;
        for h in 0..half {
            let (kx, ky) = ((h / side) as i32, (h % side) as i32 - kmax);
            // (plus term, minus term) as (amplitude at t0, frequency).
            let (plus, minus) = if kx == 0 && ky < 0 {
                ((Complex::ZERO, 0.0), (Complex::ZERO, 0.0))
            } else {
                let m = full(kx, ky);
                let plus = (flow.amplitude[m] * Complex::cis(flow.omega[m] * t0), flow.omega[m]);
                if kx == 0 && ky == 0 {
                    (plus, (Complex::ZERO, 0.0))
                } else {
                    let n = full(-kx, -ky);
                    (plus, ((flow.amplitude[n] * Complex::cis(flow.omega[n] * t0)).conj(), -flow.omega[n]))
                }
            };
            for (q, (a, w)) in [(h, plus), (half + h, minus)] {
                self.a_re[q] = a.re;
                self.a_im[q] = a.im;
                let r = Complex::cis(w * dt * 0.5);
                self.rot_re[q] = r.re;
                self.rot_im[q] = r.im;
            }
        }
        fold(&self.a_re, &self.a_im, &mut self.ends[0]);
    }
}

/// `d_h = a_h + a_{H+h}`.
#[inline]
fn fold(a_re: &[f64], a_im: &[f64], d: &mut [Vec<f64>; 2]) {
    let [dr, di] = d;
    let half = dr.len();
    let (di, a_re, a_im) = (&mut di[..half], &a_re[..2 * half], &a_im[..2 * half]);
    let mut h = 0;
    while h < half {
        dr[h] = a_re[h] + a_re[half + h];
        di[h] = a_im[h] + a_im[half + h];
        h += 1;
    }
}

/// Advances every rotating term by half a step and folds the result into `d`.
///
/// The hot loops here and in [`evaluate`] are `while` loops on purpose: in the dev profile
/// (opt-level 1) a `for` over a range calls the shared, non-inlined `Range::next` each iteration,
/// which made the integrator three times slower.
#[inline]
fn half_step(a_re: &mut [f64], a_im: &mut [f64], rot_re: &[f64], rot_im: &[f64], d: &mut [Vec<f64>; 2]) {
    let n = a_re.len();
    let (a_im, rot_re, rot_im) = (&mut a_im[..n], &rot_re[..n], &rot_im[..n]);
    let mut q = 0;
    while q < n {
        let (ar, ai) = (a_re[q], a_im[q]);
        a_re[q] = ar * rot_re[q] - ai * rot_im[q];
        a_im[q] = ar * rot_im[q] + ai * rot_re[q];
        q += 1;
    }
    fold(a_re, a_im, d);
}

/// `exp(i (theta + delta))` from `base = exp(i theta)`: a Taylor series for the small `delta` of
/// an RK4 stage (exact to rounding for `|delta| < 0.05`), `sin_cos` of `theta + delta` otherwise.
#[inline]
fn rotate(base: Complex, theta: f64, delta: f64) -> Complex {
    if delta.abs() >= 0.05 {
        return Complex::cis(theta + delta);
    }
    let d2 = delta * delta;
    let c = 1.0 - d2 / 2.0 * (1.0 - d2 / 12.0 * (1.0 - d2 / 30.0 * (1.0 - d2 / 56.0)));
    let s = delta * (1.0 - d2 / 6.0 * (1.0 - d2 / 20.0 * (1.0 - d2 / 42.0 * (1.0 - d2 / 72.0))));
    base * Complex { re: c, im: s }
}

/// `[psi, u, v]` where `X = exp(2 pi i x)`, `Y = exp(2 pi i y)`, for folded coefficients `d`
/// (see [`Workspace`]); `p` is scratch for the powers of `Y`.
#[inline]
fn evaluate(d: &[Vec<f64>; 2], x: Complex, y: Complex, p: &mut Powers) -> [f64; 3] {
    let Powers { yr, yi, ky } = p;
    let side = yr.len();
    let kmax = side / 2;
    let (yi, ky) = (&mut yi[..side], &ky[..side]);
    let (mut zr, mut zi) = (1.0, 0.0);
    yr[kmax] = 1.0;
    yi[kmax] = 0.0;
    let mut r = 1;
    while r <= kmax {
        (zr, zi) = (zr * y.re - zi * y.im, zr * y.im + zi * y.re);
        yr[kmax + r] = zr;
        yi[kmax + r] = zi;
        // |Y| = 1, so Y^-r = conj(Y^r).
        yr[kmax - r] = zr;
        yi[kmax - r] = -zi;
        r += 1;
    }
    let (dre, dim) = (&d[0][..], &d[1][..d[0].len()]);
    let (mut psi, mut su, mut sv) = (0.0, 0.0, 0.0);
    // X^r, advanced row by row.
    let (mut xr, mut xi) = (1.0, 0.0);
    let mut r = 0;
    while r <= kmax {
        let (dr, di) = (&dre[r * side..(r + 1) * side], &dim[r * side..(r + 1) * side]);
        // a = sum over k_y of d_k Y^k_y, b = the same weighted by k_y.
        let (mut ar, mut ai, mut br, mut bi) = (0.0, 0.0, 0.0, 0.0);
        let mut j = 0;
        while j < side {
            let pr = dr[j] * yr[j] - di[j] * yi[j];
            let pi = dr[j] * yi[j] + di[j] * yr[j];
            ar += pr;
            ai += pi;
            br += ky[j] * pr;
            bi += ky[j] * pi;
            j += 1;
        }
        psi += xr * ar - xi * ai;
        su += xr * bi + xi * br;
        sv += r as f64 * (xr * ai + xi * ar);
        (xr, xi) = (xr * x.re - xi * x.im, xr * x.im + xi * x.re);
        r += 1;
    }
    [psi, TAU * su, -TAU * sv]
}

/// `[psi, u, v]` of `flow` at model time `t` and point `(x, y)` (the integrator's kernel, for
/// single evaluations).
pub fn evaluate_at(flow: &FourierFlow, t: f64, x: f64, y: f64, ws: &mut Workspace) -> [f64; 3] {
    ws.load(flow, t, 0.0);
    evaluate(&ws.ends[0], Complex::cis(TAU * x), Complex::cis(TAU * y), &mut ws.powers)
}

/// The RK4 steps of a drifter integration: `steps` steps of `dt`, a position kept every
/// `output_every`-th step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rk4 {
    /// Step, model time units.
    pub dt: f64,
    /// Number of steps.
    pub steps: usize,
    /// Keep the position after every this many steps.
    pub output_every: usize,
}

/// Integrates one drifter released at `start` at model time `t0` through the RK4 steps `rk4`,
/// appending the (unwrapped) position after every `output_every`-th step to `out`.
pub fn integrate(flow: &FourierFlow, t0: f64, start: [f64; 2], rk4: Rk4, ws: &mut Workspace, out: &mut Vec<[f64; 2]>) {
    let Rk4 { dt, steps, output_every } = rk4;
    ws.load(flow, t0, dt);
    let Workspace { a_re, a_im, rot_re, rot_im, ends, dh, powers, .. } = ws;
    let (first, second) = ends.split_at_mut(1);
    let (mut d0, mut d1) = (&mut first[0], &mut second[0]);
    let (mut x, mut y) = (start[0], start[1]);
    let h = 0.5 * dt;
    let mut step = 0;
    while step < steps {
        step += 1;
        half_step(a_re, a_im, rot_re, rot_im, dh);
        half_step(a_re, a_im, rot_re, rot_im, d1);
        let (tx, ty) = (TAU * x, TAU * y);
        let (bx, by) = (Complex::cis(tx), Complex::cis(ty));
        let at = |d: &[Vec<f64>; 2], dx: f64, dy: f64, p: &mut Powers| evaluate(d, rotate(bx, tx, TAU * dx), rotate(by, ty, TAU * dy), p);
        let [_, u1, v1] = evaluate(d0, bx, by, powers);
        let [_, u2, v2] = at(dh, h * u1, h * v1, powers);
        let [_, u3, v3] = at(dh, h * u2, h * v2, powers);
        let [_, u4, v4] = at(d1, dt * u3, dt * v3, powers);
        x += dt / 6.0 * (u1 + 2.0 * u2 + 2.0 * u3 + u4);
        y += dt / 6.0 * (v1 + 2.0 * v2 + 2.0 * v3 + v4);
        (d0, d1) = (d1, d0);
        if step % output_every == 0 {
            out.push([x, y]);
        }
    }
}

/// `psi`, `u`, `v` at model time `t` on the `n x n` grid `x_j = j / n`, `y_i = i / n`, each
/// row-major over `(y, x)`.
pub fn grid_fields(flow: &FourierFlow, t: f64, n: usize, ws: &mut Workspace) -> [Vec<f64>; 3] {
    ws.load(flow, t, 0.0);
    let mut out = [vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n * n]];
    for i in 0..n {
        let y = Complex::cis(TAU * i as f64 / n as f64);
        for j in 0..n {
            let values = evaluate(&ws.ends[0], Complex::cis(TAU * j as f64 / n as f64), y, &mut ws.powers);
            for (field, value) in out.iter_mut().zip(values) {
                field[i * n + j] = value;
            }
        }
    }
    out
}

/// The Fourier flow as a [`Model`], for the filters that cycle it. The state is one flow at the
/// current model time `t`: `coef`, the real coefficients `[Re c_0, Im c_0, Re c_1, ...]` of
/// `c_k(t) = psi_k exp(i omega_k t)` (2 per mode, the layout of [`FourierFlow::coefficients`],
/// which gives them at `t = 0`), then `omega`, the frequencies `omega_k` (1 per mode). A step
/// advances the flow's time by `dt`: every `c_k` is rotated by `exp(i omega_k dt)`, the exact
/// evolution of this flow, and the frequencies persist (they are state so that each member of an
/// ensemble can have its own). Drifters are not part of the state: they are advected through a
/// flow by [`integrate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FourierFlowModel {
    /// Largest wave number per direction.
    pub kmax: usize,
    /// Model time per step.
    pub dt: f64,
}

impl FourierFlowModel {
    /// Number of modes, `(2 kmax + 1)^2`.
    pub fn modes(&self) -> usize {
        (2 * self.kmax + 1).pow(2)
    }
}

impl Model for FourierFlowModel {
    fn name(&self) -> &'static str {
        "fourier_flow"
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    fn variables(&self) -> Vec<StateVariable> {
        let modes = self.modes();
        vec![
            StateVariable { name: "coef", len: 2 * modes, description: "Re and Im of the streamfunction coefficients c_k at the current time, mode by mode" },
            StateVariable { name: "omega", len: modes, description: "angular frequency omega_k of each mode (radians per model time unit), constant" },
        ]
    }

    fn step(&mut self, state: &mut [f64]) {
        let modes = self.modes();
        let (coef, omega) = state.split_at_mut(2 * modes);
        for (c, &w) in coef.chunks_exact_mut(2).zip(&omega[..modes]) {
            let z = Complex { re: c[0], im: c[1] } * Complex::cis(w * self.dt);
            c[0] = z.re;
            c[1] = z.im;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    impl Complex {
        fn scale(self, s: f64) -> Complex {
            Complex { re: self.re * s, im: self.im * s }
        }
    }

    fn random_flow(seed: u64, omega_std: f64) -> FourierFlow {
        let cfg = FlowPrior { omega_std, ..FlowPrior::default() };
        FourierFlow::draw(&cfg, &mut StdRng::seed_from_u64(seed))
    }

    /// The flow summed mode by mode, straight from the definition: the reference for `evaluate`.
    fn direct(flow: &FourierFlow, t: f64, x: f64, y: f64) -> [f64; 3] {
        let mut out = [0.0; 3];
        for m in 0..flow.amplitude.len() {
            let (kx, ky) = FourierFlow::wave_vector(flow.kmax, m);
            let term = flow.amplitude[m] * Complex::cis(flow.omega[m] * t + TAU * (kx as f64 * x + ky as f64 * y));
            out[0] += term.re;
            // d/dy of Re(term) = Re(2 pi i ky term) = -2 pi ky Im(term).
            out[1] += TAU * ky as f64 * term.im;
            out[2] -= TAU * kx as f64 * term.im;
        }
        out
    }

    #[test]
    fn separable_evaluation_matches_the_direct_sum() {
        let flow = random_flow(1, 10.0);
        let mut ws = Workspace::new(flow.kmax);
        for (t, x, y) in [(0.0, 0.75, 0.75), (-0.037, 0.1, 0.9), (-0.1, -3.3, 17.25), (0.2, 0.5, 0.0)] {
            let fast = evaluate_at(&flow, t, x, y, &mut ws);
            let slow = direct(&flow, t, x, y);
            for (a, b) in fast.iter().zip(slow) {
                assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "fast {fast:?} direct {slow:?} at t={t} ({x}, {y})");
            }
        }
    }

    /// Naive 2-D DFT of an `n x n` field: `hat[(p, q)]` for wave numbers `p` (x), `q` (y) in
    /// `-n/2 .. n/2`.
    fn dft(field: &[f64], n: usize) -> Vec<((i32, i32), Complex)> {
        let half = n as i32 / 2;
        let mut out = Vec::new();
        for p in -half..half {
            for q in -half..half {
                let mut s = Complex::ZERO;
                for i in 0..n {
                    for j in 0..n {
                        let phase = -TAU * (p as f64 * j as f64 + q as f64 * i as f64) / n as f64;
                        s += Complex::cis(phase).scale(field[i * n + j]);
                    }
                }
                out.push(((p, q), s.scale(1.0 / (n * n) as f64)));
            }
        }
        out
    }

    #[test]
    fn stage_rotation_is_exact_to_rounding() {
        for theta in [0.0, 1.3, -40.0] {
            for delta in [1e-7, -3e-4, 0.01, 0.0499, 0.0501, -0.3, 2.0] {
                let got = rotate(Complex::cis(theta), theta, delta);
                let want = Complex::cis(theta + delta);
                // The reference's own argument `theta + delta` is rounded to a few ulps of theta.
                let tol = 1e-15 + 4.0 * f64::EPSILON * theta.abs();
                assert!((got.re - want.re).abs() < tol && (got.im - want.im).abs() < tol, "theta {theta} delta {delta}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn velocity_is_divergence_free_to_rounding_and_is_the_curl_of_psi() {
        // On a grid finer than 2 kmax the DFT of these trigonometric polynomials is exact, so
        // spectral derivatives are exact: the divergence must vanish to rounding.
        let flow = random_flow(2, 10.0);
        let n = 16;
        let [psi, u, v] = grid_fields(&flow, 0.0, n, &mut Workspace::new(flow.kmax));
        let (ps, us, vs) = (dft(&psi, n), dft(&u, n), dft(&v, n));
        let scale = u.iter().chain(&v).fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.1, "velocity too small to test: {scale}");
        for (((k, ph), (_, uh)), (_, vh)) in ps.iter().zip(&us).zip(&vs) {
            let (kx, ky) = (k.0 as f64, k.1 as f64);
            // div = 2 pi i (kx u_hat + ky v_hat).
            let div = uh.scale(kx) + vh.scale(ky);
            assert!(div.re.hypot(div.im) * TAU < 1e-12 * scale, "divergence {div:?} at k = {k:?}");
            // u_hat = -2 pi i ky psi_hat, v_hat = 2 pi i kx psi_hat.
            let i2pi = Complex { re: 0.0, im: TAU };
            let (u_want, v_want) = ((i2pi * *ph).scale(-ky), (i2pi * *ph).scale(kx));
            assert!((uh.re - u_want.re).abs() + (uh.im - u_want.im).abs() < 1e-12 * scale, "u_hat at {k:?}");
            assert!((vh.re - v_want.re).abs() + (vh.im - v_want.im).abs() < 1e-12 * scale, "v_hat at {k:?}");
        }
    }

    fn track(flow: &FourierFlow, dt: f64, duration: f64) -> [f64; 2] {
        let steps = (duration / dt).round() as usize;
        let mut out = Vec::new();
        integrate(flow, -duration, [0.75, 0.75], Rk4 { dt, steps, output_every: steps }, &mut Workspace::new(flow.kmax), &mut out);
        out[0]
    }

    #[test]
    fn rk4_converges_with_order_four() {
        // A time-dependent flow: the error also tests the half-step time factors.
        let flow = random_flow(3, 10.0);
        let reference = track(&flow, 1e-5, 0.1);
        let err = |dt: f64| {
            let p = track(&flow, dt, 0.1);
            (p[0] - reference[0]).hypot(p[1] - reference[1])
        };
        let (e1, e2, e3) = (err(2e-3), err(1e-3), err(5e-4));
        assert!(e1 > 1e-9, "coarse error {e1} too small to measure the order");
        for (a, b) in [(e1, e2), (e2, e3)] {
            let ratio = a / b;
            assert!((12.0..20.0).contains(&ratio), "halving dt reduced the error {ratio}x ({a} -> {b}); expected ~16x");
        }
    }

    #[test]
    fn stationary_flow_keeps_drifters_on_their_streamline() {
        // With omega = 0, psi is conserved along trajectories (the flow is Hamiltonian).
        let flow = random_flow(4, 0.0);
        let mut ws = Workspace::new(flow.kmax);
        let mut out = Vec::new();
        integrate(&flow, -0.1, [0.75, 0.75], Rk4 { dt: 1e-5, steps: 10_000, output_every: 10 }, &mut ws, &mut out);
        let psi = |p: [f64; 2]| direct(&flow, 0.0, p[0], p[1])[0];
        let psi0 = psi([0.75, 0.75]);
        let moved = out.iter().map(|p| (p[0] - 0.75).hypot(p[1] - 0.75)).fold(0.0, f64::max);
        assert!(moved > 0.05, "drifter moved only {moved}");
        for p in &out {
            assert!((psi(*p) - psi0).abs() < 1e-10, "psi changed from {psi0} to {} at {p:?}", psi(*p));
        }
    }

    #[test]
    fn cellular_flow_streamline_closes() {
        // psi = cos 2 pi x + cos 2 pi y: closed streamlines around the cell centre (1/2, 1/2).
        let kmax = 1;
        let mut amplitude = vec![Complex::ZERO; 9];
        let mode = |kx: i32, ky: i32| ((kx + 1) * 3 + ky + 1) as usize;
        amplitude[mode(1, 0)] = Complex { re: 1.0, im: 0.0 };
        amplitude[mode(0, 1)] = Complex { re: 1.0, im: 0.0 };
        let flow = FourierFlow { kmax, amplitude, omega: vec![0.0; 9] };
        let start = [0.6, 0.6];
        let mut out = Vec::new();
        integrate(&flow, 0.0, start, Rk4 { dt: 1e-4, steps: 5000, output_every: 1 }, &mut Workspace::new(kmax), &mut out);
        let dist = |p: &[f64; 2]| (p[0] - start[0]).hypot(p[1] - start[1]);
        let psi0 = direct(&flow, 0.0, start[0], start[1])[0];
        let far = out.iter().position(|p| dist(p) > 0.1).expect("the drifter leaves its release point");
        let back = out[far..].iter().position(|p| dist(p) < 1e-3).map(|i| i + far).expect("the drifter comes back");
        // Bounded orbit inside the cell, with psi conserved.
        for p in &out {
            assert!((p[0] - 0.5).hypot(p[1] - 0.5) < 0.2, "left the cell at {p:?}");
            assert!((direct(&flow, 0.0, p[0], p[1])[0] - psi0).abs() < 1e-9);
        }
        // Small orbits turn at rate 4 pi^2 (period 1 / (2 pi) = 0.159); larger ones more slowly.
        let period = (back + 1) as f64 * 1e-4;
        assert!((0.159..0.3).contains(&period), "orbit period {period}");
    }

    #[test]
    fn a_model_step_advances_the_flow_time() {
        let flow = random_flow(6, 10.0);
        let mut model = FourierFlowModel { kmax: flow.kmax, dt: 0.003 };
        let mut state = flow.coefficients();
        state.extend(&flow.omega);
        assert_eq!(model.state_len(), state.len());
        model.integrate(&mut state, 5);
        assert_eq!(&state[2 * model.modes()..], &flow.omega[..]);
        // The stepped coefficients, taken as the flow at time 0, are the flow at time 5 dt.
        let amplitude = state[..2 * model.modes()].chunks_exact(2).map(|c| Complex { re: c[0], im: c[1] }).collect();
        let later = FourierFlow { amplitude, ..flow.clone() };
        let mut ws = Workspace::new(flow.kmax);
        for (x, y) in [(0.1, 0.2), (0.7, 0.4)] {
            let (a, b) = (evaluate_at(&later, 0.0, x, y, &mut ws), evaluate_at(&flow, 0.015, x, y, &mut ws));
            assert!(a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12 * (1.0 + q.abs())), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn prior_variance_follows_the_spectrum() {
        let cfg = FlowPrior::default();
        let mut rng = StdRng::seed_from_u64(5);
        let n = 4000;
        let flows: Vec<FourierFlow> = (0..n).map(|_| FourierFlow::draw(&cfg, &mut rng)).collect();
        for m in [0, 10, 24, 48] {
            let (kx, ky) = FourierFlow::wave_vector(cfg.kmax, m);
            let want = cfg.amplitude.powi(2) * (1.0 + (kx * kx + ky * ky) as f64).powf(-cfg.spectral_slope);
            let got = flows.iter().map(|f| f.amplitude[m].re.powi(2) + f.amplitude[m].im.powi(2)).sum::<f64>() / n as f64;
            // |psi_k|^2 is exponential with mean `want`: relative sd 1/sqrt(n) = 1.6%.
            assert!((got / want - 1.0).abs() < 0.08, "mode {m} ({kx}, {ky}): E|psi|^2 {got}, expected {want}");
            let w2 = flows.iter().map(|f| f.omega[m].powi(2)).sum::<f64>() / n as f64;
            assert!((w2 / cfg.omega_std.powi(2) - 1.0).abs() < 0.12, "omega variance {w2}");
        }
    }
}
