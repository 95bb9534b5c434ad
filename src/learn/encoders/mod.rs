//! Encoders: burn modules that map one modality (a batch of flat input vectors) to codes in
//! `R^{n_e}`, chosen per modality in the configuration ([`EncoderConfig`]).
//!
//! - `fixed`: the identity or a selection of input coefficients (the paper's state encoder);
//! - `linear`: `g(x) = G x`, unnormalised, without bias (the Gaussian theory of docs/science.md §5);
//! - `mlp`: hidden layers of configurable widths, activation and optional layer norm;
//! - `trajectory`: a transformer over the time steps of drifter trajectories;
//! - `eof`: the projection on the leading EOFs of the training states, optionally followed by a
//!   learned affine map;
//! - `conv`: a small CNN over gridded fields with a validity mask.
//!
//! What an encoder needs to know about its inputs beyond its configuration (their width, the EOF
//! basis, the grid) is an [`InputSpec`].
//!
//! Weights are drawn from the seeded generator passed to [`Encoder::build`], never from burn's
//! global one, so the same seed gives the same model on every backend.

mod conv;
mod eof;
mod fixed;
mod linear;
mod mlp;
mod trajectory;

pub use conv::{ConvEncoder, GridLayout};
pub use eof::{EofEncoder, EofProjection};
pub use fixed::FixedEncoder;
pub use linear::LinearEncoder;
pub use mlp::MlpEncoder;
pub use trajectory::TrajectoryEncoder;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::config::Problems;
use crate::error::{Error, Result};

/// Which encoder architecture a modality uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Identity or selected input coefficients.
    Fixed,
    /// Linear map without bias.
    Linear,
    /// Multi-layer perceptron.
    #[default]
    Mlp,
    /// Transformer over trajectory points.
    Trajectory,
    /// Projection on the leading EOFs of the training states (states only).
    Eof,
    /// CNN over gridded fields with a validity mask.
    Conv,
}

/// Nonlinearity of the `mlp` and `trajectory` encoders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// Gaussian error linear unit.
    #[default]
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// x sigmoid(x).
    Silu,
}

impl Activation {
    /// Applies the nonlinearity element-wise.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        use burn::tensor::activation as act;
        match self {
            Activation::Relu => act::relu(x),
            Activation::Gelu => act::gelu(x),
            Activation::Tanh => act::tanh(x),
            Activation::Silu => act::silu(x),
        }
    }
}

/// How the `trajectory` encoder reduces its token sequence to one vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The last time step (as the paper).
    #[default]
    Last,
    /// The mean over time steps.
    Mean,
}

/// One modality's encoder, as configured in `[train.encoder_u]` / `[train.encoder_v]`.
///
/// A flat table rather than one table per kind, so that configuration layers can switch `kind`
/// without leaving another kind's keys behind; keys a kind does not use are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Architecture.
    pub kind: EncoderKind,
    /// `fixed`: 0-based input coefficients to keep, in order; empty keeps all of them.
    pub indices: Vec<usize>,
    /// `mlp`: widths of the hidden layers (empty: one affine layer).
    pub widths: Vec<usize>,
    /// `mlp`, `trajectory`: nonlinearity.
    pub activation: Activation,
    /// `mlp`: layer norm after each hidden layer, before the activation.
    pub layer_norm: bool,
    /// `trajectory`: features per time step (2 per drifter: x and y of every drifter).
    pub point_dim: usize,
    /// `trajectory`: token width.
    pub d_model: usize,
    /// `trajectory`: attention heads (must divide `d_model`).
    pub heads: usize,
    /// `trajectory`: residual self-attention blocks.
    pub blocks: usize,
    /// `trajectory`: sequence pooling.
    pub pooling: Pooling,
    /// `eof`: leading EOFs kept (0: every mode in the data set).
    pub eof_modes: usize,
    /// `eof`: a learned affine map from the modes to `n_e` (without it, the modes are the code).
    pub eof_linear: bool,
    /// `conv`: output channels of each convolution (kernel 3, stride 2).
    pub conv_channels: Vec<usize>,
    /// `conv`: `[ny, nx]` of the grid; empty: from the data set's variable metadata (states).
    pub grid: Vec<usize>,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            kind: EncoderKind::Mlp,
            indices: Vec::new(),
            widths: vec![128, 128],
            activation: Activation::Gelu,
            layer_norm: true,
            point_dim: 2,
            d_model: 64,
            heads: 4,
            blocks: 4,
            pooling: Pooling::Last,
            eof_modes: 0,
            eof_linear: true,
            conv_channels: vec![16, 32],
            grid: Vec::new(),
        }
    }
}

impl EncoderConfig {
    /// Range checks that do not depend on the data; `section` is e.g. `train.encoder_u`.
    pub fn validate(&self, section: &str, p: &mut Problems) {
        match self.kind {
            EncoderKind::Mlp => {
                p.check(self.widths.iter().all(|&w| w > 0), format!("{section}.widths"), "every width must be at least 1");
            }
            EncoderKind::Trajectory => {
                p.positive(&format!("{section}.point_dim"), self.point_dim);
                p.positive(&format!("{section}.d_model"), self.d_model);
                p.positive(&format!("{section}.heads"), self.heads);
                p.range(&format!("{section}.blocks"), self.blocks, 0, 64);
                p.check(
                    self.heads > 0 && self.d_model.is_multiple_of(self.heads),
                    format!("{section}.heads"),
                    format!("{} heads do not divide d_model = {}", self.heads, self.d_model),
                );
            }
            EncoderKind::Conv => {
                p.check(
                    !self.conv_channels.is_empty() && self.conv_channels.iter().all(|&c| c > 0),
                    format!("{section}.conv_channels"),
                    "expected at least one convolution, each of at least 1 channel",
                );
                p.check(
                    self.grid.is_empty() || (self.grid.len() == 2 && self.grid.iter().all(|&n| n > 0)),
                    format!("{section}.grid"),
                    format!("{:?} is not [ny, nx] of positive sizes (or [] for the data set's grid)", self.grid),
                );
            }
            EncoderKind::Fixed | EncoderKind::Linear | EncoderKind::Eof => {}
        }
    }
}

/// A configured encoder of one modality.
// A handful exist per model, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    /// See [`FixedEncoder`].
    Fixed(FixedEncoder),
    /// See [`LinearEncoder`].
    Linear(LinearEncoder),
    /// See [`MlpEncoder`].
    Mlp(MlpEncoder),
    /// See [`TrajectoryEncoder`].
    Trajectory(TrajectoryEncoder),
    /// See [`EofEncoder`].
    Eof(EofEncoder),
    /// See [`ConvEncoder`].
    Conv(ConvEncoder),
}

/// What an encoder needs to know about its inputs beyond its configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputSpec {
    /// Features per input row (for `conv`: the values, then one validity flag per value).
    pub width: usize,
    /// `eof`: the EOF basis, in the units of the inputs.
    pub eof: Option<EofProjection>,
    /// `conv`: where the values sit on the grid (when absent, `grid = [ny, nx]` of the
    /// configuration lays the values out as whole fields).
    pub grid: Option<GridLayout>,
}

impl InputSpec {
    /// Rows of `width` features and nothing more to know.
    pub fn plain(width: usize) -> InputSpec {
        InputSpec { width, ..InputSpec::default() }
    }
}

impl Encoder {
    /// Builds the encoder of `config` for inputs of `d_in` features and codes of `n_e`; `section`
    /// names the configuration table in errors (inputs that do not fit the configuration).
    pub fn build(config: &EncoderConfig, section: &str, input: &InputSpec, n_e: usize, rng: &mut StdRng, device: &Device) -> Result<Encoder> {
        let bad = |key: &str, message: String| Error::config("configuration", format!("{section}.{key}"), message);
        let d_in = input.width;
        Ok(match config.kind {
            EncoderKind::Fixed => {
                let out = if config.indices.is_empty() { d_in } else { config.indices.len() };
                if let Some(&i) = config.indices.iter().find(|&&i| i >= d_in) {
                    return Err(bad("indices", format!("index {i} is out of range for inputs of {d_in} features")));
                }
                if out != n_e {
                    return Err(bad("indices", format!("a fixed encoder yields {out} features but train.n_e = {n_e}")));
                }
                Encoder::Fixed(FixedEncoder::new(&config.indices))
            }
            EncoderKind::Linear => Encoder::Linear(LinearEncoder::new(d_in, n_e, rng, device)),
            EncoderKind::Mlp => Encoder::Mlp(MlpEncoder::new(config, d_in, n_e, rng, device)),
            EncoderKind::Trajectory => {
                if config.point_dim == 0 || !d_in.is_multiple_of(config.point_dim) {
                    return Err(bad("point_dim", format!("inputs of {d_in} features are not whole points of {} features", config.point_dim)));
                }
                Encoder::Trajectory(TrajectoryEncoder::new(config, d_in, n_e, rng, device))
            }
            EncoderKind::Eof => {
                let Some(eof) = &input.eof else {
                    return Err(bad(
                        "kind",
                        "the eof encoder needs the EOFs of the training states: train from a data set ingested with ingest.eof.modes > 0".into(),
                    ));
                };
                let stored = eof.modes.nrows();
                let modes = if config.eof_modes == 0 { stored } else { config.eof_modes };
                if modes > stored {
                    return Err(bad("eof_modes", format!("{modes} modes asked for but the data set has {stored} (raise ingest.eof.modes)")));
                }
                if eof.modes.ncols() != d_in {
                    return Err(bad("kind", format!("the EOFs have {} elements but the states {d_in}", eof.modes.ncols())));
                }
                if !config.eof_linear && modes != n_e {
                    return Err(bad("eof_modes", format!("without eof_linear the {modes} EOF coefficients are the code, but train.n_e = {n_e}")));
                }
                let lead = EofProjection { modes: eof.modes.slice(ndarray::s![..modes, ..]).to_owned(), mean: eof.mean.clone() };
                Encoder::Eof(EofEncoder::new(&lead, config.eof_linear, n_e, rng, device))
            }
            EncoderKind::Conv => {
                let grid = match (&input.grid, config.grid.as_slice()) {
                    (Some(grid), _) => grid.clone(),
                    (None, &[ny, nx]) => GridLayout::dense(d_in / 2, ny, nx).map_err(|m| bad("grid", m))?,
                    (None, _) => return Err(bad("grid", "no grid: set grid = [ny, nx]".into())),
                };
                if d_in != 2 * grid.cell.len() {
                    return Err(bad("grid", format!("inputs of {d_in} features are not {} values and as many validity flags", grid.cell.len())));
                }
                Encoder::Conv(ConvEncoder::new(config, &grid, n_e, rng, device))
            }
        })
    }

    /// Codes (B x n_e) of a batch of inputs (B x d_in).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Encoder::Fixed(e) => e.forward(x),
            Encoder::Linear(e) => e.forward(x),
            Encoder::Mlp(e) => e.forward(x),
            Encoder::Trajectory(e) => e.forward(x),
            Encoder::Eof(e) => e.forward(x),
            Encoder::Conv(e) => e.forward(x),
        }
    }
}

/// A `d_in x d_out` weight matrix drawn from U(-1/sqrt(d_in), 1/sqrt(d_in)) (PyTorch's default
/// for linear layers), as a trainable parameter.
fn uniform_param(d_in: usize, d_out: usize, rng: &mut StdRng, device: &Device) -> Param<Tensor<2>> {
    uniform([d_in, d_out], d_in, rng, device)
}

/// A trainable tensor of `shape` drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
fn uniform<const D: usize>(shape: [usize; D], fan_in: usize, rng: &mut StdRng, device: &Device) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.random_range(-bound..=bound)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A burn `Linear` layer (`y = x W + b`) with seeded PyTorch-style initialisation.
fn seeded_linear(d_in: usize, d_out: usize, bias: bool, rng: &mut StdRng, device: &Device) -> Linear {
    let weight = uniform_param(d_in, d_out, rng, device);
    let bias = bias.then(|| uniform([d_out], d_in, rng, device));
    Linear { weight, bias }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn host(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn build(config: &EncoderConfig, d_in: usize, n_e: usize, seed: u64) -> Result<Encoder> {
        Encoder::build(config, "train.encoder_u", &InputSpec::plain(d_in), n_e, &mut StdRng::seed_from_u64(seed), &Device::flex())
    }

    #[test]
    fn fixed_encoder_selects_coefficients() {
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], &Device::flex());
        let config = EncoderConfig { kind: EncoderKind::Fixed, indices: vec![3, 0], ..EncoderConfig::default() };
        assert_eq!(host(build(&config, 4, 2, 0).unwrap().forward(x.clone())), vec![4.0, 1.0, 8.0, 5.0]);
        let identity = EncoderConfig { kind: EncoderKind::Fixed, ..EncoderConfig::default() };
        assert_eq!(host(build(&identity, 4, 4, 0).unwrap().forward(x)), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let out_of_range = EncoderConfig { kind: EncoderKind::Fixed, indices: vec![4], ..EncoderConfig::default() };
        assert!(build(&out_of_range, 4, 1, 0).unwrap_err().to_string().contains("index 4 is out of range"));
    }

    #[test]
    fn linear_encoder_is_x_times_w_without_bias() {
        let config = EncoderConfig { kind: EncoderKind::Linear, ..EncoderConfig::default() };
        let Encoder::Linear(enc) = build(&config, 3, 2, 4).unwrap() else { panic!("linear expected") };
        let g = enc.g_matrix();
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], &Device::flex());
        let codes = host(enc.forward(x));
        for k in 0..2 {
            let expect = g[[k, 0]] - 2.0 * g[[k, 1]] + 0.5 * g[[k, 2]];
            assert!((f64::from(codes[k]) - expect).abs() < 1e-5);
        }
        // No bias: the zero input has the zero code.
        assert_eq!(&codes[2..], &[0.0, 0.0]);
        // Initialisation bound 1/sqrt(d_in).
        assert!(g.iter().all(|w| w.abs() <= 1.0 / 3f64.sqrt() + 1e-6));
    }

    #[test]
    fn encoders_have_the_configured_shapes_and_seeded_weights() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new((0..5 * 24).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<f32>>(), [5, 24]), &device);
        let configs = [
            EncoderConfig { kind: EncoderKind::Mlp, widths: vec![16, 8], layer_norm: true, ..EncoderConfig::default() },
            EncoderConfig { kind: EncoderKind::Mlp, widths: vec![], activation: Activation::Tanh, layer_norm: false, ..EncoderConfig::default() },
            EncoderConfig { kind: EncoderKind::Trajectory, point_dim: 2, d_model: 8, heads: 2, blocks: 2, ..EncoderConfig::default() },
            EncoderConfig { kind: EncoderKind::Trajectory, point_dim: 4, d_model: 8, heads: 4, blocks: 1, pooling: Pooling::Mean, ..EncoderConfig::default() },
        ];
        for config in &configs {
            let a = host(build(config, 24, 6, 1).unwrap().forward(x.clone()));
            assert_eq!(a.len(), 5 * 6, "{config:?}");
            assert!(a.iter().all(|c| c.is_finite()));
            assert_eq!(a, host(build(config, 24, 6, 1).unwrap().forward(x.clone())), "same seed, same weights");
            assert_ne!(a, host(build(config, 24, 6, 2).unwrap().forward(x.clone())), "another seed, other weights");
        }
        let odd = EncoderConfig { kind: EncoderKind::Trajectory, point_dim: 5, ..EncoderConfig::default() };
        assert!(build(&odd, 24, 6, 1).unwrap_err().to_string().contains("not whole points"));
    }

    /// With last-token pooling the code still depends on the first time step (attention mixes the
    /// tokens), and swapping two steps changes it (the position codes break the symmetry).
    #[test]
    fn trajectory_encoder_sees_order_and_every_step() {
        let device = Device::flex();
        let config = EncoderConfig { kind: EncoderKind::Trajectory, point_dim: 2, d_model: 8, heads: 2, blocks: 1, ..EncoderConfig::default() };
        let enc = build(&config, 6, 4, 3).unwrap();
        let code = |values: [f32; 6]| host(enc.forward(Tensor::<2>::from_data(TensorData::new(values.to_vec(), [1, 6]), &device)));
        let base = code([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        let first_moved = code([0.9, 0.2, 0.3, 0.4, 0.5, 0.6]);
        let swapped = code([0.3, 0.4, 0.1, 0.2, 0.5, 0.6]);
        let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-4);
        assert!(differs(&base, &first_moved), "the first step must reach the last token");
        assert!(differs(&base, &swapped), "order must matter");
    }
}
