//! Inflation of the analysis ensemble, applied after every analysis scheme (as DAPPER's
//! `post_process` does): first relaxation towards the prior, then a multiplicative factor.
//!
//! - **RTPP** (relaxation to prior perturbations, Zhang et al. 2004): `A_a <- (1 - alpha) A_a + alpha A_b`.
//! - **RTPS** (relaxation to prior spread, Whitaker & Hamill 2012): each element's analysis
//!   anomalies are scaled so that its spread becomes `(1 - alpha) sigma_a + alpha sigma_b`.
//! - **Multiplicative**: `A_a <- factor * A_a`.
//!
//! The mean is never changed.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::ensemble::{mean_into, spread_per_element};

/// Relaxation of the analysis anomalies towards the prior ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Relaxation {
    /// No relaxation.
    #[default]
    None,
    /// Relaxation to prior perturbations.
    Rtpp,
    /// Relaxation to prior spread.
    Rtps,
}

/// Inflation settings with buffers reused between analyses.
#[derive(Debug, Clone)]
pub struct Inflation {
    /// Multiplicative factor on the analysis anomalies (1 = none).
    pub factor: f64,
    /// Relaxation kind.
    pub relax: Relaxation,
    /// Relaxation weight `alpha` in `[0, 1]`.
    pub alpha: f64,
    prior_mean: Vec<f64>,
    mean: Vec<f64>,
    prior_spread: Vec<f64>,
    spread: Vec<f64>,
}

impl Inflation {
    /// Inflation with the given factor, relaxation and relaxation weight.
    pub fn new(factor: f64, relax: Relaxation, alpha: f64) -> Inflation {
        Inflation { factor, relax, alpha, prior_mean: Vec::new(), mean: Vec::new(), prior_spread: Vec::new(), spread: Vec::new() }
    }

    /// Whether [`Inflation::apply`] changes anything.
    pub fn is_identity(&self) -> bool {
        self.factor == 1.0 && (self.relax == Relaxation::None || self.alpha == 0.0)
    }

    /// Inflates `analysis` in place; `prior` is the ensemble the analysis started from.
    pub fn apply(&mut self, prior: ArrayView2<f64>, analysis: &mut Array2<f64>) {
        if self.is_identity() {
            return;
        }
        let n = analysis.ncols();
        self.mean.resize(n, 0.0);
        mean_into(analysis.view(), &mut self.mean);
        let relax = if self.alpha == 0.0 { Relaxation::None } else { self.relax };
        match relax {
            Relaxation::None => {}
            Relaxation::Rtpp => {
                self.prior_mean.resize(n, 0.0);
                mean_into(prior, &mut self.prior_mean);
                let a = self.alpha;
                for (mut xa, xb) in analysis.rows_mut().into_iter().zip(prior.rows()) {
                    for j in 0..n {
                        let anomaly = (1.0 - a) * (xa[j] - self.mean[j]) + a * (xb[j] - self.prior_mean[j]);
                        xa[j] = self.mean[j] + anomaly;
                    }
                }
            }
            Relaxation::Rtps => {
                self.prior_mean.resize(n, 0.0);
                self.prior_spread.resize(n, 0.0);
                self.spread.resize(n, 0.0);
                mean_into(prior, &mut self.prior_mean);
                spread_per_element(prior, &self.prior_mean, &mut self.prior_spread);
                spread_per_element(analysis.view(), &self.mean, &mut self.spread);
                let a = self.alpha;
                // Reuse prior_spread for the per-element scale factors.
                for j in 0..n {
                    let sa = self.spread[j];
                    self.prior_spread[j] = if sa > 0.0 { 1.0 + a * (self.prior_spread[j] - sa) / sa } else { 1.0 };
                }
                for mut xa in analysis.rows_mut() {
                    for j in 0..n {
                        xa[j] = self.mean[j] + self.prior_spread[j] * (xa[j] - self.mean[j]);
                    }
                }
            }
        }
        if self.factor != 1.0 {
            let f = self.factor;
            for mut xa in analysis.rows_mut() {
                for j in 0..n {
                    xa[j] = self.mean[j] + f * (xa[j] - self.mean[j]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::methods::ensemble::spread_per_element;
    use ndarray::array;

    fn stats(e: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
        let mut mean = vec![0.0; e.ncols()];
        mean_into(e.view(), &mut mean);
        let mut s = vec![0.0; e.ncols()];
        spread_per_element(e.view(), &mean, &mut s);
        (mean, s)
    }

    #[test]
    fn multiplicative_scales_anomalies_and_keeps_the_mean() {
        let prior = array![[0.0, 0.0], [1.0, 1.0], [2.0, 5.0]];
        let mut a = array![[1.0, 2.0], [2.0, 2.0], [3.0, 5.0]];
        let (m0, s0) = stats(&a);
        Inflation::new(1.5, Relaxation::None, 0.0).apply(prior.view(), &mut a);
        let (m1, s1) = stats(&a);
        assert!(m0.iter().zip(&m1).all(|(x, y)| (x - y).abs() < 1e-14));
        assert!(s0.iter().zip(&s1).all(|(x, y)| (1.5 * x - y).abs() < 1e-14));
    }

    #[test]
    fn rtps_reaches_the_blended_spread() {
        let prior = array![[0.0, -3.0], [2.0, 0.0], [4.0, 3.0]];
        let mut a = array![[1.0, 0.5], [1.5, 1.0], [2.0, 1.5]];
        let (_, sb) = stats(&prior);
        let (ma, sa) = stats(&a);
        Inflation::new(1.0, Relaxation::Rtps, 0.7).apply(prior.view(), &mut a);
        let (m, s) = stats(&a);
        for j in 0..2 {
            assert!((m[j] - ma[j]).abs() < 1e-14);
            assert!((s[j] - (0.3 * sa[j] + 0.7 * sb[j])).abs() < 1e-12, "{} vs {}", s[j], 0.3 * sa[j] + 0.7 * sb[j]);
        }
    }

    #[test]
    fn rtpp_blends_anomalies() {
        let prior = array![[0.0], [2.0], [7.0]];
        let mut a = array![[5.0], [6.0], [7.0]];
        Inflation::new(1.0, Relaxation::Rtpp, 0.5).apply(prior.view(), &mut a);
        // Analysis anomalies (-1, 0, 1), prior anomalies (-3, -1, 4): blend (-2, -0.5, 2.5) about mean 6.
        assert_eq!(a, array![[4.0], [5.5], [8.5]]);
        // alpha = 1 gives back the prior anomalies exactly.
        let mut b = array![[5.0], [6.0], [7.0]];
        Inflation::new(1.0, Relaxation::Rtpp, 1.0).apply(prior.view(), &mut b);
        assert_eq!(b, array![[3.0], [5.0], [10.0]]);
    }
}
