//! The hostile-input corpus: bad files, bad configuration and bad command lines across every
//! command, each made here with the netcdf crate (no opaque binaries). A rejected case must meet
//! the standard: exit code 2, exactly one `error:` line on stderr naming the file, variable or key
//! at fault, no panic or abort, and nothing new left in the working directory (no partial
//! output). Data that quality control may drop instead (a few bad positions) must be said: exit 0
//! and a WARN line naming the file and the count.
//!
//! One test runs the whole corpus, prints `hostile corpus: P of N cases met the standard` and
//! fails listing every case that did not.

use crate::common;

use std::path::{Path, PathBuf};

use common::{contrada_in, stderr};
use contrada::cf::NcWriter;
use contrada::config::IoConfig;
use netcdf::AttributeValue;

type Attrs = Vec<(&'static str, AttributeValue)>;

const NX: usize = 5;
const NY: usize = 4;
const NT: usize = 24;

fn time_attrs(units: &str, calendar: &str) -> Attrs {
    vec![("standard_name", "time".into()), ("units", units.to_string().into()), ("calendar", calendar.to_string().into()), ("axis", "T".into())]
}

fn good_time() -> Attrs {
    time_attrs("days since 2026-01-01", "standard")
}

fn write(path: &Path, f: impl FnOnce(&mut NcWriter)) {
    let mut w = NcWriter::create(path, &IoConfig::default(), "hostile corpus").unwrap();
    f(&mut w);
    w.finish().unwrap();
}

/// What a gridded (time, y, x) file holds; each case changes one thing.
#[derive(Clone)]
struct Grid {
    times: Vec<f64>,
    time: Attrs,
    var: &'static str,
    value: fn(usize) -> f64,
    var_attrs: Attrs,
    x: Vec<f64>,
    members: usize,
}

impl Grid {
    fn states() -> Grid {
        Grid {
            times: (0..NT).map(|t| t as f64).collect(),
            time: good_time(),
            var: "psi",
            value: |i| ((i * 7919) % 101) as f64 / 10.0,
            var_attrs: vec![("units", "m2 s-1".into())],
            x: (0..NX).map(|i| i as f64 * 1000.0).collect(),
            members: 0,
        }
    }

    fn obs() -> Grid {
        Grid { var: "psi_obs", value: |i| if i % 3 == 0 { ((i * 31) % 17) as f64 / 4.0 } else { f64::NAN }, ..Grid::states() }
    }

    fn write(&self, path: &Path) {
        let g = self.clone();
        write(path, |w| {
            w.coord("time", &g.times, g.time.clone()).unwrap();
            let mut dims = vec!["time"];
            if g.members > 0 {
                w.dim("member", g.members).unwrap();
                dims.push("member");
            }
            w.coord(
                "y",
                &(0..NY).map(|i| i as f64 * 1000.0).collect::<Vec<_>>(),
                vec![("units", "m".into()), ("standard_name", "projection_y_coordinate".into())],
            )
            .unwrap();
            w.coord("x", &g.x, vec![("units", "m".into()), ("standard_name", "projection_x_coordinate".into())]).unwrap();
            dims.extend(["y", "x"]);
            let n = g.times.len() * g.members.max(1) * NY * g.x.len();
            let data: Vec<f64> = (0..n).map(g.value).collect();
            w.var_f64(g.var, &dims, &data, g.var_attrs.clone()).unwrap();
        });
    }
}

/// A CF contiguous ragged trajectory file: `rows` fixes per drifter, positions drifting east.
#[derive(Clone)]
struct Drifters {
    rows: Vec<i32>,
    time: fn(usize) -> f64,
    x: fn(usize) -> f64,
    y: fn(usize) -> f64,
    time_units: &'static str,
    feature: Option<&'static str>,
}

impl Drifters {
    fn good() -> Drifters {
        Drifters {
            rows: vec![50, 50],
            // Two drifters over the same days: fix k of a drifter every half hour from day 1.
            time: |i| 1.0 + (i % 50) as f64 / 48.0,
            x: |i| 100.0 + 30.0 * (i % 50) as f64,
            y: |i| 500.0 + 1000.0 * (i / 50) as f64,
            time_units: "days since 2026-01-01",
            feature: Some("trajectory"),
        }
    }

    fn write(&self, path: &Path) {
        let d = self.clone();
        write(path, |w| {
            if let Some(f) = d.feature {
                w.global("featureType", f).unwrap();
            }
            // The sample dimension holds the good file's 100 fixes whatever `rows` claims.
            let n = 100;
            w.dim("trajectory", d.rows.len()).unwrap();
            w.dim("obs", n).unwrap();
            w.var_i32("trajectory", &["trajectory"], &(0..d.rows.len() as i32).collect::<Vec<_>>(), vec![("cf_role", "trajectory_id".into())]).unwrap();
            w.var_i32("rowSize", &["trajectory"], &d.rows, vec![("sample_dimension", "obs".into()), ("long_name", "fixes per trajectory".into())]).unwrap();
            let v = |f: fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
            w.var_f64("time", &["obs"], &v(d.time), time_attrs(d.time_units, "standard")).unwrap();
            w.var_f64("x", &["obs"], &v(d.x), vec![("units", "m".into()), ("axis", "X".into()), ("standard_name", "projection_x_coordinate".into())]).unwrap();
            w.var_f64("y", &["obs"], &v(d.y), vec![("units", "m".into()), ("axis", "Y".into()), ("standard_name", "projection_y_coordinate".into())]).unwrap();
        });
    }
}

fn sample(rel: &str) -> String {
    format!("{}/sample_data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A file declaring a dimension of three billion (no data written: the file stays small).
fn huge(path: &Path) {
    write(path, |w| {
        w.global("featureType", "trajectory").unwrap();
        w.dim("trajectory", 1).unwrap();
        w.dim("obs", 3_000_000_000).unwrap();
        w.var_i32("rowSize", &["trajectory"], &[0], vec![("sample_dimension", "obs".into())]).unwrap();
        w.define::<f64>("time", &["obs"], &[1 << 20], time_attrs("days since 2026-01-01", "standard")).unwrap();
        w.define::<f64>("x", &["obs"], &[1 << 20], vec![("units", "m".into()), ("axis", "X".into())]).unwrap();
        w.define::<f64>("y", &["obs"], &[1 << 20], vec![("units", "m".into()), ("axis", "Y".into())]).unwrap();
    });
}

const INGEST: &str = r#"
[ingest.state]
variables = ["psi"]

[[ingest.observations]]
name = "obs"
kind = "gridded"
variables = ["psi_obs"]
error_std = 0.1
window_before = "12 hours"
window_after = "12 hours"

[ingest.split]
blocks = 4
"#;

const INGEST_DRIFTERS: &str = r#"
[ingest.state]
variables = ["psi"]

[[ingest.observations]]
name = "drifters"
kind = "trajectories"
segment = "6 hours"
points = 5
"#;

/// A two-stage pipeline (synth, then baseline) whose files the run cases break.
fn pipeline_text(extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "p"

[[pipeline.stages]]
name = "first"
kind = "synth"
options = {{ flow = "lorenz96", samples = 5 }}

[[pipeline.stages]]
name = "second"
kind = "synth"
options = {{ flow = "lorenz96", samples = 5 }}
{extra}
"#
    )
}

/// A third stage for [`pipeline_text`]: a baseline analysis of the corpus's good files.
const BASELINE_STAGE: &str = r#"
[[pipeline.stages]]
name = "check"
kind = "baseline"
inputs = { prior = "prior.nc", observations = "obs_day.nc" }
options = { method = "etkf", variable = "psi", obs_variable = "psi_obs", obs_error_std = 0.5 }
"#;

/// One hostile case: files to make, the command, what stderr must name.
struct Case {
    name: &'static str,
    setup: Box<dyn Fn(&Path)>,
    args: Vec<String>,
    needles: Vec<String>,
    /// Dropped with a warning (exit 0) rather than rejected (exit 2).
    warn: bool,
}

fn case(name: &'static str, setup: impl Fn(&Path) + 'static, args: &[&str], needles: &[&str]) -> Case {
    Case {
        name,
        setup: Box::new(setup),
        args: args.iter().map(|s| s.to_string()).collect(),
        needles: needles.iter().map(|s| s.to_string()).collect(),
        warn: false,
    }
}

fn warned(c: Case) -> Case {
    Case { warn: true, ..c }
}

/// The good inputs every case starts from (a case then breaks one of them).
fn base(d: &Path) {
    Grid::states().write(&d.join("states.nc"));
    Grid::obs().write(&d.join("obs.nc"));
    Grid { members: 8, times: vec![3.0], ..Grid::states() }.write(&d.join("prior.nc"));
    Grid { times: vec![3.0], ..Grid::obs() }.write(&d.join("obs_day.nc"));
    Drifters::good().write(&d.join("drifters.nc"));
    std::fs::write(d.join("ingest.toml"), INGEST).unwrap();
    std::fs::write(d.join("drifters.toml"), INGEST_DRIFTERS).unwrap();
    std::fs::write(d.join("p.toml"), pipeline_text("")).unwrap();
}

fn text(name: &'static str, content: &'static str) -> impl Fn(&Path) {
    move |d: &Path| std::fs::write(d.join(name), content).unwrap()
}

fn ingest_args(config: &str, inputs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["ingest".into(), "--config".into(), config.into(), "--out".into(), "out".into()];
    for i in inputs {
        v.extend(["--input".to_string(), i.to_string()]);
    }
    v
}

fn baseline_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "baseline",
        "--prior",
        "prior.nc",
        "--observations",
        "obs_day.nc",
        "--out",
        "out",
        "--variable",
        "psi",
        "--obs-variable",
        "psi_obs",
        "--obs-error-std",
        "0.5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn with_args(mut c: Case, args: Vec<String>) -> Case {
    c.args = args;
    c
}

fn corpus() -> Vec<Case> {
    let none = |_: &Path| {};
    let gridded_ingest = ingest_args("ingest.toml", &["states=states.nc", "obs=obs.nc"]);
    let ing = |name: &'static str, setup: Box<dyn Fn(&Path)>, inputs: &[&str], needles: &[&str]| {
        with_args(Case { name, setup, args: vec![], needles: needles.iter().map(|s| s.to_string()).collect(), warn: false }, ingest_args("ingest.toml", inputs))
    };
    let grid = |name: &'static str, g: Grid| -> Box<dyn Fn(&Path)> { Box::new(move |d: &Path| g.write(&d.join(name))) };
    let drift = |name: &'static str, g: Drifters| -> Box<dyn Fn(&Path)> { Box::new(move |d: &Path| g.write(&d.join(name))) };
    let v = vec![
        // ---- inspect: files that are not what they claim ----
        case("inspect: missing file", none, &["inspect", "absent.nc"], &["absent.nc", "not found"]),
        case("inspect: empty file", text("empty.nc", ""), &["inspect", "empty.nc"], &["empty.nc", "not a NetCDF file"]),
        case("inspect: CSV named .nc", text("table.nc", "time,psi\n0,1\n"), &["inspect", "table.nc"], &["table.nc", "not a NetCDF file"]),
        case(
            "inspect: truncated HDF5",
            |d: &Path| {
                Grid::states().write(&d.join("full.nc"));
                let b = std::fs::read(d.join("full.nc")).unwrap();
                std::fs::write(d.join("cut.nc"), &b[..b.len() / 2]).unwrap();
                std::fs::remove_file(d.join("full.nc")).unwrap();
            },
            &["inspect", "cut.nc"],
            &["cut.nc", "truncated or corrupt"],
        ),
        case("inspect: a directory", |d: &Path| std::fs::create_dir(d.join("dir.nc")).unwrap(), &["inspect", "dir.nc"], &["dir.nc", "directory"]),
        case("inspect: path with spaces, missing", none, &["inspect", "my ocean/states 2026.nc"], &["my ocean/states 2026.nc", "not found"]),
        case("inspect: huge declared dimension", |d: &Path| huge(&d.join("huge.nc")), &["inspect", "huge.nc"], &["huge.nc", "bytes"]),
        case(
            "inspect: unknown calendar",
            grid("cal.nc", Grid { time: time_attrs("days since 2026-01-01", "martian"), ..Grid::states() }),
            &["inspect", "cal.nc"],
            &["cal.nc", "time", "martian"],
        ),
        case(
            "inspect: unparsable time units",
            grid("units.nc", Grid { time: time_attrs("fortnights since 2026-01-01", "standard"), ..Grid::states() }),
            &["inspect", "units.nc"],
            &["units.nc", "time", "fortnights"],
        ),
        case(
            "inspect: duplicate times",
            grid("dup.nc", Grid { times: (0..NT).map(|t| (t / 2) as f64).collect(), ..Grid::states() }),
            &["inspect", "dup.nc"],
            &["dup.nc", "time", "increasing"],
        ),
        case(
            "inspect: NaN drifter position",
            drift("nanpos.nc", Drifters { x: |i| if i == 7 { f64::NAN } else { i as f64 }, ..Drifters::good() }),
            &["inspect", "nanpos.nc"],
            &["nanpos.nc", "`x`"],
        ),
        case(
            "inspect: Inf drifter position",
            drift("infpos.nc", Drifters { y: |i| if i == 9 { f64::INFINITY } else { i as f64 }, ..Drifters::good() }),
            &["inspect", "infpos.nc"],
            &["infpos.nc", "`y`"],
        ),
        case(
            "inspect: drifter times not monotonic",
            drift("backwards.nc", Drifters { time: |i| if i % 50 == 10 { 0.5 } else { 1.0 + (i % 50) as f64 / 48.0 }, ..Drifters::good() }),
            &["inspect", "backwards.nc"],
            &["backwards.nc", "time"],
        ),
        case(
            "inspect: DSG without featureType",
            drift("nofeature.nc", Drifters { feature: None, ..Drifters::good() }),
            &["inspect", "nofeature.nc"],
            &["nofeature.nc", "featureType"],
        ),
        case(
            "inspect: latitude beyond the pole",
            |d: &Path| {
                write(&d.join("lat.nc"), |w| {
                    w.coord("lat", &[80.0, 95.0], vec![("units", "degrees_north".into()), ("standard_name", "latitude".into())]).unwrap();
                    w.coord("lon", &[0.0, 1.0], vec![("units", "degrees_east".into()), ("standard_name", "longitude".into())]).unwrap();
                    w.var_f64("sst", &["lat", "lon"], &[1.0, 2.0, 3.0, 4.0], vec![("units", "K".into())]).unwrap();
                })
            },
            &["inspect", "lat.nc"],
            &["lat.nc", "lat", "90"],
        ),
        case(
            "inspect: row sizes that do not add up",
            drift("rows.nc", Drifters { rows: vec![50, 40], ..Drifters::good() }),
            &["inspect", "rows.nc"],
            &["rows.nc", "rowSize", "sum"],
        ),
        case(
            "inspect: negative row size",
            drift("negrow.nc", Drifters { rows: vec![120, -20], ..Drifters::good() }),
            &["inspect", "negrow.nc"],
            &["negrow.nc", "rowSize"],
        ),
        case("inspect: --expect without dimensions", none, &["inspect", "states.nc", "--expect", "psi"], &["--expect psi", "VAR=DIM"]),
        case("inspect: --expect of a missing variable", none, &["inspect", "states.nc", "--expect", "ssh=time,y,x"], &["states.nc", "ssh"]),
        // ---- ingest: configuration ----
        with_args(case("ingest: config file missing", none, &[], &["missing.toml"]), ingest_args("missing.toml", &["states=states.nc", "obs=obs.nc"])),
        with_args(
            case("ingest: TOML syntax error", text("bad.toml", "[ingest.state\nvariables = [\"psi\"]\n"), &[], &["bad.toml"]),
            ingest_args("bad.toml", &["states=states.nc", "obs=obs.nc"]),
        ),
        with_args(
            case("ingest: misspelt key", text("typo.toml", "[ingest.state]\nvariabels = [\"psi\"]\n"), &[], &["typo.toml", "variabels"]),
            ingest_args("typo.toml", &["states=states.nc"]),
        ),
        with_args(
            case("ingest: wrong type", text("type.toml", "[ingest.state]\nvariables = \"psi\"\n"), &[], &["type.toml", "ingest.state.variables"]),
            ingest_args("type.toml", &["states=states.nc"]),
        ),
        with_args(
            case("ingest: no state variables", text("novars.toml", "[ingest.state]\nvariables = []\n"), &[], &["ingest.state.variables"]),
            ingest_args("novars.toml", &["states=states.nc"]),
        ),
        with_args(case("ingest: negative error", none, &[], &["error_std"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.observations=[{name=\"obs\", kind=\"gridded\", variables=[\"psi_obs\"], error_std=-0.1}]".into()]);
            a
        }),
        with_args(case("ingest: zero error", none, &[], &["error_std"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.observations=[{name=\"obs\", kind=\"gridded\", variables=[\"psi_obs\"], error_std=0.0}]".into()]);
            a
        }),
        with_args(case("ingest: unknown observation kind", none, &[], &["kind", "satellite"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.observations=[{name=\"obs\", kind=\"satellite\", variables=[\"psi_obs\"]}]".into()]);
            a
        }),
        with_args(case("ingest: split fractions", none, &[], &["ingest.split"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.split.train=0.9".into()]);
            a
        }),
        with_args(case("ingest: precision f16", none, &[], &["ingest.precision", "f16"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.precision=\"f16\"".into()]);
            a
        }),
        with_args(case("ingest: tolerance not a duration", none, &[], &["ingest.tolerance", "soon"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.tolerance=\"soon\"".into()]);
            a
        }),
        with_args(case("ingest: --set without =", none, &[], &["--set", "KEY=VALUE"]), {
            let mut a = gridded_ingest.clone();
            a.extend(["--set".into(), "ingest.tolerance".into()]);
            a
        }),
        with_args(case("ingest: --input without =", none, &[], &["--input", "NAME=PATH"]), ingest_args("ingest.toml", &["states.nc"])),
        with_args(
            case("ingest: input the config does not name", none, &[], &["sst"]),
            ingest_args("ingest.toml", &["states=states.nc", "obs=obs.nc", "sst=obs.nc"]),
        ),
        with_args(case("ingest: observation input not given", none, &[], &["obs"]), ingest_args("ingest.toml", &["states=states.nc"])),
        with_args(case("ingest: segment in parsecs", none, &[], &["segment", "parsecs"]), {
            let mut a = ingest_args("drifters.toml", &["states=states.nc", "drifters=drifters.nc"]);
            a.extend(["--set".into(), "ingest.observations=[{name=\"drifters\", kind=\"trajectories\", segment=\"5 parsecs\", points=5}]".into()]);
            a
        }),
        // ---- ingest: files ----
        ing("ingest: states file missing", Box::new(none), &["states=nowhere.nc", "obs=obs.nc"], &["nowhere.nc"]),
        ing("ingest: states path with spaces missing", Box::new(none), &["states=my states/ocean 1.nc", "obs=obs.nc"], &["my states/ocean 1.nc"]),
        ing("ingest: pattern matching nothing", Box::new(none), &["states=archive/ocean_*.nc", "obs=obs.nc"], &["archive/ocean_*.nc", "matches no file"]),
        ing("ingest: states not NetCDF", Box::new(text("s.nc", "hello")), &["states=s.nc", "obs=obs.nc"], &["s.nc", "not a NetCDF file"]),
        ing("ingest: observations empty file", Box::new(text("o.nc", "")), &["states=states.nc", "obs=o.nc"], &["o.nc", "not a NetCDF file"]),
        ing("ingest: state variable missing", grid("s.nc", Grid { var: "ssh", ..Grid::states() }), &["states=s.nc", "obs=obs.nc"], &["s.nc", "psi"]),
        ing("ingest: observed variable missing", grid("o.nc", Grid { var: "sst", ..Grid::obs() }), &["states=states.nc", "obs=o.nc"], &["o.nc", "psi_obs"]),
        ing(
            "ingest: state all missing",
            grid("s.nc", Grid { value: |_| f64::NAN, ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "psi", "missing"],
        ),
        ing(
            "ingest: observations all missing",
            grid("o.nc", Grid { value: |_| f64::NAN, ..Grid::obs() }),
            &["states=states.nc", "obs=o.nc"],
            &["o.nc", "psi_obs"],
        ),
        ing(
            "ingest: duplicate state times",
            grid("s.nc", Grid { times: (0..NT).map(|t| (t / 2) as f64).collect(), ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "time"],
        ),
        ing(
            "ingest: unknown calendar",
            grid("s.nc", Grid { time: time_attrs("days since 2026-01-01", "martian"), ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "time", "martian"],
        ),
        ing(
            "ingest: time units without epoch",
            grid("s.nc", Grid { time: time_attrs("days", "standard"), ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "time", "units"],
        ),
        ing(
            "ingest: NaN state time",
            grid("s.nc", Grid { times: (0..NT).map(|t| if t == 5 { f64::NAN } else { t as f64 }).collect(), ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "time"],
        ),
        warned(ing(
            "ingest: observation positions not finite",
            grid("o.nc", Grid { x: (0..NX).map(|i| if i == 2 { f64::NAN } else { i as f64 * 1000.0 }).collect(), ..Grid::obs() }),
            &["states=states.nc", "obs=o.nc"],
            &["o.nc", "4 of 20", "position"],
        )),
        ing(
            "ingest: no observation in any window",
            grid("o.nc", Grid { times: (0..NT).map(|t| 1000.0 + t as f64).collect(), ..Grid::obs() }),
            &["states=states.nc", "obs=o.nc"],
            &["o.nc", "observation"],
        ),
        with_args(
            case("ingest: huge declared dimension", |d: &Path| huge(&d.join("huge.nc")), &[], &["huge.nc", "bytes"]),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=huge.nc"]),
        ),
        with_args(
            case(
                "ingest: drifter row sizes that do not add up",
                drift("dr.nc", Drifters { rows: vec![50, 40], ..Drifters::good() }),
                &[],
                &["dr.nc", "rowSize"],
            ),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        ),
        with_args(
            case("ingest: drifters without featureType", drift("dr.nc", Drifters { feature: None, ..Drifters::good() }), &[], &["dr.nc", "featureType"]),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        ),
        with_args(
            case("ingest: drifter times all missing", drift("dr.nc", Drifters { time: |_| f64::NAN, ..Drifters::good() }), &[], &["dr.nc", "time", "missing"]),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        ),
        with_args(
            case("ingest: Inf drifter y", drift("dr.nc", Drifters { y: |_| f64::INFINITY, ..Drifters::good() }), &[], &["dr.nc", "`y`"]),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        ),
        // ---- ingest: what quality control drops or mends is said, and too much is refused ----
        warned(ing(
            "ingest: state times out of order",
            grid("s.nc", Grid { times: (0..NT).map(|t| [1, 0, 3, 2].get(t).map_or(t, |&u| u) as f64).collect(), ..Grid::states() }),
            &["states=s.nc", "obs=obs.nc"],
            &["s.nc", "out of order", "sorted"],
        )),
        warned(with_args(
            case(
                "ingest: one swapped drifter-fix pair",
                drift(
                    "dr.nc",
                    Drifters {
                        time: |i| {
                            1.0 + (match i % 50 {
                                10 => 11,
                                11 => 10,
                                k => k,
                            }) as f64
                                / 48.0
                        },
                        ..Drifters::good()
                    },
                ),
                &[],
                &["dr.nc", "out of time order", "sorted"],
            ),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        )),
        warned(with_args(
            case(
                "ingest: NaN drifter positions",
                drift("dr.nc", Drifters { x: |i| if i % 25 == 3 { f64::NAN } else { 100.0 + 30.0 * (i % 50) as f64 }, ..Drifters::good() }),
                &[],
                &["dr.nc", "4 of 100 fixes"],
            ),
            ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]),
        )),
        with_args(
            case(
                "ingest: more lost than max_dropped_fraction",
                drift("dr.nc", Drifters { x: |i| if i % 25 == 3 { f64::NAN } else { 100.0 + 30.0 * (i % 50) as f64 }, ..Drifters::good() }),
                &[],
                &["dr.nc", "max_dropped_fraction", "4 of 100"],
            ),
            {
                let mut a = ingest_args("drifters.toml", &["states=states.nc", "drifters=dr.nc"]);
                a.extend(["--set".into(), "ingest.qc.max_dropped_fraction=0.01".into()]);
                a
            },
        ),
        // ---- train ----
        case("train: dataset missing", none, &["train", "--dataset", "absent/dataset.nc", "--out", "out"], &["absent/dataset.nc", "not found"]),
        case(
            "train: dataset not NetCDF",
            text("dataset.nc", "{}"),
            &["train", "--dataset", "dataset.nc", "--out", "out"],
            &["dataset.nc", "not a NetCDF file"],
        ),
        case("train: a states file given as the dataset", none, &["train", "--dataset", "states.nc", "--out", "out"], &["states.nc"]),
        case("train: zero epochs", none, &["train", "--dataset", "states.nc", "--out", "out", "--set", "train.epochs=0"], &["train.epochs"]),
        case("train: zero batch size", none, &["train", "--dataset", "states.nc", "--out", "out", "--set", "train.batch_size=0"], &["train.batch_size"]),
        case("train: unknown flag", none, &["train", "--dataset", "states.nc", "--out", "out", "--epochs", "3"], &["--epochs"]),
        case("train: negative learning rate", none, &["train", "--dataset", "states.nc", "--out", "out", "--set", "train.lr=-1"], &["train.lr"]),
        case(
            "train: unknown tilting",
            none,
            &["train", "--dataset", "states.nc", "--out", "out", "--set", "train.tilting=\"cosne\""],
            &["train.tilting", "cosne"],
        ),
        case("train: unknown key", none, &["train", "--dataset", "states.nc", "--out", "out", "--set", "train.epochz=3"], &["train.epochz"]),
        // ---- assimilate ----
        case(
            "assimilate: model missing",
            none,
            &["assimilate", "--model", "absent/model.json", "--bank", "states.nc", "--observations", "obs.nc", "--out", "out"],
            &["absent/model.json", "not found"],
        ),
        case(
            "assimilate: model not JSON",
            text("model.json", "not json"),
            &["assimilate", "--model", "model.json", "--bank", "states.nc", "--observations", "obs.nc", "--out", "out"],
            &["model.json"],
        ),
        case(
            "assimilate: model JSON of something else",
            text("model.json", "{\"hello\": 1}"),
            &["assimilate", "--model", "model.json", "--bank", "states.nc", "--observations", "obs.nc", "--out", "out"],
            &["model.json"],
        ),
        case(
            "assimilate: bank missing",
            text("model.json", "{}"),
            &["assimilate", "--model", "model.json", "--bank", "absent.nc", "--observations", "obs.nc", "--out", "out"],
            &["absent.nc", "not found"],
        ),
        case(
            "assimilate: bad window",
            text("model.json", "{}"),
            &["assimilate", "--model", "model.json", "--bank", "states.nc", "--observations", "obs.nc", "--out", "out", "--window", "2026-13-45"],
            &["--window", "2026-13-45"],
        ),
        case(
            "assimilate: zero members",
            text("model.json", "{}"),
            &["assimilate", "--model", "model.json", "--bank", "states.nc", "--observations", "obs.nc", "--out", "out", "--members", "0"],
            &["--members"],
        ),
        // ---- baseline ----
        with_args(case("baseline: prior missing", none, &[], &["absent.nc", "not found"]), {
            let mut a = baseline_args(&[]);
            a[2] = "absent.nc".into();
            a
        }),
        with_args(case("baseline: prior not NetCDF", text("p.nc", "x"), &[], &["p.nc", "not a NetCDF file"]), {
            let mut a = baseline_args(&[]);
            a[2] = "p.nc".into();
            a
        }),
        with_args(case("baseline: prior without members", none, &[], &["states.nc", "member"]), {
            let mut a = baseline_args(&[]);
            a[2] = "states.nc".into();
            a
        }),
        with_args(case("baseline: prior variable missing", none, &[], &["prior.nc", "ssh"]), {
            let mut a = baseline_args(&[]);
            a[8] = "ssh".into();
            a
        }),
        with_args(case("baseline: observed variable missing", none, &[], &["obs_day.nc", "sst"]), {
            let mut a = baseline_args(&[]);
            a[10] = "sst".into();
            a
        }),
        with_args(case("baseline: unknown method", none, &[], &["--method", "kalman"]), baseline_args(&["--method", "kalman"])),
        with_args(case("baseline: negative observation error", none, &[], &["--obs-error-std"]), {
            let mut a = baseline_args(&[]);
            a[12] = "-0.5".into();
            a
        }),
        with_args(case("baseline: zero observation error", none, &[], &["--obs-error-std"]), {
            let mut a = baseline_args(&[]);
            a[12] = "0".into();
            a
        }),
        with_args(
            case("baseline: negative localisation radius", none, &[], &["localization_radius"]),
            baseline_args(&["--method", "letkf", "--set", "baseline.localization_radius=-3"]),
        ),
        with_args(case("baseline: deflation", none, &[], &["inflation"]), baseline_args(&["--set", "baseline.inflation=0.5"])),
        with_args(case("baseline: EnOI without a static ensemble", none, &[], &["static"]), baseline_args(&["--method", "enoi"])),
        with_args(
            case(
                "baseline: prior all missing",
                grid("prior.nc", Grid { members: 8, times: vec![3.0], value: |_| f64::NAN, ..Grid::states() }),
                &[],
                &["prior.nc", "psi"],
            ),
            baseline_args(&[]),
        ),
        with_args(
            case(
                "baseline: observations all missing",
                grid("obs_day.nc", Grid { times: vec![3.0], value: |_| f64::NAN, ..Grid::obs() }),
                &[],
                &["obs_day.nc", "psi_obs"],
            ),
            baseline_args(&[]),
        ),
        with_args(
            case(
                "baseline: observation grid differs",
                grid("obs_day.nc", Grid { times: vec![3.0], x: (0..NX + 1).map(|i| i as f64 * 800.0).collect(), ..Grid::obs() }),
                &[],
                &["obs_day.nc"],
            ),
            baseline_args(&[]),
        ),
        with_args(
            case("baseline: huge observation file", |d: &Path| huge(&d.join("huge.nc")), &[], &["huge.nc", "bytes"]),
            ["baseline", "--prior", &sample("lagrangian/archive/lagrangian_states.nc"), "--observations", "huge.nc", "--out", "out"]
                .into_iter()
                .map(String::from)
                .chain(["--method", "etkf", "--obs-operator", "drifters", "--obs-error-std", "1e-4"].map(String::from))
                .collect(),
        ),
        // ---- evaluate ----
        case("evaluate: truth missing", none, &["evaluate", "--out", "out", "--truth", "absent.nc", "--analysis", "prior.nc"], &["absent.nc", "not found"]),
        case(
            "evaluate: analysis missing",
            none,
            &["evaluate", "--out", "out", "--truth", "states.nc", "--analysis", "analysis_x.nc"],
            &["analysis_x.nc", "not found"],
        ),
        case(
            "evaluate: analysis not NetCDF",
            text("analysis_x.nc", "zzz"),
            &["evaluate", "--out", "out", "--truth", "states.nc", "--analysis", "analysis_x.nc"],
            &["analysis_x.nc", "not a NetCDF file"],
        ),
        case("evaluate: no analysis", none, &["evaluate", "--out", "out", "--truth", "states.nc"], &["--analysis"]),
        case(
            "evaluate: two analyses of one name",
            none,
            &["evaluate", "--out", "out", "--truth", "states.nc", "--analysis", "a=prior.nc", "--analysis", "a=prior.nc"],
            &["--analysis", "`a`"],
        ),
        case(
            "evaluate: bad window",
            none,
            &["evaluate", "--out", "out", "--truth", "states.nc", "--analysis", "a=prior.nc", "--window", "tomorrowish"],
            &["--window", "tomorrowish"],
        ),
        case(
            "evaluate: variable not in the truth",
            none,
            &["evaluate", "--out", "out", "--truth", "states.nc", "--analysis", "a=prior.nc", "--variables", "ssh"],
            &["states.nc", "ssh"],
        ),
        // ---- run ----
        case("run: pipeline file missing", none, &["run", "absent.toml"], &["absent.toml"]),
        case("run: TOML syntax error", text("bad.toml", "[pipeline\nname = 1\n"), &["run", "bad.toml"], &["bad.toml"]),
        case("run: unknown key", text("k.toml", "[pipeline]\nname = \"k\"\nstagez = []\n"), &["run", "k.toml"], &["k.toml", "stagez"]),
        case("run: no stages", text("e.toml", "[pipeline]\nname = \"e\"\n"), &["run", "e.toml"], &["pipeline.stages"]),
        case(
            "run: unknown stage kind",
            |d: &Path| {
                std::fs::write(
                    d.join("u.toml"),
                    pipeline_text("").replace(
                        "kind = \"synth\"\noptions = { flow = \"lorenz96\", samples = 5 }\n\n[[pipeline.stages]]\nname = \"second\"",
                        "kind = \"synthesise\"\noptions = {}\n\n[[pipeline.stages]]\nname = \"second\"",
                    ),
                )
                .unwrap()
            },
            &["run", "u.toml"],
            &["synthesise"],
        ),
        case(
            "run: duplicate stage names",
            |d: &Path| std::fs::write(d.join("dup.toml"), pipeline_text("").replace("name = \"second\"", "name = \"first\"")).unwrap(),
            &["run", "dup.toml"],
            &["first"],
        ),
        case(
            "run: unknown stage option",
            |d: &Path| std::fs::write(d.join("o.toml"), pipeline_text("").replacen("samples = 5 }", "samples = 5, sampels = 3 }", 1)).unwrap(),
            &["run", "o.toml"],
            &["o.toml"],
        ),
        case(
            "run: missing input of the last stage",
            |d: &Path| std::fs::write(d.join("m.toml"), pipeline_text(BASELINE_STAGE).replace("obs_day.nc", "gone.nc")).unwrap(),
            &["run", "m.toml"],
            &["gone.nc", "check"],
        ),
        case(
            "run: reference to an unknown stage",
            |d: &Path| std::fs::write(d.join("r.toml"), pipeline_text(BASELINE_STAGE).replace("prior.nc", "stage:nowhere/analysis.nc")).unwrap(),
            &["run", "r.toml"],
            &["nowhere"],
        ),
        case("run: --stage of no such stage", none, &["run", "p.toml", "--stage", "third"], &["--stage third"]),
        case("run: bad --window", none, &["run", "p.toml", "--window", "2026-02-30"], &["--window", "2026-02-30"]),
        case("run: seed not a number", none, &["run", "p.toml", "--set", "run.seed=\"abc\""], &["run.seed"]),
        case("run: unknown configuration key", none, &["run", "p.toml", "--set", "run.sed=3"], &["run.sed"]),
        case("run: environment override with a bad value", none, &["run", "p.toml", "--set", "io.deflate_level=42"], &["io.deflate_level"]),
        case("run: status of a missing run directory", none, &["status", "runs/none"], &["runs/none"]),
        case("synth: unknown flow", none, &["synth", "turbulence", "--out", "out"], &["turbulence"]),
        case("synth: zero samples", none, &["synth", "lorenz96", "--samples", "0", "--out", "out"], &["--samples"]),
    ];
    v
}

/// Runs one case in a fresh directory; None when it met the standard, else why not.
fn check(c: &Case) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    base(d);
    (c.setup)(d);
    let before = listing(d);
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let out = contrada_in(d, &args);
    let err = stderr(&out);
    let mut why = Vec::new();
    let code = if c.warn { 0 } else { 2 };
    if out.status.code() != Some(code) {
        why.push(format!("exit {:?}, expected {code}", out.status));
    }
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        why.push("panicked".into());
    }
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    let said: Vec<&str> = if c.warn { err.lines().filter(|l| l.contains("WARN")).collect() } else { errors.clone() };
    if !c.warn && errors.len() != 1 {
        why.push(format!("{} error lines, expected 1", errors.len()));
    }
    if c.warn && (!errors.is_empty() || said.is_empty()) {
        why.push(format!("{} error and {} WARN lines, expected a WARN and no error", errors.len(), said.len()));
    }
    for n in &c.needles {
        if !said.iter().any(|l| l.contains(n.as_str())) {
            why.push(format!("message does not name `{n}`"));
        }
    }
    let after = listing(d);
    if !c.warn && after != before {
        let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
        why.push(format!("left behind: {new:?}"));
    }
    (!why.is_empty()).then(|| {
        format!("{}: {}\n    command: contrada {}\n    stderr: {}", c.name, why.join("; "), args.join(" "), err.trim().replace('\n', "\n            "))
    })
}

fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p: PathBuf = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn hostile_corpus_meets_the_standard() {
    let cases = corpus();
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    let passed = cases.len() - failures.len();
    println!("hostile corpus: {passed} of {} cases met the standard", cases.len());
    assert!(failures.is_empty(), "{} of {} hostile cases fell short:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
