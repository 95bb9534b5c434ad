//! The alignment score ("tilting") between the two codes, with its temperature (docs/science.md §2).
//!
//! For a batch of codes `g_u` (B x n_e) and `g_v` (B x n_e) a [`Scorer`] returns the matrix
//! `S_ij = s(u_i, v_j)` that every loss and every retrieval works from:
//! - `cosine`: `<g_u/|g_u|, g_v/|g_v|> / tau` (CLIP);
//! - `inner`: `<g_u, g_v> / tau`;
//! - `l2`: `-|g_u - g_v|^2 / (2 tau)`.
//!
//! The temperature is a parameter `log tau` (so it stays positive), trained or frozen.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which alignment score to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tilting {
    /// Cosine similarity of the normalised codes (CLIP).
    #[default]
    Cosine,
    /// Inner product of the unnormalised codes.
    Inner,
    /// Minus half the squared distance of the unnormalised codes.
    L2,
}

/// Guards the cosine normalisation against an all-zero code.
const NORM_EPS: f32 = 1e-12;

/// Scores code pairs with one tilting and a fixed or learned temperature.
#[derive(Module, Debug)]
pub struct Scorer {
    /// The alignment score.
    #[module(skip)]
    pub tilting: Tilting,
    /// `log tau`, shape `[1]`; frozen when the temperature is fixed.
    pub log_tau: Param<Tensor<1>>,
}

impl Scorer {
    /// A scorer with temperature `tau` (> 0), trained along with the encoders when `learned`.
    pub fn new(tilting: Tilting, tau: f64, learned: bool, device: &Device) -> Scorer {
        let log_tau = Tensor::<1>::from_floats([tau.ln() as f32], device);
        Scorer { tilting, log_tau: Param::from_tensor(log_tau).set_require_grad(learned) }
    }

    /// The current temperature.
    pub fn tau(&self) -> f64 {
        let log_tau = self.log_tau.val().into_data().try_into_vec_as::<f32>().unwrap_or_default();
        log_tau.first().map_or(f64::NAN, |&l| f64::from(l).exp())
    }

    /// The score matrix `S_ij = s(u_i, v_j)` of codes `gu` (B_u x n_e) and `gv` (B_v x n_e).
    ///
    /// The temperature scales the codes rather than the B_u x B_v matrix, and the l2 score is one
    /// matrix product of augmented codes, so that no element-wise pass over the matrix is needed
    /// beyond the product itself (the matrix dominates the cost of full-batch training).
    pub fn scores(&self, gu: Tensor<2>, gv: Tensor<2>) -> Tensor<2> {
        let log_tau = self.log_tau.val().unsqueeze::<2>();
        match self.tilting {
            Tilting::Inner => (gu * log_tau.neg().exp()).matmul(gv.transpose()),
            Tilting::Cosine => (normalise_rows(gu) * log_tau.neg().exp()).matmul(normalise_rows(gv).transpose()),
            Tilting::L2 => {
                // -|a - b|^2 / (2 tau) = a'.b' - |a'|^2/2 - |b'|^2/2 with a' = a/sqrt(tau), b' = b/sqrt(tau):
                // the product of [a', -|a'|^2/2, 1] and [b', 1, -|b'|^2/2].
                let scale = log_tau.mul_scalar(-0.5).exp();
                let (gu, gv) = (gu * scale.clone(), gv * scale);
                let half_u = gu.clone().square().sum_dim(1).mul_scalar(-0.5);
                let half_v = gv.clone().square().sum_dim(1).mul_scalar(-0.5);
                let gu = Tensor::cat(vec![gu, half_u.clone(), half_u.ones_like()], 1);
                let gv = Tensor::cat(vec![gv, half_v.ones_like(), half_v], 1);
                gu.matmul(gv.transpose())
            }
        }
    }
}

/// Each row divided by its Euclidean norm.
fn normalise_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).add_scalar(NORM_EPS).sqrt();
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn tiltings_match_hand_computed_scores() {
        let device = Device::flex();
        // u codes (3,4) and (1,0); v codes (0,2) and (-1,1); tau = 0.5.
        let gu = Tensor::<2>::from_floats([[3.0, 4.0], [1.0, 0.0]], &device);
        let gv = Tensor::<2>::from_floats([[0.0, 2.0], [-1.0, 1.0]], &device);
        let score = |tilting| host(Scorer::new(tilting, 0.5, false, &device).scores(gu.clone(), gv.clone()));
        close(&score(Tilting::Inner), &[16.0, 2.0, 0.0, -2.0], 1e-6);
        let s2 = 2f32.sqrt();
        close(&score(Tilting::Cosine), &[1.6, 2.0 * 0.2 / s2, 0.0, -2.0 / s2], 1e-6);
        // |(3,4)-(0,2)|^2 = 13, |(3,4)-(-1,1)|^2 = 25, |(1,0)-(0,2)|^2 = 5, |(1,0)-(-1,1)|^2 = 5.
        close(&score(Tilting::L2), &[-13.0, -25.0, -5.0, -5.0], 1e-6);
    }

    #[test]
    fn temperature_is_positive_and_round_trips() {
        let scorer = Scorer::new(Tilting::Inner, 0.07, true, &Device::flex());
        assert!((scorer.tau() - 0.07).abs() < 1e-7);
    }
}
