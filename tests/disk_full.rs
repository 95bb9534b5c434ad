//! A disk that fills up under `contrada run` and under each standalone command: a clean exit that
//! names the stage and the file, no crash (the netCDF/HDF5 exit handler once segfaulted after a
//! failed write), no half-written output, no temporary file left, and the failure in `run.json`.
//!
//! The full disk is a small tmpfs mounted by the test (CI runs as root). Where mounting is refused
//! (an unprivileged developer), the test says so on stderr and checks nothing.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{contrada_in, stderr, stdout};

/// A tmpfs of `bytes` at a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: usize) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"]).arg(dir.path()).output().is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("disk_full: cannot mount a tmpfs here (needs root); the full-disk checks did not run");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system until only `free` bytes are left.
    fn fill_leaving(&self, free: u64) {
        let avail = available(self.path());
        if avail > free {
            std::fs::write(self.path().join("filler"), vec![0u8; (avail - free) as usize]).unwrap();
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn available(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    stdout(&out).lines().nth(1).unwrap().trim().parse().unwrap()
}

fn sample(rel: &str) -> String {
    format!("{}/sample_data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Every path below `dir`, relative, except the filler.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.retain(|p| p != "filler");
    v.sort();
    v
}

/// The checks every full-disk failure must pass: exit 1 (an I/O failure, not a signal or abort),
/// one `error:` line naming `needles` and the lack of space, no panic.
fn assert_clean_failure(out: &std::process::Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit 1 on a full disk, got {:?}:\n{err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line:\n{err}");
    assert!(lines[0].contains("No space left on device") || lines[0].contains("space"), "the cause is named:\n{err}");
    for n in needles {
        assert!(lines[0].contains(n), "the error names `{n}`:\n{err}");
    }
    err
}

/// A pipeline whose first stage fits and whose second does not: a Lorenz-96 synth of a few
/// kilobytes, then the baseline ETKF of the sample data's archive (a file of megabytes).
fn pipeline(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
[pipeline]
name = "full"

[[pipeline.stages]]
name = "small"
kind = "synth"
options = {{ flow = "lorenz96", samples = 5 }}

[[pipeline.stages]]
name = "etkf"
kind = "baseline"
inputs = {{ prior = "{}", observations = "{}" }}
options = {{ method = "etkf", obs_operator = "drifters", obs_error_std = 1e-4 }}
"#,
        sample("lagrangian/archive/lagrangian_states.nc"),
        sample("lagrangian/today/lagrangian_drifters.nc")
    );
    let p = dir.join("full.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn run_on_a_full_disk_names_the_stage_and_records_the_failure() {
    let work = tempfile::tempdir().unwrap();
    let pipeline = pipeline(work.path());
    let Some(fs) = Tmpfs::mount(4 << 20) else { return };
    let run_dir = fs.path().join("run");
    // Room for the lock, the run record and the first stage, not for the analysis of the second.
    fs.fill_leaving(256 << 10);
    let out = contrada_in(work.path(), &["run", pipeline.to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()]);
    assert_clean_failure(&out, &["stage `etkf`", "analysis_etkf.nc"]);
    let left = listing(&run_dir);
    assert!(left.iter().all(|p| !p.contains(".partial") && !p.ends_with(".tmp")), "nothing partial or temporary: {left:?}");
    assert!(left.iter().any(|p| p == "small/manifest.json"), "the stage that fitted is published: {left:?}");
    assert!(!left.iter().any(|p| p.starts_with("etkf")), "nothing of the failed stage: {left:?}");
    let status = contrada_in(work.path(), &["status", run_dir.to_str().unwrap()]);
    let text = stdout(&status);
    assert!(text.lines().any(|l| l.contains("etkf") && l.contains("failed") && l.contains("space")), "status shows the failure:\n{text}");
}

#[test]
fn run_record_of_a_failure_fits_in_the_last_blocks() {
    let work = tempfile::tempdir().unwrap();
    let pipeline = pipeline(work.path());
    let Some(fs) = Tmpfs::mount(4 << 20) else { return };
    let run_dir = fs.path().join("run");
    // Barely room for the lock and the first record: the failure must still be recorded.
    fs.fill_leaving(16 << 10);
    let out = contrada_in(work.path(), &["run", pipeline.to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()]);
    let err = assert_clean_failure(&out, &["stage `small`"]);
    let left = listing(&run_dir);
    assert!(left.iter().all(|p| !p.contains(".partial") && !p.ends_with(".tmp")), "nothing partial or temporary: {left:?}\n{err}");
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    let stage = &record["stages"][0];
    assert_eq!(stage["status"], "failed", "{record}");
    assert!(stage["message"].as_str().unwrap().contains("space"), "{record}");
}

/// Each standalone command writing into a full `--out`: exit 1, the output file named, nothing
/// left in or beside the output directory.
#[test]
fn standalone_commands_on_a_full_disk_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let archive = sample("lagrangian/archive/lagrangian_states.nc");
    let today_states = sample("lagrangian/today/lagrangian_states.nc");
    let today_drifters = sample("lagrangian/today/lagrangian_drifters.nc");
    let archive_drifters = sample("lagrangian/archive/lagrangian_drifters.nc");
    let baseline =
        ["baseline", "--prior", &archive, "--observations", &today_drifters, "--method", "etkf", "--obs-operator", "drifters", "--obs-error-std", "1e-4"];
    // An analysis to evaluate, a bank, a day's observations and a model, written where there is room.
    let made = contrada_in(work.path(), &[&baseline[..], &["--out", "ok"]].concat());
    assert!(made.status.success(), "{}", stderr(&made));
    let analysis = work.path().join("ok/analysis_etkf.nc");
    let analysis = analysis.to_str().unwrap();
    std::fs::copy(format!("{}/pipelines/demo.toml", env!("CARGO_MANIFEST_DIR")), work.path().join("demo.toml")).unwrap();
    let ingest = |states: &str, drifters: &str| -> Vec<String> {
        ["ingest", "--config", "demo.toml", "--input", &format!("states={states}"), "--input", &format!("drifters={drifters}")].map(String::from).to_vec()
    };
    let whole = ["--set", "ingest.split.train=1.0", "--set", "ingest.split.validation=0.0", "--set", "ingest.split.test=0.0"];
    for (states, drifters, out) in [(&archive, &archive_drifters, "bank"), (&today_states, &today_drifters, "today")] {
        let args = ingest(states, drifters);
        let args: Vec<&str> = args.iter().map(String::as_str).chain(whole).chain(["--out", out]).collect();
        let made = contrada_in(work.path(), &args);
        assert!(made.status.success(), "{}", stderr(&made));
    }
    let made = contrada_in(work.path(), &["train", "--dataset", "bank/dataset.nc", "--out", "model", "--config", "demo.toml", "--set", "train.epochs=1"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let ingest_bank = ingest(&archive, &archive_drifters);
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("synth", vec!["synth", "lorenz96", "--samples", "2000"], "lorenz96.nc"),
        ("ingest", ingest_bank.iter().map(String::as_str).collect(), "dataset"),
        ("baseline", baseline.to_vec(), "analysis_etkf.nc"),
        ("evaluate", vec!["evaluate", "--truth", &today_states, "--analysis", analysis], ".png"),
        ("train", vec!["train", "--dataset", "bank/dataset.nc", "--config", "demo.toml", "--set", "train.epochs=1"], "model"),
        (
            "assimilate",
            vec![
                "assimilate",
                "--model",
                "model/model.json",
                "--bank",
                "bank/dataset.nc",
                "--observations",
                "today/dataset.nc",
                "--config",
                "demo.toml",
                "--cache",
                "cache",
            ],
            "analysis_",
        ),
    ];
    for (name, mut args, file) in cases {
        let Some(fs) = Tmpfs::mount(1 << 20) else { return };
        fs.fill_leaving(12 << 10);
        let out_dir = fs.path().join("out");
        let out_s = out_dir.to_str().unwrap().to_string();
        args.extend(["--out", &out_s]);
        let out = contrada_in(work.path(), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: exit 1 on a full disk, got {:?}:\n{err}", out.status);
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(err.contains(file) && err.contains("space"), "{name}: the error names {file} and the cause:\n{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{name}: one error line:\n{err}");
        // Training's checkpoint directory outlives a failure on purpose (a rerun resumes from
        // it); what it holds must be whole: its fingerprint, finished epochs, nothing temporary.
        let left: Vec<String> = listing(fs.path()).into_iter().filter(|p| p != ".out.checkpoint" && p != ".out.checkpoint/FINGERPRINT").collect();
        assert!(left.is_empty() || left == ["out"], "{name}: nothing partial: {left:?}");
        if out_dir.is_dir() {
            assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "{name}: the output directory stays empty");
        }
    }
}

#[test]
fn an_unwritable_output_directory_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    // A regular file where a directory should be: refused for root too.
    std::fs::write(work.path().join("taken"), "not a directory").unwrap();
    let out = contrada_in(work.path(), &["synth", "lorenz96", "--samples", "5", "--out", "taken/out"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("taken/out") && err.contains("writable directory"), "{err}");
    let pipeline = pipeline(work.path());
    let out = contrada_in(work.path(), &["run", pipeline.to_str().unwrap(), "--run-dir", "taken/run"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("taken/run") && err.contains("writable directory"), "{err}");
    // A read-only file system, where the test may mount one.
    if let Some(fs) = Tmpfs::mount(1 << 20) {
        let ro = Command::new("mount").args(["-o", "remount,ro"]).arg(fs.path()).status().is_ok_and(|s| s.success());
        if ro {
            let target = fs.path().join("out");
            let out = contrada_in(work.path(), &["synth", "lorenz96", "--samples", "5", "--out", target.to_str().unwrap()]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(err.contains("Read-only file system") && err.contains("writable directory"), "{err}");
        }
    }
}
