//! The paper's Gaussian random field case (docs/science.md §11.1), with its exact covariance.
//!
//! `w` on (0, 1) is mean-zero Gaussian with covariance operator `(-d^2/dx^2 + shift)^(-2)` under
//! Neumann conditions: `w = sum_j sqrt(lambda_j) xi_j phi_j`, `phi_j(x) = sqrt(2) cos(j pi x)`
//! (orthonormal), `lambda_j = (j^2 pi^2 + shift)^(-2)`, `xi_j ~ N(0, 1)`, j = 1..modes. The constant
//! mode j = 0 is left out (mean zero). Each sample is the pair
//! - `u`: `w(x_m) + N(0, noise_std^2)` at `x_m = m / (points + 1)`, m = 1..points;
//! - `v`: the whitened Karhunen-Loeve coefficients `xi_1 .. xi_K`.
//!
//! so that, exactly, `C_uu = Phi Lambda Phi^T + noise_std^2 I` (all modes),
//! `C_uv[m, j] = sqrt(lambda_j) phi_j(x_m)`, `C_vv = I`. These blocks are written beside the
//! samples in `gaussian.nc`: `u(time, u_i)`, `v(time, v_i)`, `x_u(u_i)`, `C_uu(u_i, u_j)`,
//! `C_uv(u_i, v_j)`, `C_vv(v_i, v_j)`.

use std::f64::consts::PI;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::cf::write::NcWriter;
use crate::config::IoConfig;
use crate::error::Result;
use crate::pipeline::hash::derive_seed;
use crate::progress::Progress;
use crate::synth::config::GaussianConfig;

/// File name of the Gaussian data set.
pub const FILE: &str = "gaussian.nc";

/// The field's modes evaluated at the observed points.
#[derive(Debug, Clone)]
pub struct GaussianField {
    /// Observed points `x_m`.
    pub points: Vec<f64>,
    /// `sqrt(lambda_j)`, j = 1..modes.
    sqrt_lambda: Vec<f64>,
    /// `phi_j(x_m)`, row-major over (point, mode).
    phi: Vec<f64>,
    noise_std: f64,
    kl: usize,
}

/// A sample set: `u` row-major over (sample, point), `v` over (sample, coefficient).
#[derive(Debug, Clone)]
pub struct GaussianSamples {
    /// Noisy point values.
    pub u: Vec<f64>,
    /// Whitened Karhunen-Loeve coefficients.
    pub v: Vec<f64>,
}

/// The exact covariance blocks, each row-major.
#[derive(Debug, Clone)]
pub struct Covariance {
    /// `C_uu`, points x points.
    pub uu: Vec<f64>,
    /// `C_uv`, points x coefficients.
    pub uv: Vec<f64>,
    /// `C_vv`, coefficients x coefficients.
    pub vv: Vec<f64>,
}

/// `lambda_j = (j^2 pi^2 + shift)^(-2)`.
pub fn eigenvalue(j: usize, shift: f64) -> f64 {
    ((j * j) as f64 * PI * PI + shift).powi(-2)
}

impl GaussianField {
    /// The field described by `cfg`.
    pub fn new(cfg: &GaussianConfig) -> GaussianField {
        let points: Vec<f64> = (1..=cfg.points).map(|m| m as f64 / (cfg.points + 1) as f64).collect();
        let sqrt_lambda: Vec<f64> = (1..=cfg.modes).map(|j| eigenvalue(j, cfg.shift).sqrt()).collect();
        let phi = points.iter().flat_map(|&x| (1..=cfg.modes).map(move |j| 2f64.sqrt() * (j as f64 * PI * x).cos())).collect();
        GaussianField { points, sqrt_lambda, phi, noise_std: cfg.noise_std, kl: cfg.kl_coefficients }
    }

    /// Draws one `(u, v)` pair: the mode weights `xi_1..xi_modes`, then the point noise.
    pub fn draw(&self, rng: &mut impl Rng, u: &mut [f64], v: &mut [f64]) {
        let xi: Vec<f64> = self.sqrt_lambda.iter().map(|_| rng.sample(StandardNormal)).collect();
        let modes = self.sqrt_lambda.len();
        for (m, um) in u.iter_mut().enumerate() {
            let row = &self.phi[m * modes..(m + 1) * modes];
            let w: f64 = row.iter().zip(&self.sqrt_lambda).zip(&xi).map(|((p, s), x)| p * s * x).sum();
            *um = w + self.noise_std * rng.sample::<f64, _>(StandardNormal);
        }
        v.copy_from_slice(&xi[..self.kl]);
    }

    /// Draws `n` samples in parallel; sample `i` uses its own stream derived from `seed` and `i`.
    pub fn sample(&self, n: usize, seed: u64, progress: &Progress) -> GaussianSamples {
        let (p, k) = (self.points.len(), self.kl);
        let mut u = vec![0.0; n * p];
        let mut v = vec![0.0; n * k];
        u.par_chunks_mut(p).zip(v.par_chunks_mut(k)).enumerate().for_each(|(i, (ui, vi))| {
            let mut rng = StdRng::seed_from_u64(derive_seed(seed, &format!("gaussian sample {i}")));
            self.draw(&mut rng, ui, vi);
            progress.inc(1);
        });
        GaussianSamples { u, v }
    }

    /// The exact covariance of `(u, v)` (see the module notes).
    pub fn covariance(&self) -> Covariance {
        let (p, k, modes) = (self.points.len(), self.kl, self.sqrt_lambda.len());
        let phi = |m: usize, j: usize| self.phi[m * modes + j];
        let mut uu = vec![0.0; p * p];
        for a in 0..p {
            for b in 0..p {
                let s: f64 = (0..modes).map(|j| self.sqrt_lambda[j].powi(2) * phi(a, j) * phi(b, j)).sum();
                uu[a * p + b] = s + if a == b { self.noise_std.powi(2) } else { 0.0 };
            }
        }
        let uv = (0..p).flat_map(|m| (0..k).map(move |j| (m, j))).map(|(m, j)| self.sqrt_lambda[j] * phi(m, j)).collect();
        let vv = (0..k * k).map(|i| if i / k == i % k { 1.0 } else { 0.0 }).collect();
        Covariance { uu, uv, vv }
    }
}

/// Writes samples and covariance blocks to `path` (layout in the module notes).
pub fn write(path: &Path, cfg: &GaussianConfig, field: &GaussianField, samples: &GaussianSamples, seed: u64, io: &IoConfig) -> Result<()> {
    let n = samples.u.len() / field.points.len();
    let mut w = NcWriter::create(path, io, "contrada synth gaussian: Gaussian random field point values and Karhunen-Loeve coefficients")?;
    w.global("synth_flow", "gaussian")?;
    w.global("seed", seed.to_string())?;
    w.global(
        "description",
        "w on (0,1), covariance (-Laplacian + shift)^-2 with Neumann conditions, mean zero; \
         u = w at x_u plus N(0, noise_std^2) noise; v = first whitened Karhunen-Loeve coefficients; \
         C_uu, C_uv, C_vv are the exact covariance blocks of (u, v)",
    )?;
    w.global("shift", cfg.shift)?;
    w.global("modes", cfg.modes as i32)?;
    w.global("noise_std", cfg.noise_std)?;
    let times: Vec<f64> = (0..n).map(|i| i as f64 * cfg.sample_interval_days).collect();
    let time_attrs = vec![
        ("standard_name", "time".into()),
        ("long_name", "time stamp of the sample".into()),
        ("units", format!("days since {}", cfg.start).into()),
        ("calendar", "standard".into()),
        ("axis", "T".into()),
    ];
    w.coord("time", &times, time_attrs)?;
    let (p, k) = (field.points.len(), cfg.kl_coefficients);
    for (dim, len) in [("u_i", p), ("u_j", p), ("v_i", k), ("v_j", k)] {
        w.dim(dim, len)?;
    }
    let unitless = |long: &str| vec![("long_name", long.to_string().into()), ("units", "1".into())];
    w.var_f64("x_u", &["u_i"], &field.points, unitless("location of each observed point on (0, 1)"))?;
    w.var_f64("u", &["time", "u_i"], &samples.u, unitless("field value at x_u plus observation noise"))?;
    w.var_f64("v", &["time", "v_i"], &samples.v, unitless("whitened Karhunen-Loeve coefficient xi_j, j = v_i + 1"))?;
    let c = field.covariance();
    w.var_f64("C_uu", &["u_i", "u_j"], &c.uu, unitless("exact covariance of u"))?;
    w.var_f64("C_uv", &["u_i", "v_j"], &c.uv, unitless("exact cross-covariance of u and v"))?;
    w.var_f64("C_vv", &["v_i", "v_j"], &c.vv, unitless("exact covariance of v"))?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Green's function of `-d^2/dx^2 + s` on (0, 1) with Neumann conditions, all modes (j >= 0).
    fn green(s: f64, x: f64, y: f64) -> f64 {
        let k = s.sqrt();
        let (lo, hi) = (x.min(y), x.max(y));
        (k * lo).cosh() * (k * (1.0 - hi)).cosh() / (k * k.sinh())
    }

    #[test]
    fn point_covariance_matches_the_closed_form_kernel() {
        // sum_j phi_j(x) phi_j(y) / (j^2 pi^2 + s)^2 = -dG/ds; removing the j = 0 term (1 / s^2)
        // gives the mean-zero covariance, independent of the series used by the generator.
        let cfg = GaussianConfig { noise_std: 0.0, ..GaussianConfig::default() };
        let field = GaussianField::new(&cfg);
        let c = field.covariance();
        let (s, p) = (cfg.shift, cfg.points);
        let d = 1e-3;
        for a in 0..p {
            for b in 0..p {
                let (x, y) = (field.points[a], field.points[b]);
                let dg = (green(s + d, x, y) - green(s - d, x, y)) / (2.0 * d);
                let want = -dg - 1.0 / (s * s);
                assert!((c.uu[a * p + b] - want).abs() < 1e-9, "C_uu[{a},{b}] = {} vs kernel {want}", c.uu[a * p + b]);
            }
        }
    }

    #[test]
    fn noise_adds_to_the_diagonal_only() {
        let quiet = GaussianField::new(&GaussianConfig { noise_std: 0.0, ..GaussianConfig::default() }).covariance();
        let noisy = GaussianField::new(&GaussianConfig::default()).covariance();
        for (i, (a, b)) in quiet.uu.iter().zip(&noisy.uu).enumerate() {
            let want = if i / 12 == i % 12 { 0.05f64.powi(2) } else { 0.0 };
            assert!((b - a - want).abs() < 1e-15);
        }
    }
}
