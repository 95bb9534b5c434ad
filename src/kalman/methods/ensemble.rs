//! Ensemble statistics shared by the filters, the cycling driver and the stage: mean, anomalies,
//! spread and RMSE. An ensemble is an `Array2<f64>` of shape `(members, state)` in standard layout,
//! so each member is one contiguous state vector (what a model steps and an operator reads).

use ndarray::{Array2, ArrayView2};

/// Writes the ensemble mean into `mean` (length = state size).
pub fn mean_into(ensemble: ArrayView2<f64>, mean: &mut [f64]) {
    mean.fill(0.0);
    for member in ensemble.rows() {
        for (m, &x) in mean.iter_mut().zip(member.iter()) {
            *m += x;
        }
    }
    let inv = 1.0 / ensemble.nrows() as f64;
    mean.iter_mut().for_each(|m| *m *= inv);
}

/// Writes the mean into `mean` and `ensemble - mean` into `anomalies` (resized if needed).
pub fn split_into(ensemble: ArrayView2<f64>, mean: &mut Vec<f64>, anomalies: &mut Array2<f64>) {
    let (n_members, n_state) = ensemble.dim();
    mean.resize(n_state, 0.0);
    mean_into(ensemble, mean);
    if anomalies.dim() != (n_members, n_state) {
        *anomalies = Array2::zeros((n_members, n_state));
    }
    for (mut a, e) in anomalies.rows_mut().into_iter().zip(ensemble.rows()) {
        for ((a, &x), &m) in a.iter_mut().zip(e.iter()).zip(mean.iter()) {
            *a = x - m;
        }
    }
}

/// Root of the state-averaged unbiased ensemble variance (DAPPER's `rmv`); 0 for one member.
pub fn spread(ensemble: ArrayView2<f64>, mean: &[f64]) -> f64 {
    let n = ensemble.nrows();
    if n < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for member in ensemble.rows() {
        for (&x, &m) in member.iter().zip(mean) {
            total += (x - m) * (x - m);
        }
    }
    (total / ((n - 1) * mean.len()) as f64).sqrt()
}

/// Per-element unbiased ensemble standard deviation, written into `out`.
pub fn spread_per_element(ensemble: ArrayView2<f64>, mean: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    let n = ensemble.nrows();
    for member in ensemble.rows() {
        for ((o, &x), &m) in out.iter_mut().zip(member.iter()).zip(mean) {
            *o += (x - m) * (x - m);
        }
    }
    let denom = n.saturating_sub(1).max(1) as f64;
    out.iter_mut().for_each(|o| *o = (*o / denom).sqrt());
}

/// Root-mean-square difference of two vectors.
pub fn rmse(a: &[f64], b: &[f64]) -> f64 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (sum / a.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn statistics_of_a_small_ensemble() {
        let e = array![[1.0, 2.0], [3.0, 2.0], [5.0, 8.0]];
        let (mut mean, mut a) = (Vec::new(), Array2::zeros((0, 0)));
        split_into(e.view(), &mut mean, &mut a);
        assert_eq!(mean, vec![3.0, 4.0]);
        assert_eq!(a, array![[-2.0, -2.0], [0.0, -2.0], [2.0, 4.0]]);
        // Variances 4 and 12 (ddof = 1): spread = sqrt(8).
        assert!((spread(e.view(), &mean) - 8f64.sqrt()).abs() < 1e-14);
        let mut per = vec![0.0; 2];
        spread_per_element(e.view(), &mean, &mut per);
        assert!((per[0] - 2.0).abs() < 1e-14 && (per[1] - 12f64.sqrt()).abs() < 1e-14);
        assert!((rmse(&[0.0, 3.0], &[4.0, 0.0]) - 12.5f64.sqrt()).abs() < 1e-14);
    }
}
