//! The train stage killed mid-training and rerun (in a pipeline, and as `contrada train`): it
//! resumes from its last per-epoch checkpoint and ends with exactly the model, learning curve and
//! test recall of an uninterrupted run.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{contrada_in, stderr};
use contrada::learn::artifact::ModelMeta;

const EPOCHS: usize = 60;

/// Ingest of the 512-sample Lagrangian test set and a small training on it.
fn pipeline(dir: &Path) {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        r#"
[pipeline]
name = "resume"

[ingest.state]
variables = ["coef"]

[[ingest.observations]]
name = "drifters"
kind = "trajectories"
segment = "5 hours"
points = 10

[train]
n_e = 8
epochs = {EPOCHS}
batch_size = 32
lr = 1e-3
schedule = "cosine"

[train.encoder_u]
widths = [32]

[train.encoder_v]
widths = [32]

[[pipeline.stages]]
name = "ingest"
kind = "ingest"
inputs = {{ states = "{root}/sample_data/lagrangian/test/lagrangian_states.nc", drifters = "{root}/sample_data/lagrangian/test/lagrangian_drifters.nc" }}

[[pipeline.stages]]
name = "train"
kind = "train"
inputs = {{ dataset = "stage:ingest/dataset.nc" }}
"#
    );
    std::fs::write(dir.join("p.toml"), text).unwrap();
}

fn summary(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("train/manifest.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["summary"].clone()
}

/// metrics.csv without the wall-clock `seconds` column.
fn curve(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("train/metrics.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let seconds = header.iter().position(|c| *c == "seconds").unwrap();
    text.lines().map(|l| l.split(',').enumerate().filter(|(i, _)| *i != seconds).map(|(_, c)| c).collect::<Vec<_>>().join(",")).collect()
}

/// Runs `contrada ARGS` in `dir` and kills it (SIGKILL) as soon as the second epoch's checkpoint
/// in `checkpoints` is complete.
fn kill_after_second_checkpoint(dir: &Path, args: &[&str], checkpoints: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_contrada"))
        .args(args)
        .current_dir(dir)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !checkpoints.join("epoch-000002").exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "{args:?} never checkpointed its second epoch");
        assert!(child.try_wait().unwrap().is_none(), "{args:?} ended before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_training_killed_mid_run_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path());
    let args = |run: &'static str| vec!["run", "p.toml", "--run-dir", run, "--backend", "cpu"];

    let clean = contrada_in(dir.path(), &args("runs/clean"));
    assert!(clean.status.success(), "{}", stderr(&clean));
    let clean_run = dir.path().join("runs/clean");
    assert_eq!(summary(&clean_run)["resumed_after_epoch"], serde_json::Value::Null);
    assert!(!clean_run.join(".train.checkpoint").exists(), "checkpoints go once the outputs are published");

    let run = dir.path().join("runs/killed");
    let checkpoints = run.join(".train.checkpoint");
    kill_after_second_checkpoint(dir.path(), &args("runs/killed"), &checkpoints);
    assert!(!run.join("train").exists(), "no finished-looking output after a kill");
    assert!(run.join("ingest/manifest.json").exists());
    assert!(checkpoints.is_dir(), "the checkpoint survives the kill");

    let resumed = contrada_in(dir.path(), &args("runs/killed"));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let after = summary(&run)["resumed_after_epoch"].as_u64().expect("the rerun resumed from a checkpoint") as usize;
    assert!((2..EPOCHS).contains(&after), "resumed after epoch {after}");
    assert!(!checkpoints.exists(), "checkpoints go once the outputs are published");

    assert_eq!(curve(&run), curve(&clean_run), "same learning curve");
    assert_eq!(curve(&run).len(), EPOCHS + 1);
    for file in ["recall.json", "model.json"] {
        let (a, b) = (std::fs::read_to_string(run.join("train").join(file)).unwrap(), std::fs::read_to_string(clean_run.join("train").join(file)).unwrap());
        assert_eq!(a, b, "{file}");
    }
    // `contrada train` on the same data set, killed and rerun the same way, resumes from its own
    // checkpoint beside --out and ends with the pipeline's model (same stage name, same seed).
    let cli = ["train", "--dataset", "runs/clean/ingest/dataset.nc", "--config", "p.toml", "--backend", "cpu", "--out", "cli/model"];
    let checkpoints = dir.path().join("cli/.model.checkpoint");
    kill_after_second_checkpoint(dir.path(), &cli, &checkpoints);
    assert!(!dir.path().join("cli/model/model.json").exists(), "no model after a kill");
    let resumed = contrada_in(dir.path(), &cli);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let summary: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert!(summary["resumed_after_epoch"].as_u64().is_some_and(|e| e >= 2), "{summary}");
    assert!(!checkpoints.exists(), "checkpoints go once the outputs are published");
    for file in ["recall.json", "model.json"] {
        let (a, b) =
            (std::fs::read_to_string(dir.path().join("cli/model").join(file)).unwrap(), std::fs::read_to_string(clean_run.join("train").join(file)).unwrap());
        assert_eq!(a, b, "{file}");
    }

    let device = burn::tensor::Device::flex();
    let (_, a) = ModelMeta::load(&run.join("train"), &device).unwrap();
    let (_, b) = ModelMeta::load(&clean_run.join("train"), &device).unwrap();
    let (a, b) = (a.flat_parameters(), b.flat_parameters());
    assert!(a.len() > 1000);
    assert!(a == b, "the resumed run's weights differ from the uninterrupted run's");
}
