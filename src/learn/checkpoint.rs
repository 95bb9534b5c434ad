//! Per-epoch training checkpoints: everything a killed training resumes from.
//!
//! After every epoch, `epoch-NNNNNN/` is written under a temporary name, fsynced and renamed into
//! place, so a directory of that name is always complete; the older epochs are then removed. It
//! holds the model being trained (`model.bpk`), the Adam state (`optim.bpk`), the weights of the
//! best epoch when early stopping keeps them (`best.bpk`), and `state.json`: the epoch, the
//! optimisation step, the learning curve, the early-stopping state and a digest of the shuffled
//! order of the training pairs.
//!
//! The random stream is not stored: training replays it from the seed (the initialisation, then
//! one shuffle per finished epoch), and the digest checks that the replay reached the saved order.
//! Floating-point numbers are stored as their bit patterns, so a resumed run continues from exactly
//! the numbers the killed one had (JSON's decimal floats need not round-trip).

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::early_stop::{Best, EarlyStopping};
use super::model::{ContrastiveModel, EpochMetrics};
use super::recall::Recall;
use crate::error::{Error, Result};
use crate::pipeline::hash::sha256;
use crate::pipeline::staging::{sync_dir, sync_tree};

const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const OPTIM: &str = "optim.bpk";
const BEST: &str = "best.bpk";
const PREFIX: &str = "epoch-";

/// Where the training has got to after some epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Finished epochs.
    pub epoch: usize,
    /// Optimisation steps taken (for the learning-rate schedule).
    pub step: usize,
    /// One entry per finished epoch.
    pub history: Vec<EpochMetrics>,
    /// Early-stopping state.
    pub early: EarlyStopping,
    /// Whether early stopping ended the training.
    pub stopped: bool,
}

/// A checkpoint read back, with the modules loaded into the skeletons given to [`load`].
pub struct Restored {
    /// Where training had got to.
    pub state: TrainState,
    /// Digest of the shuffled order after the last finished epoch (see [`order_digest`]).
    pub order_digest: String,
    /// The model being trained, on the training (autodiff) device.
    pub model: ContrastiveModel,
    /// The optimiser with its state.
    pub optim: ModuleOptimizer,
    /// The best epoch's weights, when early stopping keeps them.
    pub best: Option<ContrastiveModel>,
}

/// Digest of a permutation of the training pairs.
pub fn order_digest(order: &[usize]) -> String {
    let bytes: Vec<u8> = order.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
    sha256(&bytes)
}

/// Writes the checkpoint of `state` into `dir` and removes the older ones.
pub fn save(dir: &Path, state: &TrainState, order: &[usize], model: &ContrastiveModel, optim: &ModuleOptimizer, best: Option<&ContrastiveModel>) -> Result<()> {
    let name = format!("{PREFIX}{:06}", state.epoch);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let write = || -> Result<()> {
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let saving = |what: &str, e: burn::store::RecordError| Error::Other(format!("writing the training checkpoint {}: {what}: {e:?}", tmp.display()));
        model.clone().save_file(tmp.join(MODEL)).map_err(|e| saving(MODEL, e))?;
        optim.save(tmp.join(OPTIM)).map_err(|e| saving(OPTIM, e))?;
        if let Some(best) = best {
            best.clone().save_file(tmp.join(BEST)).map_err(|e| saving(BEST, e))?;
        }
        let file = StateFile::from_state(state, order_digest(order));
        let text = serde_json::to_string(&file).map_err(|e| Error::Other(e.to_string()))?;
        fs::write(tmp.join(STATE), text).map_err(|e| Error::io(tmp.join(STATE), e))?;
        sync_tree(&tmp)
    };
    // A checkpoint that could not be written whole (a full disk) is not left half-written.
    if let Err(e) = write() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let target = dir.join(&name);
    if target.exists() {
        fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
    }
    fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    sync_dir(dir);
    for (_, old) in epochs(dir)?.into_iter().filter(|(e, _)| *e < state.epoch) {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// The newest complete checkpoint in `dir`, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(epochs(dir)?.into_iter().filter(|(_, p)| p.join(STATE).is_file()).max_by_key(|(e, _)| *e).map(|(_, p)| p))
}

/// Reads the checkpoint `path`, loading its weights into `model` (built on the training device
/// with the run's seed, so that its parameters carry the ids the optimiser state refers to),
/// `optim`, and, when it holds best weights, `best_skeleton` (any model of the same shape on the
/// inference device).
pub fn load(path: &Path, model: ContrastiveModel, optim: ModuleOptimizer, best_skeleton: ContrastiveModel) -> Result<Restored> {
    let bad = |what: &str, e: String| Error::input(path.join(what), format!("not a usable training checkpoint: {e}"));
    let text = fs::read_to_string(path.join(STATE)).map_err(|e| Error::io(path.join(STATE), e))?;
    let file: StateFile = serde_json::from_str(&text).map_err(|e| bad(STATE, e.to_string()))?;
    let model = model.try_load_file(path.join(MODEL)).map_err(|e| bad(MODEL, format!("{e:?}")))?;
    let optim = optim.load(path.join(OPTIM)).map_err(|e| bad(OPTIM, format!("{e:?}")))?;
    let best = if path.join(BEST).is_file() { Some(best_skeleton.try_load_file(path.join(BEST)).map_err(|e| bad(BEST, format!("{e:?}")))?) } else { None };
    let order_digest = file.order_digest.clone();
    Ok(Restored { state: file.into_state(), order_digest, model, optim, best })
}

/// The `epoch-NNNNNN` directories in `dir` with their epoch numbers.
fn epochs(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(epoch) = name.strip_prefix(PREFIX).and_then(|n| n.parse::<usize>().ok()) {
            out.push((epoch, entry.path()));
        }
    }
    Ok(out)
}

/// `state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    epoch: usize,
    step: usize,
    stopped: bool,
    patience: usize,
    min_delta: u64,
    best: Option<(usize, u64)>,
    since_best: usize,
    order_digest: String,
    history: Vec<SavedEpoch>,
}

/// One [`EpochMetrics`], every float as its bit pattern.
#[derive(Debug, Serialize, Deserialize)]
struct SavedEpoch {
    epoch: usize,
    train_loss: u64,
    val_loss: Option<u64>,
    /// n, then R@1 u->v, R@5 u->v, R@1 v->u, R@5 v->u.
    recall: Option<(usize, [u64; 4])>,
    tau: u64,
    seconds: u64,
}

impl StateFile {
    fn from_state(s: &TrainState, order_digest: String) -> StateFile {
        let history = s
            .history
            .iter()
            .map(|m| SavedEpoch {
                epoch: m.epoch,
                train_loss: m.train_loss.to_bits(),
                val_loss: m.val_loss.map(f64::to_bits),
                recall: m.recall.map(|r| (r.n, [r.u_to_v_at_1, r.u_to_v_at_5, r.v_to_u_at_1, r.v_to_u_at_5].map(f64::to_bits))),
                tau: m.tau.to_bits(),
                seconds: m.seconds.to_bits(),
            })
            .collect();
        StateFile {
            epoch: s.epoch,
            step: s.step,
            stopped: s.stopped,
            patience: s.early.patience,
            min_delta: s.early.min_delta.to_bits(),
            best: s.early.best.map(|b| (b.epoch, b.val_loss.to_bits())),
            since_best: s.early.since_best,
            order_digest,
            history,
        }
    }

    fn into_state(self) -> TrainState {
        let f = f64::from_bits;
        let history = self
            .history
            .into_iter()
            .map(|m| EpochMetrics {
                epoch: m.epoch,
                train_loss: f(m.train_loss),
                val_loss: m.val_loss.map(f),
                recall: m.recall.map(|(n, [a, b, c, d])| Recall { n, u_to_v_at_1: f(a), u_to_v_at_5: f(b), v_to_u_at_1: f(c), v_to_u_at_5: f(d) }),
                tau: f(m.tau),
                seconds: f(m.seconds),
            })
            .collect();
        let early = EarlyStopping {
            patience: self.patience,
            min_delta: f(self.min_delta),
            best: self.best.map(|(epoch, loss)| Best { epoch, val_loss: f(loss) }),
            since_best: self.since_best,
        };
        TrainState { epoch: self.epoch, step: self.step, history, early, stopped: self.stopped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TrainState {
        let recall = Recall { n: 7, u_to_v_at_1: 1.0 / 7.0, u_to_v_at_5: 0.1 + 0.2, v_to_u_at_1: 0.0, v_to_u_at_5: 1.0 };
        let history = vec![
            EpochMetrics { epoch: 1, train_loss: 0.1 + 0.2, val_loss: Some(std::f64::consts::PI / 3.0), recall: Some(recall), tau: 0.07, seconds: 1e-300 },
            EpochMetrics { epoch: 2, train_loss: 2.0f64.sqrt(), val_loss: None, recall: None, tau: f64::from(0.3f32), seconds: 12.5 },
        ];
        let early = EarlyStopping { patience: 3, min_delta: 1e-3, best: Some(Best { epoch: 1, val_loss: 1.0 / 3.0 }), since_best: 1 };
        TrainState { epoch: 2, step: 17, history, early, stopped: false }
    }

    #[test]
    fn state_round_trips_bit_for_bit() {
        let s = state();
        let text = serde_json::to_string(&StateFile::from_state(&s, order_digest(&[2, 0, 1]))).unwrap();
        let back: StateFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back.order_digest, order_digest(&[2, 0, 1]));
        assert_ne!(order_digest(&[2, 0, 1]), order_digest(&[0, 2, 1]));
        // PartialEq on f64 compares values: every float, including 0.1 + 0.2 and pi/3, came back exactly.
        assert_eq!(back.into_state(), s);
    }

    #[test]
    fn latest_skips_incomplete_and_foreign_directories() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(latest(tmp.path()).unwrap(), None);
        for name in ["epoch-000002", "epoch-000010", ".epoch-000011.tmp", "epoch-000012", "other"] {
            fs::create_dir(tmp.path().join(name)).unwrap();
        }
        for name in ["epoch-000002", "epoch-000010", ".epoch-000011.tmp", "other"] {
            fs::write(tmp.path().join(name).join(STATE), "{}").unwrap();
        }
        // epoch-000012 has no state.json: not complete (it cannot happen after a rename, but a
        // directory made by hand must not be trusted).
        assert_eq!(latest(tmp.path()).unwrap(), Some(tmp.path().join("epoch-000010")));
    }
}
