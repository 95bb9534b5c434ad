//! The background check of operational systems (DART's `outlier_threshold`, the ECMWF first-guess
//! check): an observation whose innovation against the prior mean exceeds `k` times the standard
//! deviation it should have, `sqrt(var(H x_b) + R)`, is more likely a gross error (a stuck sensor,
//! a wrong position or unit) than information, and a linear update would spread it over the
//! whole localisation radius.

use ndarray::ArrayView2;

use super::Observations;

/// Indices of the observations whose innovation `|y - mean(H x_b)|` exceeds
/// `threshold * sqrt(var(H x_b) + R)`, given the observed prior ensemble `hx` (members x
/// observations). The ensemble variance uses ddof = 1 (zero for a single member).
pub fn outliers(hx: ArrayView2<f64>, obs: &Observations, threshold: f64) -> Vec<usize> {
    let n = hx.nrows() as f64;
    (0..hx.ncols())
        .filter(|&k| {
            let column = hx.column(k);
            let mean = column.sum() / n;
            let var = if n > 1.0 { column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
            (obs.values[k] - mean).abs() > threshold * (var + obs.variance[k]).sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_innovations_beyond_the_threshold_only() {
        // 2 members x 2 observations. A check without the ensemble variance (R alone) would flag
        // observation 0 at threshold 3, one without R never observation 1.
        let hx = ndarray::array![[0.0, 10.0], [2.0, 10.0]];
        // Observation 0: mean 1, var 2 (ddof 1), R 2: sd 2; y = 6.9 is 2.95 sd away.
        // Observation 1: mean 10, var 0, R 2: sd 1.414; y = 14.5 is 3.18 sd away.
        let obs = Observations { values: vec![6.9, 14.5], variance: vec![2.0, 2.0] };
        assert_eq!(outliers(hx.view(), &obs, 3.0), vec![1]);
        assert_eq!(outliers(hx.view(), &obs, 2.9), vec![0, 1]);
        assert!(outliers(hx.view(), &obs, 3.2).is_empty());
    }
}
