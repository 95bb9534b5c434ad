//! Training a contrastive model on in-memory pairs `(u_i, v_i)`, on whichever device
//! [`super::backend::select`] chose.
//!
//! Adam with optional weight decay and cosine schedule, batches drawn by a seeded shuffle every
//! epoch, and after each epoch the validation loss (with the training batch size, since the
//! contrastive loss depends on it) and the retrieval recall R@1/R@5 in both directions. A pipeline
//! stage reads its arrays and calls [`train`]; nothing here touches files.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::checkpoint::{self, TrainState};
use super::config::{Schedule, TrainConfig};
use super::early_stop::{EarlyStopping, Verdict};
use super::encoders::Encoder;
use super::loss::Loss;
use super::model::{ContrastiveModel, EpochMetrics, ModelInputs, Pairs};
use super::recall::{Recall, truth_ranks};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Query rows per block when scoring the validation set for recall (bounds host memory).
const RECALL_BLOCK: usize = 1024;

/// A trained model (without autodiff, ready for inference) and its learning curve.
#[derive(Debug)]
pub struct Trained {
    /// The model.
    pub model: ContrastiveModel,
    /// One entry per epoch.
    pub history: Vec<EpochMetrics>,
    /// The epoch whose weights [`Trained::model`] holds: the best one under early stopping,
    /// otherwise the last one.
    pub saved_epoch: usize,
    /// Whether early stopping ended the training before `train.epochs`.
    pub stopped_early: bool,
    /// The epoch a resumed training continued after, if it resumed from a checkpoint.
    pub resumed_from: Option<usize>,
}

/// Trains on `pairs`, holding out `config.validation_fraction` of them (a seeded random subset)
/// for validation.
pub fn train(config: &TrainConfig, pairs: Pairs, device: &Device, seed: u64) -> Result<Trained> {
    pairs.check("training pairs")?;
    let (fit, held) = split(pairs.len(), config.validation_fraction, seed);
    let (fit_u, fit_v) = pairs.select(&fit);
    let (val_u, val_v) = pairs.select(&held);
    let validation = Pairs { u: val_u.view(), v: val_v.view(), source: pairs.source };
    train_split(config, Pairs { u: fit_u.view(), v: fit_v.view(), source: pairs.source }, (!held.is_empty()).then_some(validation), device, seed)
}

/// Trains on `fit` and validates on `validation` after every epoch.
pub fn train_split(config: &TrainConfig, fit: Pairs, validation: Option<Pairs>, device: &Device, seed: u64) -> Result<Trained> {
    train_resumable(config, &ModelInputs::plain(&fit), fit, validation, device, seed, None)
}

/// [`train_split`] with a checkpoint after every epoch in `checkpoints` (see [`super::checkpoint`]),
/// resuming from the newest one found there: a run killed after epoch k and rerun ends with the
/// same model and learning curve as an uninterrupted one. The directory must belong to this
/// training (same configuration, data and seed); the pipeline runner guarantees that.
pub fn train_resumable(
    config: &TrainConfig,
    inputs: &ModelInputs,
    fit: Pairs,
    validation: Option<Pairs>,
    device: &Device,
    seed: u64,
    checkpoints: Option<&Path>,
) -> Result<Trained> {
    fit.check("training pairs")?;
    if inputs.u.width != fit.u.ncols() || inputs.v.width != fit.v.ncols() {
        return Err(Error::input(fit.source, "the training pairs do not have the feature counts the encoders were described with"));
    }
    if fit.len() < 2 {
        return Err(Error::input(fit.source, format!("{} training pairs; a contrastive loss needs at least 2", fit.len())));
    }
    if let Some(val) = &validation {
        val.check("validation pairs")?;
        if val.u.ncols() != fit.u.ncols() || val.v.ncols() != fit.v.ncols() {
            return Err(Error::input(val.source, "validation pairs have other feature counts than the training pairs"));
        }
    }
    let autodiff = device.clone().autodiff();
    let loss = config.loss();
    let n = fit.len();
    let batch = config.batch_size.min(n);
    // A trailing batch of one pair has no negatives; it is left out of that epoch.
    let batches_per_epoch = n / batch + usize::from(n % batch >= 2);
    let total_steps = config.epochs * batches_per_epoch;
    let u_all = to_tensor(fit.u, &autodiff);
    let v_all = to_tensor(fit.v, &autodiff);
    // Early stopping needs a validation loss; without one every epoch continues.
    let patience = if validation.is_some() { config.patience } else { 0 };

    let restored = match checkpoints {
        Some(dir) => Run::resume(config, inputs, &fit, seed, patience, device, dir)?,
        None => None,
    };
    let resumed_from = restored.as_ref().map(|r| r.state.epoch);
    let mut run = match restored {
        Some(run) => run,
        None => Run::start(config, inputs, &fit, seed, patience, &autodiff)?,
    };
    let progress = Progress::new("train", total_steps as u64);
    progress.inc(run.state.step as u64);

    while run.state.epoch < config.epochs && !run.state.stopped {
        let epoch = run.state.epoch + 1;
        let start = Instant::now();
        run.order.shuffle(&mut run.rng);
        let mut loss_sum = Tensor::<1>::zeros([1], device);
        for chunk in run.order.chunks(batch).filter(|c| c.len() >= 2) {
            let idx = index_tensor(chunk, &autodiff);
            let (u, v) = (u_all.clone().select(0, idx.clone()), v_all.clone().select(0, idx));
            let batch_loss = loss.apply(run.model.scores(u.clone(), v.clone()), u, v);
            loss_sum = loss_sum + batch_loss.clone().detach().without_autodiff();
            let grads = GradientsParams::from_grads(batch_loss.backward(), &run.model);
            run.model = run.optim.step(learning_rate(config, run.state.step, total_steps), run.model, grads);
            run.state.step += 1;
            progress.inc(1);
        }
        let train_loss = scalar(loss_sum) / batches_per_epoch as f64;
        if !train_loss.is_finite() {
            progress.finish();
            return Err(Error::Other(format!(
                "training diverged in epoch {epoch}: the loss is {train_loss}; lower train.lr (now {}) or raise train.temperature",
                config.lr
            )));
        }
        let eval = run.model.valid();
        let (val_loss, recall) = match &validation {
            Some(val) => {
                let (l, r) = evaluate(&eval, &loss, val, batch, device);
                (Some(l), Some(r))
            }
            None => (None, None),
        };
        match val_loss.map(|l| run.state.early.observe(epoch, l)) {
            Some(Verdict::Improved) => run.best = Some(eval.clone()),
            Some(Verdict::Stop) => run.state.stopped = true,
            _ => {}
        }
        let metrics = EpochMetrics { epoch, train_loss, val_loss, recall, tau: eval.scorer.tau(), seconds: start.elapsed().as_secs_f64() };
        log_epoch(&metrics, config.epochs);
        run.state.history.push(metrics);
        run.state.epoch = epoch;
        if let Some(dir) = checkpoints {
            checkpoint::save(dir, &run.state, &run.order, &run.model, &run.optim, run.best.as_ref())?;
        }
    }
    progress.finish();
    let early = &run.state.early;
    if run.state.stopped {
        let best = early.best.map_or(0, |b| b.epoch);
        tracing::info!("early stopping after epoch {}: no validation-loss improvement for {} epochs; keeping epoch {best}", run.state.epoch, early.patience);
    }
    let (model, saved_epoch) = match (run.best, early.best) {
        (Some(best), Some(b)) if early.active() => (best, b.epoch),
        _ => (run.model.valid(), run.state.epoch),
    };
    Ok(Trained { model, history: run.state.history, saved_epoch, stopped_early: run.state.stopped, resumed_from })
}

/// The mutable state of a training run: what a checkpoint saves and a resumed run restores.
struct Run {
    /// Model being trained (autodiff device).
    model: ContrastiveModel,
    /// Adam with its moments.
    optim: ModuleOptimizer,
    /// Seeded stream: the initialisation, then one shuffle per epoch.
    rng: StdRng,
    /// The training pairs in the order of the last epoch.
    order: Vec<usize>,
    /// Counters, learning curve, early stopping.
    state: TrainState,
    /// Best epoch's weights (inference device), kept when early stopping is on.
    best: Option<ContrastiveModel>,
}

impl Run {
    /// A fresh run: the model initialised from `seed`, nothing trained.
    fn start(config: &TrainConfig, inputs: &ModelInputs, fit: &Pairs, seed: u64, patience: usize, autodiff: &Device) -> Result<Run> {
        let mut rng = StdRng::seed_from_u64(seed);
        let model = ContrastiveModel::new(config, inputs, &mut rng, autodiff)?;
        let weight_decay = (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
        Ok(Run {
            model,
            optim: AdamConfig::new().with_weight_decay(weight_decay).init(),
            rng,
            order: (0..fit.len()).collect(),
            state: TrainState { epoch: 0, step: 0, history: Vec::new(), early: EarlyStopping::new(patience, config.min_delta), stopped: false },
            best: None,
        })
    }

    /// The run restored from the newest checkpoint in `dir`, if there is one that fits: the
    /// random stream is replayed (initialisation, one shuffle per finished epoch) and must reach
    /// the saved order; a checkpoint that does not fit is ignored with a warning.
    fn resume(config: &TrainConfig, inputs: &ModelInputs, fit: &Pairs, seed: u64, patience: usize, device: &Device, dir: &Path) -> Result<Option<Run>> {
        let Some(path) = checkpoint::latest(dir)? else { return Ok(None) };
        let fresh = Run::start(config, inputs, fit, seed, patience, &device.clone().autodiff())?;
        let skeleton = ContrastiveModel::new(config, inputs, &mut StdRng::seed_from_u64(0), device)?;
        let restored = match checkpoint::load(&path, fresh.model, fresh.optim, skeleton) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("ignoring the training checkpoint {}: {e}", path.display());
                return Ok(None);
            }
        };
        let (mut rng, mut order) = (fresh.rng, fresh.order);
        for _ in 0..restored.state.epoch {
            order.shuffle(&mut rng);
        }
        let fits =
            restored.state.epoch <= config.epochs && restored.state.early.patience == patience && checkpoint::order_digest(&order) == restored.order_digest;
        if !fits {
            tracing::warn!("ignoring the training checkpoint {}: it was not written by this training", path.display());
            return Ok(None);
        }
        tracing::info!("train: resuming after epoch {} from {}", restored.state.epoch, path.display());
        Ok(Some(Run { model: restored.model, optim: restored.optim, rng, order, state: restored.state, best: restored.best }))
    }
}

/// The learning rate of optimisation step `step` (0-based) of `total`.
fn learning_rate(config: &TrainConfig, step: usize, total: usize) -> f64 {
    match config.schedule {
        Schedule::Constant => config.lr,
        Schedule::Cosine => 0.5 * config.lr * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos()),
    }
}

/// Validation loss (mean over consecutive batches of `batch`) and retrieval recall over the whole
/// validation set.
fn evaluate(model: &ContrastiveModel, loss: &Loss, val: &Pairs, batch: usize, device: &Device) -> (f64, Recall) {
    let n = val.len();
    let codes_u = encode(&model.encoder_u, val.u, batch, device);
    let codes_v = encode(&model.encoder_v, val.v, batch, device);
    let mut loss_sum = 0.0;
    let mut loss_weight = 0;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        if end - start >= 2 {
            let s = model.scorer.scores(codes_u.clone().slice(start..end), codes_v.clone().slice(start..end));
            let rows = ndarray::s![start..end, ..];
            let (u, v) = (to_tensor(val.u.slice(rows), device), to_tensor(val.v.slice(rows), device));
            loss_sum += scalar(loss.apply(s, u, v)) * (end - start) as f64;
            loss_weight += end - start;
        }
    }
    let mut u_to_v = Vec::with_capacity(n);
    let mut v_to_u = Vec::with_capacity(n);
    for start in (0..n).step_by(RECALL_BLOCK) {
        let end = (start + RECALL_BLOCK).min(n);
        let rows = model.scorer.scores(codes_u.clone().slice(start..end), codes_v.clone());
        u_to_v.extend(truth_ranks(to_array(rows).view(), start));
        let cols = model.scorer.scores(codes_u.clone(), codes_v.clone().slice(start..end));
        v_to_u.extend(truth_ranks(to_array(cols).t(), start));
    }
    (loss_sum / loss_weight.max(1) as f64, Recall::from_ranks(&u_to_v, &v_to_u))
}

/// Retrieval recall of a trained model on held-out pairs (e.g. the test split), both directions.
pub fn recall(model: &ContrastiveModel, pairs: Pairs, batch: usize, config: &TrainConfig, device: &Device) -> Result<Recall> {
    pairs.check("test pairs")?;
    let loss = config.loss();
    Ok(evaluate(model, &loss, &pairs, batch.max(2), device).1)
}

/// Codes `g(x)` of every row of `x` as f64 rows, for the generator (which works on host arrays).
pub fn codes(encoder: &Encoder, x: ArrayView2<f32>, device: &Device) -> Array2<f64> {
    if x.nrows() == 0 {
        return Array2::zeros((0, 0));
    }
    to_array(encode(encoder, x, 1024, device)).mapv(f64::from)
}

/// Codes of every row of `x`, encoded `batch` rows at a time.
fn encode(encoder: &Encoder, x: ArrayView2<f32>, batch: usize, device: &Device) -> Tensor<2> {
    let parts: Vec<Tensor<2>> = (0..x.nrows())
        .step_by(batch)
        .map(|start| {
            let end = (start + batch).min(x.nrows());
            encoder.forward(to_tensor(x.slice(ndarray::s![start..end, ..]), device))
        })
        .collect();
    Tensor::cat(parts, 0)
}

fn log_epoch(m: &EpochMetrics, epochs: usize) {
    match (&m.val_loss, &m.recall) {
        (Some(val_loss), Some(r)) => tracing::info!(
            "epoch {}/{epochs}: train loss {:.4}, val loss {:.4}, R@1 u->v {:.3} v->u {:.3}, R@5 u->v {:.3} v->u {:.3}, tau {:.4} ({:.1} s)",
            m.epoch,
            m.train_loss,
            val_loss,
            r.u_to_v_at_1,
            r.v_to_u_at_1,
            r.u_to_v_at_5,
            r.v_to_u_at_5,
            m.tau,
            m.seconds
        ),
        _ => tracing::debug!("epoch {}/{epochs}: train loss {:.4}, tau {:.4} ({:.2} s)", m.epoch, m.train_loss, m.tau, m.seconds),
    }
}

/// A seeded split of `0..n` into (training, validation) indices, validation a `fraction` of `n`.
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    // Its own stream, so the split does not shift when the model's initialisation changes.
    idx.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15));
    let held = ((n as f64) * fraction).round() as usize;
    let validation = idx.split_off(n - held.min(n));
    (idx, validation)
}

fn to_tensor(x: ArrayView2<f32>, device: &Device) -> Tensor<2> {
    let shape = [x.nrows(), x.ncols()];
    Tensor::from_data(TensorData::new(x.iter().copied().collect::<Vec<f32>>(), shape), device)
}

fn to_array(t: Tensor<2>) -> Array2<f32> {
    let [r, c] = t.dims();
    let values = t.into_data().try_into_vec_as::<f32>().unwrap_or_else(|_| vec![f32::NAN; r * c]);
    Array2::from_shape_vec((r, c), values).unwrap_or_else(|_| Array2::from_elem((r, c), f32::NAN))
}

fn index_tensor(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [idx.len()]), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().try_into_vec_as::<f32>().ok().and_then(|v| v.first().copied()).map_or(f64::NAN, f64::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::encoders::{EncoderConfig, EncoderKind};
    use crate::learn::tilting::Tilting;
    use rand_distr::{Distribution, StandardNormal};

    /// Observations are a noisy linear function of the states: v = W u + 0.3 noise.
    fn synthetic(n: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
        let w = Array2::from_shape_fn((8, 6), |_| normal());
        let u = Array2::from_shape_fn((n, 8), |_| normal());
        let noise = Array2::from_shape_fn((n, 6), |_| 0.3 * normal());
        let v = u.dot(&w) + noise;
        (u, v)
    }

    fn small_config() -> TrainConfig {
        let mlp = EncoderConfig { kind: EncoderKind::Mlp, widths: vec![32], ..EncoderConfig::default() };
        TrainConfig {
            n_e: 8,
            tilting: Tilting::Cosine,
            temperature: 0.1,
            lr: 3e-3,
            epochs: 8,
            batch_size: 64,
            validation_fraction: 0.2,
            encoder_u: mlp.clone(),
            encoder_v: mlp,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn training_learns_to_retrieve_and_is_reproducible() {
        let (u, v) = synthetic(1000, 1);
        let pairs = Pairs { u: u.view(), v: v.view(), source: Path::new("synthetic") };
        let config = small_config();
        let first = train(&config, pairs, &Device::flex(), 5).unwrap();
        assert_eq!(first.history.len(), 8);
        let start = first.history[0].clone();
        let end = first.history.last().unwrap().clone();
        let (r, val_end, val_start) = (end.recall.unwrap(), end.val_loss.unwrap(), start.val_loss.unwrap());
        eprintln!("validation loss {val_start:.3} -> {val_end:.3}, last epoch {r:?}, tau {:.4}", end.tau);
        assert_eq!(r.n, 200);
        // Chance is R@1 = 1/200, R@5 = 5/200; a linear-Gaussian link is easy to learn.
        // (This run reaches R@1 0.86 / 0.835 and R@5 1.0 / 0.99, validation loss 2.86 -> 0.63.)
        assert!(r.u_to_v_at_1 > 0.6 && r.v_to_u_at_1 > 0.6, "{r:?}");
        assert!(r.u_to_v_at_5 > 0.9 && r.v_to_u_at_5 > 0.9, "{r:?}");
        assert!(val_end < 0.4 * val_start, "validation loss {val_start} -> {val_end}");
        // The learned temperature moved from its initial 0.1.
        assert!((end.tau - 0.1).abs() > 1e-4);

        let again = train(&config, pairs, &Device::flex(), 5).unwrap();
        let losses = |t: &Trained| t.history.iter().map(|m| (m.train_loss, m.val_loss)).collect::<Vec<_>>();
        assert_eq!(losses(&first), losses(&again), "same seed, same run");
        let other = train(&TrainConfig { epochs: 1, learn_temperature: false, ..config }, pairs, &Device::flex(), 6).unwrap();
        assert_ne!(other.history[0].train_loss, first.history[0].train_loss);
        assert!((other.history[0].tau - 0.1).abs() < 1e-7, "a fixed temperature must not move");
    }

    /// 24 training pairs, a wide MLP and a high learning rate: the model memorises the training
    /// pairs and the validation loss must turn upwards. Early stopping ends the run `patience`
    /// epochs after the best one and returns the best epoch's weights, which are exactly the
    /// weights of the same training stopped by `epochs` at that epoch.
    #[test]
    fn early_stopping_keeps_the_best_epoch() {
        let (u, v) = synthetic(224, 3);
        let (fit_u, fit_v) = (u.slice(ndarray::s![..24, ..]), v.slice(ndarray::s![..24, ..]));
        let (val_u, val_v) = (u.slice(ndarray::s![24.., ..]), v.slice(ndarray::s![24.., ..]));
        let fit = Pairs { u: fit_u, v: fit_v, source: Path::new("synthetic") };
        let val = Pairs { u: val_u, v: val_v, source: Path::new("synthetic") };
        let wide = EncoderConfig { kind: EncoderKind::Mlp, widths: vec![128, 128], ..EncoderConfig::default() };
        let config =
            TrainConfig { lr: 1e-2, epochs: 200, batch_size: 24, patience: 5, min_delta: 1e-3, encoder_u: wide.clone(), encoder_v: wide, ..small_config() };
        let trained = train_split(&config, fit, Some(val), &Device::flex(), 4).unwrap();
        let losses: Vec<f64> = trained.history.iter().map(|m| m.val_loss.unwrap()).collect();
        let best = trained.saved_epoch;
        eprintln!("stopped after {} epochs, best {best}: {losses:.3?}", losses.len());
        assert!(trained.stopped_early && losses.len() < config.epochs, "{losses:?}");
        assert_eq!(losses.len(), best + config.patience, "stops `patience` epochs after the best");
        // The best epoch has the lowest validation loss (the later ones are not lower by min_delta).
        assert!(losses.iter().all(|&l| l >= losses[best - 1] - config.min_delta), "{losses:?}");
        assert!(losses[losses.len() - 1] > losses[best - 1] + config.min_delta, "the validation loss rose");
        // Training loss keeps falling while the validation loss rises: overfitting, not divergence.
        let train_losses: Vec<f64> = trained.history.iter().map(|m| m.train_loss).collect();
        assert!(train_losses[losses.len() - 1] < train_losses[best - 1], "{train_losses:?}");

        let until_best = TrainConfig { epochs: best, patience: 0, ..config };
        let reference = train_split(&until_best, fit, Some(val), &Device::flex(), 4).unwrap();
        assert!(!reference.stopped_early && reference.saved_epoch == best);
        assert_eq!(trained.model.flat_parameters(), reference.model.flat_parameters(), "the best epoch's weights are kept");
    }

    #[test]
    fn bad_pairs_are_input_errors() {
        let (u, v) = synthetic(10, 2);
        let short = v.slice(ndarray::s![..9, ..]);
        let err = train(&small_config(), Pairs { u: u.view(), v: short, source: Path::new("pairs.nc") }, &Device::flex(), 1).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_BAD_INPUT);
        assert!(err.to_string().contains("pairs.nc") && err.to_string().contains("10 states but 9 observations"), "{err}");

        let mut bad = u.clone();
        bad[[3, 2]] = f32::NAN;
        let err = train(&small_config(), Pairs { u: bad.view(), v: v.view(), source: Path::new("pairs.nc") }, &Device::flex(), 1).unwrap_err();
        assert!(err.to_string().contains("states row 3 column 2 is NaN"), "{err}");

        let fixed = EncoderConfig { kind: EncoderKind::Fixed, indices: vec![0, 1, 2], ..EncoderConfig::default() };
        let config = TrainConfig { encoder_u: fixed, ..small_config() };
        let err = train(&config, Pairs { u: u.view(), v: v.view(), source: Path::new("pairs.nc") }, &Device::flex(), 1).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_BAD_INPUT);
        assert!(err.to_string().contains("train.encoder_u.indices") && err.to_string().contains("train.n_e = 8"), "{err}");
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let (fit, held) = split(100, 0.2, 9);
        assert_eq!(held.len(), 20);
        let mut all: Vec<usize> = fit.iter().chain(&held).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split(100, 0.2, 9), (fit.clone(), held.clone()));
        assert_ne!(split(100, 0.2, 10).1, held);
    }

    #[test]
    fn cosine_schedule_decays_to_zero() {
        let config = TrainConfig { lr: 0.1, schedule: Schedule::Cosine, ..TrainConfig::default() };
        assert!((learning_rate(&config, 0, 10) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&config, 5, 10) - 0.05).abs() < 1e-12);
        assert!(learning_rate(&config, 9, 10) < 0.003);
        let constant = TrainConfig { lr: 0.1, ..TrainConfig::default() };
        assert_eq!(learning_rate(&constant, 9, 10), 0.1);
    }
}
