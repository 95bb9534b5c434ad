//! Contrastive losses on a batch score matrix `S_ij = s(u_i, v_j)` (SCIENCE.md section 3).
//!
//! - `L_{u|v} = -mean_j [S_jj - logsumexp_i S_ij]` (for each observation, a softmax over states);
//! - `L_{v|u} = -mean_i [S_ii - logsumexp_j S_ij]`;
//! - weighted conditional loss `(lambda_u/2) L_{u|v} + (lambda_v/2) L_{v|u}`: `(1, 1)` is CLIP,
//!   `(2, 0)` and `(0, 2)` are one-sided;
//! - joint loss `-mean_i S_ii + log mean_{i != j} exp(S_ij)`.
//!
//! Every log-sum-exp subtracts its maximum first (the maximum is a constant for the gradient), so
//! scores of any magnitude are safe in f32. Excluded entries are set to a large finite negative
//! value rather than `-inf`, which GPU shader arithmetic need not honour.

use burn::tensor::{Bool, Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// Score given to excluded entries: `exp(ABSENT - max)` is exactly 0 in f32 for any real batch.
const ABSENT: f32 = -1.0e30;

/// Which loss trains the encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// The weighted conditional loss (weights `lambda_u`, `lambda_v`).
    #[default]
    Conditional,
    /// The joint loss.
    Joint,
}

/// A loss with its weights, ready to apply to score matrices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Conditional or joint.
    pub kind: LossKind,
    /// Weight of `L_{u|v}` (conditional loss only).
    pub lambda_u: f32,
    /// Weight of `L_{v|u}` (conditional loss only).
    pub lambda_v: f32,
}

impl Loss {
    /// The loss of the square batch score matrix `s` (B x B, B >= 2), as a one-element tensor.
    pub fn apply(&self, s: Tensor<2>) -> Tensor<1> {
        match self.kind {
            LossKind::Conditional => conditional_loss(s, self.lambda_u, self.lambda_v),
            LossKind::Joint => joint_loss(s),
        }
    }
}

/// Whether the positive pair itself enters the softmax normaliser of a conditional term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normaliser {
    /// Over the whole batch, positive included: the standard InfoNCE/CLIP loss of SCIENCE.md.
    WholeBatch,
    /// Over the `B - 1` negatives only (the "decoupled" convention); the batch version of the
    /// bound `L_joint >= L_cond` holds exactly in this convention (see the tests).
    NegativesOnly,
}

/// The weighted conditional loss `(lambda_u/2) L_{u|v} + (lambda_v/2) L_{v|u}`.
pub fn conditional_loss(s: Tensor<2>, lambda_u: f32, lambda_v: f32) -> Tensor<1> {
    conditional_loss_with(s, lambda_u, lambda_v, Normaliser::WholeBatch)
}

/// [`conditional_loss`] with a choice of normaliser.
pub fn conditional_loss_with(s: Tensor<2>, lambda_u: f32, lambda_v: f32, normaliser: Normaliser) -> Tensor<1> {
    let [b, _] = s.dims();
    let device = s.device();
    let diag_mean = diagonal(s.clone()).mean();
    let masked = match normaliser {
        Normaliser::WholeBatch => s,
        Normaliser::NegativesOnly => s.mask_fill(eye_mask(b, &device), ABSENT),
    };
    let mut total: Option<Tensor<1>> = None;
    // L_{u|v}: softmax over states i (dimension 0) for each observation j.
    for (lambda, dim) in [(lambda_u, 0), (lambda_v, 1)] {
        if lambda != 0.0 {
            let term = (log_sum_exp(masked.clone(), dim).mean() - diag_mean.clone()).mul_scalar(lambda / 2.0);
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
    }
    total.unwrap_or_else(|| Tensor::zeros([1], &device))
}

/// The joint loss `-mean_i S_ii + log mean_{i != j} exp(S_ij)`.
pub fn joint_loss(s: Tensor<2>) -> Tensor<1> {
    let [b, _] = s.dims();
    let diag_mean = diagonal(s.clone()).mean();
    let off = s.mask_fill(eye_mask(b, &diag_mean.device()), ABSENT).reshape([1, b * b]);
    let log_mean_off = log_sum_exp(off, 1).reshape([1]).sub_scalar(((b * (b - 1)) as f32).ln());
    log_mean_off - diag_mean
}

/// `log sum exp` of `x` along `dim` (the reduced dimension is kept, of size 1), stabilised by the
/// maximum; entries at or below `-1e30` count as absent.
pub fn log_sum_exp(x: Tensor<2>, dim: usize) -> Tensor<2> {
    let max = x.clone().detach().max_dim(dim);
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// The diagonal `S_ii` (B x 1) of a square matrix, gathered rather than masked (O(B), not O(B^2)).
fn diagonal(s: Tensor<2>) -> Tensor<2> {
    let [b, _] = s.dims();
    let idx = Tensor::<1, Int>::arange(0..b as i64, &s.device()).reshape([b, 1]);
    s.gather(1, idx)
}

/// The B x B boolean identity.
fn eye_mask(b: usize, device: &Device) -> Tensor<2, Bool> {
    Tensor::<2>::eye(b, device).equal_elem(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn device() -> Device {
        Device::flex()
    }

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_data().try_into_vec_as::<f32>().unwrap()[0])
    }

    fn matrix(rows: &[Vec<f64>]) -> Tensor<2> {
        let b = rows.len();
        let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
        Tensor::<2>::from_data(burn::tensor::TensorData::new(flat, [b, b]), &device())
    }

    /// The 2 x 2 batch S = [[2, 0], [1, 3]] by hand:
    /// L_{u|v} (columns): -(2 - ln(e^2 + e^1)) and -(3 - ln(e^0 + e^3)), averaged;
    /// L_{v|u} (rows):    -(2 - ln(e^2 + e^0)) and -(3 - ln(e^1 + e^3)), averaged;
    /// joint: -(2 + 3)/2 + ln((e^0 + e^1)/2).
    #[test]
    fn losses_match_a_hand_computed_batch() {
        let e = f64::exp;
        let s = || matrix(&[vec![2.0, 0.0], vec![1.0, 3.0]]);
        let l_uv = 0.5 * ((e(2.0) + e(1.0)).ln() - 2.0 + (e(0.0) + e(3.0)).ln() - 3.0);
        let l_vu = 0.5 * ((e(2.0) + e(0.0)).ln() - 2.0 + (e(1.0) + e(3.0)).ln() - 3.0);
        let joint = -2.5 + ((e(0.0) + e(1.0)) / 2.0).ln();
        assert!((scalar(conditional_loss(s(), 2.0, 0.0)) - l_uv).abs() < 1e-6);
        assert!((scalar(conditional_loss(s(), 0.0, 2.0)) - l_vu).abs() < 1e-6);
        assert!((scalar(conditional_loss(s(), 1.0, 1.0)) - 0.5 * (l_uv + l_vu)).abs() < 1e-6);
        assert!((scalar(conditional_loss(s(), 0.5, 3.0)) - (0.25 * l_uv + 1.5 * l_vu)).abs() < 1e-6);
        assert!((scalar(joint_loss(s())) - joint).abs() < 1e-6);
        // Negatives only: the normaliser of column j is exp(S_ij) for the one i != j.
        let l_uv_neg = 0.5 * (1.0 - 2.0 + 0.0 - 3.0);
        let neg = conditional_loss_with(s(), 2.0, 0.0, Normaliser::NegativesOnly);
        assert!((scalar(neg) - l_uv_neg).abs() < 1e-6);
    }

    /// CLIP is symmetric: swapping the modalities (transposing S) leaves (1,1) unchanged and swaps
    /// the one-sided losses (2,0) <-> (0,2).
    #[test]
    fn clip_is_symmetric_under_swapping_modalities() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let rows: Vec<Vec<f64>> = (0..7).map(|_| (0..7).map(|_| rng.random_range(-4.0..4.0)).collect()).collect();
        let s = matrix(&rows);
        let st = s.clone().transpose();
        let clip = scalar(conditional_loss(s.clone(), 1.0, 1.0));
        assert!((clip - scalar(conditional_loss(st.clone(), 1.0, 1.0))).abs() < 1e-5);
        let one_sided = scalar(conditional_loss(s.clone(), 2.0, 0.0));
        assert!((one_sided - scalar(conditional_loss(st, 0.0, 2.0))).abs() < 1e-5);
        // Not trivially symmetric: the two one-sided losses differ on a generic batch.
        assert!((one_sided - scalar(conditional_loss(s, 0.0, 2.0))).abs() > 1e-3);
    }

    /// Large scores (as with a small temperature) must not overflow f32: a batch with entries near
    /// 1e4 gives the same loss as the same batch shifted down by 1e4 (losses are shift-invariant).
    #[test]
    fn log_sum_exp_is_stable_for_large_scores() {
        let base = vec![vec![3.0, -1.0, 0.5], vec![0.0, 2.5, 1.0], vec![-2.0, 1.5, 4.0]];
        let shifted: Vec<Vec<f64>> = base.iter().map(|r| r.iter().map(|x| x + 1.0e4).collect()).collect();
        for (a, b) in [(conditional_loss(matrix(&base), 1.0, 1.0), conditional_loss(matrix(&shifted), 1.0, 1.0)),
            (joint_loss(matrix(&base)), joint_loss(matrix(&shifted)))]
        {
            let (a, b) = (scalar(a), scalar(b));
            assert!(a.is_finite() && b.is_finite());
            // f32 resolution at 1e4 is about 1e-3.
            assert!((a - b).abs() < 5e-3, "{a} vs {b}");
        }
    }

    /// The bound of SCIENCE.md, in its exact batch form. By Jensen (log of a mean >= mean of logs),
    /// for every S and weights with lambda_u + lambda_v = 2:
    ///     L_joint(S) + log(B - 1) >= L_cond(S; negatives-only normalisers),
    /// with equality when all off-diagonal entries are equal. (With whole-batch normalisers the
    /// batch inequality can fail: a well-aligned batch has L_cond near 0 and L_joint far below.)
    #[test]
    fn joint_loss_bounds_the_conditional_loss() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for trial in 0..20 {
            let b = 2 + trial % 9;
            let scale = [0.1, 1.0, 10.0][trial % 3];
            let rows: Vec<Vec<f64>> = (0..b).map(|_| (0..b).map(|_| scale * rng.random_range(-1.0..1.0)).collect()).collect();
            let joint = scalar(joint_loss(matrix(&rows))) + ((b - 1) as f64).ln();
            for (lu, lv) in [(1.0, 1.0), (2.0, 0.0), (0.0, 2.0), (0.5, 1.5)] {
                let cond = scalar(conditional_loss_with(matrix(&rows), lu, lv, Normaliser::NegativesOnly));
                assert!(joint >= cond - 1e-4 * (1.0 + cond.abs()), "B={b}: joint {joint} < cond {cond}");
            }
        }
        // Equality: constant off-diagonal entries make every normaliser the same.
        let rows: Vec<Vec<f64>> =
            (0..5).map(|i| (0..5).map(|j| if i == j { i as f64 } else { -0.7 }).collect()).collect();
        let joint = scalar(joint_loss(matrix(&rows))) + 4f64.ln();
        let cond = scalar(conditional_loss_with(matrix(&rows), 1.0, 1.0, Normaliser::NegativesOnly));
        assert!((joint - cond).abs() < 1e-5, "{joint} vs {cond}");
    }
}
