//! The `train` pipeline stage: an ingest data set in, the trained encoders out.
//!
//! Outputs: `model.bpk` (burn's burnpack record of the two encoders and the scorer), `model.json`
//! (what rebuilds the model: the `[train]` section, input widths, the normalisation statistics
//! of the training split, the number of EOFs of an `eof` encoder, whose basis is in model.bpk, and
//! the grid of a `conv` encoder, so that the encoders and their statistics are one artefact), `metrics.csv`
//! (one row per epoch; its `saved` column is 1 on the epoch whose weights were kept) and
//! `recall.json` (retrieval recall on the held-out test split).
//!
//! Training checkpoints every epoch into the stage's checkpoint directory
//! ([`crate::pipeline::checkpoint`]) and a rerun after a kill resumes from the last finished epoch.

use std::path::Path;

use burn::module::Module;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::backend;
use super::encoders::{EncoderConfig, EncoderKind, EofProjection, GridLayout, InputSpec};
use super::train::{codes, recall, train_resumable, ContrastiveModel, ModelInputs, Pairs};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::ingest::dataset::Dataset;
use crate::ingest::split::Split;
use crate::pipeline::spec::StageSpec;
use crate::stages::{parse_options, Stage, StageContext};

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

/// The EOF basis and grids the configured encoders need from the data set `path`.
fn data_inputs(config: &TrainConfig, data: &Dataset, path: &Path) -> Result<(Option<EofProjection>, Option<GridLayout>, Option<GridLayout>)> {
    let eof = if config.encoder_u.kind == EncoderKind::Eof {
        match data.eof.as_ref().filter(|e| e.modes.nrows() > 0) {
            Some(e) => Some(EofProjection { modes: e.modes.clone(), mean: e.mean.clone() }),
            None => {
                return Err(Error::input(path, "has no EOFs (it was ingested with ingest.eof.modes = 0); train.encoder_u.kind = \"eof\" needs ingest.eof.modes > 0"));
            }
        }
    } else {
        None
    };
    let grid_u = if config.encoder_u.kind == EncoderKind::Conv {
        let s = &data.state_layout;
        // One field per (variable, level), in order of appearance.
        let mut fields: Vec<(i32, i32)> = Vec::new();
        let channel: Vec<usize> = s
            .variable
            .iter()
            .zip(&s.level)
            .map(|key| fields.iter().position(|f| (&f.0, &f.1) == key).unwrap_or_else(|| {
                fields.push((*key.0, *key.1));
                fields.len() - 1
            }))
            .collect();
        let shape = match config.encoder_u.grid.as_slice() {
            &[ny, nx] => [ny, nx],
            _ => {
                let shapes: Vec<&[usize]> = data.grid.iter().map(|g| g.point_shape.as_slice()).collect();
                match shapes.first() {
                    Some(&&[ny, nx]) if shapes.iter().all(|s| *s == [ny, nx]) => [ny, nx],
                    _ => return Err(Error::config("configuration", "train.encoder_u.grid", format!("the state variables' point shapes are {shapes:?}, not one 2-D grid; set grid = [ny, nx]"))),
                }
            }
        };
        let grid = GridLayout::scattered(&channel, &s.index, shape[0], shape[1]).map_err(|m| Error::config("configuration", "train.encoder_u.grid", format!("state of {path:?}: {m}")))?;
        Some(grid)
    } else {
        None
    };
    let grid_v = if config.encoder_v.kind == EncoderKind::Conv {
        let &[ny, nx] = config.encoder_v.grid.as_slice() else {
            return Err(Error::config("configuration", "train.encoder_v.grid", "a conv observation encoder needs grid = [ny, nx] of the gridded observations"));
        };
        let o = &data.obs_layout;
        let channel: Vec<usize> = o.variable.iter().map(|&v| v.max(0) as usize).collect();
        Some(GridLayout::scattered(&channel, &o.index, ny, nx).map_err(|m| Error::config("configuration", "train.encoder_v.grid", format!("observations of {path:?}: {m}")))?)
    } else {
        None
    };
    Ok((eof, grid_u, grid_v))
}

fn safe_std(s: &Array1<f64>) -> Vec<f64> {
    s.iter().map(|&v| if v.is_finite() && v > 0.0 { v } else { 1.0 }).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainOptions {}

/// The `train` stage: input `dataset` (an ingest `dataset.nc`).
pub struct TrainStage;

impl Stage for TrainStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["train", "run"]
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        parse_options::<TrainOptions>(spec)?;
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let path = ctx.input("dataset")?;
        let data = Dataset::load(path)?;
        let rows = |split: Split| -> Vec<usize> { (0..data.split.len()).filter(|&i| data.split[i] == split).collect() };
        let (fit, val, test) = (rows(Split::Train), rows(Split::Validation), rows(Split::Test));
        if fit.len() < 2 {
            return Err(Error::input(path, format!("{} training samples; expected at least 2", fit.len())));
        }
        let (eof, grid_u, grid_v) = data_inputs(&ctx.config.train, &data, path)?;
        let meta = ModelMeta {
            train: ctx.config.train.clone(),
            d_u: data.state.ncols(),
            d_v: data.obs.ncols(),
            state_mean: data.state_mean.to_vec(),
            state_std: safe_std(&data.state_std),
            obs_mean: data.obs_mean.to_vec(),
            obs_std: safe_std(&data.obs_std),
            eof_modes: eof.as_ref().map_or(0, |e| e.modes.nrows()),
            grid_u,
            grid_v,
        };
        let mut inputs = meta.inputs();
        inputs.u.eof = eof;
        let u = meta.states(&data.state);
        let v = meta.observations(&data.obs);
        let pick = |idx: &[usize]| (u.select(Axis(0), idx), v.select(Axis(0), idx));
        let (fit_u, fit_v) = pick(&fit);
        let (val_u, val_v) = pick(&val);
        let (test_u, test_v) = pick(&test);
        let selected = backend::select(ctx.config.run.backend, "run.backend")?;
        tracing::info!("train: {} training, {} validation, {} test pairs on {selected}", fit.len(), val.len(), test.len());
        let validation = (val.len() >= 2).then(|| Pairs { u: val_u.view(), v: val_v.view(), source: path });
        let checkpoints = ctx.checkpoint.map(|c| c.create()).transpose()?;
        let fit_pairs = Pairs { u: fit_u.view(), v: fit_v.view(), source: path };
        let trained = train_resumable(&ctx.config.train, &inputs, fit_pairs, validation, &selected.device, ctx.seed, checkpoints)?;

        // `saved` marks the epoch whose weights are in model.bpk (the best one under early stopping).
        let mut csv = String::from("epoch,train_loss,val_loss,r1_u2v,r5_u2v,r1_v2u,r5_v2u,tau,seconds,saved\n");
        for m in &trained.history {
            let r = m.recall.as_ref();
            let f = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.6}"));
            csv += &format!(
                "{},{:.6},{},{},{},{},{},{:.6},{:.3},{}\n",
                m.epoch, m.train_loss, f(m.val_loss), f(r.map(|r| r.u_to_v_at_1)), f(r.map(|r| r.u_to_v_at_5)), f(r.map(|r| r.v_to_u_at_1)), f(r.map(|r| r.v_to_u_at_5)), m.tau, m.seconds,
                u8::from(m.epoch == trained.saved_epoch)
            );
        }
        std::fs::write(ctx.out.join("metrics.csv"), csv).map_err(|e| Error::io(ctx.out.join("metrics.csv"), e))?;
        let test_recall = if test.len() >= 2 {
            let r = recall(&trained.model, Pairs { u: test_u.view(), v: test_v.view(), source: path }, ctx.config.train.batch_size, &ctx.config.train, &selected.device)?;
            json!({ "n": r.n, "r1_u2v": r.u_to_v_at_1, "r5_u2v": r.u_to_v_at_5, "r1_v2u": r.v_to_u_at_1, "r5_v2u": r.v_to_u_at_5, "chance_r5": (5.0 / r.n as f64).min(1.0) })
        } else {
            json!({ "n": 0 })
        };
        write_json(&ctx.out.join("recall.json"), &test_recall)?;
        write_json(&ctx.out.join(MODEL_META), &meta)?;
        trained.model.clone().save_file(ctx.out.join(MODEL_RECORD)).map_err(|e| Error::Other(format!("saving the model: {e:?}")))?;
        // Sanity: the saved artefact reproduces the trained codes (a broken save would only show
        // up days later in an assimilation).
        let (_, reloaded) = ModelMeta::load(ctx.out, &selected.device)?;
        let probe = ndarray::s![..fit.len().min(8), ..];
        for (x, trained, reloaded) in [(fit_u.slice(probe), &trained.model.encoder_u, &reloaded.encoder_u), (fit_v.slice(probe), &trained.model.encoder_v, &reloaded.encoder_v)] {
            let (a, b) = (codes(trained, x, &selected.device), codes(reloaded, x, &selected.device));
            if (&a - &b).iter().any(|d| d.abs() > 1e-5) {
                return Err(Error::Other("the saved model does not reproduce the trained encoders".into()));
            }
        }
        let last = trained.history.last();
        Ok(json!({
            "backend": selected.to_string(),
            "pairs": { "train": fit.len(), "validation": val.len(), "test": test.len() },
            "epochs": trained.history.len(),
            "saved_epoch": trained.saved_epoch,
            "stopped_early": trained.stopped_early,
            "resumed_after_epoch": trained.resumed_from,
            "final_train_loss": last.map(|m| m.train_loss),
            "final_val_loss": last.and_then(|m| m.val_loss),
            "test_recall": test_recall,
        }))
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}
