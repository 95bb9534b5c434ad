//! The conditional generator against the Gaussian closed forms of docs/science.md §5 (and §7.5), with the
//! encoders set to the closed-form optimum and a large bank drawn from the marginal of `u`.
//! Tolerances are stated from the bank's effective sample size.

use contrada::assimilate::generator::{
    Tilting, effective_sample_size, ensemble_transform, retrieve, systematic_resample, weighted_covariance, weighted_mean, weights,
};
use ndarray::{Array1, Array2, Axis, array, s};
use ndarray_linalg::{Cholesky, Eigh, Inverse, UPLO};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// A fixed joint covariance of (u, v), dim 3 + 3, well conditioned and strongly correlated.
fn joint_covariance() -> Array2<f64> {
    let l = array![
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.4, 0.9, 0.0, 0.0, 0.0, 0.0],
        [-0.3, 0.2, 0.8, 0.0, 0.0, 0.0],
        [0.8, 0.1, 0.0, 0.5, 0.0, 0.0],
        [0.0, 0.7, 0.3, 0.1, 0.4, 0.0],
        [0.2, -0.4, 0.6, 0.0, 0.2, 0.5],
    ];
    l.dot(&l.t())
}

struct Blocks {
    cuu: Array2<f64>,
    cuv: Array2<f64>,
    cvv: Array2<f64>,
}

fn blocks() -> Blocks {
    let c = joint_covariance();
    Blocks { cuu: c.slice(s![..3, ..3]).to_owned(), cuv: c.slice(s![..3, 3..]).to_owned(), cvv: c.slice(s![3.., 3..]).to_owned() }
}

fn sym_pow(m: &Array2<f64>, p: f64) -> Array2<f64> {
    let (e, v) = m.eigh(UPLO::Lower).unwrap();
    v.dot(&Array2::from_diag(&e.mapv(|x| x.powf(p)))).dot(&v.t())
}

/// `n` draws of u ~ N(0, C_uu), one per row.
fn bank(cuu: &Array2<f64>, n: usize, seed: u64) -> Array2<f64> {
    let l = cuu.cholesky(UPLO::Lower).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let z = Array2::from_shape_fn((n, 3), |_| rng.sample::<f64, _>(StandardNormal));
    z.dot(&l.t())
}

fn exact_posterior(b: &Blocks, v: &Array1<f64>) -> (Array1<f64>, Array2<f64>) {
    let k = b.cuv.dot(&b.cvv.inv().unwrap());
    (k.dot(v), &b.cuu - &k.dot(&b.cuv.t()))
}

/// Linear encoders `(G, H)` at the l2 + one-sided optimum of docs/science.md §5.2:
/// `G^T G = B*`, `G^T H = A*`.
fn l2_optimum(b: &Blocks) -> (Array2<f64>, Array2<f64>) {
    let cuu_inv = b.cuu.inv().unwrap();
    let cvv_inv = b.cvv.inv().unwrap();
    let c_u_given_v = &b.cuu - &b.cuv.dot(&cvv_inv).dot(&b.cuv.t());
    let c_v_given_u = &b.cvv - &b.cuv.t().dot(&cuu_inv).dot(&b.cuv);
    let a = c_u_given_v.inv().unwrap().dot(&b.cuv).dot(&cvv_inv);
    let bb = cuu_inv.dot(&b.cuv).dot(&c_v_given_u.inv().unwrap()).dot(&b.cuv.t()).dot(&cuu_inv);
    (sym_pow(&bb, 0.5), sym_pow(&bb, -0.5).dot(&a))
}

fn frob(a: &Array2<f64>) -> f64 {
    a.mapv(|x| x * x).sum().sqrt()
}

fn v_star() -> Array1<f64> {
    array![0.9, -0.6, 0.4]
}

#[test]
fn l2_one_sided_optimum_reweights_the_bank_to_the_exact_posterior() {
    let b = blocks();
    let (g, h) = l2_optimum(&b);
    let states = bank(&b.cuu, 400_000, 1);
    let codes = states.dot(&g.t());
    let v = v_star();
    let w = weights(codes.view(), h.dot(&v).view(), Tilting::L2, 1.0);
    let ess = effective_sample_size(w.view());
    let (mean, cov) = exact_posterior(&b, &v);
    let got_mean = weighted_mean(states.view(), w.view());
    let got_cov = weighted_covariance(states.view(), w.view());
    // Importance-sampling standard errors: mean sqrt(var / ESS), covariance ~ sqrt(2 / ESS) relative.
    for k in 0..3 {
        let se = (cov[[k, k]] / ess).sqrt();
        assert!((got_mean[k] - mean[k]).abs() < 5.0 * se, "mean[{k}] {} vs {} (se {se}, ESS {ess})", got_mean[k], mean[k]);
    }
    let rel = frob(&(&got_cov - &cov)) / frob(&cov);
    assert!(rel < 5.0 * (2.0 / ess).sqrt(), "covariance relative error {rel}, ESS {ess}");
    // The marginal covariance is far away: the test can tell the two apart.
    assert!(frob(&(&b.cuu - &cov)) / frob(&cov) > 20.0 * (2.0 / ess).sqrt());
    // Resampling the weighted bank keeps the mean.
    let idx = systematic_resample(w.view(), 20_000, 0.5);
    let resampled = states.select(Axis(0), &idx);
    let rm = resampled.mean_axis(Axis(0)).unwrap();
    for k in 0..3 {
        assert!((rm[k] - got_mean[k]).abs() < 5.0 * (cov[[k, k]] / 20_000.0).sqrt() + 5.0 * (cov[[k, k]] / ess).sqrt());
    }
}

#[test]
fn inner_conditional_optimum_gets_the_mean_right_and_the_covariance_marginal() {
    let b = blocks();
    let a = b.cuu.inv().unwrap().dot(&b.cuv).dot(&b.cvv.inv().unwrap());
    let states = bank(&b.cuu, 400_000, 2);
    let v = v_star();
    // g_u = I u, g_v = A* v, so <g_u, g_v> = u^T A* v.
    let w = weights(states.view(), a.dot(&v).view(), Tilting::Inner, 1.0);
    let ess = effective_sample_size(w.view());
    let (mean, _) = exact_posterior(&b, &v);
    let got_mean = weighted_mean(states.view(), w.view());
    let got_cov = weighted_covariance(states.view(), w.view());
    for k in 0..3 {
        let se = (b.cuu[[k, k]] / ess).sqrt();
        assert!((got_mean[k] - mean[k]).abs() < 5.0 * se, "mean[{k}] {} vs {}", got_mean[k], mean[k]);
    }
    // The theory predicts the marginal covariance C_uu (too wide), not C_{u|v}.
    let rel = frob(&(&got_cov - &b.cuu)) / frob(&b.cuu);
    assert!(rel < 5.0 * (2.0 / ess).sqrt(), "covariance relative error to C_uu {rel}, ESS {ess}");
}

#[test]
fn transform_is_the_exact_kalman_update_of_the_bank_moments() {
    let b = blocks();
    let (g, h) = l2_optimum(&b);
    // A bank whose sample mean is exactly 0 and sample covariance exactly C_uu (moment matching), so
    // the exact Kalman update of its moments is the true posterior.
    let n = 60;
    let raw = bank(&b.cuu, n, 3);
    let centred = &raw - &raw.mean_axis(Axis(0)).unwrap().insert_axis(Axis(0));
    let sample_cov = centred.t().dot(&centred) / (n - 1) as f64;
    let states = centred.dot(&sym_pow(&sample_cov, -0.5)).dot(&sym_pow(&b.cuu, 0.5));
    let codes = states.dot(&g.t());
    let v = v_star();
    let analysis = ensemble_transform(states.view(), codes.view(), h.dot(&v).view(), 1.0).unwrap();
    let got_mean = analysis.mean_axis(Axis(0)).unwrap();
    let anomalies = &analysis - &got_mean.clone().insert_axis(Axis(0));
    let got_cov = anomalies.t().dot(&anomalies) / (n - 1) as f64;
    let (mean, cov) = exact_posterior(&b, &v);
    assert!((&got_mean - &mean).iter().all(|e| e.abs() < 1e-9), "mean {got_mean} vs {mean}");
    assert!(frob(&(&got_cov - &cov)) < 1e-9, "covariance {got_cov} vs {cov}");
}

#[test]
fn retrieval_returns_the_best_scores_first() {
    let codes = array![[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]];
    let obs = array![1.0, 0.05];
    assert_eq!(retrieve(codes.view(), obs.view(), Tilting::L2, 1.0, 2), vec![1, 2]);
    assert_eq!(retrieve(codes.view(), obs.view(), Tilting::Cosine, 0.1, 1), vec![1]);
    assert_eq!(retrieve(codes.view(), obs.view(), Tilting::Inner, 1.0, 10).len(), 4);
}

#[test]
fn systematic_resampling_reproduces_the_weights() {
    let w = array![0.1, 0.0, 0.6, 0.3];
    let idx = systematic_resample(w.view(), 10, 0.5);
    let count = |k| idx.iter().filter(|&&i| i == k).count();
    assert_eq!((count(0), count(1), count(2), count(3)), (1, 0, 6, 3));
    assert!((effective_sample_size(w.view()) - 1.0 / 0.46).abs() < 1e-12);
}
