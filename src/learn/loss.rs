//! Contrastive losses on a batch score matrix `S_ij = s(u_i, v_j)` (docs/science.md §4).
//!
//! - `L_{u|v} = -mean_j [S_jj - logsumexp_i S_ij]` (for each observation, a softmax over states);
//! - `L_{v|u} = -mean_i [S_ii - logsumexp_j S_ij]`;
//! - weighted conditional loss `(lambda_u/2) L_{u|v} + (lambda_v/2) L_{v|u}`: `(1, 1)` is CLIP,
//!   `(2, 0)` and `(0, 2)` are one-sided;
//! - joint loss `-mean_i S_ii + log mean_{i != j} exp(S_ij)`;
//! - MMD loss (the MMD variant of docs/science.md §4.4: the KL between the true and the model conditional
//!   replaced by a kernel MMD): `(lambda_u/2) M_{u|v} + (lambda_v/2) M_{v|u}` with
//!   `M_{u|v} = mean_j |phi(u_j) - sum_i w_ij phi(u_i)|^2`, where `w_ij = softmax_i S_ij` is the
//!   model conditional of the states given `v_j` on the batch (the model expectation is this
//!   exp(s)-weighted sample average) and `u_j` is the sample of the true conditional; in kernel
//!   form `K_jj - 2 (K W)_jj + (W^T K W)_jj`. `M_{v|u}` likewise with `w_ji = softmax_j S_ij` and
//!   the kernel of the observations. The kernel is Gaussian, `k(x, y) = exp(-|x - y|^2 / h)`, with
//!   the bandwidth `h` the batch's mean squared distance between distinct inputs (scale-free, so
//!   one rule serves both modalities).
//!
//! Every log-sum-exp subtracts its maximum first (the maximum is a constant for the gradient), so
//! scores of any magnitude are safe in f32. Excluded entries are set to a large finite negative
//! value rather than `-inf`, which GPU shader arithmetic need not honour.

use burn::tensor::{Bool, Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// Score given to excluded entries: `exp(ABSENT - max)` is exactly 0 in f32 for any real batch.
const ABSENT: f32 = -1.0e30;

/// Keeps the MMD kernel defined for a batch of identical inputs (every distance 0).
const MIN_BANDWIDTH: f32 = 1.0e-12;

/// Which loss trains the encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// The weighted conditional loss (weights `lambda_u`, `lambda_v`).
    #[default]
    Conditional,
    /// The joint loss.
    Joint,
    /// The kernel-MMD loss (weights `lambda_u`, `lambda_v`).
    Mmd,
}

/// A loss with its weights, ready to apply to score matrices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Conditional or joint.
    pub kind: LossKind,
    /// Weight of `L_{u|v}` (conditional and MMD losses).
    pub lambda_u: f32,
    /// Weight of `L_{v|u}` (conditional and MMD losses).
    pub lambda_v: f32,
}

impl Loss {
    /// The loss of the square batch score matrix `s` (B x B, B >= 2) of the states `u` (B x d_u)
    /// and observations `v` (B x d_v), as a one-element tensor. Only the MMD loss looks at the
    /// inputs themselves.
    pub fn apply(&self, s: Tensor<2>, u: Tensor<2>, v: Tensor<2>) -> Tensor<1> {
        match self.kind {
            LossKind::Conditional => conditional_loss(s, self.lambda_u, self.lambda_v),
            LossKind::Joint => joint_loss(s),
            LossKind::Mmd => mmd_loss(s, u, v, self.lambda_u, self.lambda_v),
        }
    }
}

/// Whether the positive pair itself enters the softmax normaliser of a conditional term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normaliser {
    /// Over the whole batch, positive included: the standard InfoNCE/CLIP loss of docs/science.md §4.2.
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

/// The MMD loss `(lambda_u/2) M_{u|v} + (lambda_v/2) M_{v|u}` of the module documentation.
pub fn mmd_loss(s: Tensor<2>, u: Tensor<2>, v: Tensor<2>, lambda_u: f32, lambda_v: f32) -> Tensor<1> {
    let device = s.device();
    let mut total: Option<Tensor<1>> = None;
    // Column j of each weight matrix is the model conditional given the j-th sample of the other
    // modality: over states (a softmax down the columns of S) and over observations (along rows).
    for (lambda, dim, x) in [(lambda_u, 0, u), (lambda_v, 1, v)] {
        if lambda != 0.0 {
            let log_w = s.clone() - log_sum_exp(s.clone(), dim);
            let w = if dim == 0 { log_w.exp() } else { log_w.exp().transpose() };
            let term = mmd_to_samples(w, gaussian_kernel(x)).mul_scalar(lambda / 2.0);
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
    }
    total.unwrap_or_else(|| Tensor::zeros([1], &device))
}

/// `mean_j |phi(x_j) - sum_i W_ij phi(x_i)|^2` from the kernel matrix `K_ij = k(x_i, x_j)`:
/// `mean_j [K_jj - 2 (K W)_jj + sum_i W_ij (K W)_ij]`.
fn mmd_to_samples(w: Tensor<2>, k: Tensor<2>) -> Tensor<1> {
    let kw = k.clone().matmul(w.clone());
    let model = (w * kw.clone()).sum_dim(0).transpose();
    (diagonal(k) - diagonal(kw).mul_scalar(2.0) + model).mean()
}

/// The Gaussian kernel matrix `exp(-|x_i - x_j|^2 / h)` of a batch (B x d), `h` the mean squared
/// distance between distinct rows; a constant of the data, outside the gradient.
fn gaussian_kernel(x: Tensor<2>) -> Tensor<2> {
    let x = x.detach();
    let [b, _] = x.dims();
    let sq = x.clone().square().sum_dim(1);
    let d2 = (sq.clone() + sq.transpose() - x.clone().matmul(x.transpose()).mul_scalar(2.0)).clamp_min(0.0);
    // The diagonal of d2 is zero up to rounding, so the sum over all entries is the off-diagonal one.
    let h = d2.clone().sum().div_scalar((b * (b - 1)).max(1) as f32).add_scalar(MIN_BANDWIDTH);
    (d2.neg() / h.unsqueeze::<2>()).exp()
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
        for (a, b) in [
            (conditional_loss(matrix(&base), 1.0, 1.0), conditional_loss(matrix(&shifted), 1.0, 1.0)),
            (joint_loss(matrix(&base)), joint_loss(matrix(&shifted))),
        ] {
            let (a, b) = (scalar(a), scalar(b));
            assert!(a.is_finite() && b.is_finite());
            // f32 resolution at 1e4 is about 1e-3.
            assert!((a - b).abs() < 5e-3, "{a} vs {b}");
        }
    }

    /// The bound of docs/science.md §4.3, in its exact batch form. By Jensen (log of a mean >= mean of logs),
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
        let rows: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| if i == j { i as f64 } else { -0.7 }).collect()).collect();
        let joint = scalar(joint_loss(matrix(&rows))) + 4f64.ln();
        let cond = scalar(conditional_loss_with(matrix(&rows), 1.0, 1.0, Normaliser::NegativesOnly));
        assert!((joint - cond).abs() < 1e-5, "{joint} vs {cond}");
    }

    fn rows(x: &[Vec<f64>]) -> Tensor<2> {
        let flat: Vec<f32> = x.iter().flatten().map(|&v| v as f32).collect();
        Tensor::<2>::from_data(burn::tensor::TensorData::new(flat, [x.len(), x[0].len()]), &device())
    }

    /// The 2 x 2 batch S = [[2, 0], [1, 3]] by hand. With two samples the model conditional given
    /// v_j mixes phi(u_j) (weight w_jj) and phi(u_o) (weight w_oj = 1 - w_jj), so
    /// |phi(u_j) - w_jj phi(u_j) - w_oj phi(u_o)|^2 = w_oj^2 (k(u_j,u_j) + k(u_o,u_o) - 2 k(u_j,u_o))
    /// = w_oj^2 (2 - 2k). The bandwidth is the one squared distance, so k = e^-1 for any inputs.
    /// Columns (u|v): w_21 = e/(e^2 + e), w_12 = 1/(1 + e^3); rows (v|u): 1/(e^2 + 1), e/(e + e^3).
    #[test]
    fn mmd_loss_matches_a_hand_computed_batch() {
        let e = f64::exp;
        let s = || matrix(&[vec![2.0, 0.0], vec![1.0, 3.0]]);
        let u = || rows(&[vec![0.0], vec![1.0]]);
        let v = || rows(&[vec![0.0, 0.0], vec![3.0, 4.0]]);
        let gap = 2.0 - 2.0 * e(-1.0);
        let m_uv = 0.5 * gap * ((e(1.0) / (e(2.0) + e(1.0))).powi(2) + (1.0 / (1.0 + e(3.0))).powi(2));
        let m_vu = 0.5 * gap * ((1.0 / (e(2.0) + 1.0)).powi(2) + (e(1.0) / (e(1.0) + e(3.0))).powi(2));
        assert!((scalar(mmd_loss(s(), u(), v(), 2.0, 0.0)) - m_uv).abs() < 1e-6);
        assert!((scalar(mmd_loss(s(), u(), v(), 0.0, 2.0)) - m_vu).abs() < 1e-6);
        assert!((scalar(mmd_loss(s(), u(), v(), 1.0, 1.0)) - 0.5 * (m_uv + m_vu)).abs() < 1e-6);
        let via_loss = Loss { kind: LossKind::Mmd, lambda_u: 0.5, lambda_v: 3.0 }.apply(s(), u(), v());
        assert!((scalar(via_loss) - (0.25 * m_uv + 1.5 * m_vu)).abs() < 1e-6);
    }

    /// A 4 x 4 batch against the definition written out as a double sum over the batch, in f64:
    /// M_{u|v} = mean_j sum_{i,i'} (delta_ij - w_ij)(delta_i'j - w_i'j) k(u_i, u_i').
    #[test]
    fn mmd_loss_matches_the_definition_on_a_random_batch() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let b = 4;
        let s: Vec<Vec<f64>> = (0..b).map(|_| (0..b).map(|_| rng.random_range(-2.0..2.0)).collect()).collect();
        let u: Vec<Vec<f64>> = (0..b).map(|_| (0..3).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
        let v: Vec<Vec<f64>> = (0..b).map(|_| (0..2).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
        let kernel = |x: &[Vec<f64>]| -> Vec<Vec<f64>> {
            let d2 = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, c)| (a - c) * (a - c)).sum::<f64>();
            let mut h = 0.0;
            for i in 0..b {
                for j in 0..b {
                    if i != j {
                        h += d2(&x[i], &x[j]) / (b * (b - 1)) as f64;
                    }
                }
            }
            (0..b).map(|i| (0..b).map(|j| (-d2(&x[i], &x[j]) / h).exp()).collect()).collect()
        };
        // weight[j][i]: model probability of sample i of the retrieved modality given query j.
        let mmd = |weight: &dyn Fn(usize, usize) -> f64, k: &[Vec<f64>]| {
            let mut total = 0.0;
            for j in 0..b {
                let r = |i: usize| f64::from(u8::from(i == j)) - weight(j, i);
                for (i, k_row) in k.iter().enumerate() {
                    for (i2, k_ii2) in k_row.iter().enumerate() {
                        total += r(i) * r(i2) * k_ii2;
                    }
                }
            }
            total / b as f64
        };
        let col = |j: usize, i: usize| s[i][j].exp() / (0..b).map(|l| s[l][j].exp()).sum::<f64>();
        let row = |i: usize, j: usize| s[i][j].exp() / (0..b).map(|l| s[i][l].exp()).sum::<f64>();
        let (ku, kv) = (kernel(&u), kernel(&v));
        let expect = 0.5 * mmd(&col, &ku) + 1.5 * mmd(&row, &kv);
        let got = scalar(mmd_loss(matrix(&s), rows(&u), rows(&v), 1.0, 3.0));
        assert!((got - expect).abs() < 1e-5 * (1.0 + expect), "{got} vs {expect}");
        // A confident, correct model (large diagonal) has an MMD near 0; a uniform one does not.
        let sharp: Vec<Vec<f64>> = (0..b).map(|i| (0..b).map(|j| if i == j { 30.0 } else { 0.0 }).collect()).collect();
        assert!(scalar(mmd_loss(matrix(&sharp), rows(&u), rows(&v), 1.0, 1.0)) < 1e-6);
        let flat = vec![vec![0.0; b]; b];
        assert!(scalar(mmd_loss(matrix(&flat), rows(&u), rows(&v), 1.0, 1.0)) > 0.1);
    }
}
