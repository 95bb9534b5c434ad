//! The learning stages end to end on the shipped Lagrangian sample data: ingest, train (the model
//! artefact and its test recall), and assimilate with every generator method.

use crate::common;

use common::{contrada_in, stderr};
use contrada::cf::NcFile;

#[test]
fn train_then_assimilate_the_sample_window() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let demo = std::fs::read_to_string(format!("{root}/pipelines/demo.toml")).unwrap();
    // The demo pipeline with absolute sample-data paths and fewer epochs; the evaluate stage needs
    // plotting fonts and is tested on its own.
    let text = demo.replace("\"sample_data/", &format!("\"{root}/sample_data/"));
    let text = text.split("\n[[pipeline.stages]]\nname = \"evaluate\"").next().unwrap().to_string();
    std::fs::write(dir.path().join("p.toml"), text).unwrap();
    let out = contrada_in(dir.path(), &["run", "p.toml", "--run-dir", "run", "--window", "2026-11-28", "--set", "train.epochs=12", "--backend", "cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let run = dir.path().join("run");
    let recall: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("train/recall.json")).unwrap()).unwrap();
    let chance = recall["chance_r5"].as_f64().unwrap();
    for key in ["r5_u2v", "r5_v2u"] {
        let r = recall[key].as_f64().unwrap();
        assert!(r > 3.0 * chance, "{key} = {r} is not clearly above chance {chance}");
    }
    let metrics = std::fs::read_to_string(run.join("train/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 13, "header + one row per epoch");

    let window = run.join("assimilate/2026-11-28");
    let bank = NcFile::open(format!("{root}/sample_data/lagrangian/archive/lagrangian_states.nc")).unwrap();
    let bank_psi = bank.read("psi").unwrap().data;
    for (method, members) in [("reweight", 64), ("retrieve", 8), ("transform", 512)] {
        let f = NcFile::open(window.join(format!("analysis_{method}.nc"))).unwrap();
        let psi = f.read_expect("psi", &["member", "y", "x"]).unwrap().data;
        assert_eq!(psi.shape()[0], members, "{method}");
        let mean = f.read_expect("psi_mean", &["y", "x"]).unwrap().data;
        let spread = f.read_expect("psi_spread", &["y", "x"]).unwrap().data;
        assert!(spread.iter().all(|s| *s >= 0.0) && spread.iter().any(|s| *s > 0.0), "{method}: spread");
        if method != "transform" {
            // Selected members are bank members, unchanged, and stored as the bank stores them.
            assert!(f.is_f32("psi").unwrap(), "{method}: the float bank's members are written as float");
            let first = psi.index_axis(ndarray::Axis(0), 0);
            assert!(bank_psi.outer_iter().any(|b| b == first), "{method}: members must be bank states");
        } else {
            // The transform is mean-preserving in the sense of the ETKF: its members average to its mean.
            let avg = psi.mean_axis(ndarray::Axis(0)).unwrap();
            assert!(avg.iter().zip(mean.iter()).all(|(a, b)| (a - b).abs() < 1e-9));
        }
        let diag: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(window.join(format!("diagnostics_{method}.json"))).unwrap()).unwrap();
        assert_eq!(diag["members"], members);
        if method == "reweight" {
            let ess = diag["ess"].as_f64().unwrap();
            assert!((1.0..=512.0).contains(&ess), "ESS {ess}");
        }
    }
    // The bank codes were cached by the first run; assimilating again (a second window with the
    // same model and bank) reuses them, and a damaged cache entry is recomputed: every analysis
    // is the same in all three runs.
    let cache = run.join(".cache/bank_codes");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one cache entry: {entries:?}");
    let diag =
        |m: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(window.join(format!("diagnostics_{m}.json"))).unwrap()).unwrap() };
    assert_eq!(diag("reweight")["bank_codes_cache"], "miss");
    let analyses = || -> Vec<ndarray::ArrayD<f64>> {
        ["reweight", "retrieve", "transform"]
            .iter()
            .flat_map(|m| {
                let f = NcFile::open(window.join(format!("analysis_{m}.nc"))).unwrap();
                ["psi", "psi_mean", "psi_spread", "u_quantile"].map(|v| f.read(v).unwrap().data)
            })
            .collect()
    };
    let fresh = analyses();
    let force =
        ["run", "p.toml", "--run-dir", "run", "--window", "2026-11-28", "--set", "train.epochs=12", "--backend", "cpu", "--stage", "assimilate", "--force"];
    let hit = common::contrada_logging(dir.path(), &force, "info");
    assert!(hit.status.success(), "{}", stderr(&hit));
    assert!(stderr(&hit).contains("bank codes: reusing the cache"), "{}", stderr(&hit));
    assert_eq!(diag("reweight")["bank_codes_cache"], "hit");
    assert!(analyses() == fresh, "results with the cached codes differ from freshly computed ones");
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 0x40;
    std::fs::write(&entries[0], &bytes).unwrap();
    let damaged = contrada_in(dir.path(), &force);
    assert!(damaged.status.success(), "{}", stderr(&damaged));
    assert!(stderr(&damaged).contains("checksum mismatch"), "{}", stderr(&damaged));
    assert_eq!(diag("reweight")["bank_codes_cache"], "corrupt");
    assert!(analyses() == fresh, "results after recomputing a damaged cache differ");
    // The window is done: a cron rerun does nothing.
    let again = contrada_in(dir.path(), &["run", "p.toml", "--run-dir", "run", "--window", "2026-11-28", "--set", "train.epochs=12", "--backend", "cpu"]);
    assert!(common::stdout(&again).contains("already done"), "{}", common::stdout(&again));
    // Where the run directory lives enters no fingerprint: a copy of it elsewhere (here the
    // pipeline's default, runs/p, run without --run-dir) and the original named by its absolute
    // path rerun no stage, training included.
    std::fs::create_dir(dir.path().join("runs")).unwrap();
    let copied = std::process::Command::new("cp").args(["-a", "run", "runs/p"]).current_dir(dir.path()).status().unwrap();
    assert!(copied.success());
    let absolute = dir.path().join("run").display().to_string();
    for run_dir in [None, Some(absolute.as_str())] {
        let mut args = vec!["run", "p.toml", "--window", "2026-11-28", "--set", "train.epochs=12", "--backend", "cpu"];
        args.extend(run_dir.map(|d| ["--run-dir", d]).into_iter().flatten());
        let rerun = contrada_in(dir.path(), &args);
        assert!(rerun.status.success(), "{}", stderr(&rerun));
        assert!(common::stdout(&rerun).contains("already done"), "{run_dir:?}: {}", common::stdout(&rerun));
    }

    // The same stages as commands on the pipeline's inputs (same stage names, so the same seeds):
    // `contrada train` gives the pipeline's model and `contrada assimilate` its analyses.
    let cli = |args: &[&str]| {
        let out = contrada_in(dir.path(), args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&common::stdout(&out)).expect("a JSON summary on stdout")
    };
    let summary =
        cli(&["train", "--dataset", "run/ingest-train/dataset.nc", "--config", "p.toml", "--set", "train.epochs=12", "--backend", "cpu", "--out", "cli/train"]);
    assert_eq!(summary["epochs"], 12);
    for file in ["model.json", "recall.json"] {
        let read = |d: &str| std::fs::read_to_string(dir.path().join(d).join(file)).unwrap();
        assert_eq!(read("cli/train"), read("run/train"), "{file}");
    }
    assert!(!dir.path().join("cli/.train.checkpoint").exists(), "checkpoints go once the outputs are published");
    let assimilate = |out: &'static str, extra: &[&str]| {
        let args = ["assimilate", "--model", "cli/train/model.json", "--bank", "run/ingest-bank/dataset.nc", "--observations", "run/ingest-today/dataset.nc"];
        let more = [
            "--window",
            "2026-11-28",
            "--methods",
            "reweight,retrieve,transform",
            "--variables",
            "coef,psi,u,v",
            "--config",
            "p.toml",
            "--backend",
            "cpu",
            "--out",
            out,
        ];
        contrada_in(dir.path(), &[&args[..], &more[..], extra].concat())
    };
    let done = assimilate("cli/assimilate", &[]);
    assert!(done.status.success(), "{}", stderr(&done));
    for method in ["reweight", "retrieve", "transform"] {
        let file = format!("analysis_{method}.nc");
        common::same_values(&dir.path().join("cli/assimilate").join(&file), &window.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    assert!(dir.path().join("cli/train/.cache/bank_codes").is_dir(), "the bank codes are cached beside the model");
    // Quantiles from a resample of the weights: the same mean and spread, quantiles near the exact ones.
    let sampled = assimilate("cli/sampled", &["--quantile-sample", "4096"]);
    assert!(sampled.status.success(), "{}", stderr(&sampled));
    let (a, b) = (NcFile::open(dir.path().join("cli/sampled/analysis_reweight.nc")).unwrap(), NcFile::open(window.join("analysis_reweight.nc")).unwrap());
    for v in ["u_mean", "u_spread"] {
        let (x, y) = (a.read(v).unwrap().data, b.read(v).unwrap().data);
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= 1e-9 * scale), "{v} differs");
    }
    let (qa, qb) = (a.read("u_quantile").unwrap().data, b.read("u_quantile").unwrap().data);
    let spread = b.read("u_spread").unwrap().data;
    let mean_gap = qa.iter().zip(&qb).map(|(p, q)| (p - q).abs()).sum::<f64>() / qa.len() as f64;
    let mean_spread = spread.iter().sum::<f64>() / spread.len() as f64;
    assert!(mean_gap < 0.1 * mean_spread, "resampled quantiles are {mean_gap} from the exact ones (spread {mean_spread})");
    let diag: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("cli/sampled/diagnostics_reweight.json")).unwrap()).unwrap();
    assert_eq!(diag["quantile_sample"], 4096);
    let bad = assimilate("cli/bad", &["--members", "1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--members"), "{}", stderr(&bad));
    assert!(!dir.path().join("cli/bad").exists(), "nothing written on bad input");

    // A window without observations is a clear error.
    let other = contrada_in(dir.path(), &["run", "p.toml", "--run-dir", "run", "--window", "2026-11-29", "--set", "train.epochs=12", "--backend", "cpu"]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(stderr(&other).contains("no observations in window 2026-11-29"), "{}", stderr(&other));
}
