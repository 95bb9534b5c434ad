//! The contrastive model: the two encoders and the scorer trained together, the inputs they are
//! built for, and the paired samples it learns from, and what one epoch of training reports. Training ([`super::train`]) and its
//! checkpoints ([`super::checkpoint`]) both build on this module.

use burn::module::{Module, ModuleVisitor, Param};
use std::path::Path;

use burn::tensor::{Device, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;

use super::config::TrainConfig;
use super::encoders::{Encoder, InputSpec};
use super::recall::Recall;
use super::tilting::Scorer;
use crate::error::{Error, Result};

/// Paired samples: row `i` of `u` (states) goes with row `i` of `v` (observations).
#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a> {
    /// States, one per row.
    pub u: ArrayView2<'a, f32>,
    /// Observations, one per row.
    pub v: ArrayView2<'a, f32>,
    /// Where the pairs came from, for error messages (an input file of the stage).
    pub source: &'a Path,
}

impl Pairs<'_> {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.u.nrows()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the two sides pair up and hold only finite numbers.
    pub(super) fn check(&self, what: &str) -> Result<()> {
        if self.u.nrows() != self.v.nrows() {
            return Err(Error::input(
                self.source,
                format!("{what}: {} states but {} observations; expected one observation per state", self.u.nrows(), self.v.nrows()),
            ));
        }
        for (name, x) in [("states", &self.u), ("observations", &self.v)] {
            if let Some(((row, col), value)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(Error::input(self.source, format!("{what}: {name} row {row} column {col} is {value}; expected finite values")));
            }
        }
        Ok(())
    }

    /// The rows `idx` of both sides.
    pub(super) fn select(&self, idx: &[usize]) -> (Array2<f32>, Array2<f32>) {
        (self.u.select(Axis(0), idx), self.v.select(Axis(0), idx))
    }
}

/// The inputs of the two encoders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInputs {
    /// Of the state encoder.
    pub u: InputSpec,
    /// Of the observation encoder.
    pub v: InputSpec,
}

impl ModelInputs {
    /// Inputs described by their widths alone (the pairs' column counts).
    pub fn plain(pairs: &Pairs) -> ModelInputs {
        ModelInputs { u: InputSpec::plain(pairs.u.ncols()), v: InputSpec::plain(pairs.v.ncols()) }
    }
}

/// The two encoders and the scorer, trained together.
#[derive(Module, Debug)]
pub struct ContrastiveModel {
    /// Encoder of the states u.
    pub encoder_u: Encoder,
    /// Encoder of the observations v.
    pub encoder_v: Encoder,
    /// Tilting and temperature.
    pub scorer: Scorer,
}

impl ContrastiveModel {
    /// A freshly initialised model for the states `u` and observations `v` described.
    pub fn new(config: &TrainConfig, inputs: &ModelInputs, rng: &mut StdRng, device: &Device) -> Result<Self> {
        Ok(ContrastiveModel {
            encoder_u: Encoder::build(&config.encoder_u, "train.encoder_u", &inputs.u, config.n_e, rng, device)?,
            encoder_v: Encoder::build(&config.encoder_v, "train.encoder_v", &inputs.v, config.n_e, rng, device)?,
            scorer: Scorer::new(config.tilting, config.temperature, config.learn_temperature, device),
        })
    }

    /// The score matrix `S_ij = s(u_i, v_j)` of a batch of states and a batch of observations.
    pub fn scores(&self, u: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        self.scorer.scores(self.encoder_u.forward(u), self.encoder_v.forward(v))
    }

    /// Every trainable value of the model in a fixed order (for comparing two models exactly).
    pub fn flat_parameters(&self) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let values = param.val().into_data().try_into_vec_as::<f32>();
                self.0.extend(values.unwrap_or_else(|_| vec![f32::NAN]));
            }
        }
        let mut collect = Collect(Vec::new());
        self.visit(&mut collect);
        collect.0
    }
}

/// What one epoch achieved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Validation loss (batches of the training size), when there is a validation set.
    pub val_loss: Option<f64>,
    /// Validation retrieval recall, when there is a validation set.
    pub recall: Option<Recall>,
    /// Temperature at the end of the epoch.
    pub tau: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}
