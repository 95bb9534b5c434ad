//! The `conv` encoder: a small CNN for gridded fields with a validity (land / observation) mask.
//!
//! Its input row is the flat vector of values followed by one validity flag per value (1 observed,
//! 0 missing; see `ModelMeta` in `learn::stage`, which appends them). A [`GridLayout`] says where
//! each value sits on a `channels × ny × nx` grid; the row is scattered onto that grid as value
//! channels (times their mask, so what a missing value was filled with cannot matter) and as many
//! mask channels, which are 0 at grid cells no value maps to (land left out of the state vector,
//! points outside the observed area). Then `conv_channels.len()` convolutions of kernel 3, stride 2
//! and padding 1, each followed by the activation, a mean over the grid, and an affine map to `n_e`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{Activation, EncoderConfig, seeded_linear, uniform};

/// Kernel size of every convolution.
const KERNEL: usize = 3;

/// Where the values of a flat input vector sit on a grid of `channels × ny × nx` cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridLayout {
    /// Number of fields (variables, levels).
    pub channels: usize,
    /// Rows of the grid.
    pub ny: usize,
    /// Columns of the grid.
    pub nx: usize,
    /// Per input value, its cell `channel * ny * nx + y * nx + x`.
    pub cell: Vec<usize>,
}

impl GridLayout {
    /// Inputs that are whole `ny × nx` fields one after the other, rows in row-major order.
    pub fn dense(d: usize, ny: usize, nx: usize) -> std::result::Result<GridLayout, String> {
        let cells = ny * nx;
        if cells == 0 || !d.is_multiple_of(cells) {
            return Err(format!("inputs of {d} values are not whole {ny} x {nx} fields"));
        }
        Ok(GridLayout { channels: d / cells, ny, nx, cell: (0..d).collect() })
    }

    /// Inputs whose value `e` is field `channel[e]` at row-major point `point[e]` of an `ny × nx`
    /// grid (points of a field that no value maps to are masked).
    pub fn scattered(channel: &[usize], point: &[i64], ny: usize, nx: usize) -> std::result::Result<GridLayout, String> {
        let cells = ny * nx;
        let channels = channel.iter().max().map_or(0, |&c| c + 1);
        let mut taken = vec![false; channels * cells];
        let mut cell = Vec::with_capacity(channel.len());
        for (e, (&c, &p)) in channel.iter().zip(point).enumerate() {
            if p < 0 || p as usize >= cells {
                return Err(format!("value {e} is at point {p}, outside a {ny} x {nx} grid"));
            }
            let q = c * cells + p as usize;
            if std::mem::replace(&mut taken[q], true) {
                return Err(format!("value {e} falls on the grid cell of an earlier value (field {c}, point {p})"));
            }
            cell.push(q);
        }
        Ok(GridLayout { channels, ny, nx, cell })
    }

    /// For each cell of the `2 channels × ny × nx` input of the network (value channels, then
    /// mask channels), the column of the row `[values, flags, 0]` that fills it.
    fn gather(&self) -> Vec<i64> {
        let d = self.cell.len();
        let cells = self.channels * self.ny * self.nx;
        let mut index = vec![2 * d as i64; 2 * cells];
        for (e, &q) in self.cell.iter().enumerate() {
            index[q] = e as i64;
            index[cells + q] = (d + e) as i64;
        }
        index
    }
}

/// A CNN over masked gridded fields.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    convs: Vec<Conv2d>,
    project: Linear,
    #[module(skip)]
    gather: Vec<i64>,
    #[module(skip)]
    shape: [usize; 3],
    #[module(skip)]
    activation: Activation,
}

impl ConvEncoder {
    /// An encoder of rows `[values, flags]` laid out by `grid`, with the widths of
    /// `config.conv_channels`.
    pub fn new(config: &EncoderConfig, grid: &GridLayout, n_e: usize, rng: &mut StdRng, device: &Device) -> ConvEncoder {
        let mut c_in = 2 * grid.channels;
        let mut convs = Vec::with_capacity(config.conv_channels.len());
        for &c_out in &config.conv_channels {
            let mut conv =
                Conv2dConfig::new([c_in, c_out], [KERNEL, KERNEL]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device);
            // Replace burn's globally seeded weights with ours (PyTorch's default bounds).
            let fan_in = c_in * KERNEL * KERNEL;
            conv.weight = uniform([c_out, c_in, KERNEL, KERNEL], fan_in, rng, device);
            conv.bias = Some(uniform([c_out], fan_in, rng, device));
            convs.push(conv);
            c_in = c_out;
        }
        ConvEncoder {
            convs,
            project: seeded_linear(c_in, n_e, true, rng, device),
            gather: grid.gather(),
            shape: [grid.channels, grid.ny, grid.nx],
            activation: config.activation,
        }
    }

    /// Codes of a batch (B x 2d: values, then validity flags) -> (B x n_e).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let [c, ny, nx] = self.shape;
        let device = x.device();
        let padded = Tensor::cat(vec![x, Tensor::zeros([b, 1], &device)], 1);
        let index = Tensor::<1, Int>::from_data(TensorData::new(self.gather.clone(), [self.gather.len()]), &device);
        let grid = padded.select(1, index).reshape([b, 2 * c, ny, nx]);
        let mask = grid.clone().slice([0..b, c..2 * c, 0..ny, 0..nx]);
        let values = grid.slice([0..b, 0..c, 0..ny, 0..nx]) * mask.clone();
        let mut h = Tensor::cat(vec![values, mask], 1);
        for conv in &self.convs {
            h = self.activation.apply(conv.forward(h));
        }
        let channels = h.dims()[1];
        self.project.forward(h.mean_dims(&[2, 3]).reshape([b, channels]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Encoder, EncoderKind, InputSpec};
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Two fields on a 5 x 6 grid: all of field 0 but its corner (land), and every other point of
    /// field 1.
    fn layout() -> GridLayout {
        let mut channel = Vec::new();
        let mut point = Vec::new();
        for p in 1..30 {
            channel.push(0);
            point.push(p);
        }
        for p in (0..30).step_by(2) {
            channel.push(1);
            point.push(p);
        }
        GridLayout::scattered(&channel, &point, 5, 6).unwrap()
    }

    fn encoder(grid: &GridLayout, seed: u64) -> Encoder {
        let config = EncoderConfig { kind: EncoderKind::Conv, conv_channels: vec![4, 8], ..EncoderConfig::default() };
        let input = InputSpec { width: 2 * grid.cell.len(), eof: None, grid: Some(grid.clone()) };
        Encoder::build(&config, "train.encoder_v", &input, 6, &mut StdRng::seed_from_u64(seed), &Device::flex()).unwrap()
    }

    fn codes(enc: &Encoder, rows: &[Vec<f32>]) -> Vec<f32> {
        let d = rows[0].len();
        let flat: Vec<f32> = rows.concat();
        enc.forward(Tensor::from_data(TensorData::new(flat, [rows.len(), d]), &Device::flex())).into_data().try_into_vec_as::<f32>().unwrap()
    }

    /// Random rows `[values, flags]` with about a third of the values missing.
    fn rows(d: usize, n: usize, rng: &mut StdRng) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let flags: Vec<f32> = (0..d).map(|_| f32::from(u8::from(rng.random_bool(0.7)))).collect();
                let values: Vec<f32> = flags.iter().map(|&f| f * rng.random_range(-2.0..2.0)).collect();
                [values, flags].concat()
            })
            .collect()
    }

    #[test]
    fn conv_codes_have_the_configured_shape_and_seeded_weights() {
        let grid = layout();
        assert_eq!((grid.channels, grid.cell.len()), (2, 44));
        let x = rows(44, 3, &mut StdRng::seed_from_u64(2));
        let a = codes(&encoder(&grid, 1), &x);
        assert_eq!(a.len(), 3 * 6);
        assert!(a.iter().all(|c| c.is_finite()));
        assert_eq!(a, codes(&encoder(&grid, 1), &x));
        assert_ne!(a, codes(&encoder(&grid, 2), &x));
    }

    /// The code ignores what stands at missing points (any garbage gives the same code), and does
    /// depend on every observed one.
    #[test]
    fn conv_codes_ignore_masked_values_only() {
        let grid = layout();
        let enc = encoder(&grid, 3);
        let mut rng = StdRng::seed_from_u64(4);
        let d = grid.cell.len();
        for row in rows(d, 20, &mut rng) {
            let base = codes(&enc, std::slice::from_ref(&row));
            let mut garbage = row.clone();
            for e in (0..d).filter(|&e| row[d + e] == 0.0) {
                garbage[e] = rng.random_range(-1e3..1e3);
            }
            assert_ne!(garbage, row);
            assert_eq!(codes(&enc, &[garbage]), base, "a masked value changed the code");
            let e = (0..d).find(|&e| row[d + e] == 1.0).unwrap();
            let mut moved = row.clone();
            moved[e] += 1.0;
            let changed = codes(&enc, &[moved]);
            assert!(changed.iter().zip(&base).any(|(a, b)| (a - b).abs() > 1e-6), "an observed value must matter");
        }
    }

    #[test]
    fn grid_layouts_refuse_what_does_not_fit() {
        assert_eq!(GridLayout::dense(24, 3, 4).unwrap(), GridLayout { channels: 2, ny: 3, nx: 4, cell: (0..24).collect() });
        assert!(GridLayout::dense(25, 3, 4).unwrap_err().contains("not whole 3 x 4 fields"));
        assert!(GridLayout::scattered(&[0, 0], &[1, 12], 3, 4).unwrap_err().contains("outside a 3 x 4 grid"));
        assert!(GridLayout::scattered(&[0, 1, 1], &[1, 1, 1], 3, 4).unwrap_err().contains("earlier value"));
        // The network's input: value channels, then masks; cell 0 of field 0 (land) reads the zero column.
        let g = layout().gather();
        assert_eq!(g.len(), 2 * 2 * 30);
        assert_eq!((g[0], g[1], g[60], g[61]), (88, 0, 88, 44));
    }
}
