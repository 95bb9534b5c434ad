//! The `trajectory` encoder: each time step of the trajectories (the positions of every drifter at
//! that time) is lifted to a token, a sinusoidal position code is added, residual pre-norm
//! self-attention blocks mix the tokens, and the last token (as the paper) or the mean over tokens
//! is projected to the code space.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;

use super::{Activation, EncoderConfig, Pooling, seeded_linear};

/// Width of the feed-forward layer of each block, in multiples of `d_model` (2 rather than the
/// usual 4: the tokens are low-dimensional positions, and CPU training time matters).
const FF_FACTOR: usize = 2;

/// One pre-norm residual block: `x + attn(ln(x))`, then `x + ff(ln(x))`.
#[derive(Module, Debug)]
pub struct Block {
    norm_attn: LayerNorm,
    attn: MultiHeadAttention,
    norm_ff: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
}

/// A transformer over trajectory points.
#[derive(Module, Debug)]
pub struct TrajectoryEncoder {
    lift: Linear,
    blocks: Vec<Block>,
    norm_out: LayerNorm,
    project: Linear,
    #[module(skip)]
    point_dim: usize,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pooling: Pooling,
}

impl TrajectoryEncoder {
    /// An encoder for inputs of `d_in = T * point_dim` features (T time steps, point-major).
    pub fn new(config: &EncoderConfig, d_in: usize, n_e: usize, rng: &mut StdRng, device: &Device) -> TrajectoryEncoder {
        let d = config.d_model;
        let blocks = (0..config.blocks)
            .map(|_| {
                let mut attn = MultiHeadAttentionConfig::new(d, config.heads).with_dropout(0.0).init(device);
                // Replace burn's globally seeded weights with ours.
                attn.query = seeded_linear(d, d, true, rng, device);
                attn.key = seeded_linear(d, d, true, rng, device);
                attn.value = seeded_linear(d, d, true, rng, device);
                attn.output = seeded_linear(d, d, true, rng, device);
                Block {
                    norm_attn: LayerNormConfig::new(d).init(device),
                    attn,
                    norm_ff: LayerNormConfig::new(d).init(device),
                    ff_in: seeded_linear(d, FF_FACTOR * d, true, rng, device),
                    ff_out: seeded_linear(FF_FACTOR * d, d, true, rng, device),
                }
            })
            .collect();
        debug_assert_eq!(d_in % config.point_dim, 0);
        TrajectoryEncoder {
            lift: seeded_linear(config.point_dim, d, true, rng, device),
            blocks,
            norm_out: LayerNormConfig::new(d).init(device),
            project: seeded_linear(d, n_e, true, rng, device),
            point_dim: config.point_dim,
            activation: config.activation,
            pooling: config.pooling,
        }
    }

    /// Codes of a batch (B x T*point_dim) -> (B x n_e).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, features] = x.dims();
        let steps = features / self.point_dim;
        let mut tokens = self.lift.forward(x.reshape([b, steps, self.point_dim]));
        let d = tokens.dims()[2];
        let positions = position_codes(steps, d, &tokens.device()).unsqueeze::<3>();
        tokens = tokens + positions;
        for block in &self.blocks {
            let h = block.norm_attn.forward(tokens.clone());
            tokens = tokens + block.attn.forward(MhaInput::self_attn(h)).context;
            let h = block.norm_ff.forward(tokens.clone());
            tokens = tokens + block.ff_out.forward(self.activation.apply(block.ff_in.forward(h)));
        }
        let pooled = match self.pooling {
            Pooling::Last => tokens.slice([0..b, steps - 1..steps, 0..d]).reshape([b, d]),
            Pooling::Mean => tokens.mean_dim(1).reshape([b, d]),
        };
        self.project.forward(self.norm_out.forward(pooled))
    }
}

/// The sinusoidal position codes of "Attention is all you need" (steps x d).
fn position_codes(steps: usize, d: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; steps * d];
    for t in 0..steps {
        for k in 0..d {
            let rate = 10_000f64.powf(-((k / 2 * 2) as f64) / d as f64);
            let angle = t as f64 * rate;
            values[t * d + k] = if k % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    Tensor::from_data(TensorData::new(values, [steps, d]), device)
}
