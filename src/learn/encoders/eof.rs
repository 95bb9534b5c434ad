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

#[cfg(test)]
mod tests {
    use super::super::{Encoder, EncoderConfig, EncoderKind, InputSpec};
    use super::*;
    use burn::optim::GradientsParams;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// Normalised-looking states and their leading EOFs, computed by ingest's own routine.
    fn states_and_eofs(modes: usize) -> (Array2<f64>, EofProjection) {
        let mut rng = StdRng::seed_from_u64(11);
        let x = Array2::from_shape_fn((60, 7), |(i, j)| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z * (1.0 + j as f64) + 0.3 * (i as f64 * 0.1).sin()
        });
        let e = crate::ingest::stats::eof(x.clone(), modes).unwrap();
        (x, EofProjection { modes: e.modes, mean: e.mean })
    }

    fn build(config: &EncoderConfig, eof: &EofProjection, n_e: usize, device: &Device) -> crate::error::Result<Encoder> {
        let input = InputSpec { width: eof.modes.ncols(), eof: Some(eof.clone()), grid: None };
        Encoder::build(config, "train.encoder_u", &input, n_e, &mut StdRng::seed_from_u64(1), device)
    }

    fn host(t: Tensor<2>) -> Array2<f64> {
        let [r, c] = t.dims();
        Array2::from_shape_vec((r, c), t.into_data().try_into_vec_as::<f32>().unwrap()).unwrap().mapv(f64::from)
    }

    fn tensor(x: &Array2<f64>, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(x.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [x.nrows(), x.ncols()]), device)
    }

    /// Without the learned map the code is `(x - mean) Eᵀ`, the projection computed here with
    /// ndarray in f64; eof_modes keeps the leading modes.
    #[test]
    fn eof_codes_are_the_projection_on_the_leading_modes() {
        let device = Device::flex();
        let (x, eof) = states_and_eofs(4);
        assert_eq!(eof.modes.nrows(), 4);
        for keep in [4, 2] {
            let config = EncoderConfig { kind: EncoderKind::Eof, eof_modes: if keep == 4 { 0 } else { keep }, eof_linear: false, ..EncoderConfig::default() };
            let codes = host(build(&config, &eof, keep, &device).unwrap().forward(tensor(&x, &device)));
            let want = (&x - &eof.mean).dot(&eof.modes.slice(ndarray::s![..keep, ..]).t());
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let err = (&codes - &want).iter().fold(0.0f64, |a, v| a.max(v.abs()));
            // f32 inputs and a 7-term f32 sum: a few ulps of the largest code.
            assert!(err < 1e-5 * scale, "{keep} modes: max error {err} of {scale}");
        }
    }

    #[test]
    fn eof_configuration_mistakes_name_the_key() {
        let device = Device::flex();
        let (_, eof) = states_and_eofs(3);
        let plain = EncoderConfig { kind: EncoderKind::Eof, eof_linear: false, ..EncoderConfig::default() };
        let err = build(&plain, &eof, 8, &device).unwrap_err().to_string();
        assert!(err.contains("train.encoder_u.eof_modes") && err.contains("train.n_e = 8"), "{err}");
        let too_many = EncoderConfig { eof_modes: 5, ..plain.clone() };
        let err = build(&too_many, &eof, 5, &device).unwrap_err().to_string();
        assert!(err.contains("train.encoder_u.eof_modes") && err.contains("ingest.eof.modes"), "{err}");
        let err = Encoder::build(&plain, "train.encoder_u", &InputSpec::plain(7), 3, &mut StdRng::seed_from_u64(0), &device).unwrap_err().to_string();
        assert!(err.contains("train.encoder_u.kind") && err.contains("ingest.eof.modes"), "{err}");
    }

    /// A gradient step reaches the learned map but never the basis.
    #[test]
    fn the_basis_gets_no_gradient() {
        let device = Device::flex().autodiff();
        let (x, eof) = states_and_eofs(3);
        let config = EncoderConfig { kind: EncoderKind::Eof, eof_linear: true, ..EncoderConfig::default() };
        let Encoder::Eof(enc) = build(&config, &eof, 5, &device).unwrap() else { panic!("eof expected") };
        let loss = enc.forward(tensor(&x, &device)).powf_scalar(2.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &enc);
        let linear = enc.linear.as_ref().unwrap();
        assert!(grads.get::<2>(linear.weight.id).is_some(), "the learned map must train");
        assert!(grads.get::<2>(enc.basis.id).is_none() && grads.get::<1>(enc.offset.id).is_none(), "the basis must stay fixed");
    }
}
