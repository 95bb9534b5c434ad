//! The trained-model artefact, what the train stage writes and the assimilate stage loads:
//! `model.bpk` (burn's burnpack record of the two encoders and the scorer) and `model.json` (what
//! rebuilds the model: the `[train]` section, input widths, the normalisation statistics of the
//! training split, the number of EOFs of an `eof` encoder, whose basis is in model.bpk, and the
//! grid of a `conv` encoder), so that the encoders and their statistics are one artefact.

use std::path::Path;

use burn::module::Module;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::encoders::{EncoderConfig, EncoderKind, EofProjection, GridLayout, InputSpec};
use super::model::{ContrastiveModel, ModelInputs};
use crate::error::{Error, Result};

/// File names of the artefact.
pub const MODEL_RECORD: &str = "model.bpk";
/// See [`MODEL_RECORD`].
pub const MODEL_META: &str = "model.json";

/// How to rebuild a trained model and prepare its inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The `[train]` section the model was trained with.
    pub train: TrainConfig,
    /// Width of the state vectors.
    pub d_u: usize,
    /// Width of the observation vectors.
    pub d_v: usize,
    /// Mean of each state element over the training split.
    pub state_mean: Vec<f64>,
    /// Standard deviation of each state element (1 where constant).
    pub state_std: Vec<f64>,
    /// Mean of each observation element.
    pub obs_mean: Vec<f64>,
    /// Standard deviation of each observation element (1 where constant).
    pub obs_std: Vec<f64>,
    /// EOFs given to an `eof` state encoder (their values are in model.bpk); 0 without one.
    #[serde(default)]
    pub eof_modes: usize,
    /// Grid of a `conv` state encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_u: Option<GridLayout>,
    /// Grid of a `conv` observation encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_v: Option<GridLayout>,
}

impl ModelMeta {
    /// The state encoder's input rows: normalised states as f32 (with validity flags for `conv`).
    pub fn states(&self, state: &Array2<f64>) -> Array2<f32> {
        encoder_input(&self.train.encoder_u, state, normalise(state, &self.state_mean, &self.state_std))
    }

    /// The observation encoder's input rows: normalised observations as f32, masked (NaN)
    /// elements 0, the training mean (with validity flags for `conv`).
    pub fn observations(&self, obs: &Array2<f64>) -> Array2<f32> {
        encoder_input(&self.train.encoder_v, obs, normalise(obs, &self.obs_mean, &self.obs_std))
    }

    /// What the encoders of this model are built for; the EOF basis is a zero placeholder, to be
    /// overwritten by the record (or replaced by the data set's).
    pub fn inputs(&self) -> ModelInputs {
        let spec = |config: &EncoderConfig, d: usize, grid: &Option<GridLayout>| InputSpec {
            width: if config.kind == EncoderKind::Conv { 2 * d } else { d },
            eof: (config.kind == EncoderKind::Eof && self.eof_modes > 0).then(|| EofProjection::placeholder(self.eof_modes, d)),
            grid: grid.clone(),
        };
        ModelInputs { u: spec(&self.train.encoder_u, self.d_u, &self.grid_u), v: spec(&self.train.encoder_v, self.d_v, &self.grid_v) }
    }

    /// Loads the model saved in `dir` onto `device`.
    pub fn load(dir: &Path, device: &burn::tensor::Device) -> Result<(ModelMeta, ContrastiveModel)> {
        let meta_path = dir.join(MODEL_META);
        let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        let meta: ModelMeta = serde_json::from_str(&text).map_err(|e| Error::input(&meta_path, format!("not a contrada model description: {e}")))?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let skeleton = ContrastiveModel::new(&meta.train, &meta.inputs(), &mut rng, device)?;
        let record = dir.join(MODEL_RECORD);
        let model = skeleton.try_load_file(&record).map_err(|e| Error::input(&record, format!("cannot load the trained encoders: {e:?}")))?;
        Ok((meta, model))
    }
}

fn normalise(x: &Array2<f64>, mean: &[f64], std: &[f64]) -> Array2<f32> {
    let mean = Array1::from(mean.to_vec());
    let std = Array1::from(std.to_vec());
    ((x - &mean.insert_axis(Axis(0))) / &std.insert_axis(Axis(0))).mapv(|v| if v.is_finite() { v as f32 } else { 0.0 })
}

/// `normalised`, followed for a `conv` encoder by one flag per element of `raw`: 1 where it is a
/// number, 0 where missing. The flags are taken from the raw values because normalising fills
/// the missing ones with 0, a valid value.
fn encoder_input(config: &EncoderConfig, raw: &Array2<f64>, normalised: Array2<f32>) -> Array2<f32> {
    if config.kind != EncoderKind::Conv {
        return normalised;
    }
    let flags = raw.mapv(|v| f32::from(u8::from(v.is_finite())));
    ndarray::concatenate(Axis(1), &[normalised.view(), flags.view()]).expect("same rows")
}
