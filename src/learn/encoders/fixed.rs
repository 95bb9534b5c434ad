//! The `fixed` encoder: the identity, or a fixed selection of input coefficients (the paper keeps
//! the 98 streamfunction coefficients as the state code). It has no parameters.

use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};

/// Selects input coefficients; nothing to train.
#[derive(Module, Debug)]
pub struct FixedEncoder {
    /// 0-based coefficients kept, in order; empty keeps every input.
    #[module(skip)]
    pub indices: Vec<usize>,
}

impl FixedEncoder {
    /// The selection `indices` (empty: identity).
    pub fn new(indices: &[usize]) -> FixedEncoder {
        FixedEncoder { indices: indices.to_vec() }
    }

    /// The selected columns of a batch (B x d_in).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        if self.indices.is_empty() {
            return x;
        }
        let idx: Vec<i64> = self.indices.iter().map(|&i| i as i64).collect();
        let n = idx.len();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &x.device());
        x.select(1, idx)
    }
}
