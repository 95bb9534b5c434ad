//! The `train` pipeline stage: an ingest data set in, the trained encoders out.
//!
//! Outputs: the trained-model artefact (`model.bpk` and `model.json`, see [`super::artifact`]),
//! `metrics.csv` (one row per epoch; its `saved` column is 1 on the epoch whose weights were kept)
//! and `recall.json` (retrieval recall on the held-out test split).
//!
//! Training checkpoints every epoch into the stage's checkpoint directory
//! ([`crate::pipeline::checkpoint`]) and a rerun after a kill resumes from the last finished epoch.

use std::path::Path;

use burn::module::Module;
use ndarray::{Array1, Axis};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::artifact::{MODEL_META, MODEL_RECORD, ModelMeta};
use super::backend;
use super::config::TrainConfig;
use super::encoders::{EncoderKind, EofProjection, GridLayout};
use super::model::Pairs;
use super::train::{codes, recall, train_resumable};
use crate::error::{Error, Result};
use crate::ingest::dataset::Dataset;
use crate::ingest::split::Split;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext, parse_options};

/// The EOF basis and grids the configured encoders need from the data set `path`.
fn data_inputs(config: &TrainConfig, data: &Dataset, path: &Path) -> Result<(Option<EofProjection>, Option<GridLayout>, Option<GridLayout>)> {
    let eof = if config.encoder_u.kind == EncoderKind::Eof {
        match data.eof.as_ref().filter(|e| e.modes.nrows() > 0) {
            Some(e) => Some(EofProjection { modes: e.modes.clone(), mean: e.mean.clone() }),
            None => {
                return Err(Error::input(
                    path,
                    "has no EOFs (it was ingested with ingest.eof.modes = 0); train.encoder_u.kind = \"eof\" needs ingest.eof.modes > 0",
                ));
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
            .map(|key| {
                fields.iter().position(|f| (&f.0, &f.1) == key).unwrap_or_else(|| {
                    fields.push((*key.0, *key.1));
                    fields.len() - 1
                })
            })
            .collect();
        let shape = match config.encoder_u.grid.as_slice() {
            &[ny, nx] => [ny, nx],
            _ => {
                let shapes: Vec<&[usize]> = data.grid.iter().map(|g| g.point_shape.as_slice()).collect();
                match shapes.first() {
                    Some(&&[ny, nx]) if shapes.iter().all(|s| *s == [ny, nx]) => [ny, nx],
                    _ => {
                        return Err(Error::config(
                            "configuration",
                            "train.encoder_u.grid",
                            format!("the state variables' point shapes are {shapes:?}, not one 2-D grid; set grid = [ny, nx]"),
                        ));
                    }
                }
            }
        };
        let grid = GridLayout::scattered(&channel, &s.index, shape[0], shape[1])
            .map_err(|m| Error::config("configuration", "train.encoder_u.grid", format!("state of {path:?}: {m}")))?;
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
        Some(
            GridLayout::scattered(&channel, &o.index, ny, nx)
                .map_err(|m| Error::config("configuration", "train.encoder_v.grid", format!("observations of {path:?}: {m}")))?,
        )
    } else {
        None
    };
    Ok((eof, grid_u, grid_v))
}

fn safe_std(s: &Array1<f64>) -> Vec<f64> {
    s.iter().map(|&v| if v.is_finite() && v > 0.0 { v } else { 1.0 }).collect()
}

/// Options of a `train` stage: none (the model is configured in `[train]`); declared so that the
/// registry can list every stage's options alike.
#[derive(Debug, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {}

/// The `train` stage: input `dataset` (an ingest `dataset.nc`).
pub struct TrainStage;

impl Stage for TrainStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["train", "run.backend"]
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
        let train: TrainConfig = ctx.section("train")?;
        let (eof, grid_u, grid_v) = data_inputs(&train, &data, path)?;
        let meta = ModelMeta {
            train: train.clone(),
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
        let selected = backend::select(ctx.section("run.backend")?, "run.backend")?;
        tracing::info!("train: {} training, {} validation, {} test pairs on {selected}", fit.len(), val.len(), test.len());
        let validation = (val.len() >= 2).then(|| Pairs { u: val_u.view(), v: val_v.view(), source: path });
        let checkpoints = ctx.checkpoint.map(|c| c.create()).transpose()?;
        let fit_pairs = Pairs { u: fit_u.view(), v: fit_v.view(), source: path };
        let trained = train_resumable(&train, &inputs, fit_pairs, validation, &selected.device, ctx.seed, checkpoints)?;

        // `saved` marks the epoch whose weights are in model.bpk (the best one under early stopping).
        let mut csv = String::from("epoch,train_loss,val_loss,r1_u2v,r5_u2v,r1_v2u,r5_v2u,tau,seconds,saved\n");
        for m in &trained.history {
            let r = m.recall.as_ref();
            let f = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.6}"));
            csv += &format!(
                "{},{:.6},{},{},{},{},{},{:.6},{:.3},{}\n",
                m.epoch,
                m.train_loss,
                f(m.val_loss),
                f(r.map(|r| r.u_to_v_at_1)),
                f(r.map(|r| r.u_to_v_at_5)),
                f(r.map(|r| r.v_to_u_at_1)),
                f(r.map(|r| r.v_to_u_at_5)),
                m.tau,
                m.seconds,
                u8::from(m.epoch == trained.saved_epoch)
            );
        }
        std::fs::write(ctx.out.join("metrics.csv"), csv).map_err(|e| Error::io(ctx.out.join("metrics.csv"), e))?;
        let test_recall = if test.len() >= 2 {
            let r = recall(&trained.model, Pairs { u: test_u.view(), v: test_v.view(), source: path }, train.batch_size, &train, &selected.device)?;
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
        for (x, trained, reloaded) in
            [(fit_u.slice(probe), &trained.model.encoder_u, &reloaded.encoder_u), (fit_v.slice(probe), &trained.model.encoder_v, &reloaded.encoder_v)]
        {
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
