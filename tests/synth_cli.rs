//! `contrada synth` end to end: the files each flow writes, read back through `contrada inspect`
//! and the library's CF readers, the `synth` pipeline stage, and configuration errors.

use std::process::{Command, Output};

use contrada::cf::NcFile;
use contrada::cf::dsg::{DsgNames, read_trajectories};

fn contrada(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contrada")).args(args).output().expect("run contrada")
}

fn ok(args: &[&str]) -> String {
    let out = contrada(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "contrada {args:?} failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    text
}

fn values(file: &NcFile, var: &str) -> Vec<f64> {
    file.read(var).unwrap().data.into_raw_vec_and_offset().0
}

#[test]
fn lorenz96_files_pass_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("l96");
    let out_s = out.to_str().unwrap();
    ok(&["synth", "lorenz96", "--out", out_s, "--samples", "200"]);
    let file = out.join("lorenz96.nc");
    let report = ok(&["inspect", "--strict", "--expect", "truth=time,i", "--expect", "obs=time,i", file.to_str().unwrap()]);
    // 200 observation intervals of 0.05 model time units at 120 hours per unit: 1200 hours = 50 days.
    assert!(report.contains("time time: 2026-01-01 00:00:00 .. 2026-02-20 00:00:00 (201 values, calendar standard)"), "{report}");
    assert!(report.contains("CF problems: none found"), "{report}");
    let nc = NcFile::open(&file).unwrap();
    assert_eq!(nc.attr_f64s(None, "dt"), Some(vec![0.01]));
    assert_eq!(nc.attr_f64s(None, "forcing"), Some(vec![8.0]));
    assert_eq!(nc.attr_f64s(None, "obs_error_std"), Some(vec![1.0]));
    assert_eq!(nc.read_time("time").unwrap().values[1], 6.0);
    assert_eq!(values(&nc, "truth").len(), 201 * 40);
}

#[test]
fn lagrangian_tracks_end_at_their_state_times() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lag");
    let out_s = out.to_str().unwrap();
    // A shorter integration with two drifters keeps the test fast; the layout is the same.
    let config = tmp.path().join("two_drifters.toml");
    std::fs::write(&config, "[synth.lagrangian]\ndt = 1e-4\ngrid = 16\nreleases = [[0.75, 0.75], [0.25, 0.5]]\n").unwrap();
    ok(&["synth", "lagrangian", "--out", out_s, "--samples", "5", "--config", config.to_str().unwrap()]);
    for name in ["lagrangian_states.nc", "lagrangian_drifters.nc"] {
        let report = ok(&["inspect", "--strict", out.join(name).to_str().unwrap()]);
        assert!(report.contains("CF problems: none found"), "{report}");
        assert!(report.contains(".. 2000-01-05 12:00:00"), "{report}");
    }
    let states = NcFile::open(out.join("lagrangian_states.nc")).unwrap();
    let times = states.read_time("time").unwrap();
    assert_eq!(times.values, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(states.read_expect("coef", &["time", "coef_index"]).unwrap().data.len(), 5 * 98);
    assert_eq!(states.read_expect("psi", &["time", "y", "x"]).unwrap().data.len(), 5 * 16 * 16);

    let drifters = NcFile::open(out.join("lagrangian_drifters.nc")).unwrap();
    let set = read_trajectories(&drifters, &DsgNames::default()).unwrap();
    assert_eq!(set.trajectories.len(), 10);
    assert_eq!(set.time_units.epoch, times.units.epoch);
    let sample = values(&drifters, "sample_index");
    let (xw, yw) = (values(&drifters, "x_wrapped"), values(&drifters, "y_wrapped"));
    let mut k = 0;
    for (t, s) in set.trajectories.iter().zip(&sample) {
        // 0.1 model time units of 1000 steps, one point every 10: 100 points over 6 hours.
        assert_eq!(t.time.len(), 100);
        assert_eq!(*t.time.last().unwrap(), times.values[*s as usize]);
        assert!((t.time[0] - (times.values[*s as usize] - 0.25 + 0.0025)).abs() < 1e-12);
        for (x, y) in t.x.iter().zip(&t.y) {
            assert_eq!((xw[k], yw[k]), (x.rem_euclid(1.0), y.rem_euclid(1.0)));
            k += 1;
        }
    }
    // The second drifter of each sample starts from the other release point: tracks differ.
    assert_ne!(set.trajectories[0].x, set.trajectories[1].x);
}

#[test]
fn gaussian_samples_have_the_written_covariance() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    ok(&["synth", "gaussian", "--out", out.to_str().unwrap(), "--samples", "20000"]);
    let nc = NcFile::open(out.join("gaussian.nc")).unwrap();
    let (u, v) = (values(&nc, "u"), values(&nc, "v"));
    let (cuu, cuv, cvv) = (values(&nc, "C_uu"), values(&nc, "C_uv"), values(&nc, "C_vv"));
    let (p, k, n) = (12, 5, 20_000);
    assert_eq!((u.len(), v.len(), cuu.len(), cuv.len(), cvv.len()), (n * p, n * k, p * p, p * k, k * k));
    let z = |i: usize, a: usize| if a < p { u[i * p + a] } else { v[i * k + a - p] };
    let exact = |a: usize, b: usize| match (a < p, b < p) {
        (true, true) => cuu[a * p + b],
        (true, false) => cuv[a * k + b - p],
        (false, true) => cuv[b * k + a - p],
        (false, false) => cvv[(a - p) * k + b - p],
    };
    for a in 0..p + k {
        for b in 0..p + k {
            let emp = (0..n).map(|i| z(i, a) * z(i, b)).sum::<f64>() / n as f64;
            // Variance of the sample second moment of a mean-zero Gaussian pair: (C_aa C_bb + C_ab^2) / n.
            let sd = ((exact(a, a) * exact(b, b) + exact(a, b).powi(2)) / n as f64).sqrt();
            assert!((emp - exact(a, b)).abs() < 5.0 * sd, "entry ({a},{b}): empirical {emp}, written {}, sd {sd}", exact(a, b));
        }
    }
}

#[test]
fn same_seed_same_numbers_other_seed_other_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = tmp.path().join(name);
        ok(&["synth", "lorenz96", "--out", out.to_str().unwrap(), "--samples", "20", "--set", &format!("run.seed={seed}")]);
        values(&NcFile::open(out.join("lorenz96.nc")).unwrap(), "obs")
    };
    assert_eq!(run("a", "7"), run("b", "7"));
    assert_ne!(run("a", "7"), run("c", "8"));
}

#[test]
fn bad_configuration_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    let cases: [(&[&str], &str); 4] = [
        (&["--set", "synth.lagrangian.output_every=7"], "synth.lagrangian.output_every"),
        (&["--set", "synth.lagrangian.start=yesterday"], "synth.lagrangian.start"),
        (&["--set", "synth.lagrangian.dt=0"], "synth.lagrangian.dt"),
        (&["--set", "synth.lagrangian.no_such_key=1"], "no_such_key"),
    ];
    for (extra, key) in cases {
        let mut args = vec!["synth", "lagrangian", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let res = contrada(&args);
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(key), "{args:?}: error does not name {key}: {err}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "partial output left behind");
}

#[test]
fn synth_pipeline_stage_runs_once() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = tmp.path().join("p.toml");
    let text = "[pipeline]\nname = \"t\"\n[[pipeline.stages]]\nname = \"truth\"\nkind = \"synth\"\noptions = { flow = \"lorenz96\", samples = 30 }\n";
    std::fs::write(&pipeline, text).unwrap();
    let run_dir = tmp.path().join("run");
    let args = ["run", pipeline.to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()];
    assert!(ok(&args).contains("1 stage(s) run"));
    let file = run_dir.join("truth").join("lorenz96.nc");
    assert_eq!(NcFile::open(&file).unwrap().dim_len("time").unwrap(), 31);
    assert!(run_dir.join("truth").join("manifest.json").exists());
    assert!(ok(&args).contains("already done"));

    let bad = text.replace("samples = 30", "sample = 30");
    std::fs::write(&pipeline, bad).unwrap();
    let res = contrada(&args);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("pipeline.stages.truth.options"), "{err}");
}
