//! The ensemble analysis schemes behind one [`Analysis`] trait (DAPPER's `da_methods`): the
//! stochastic EnKF ([`enkf`]), the ETKF ([`etkf`]), the LETKF ([`letkf`]) and EnOI ([`enoi`]),
//! the ensemble-space algebra they share ([`ensemble_space`]), the hybrid ensemble-static
//! covariance of the ETKF and the LETKF ([`hybrid`]), inflation and relaxation applied
//! after them ([`inflation`]) and estimated from the innovations before them
//! ([`adaptive_inflation`]), and the statistics of an ensemble ([`ensemble`]) and of its
//! innovations ([`diagnostics`]). The [`crate::kalman::Filter`] that a `[baseline]` section
//! describes is built from these.

pub mod adaptive_inflation;
pub mod diagnostics;
pub mod enkf;
pub mod enoi;
pub mod ensemble;
pub mod ensemble_space;
pub mod etkf;
pub mod hybrid;
pub mod inflation;
pub mod letkf;
pub mod symmetric_eigen;

use ndarray::Array2;
use rand::rngs::StdRng;

use super::obs::Observations;
use super::obs::obs_operator::ObsOperator;
use crate::error::{Error, Result};

/// One ensemble analysis scheme.
pub trait Analysis {
    /// Updates `ensemble` (members x state, standard layout) with observations `obs` of operator
    /// `op`. Random draws (perturbed observations) come from `rng`.
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, rng: &mut StdRng) -> Result<()>;
}

/// Checks that `ensemble` and `op` agree on the state size and there are at least two members
/// (one for EnOI, which does not use the ensemble's own covariance).
fn check_shapes(ensemble: &Array2<f64>, op: &dyn ObsOperator, min_members: usize) -> Result<()> {
    if ensemble.ncols() != op.n_state() {
        return Err(Error::Other(format!("ensemble state size {} differs from the observation operator's {}", ensemble.ncols(), op.n_state())));
    }
    if ensemble.nrows() < min_members {
        return Err(Error::Other(format!("ensemble has {} member(s); this scheme needs at least {min_members}", ensemble.nrows())));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support;
