//! The `[train]` section: the contrastive model (encoders, tilting, loss) and its optimisation.

use serde::{Deserialize, Serialize};

use super::encoders::{EncoderConfig, EncoderKind};
use super::loss::{Loss, LossKind};
use super::tilting::Tilting;
use crate::config::Problems;

/// Learning-rate schedule over all optimisation steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine decay from `lr` to 0 over the run.
    Cosine,
}

/// The `[train]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Dimension of the shared latent space.
    pub n_e: usize,
    /// Alignment score between codes.
    pub tilting: Tilting,
    /// Temperature tau (initial value when learned).
    pub temperature: f64,
    /// Train the temperature along with the encoders.
    pub learn_temperature: bool,
    /// Conditional or MMD (both weighted by lambda_u, lambda_v), or joint loss.
    pub loss: LossKind,
    /// Weight of the states-given-observation term L_{u|v}.
    pub lambda_u: f64,
    /// Weight of the observations-given-state term L_{v|u}.
    pub lambda_v: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam L2 penalty on the parameters.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Pairs per batch (the contrastive negatives of each pair are the rest of its batch).
    pub batch_size: usize,
    /// Fraction of the pairs held out for validation (loss and retrieval recall every epoch).
    pub validation_fraction: f64,
    /// Early stopping: stop after this many epochs without a validation-loss improvement and keep
    /// the best epoch's weights; 0 disables it (the last epoch's weights are kept).
    pub patience: usize,
    /// Early stopping: an epoch improves on the best one when its validation loss is lower by
    /// more than this.
    pub min_delta: f64,
    /// Encoder of the states u.
    pub encoder_u: EncoderConfig,
    /// Encoder of the observations v.
    pub encoder_v: EncoderConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            n_e: 32,
            tilting: Tilting::Cosine,
            temperature: 0.07,
            learn_temperature: true,
            loss: LossKind::Conditional,
            lambda_u: 1.0,
            lambda_v: 1.0,
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            epochs: 20,
            batch_size: 128,
            validation_fraction: 0.1,
            patience: 0,
            min_delta: 0.0,
            encoder_u: EncoderConfig::default(),
            encoder_v: EncoderConfig::default(),
        }
    }
}

impl TrainConfig {
    /// The loss this section asks for.
    pub fn loss(&self) -> Loss {
        Loss { kind: self.loss, lambda_u: self.lambda_u as f32, lambda_v: self.lambda_v as f32 }
    }

    /// Range checks of the section.
    pub fn validate(&self, p: &mut Problems) {
        p.range("train.n_e", self.n_e, 1, 65_536);
        p.range("train.temperature", self.temperature, 1e-4, 1e4);
        p.range("train.lambda_u", self.lambda_u, 0.0, 2.0);
        p.range("train.lambda_v", self.lambda_v, 0.0, 2.0);
        p.check(
            self.loss == LossKind::Joint || self.lambda_u + self.lambda_v > 0.0,
            "train.lambda_u",
            "lambda_u and lambda_v are both 0: the conditional (or MMD) loss would be empty",
        );
        p.check(self.lr > 0.0 && self.lr <= 1.0, "train.lr", format!("value {} is out of range; allowed: above 0, up to 1", self.lr));
        p.range("train.weight_decay", self.weight_decay, 0.0, 1.0);
        p.range("train.epochs", self.epochs, 1, 1_000_000);
        p.range("train.batch_size", self.batch_size, 2, 1 << 24);
        p.range("train.validation_fraction", self.validation_fraction, 0.0, 0.5);
        p.range("train.patience", self.patience, 0, 1_000_000);
        p.check(
            self.min_delta.is_finite() && self.min_delta >= 0.0,
            "train.min_delta",
            format!("value {} is out of range; allowed: 0 or more", self.min_delta),
        );
        self.encoder_u.validate("train.encoder_u", p);
        self.encoder_v.validate("train.encoder_v", p);
        p.check(
            self.encoder_v.kind != EncoderKind::Eof,
            "train.encoder_v.kind",
            "eof is a state encoder (the EOFs are those of the training states); choose fixed, linear, mlp, trajectory or conv",
        );
    }
}
