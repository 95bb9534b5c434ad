//! The `assimilate` pipeline stage: a trained model, a bank of states and one window's
//! observations in; per method an analysis ensemble, analysis fields and diagnostics out, in the
//! layout of `analysis_M.nc` / `diagnostics_M.json` (see [`crate::assimilate`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView1, Axis};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;

use super::generator::{effective_sample_size, retrieve, systematic_resample, transform_matrix, weighted_mean, weights, Tilting};
use crate::cf::write::Attr;
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::ingest::dataset::Dataset;
use crate::learn::backend;
use crate::learn::stage::ModelMeta;
use crate::learn::train::codes;
use crate::pipeline::spec::StageSpec;
use crate::stages::{parse_options, Stage, StageContext};

/// A generator method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Softmax weights over the bank, systematic resampling (the paper's generator).
    Reweight,
    /// The top-K bank members (K = 1: the MAP point of the empirical conditional).
    Retrieve,
    /// Ensemble transform in latent space (l2 tilting only): members move.
    Transform,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Reweight => "reweight",
            Method::Retrieve => "retrieve",
            Method::Transform => "transform",
        }
    }
}

/// Options of the stage (`options = { ... }` in the pipeline file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AssimilateOptions {
    /// Methods to run.
    methods: Vec<Method>,
    /// Analysis ensemble size for `reweight`.
    members: usize,
    /// K for `retrieve`.
    retrieve_k: usize,
    /// Variables of the bank's state files written as the analysis ensemble (default: every
    /// variable with the bank's time dimension first).
    variables: Vec<String>,
    /// ESS below this fraction of the bank size gets a warning (weight degeneracy).
    ess_warning_fraction: f64,
}

impl Default for AssimilateOptions {
    fn default() -> Self {
        AssimilateOptions { methods: vec![Method::Reweight, Method::Retrieve], members: 64, retrieve_k: 8, variables: Vec::new(), ess_warning_fraction: 0.01 }
    }
}

/// The `assimilate` stage: inputs `model` (the train stage's `model.json`, with `model.bpk`
/// beside it), `bank` (an ingest `dataset.nc` of the bank states) and `observations` (an ingest
/// `dataset.nc` holding the window's observations).
pub struct AssimilateStage;

impl Stage for AssimilateStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["io"]
    }

    fn windowed(&self) -> bool {
        true
    }

    fn check(&self, spec: &StageSpec) -> Result<()> {
        let o: AssimilateOptions = parse_options(spec)?;
        let key = |k: &str| format!("pipeline.stages.{}.options.{k}", spec.name);
        if o.methods.is_empty() {
            return Err(Error::config("pipeline file", key("methods"), "no method; allowed: reweight, retrieve, transform"));
        }
        if o.members < 2 || o.retrieve_k < 1 {
            return Err(Error::config("pipeline file", key("members"), "members must be at least 2 and retrieve_k at least 1"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let opts: AssimilateOptions = parse_options(ctx.spec)?;
        let model_path = ctx.input("model")?;
        let dir = model_path.parent().unwrap_or(Path::new("."));
        let selected = backend::select(ctx.config.run.backend, "run.backend")?;
        let (meta, model) = ModelMeta::load(dir, &selected.device)?;
        let tilting = meta.train.tilting;
        let tau = model.scorer.tau();

        let bank_path = ctx.input("bank")?;
        let bank = Dataset::load(bank_path)?;
        let obs_path = ctx.input("observations")?;
        let window = Dataset::load(obs_path)?;
        for (d, p, want, what) in [(&bank.state, bank_path, meta.d_u, "state"), (&window.obs, obs_path, meta.d_v, "observation")] {
            if d.ncols() != want {
                return Err(Error::input(p, format!("{what} vectors have {} elements; the model was trained on {want} (ingest it with the same [ingest] configuration)", d.ncols())));
            }
        }
        let row = window_row(&window, ctx, obs_path)?;
        let analysis_time = window.time[row];

        let t0 = Instant::now();
        let bank_codes = codes(&model.encoder_u, meta.states(&bank.state).view(), &selected.device);
        let obs_code = codes(&model.encoder_v, meta.observations(&window.obs.slice(ndarray::s![row..row + 1, ..]).to_owned()).view(), &selected.device).row(0).to_owned();
        let encode_s = t0.elapsed().as_secs_f64();
        let fields = BankFields::read(&bank, &opts.variables, bank_path)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(ctx.seed);
        let mut summary = serde_json::Map::new();
        for method in &opts.methods {
            let t = Instant::now();
            let (combination, extra) = match method {
                Method::Reweight => {
                    let w = weights(bank_codes.view(), obs_code.view(), tilting, tau);
                    let ess = effective_sample_size(w.view());
                    if ess < opts.ess_warning_fraction * w.len() as f64 {
                        tracing::warn!("reweight: effective sample size {ess:.1} of {} bank members: the weights have collapsed; the analysis is close to a single member", w.len());
                    }
                    let idx = systematic_resample(w.view(), opts.members, rng.random::<f64>());
                    let best = w.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
                    (Combination::Members { idx, mean_weights: w.clone(), map: best }, json!({ "ess": ess, "max_weight": w[best] }))
                }
                Method::Retrieve => {
                    let idx = retrieve(bank_codes.view(), obs_code.view(), tilting, tau, opts.retrieve_k);
                    let mut w = Array1::zeros(bank.state.nrows());
                    for &i in &idx {
                        w[i] = 1.0 / idx.len() as f64;
                    }
                    let retrieved: Vec<String> = idx.iter().map(|&i| bank.time_units.decode(bank.time[i]).to_string()).collect();
                    (Combination::Members { map: idx[0], idx: idx.clone(), mean_weights: w }, json!({ "retrieved": idx, "retrieved_times": retrieved }))
                }
                Method::Transform => {
                    if tilting != Tilting::L2 {
                        return Err(Error::config("pipeline file", "train.tilting", format!("the transform method needs the l2 tilting (a Gaussian latent likelihood); the model was trained with {tilting:?}")));
                    }
                    (Combination::Linear(transform_matrix(bank_codes.view(), obs_code.view(), tau)?), json!({}))
                }
            };
            let latent = bank_codes.outer_iter().map(|g| (&g - &obs_code).mapv(|x| x * x).sum().sqrt()).fold(f64::INFINITY, f64::min);
            let path = ctx.out.join(format!("analysis_{}.nc", method.name()));
            let members = fields.write(&path, ctx, &combination, (analysis_time, &window.time_units), method.name())?;
            let mut diag = json!({
                "method": method.name(),
                "members": members,
                "bank_size": bank.state.nrows(),
                "tau": tau,
                "nearest_latent_distance": latent,
                "encode_seconds": encode_s,
                "wall_time_s": t.elapsed().as_secs_f64(),
                "peak_rss_bytes": peak_rss_bytes(),
            });
            merge(&mut diag, extra);
            let diag_path = ctx.out.join(format!("diagnostics_{}.json", method.name()));
            std::fs::write(&diag_path, serde_json::to_string_pretty(&diag).expect("json")).map_err(|e| Error::io(&diag_path, e))?;
            summary.insert(method.name().into(), diag);
        }
        Ok(serde_json::Value::Object(summary))
    }
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
}

/// The observation row of the window: the last sample on the window's date, or the last sample
/// when the run has no window.
fn window_row(window: &Dataset, ctx: &StageContext, path: &Path) -> Result<usize> {
    let n = window.time.len();
    let rows: Vec<usize> = match ctx.window {
        None => (0..n).collect(),
        Some(day) => (0..n)
            .filter(|&i| window.time_units.try_decode(window.time[i]).and_then(|t| t.to_naive()).is_some_and(|t| t.date() == day))
            .collect(),
    };
    rows.last().copied().ok_or_else(|| {
        let span = match (window.time.first(), window.time.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", window.time_units.decode(*a), window.time_units.decode(*b)),
            _ => "no samples".into(),
        };
        Error::input(path, format!("no observations in window {}; the file covers {span}", ctx.window.map_or_else(String::new, |d| d.to_string())))
    })
}

/// How an analysis ensemble is made from the bank members.
enum Combination {
    /// Selected members (`idx`), fields mean from `mean_weights`, best member `map`.
    Members { idx: Vec<usize>, mean_weights: Array1<f64>, map: usize },
    /// Member j = sum_i T_ij bank_i.
    Linear(Array2<f64>),
}

/// The bank's variables (from its state files), one row per bank sample.
struct BankFields {
    /// name, dims after time, values (bank sample x element), attributes (units, long_name).
    vars: Vec<(String, Vec<(String, usize)>, Array2<f64>, Vec<(String, String)>)>,
    /// Coordinate variables of those dims (name, values, units).
    coords: BTreeMap<String, (Vec<f64>, String)>,
}

impl BankFields {
    fn read(bank: &Dataset, wanted: &[String], bank_path: &Path) -> Result<BankFields> {
        let files: Vec<NcFile> = bank.state_files.iter().map(NcFile::open).collect::<Result<_>>()?;
        let first = &files[0];
        let time_dim = first.var_dims(&bank.grid.first().map_or_else(|| "time".to_string(), |g| g.name.clone()))?.first().cloned().unwrap_or_else(|| "time".into());
        let names: Vec<String> = if wanted.is_empty() {
            first
                .var_names()
                .into_iter()
                .filter(|v| v != &time_dim && first.var_dims(v).is_ok_and(|d| d.len() >= 2 && d[0] == time_dim))
                .collect()
        } else {
            wanted.to_vec()
        };
        if names.is_empty() {
            return Err(Error::input(first.path(), format!("no variable with `{time_dim}` as its first dimension to write as the analysis ensemble")));
        }
        let mut vars = Vec::new();
        let mut coords = BTreeMap::new();
        for name in names {
            let dims = first.var_dims(&name)?;
            if dims.first() != Some(&time_dim) {
                return Err(first.var_error(&name, format!("expected `{time_dim}` as the first dimension (bank {})", bank_path.display())));
            }
            let rest: Vec<(String, usize)> = dims[1..].iter().map(|d| Ok((d.clone(), first.dim_len(d)?))).collect::<Result<_>>()?;
            let width: usize = rest.iter().map(|(_, n)| n).product();
            let per_file: Vec<Array2<f64>> = files
                .iter()
                .map(|f| {
                    let a = f.read(&name)?.data;
                    let t = a.shape()[0];
                    a.into_shape_with_order((t, width)).map_err(|e| f.var_error(&name, e.to_string()))
                })
                .collect::<Result<_>>()?;
            let mut values = Array2::zeros((bank.source.len(), width));
            for (k, &(file, t)) in bank.source.iter().enumerate() {
                values.row_mut(k).assign(&per_file[file].row(t));
            }
            for (d, _) in &rest {
                if !coords.contains_key(d) && first.has_var(d) {
                    let v = first.read(d)?.data.iter().copied().collect();
                    coords.insert(d.clone(), (v, first.attr_str(Some(d), "units").unwrap_or_else(|| "1".into())));
                }
            }
            let attrs = ["units", "long_name", "standard_name"].iter().filter_map(|a| first.attr_str(Some(&name), a).map(|v| (a.to_string(), v))).collect();
            vars.push((name, rest, values, attrs));
        }
        Ok(BankFields { vars, coords })
    }

    /// Writes `analysis_M.nc`; returns the ensemble size.
    fn write(&self, path: &Path, ctx: &StageContext, comb: &Combination, (time, u): (f64, &crate::cf::time::TimeUnits), method: &str) -> Result<usize> {
        let mut w = NcWriter::create(path, &ctx.config.io, &format!("contrada analysis ({method})"))?;
        w.global("method", method)?;
        w.global("window", ctx.window.map_or_else(|| "all".to_string(), |d| d.to_string()).as_str())?;
        let units = format!("{} since {}", crate::cf::dsg::unit_name(u.unit_seconds), u.epoch);
        w.coord("time", &[time], vec![("standard_name", "time".into()), ("units", units.into()), ("calendar", u.calendar.name().into())])?;
        let members = match comb {
            Combination::Members { idx, .. } => idx.len(),
            Combination::Linear(t) => t.ncols(),
        };
        w.dim("member", members)?;
        for (name, (values, units)) in &self.coords {
            w.coord(name, values, vec![("units", units.as_str().into())])?;
        }
        let mut defined: std::collections::BTreeSet<&str> = self.coords.keys().map(String::as_str).collect();
        for (_, rest, _, _) in &self.vars {
            for (d, n) in rest {
                if defined.insert(d.as_str()) {
                    w.dim(d, *n)?;
                }
            }
        }
        for (name, rest, values, attrs) in &self.vars {
            let (ensemble, mean, map) = match comb {
                Combination::Members { idx, mean_weights, map } => (values.select(Axis(0), idx), weighted_mean(values.view(), mean_weights.view()), Some(values.row(*map).to_owned())),
                Combination::Linear(t) => {
                    let e = t.t().dot(values);
                    let m = e.mean_axis(Axis(0)).expect("members >= 2");
                    (e, m, None)
                }
            };
            let spread = spread_of(&ensemble, mean.view());
            let attr = |extra: &str| -> Vec<Attr<'_>> {
                attrs.iter().map(|(k, v)| (k.as_str(), if k == "units" { v.as_str().into() } else { format!("{v}{extra}").into() })).collect()
            };
            let dims: Vec<&str> = rest.iter().map(|(d, _)| d.as_str()).collect();
            let mut with_member = vec!["member"];
            with_member.extend(&dims);
            w.var_f64(name, &with_member, ensemble.as_slice().expect("standard layout"), attr(""))?;
            w.var_f64(&format!("{name}_mean"), &dims, mean.as_slice().expect("contiguous"), attr(" (analysis mean)"))?;
            w.var_f64(&format!("{name}_spread"), &dims, spread.as_slice().expect("contiguous"), attr(" (analysis spread)"))?;
            if let Some(map) = map {
                w.var_f64(&format!("{name}_map"), &dims, map.as_slice().expect("contiguous"), attr(" (best bank member)"))?;
            }
        }
        w.finish()?;
        Ok(members)
    }
}

/// Ensemble standard deviation about `mean` (n - 1 in the denominator).
fn spread_of(ensemble: &Array2<f64>, mean: ArrayView1<f64>) -> Array1<f64> {
    let n = ensemble.nrows().max(2) as f64;
    (ensemble - &mean.insert_axis(Axis(0))).mapv(|x| x * x).sum_axis(Axis(0)).mapv(|s| (s / (n - 1.0)).sqrt())
}

/// Peak resident memory of this process (VmHWM), in bytes; 0 where /proc is not available.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}
