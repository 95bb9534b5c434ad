//! The `eof` encoder: the projection of a (normalised) state on the leading EOFs of the training
//! states, `(x - mean) Eᵀ`, optionally followed by a learned affine map to the code space.
//!
//! The basis comes from ingest (`dataset.nc`, variables `eof` and `eof_mean`). It is held in
//! frozen parameters: the optimiser never sees a gradient for them, yet they are written to the
//! model record, so a trained model reloads without the data set.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;

use super::seeded_linear;

/// An EOF basis in the units of the encoder's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct EofProjection {
    /// Orthonormal modes, `modes × d_in`.
    pub modes: Array2<f64>,
    /// The mean the modes were computed about (`d_in`).
    pub mean: Array1<f64>,
}

impl EofProjection {
    /// A zero basis of the right shape: the skeleton a saved model's record is loaded into.
    pub fn placeholder(modes: usize, d_in: usize) -> EofProjection {
        EofProjection { modes: Array2::zeros((modes, d_in)), mean: Array1::zeros(d_in) }
    }
}

/// Projection on fixed EOFs, then an optional learned map.
#[derive(Module, Debug)]
pub struct EofEncoder {
    /// `d_in × modes`: the modes as columns (frozen).
    pub basis: Param<Tensor<2>>,
    /// `mean Eᵀ` (`modes`), subtracted after the projection (frozen).
    pub offset: Param<Tensor<1>>,
    /// Learned map from the modes to `n_e`, if configured.
    pub linear: Option<Linear>,
}

impl EofEncoder {
    /// The projection on `eof`, followed by a seeded affine map to `n_e` when `linear`.
    pub fn new(eof: &EofProjection, linear: bool, n_e: usize, rng: &mut StdRng, device: &Device) -> EofEncoder {
        let (k, d) = eof.modes.dim();
        let basis: Vec<f32> = eof.modes.t().iter().map(|&v| v as f32).collect();
        let offset: Vec<f32> = eof.modes.dot(&eof.mean).iter().map(|&v| v as f32).collect();
        EofEncoder {
            basis: frozen(TensorData::new(basis, [d, k]), device),
            offset: frozen(TensorData::new(offset, [k]), device),
            linear: linear.then(|| seeded_linear(k, n_e, true, rng, device)),
        }
    }

    /// Codes of a batch (B x d_in) -> (B x n_e).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let projected = x.matmul(self.basis.val()) - self.offset.val().unsqueeze::<2>();
        match &self.linear {
            Some(linear) => linear.forward(projected),
            None => projected,
        }
    }
}

/// A parameter the optimiser leaves alone (no gradient is ever recorded for it) but the model
/// record keeps.
fn frozen<const D: usize>(data: TensorData, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(data, device)).set_require_grad(false)
}
