//! What the analysis schemes are given besides the ensemble: the [`Observations`] (values and
//! error variances) and the observation operator `H` that predicts them from a state
//! ([`obs_operator`]: the trait and the gridded and point operators; [`grid_drifters`]: drifter
//! positions through a gridded model's velocity; [`drifter_obs`]: the drifter forward model of the
//! Lagrangian flow, which runs [`crate::models::fourier_flow`]), and the background check
//! ([`screening`]).

pub mod drifter_obs;
pub mod grid_drifters;
pub mod obs_operator;
pub mod screening;

use crate::error::{Error, Result};

/// Observations for one analysis: values and their error variances (diagonal R).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Observed values `y`.
    pub values: Vec<f64>,
    /// Error variance of each observation.
    pub variance: Vec<f64>,
}

impl Observations {
    /// For each observation, the innovation `y - mean(H x)` and the observed ensemble variance
    /// `var(H x)` (ddof = 1; zero for one member), from the observed ensemble `hx` (members x
    /// observations): what the innovation statistics, the background check and adaptive inflation
    /// are made of.
    pub fn innovations(&self, hx: ndarray::ArrayView2<f64>) -> Vec<(f64, f64)> {
        let n = hx.nrows() as f64;
        hx.columns()
            .into_iter()
            .zip(&self.values)
            .map(|(column, &y)| {
                let mean = column.sum() / n;
                let var = if n > 1.0 { column.iter().map(|h| (h - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
                (y - mean, var)
            })
            .collect()
    }

    /// Keeps the observations whose `keep` entry is true.
    pub fn retain(&mut self, keep: &[bool]) {
        let mut k = keep.iter();
        self.values.retain(|_| *k.next().expect("one flag per observation"));
        let mut k = keep.iter();
        self.variance.retain(|_| *k.next().expect("one flag per observation"));
    }

    /// Checks there are `m` finite values with finite positive variances.
    pub fn check(&self, m: usize) -> Result<()> {
        if self.values.len() != m || self.variance.len() != m {
            return Err(Error::Other(format!(
                "{} observation values and {} variances for an operator with {m} observations",
                self.values.len(),
                self.variance.len()
            )));
        }
        if let Some(k) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Other(format!("observation {k} is not finite ({})", self.values[k])));
        }
        if let Some(k) = self.variance.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::Other(format!("observation {k} has error variance {}; expected a finite value > 0", self.variance[k])));
        }
        Ok(())
    }
}
