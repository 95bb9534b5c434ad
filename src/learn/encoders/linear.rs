//! The `linear` encoder: `g(x) = G x` without bias or normalisation, the setting in which
//! docs/science.md §5 gives the optimal encoders in closed form.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use ndarray::Array2;
use rand::rngs::StdRng;

/// A bias-free linear map to the code space.
#[derive(Module, Debug)]
pub struct LinearEncoder {
    /// `d_in x n_e`; the code of a row vector `x` is `x W` (so the `G` of docs/science.md §5.1 is `W^T`).
    pub weight: Param<Tensor<2>>,
}

impl LinearEncoder {
    /// A randomly initialised map from `d_in` features to `n_e`.
    pub fn new(d_in: usize, n_e: usize, rng: &mut StdRng, device: &Device) -> LinearEncoder {
        LinearEncoder { weight: super::uniform_param(d_in, n_e, rng, device) }
    }

    /// Codes of a batch (B x d_in) -> (B x n_e).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val())
    }

    /// The `G` of docs/science.md §5.1 (n_e x d_in), copied to the host.
    pub fn g_matrix(&self) -> Array2<f64> {
        let w = self.weight.val();
        let [d_in, n_e] = w.dims();
        let values = w.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        Array2::from_shape_fn((n_e, d_in), |(k, i)| f64::from(values[i * n_e + k]))
    }
}
