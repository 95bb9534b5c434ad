//! The `assimilate` pipeline stage: a trained model, a bank of states and one window's
//! observations in; per method an analysis ensemble, analysis fields and diagnostics out, in the
//! layout of `analysis_M.nc` / `diagnostics_M.json` (see [`crate::assimilate`]).

use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cache::CodeCache;
use super::fields::{AnalysisHeader, Bank, Combination};
use super::generator::{Tilting, effective_sample_size, resample_counts, retrieve, systematic_resample, transform_matrix, weights};
use crate::analysis::diagnostics::{Diagnostics, analysis_file};
use crate::config::IoConfig;
use crate::error::{Error, Result};
use crate::ingest::dataset::Dataset;
use crate::learn::artifact::{MODEL_META, MODEL_RECORD, ModelMeta};
use crate::learn::backend::{self, SelectedBackend};
use crate::learn::model::ContrastiveModel;
use crate::learn::train::codes;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Stage, StageContext, parse_options};

/// A generator method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

/// Options of the stage: the `options = { ... }` of its pipeline entry and the flags of
/// `contrada assimilate` (one declaration; the flag defaults are [`Default`]'s).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct AssimilateOptions {
    /// Methods to run, comma-separated: reweight, retrieve, transform.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "M,M", default_values_t = AssimilateOptions::default().methods)]
    pub methods: Vec<Method>,
    /// Analysis ensemble size for `reweight`.
    #[arg(long, default_value_t = AssimilateOptions::default().members)]
    pub members: usize,
    /// K for `retrieve`.
    #[arg(long, default_value_t = AssimilateOptions::default().retrieve_k)]
    pub retrieve_k: usize,
    /// Variables of the bank's state files written as the analysis ensemble, comma-separated
    /// (default: every variable with the bank's time dimension first).
    #[arg(long, value_delimiter = ',', value_name = "VAR,VAR")]
    pub variables: Vec<String>,
    /// ESS below this fraction of the bank size gets a warning (weight degeneracy).
    #[arg(long, default_value_t = AssimilateOptions::default().ess_warning_fraction)]
    pub ess_warning_fraction: f64,
    /// Probability levels of the weighted quantiles written as `<var>_quantile`, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "Q,Q", default_values_t = AssimilateOptions::default().quantiles)]
    pub quantiles: Vec<f64>,
    /// `reweight`: 0 for exact weighted quantiles over the whole bank; M > 0 for the quantiles of M
    /// members drawn from the weights by systematic resampling, which reads M rows instead of
    /// ordering every point's values over the bank (an estimate: its quantile level is off by
    /// about sqrt(q (1 - q) / M), well inside the bank's own sampling error of 1/sqrt(ESS) when M
    /// is some times the ESS).
    #[arg(long, value_name = "M", default_value_t = AssimilateOptions::default().quantile_sample)]
    pub quantile_sample: usize,
}

impl Default for AssimilateOptions {
    fn default() -> Self {
        AssimilateOptions {
            methods: vec![Method::Reweight, Method::Retrieve],
            members: 64,
            retrieve_k: 8,
            variables: Vec::new(),
            ess_warning_fraction: 0.01,
            quantiles: vec![0.1, 0.5, 0.9],
            quantile_sample: 0,
        }
    }
}

/// The `assimilate` stage: inputs `model` (the train stage's `model.json`, with `model.bpk`
/// beside it), `bank` (an ingest `dataset.nc` of the bank states) and `observations` (an ingest
/// `dataset.nc` holding the window's observations).
pub struct AssimilateStage;

impl Stage for AssimilateStage {
    fn config_sections(&self) -> &'static [&'static str] {
        &["io", "run.backend"]
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
        if let Some(q) = o.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            return Err(Error::config("pipeline file", key("quantiles"), format!("level {q}; expected probability levels strictly between 0 and 1")));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<serde_json::Value> {
        let io: IoConfig = ctx.section("io")?;
        let opts: AssimilateOptions = parse_options(ctx.spec)?;
        let model_path = ctx.input("model")?;
        let dir = model_path.parent().unwrap_or(Path::new("."));
        let selected = backend::select(ctx.section("run.backend")?, "run.backend")?;
        let (meta, model) = ModelMeta::load(dir, &selected.device)?;
        let tilting = meta.train.tilting;
        let tau = model.scorer.tau();

        let bank_path = ctx.input("bank")?;
        // The bank's states are only needed to encode them, which the code cache usually spares.
        let bank = Dataset::load_without_states(bank_path)?;
        let obs_path = ctx.input("observations")?;
        let window = Dataset::load(obs_path)?;
        for (have, p, want, what) in [(bank.state_layout.variable.len(), bank_path, meta.d_u, "state"), (window.obs.ncols(), obs_path, meta.d_v, "observation")]
        {
            if have != want {
                return Err(Error::input(
                    p,
                    format!("{what} vectors have {have} elements; the model was trained on {want} (ingest it with the same [ingest] configuration)"),
                ));
            }
        }
        let row = window_row(&window, ctx, obs_path)?;
        let analysis_time = window.time[row];

        let t0 = Instant::now();
        let encode = || encode_bank(bank_path, bank.time.len(), &meta, &model, &selected);
        let (bank_codes, cache) = match ctx.cache_dir {
            Some(cache_dir) => {
                let cache = CodeCache::new(
                    &cache_dir.join("bank_codes"),
                    &[dir.join(MODEL_META).as_path(), dir.join(MODEL_RECORD).as_path()],
                    bank_path,
                    &selected.to_string(),
                )?;
                let (c, lookup) = cache.get_or_compute(encode)?;
                (c, lookup.name())
            }
            None => (encode()?, "none"),
        };
        let obs_code =
            codes(&model.encoder_v, meta.observations(&window.obs.slice(ndarray::s![row..row + 1, ..]).to_owned()).view(), &selected.device).row(0).to_owned();
        let encode_s = t0.elapsed().as_secs_f64();
        let fields = Bank::read(&bank, &opts.variables, bank_path)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(ctx.seed);
        let mut summary = serde_json::Map::new();
        for method in &opts.methods {
            let t = Instant::now();
            let (combination, extra) = match method {
                Method::Reweight => {
                    let w = weights(bank_codes.view(), obs_code.view(), tilting, tau);
                    let ess = effective_sample_size(w.view());
                    if ess < opts.ess_warning_fraction * w.len() as f64 {
                        tracing::warn!(
                            "reweight: effective sample size {ess:.1} of {} bank members: the weights have collapsed; the analysis is close to a single member",
                            w.len()
                        );
                    }
                    let idx = systematic_resample(w.view(), opts.members, rng.random::<f64>());
                    let best = w.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
                    let max_weight = w[best];
                    let quantile_weights =
                        (opts.quantile_sample > 0 && !opts.quantiles.is_empty()).then(|| resample_counts(w.view(), opts.quantile_sample, rng.random::<f64>()));
                    (
                        Combination::Members { idx, weights: w, map: best, quantile_weights },
                        json!({ "ess": ess, "max_weight": max_weight, "quantile_sample": opts.quantile_sample }),
                    )
                }
                Method::Retrieve => {
                    let idx = retrieve(bank_codes.view(), obs_code.view(), tilting, tau, opts.retrieve_k);
                    let mut w = Array1::zeros(bank.time.len());
                    for &i in &idx {
                        w[i] = 1.0 / idx.len() as f64;
                    }
                    let retrieved: Vec<String> = idx.iter().map(|&i| bank.time_units.decode(bank.time[i]).to_string()).collect();
                    (
                        Combination::Members { map: idx[0], idx: idx.clone(), weights: w, quantile_weights: None },
                        json!({ "retrieved": idx, "retrieved_times": retrieved }),
                    )
                }
                Method::Transform => {
                    if tilting != Tilting::L2 {
                        return Err(Error::config(
                            "pipeline file",
                            "train.tilting",
                            format!("the transform method needs the l2 tilting (a Gaussian latent likelihood); the model was trained with {tilting:?}"),
                        ));
                    }
                    (Combination::Linear(transform_matrix(bank_codes.view(), obs_code.view(), tau)?), json!({}))
                }
            };
            let latent = bank_codes.outer_iter().map(|g| (&g - &obs_code).mapv(|x| x * x).sum().sqrt()).fold(f64::INFINITY, f64::min);
            let path = ctx.out.join(analysis_file(method.name()));
            let header = AnalysisHeader {
                method: method.name(),
                window: ctx.window.map_or_else(|| "all".to_string(), |d| d.to_string()),
                time: analysis_time,
                units: &window.time_units,
                quantiles: &opts.quantiles,
            };
            let members = fields.write(&path, &io, &combination, &header)?;
            let mut own = json!({
                "members": members,
                "bank_size": bank.time.len(),
                "tau": tau,
                "nearest_latent_distance": latent,
                "encode_seconds": encode_s,
                "bank_codes_cache": cache,
            });
            merge(&mut own, extra);
            let diag = Diagnostics::measured(method.name(), t, own).write(ctx.out)?;
            summary.insert(method.name().into(), diag);
        }
        Ok(serde_json::Value::Object(summary))
    }
}

/// Rows of the bank encoded per read: a multiple of the encoder's batch (1024 rows), so the codes
/// are those of one pass over the whole bank, while only a slice of the states is in memory.
const ENCODE_ROWS: usize = 8192;

/// The codes `g_u(u_i)` of the `n` bank states in `path`, read and encoded a slice at a time.
fn encode_bank(path: &Path, n: usize, meta: &ModelMeta, model: &ContrastiveModel, selected: &SelectedBackend) -> Result<Array2<f64>> {
    let progress = crate::progress::Progress::new("encoding the bank", n as u64);
    let mut reader = Dataset::states_reader(path)?;
    let mut parts = Vec::new();
    for start in (0..n).step_by(ENCODE_ROWS) {
        let count = ENCODE_ROWS.min(n - start);
        let mut states = Array2::zeros((count, reader.cols()));
        reader.read_rows(states.as_slice_mut().expect("a fresh array is contiguous"))?;
        parts.push(codes(&model.encoder_u, meta.states(&states).view(), &selected.device));
        progress.inc(count as u64);
    }
    reader.finish()?;
    progress.finish();
    let views: Vec<_> = parts.iter().filter(|p| p.nrows() > 0).map(|p| p.view()).collect();
    if views.is_empty() {
        return Err(Error::input(path, "the bank has no state"));
    }
    ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| Error::Other(format!("bank codes: {e}")))
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
        Some(day) => (0..n).filter(|&i| window.time_units.try_decode(window.time[i]).and_then(|t| t.to_naive()).is_some_and(|t| t.date() == day)).collect(),
    };
    rows.last().copied().ok_or_else(|| {
        let span = match (window.time.first(), window.time.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", window.time_units.decode(*a), window.time_units.decode(*b)),
            _ => "no samples".into(),
        };
        Error::input(path, format!("no observations in window {}; the file covers {span}", ctx.window.map_or_else(String::new, |d| d.to_string())))
    })
}
