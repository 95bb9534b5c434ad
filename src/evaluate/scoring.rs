//! Reading the truth, the bank and the analyses, and scoring every method on every variable.
//!
//! Every input is checked (variables present, dimensions matching the truth, times agreeing)
//! before any field is read, so a bad file fails in seconds with an error naming it and the
//! variable. The scores themselves are [`crate::metrics::scores`]: there is no second
//! implementation here, only the choice of what to score against what.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::config::{EvaluateOptions, TruthTime};
use super::sidecar::Recall;
use crate::analysis::diagnostics::Diagnostics;
use crate::cf::NcFile;
use crate::cf::time::{CfDateTime, TimeUnits};
use crate::error::{Error, Result};
use crate::metrics::scores::{EnsembleScores, bias, member_mean, member_std, rank_chi2, rank_histogram, remove_field_means, rmse};
use crate::pipeline::hash::derive_seed;

/// Row name of the climatological baseline (the bank's members, its mean as the analysis).
pub const CLIMATOLOGY: &str = "climatology";

/// Methods whose analyses come from the contrastive encoders, so retrieval recall describes them.
pub const ENCODER_METHODS: &[&str] = &["reweight", "retrieve", "transform"];

/// A scored variable: metadata, grid and the truth at the chosen time.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Variable name, as in every file.
    pub name: String,
    /// The truth's `units` attribute (`"1"`: dimensionless; empty when absent).
    pub units: String,
    /// The truth's `long_name` (or `standard_name`), empty when absent.
    pub long_name: String,
    /// Dimensions after time/member, with lengths, e.g. `[("y", 32), ("x", 32)]`.
    pub dims: Vec<(String, usize)>,
    /// For two trailing dimensions (a map): the coordinate values along x (last) and y.
    pub grid: Option<(Vec<f64>, Vec<f64>)>,
    /// The truth, flattened row-major over `dims`; NaN where missing.
    pub truth: Vec<f64>,
    /// Scored as the anomaly from the spatial mean ([`EvaluateOptions::anomalies`]).
    pub anomaly: bool,
    /// The variable in the files (`name` itself, or the field a `<field>_near_obs` is part of).
    pub field: String,
    /// For a part of a field: the flat indices (over `dims`) of its points; `truth` holds those.
    pub points: Option<Vec<usize>>,
}

impl Variable {
    /// `name [units]`, for titles.
    pub fn label(&self) -> String {
        if self.units.is_empty() { self.name.clone() } else { format!("{} [{}]", self.name, self.units) }
    }

    /// This gridded variable at only the points near the observations, as `<name>_near_obs`;
    /// None for a variable without a grid, or when no point is near.
    fn near(&self, near: &NearObservations) -> Option<Variable> {
        let (x, y) = self.grid.as_ref()?;
        let points = near.points(x, y);
        if points.is_empty() {
            tracing::warn!("evaluate: no grid point of {} is within {} of an observation; no {}_near_obs", self.name, near.radius, self.name);
            return None;
        }
        let what = if self.long_name.is_empty() { self.name.clone() } else { self.long_name.clone() };
        Some(Variable {
            name: format!("{}_near_obs", self.name),
            long_name: format!("{what}, within {} of the observations ({} of {} points)", near.radius, points.len(), self.truth.len()),
            truth: points.iter().map(|&i| self.truth[i]).collect(),
            grid: None,
            points: Some(points),
            ..self.clone()
        })
    }
}

/// The observed positions and the distance within which a grid point counts as observed
/// ([`EvaluateOptions::near_observations`]).
#[derive(Debug, Clone)]
pub struct NearObservations {
    /// The distance, in the grid's coordinate units.
    pub radius: f64,
    /// Periods of x and y on a periodic domain.
    pub period: Option<[f64; 2]>,
    /// Every observed position `(x, y)`.
    pub positions: Vec<(f64, f64)>,
}

impl NearObservations {
    /// Flat indices (row-major over `(y, x)`) of the grid points within the radius of a position.
    pub fn points(&self, x: &[f64], y: &[f64]) -> Vec<usize> {
        let gap = |d: f64, period: Option<f64>| match period {
            Some(p) => {
                let d = d.rem_euclid(p);
                d.min(p - d)
            }
            None => d.abs(),
        };
        let (px, py) = (self.period.map(|p| p[0]), self.period.map(|p| p[1]));
        let r2 = self.radius * self.radius;
        (0..y.len() * x.len())
            .filter(|&k| {
                let (gx, gy) = (x[k % x.len()], y[k / x.len()]);
                self.positions.iter().any(|&(ox, oy)| gap(gx - ox, px).powi(2) + gap(gy - oy, py).powi(2) <= r2)
            })
            .collect()
    }
}

/// The truth the methods are scored against.
#[derive(Debug, Clone)]
pub struct Truth {
    /// The truth file.
    pub path: PathBuf,
    /// The chosen time, `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    /// Its index along the truth's time dimension.
    pub index: usize,
    /// The scored variables, in the order they are reported.
    pub variables: Vec<Variable>,
}

/// Scores of one method on one variable.
#[derive(Debug, Clone, Serialize)]
pub struct VariableScores {
    /// RMSE, bias, spread, spread/skill and fair CRPS (NaN where undefined, e.g. spread of one member).
    #[serde(flatten)]
    pub scores: EnsembleScores,
    /// Counts of the truth's rank among the members, `members + 1` bins.
    pub rank_histogram: Vec<u64>,
    /// Pearson chi-square of the rank histogram against the flat one (`bins - 1` when calibrated).
    pub rank_chi2: f64,
    /// The analysis mean the RMSE is of (for maps).
    #[serde(skip)]
    pub mean: Vec<f64>,
    /// The pointwise ensemble standard deviation (for maps).
    #[serde(skip)]
    pub std: Vec<f64>,
}

/// Everything known about one method: its scores per variable and its cost.
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    /// Row name in the report (from the input key, else the `method` attribute).
    pub name: String,
    /// The file's `method` global attribute (`climatology` for the bank).
    pub method: String,
    /// The analysis (or bank) file.
    pub file: String,
    /// Ensemble size.
    pub members: usize,
    /// Scores by variable name.
    pub variables: BTreeMap<String, VariableScores>,
    /// Effective sample size, from the method's diagnostics (importance weighting only).
    pub ess: Option<f64>,
    /// Test-split retrieval recall of the encoders, for encoder methods.
    pub recall: Option<Recall>,
    /// Wall time of the method alone, seconds, from its diagnostics.
    pub wall_time_s: Option<f64>,
    /// Peak resident memory of the process after the method, bytes, from its diagnostics.
    pub peak_rss_bytes: Option<f64>,
    /// The diagnostics file as written by the method, when there is one.
    pub diagnostics: Option<serde_json::Value>,
}

/// The scores of one evaluation: the truth and every method, climatology first.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// What was scored against.
    pub truth: Truth,
    /// The window (from the run, else the analyses' `window` attribute).
    pub window: Option<String>,
    /// One entry per method.
    pub methods: Vec<MethodResult>,
}

/// An analysis input: its pipeline key and file.
struct Analysis {
    name: String,
    method: String,
    file: NcFile,
    /// Its time, when it has a time coordinate.
    time: Option<(CfDateTime, String)>,
}

/// Scores the bank (as climatology) and each analysis `(key, path)` against the truth.
/// `recall` is attached to encoder methods; `near` adds the `<var>_near_obs` parts; `seed` seeds
/// the tie-breaking of rank histograms.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_methods(
    truth_path: &Path,
    bank: Option<&Path>,
    analyses: &[(String, PathBuf)],
    recall: Option<&Recall>,
    opts: &EvaluateOptions,
    near: Option<&NearObservations>,
    window: Option<String>,
    seed: u64,
) -> Result<Evaluation> {
    let truth_file = NcFile::open(truth_path)?;
    let analyses = open_analyses(analyses)?;
    let bank_file = bank.map(NcFile::open).transpose()?;
    let window = window.or_else(|| analyses.iter().find_map(|a| a.file.attr_str(None, "window")));

    let (time_var, axis) = time_axis(&truth_file)?;
    let time_dim = truth_file.var_dims(&time_var)?.into_iter().next().unwrap_or_default();
    let index = truth_index(&truth_file, &axis.units, &axis.values, &analyses, opts)?;
    let names = variable_names(&truth_file, &time_dim, &analyses, bank_file.as_ref(), opts)?;
    let anomalies = opts.anomalies.as_deref().unwrap_or_default();
    if let Some(v) = anomalies.iter().find(|v| !names.contains(v)) {
        return Err(Error::input(truth_path, format!("evaluate option anomalies names `{v}`, which is not scored here (scored: {})", names.join(", "))));
    }
    let mut variables = names.iter().map(|n| read_truth_variable(&truth_file, n, &time_dim, index, anomalies.contains(n))).collect::<Result<Vec<_>>>()?;
    if let Some(near) = near {
        let parts: Vec<Variable> = variables.iter().filter_map(|v| v.near(near)).collect();
        variables.extend(parts);
    }
    // Every ensemble is checked before any is read: a bad file fails before minutes of scoring.
    for a in &analyses {
        for v in &variables {
            ensemble_shape(&a.file, v, "member")?;
        }
    }
    if let Some(bank) = &bank_file {
        for v in &variables {
            ensemble_shape(bank, v, "time")?;
        }
    }

    let mut methods = Vec::new();
    if let Some(bank) = &bank_file {
        let mut result = score_file(bank, CLIMATOLOGY, CLIMATOLOGY, &variables, false, seed)?;
        result.method = CLIMATOLOGY.into();
        methods.push(result);
    }
    for a in &analyses {
        let mut result = score_file(&a.file, &a.name, &a.method, &variables, true, seed)?;
        if let Some(d) = Diagnostics::beside(a.file.path(), &a.method)? {
            result.ess = d.ess;
            result.wall_time_s = d.wall_time_s;
            result.peak_rss_bytes = d.peak_rss_bytes;
            result.diagnostics = Some(d.to_json());
        }
        if ENCODER_METHODS.contains(&a.method.as_str()) {
            result.recall = recall.cloned();
        }
        methods.push(result);
    }
    let time = axis.times[index].to_string();
    Ok(Evaluation { truth: Truth { path: truth_path.to_path_buf(), time, index, variables }, window, methods })
}

/// Opens the analyses and names each: the key after `analysis` (`analysis_etkf` -> `etkf`), else
/// the `method` attribute, else the file stem; a clash falls back to the whole key.
fn open_analyses(inputs: &[(String, PathBuf)]) -> Result<Vec<Analysis>> {
    let mut out: Vec<Analysis> = Vec::new();
    for (key, path) in inputs {
        let file = NcFile::open(path)?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let method = file.attr_str(None, "method").unwrap_or_else(|| stem.trim_start_matches("analysis_").to_string());
        let suffix = key.strip_prefix(super::config::ANALYSIS_PREFIX).unwrap_or(key).trim_start_matches(['_', '-']);
        let mut name = if suffix.is_empty() { method.clone() } else { suffix.to_string() };
        if name == CLIMATOLOGY || out.iter().any(|a| a.name == name) {
            name = key.clone();
        }
        let time = match time_axis(&file) {
            Ok((var, axis)) => {
                if axis.times.len() != 1 {
                    return Err(file.var_error(&var, format!("has {} times; expected one analysis time", axis.times.len())));
                }
                Some((axis.times[0], axis.times[0].to_string()))
            }
            Err(_) if !has_time_var(&file) => None,
            Err(e) => return Err(e),
        };
        out.push(Analysis { name, method, file, time });
    }
    Ok(out)
}

fn has_time_var(file: &NcFile) -> bool {
    time_var_name(file).is_some()
}

fn time_var_name(file: &NcFile) -> Option<String> {
    file.find_var_by_attr("standard_name", "time").or_else(|| file.find_var_by_attr("axis", "T")).or_else(|| file.has_var("time").then(|| "time".to_string()))
}

/// The time coordinate of `file` (by `standard_name`, `axis` or name), decoded.
fn time_axis(file: &NcFile) -> Result<(String, crate::cf::TimeAxis)> {
    let var = time_var_name(file).ok_or_else(|| {
        Error::input(file.path(), "no time coordinate (a variable with standard_name = \"time\", axis = \"T\" or named `time`); expected one")
    })?;
    let axis = file.read_time(&var)?;
    Ok((var, axis))
}

/// Index of the truth time to score against (see [`TruthTime`]).
fn truth_index(truth: &NcFile, units: &TimeUnits, values: &[f64], analyses: &[Analysis], opts: &EvaluateOptions) -> Result<usize> {
    let rule = opts.truth_time_rule(units.calendar).map_err(|m| Error::config("options", "truth_time", m))?;
    // Within a second: times written in different units round differently.
    let find = |t: &CfDateTime| values.iter().position(|&v| ((v - units.encode(t)) * units.unit_seconds).abs() < 1.0);
    let range = || format!("the file has {} time(s), {} .. {}", values.len(), units.decode(values[0]), units.decode(values[values.len() - 1]));
    match rule {
        TruthTime::At(t) => find(&t).ok_or_else(|| Error::input(truth.path(), format!("no time equals truth_time {t}; {}", range()))),
        TruthTime::Match => {
            let same = |a: &CfDateTime, b: &CfDateTime| ((units.encode(a) - units.encode(b)) * units.unit_seconds).abs() < 1.0;
            let mut times = analyses.iter().filter_map(|a| a.time.as_ref().map(|t| (a, t)));
            if let Some((a, (t0, text0))) = times.next() {
                if let Some((b, (_, text))) = times.find(|(_, (t, _))| !same(t, t0)) {
                    return Err(Error::input(
                        b.file.path(),
                        format!("analysis time {text} differs from {text0} of {}; evaluate one window at a time", a.file.path().display()),
                    ));
                }
                if let Some(i) = find(t0) {
                    return Ok(i);
                }
                if values.len() == 1 {
                    tracing::warn!("{}: no truth time equals the analysis time {text0}; scoring against its only time", truth.path().display());
                    return Ok(0);
                }
                return Err(Error::input(truth.path(), format!("no time equals the analysis time {text0}; {}", range())));
            }
            if values.len() == 1 {
                return Ok(0);
            }
            Err(Error::input(truth.path(), format!("{}, and no analysis has a time to match; set the evaluate option truth_time", range())))
        }
    }
}

/// The variables to score: the configured ones (each must be in the truth over time first), or
/// every truth variable over `(time, a, b)` that an analysis (without analyses: the bank) holds.
fn variable_names(truth: &NcFile, time_dim: &str, analyses: &[Analysis], bank: Option<&NcFile>, opts: &EvaluateOptions) -> Result<Vec<String>> {
    if let Some(vars) = &opts.variables {
        for v in vars {
            let dims = truth.var_dims(v)?;
            if dims.first().map(String::as_str) != Some(time_dim) || dims.len() < 2 {
                return Err(truth.var_error(v, format!("dimensions ({}); expected ({time_dim}, ...) with at least one more dimension", dims.join(", "))));
            }
        }
        return Ok(vars.clone());
    }
    let held_by = |name: &str| if analyses.is_empty() { bank.is_some_and(|b| b.has_var(name)) } else { analyses.iter().any(|a| a.file.has_var(name)) };
    let names: Vec<String> =
        truth.var_names().into_iter().filter(|v| truth.var_dims(v).is_ok_and(|d| d.len() == 3 && d[0] == time_dim)).filter(|v| held_by(v)).collect();
    if names.is_empty() {
        return Err(Error::input(
            truth.path(),
            format!(
                "no variable over ({time_dim}, y, x) is also in the analyses or bank; expected gridded fields such as psi(time, y, x), or set the evaluate option variables"
            ),
        ));
    }
    Ok(names)
}

fn read_truth_variable(truth: &NcFile, name: &str, time_dim: &str, index: usize, anomaly: bool) -> Result<Variable> {
    let dims = truth.var_dims(name)?;
    if dims.first().map(String::as_str) != Some(time_dim) {
        return Err(truth.var_error(name, format!("dimensions ({}); expected the time dimension `{time_dim}` first", dims.join(", "))));
    }
    let trailing: Vec<(String, usize)> = dims[1..].iter().map(|d| Ok((d.clone(), truth.dim_len(d)?))).collect::<Result<_>>()?;
    let mut start = vec![0; dims.len()];
    start[0] = index;
    let count: Vec<usize> = std::iter::once(1).chain(trailing.iter().map(|d| d.1)).collect();
    let mut values = truth.read_slab(name, &start, &count)?.data.into_raw_vec_and_offset().0;
    if anomaly {
        let d = values.len();
        remove_field_means(&mut values, 1, d);
    }
    let grid = (trailing.len() == 2).then(|| (coordinate(truth, &trailing[1]), coordinate(truth, &trailing[0])));
    let mut long_name = truth.attr_str(Some(name), "long_name").or_else(|| truth.attr_str(Some(name), "standard_name")).unwrap_or_default();
    if anomaly {
        long_name.push_str(" (anomaly from its spatial mean)");
    }
    Ok(Variable {
        name: name.into(),
        units: truth.attr_str(Some(name), "units").unwrap_or_default(),
        long_name,
        dims: trailing,
        grid,
        truth: values,
        anomaly,
        field: name.into(),
        points: None,
    })
}

/// Values of the coordinate variable of `dim`, or the indices when there is none.
fn coordinate(file: &NcFile, (dim, len): &(String, usize)) -> Vec<f64> {
    let values = file.var_dims(dim).ok().filter(|d| d.len() == 1 && &d[0] == dim).and_then(|_| file.read(dim).ok()).map(|a| a.data.into_raw_vec_and_offset().0);
    values.filter(|v| v.len() == *len && v.iter().all(|x| x.is_finite())).unwrap_or_else(|| (0..*len).map(|i| i as f64).collect())
}

/// Checks that `file` holds `var` as `(leading, dims of the truth)`; returns the ensemble size.
/// `leading` names what the first dimension means (`member`, or `time` for a bank), for errors.
fn ensemble_shape(file: &NcFile, var: &Variable, leading: &str) -> Result<usize> {
    let name = &var.field;
    let expected = format!("{name}({leading}, {})", var.dims.iter().map(|d| d.0.as_str()).collect::<Vec<_>>().join(", "));
    if !file.has_var(name) {
        return Err(file.var_error(name, format!("not in this file; expected {expected} like the truth (the file has: {})", file.var_names().join(", "))));
    }
    let dims = file.var_dims(name)?;
    let lens: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
    let shape = || dims.iter().zip(&lens).map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", ");
    if lens.len() != var.dims.len() + 1 || lens[1..].iter().zip(&var.dims).any(|(a, b)| *a != b.1) {
        let truth_shape = var.dims.iter().map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", ");
        return Err(file.var_error(name, format!("dimensions ({}); expected {expected} with the truth's ({truth_shape})", shape())));
    }
    if lens[0] == 0 {
        return Err(file.var_error(name, format!("has no {leading}s; expected at least one")));
    }
    Ok(lens[0])
}

/// Scores every variable of one ensemble file. `own_mean`: use `<var>_mean` when the file has it
/// (a method's own estimate); the bank's climatological mean is always the member mean.
fn score_file(file: &NcFile, name: &str, method: &str, variables: &[Variable], own_mean: bool, seed: u64) -> Result<MethodResult> {
    let mut scores = BTreeMap::new();
    let mut members = 0;
    for var in variables {
        let n = ensemble_shape(file, var, if own_mean { "member" } else { "time" })?;
        members = n;
        let field: usize = var.dims.iter().map(|d| d.1).product();
        let mut data = file.read(&var.field)?.data.into_raw_vec_and_offset().0;
        let mean_name = format!("{}_mean", var.field);
        let mut mean = if own_mean && file.has_var(&mean_name) {
            let mean = file.read(&mean_name)?.data.into_raw_vec_and_offset().0;
            if mean.len() != field {
                return Err(file.var_error(&mean_name, format!("has {} values; expected {field}, one per point of {}", mean.len(), var.field)));
            }
            mean
        } else {
            member_mean(&data, n, field)
        };
        if var.anomaly {
            remove_field_means(&mut data, n, field);
            remove_field_means(&mut mean, 1, field);
        }
        if let Some(points) = &var.points {
            data = data.chunks_exact(field).flat_map(|member| points.iter().map(|&i| member[i])).collect();
            mean = points.iter().map(|&i| mean[i]).collect();
        }
        let d = var.truth.len();
        // Ties (e.g. members equal to the truth) get uniform random ranks, drawn per method and
        // variable from the stage seed so that adding a method changes nobody else's histogram.
        let mut rng = rand::rngs::StdRng::seed_from_u64(derive_seed(seed, &format!("{name}/{}", var.name)));
        let jitter: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
        let hist = rank_histogram(&data, n, &var.truth, |i| jitter[i]);
        let (s, std) = if n >= 2 {
            (EnsembleScores::with_mean(&data, n, &mean, &var.truth), member_std(&data, n, d))
        } else {
            let nan = f64::NAN;
            (EnsembleScores { rmse: rmse(&mean, &var.truth), bias: bias(&mean, &var.truth), spread: nan, spread_skill: nan, crps: nan }, vec![nan; d])
        };
        scores.insert(var.name.clone(), VariableScores { scores: s, rank_chi2: rank_chi2(&hist), rank_histogram: hist, mean, std });
    }
    Ok(MethodResult {
        name: name.into(),
        method: method.into(),
        file: file.path().display().to_string(),
        members,
        variables: scores,
        ess: None,
        recall: None,
        wall_time_s: None,
        peak_rss_bytes: None,
        diagnostics: None,
    })
}
