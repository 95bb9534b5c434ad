//! The `evaluate` stage end to end through the real binary, on the shipped Lagrangian sample data
//! (`today` as truth, `archive` as the bank) and on analyses the tests write themselves in the
//! analysis-file layout: the climatology's RMSE against a hand computation, a perfect method
//! (the truth as every member), a calibrated synthetic ensemble (flat rank histogram, spread/skill
//! near 1), the report's tables and plots, and bad inputs.

use crate::common;

use std::path::{Path, PathBuf};

use common::{stderr, stdout};
use contrada::cf::{NcFile, NcWriter};
use contrada::config::IoConfig;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const VARS: [&str; 3] = ["psi", "u", "v"];

/// HDF5 holds a lock on a file while it is written; a child process spawned meanwhile (by another
/// test thread) inherits the descriptor and the lock, so a later `contrada` could not open the
/// file. Test files are written, and the binary run, one at a time.
static HDF5_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HDF5_FILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn contrada_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let _guard = one_at_a_time();
    common::contrada_in(dir, args)
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/lagrangian").join(rel)
}

fn truth_path() -> PathBuf {
    sample("today/lagrangian_states.nc")
}

fn read(path: &Path, var: &str) -> Vec<f64> {
    NcFile::open(path).unwrap().read(var).unwrap().data.into_raw_vec_and_offset().0
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The scores of method `name` for `var` in a scores.json.
fn score<'a>(scores: &'a serde_json::Value, name: &str, var: &str) -> &'a serde_json::Value {
    let m = scores["methods"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no method {name}: {scores}"));
    &m["variables"][var]
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Writes an analysis file in the convention's layout: `var(member, y, x)` for each variable
/// (member-major data of `n` members), `var_mean` and `var_spread` over `(y, x)`, a one-step
/// `time` and the global attributes `method` and `window`.
fn write_analysis(path: &Path, method: &str, time: Option<(&str, f64)>, grid: (&[f64], &[f64]), n: usize, vars: &[(&str, Vec<f64>)]) {
    let (x, y) = grid;
    let d = x.len() * y.len();
    let _guard = one_at_a_time();
    let mut w = NcWriter::create(path, &IoConfig::default(), "test analysis").unwrap();
    w.dim("member", n).unwrap();
    w.coord("y", y, vec![("units", "1".into()), ("axis", "Y".into())]).unwrap();
    w.coord("x", x, vec![("units", "1".into()), ("axis", "X".into())]).unwrap();
    if let Some((units, t)) = time {
        w.coord("time", &[t], vec![("units", units.into()), ("standard_name", "time".into()), ("calendar", "standard".into())]).unwrap();
    }
    for (name, data) in vars {
        assert_eq!(data.len(), n * d);
        let mean: Vec<f64> = (0..d).map(|i| (0..n).map(|m| data[m * d + i]).sum::<f64>() / n as f64).collect();
        let sd: Vec<f64> = (0..d).map(|i| ((0..n).map(|m| (data[m * d + i] - mean[i]).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()).collect();
        w.var_f64(name, &["member", "y", "x"], data, vec![("units", "1".into())]).unwrap();
        w.var_f64(&format!("{name}_mean"), &["y", "x"], &mean, vec![("units", "1".into())]).unwrap();
        w.var_f64(&format!("{name}_spread"), &["y", "x"], &sd, vec![("units", "1".into())]).unwrap();
    }
    w.global("method", method).unwrap();
    w.global("window", "2026-11-28").unwrap();
    w.finish().unwrap();
}

/// The sample truth's grid and time (`days since 2026-11-28 12:00:00`, value 0).
fn sample_grid() -> (Vec<f64>, Vec<f64>) {
    let t = truth_path();
    (read(&t, "x"), read(&t, "y"))
}

const TODAY_UNITS: &str = "days since 2026-11-28 12:00:00";

/// An analysis whose every member is the sample truth.
fn write_perfect(path: &Path, method: &str, n: usize, vars: &[&str]) {
    let (x, y) = sample_grid();
    let fields: Vec<(&str, Vec<f64>)> = vars.iter().map(|v| (*v, read(&truth_path(), v).repeat(n))).collect();
    write_analysis(path, method, Some((TODAY_UNITS, 0.0)), (&x, &y), n, &fields);
}

/// Truth plus independent N(0, sd^2) noise on every member.
fn write_noisy(path: &Path, method: &str, n: usize, sd: f64, seed: u64) {
    let (x, y) = sample_grid();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let fields: Vec<(&str, Vec<f64>)> =
        VARS.iter().map(|v| (*v, read(&truth_path(), v).repeat(n).into_iter().map(|t| t + sd * rng.sample::<f64, _>(StandardNormal)).collect())).collect();
    write_analysis(path, method, Some((TODAY_UNITS, 0.0)), (&x, &y), n, &fields);
}

/// Every file below `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { files_under(&e.path()) } else { vec![e.path()] }).collect()
}

/// Image links `![..](file)` of a Markdown text.
fn images(md: &str) -> Vec<String> {
    md.match_indices("](").filter_map(|(i, _)| md[i + 2..].split(')').next().map(String::from)).filter(|f| f.ends_with(".png")).collect()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert!(bytes.len() > 5000, "{} is suspiciously small", path.display());
}

/// The Markdown table rows under the heading that starts with `### {heading}`.
fn table_rows<'a>(md: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let start = md.find(&format!("### {heading}")).unwrap_or_else(|| panic!("no heading {heading}"));
    md[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn climatology_rmse_and_spread_match_a_hand_computation_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (truth, bank) = (truth_path(), sample("archive/lagrangian_states.nc"));
    let out = contrada_in(dir.path(), &["evaluate", "--out", "out", "--truth", truth.to_str().unwrap(), "--bank", bank.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("out/report.html"), "prints where the report is: {}", stdout(&out));
    let scores = json(&dir.path().join("out/scores.json"));
    assert_eq!(scores["methods"][0]["name"], "climatology");
    assert_eq!(scores["methods"][0]["members"], 512);
    assert_eq!(scores["truth"]["time"], "2026-11-28 12:00:00");
    for var in VARS {
        let (t, b) = (read(&truth, var), read(&bank, var));
        let d = t.len();
        assert_eq!((d, b.len()), (32 * 32, 512 * 32 * 32));
        let (mut se, mut var_sum) = (0.0, 0.0);
        for i in 0..d {
            let mean = (0..512).map(|m| b[m * d + i]).sum::<f64>() / 512.0;
            se += (mean - t[i]).powi(2);
            var_sum += (0..512).map(|m| (b[m * d + i] - mean).powi(2)).sum::<f64>() / 511.0;
        }
        let (rmse, spread) = ((se / d as f64).sqrt(), (var_sum / d as f64).sqrt());
        let s = score(&scores, "climatology", var);
        assert!((num(&s["rmse"]) - rmse).abs() < 1e-12 * rmse, "{var}: {} vs hand {rmse}", s["rmse"]);
        assert!((num(&s["spread"]) - spread).abs() < 1e-12 * spread, "{var}: {} vs hand {spread}", s["spread"]);
        assert_eq!(s["rank_histogram"].as_array().unwrap().len(), 513);
        assert_eq!(s["rank_histogram"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).sum::<u64>(), d as u64);
    }
}

#[test]
fn pipeline_scores_every_method_and_writes_a_readable_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_perfect(&d.join("analysis_perfect.nc"), "reweight", 4, &VARS);
    write_noisy(&d.join("analysis_noisy.nc"), "etkf", 8, 0.05, 1);
    std::fs::write(d.join("diagnostics_perfect.json"), r#"{"method": "reweight", "members": 4, "wall_time_s": 1.5, "peak_rss_bytes": 104857600, "ess": 3.25}"#)
        .unwrap();
    std::fs::write(
        d.join("metrics.csv"),
        "epoch,train_loss,val_loss,r1_u2v,r5_u2v,r1_v2u,r5_v2u\n0,4.1,4.2,0.05,0.2,0.04,0.19\n1,3.0,3.3,0.2,0.5,0.18,0.45\n2,2.2,2.8,0.35,0.7,0.3,0.66\n",
    )
    .unwrap();
    std::fs::write(d.join("recall.json"), r#"{"r1_u2v": 0.31, "r5_u2v": 0.72, "r1_v2u": 0.29, "r5_v2u": 0.69, "n": 512}"#).unwrap();
    let pipeline = format!(
        r#"
[pipeline]
name = "t"

[[pipeline.stages]]
name = "eval"
kind = "evaluate"
[pipeline.stages.inputs]
truth = "{truth}"
bank = "{bank}"
observations = "{obs}"
training = "metrics.csv"
recall = "recall.json"
analysis_perfect = "analysis_perfect.nc"
analysis_noisy = "analysis_noisy.nc"
"#,
        truth = truth_path().display(),
        bank = sample("archive/lagrangian_states.nc").display(),
        obs = sample("today/lagrangian_drifters.nc").display(),
    );
    std::fs::write(d.join("t.toml"), pipeline).unwrap();
    let run = contrada_in(d, &["run", "t.toml", "--run-dir", "runs/t", "--window", "2026-11-28"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let out = d.join("runs/t/eval/2026-11-28");
    let scores = json(&out.join("scores.json"));
    assert_eq!(scores["window"], "2026-11-28");
    let names: Vec<&str> = scores["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["climatology", "noisy", "perfect"]);

    // The truth as every member: no error, no spread, CRPS 0.
    for var in VARS {
        let s = score(&scores, "perfect", var);
        for key in ["rmse", "bias", "spread", "crps"] {
            assert!(num(&s[key]).abs() < 1e-12, "perfect {var} {key} = {}", s[key]);
        }
        // With members equal to the truth every rank is a tie, broken uniformly at random.
        let hist: Vec<u64> = s["rank_histogram"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).collect();
        assert_eq!(hist.len(), 5);
        assert!(hist.iter().all(|&h| h > 100), "{var}: {hist:?}");
        // Noise of sd 0.05 around the truth: RMSE of the 8-member mean ~ 0.05 / sqrt(8).
        let noisy = num(&score(&scores, "noisy", var)["rmse"]);
        assert!((noisy / (0.05 / 8f64.sqrt()) - 1.0).abs() < 0.1, "noisy {var} rmse {noisy}");
    }
    let perfect = scores["methods"].as_array().unwrap().iter().find(|m| m["name"] == "perfect").unwrap();
    assert_eq!((num(&perfect["ess"]), num(&perfect["wall_time_s"]), num(&perfect["peak_rss_bytes"])), (3.25, 1.5, 104857600.0));
    assert_eq!(num(&perfect["recall"]["r1_u2v"]), 0.31, "recall attaches to encoder methods");
    assert!(scores["methods"][1]["recall"].is_null(), "etkf has no encoders");
    assert_eq!(num(&scores["training_last_epoch"]["val_loss"]), 2.8);

    // report.md: per-variable tables whose best RMSE, CRPS (lowest) and |bias| are bold.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for var in VARS {
        let rows = table_rows(&md, &format!("{var} [1]"));
        assert_eq!(rows.len(), 3, "{var}: {rows:?}");
        for (col, key) in [(1, "rmse"), (5, "crps")] {
            let best = names.iter().min_by(|a, b| num(&score(&scores, a, var)[key]).total_cmp(&num(&score(&scores, b, var)[key]))).unwrap();
            assert_eq!(*best, "perfect");
            for row in &rows {
                assert_eq!(row[col].starts_with("**"), row[0] == *best, "{var} {key}: {row:?}");
            }
        }
    }
    let cost = table_rows(&md, "Cost and retrieval");
    let perfect_row = cost.iter().find(|r| r[0] == "perfect").unwrap();
    assert_eq!(perfect_row[1..].to_vec(), ["**3.250**", "**0.3100**", "**0.7200**", "1.500", "100.0"]);
    assert_eq!(cost.iter().find(|r| r[0] == "noisy").unwrap()[2], "n/a");

    // Every image the report shows exists and is a PNG; the expected plots are among them.
    let shown = images(&md);
    for f in &shown {
        assert_png(&out.join(f));
    }
    for f in ["map_psi_perfect.png", "map_v_climatology.png", "tracks_u.png", "rank_psi.png", "training_loss.png", "training_recall.png"] {
        assert!(shown.iter().any(|s| s == f), "{f} not in the report: {shown:?}");
    }
    assert_eq!(shown.len(), 3 * 3 + 3 + 3 + 2);
    // The HTML page stands alone: every image embedded, no file references.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), shown.len());
    assert!(!html.contains(".png\""), "the HTML must not link PNG files");
    assert!(html.contains("<td><b>"), "best values bold in HTML too");
    let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 3);
    assert!(csv.lines().any(|l| l.starts_with("perfect,psi,4,0,0,0,,0,")), "{csv}");

    let again = contrada_in(d, &["run", "t.toml", "--run-dir", "runs/t", "--window", "2026-11-28"]);
    assert!(stdout(&again).contains("already done"), "{}", stdout(&again));
}

/// Writes a states file with `times` time steps of `psi` and `v` over a 64 x 64 grid (plus a
/// non-gridded `coef`, which the default variable choice must skip).
fn write_truth(path: &Path, grid: (&[f64], &[f64]), times: &[f64], fields: &[(&str, Vec<f64>)]) {
    let (x, y) = grid;
    let _guard = one_at_a_time();
    let mut w = NcWriter::create(path, &IoConfig::default(), "test truth").unwrap();
    w.coord("time", times, vec![("units", "hours since 2026-01-01".into()), ("standard_name", "time".into()), ("calendar", "standard".into())]).unwrap();
    w.coord("y", y, vec![("units", "m".into())]).unwrap();
    w.coord("x", x, vec![("units", "m".into())]).unwrap();
    w.dim("coef_index", 2).unwrap();
    w.var_f64("coef", &["time", "coef_index"], &vec![0.0; 2 * times.len()], vec![("units", "1".into())]).unwrap();
    for (name, data) in fields {
        w.var_f64(name, &["time", "y", "x"], data, vec![("units", "m2 s-1".into()), ("long_name", format!("test field {name}").as_str().into())]).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn calibrated_ensemble_is_flat_with_unit_spread_skill_and_a_narrow_one_is_not() {
    // Truth and members are exchangeable draws N(mu_i, 1) at every point: perfectly calibrated.
    let dir = tempfile::tempdir().unwrap();
    let (nx, ny, n) = (64, 64, 10);
    let d = nx * ny;
    let x: Vec<f64> = (0..nx).map(|i| i as f64 * 1000.0).collect();
    let y: Vec<f64> = (0..ny).map(|j| j as f64 * 1000.0).collect();
    let mu = |var: usize, i: usize| 5.0 * ((i % nx) as f64 * 0.1 + var as f64).sin() + 3.0 * ((i / nx) as f64 * 0.07).cos();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut draw = |var: usize, i: usize| mu(var, i) + rng.sample::<f64, _>(StandardNormal);
    // Three truth times; only the middle one (hour 36) is the analysis time. The others are far
    // off, so scoring against the wrong time would show.
    let mut truths = Vec::new();
    let mut members = Vec::new();
    let mut narrow = Vec::new();
    for (k, var) in ["psi", "v"].into_iter().enumerate() {
        let t: Vec<f64> = (0..d).map(|i| draw(k, i)).collect();
        let mut all = vec![100.0; d];
        all.extend(&t);
        all.extend(vec![-100.0; d]);
        truths.push((var, all));
        let m: Vec<f64> = (0..n * d).map(|j| draw(k, j % d)).collect();
        narrow.push((var, m.iter().enumerate().map(|(j, v)| mu(k, j % d) + 0.5 * (v - mu(k, j % d))).collect()));
        members.push((var, m));
    }
    write_truth(&dir.path().join("truth.nc"), (&x, &y), &[12.0, 36.0, 60.0], &truths);
    write_analysis(&dir.path().join("analysis_calibrated.nc"), "enkf", Some(("days since 2026-01-01", 1.5)), (&x, &y), n, &members);
    write_analysis(&dir.path().join("analysis_narrow.nc"), "enkf", Some(("hours since 2026-01-02 12:00", 0.0)), (&x, &y), n, &narrow);
    let out = contrada_in(
        dir.path(),
        &["evaluate", "--out", "out", "--truth", "truth.nc", "--analysis", "analysis_calibrated.nc", "--analysis", "narrow=analysis_narrow.nc"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let scores = json(&dir.path().join("out/scores.json"));
    assert_eq!(scores["truth"]["index"], 1, "{}", scores["truth"]);
    assert_eq!(scores["truth"]["time"], "2026-01-02 12:00:00");
    let vars: Vec<&str> = scores["variables"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["psi", "v"], "coef is not gridded and not in the analyses");
    assert_eq!(scores["variables"][0]["units"], "m2 s-1");
    let expected = d as f64 / (n + 1) as f64;
    for var in ["psi", "v"] {
        let s = score(&scores, "calibrated", var);
        // spread/skill of 4096 independent points: sd about 0.015.
        assert!((num(&s["spread_skill"]) - 1.0).abs() < 0.06, "{var}: spread/skill {}", s["spread_skill"]);
        // CRPS of N(0, 1) against an exchangeable draw is 1/sqrt(pi).
        assert!((num(&s["crps"]) - 1.0 / std::f64::consts::PI.sqrt()).abs() < 0.03, "{var}: crps {}", s["crps"]);
        let hist: Vec<f64> = s["rank_histogram"].as_array().unwrap().iter().map(num).collect();
        assert_eq!(hist.len(), n + 1);
        // Each bin is Binomial(4096, 1/11): sd 18.4; 5 sd bounds. Pearson's chi2 has 10 degrees of
        // freedom: P(chi2 > 35) is below 1e-4.
        assert!(hist.iter().all(|h| (h - expected).abs() < 92.0), "{var}: {hist:?}");
        assert!(num(&s["rank_chi2"]) < 35.0, "{var}: chi2 {}", s["rank_chi2"]);
        // Half the spread: over-confident, U-shaped.
        let s = score(&scores, "narrow", var);
        assert!(num(&s["spread_skill"]) < 0.7, "{var}: narrow spread/skill {}", s["spread_skill"]);
        let hist: Vec<f64> = s["rank_histogram"].as_array().unwrap().iter().map(num).collect();
        assert!(hist[0] > 2.0 * expected && hist[n] > 2.0 * expected, "{var}: narrow {hist:?}");
    }
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    let rows = table_rows(&md, "psi [m2 s-1]");
    let calibrated = rows.iter().find(|r| r[0] == "calibrated").unwrap();
    assert!(calibrated[4].starts_with("**"), "spread/skill nearest 1 is bold: {rows:?}");
}

#[test]
fn near_observation_scores_take_the_grid_points_near_the_tracks_across_the_periodic_edge() {
    use contrada::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged};
    use contrada::cf::time::{Calendar, TimeUnits};
    let dir = tempfile::tempdir().unwrap();
    // A 4 x 4 grid on the periodic unit square; the analysis is exact at (x 0, y 0.25) and at
    // (x 0.5, y 0.75), and off by 1 (every member) elsewhere.
    let g = [0.0, 0.25, 0.5, 0.75];
    let truth: Vec<f64> = (0..16).map(|k| k as f64 * 0.1).collect();
    let exact = [4, 14];
    let members: Vec<f64> = (0..3 * 16).map(|j| truth[j % 16] + if exact.contains(&(j % 16)) { 0.0 } else { 1.0 }).collect();
    write_truth(&dir.path().join("truth.nc"), (&g, &g), &[0.0], &[("psi", truth)]);
    write_analysis(&dir.path().join("analysis_a.nc"), "etkf", Some(("hours since 2026-01-01", 0.0)), (&g, &g), 3, &[("psi", members)]);
    // Fixes 0.03 from (0, 0.25) only across x = 1, and 0.05 from (0.5, 0.75).
    let track = |x: Vec<f64>, y: Vec<f64>| Trajectory { id: "0".into(), time: (0..x.len()).map(|i| i as f64).collect(), x, y };
    let set = TrajectorySet {
        time_units: TimeUnits::parse("hours since 2026-01-01", Calendar::Standard).unwrap(),
        trajectories: vec![track(vec![0.97, 0.98], vec![0.26, 0.25]), track(vec![0.5], vec![0.8])],
        layout: Layout::ContiguousRagged,
        names: ["time".into(), "x".into(), "y".into()],
    };
    {
        let _guard = one_at_a_time();
        let mut w = NcWriter::create(&dir.path().join("tracks.nc"), &IoConfig::default(), "test tracks").unwrap();
        write_ragged(&mut w, &set, vec![("standard_name", "longitude".into())], vec![("standard_name", "latitude".into())]).unwrap();
        w.finish().unwrap();
    }
    let run = |extra: &[&str]| {
        let mut args =
            vec!["evaluate", "--out", "out", "--truth", "truth.nc", "--analysis", "analysis_a.nc", "--observations", "tracks.nc", "--near-observations", "0.1"];
        args.extend(extra);
        let out = contrada_in(dir.path(), &args);
        assert!(out.status.success(), "{}", stderr(&out));
        json(&dir.path().join("out/scores.json"))
    };
    let scores = run(&["--period", "1,1"]);
    let vars: Vec<&str> = scores["variables"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["psi", "psi_near_obs"]);
    assert_eq!(scores["variables"][1]["points"], 2);
    assert!(num(&score(&scores, "a", "psi_near_obs")["rmse"]) < 1e-12);
    assert!((num(&score(&scores, "a", "psi")["rmse"]) - (14.0f64 / 16.0).sqrt()).abs() < 1e-12);
    // On the plane the first track is 0.72 from the grid's x = 0 column: one point is near.
    let scores = run(&[]);
    assert_eq!(scores["variables"][1]["points"], 1);
    assert!(num(&score(&scores, "a", "psi_near_obs")["rmse"]) < 1e-12);
    // Without the tracks there is nothing to be near.
    let out = contrada_in(dir.path(), &["evaluate", "--out", "out2", "--truth", "truth.nc", "--analysis", "analysis_a.nc", "--near-observations", "0.1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("near_observations") && stderr(&out).contains("observations"), "{}", stderr(&out));
    assert!(!dir.path().join("out2").exists());
}

#[test]
fn bad_inputs_exit_2_naming_the_file_and_variable_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_perfect(&d.join("analysis_full.nc"), "etkf", 3, &VARS);
    write_perfect(&d.join("analysis_partial.nc"), "letkf", 3, &["psi", "v"]);
    let truth = truth_path();
    let truth = truth.to_str().unwrap();
    let out = contrada_in(d, &["evaluate", "--out", "out", "--truth", truth, "--analysis", "analysis_full.nc", "--analysis", "analysis_partial.nc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("analysis_partial.nc") && err.contains("`u`"), "{err}");
    assert!(!d.join("out").exists() && !d.join(".out.partial").exists(), "nothing may be written");

    // An explicit variable the analysis lacks, through a pipeline: the stage directory stays absent.
    let pipeline = format!(
        "[[pipeline.stages]]\nname = \"eval\"\nkind = \"evaluate\"\noptions = {{ variables = [\"u\"] }}\ninputs = {{ truth = \"{truth}\", analysis = \"analysis_partial.nc\" }}\n"
    );
    std::fs::write(d.join("p.toml"), pipeline).unwrap();
    let out = contrada_in(d, &["run", "p.toml", "--run-dir", "runs/p"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("analysis_partial.nc") && stderr(&out).contains("`u`"), "{}", stderr(&out));
    assert_eq!(files_under(&d.join("runs/p/eval")), Vec::<PathBuf>::new(), "no output of the failed stage");

    // Options and input names are checked before anything runs.
    for (options, inputs, says) in [
        ("{ colour = \"red\" }", format!("{{ truth = \"{truth}\", bank = \"{truth}\" }}"), "options.colour"),
        ("{}", format!("{{ truth = \"{truth}\", forecast = \"{truth}\" }}"), "inputs.forecast"),
        ("{ truth_time = \"yesterday\" }", format!("{{ truth = \"{truth}\", bank = \"{truth}\" }}"), "options.truth_time"),
    ] {
        std::fs::write(d.join("q.toml"), format!("[[pipeline.stages]]\nname = \"eval\"\nkind = \"evaluate\"\noptions = {options}\ninputs = {inputs}\n"))
            .unwrap();
        let out = contrada_in(d, &["run", "q.toml", "--run-dir", "runs/q"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
    }

    // Analyses for different times cannot be compared in one table.
    let (x, y) = sample_grid();
    let fields: Vec<(&str, Vec<f64>)> = VARS.iter().map(|v| (*v, read(&truth_path(), v).repeat(2))).collect();
    write_analysis(&d.join("analysis_later.nc"), "etkf", Some((TODAY_UNITS, 1.0)), (&x, &y), 2, &fields);
    let out = contrada_in(d, &["evaluate", "--out", "out", "--truth", truth, "--analysis", "analysis_full.nc", "--analysis", "analysis_later.nc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("analysis_later.nc") && stderr(&out).contains("differs"), "{}", stderr(&out));
    assert!(!d.join("out").exists());
    // Alone, an analysis whose time the truth lacks is scored against the truth's only time.
    let out = contrada_in(d, &["evaluate", "--out", "out", "--truth", truth, "--analysis", "analysis_later.nc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores = json(&d.join("out/scores.json"));
    assert_eq!((scores["truth"]["index"].as_u64(), num(&score(&scores, "later", "psi")["rmse"])), (Some(0), 0.0));
}
