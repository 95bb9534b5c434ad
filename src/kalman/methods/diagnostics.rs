//! Innovation statistics: how far the observations are from the forecast, against how far the
//! ensemble says they should be. For a well-tuned filter the mean squared innovation equals the
//! observed ensemble variance plus the observation-error variance (Desroziers et al. 2005), so
//! `consistency = rms / expected_rms` near 1; well below 1 means the ensemble is over-dispersive,
//! well above means under-dispersive (inflation too small) or a biased model.

use ndarray::ArrayView2;
use serde::Serialize;

use crate::kalman::obs::Observations;

/// Innovation statistics of one analysis (or averaged over cycles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct InnovationStats {
    /// Number of observations.
    pub count: usize,
    /// Mean of `y - mean H(x)`.
    pub mean: f64,
    /// Root mean square of `y - mean H(x)`.
    pub rms: f64,
    /// Root mean of (observed ensemble variance + observation-error variance).
    pub expected_rms: f64,
}

impl InnovationStats {
    /// Statistics of `obs` against the observed ensemble `hx` (members x observations).
    pub fn of(hx: ArrayView2<f64>, obs: &Observations) -> InnovationStats {
        let (n, m) = hx.dim();
        if m == 0 || n == 0 {
            return InnovationStats::default();
        }
        let (mut sum, mut sum_sq, mut expected) = (0.0, 0.0, 0.0);
        for ((d, var), r) in obs.innovations(hx).into_iter().zip(&obs.variance) {
            sum += d;
            sum_sq += d * d;
            expected += var + r;
        }
        let m_f = m as f64;
        InnovationStats { count: m, mean: sum / m_f, rms: (sum_sq / m_f).sqrt(), expected_rms: (expected / m_f).sqrt() }
    }

    /// `rms / expected_rms`: about 1 when the ensemble spread is consistent with the errors.
    pub fn consistency(&self) -> f64 {
        self.rms / self.expected_rms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn statistics_by_hand() {
        // Two observations: observed means (1, 4), variances (2, 8) with ddof 1.
        let hx = array![[0.0, 2.0], [2.0, 6.0]];
        let obs = Observations { values: vec![2.0, 1.0], variance: vec![1.0, 2.0] };
        let s = InnovationStats::of(hx.view(), &obs);
        assert_eq!(s.count, 2);
        assert!((s.mean - (-1.0)).abs() < 1e-14); // (1 + -3) / 2
        assert!((s.rms - 5f64.sqrt()).abs() < 1e-14); // (1 + 9) / 2
        assert!((s.expected_rms - 6.5f64.sqrt()).abs() < 1e-14); // ((2 + 1) + (8 + 2)) / 2
        assert!((s.consistency() - (5.0f64 / 6.5).sqrt()).abs() < 1e-14);
    }
}
