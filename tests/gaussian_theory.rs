//! The trained encoders against the closed forms of the Gaussian theory (docs/science.md §5).
//!
//! Pairs `(u, v)` (dim u = 4, dim v = 3) are drawn from a fixed Gaussian whose canonical
//! correlations are (0.8, 0.6, 0.4); the closed forms are evaluated with the EMPIRICAL covariances
//! of the (centred) sample. Linear unnormalised encoders are trained with tau = 1 by full-batch
//! Adam (one batch = the whole sample), so the batch loss is the empirical loss itself and its
//! optimum estimates the population optimum.
//!
//! Tolerances. The empirical loss replaces the Gaussian partition function
//! `E_{u'}[exp s(u', v)]` by a sample average of exponentials, so its optimum differs from the
//! closed form by a sampling error that the empirical covariances do not remove. Measured when
//! these tests were designed (exact optimum of the empirical loss by L-BFGS in float64, eight
//! samples of N = 2000): 1.6-4.6% for inner + CLIP, 1.8-4.9% for inner + joint, 3.1-6.0% for the
//! rank-2 case (relative Frobenius error of `A = G^T H`), and 0.1-0.5% for the l2 tilting (N =
//! 1000; 1-3% at N = 256). Full-batch Adam (200 steps, lr 0.05, cosine decay) reaches that
//! optimum to 0.2%. Hence 8% for the inner tilting and 2% for the l2 tilting (5% for the small
//! wgpu run). The wrong answers are 24-93% away (asserted below to be at least 2.5 tolerances
//! away), so a wrong formula cannot pass: e.g. the marginal covariance C_uu instead of C_{u|v},
//! or the conditional optimum instead of the joint one.
//!
//! Observed in this file (flex backend): inner + CLIP 3.3%, l2 mean map 0.4% and covariance
//! 0.3%, inner + joint 2.6%, rank 2 5.8%; wgpu (lavapipe) l2 at N = 256: 2.0% / 0.5%, and the
//! wgpu encoders equal the CPU ones to 2e-7.

use burn::tensor::Device;
use contrada::learn::config::{Schedule, TrainConfig};
use contrada::learn::encoders::{Encoder, EncoderConfig, EncoderKind};
use contrada::learn::loss::LossKind;
use contrada::learn::model::{ContrastiveModel, Pairs};
use contrada::learn::tilting::Tilting;
use contrada::learn::train::train_split;
use ndarray::{Array1, Array2, s};
use ndarray_linalg::{Cholesky, Eigh, Inverse, SVD, UPLO};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const D_U: usize = 4;
const D_V: usize = 3;
const CANONICAL: [f64; 3] = [0.8, 0.6, 0.4];

/// Inner-tilting tolerance (relative Frobenius), see the module comment.
const TOL_INNER: f64 = 0.08;
/// l2-tilting tolerance.
const TOL_L2: f64 = 0.02;

/// A sample and its empirical covariance blocks.
struct Sample {
    u: Array2<f32>,
    v: Array2<f32>,
    c_uu: Array2<f64>,
    c_uv: Array2<f64>,
    c_vv: Array2<f64>,
}

/// `C^p` of a symmetric positive-definite matrix.
fn spd_power(c: &Array2<f64>, p: f64) -> Array2<f64> {
    let (w, q) = c.eigh(UPLO::Lower).unwrap();
    let scaled = &q * &w.mapv(|x| x.powf(p));
    scaled.dot(&q.t())
}

fn random_matrix(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| StandardNormal.sample(rng))
}

/// A random orthogonal matrix (eigenvectors of a random symmetric one).
fn random_orthogonal(n: usize, rng: &mut StdRng) -> Array2<f64> {
    let a = random_matrix(n, n, rng);
    (&a + &a.t()).eigh(UPLO::Lower).unwrap().1
}

/// The population covariance: random positive-definite marginals, canonical correlations `CANONICAL`.
fn population_covariance() -> Array2<f64> {
    let mut rng = StdRng::seed_from_u64(42);
    let lu = random_matrix(D_U, D_U, &mut rng);
    let c_uu = lu.dot(&lu.t()) / D_U as f64 + Array2::<f64>::eye(D_U) * 0.5;
    let lv = random_matrix(D_V, D_V, &mut rng);
    let c_vv = lv.dot(&lv.t()) / D_V as f64 + Array2::<f64>::eye(D_V) * 0.5;
    let mut k = Array2::<f64>::zeros((D_U, D_V));
    for (i, &rho) in CANONICAL.iter().enumerate() {
        k[[i, i]] = rho;
    }
    let c_uv = spd_power(&c_uu, 0.5).dot(&random_orthogonal(D_U, &mut rng)).dot(&k).dot(&random_orthogonal(D_V, &mut rng).t()).dot(&spd_power(&c_vv, 0.5));
    let mut c = Array2::<f64>::zeros((D_U + D_V, D_U + D_V));
    c.slice_mut(s![..D_U, ..D_U]).assign(&c_uu);
    c.slice_mut(s![..D_U, D_U..]).assign(&c_uv);
    c.slice_mut(s![D_U.., ..D_U]).assign(&c_uv.t());
    c.slice_mut(s![D_U.., D_U..]).assign(&c_vv);
    c
}

/// `n` centred draws and their empirical covariance (divided by n, matching the centring).
fn draw(n: usize, seed: u64) -> Sample {
    let l = population_covariance().cholesky(UPLO::Lower).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut z = random_matrix(n, D_U + D_V, &mut rng).dot(&l.t());
    let mean: Array1<f64> = z.mean_axis(ndarray::Axis(0)).unwrap();
    z -= &mean;
    let c = z.t().dot(&z) / n as f64;
    Sample {
        u: z.slice(s![.., ..D_U]).mapv(|x| x as f32),
        v: z.slice(s![.., D_U..]).mapv(|x| x as f32),
        c_uu: c.slice(s![..D_U, ..D_U]).to_owned(),
        c_uv: c.slice(s![..D_U, D_U..]).to_owned(),
        c_vv: c.slice(s![D_U.., D_U..]).to_owned(),
    }
}

fn rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let diff = a - b;
    (diff.iter().map(|x| x * x).sum::<f64>() / b.iter().map(|x| x * x).sum::<f64>()).sqrt()
}

/// Full-batch training of linear unnormalised encoders with tau = 1; returns (G, H) with
/// `g_u = G u`, `g_v = H v`.
fn fit(sample: &Sample, tilting: Tilting, loss: LossKind, lambdas: (f64, f64), n_e: usize, steps: usize, device: &Device) -> (Array2<f64>, Array2<f64>) {
    let linear = EncoderConfig { kind: EncoderKind::Linear, ..EncoderConfig::default() };
    let config = TrainConfig {
        n_e,
        tilting,
        temperature: 1.0,
        learn_temperature: false,
        loss,
        lambda_u: lambdas.0,
        lambda_v: lambdas.1,
        lr: 0.05,
        schedule: Schedule::Cosine,
        epochs: steps,
        batch_size: sample.u.nrows(),
        validation_fraction: 0.0,
        encoder_u: linear.clone(),
        encoder_v: linear,
        ..TrainConfig::default()
    };
    let pairs = Pairs { u: sample.u.view(), v: sample.v.view(), source: std::path::Path::new("gaussian sample") };
    let start = std::time::Instant::now();
    let trained = train_split(&config, pairs, None, device, 7).unwrap();
    eprintln!(
        "{tilting:?}/{loss:?}{lambdas:?} n_e={n_e} N={}: {steps} steps in {:.1} s, final loss {:.5}",
        sample.u.nrows(),
        start.elapsed().as_secs_f64(),
        trained.history.last().unwrap().train_loss
    );
    linear_maps(&trained.model)
}

fn linear_maps(model: &ContrastiveModel) -> (Array2<f64>, Array2<f64>) {
    match (&model.encoder_u, &model.encoder_v) {
        (Encoder::Linear(gu), Encoder::Linear(gv)) => (gu.g_matrix(), gv.g_matrix()),
        _ => panic!("linear encoders expected"),
    }
}

/// `C_uu^-1/2 (C_uu^-1/2 C_uv C_vv^-1/2)_r C_vv^-1/2` with the singular values mapped by `h`
/// (identity and r = full: the conditional optimum; the joint map h: the joint optimum).
fn whitened_svd_form(s: &Sample, rank: usize, h: impl Fn(f64) -> f64) -> Array2<f64> {
    let (uu, vv) = (spd_power(&s.c_uu, -0.5), spd_power(&s.c_vv, -0.5));
    let m = uu.dot(&s.c_uv).dot(&vv);
    let (u, sigma, vt) = m.svd(true, true).unwrap();
    let (u, vt) = (u.unwrap(), vt.unwrap());
    let mut core = Array2::<f64>::zeros((D_U, D_V));
    for k in 0..rank {
        core[[k, k]] = h(sigma[k]);
    }
    uu.dot(&u.slice(s![.., ..D_U.min(D_V)]).dot(&core.slice(s![..D_U.min(D_V), ..]))).dot(&vt).dot(&vv)
}

fn conditional_optimum(s: &Sample) -> Array2<f64> {
    s.c_uu.inv().unwrap().dot(&s.c_uv).dot(&s.c_vv.inv().unwrap())
}

fn joint_optimum(s: &Sample) -> Array2<f64> {
    whitened_svd_form(s, D_V, |sigma| ((1.0 + 4.0 * sigma * sigma).sqrt() - 1.0) / (2.0 * sigma))
}

/// Sample size of the CPU checks: the N x N score matrix bounds it (see the tolerances above).
const N: usize = 2000;
/// Sample size of the CPU l2 check: its empirical optimum is much closer to the closed form.
const N_L2: usize = 1000;
/// Full-batch Adam steps (lr 0.05, cosine decay to 0); they reach the empirical optimum to 0.2%.
const STEPS: usize = 200;

#[test]
fn inner_tilting_conditional_loss_learns_cuu_inv_cuv_cvv_inv() {
    let sample = draw(N, 1);
    let (g, h) = fit(&sample, Tilting::Inner, LossKind::Conditional, (1.0, 1.0), D_V, STEPS, &Device::flex());
    let target = conditional_optimum(&sample);
    let err = rel(&g.t().dot(&h), &target);
    let wrong = rel(&joint_optimum(&sample), &target);
    eprintln!("inner + CLIP: error {err:.4}; the joint optimum is {wrong:.4} away");
    assert!(err < TOL_INNER, "G^T H is {err:.4} from C_uu^-1 C_uv C_vv^-1");
    assert!(wrong > 2.5 * TOL_INNER);
}

/// The l2 model's conditional of u given v, `N((B + C_uu^-1)^-1 A v, (B + C_uu^-1)^-1)`, as
/// (mean map, covariance).
fn l2_conditional(g: &Array2<f64>, h: &Array2<f64>, c_uu: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let cov = (g.t().dot(g) + c_uu.inv().unwrap()).inv().unwrap();
    (cov.dot(&g.t().dot(h)), cov)
}

/// Checks the l2 + (2,0) answer on `sample` with tolerance `tol`; returns the learned (G, H).
fn check_l2_one_sided(sample: &Sample, steps: usize, tol: f64, device: &Device) -> (Array2<f64>, Array2<f64>) {
    let (g, h) = fit(sample, Tilting::L2, LossKind::Conditional, (2.0, 0.0), D_V, steps, device);
    let (mean_map, cov) = l2_conditional(&g, &h, &sample.c_uu);
    let c_vv_inv = sample.c_vv.inv().unwrap();
    let true_mean_map = sample.c_uv.dot(&c_vv_inv);
    let true_cov = &sample.c_uu - &sample.c_uv.dot(&c_vv_inv).dot(&sample.c_uv.t());
    let (err_mean, err_cov) = (rel(&mean_map, &true_mean_map), rel(&cov, &true_cov));
    let wrong = rel(&sample.c_uu, &true_cov);
    eprintln!("l2 + (2,0): mean map error {err_mean:.4}, covariance error {err_cov:.4}; the marginal covariance is {wrong:.4} away");
    assert!(err_mean < tol, "mean map (B + C_uu^-1)^-1 A is {err_mean:.4} from C_uv C_vv^-1");
    assert!(err_cov < tol, "covariance (B + C_uu^-1)^-1 is {err_cov:.4} from C_u|v");
    assert!(wrong > 2.5 * tol);
    (g, h)
}

#[test]
fn l2_tilting_one_sided_loss_learns_the_exact_conditional() {
    check_l2_one_sided(&draw(N_L2, 2), STEPS, TOL_L2, &Device::flex());
}

#[test]
fn inner_tilting_joint_loss_learns_the_shrunk_map() {
    let sample = draw(N, 3);
    let (g, h) = fit(&sample, Tilting::Inner, LossKind::Joint, (1.0, 1.0), D_V, STEPS, &Device::flex());
    let target = joint_optimum(&sample);
    let err = rel(&g.t().dot(&h), &target);
    let wrong = rel(&conditional_optimum(&sample), &target);
    eprintln!("inner + joint: error {err:.4}; the conditional optimum is {wrong:.4} away");
    assert!(err < TOL_INNER, "G^T H is {err:.4} from C_uu^-1/2 U h(S) V^T C_vv^-1/2");
    assert!(wrong > 2.5 * TOL_INNER);
}

#[test]
fn rank_two_codes_learn_the_rank_two_optimum() {
    let sample = draw(N, 4);
    let (g, h) = fit(&sample, Tilting::Inner, LossKind::Conditional, (1.0, 1.0), 2, STEPS, &Device::flex());
    let target = whitened_svd_form(&sample, 2, |sigma| sigma);
    let err = rel(&g.t().dot(&h), &target);
    let wrong = rel(&conditional_optimum(&sample), &target);
    eprintln!("inner + CLIP, n_e = 2: error {err:.4}; the full-rank optimum is {wrong:.4} away");
    assert!(err < TOL_INNER, "G^T H is {err:.4} from A*(2)");
    assert!(wrong > 2.5 * TOL_INNER);
}

/// The wgpu path (Mesa's lavapipe on CPU-only machines), kept small because software Vulkan is
/// slow: the l2 one-sided case on 256 pairs, where the empirical optimum lies 1-3% from the
/// closed form, and the same training on the CPU backend must give the same encoders.
#[test]
fn wgpu_backend_reproduces_the_l2_answer_and_the_cpu_run() {
    let selected = match contrada::learn::backend::select(contrada::config::BackendChoice::Wgpu, "test") {
        Ok(selected) => selected,
        Err(e) => {
            // Only acceptable where wgpu has no adapter at all; CI installs lavapipe.
            assert!(contrada::learn::backend::adapters().is_empty(), "wgpu failed although adapters exist: {e}");
            eprintln!("no wgpu adapter on this machine; skipping the wgpu run: {e}");
            return;
        }
    };
    eprintln!("wgpu adapter: {selected}");
    let sample = draw(256, 5);
    let (g_gpu, h_gpu) = check_l2_one_sided(&sample, STEPS, 0.05, &selected.device);
    let (g_cpu, h_cpu) = fit(&sample, Tilting::L2, LossKind::Conditional, (2.0, 0.0), D_V, STEPS, &Device::flex());
    let (dg, dh) = (rel(&g_gpu, &g_cpu), rel(&h_gpu, &h_cpu));
    eprintln!("wgpu vs cpu: G differs by {dg:.2e}, H by {dh:.2e}");
    assert!(dg < 1e-3 && dh < 1e-3);
}
