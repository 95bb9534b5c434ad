//! The pipeline runner end to end through the real binary: skipping stages already done, the
//! run-directory lock, resuming after a kill with the same outputs, and bad inputs.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{contrada_in, same_values, stderr, stdout};

/// A pipeline with a quick Lorenz-96 stage and a Lagrangian stage of `samples` samples.
fn pipeline(dir: &Path, samples: usize) -> PathBuf {
    let text = format!(
        r#"
[pipeline]
name = "t"

[[pipeline.stages]]
name = "l96"
kind = "synth"
options = {{ flow = "lorenz96", samples = 50 }}

[[pipeline.stages]]
name = "flow"
kind = "synth"
options = {{ flow = "lagrangian", samples = {samples} }}
"#
    );
    let p = dir.join("t.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn manifest(run: &Path, stage: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join(stage).join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn second_run_skips_every_stage_and_force_reruns() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), 8);
    let first = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/t"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let run = dir.path().join("runs/t");
    let m1 = manifest(&run, "flow");
    assert_eq!(m1["status"], "complete");
    assert!(m1["outputs"].as_array().unwrap().len() >= 2, "{m1}");
    assert_eq!(m1["inputs"].as_array().unwrap().len(), 0);
    assert!(m1["config"]["synth"].is_object() && m1["git_revision"].is_string() && m1["seed"].is_u64());

    let second = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/t"]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(stdout(&second).contains("already done"), "{}", stdout(&second));
    assert_eq!(manifest(&run, "flow")["finished"], m1["finished"], "a skipped stage is not rewritten");

    // A change to the stage's configuration reruns it; a change elsewhere does not.
    let changed = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/t", "--set", "synth.lagrangian.amplitude=0.3"]);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert_ne!(manifest(&run, "flow")["fingerprint"], m1["fingerprint"]);
    let status = contrada_in(dir.path(), &["status", "runs/t"]);
    assert!(stdout(&status).contains("flow") && stdout(&status).contains("done"), "{}", stdout(&status));

    let forced = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/t", "--stage", "l96", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stdout(&forced).contains("1 stage(s) run"), "{}", stdout(&forced));
}

/// Starts `contrada run` in the background and waits until the `flow` stage is being written.
fn start_long_run(dir: &Path, run_dir: &str) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_contrada"))
        .args(["run", "t.toml", "--run-dir", run_dir, "-q"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = dir.join(run_dir).join(".flow.partial");
    let t0 = Instant::now();
    while !staging.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "the flow stage never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_concurrent_run_exits_75_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), 150);
    let mut first = start_long_run(dir.path(), "runs/t");
    let second = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/t"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(75), "{}", stderr(&second));
    assert!(stderr(&second).contains(&format!("pid {}", first.id())), "{}", stderr(&second));
}

#[test]
fn a_killed_run_resumes_with_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), 150);
    let mut killed = start_long_run(dir.path(), "runs/killed");
    killed.kill().unwrap();
    killed.wait().unwrap();
    let run = dir.path().join("runs/killed");
    assert!(!run.join("flow").exists(), "no finished-looking output after a kill");
    assert!(run.join("l96/manifest.json").exists(), "the stage before the kill completed");

    let resumed = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/killed"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).contains("1 stage(s) run, 1 already done"), "{}", stdout(&resumed));
    assert!(!run.join(".flow.partial").exists(), "staging directory cleaned up");

    let clean = contrada_in(dir.path(), &["run", "t.toml", "--run-dir", "runs/clean"]);
    assert!(clean.status.success(), "{}", stderr(&clean));
    for file in ["lagrangian_states.nc", "lagrangian_drifters.nc"] {
        same_values(&run.join("flow").join(file), &dir.path().join("runs/clean/flow").join(file)).unwrap();
    }
}

#[test]
fn bad_pipeline_inputs_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[[pipeline.stages]]\nname = \"a\"\nkind = \"synth\"\noptions = { flow = \"lorenz96\", sampels = 3 }\n")
        .unwrap();
    let out = contrada_in(dir.path(), &["run", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("sampels"), "{}", stderr(&out));
    assert!(!dir.path().join("runs").exists(), "nothing written for a pipeline that cannot run");

    let out = contrada_in(dir.path(), &["run", "absent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("absent.toml"), "{}", stderr(&out));

    let out = contrada_in(dir.path(), &["run", "bad.toml", "--window", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--window"), "{}", stderr(&out));
}
