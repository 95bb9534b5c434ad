//! The drifter observation operator and the `baseline` stage with `obs_operator = "drifters"` on
//! the shipped Lagrangian sample data: the operator reproduces the stored synth track from the
//! true flow (a known answer), and ETKF, LETKF and EnOI analyses from an archive prior, scored by
//! the real `evaluate` stage against the day's hidden truth, beat the prior mean. Bad inputs are
//! exit-code-2 errors naming the file and variable.

use std::path::{Path, PathBuf};

use contrada::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged};
use contrada::cf::{NcFile, NcWriter};
use contrada::config::IoConfig;
use contrada::kalman::io::drifter_file::{DrifterSpec, load};
use contrada::kalman::io::flow_ensemble::FlowEnsemble;
use contrada::kalman::obs::drifter_obs::DEFAULT_MAX_DT;
use contrada::kalman::obs::obs_operator::ObsOperator;

use crate::common::{contrada, stderr};

fn sample(dir: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/lagrangian").join(dir).join(file)
}

fn spec(sample: Option<usize>) -> DrifterSpec {
    DrifterSpec { sample, error_std: Some(0.01), max_dt: DEFAULT_MAX_DT, restart: false, options_key: "test".into() }
}

#[test]
fn operator_reproduces_the_stored_synth_track() {
    // The day's true flow (coef and omega as stored, in single precision) advected by the operator
    // lands on the stored track: the synth integrated the double-precision flow with dt = 1e-5;
    // the differences are the single-precision storage of coefficients, frequencies and positions
    // (about 1e-7 relative) grown along the track, and the RK4 error (below 1e-6).
    let states = NcFile::open(sample("today", "lagrangian_states.nc")).unwrap();
    let drifters = NcFile::open(sample("today", "lagrangian_drifters.nc")).unwrap();
    let truth = FlowEnsemble::read(&states, "time", &[0]).unwrap();
    let loaded = load(&drifters, &states, truth.n_state(), truth.slots, &spec(None)).unwrap();
    assert_eq!((loaded.tracks, loaded.op.n_obs()), (1, 200));
    let state = truth.ensemble.row(0).to_vec();
    // The gauge the analysis leaves alone: psi's grid mean is Re psi_0 (mode k = 0, index 24).
    let psi = states.read_values("psi").unwrap();
    let psi_mean = psi.iter().sum::<f64>() / psi.len() as f64;
    assert!((psi_mean - state[2 * 24]).abs() < 1e-6, "psi mean {psi_mean}, Re psi_0 {}", state[48]);
    let mut hx = vec![0.0; loaded.op.n_obs()];
    loaded.op.apply(&state, &mut hx);
    let err = hx.iter().zip(&loaded.obs.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let travelled = loaded.obs.values.chunks(2).map(|p| (p[0] - 0.75).hypot(p[1] - 0.75)).fold(0.0, f64::max);
    println!("known answer: max position error {err:.2e} over a track reaching {travelled:.3} from the release point");
    assert!(err < 2e-5, "operator track differs from the stored one by {err}");
    assert!(travelled > 0.05, "the drifter moved only {travelled}");

    // Another sample's flow (a draw from the same prior) predicts a clearly different track.
    let archive = NcFile::open(sample("archive", "lagrangian_states.nc")).unwrap();
    let other = FlowEnsemble::read(&archive, "time", &[0]).unwrap();
    loaded.op.apply(other.ensemble.row(0).as_slice().unwrap(), &mut hx);
    let diff = hx.iter().zip(&loaded.obs.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff > 0.02, "another flow's track is within {diff} of the truth's");
}

#[test]
fn operator_selects_the_tracks_of_one_sample() {
    // The archive's trajectory file has a track per sample; sample 17's track is reproduced by
    // sample 17's flow, and the analysis time is that sample's time stamp.
    let states = NcFile::open(sample("archive", "lagrangian_states.nc")).unwrap();
    let drifters = NcFile::open(sample("archive", "lagrangian_drifters.nc")).unwrap();
    let flows = FlowEnsemble::read(&states, "time", &[17]).unwrap();
    let err = load(&drifters, &states, flows.n_state(), flows.slots, &spec(None)).err().expect("several samples need a choice").to_string();
    assert!(err.contains("obs_time_index"), "{err}");
    let loaded = load(&drifters, &states, flows.n_state(), flows.slots, &spec(Some(17))).unwrap();
    assert_eq!(loaded.sample, Some(17));
    let stamps = states.read_values("time").unwrap();
    assert!((loaded.time - stamps[17]).abs() < 1e-9, "analysis time {} vs stamp {}", loaded.time, stamps[17]);
    let mut hx = vec![0.0; loaded.op.n_obs()];
    loaded.op.apply(flows.ensemble.row(0).as_slice().unwrap(), &mut hx);
    let err = hx.iter().zip(&loaded.obs.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 2e-5, "sample 17: {err}");
}

const METHODS: [&str; 3] = ["etkf", "letkf", "enoi"];

/// Prior members per method: the whole archive (512) for the global schemes, whose prior mean is
/// then the climatological mean `evaluate` reports; 64 for the LETKF, whose 3,219 local analyses
/// each cost O(N^3).
fn members(method: &str) -> Option<usize> {
    (method == "letkf").then_some(64)
}

/// The pipeline: one baseline stage per method on the sample data, then `evaluate`.
fn pipeline(dir: &Path) -> PathBuf {
    let (archive, today) = (sample("archive", "lagrangian_states.nc"), sample("today", "lagrangian_states.nc"));
    let obs = sample("today", "lagrangian_drifters.nc");
    let mut text = String::from("[pipeline]\nname = \"kalman-drifter\"\n\n[baseline]\nlocalization_radius = 0.2\n\n");
    for m in METHODS {
        text += &format!(
            "[[pipeline.stages]]\nname = \"{m}\"\nkind = \"baseline\"\ninputs = {{ prior = \"{}\", observations = \"{}\"{} }}\noptions = {{ method = \"{m}\", obs_operator = \"drifters\", drifter_restart = true, obs_error_std = 0.01{} }}\n\n",
            archive.display(),
            obs.display(),
            if m == "enoi" { format!(", static = \"{}\"", archive.display()) } else { String::new() },
            members(m).map_or(String::new(), |n| format!(", members = {n}")),
        );
    }
    text += &format!(
        "[[pipeline.stages]]\nname = \"evaluate\"\nkind = \"evaluate\"\noptions = {{ variables = [\"psi\", \"u\", \"v\"] }}\n[pipeline.stages.inputs]\ntruth = \"{}\"\nbank = \"{}\"\n",
        today.display(),
        archive.display()
    );
    for m in METHODS {
        text += &format!("analysis_{m} = \"stage:{m}/analysis_{m}.nc\"\n");
    }
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// RMSE of `a` against `b`.
fn rmse(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
}

#[test]
fn baselines_with_drifters_beat_the_prior_mean() {
    // One drifter observes a small part of the domain, so the domain-wide gains are small (the
    // RMSE near the track falls by 7-10%); they are deterministic for the seeded draws, and
    // each is checked against the prior mean of the same members.
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = contrada(&["run", pipeline(dir.path()).to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores = json(&run_dir.join("evaluate/all/scores.json"));
    let method =
        |name: &str| scores["methods"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {scores}")).clone();
    let truth = NcFile::open(sample("today", "lagrangian_states.nc")).unwrap();
    for m in METHODS {
        let analysis = NcFile::open(run_dir.join(m).join(format!("analysis_{m}.nc"))).unwrap();
        let scored = method(m);
        assert_eq!(scored["members"], members(m).unwrap_or(512));
        let diagnostics = json(&run_dir.join(m).join(format!("diagnostics_{m}.json")));
        let (d_prior, d_post) = (diagnostics["innovation_prior"]["rms"].as_f64().unwrap(), diagnostics["innovation_analysis"]["rms"].as_f64().unwrap());
        for var in ["psi", "u", "v"] {
            let t = truth.read_values(var).unwrap();
            // The prior mean of the drawn members is the analysis mean minus the increment.
            let mean = analysis.read_values(&format!("{var}_mean")).unwrap();
            let increment = analysis.read_values(&format!("{var}_increment")).unwrap();
            let prior_mean: Vec<f64> = mean.iter().zip(&increment).map(|(a, b)| a - b).collect();
            let (prior_rmse, analysis_rmse) = (rmse(&prior_mean, &t), scored["variables"][var]["rmse"].as_f64().unwrap());
            let climatology = method("climatology")["variables"][var]["rmse"].as_f64().unwrap();
            assert!((analysis_rmse - rmse(&mean, &t)).abs() < 1e-9, "{m} {var}: evaluate scored another mean");
            println!(
                "{m} {var}: RMSE prior mean {prior_rmse:.4} (archive mean {climatology:.4}), analysis {analysis_rmse:.4}, spread {:.4}; innovation rms {d_prior:.2e} -> {d_post:.2e}, {:.2} s",
                scored["variables"][var]["spread"].as_f64().unwrap(),
                diagnostics["wall_time_s"].as_f64().unwrap()
            );
            assert!(analysis_rmse < prior_rmse, "{m} {var}: analysis RMSE {analysis_rmse} not below the prior mean's {prior_rmse}");
            if members(m).is_none() {
                assert!((prior_rmse - climatology).abs() < 1e-9, "{m} {var}: the whole archive's mean is the climatology");
            }
        }
        assert!(d_post < 0.5 * d_prior, "{m}: the analysis does not fit the track ({d_prior} -> {d_post})");
    }
}

/// A trajectory file holding today's track with its times multiplied by `stretch`, and the
/// set-up attribute `time_unit_days` (none when `None`).
fn write_drifters(path: &Path, stretch: f64, time_unit_days: Option<f64>) {
    write_edited_drifters(path, time_unit_days, |t| t.time.iter_mut().for_each(|v| *v *= stretch));
}

/// Today's track changed by `edit`, with the set-up attributes of [`write_drifters`].
fn write_edited_drifters(path: &Path, time_unit_days: Option<f64>, edit: impl Fn(&mut Trajectory)) {
    let today = NcFile::open(sample("today", "lagrangian_drifters.nc")).unwrap();
    let set = contrada::cf::dsg::read_trajectories(&today, &Default::default()).unwrap();
    let trajectories: Vec<Trajectory> = set
        .trajectories
        .iter()
        .map(|t| {
            let mut t = t.clone();
            edit(&mut t);
            t
        })
        .collect();
    let set = TrajectorySet { trajectories, layout: Layout::ContiguousRagged, ..set };
    let mut w = NcWriter::create(path, &IoConfig::default(), "test drifters").unwrap();
    w.global("duration", 0.1).unwrap();
    w.global("release_x", vec![0.75]).unwrap();
    w.global("release_y", vec![0.75]).unwrap();
    if let Some(d) = time_unit_days {
        w.global("time_unit_days", d).unwrap();
    }
    write_ragged(&mut w, &set, vec![("axis", "X".into())], vec![("axis", "Y".into())]).unwrap();
    w.finish().unwrap();
}

/// A states file with the archive's first 8 samples of the variables `keep` (and the time axis).
fn write_states(path: &Path, keep: &[&str]) {
    let archive = NcFile::open(sample("archive", "lagrangian_states.nc")).unwrap();
    let mut w = NcWriter::create(path, &IoConfig::default(), "test states").unwrap();
    for (k, v) in archive.attributes(None).unwrap() {
        if ["time_unit_days", "duration", "release_x", "release_y"].contains(&k.as_str()) {
            w.global(&k, v).unwrap();
        }
    }
    let n = 8;
    w.coord("time", &(0..n).map(|i| i as f64).collect::<Vec<_>>(), vec![("units", "days since 2014-01-01 12:00:00".into()), ("standard_name", "time".into())])
        .unwrap();
    w.dim("mode", 49).unwrap();
    w.dim("coef_index", 98).unwrap();
    for var in keep {
        let dims = archive.var_dims(var).unwrap();
        let values = archive.read_values(var).unwrap();
        let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
        let width: usize = dims.iter().skip(1).map(|d| archive.dim_len(d).unwrap()).product();
        let values = if dims[0] == "time" { values[..n * width].to_vec() } else { values };
        w.var_f64(var, &dims, &values, vec![]).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn bad_drifter_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let archive = sample("archive", "lagrangian_states.nc").to_str().unwrap().to_string();
    let today = sample("today", "lagrangian_drifters.nc").to_str().unwrap().to_string();
    write_drifters(&dir.path().join("units.nc"), 1.0, Some(0.25));
    write_drifters(&dir.path().join("long.nc"), 10.0, None);
    write_drifters(&dir.path().join("good.nc"), 1.0, Some(2.5));
    write_states(&dir.path().join("no_omega.nc"), &["coef", "kx", "ky"]);
    write_states(&dir.path().join("no_coef.nc"), &["omega", "kx", "ky"]);
    write_states(&dir.path().join("fine.nc"), &["coef", "omega", "kx", "ky"]);
    let cases = [
        // Another time unit than the flow's: the observed times are not its model times.
        (archive.clone(), p("units.nc"), vec![], vec![p("units.nc"), "time_unit_days".into(), "2.5".into()]),
        // Times ten times longer than the flow window: positions before the release.
        (archive.clone(), p("long.nc"), vec![], vec![p("long.nc"), "variable `time`".into(), "before the analysis time".into()]),
        (p("no_omega.nc"), today.clone(), vec![], vec![p("no_omega.nc"), "variable `omega`".into()]),
        (p("no_coef.nc"), today.clone(), vec![], vec![p("no_coef.nc"), "variable `coef`".into()]),
        (archive.clone(), today.clone(), vec!["--members", "600"], vec!["--members".into(), "512 samples".into()]),
        (archive.clone(), today.clone(), vec!["--obs-variable", "psi"], vec!["--obs-variable".into(), "drifters".into()]),
        // `variable` selects drifters on a gridded prior, which must analyse the velocity.
        (archive.clone(), today.clone(), vec!["--variable", "psi"], vec!["--velocity".into(), "not among the analysed variables (psi)".into()]),
    ];
    for (k, (prior, obs, extra, wanted)) in cases.iter().enumerate() {
        let out_dir = p(&format!("out{k}"));
        let mut args = vec![
            "baseline",
            "--obs-operator",
            "drifters",
            "--method",
            "etkf",
            "--obs-error-std",
            "0.01",
            "--prior",
            prior,
            "--observations",
            obs,
            "--out",
            &out_dir,
        ];
        args.extend(extra);
        let out = contrada(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "case {k}: {err}");
        for w in wanted {
            assert!(err.contains(w.as_str()), "case {k}: `{w}` not in: {err}");
        }
        assert!(!Path::new(&out_dir).exists(), "case {k}: partial output");
    }
    // The same files, consistent: a run succeeds (so the errors above are about what they say).
    let out = contrada(&[
        "baseline",
        "--obs-operator",
        "drifters",
        "--obs-error-std",
        "0.01",
        "--prior",
        &p("fine.nc"),
        "--observations",
        &p("good.nc"),
        "--out",
        &p("ok"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("ok/analysis_etkf.nc").is_file());

    // A fix at x = 1e6 (an innovation of 1e6 against position errors of 0.01) fails the background
    // check: its track is rejected with a WARN line instead of being assimilated, and with nothing
    // left the run stops (exit 2) without output; with the check off it would be assimilated.
    write_edited_drifters(&dir.path().join("far.nc"), Some(2.5), |t| t.x[7] = 1e6);
    let run = |threshold: &str, out: &str| {
        contrada(&[
            "baseline", "--method", "etkf", "--obs-operator", "drifters", "--obs-error-std", "0.01", "--prior", &p("fine.nc"), "--observations", &p("far.nc"),
            "--out", &p(out), "--outlier-threshold", threshold,
        ])
    };
    let out = run("3", "far");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("1 of 1 drifter tracks rejected by the background check") && err.contains("every drifter track was rejected"), "{err}");
    assert!(!dir.path().join("far").exists());
    assert!(run("0", "far_unchecked").status.success());
}
