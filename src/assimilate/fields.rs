//! The bank's fields on their grids, and the analysis file made from them (`analysis_M.nc`): the
//! analysis ensemble in the bank's layout, the mean, spread, best member and weighted quantiles.
//!
//! How an ensemble is made from the bank is a [`Combination`]: selected members with weights
//! (reweight, retrieve) or a linear transform of the bank (transform). The statistics of a weighted
//! combination come from the weighted bank directly ([`super::moments`]), not from the members
//! drawn from it, so they carry no resampling noise.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, Axis};

use super::moments::{Value, weighted_moments, weighted_quantiles, weighted_summary};
use crate::cf::time::TimeUnits;
use crate::cf::write::{Attr, Precision};
use crate::cf::{NcFile, NcWriter};
use crate::config::IoConfig;
use crate::error::{Error, Result};
use crate::ingest::dataset::Dataset;

/// How an analysis ensemble is made from the bank members.
pub enum Combination {
    /// Selected members `idx` (the ensemble), the weights of the whole bank that the fields' mean
    /// and spread come from, the best member `map`, and the weights the quantiles come from:
    /// `None`, exact quantiles under `weights`; `Some(counts)`, those of a systematic resample of
    /// `weights` ([`super::generator::resample_counts`]), an estimate that reads a few thousand
    /// rows instead of ordering every point's values over the whole bank.
    Members { idx: Vec<usize>, weights: Array1<f64>, map: usize, quantile_weights: Option<Vec<f64>> },
    /// Member j = sum_i T_ij bank_i; mean, spread and quantiles are those of the members.
    Linear(Array2<f64>),
}

impl Combination {
    /// Size of the analysis ensemble.
    pub fn members(&self) -> usize {
        match self {
            Combination::Members { idx, .. } => idx.len(),
            Combination::Linear(t) => t.ncols(),
        }
    }
}

/// One variable of the bank: values with one row per bank sample.
pub struct BankVariable<T> {
    /// Name in the state files.
    pub name: String,
    /// Dimensions after time, with their lengths.
    pub dims: Vec<(String, usize)>,
    /// Bank sample x grid point (row-major over `dims`).
    pub values: Array2<T>,
    /// Attributes copied to the analysis (units, long_name, standard_name).
    pub attrs: Vec<(String, String)>,
}

/// The bank's variables, one row per bank sample, and the coordinates of their dimensions.
pub struct BankFields<T = f64> {
    /// The variables.
    pub vars: Vec<BankVariable<T>>,
    /// Coordinate variables of the dimensions (name, values, attributes as an analysis writes them).
    pub coords: BTreeMap<String, (Vec<f64>, crate::analysis::layout::OwnedAttrs)>,
}

/// What the analysis file records about itself.
pub struct AnalysisHeader<'a> {
    /// The method (`reweight`, ...).
    pub method: &'a str,
    /// The window (`YYYY-MM-DD` or `all`).
    pub window: String,
    /// Analysis time, in `units`.
    pub time: f64,
    /// Units and calendar of the time.
    pub units: &'a TimeUnits,
    /// Levels of the weighted quantiles to write (`<var>_quantile`); none when empty.
    pub quantiles: &'a [f64],
}

/// The bank's fields in the precision they are stored in: a bank of `float` variables is held
/// and summed as f32 (half the memory and half the bytes each analysis reads), anything else
/// (double, integer or packed variables) as f64.
pub enum Bank {
    /// Every variable stored as unpacked 32-bit floats in every file.
    Single(BankFields<f32>),
    /// Otherwise.
    Double(BankFields<f64>),
}

impl Bank {
    /// Reads the variables `wanted` (default: every variable with the bank's time dimension first)
    /// of the bank's state files, one row per bank sample in the bank's order.
    pub fn read(bank: &Dataset, wanted: &[String], bank_path: &Path) -> Result<Bank> {
        let files: Vec<NcFile> = bank.state_files.iter().map(NcFile::open).collect::<Result<_>>()?;
        let first = &files[0];
        let time_dim =
            first.var_dims(&bank.grid.first().map_or_else(|| "time".to_string(), |g| g.name.clone()))?.first().cloned().unwrap_or_else(|| "time".into());
        let names: Vec<String> = if wanted.is_empty() {
            first.var_names().into_iter().filter(|v| v != &time_dim && first.var_dims(v).is_ok_and(|d| d.len() >= 2 && d[0] == time_dim)).collect()
        } else {
            wanted.to_vec()
        };
        if names.is_empty() {
            return Err(Error::input(first.path(), format!("no variable with `{time_dim}` as its first dimension to write as the analysis ensemble")));
        }
        let single = names.iter().all(|n| files.iter().all(|f| f.is_f32(n).unwrap_or(false) && !f.mask_rule(n).is_packed()));
        Ok(if single {
            Bank::Single(read_fields(bank, &files, &names, &time_dim, bank_path)?)
        } else {
            Bank::Double(read_fields(bank, &files, &names, &time_dim, bank_path)?)
        })
    }

    /// Writes `analysis_M.nc` (see [`BankFields::write`]).
    pub fn write(&self, path: &Path, io: &IoConfig, comb: &Combination, h: &AnalysisHeader) -> Result<usize> {
        match self {
            Bank::Single(f) => f.write(path, io, comb, h),
            Bank::Double(f) => f.write(path, io, comb, h),
        }
    }
}

/// A storage type of bank values, read from a NetCDF variable with its missing values as NaN.
trait Stored: Value + Clone + Default {
    fn read_var(file: &NcFile, name: &str) -> Result<Vec<Self>>;
}

impl Stored for f64 {
    fn read_var(file: &NcFile, name: &str) -> Result<Vec<f64>> {
        Ok(file.read(name)?.data.into_raw_vec_and_offset().0)
    }
}

impl Stored for f32 {
    fn read_var(file: &NcFile, name: &str) -> Result<Vec<f32>> {
        file.read_f32(name)
    }
}

/// The variables `names` of the bank's state `files`, one row per bank sample, stored as `T`.
fn read_fields<T: Stored>(bank: &Dataset, files: &[NcFile], names: &[String], time_dim: &str, bank_path: &Path) -> Result<BankFields<T>> {
    let first = &files[0];
    let mut vars = Vec::new();
    let mut coords = BTreeMap::new();
    for name in names {
        let dims = first.var_dims(name)?;
        if dims.first().map(String::as_str) != Some(time_dim) {
            return Err(first.var_error(name, format!("expected `{time_dim}` as the first dimension (bank {})", bank_path.display())));
        }
        let rest: Vec<(String, usize)> = dims[1..].iter().map(|d| Ok((d.clone(), first.dim_len(d)?))).collect::<Result<_>>()?;
        let width: usize = rest.iter().map(|(_, n)| n).product();
        let mut per_file: Vec<Vec<T>> = files.iter().map(|f| T::read_var(f, name)).collect::<Result<_>>()?;
        let n = bank.source.len();
        let whole_file = per_file.len() == 1 && per_file[0].len() == n * width && bank.source.iter().enumerate().all(|(k, &s)| s == (0, k));
        let values = if whole_file {
            // The usual bank, one file taken whole and in order: no second copy in memory.
            Array2::from_shape_vec((n, width), per_file.remove(0)).expect("n x width values")
        } else {
            let mut values = Array2::from_elem((n, width), T::default());
            for (k, &(file, t)) in bank.source.iter().enumerate() {
                let row = per_file[file].get(t * width..(t + 1) * width).ok_or_else(|| files[file].var_error(name, format!("has no time index {t}")))?;
                values.row_mut(k).assign(&ndarray::ArrayView1::from(row));
            }
            values
        };
        for (d, _) in &rest {
            if !coords.contains_key(d) && first.has_var(d) {
                let v = first.read(d)?.data.iter().copied().collect();
                coords.insert(d.clone(), (v, crate::analysis::layout::coordinate_attributes(first, d)?));
            }
        }
        let attrs = ["units", "long_name", "standard_name"].iter().filter_map(|a| first.attr_str(Some(name), a).map(|v| (a.to_string(), v))).collect();
        vars.push(BankVariable { name: name.clone(), dims: rest, values, attrs });
    }
    Ok(BankFields { vars, coords })
}

impl<T: Value> BankFields<T> {
    /// Writes `analysis_M.nc` for the ensemble `comb` makes of the bank; returns the ensemble size.
    pub fn write(&self, path: &Path, io: &IoConfig, comb: &Combination, h: &AnalysisHeader) -> Result<usize> {
        let mut w = NcWriter::create(path, io, &format!("contrada analysis ({})", h.method))?;
        w.global("method", h.method)?;
        w.global("window", h.window.as_str())?;
        let u = h.units;
        let units = format!("{} since {}", crate::cf::dsg::unit_name(u.unit_seconds), u.epoch);
        w.coord("time", &[h.time], vec![("standard_name", "time".into()), ("units", units.into()), ("calendar", u.calendar.name().into())])?;
        w.dim("member", comb.members())?;
        if !h.quantiles.is_empty() {
            w.coord("quantile", h.quantiles, vec![("long_name", "probability level of the weighted quantile".into()), ("units", "1".into())])?;
        }
        for (name, (values, attrs)) in &self.coords {
            w.coord(name, values, crate::analysis::layout::borrowed(attrs))?;
        }
        let mut defined: std::collections::BTreeSet<&str> = self.coords.keys().map(String::as_str).collect();
        for v in &self.vars {
            for (d, n) in &v.dims {
                if defined.insert(d.as_str()) {
                    w.dim(d, *n)?;
                }
            }
        }
        for v in &self.vars {
            let stats = analyse(v.values.view(), comb, h.quantiles);
            let attr = |extra: &str| -> Vec<Attr<'_>> {
                v.attrs.iter().map(|(k, val)| (k.as_str(), if k == "units" { val.as_str().into() } else { format!("{val}{extra}").into() })).collect()
            };
            let dims: Vec<&str> = v.dims.iter().map(|(d, _)| d.as_str()).collect();
            let with = |first: &'static str| -> Vec<&str> { std::iter::once(first).chain(dims.iter().copied()).collect() };
            // Members that are bank states in the bank's own precision (exactly the stored values,
            // and half the bytes to compress for a float bank); transformed members are new values.
            let members = if matches!(comb, Combination::Members { .. }) { T::PRECISION } else { Precision::F64 };
            w.var_real(&v.name, &with("member"), stats.ensemble.as_slice().expect("standard layout"), members, attr(""))?;
            w.var_f64(&format!("{}_mean", v.name), &dims, &stats.mean, attr(" (analysis mean)"))?;
            w.var_f64(&format!("{}_spread", v.name), &dims, &stats.spread, attr(" (analysis spread)"))?;
            if let Some(map) = &stats.map {
                w.var_real(&format!("{}_map", v.name), &dims, map, T::PRECISION, attr(" (best bank member)"))?;
            }
            if !h.quantiles.is_empty() {
                w.var_f64(
                    &format!("{}_quantile", v.name),
                    &with("quantile"),
                    stats.quantiles.as_slice().expect("standard layout"),
                    attr(" (analysis quantile)"),
                )?;
            }
        }
        w.finish()?;
        Ok(comb.members())
    }
}

/// The analysis of one variable: ensemble (member x point), mean, spread, best member, quantiles
/// (level x point).
pub struct Analysis {
    /// The analysis ensemble.
    pub ensemble: Array2<f64>,
    /// Analysis mean.
    pub mean: Vec<f64>,
    /// Analysis spread (standard deviation).
    pub spread: Vec<f64>,
    /// The best bank member, where the method has one.
    pub map: Option<Vec<f64>>,
    /// Weighted quantiles, one row per level.
    pub quantiles: Array2<f64>,
}

/// The analysis `comb` makes of one bank variable `values` (bank sample x point).
pub fn analyse<T: Value>(values: ndarray::ArrayView2<T>, comb: &Combination, quantiles: &[f64]) -> Analysis {
    match comb {
        Combination::Members { idx, weights, map, quantile_weights } => {
            let w = weights.as_slice().expect("contiguous weights");
            let (mean, spread, quantiles) = match quantile_weights {
                None if !quantiles.is_empty() => {
                    let s = weighted_summary(values, w, quantiles);
                    (s.mean, s.spread, s.quantiles)
                }
                // The moments alone stream the bank at memory speed.
                _ => {
                    let (mean, spread) = weighted_moments(values, w);
                    let q = quantile_weights.as_ref().map_or_else(|| Array2::zeros((0, values.ncols())), |qw| weighted_quantiles(values, qw, quantiles));
                    (mean, spread, q)
                }
            };
            Analysis {
                ensemble: values.select(Axis(0), idx).mapv(Value::to_f64),
                mean,
                spread,
                map: Some(values.row(*map).iter().map(|&x| x.to_f64()).collect()),
                quantiles,
            }
        }
        Combination::Linear(t) => {
            let ensemble = t.t().dot(&values.mapv(Value::to_f64));
            let mean = ensemble.mean_axis(Axis(0)).expect("members >= 2");
            let spread = spread_of(&ensemble, mean.view());
            let equal = vec![1.0 / ensemble.nrows() as f64; ensemble.nrows()];
            let quantiles = weighted_quantiles(ensemble.view(), &equal, quantiles);
            Analysis { ensemble, mean: mean.to_vec(), spread, map: None, quantiles }
        }
    }
}

/// Ensemble standard deviation about `mean` (n - 1 in the denominator).
fn spread_of(ensemble: &Array2<f64>, mean: ArrayView1<f64>) -> Vec<f64> {
    let n = ensemble.nrows().max(2) as f64;
    (ensemble - &mean.insert_axis(Axis(0))).mapv(|x| x * x).sum_axis(Axis(0)).mapv(|s| (s / (n - 1.0)).sqrt()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assimilate::generator::resample_counts;
    use rand::{Rng, SeedableRng};

    /// The weight of the members of `w` whose value at point `j` is below `v`, and at or below it.
    fn cdf(x: &Array2<f32>, w: &[f64], j: usize, v: f64) -> (f64, f64) {
        let (mut below, mut at) = (0.0, 0.0);
        for (i, &wi) in w.iter().enumerate() {
            let xi = f64::from(x[[i, j]]);
            below += if xi < v { wi } else { 0.0 };
            at += if xi <= v { wi } else { 0.0 };
        }
        (below, at)
    }

    #[test]
    fn resampled_quantiles_sit_near_the_weighted_levels_and_leave_mean_and_spread_exact() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (n, d, m) = (20_000, 24, 4096);
        let x = Array2::from_shape_fn((n, d), |(i, j)| (i % 101) as f32 * 0.01 * (1.0 + j as f32) + rng.random::<f32>());
        // Skewed weights (ESS about 2,000) that favour large rows: the unweighted quantiles are far off.
        let raw: Vec<f64> = (0..n).map(|i| (4.0 * (i % 101) as f64 / 100.0 + rng.random::<f64>()).exp().powi(2)).collect();
        let total: f64 = raw.iter().sum();
        let weights = Array1::from(raw.iter().map(|r| r / total).collect::<Vec<_>>());
        let w = weights.as_slice().unwrap();
        let qs = [0.1, 0.5, 0.9];
        let counts = resample_counts(weights.view(), m, 0.37);
        let exact = analyse(x.view(), &Combination::Members { idx: vec![0, 1], weights: weights.clone(), map: 0, quantile_weights: None }, &qs);
        let sampled = analyse(x.view(), &Combination::Members { idx: vec![0, 1], weights: weights.clone(), map: 0, quantile_weights: Some(counts) }, &qs);
        for j in 0..d {
            assert!((sampled.mean[j] - exact.mean[j]).abs() < 1e-12 * exact.mean[j].abs(), "mean {j}");
            assert!((sampled.spread[j] - exact.spread[j]).abs() < 1e-9 * exact.spread[j], "spread {j}");
        }
        // The level each estimate reaches under the bank's weights: within 4 standard errors of a
        // multinomial sample of m (0.019 at the median), which systematic resampling only beats.
        let mut worst = 0.0f64;
        for (k, &q) in qs.iter().enumerate() {
            let tol = 4.0 * (q * (1.0 - q) / m as f64).sqrt();
            for j in 0..d {
                let (below, at) = cdf(&x, w, j, sampled.quantiles[[k, j]]);
                let miss = (q - at).max(below - q).max(0.0);
                worst = worst.max(miss / tol);
                assert!(miss <= tol, "point {j}, q {q}: the estimate covers levels {below:.4}..{at:.4}");
                // Unweighted quantiles would miss by far more: the weights matter here.
                let mut col: Vec<f32> = x.column(j).to_vec();
                col.sort_by(f32::total_cmp);
                let (_, at_unweighted) = cdf(&x, w, j, f64::from(col[(q * n as f64) as usize]));
                assert!((at_unweighted - q).abs() > 5.0 * tol, "point {j}, q {q}: test weights too flat");
            }
        }
        assert!(worst > 0.0, "an estimate, not the exact quantiles");
    }
}
