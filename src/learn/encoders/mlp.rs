//! The `mlp` encoder: hidden affine layers, each followed by an optional layer norm and the
//! activation, then an affine map to the code space.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::{Activation, EncoderConfig};

/// A multi-layer perceptron.
#[derive(Module, Debug)]
pub struct MlpEncoder {
    /// Hidden layers, then the output layer.
    pub layers: Vec<Linear>,
    /// One layer norm per hidden layer (empty when disabled).
    pub norms: Vec<LayerNorm>,
    /// Nonlinearity between layers.
    #[module(skip)]
    pub activation: Activation,
}

impl MlpEncoder {
    /// An MLP with the hidden widths, activation and layer norm of `config`.
    pub fn new(config: &EncoderConfig, d_in: usize, n_e: usize, rng: &mut StdRng, device: &Device) -> MlpEncoder {
        let mut dims = vec![d_in];
        dims.extend(&config.widths);
        dims.push(n_e);
        let layers = dims.windows(2).map(|w| super::seeded_linear(w[0], w[1], true, rng, device)).collect();
        let norms = if config.layer_norm { config.widths.iter().map(|&w| LayerNormConfig::new(w).init(device)).collect() } else { Vec::new() };
        MlpEncoder { layers, norms, activation: config.activation }
    }

    /// Codes of a batch (B x d_in) -> (B x n_e).
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let hidden = self.layers.len() - 1;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if k < hidden {
                if let Some(norm) = self.norms.get(k) {
                    x = norm.forward(x);
                }
                x = self.activation.apply(x);
            }
        }
        x
    }
}
