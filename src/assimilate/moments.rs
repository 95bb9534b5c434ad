//! Weighted statistics of the bank's fields: the hot path of an analysis over a large bank.
//!
//! A bank of 50,000 states of 64 x 64 x 3 values is 2.4 GB of f32, so the mean, spread and
//! quantiles come from one pass over the fields at memory speed: values in their storage type (f32
//! or f64) with f64 accumulators, rows of zero weight skipped, rayon across chunks of rows. The
//! quantiles are exact without a sort of the bank per grid point: the heavy members bracket each
//! one (a weighted selection, [`super::select`]), and the pass counts the weight below each bracket
//! and collects the few values inside it.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::select::select_levels;

/// A stored field value: f32 or f64, accumulated as f64.
pub trait Value: Copy + Send + Sync {
    /// The value as f64.
    fn to_f64(self) -> f64;
}
impl Value for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Value for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

/// Weight the exact quantile search leaves to the streaming pass: the lightest members, together
/// carrying at most this fraction of the weight, are not gathered per grid point; the others (the
/// "heavy" members, a few thousand of a bank of 50,000 when the ESS is a few hundred) bracket each
/// quantile, and the pass over the whole bank then counts the weight below each bracket and
/// collects the few values inside it, from which the quantile follows exactly. Larger: fewer heavy
/// members to select among, wider brackets with more values to collect.
pub const BRACKET_MASS: f64 = 1e-3;

/// Bank rows per rayon task of the pass: large enough that the per-task accumulators are cheap to
/// merge, small enough that two cores share the work evenly.
const ROWS_PER_TASK: usize = 256;
/// Grid points compared at once in the pass (a short loop the compiler vectorises).
const LANES: usize = 8;
/// (value, weight) pairs gathered per rayon task when the heavy members bracket the quantiles
/// (1 MB: stays in a core's cache).
const HEAVY_TILE_PAIRS: usize = 1 << 16;
/// Rounding allowance, relative to the total weight, of the partial sums that place the brackets.
const BRACKET_MARGIN: f64 = 1e-9;

/// Weighted statistics of each column (grid point) of a bank of fields.
pub struct Summary {
    /// Weighted mean.
    pub mean: Vec<f64>,
    /// Weighted spread (unbiased for reliability weights, see [`weighted_summary`]).
    pub spread: Vec<f64>,
    /// Weighted quantiles, one row per level.
    pub quantiles: Array2<f64>,
    /// (level, point) pairs whose bracket did not hold (ties at a bracket's level within rounding)
    /// and that were resolved by a selection over the whole column instead.
    pub fallbacks: usize,
    /// Bank values the pass collected inside the brackets (the work of resolving the quantiles).
    pub collected: usize,
}

/// The weighted mean and spread of each column of `fields` (see [`weighted_summary`]).
pub fn weighted_moments<T: Value>(fields: ArrayView2<T>, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let s = weighted_summary(fields, w, &[]);
    (s.mean, s.spread)
}

/// The weighted quantiles `qs` of each column of `fields` (see [`weighted_summary`]).
pub fn weighted_quantiles<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64]) -> Array2<f64> {
    weighted_summary(fields, w, qs).quantiles
}

/// Weighted statistics of each column of `fields` (bank member x grid point) under the
/// non-negative weights `w`, from one pass over the rows of non-zero weight.
///
/// Mean `m = sum_i w_i x_i / W` (`W = sum_i w_i`) and spread
/// `sqrt(sum_i w_i (x_i - m)^2 / (W (1 - sum_i w_i^2 / W^2)))`: the unbiased estimate for
/// reliability weights, the usual `n - 1` sample standard deviation for `K` equal weights and 0 when
/// one member carries all the weight; accumulated about the heaviest member so that the second
/// moment does not cancel.
///
/// Quantiles: for each level `q` in `qs`, the smallest value whose cumulative weight reaches `q W`
/// (inverse weighted CDF), exact (the same value as a walk over the fully sorted column, up to the
/// rounding of the partial sums where one lands exactly on `q W`). Rather than sorting 50,000
/// values per point, the heavy members (all but [`BRACKET_MASS`] of the weight) bracket each
/// quantile by a weighted selection, and the pass over the bank resolves it (see [`BRACKET_MASS`]).
pub fn weighted_summary<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64]) -> Summary {
    summary(fields, w, qs, BRACKET_MASS)
}

/// [`weighted_summary`] with the bracket mass as a parameter (tests exercise the extremes).
fn summary<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64], bracket_mass: f64) -> Summary {
    let (n, d) = fields.dim();
    assert_eq!(n, w.len(), "one weight per bank member");
    assert!(qs.len() * d < u32::MAX as usize, "quantile keys fit in u32");
    let total: f64 = w.iter().sum();
    let sum_sq: f64 = w.iter().map(|x| x * x).sum();
    let Some(heaviest) = (0..n).max_by(|&a, &b| w[a].total_cmp(&w[b])) else {
        return Summary { mean: vec![f64::NAN; d], spread: vec![f64::NAN; d], quantiles: Array2::from_elem((qs.len(), d), f64::NAN), fallbacks: 0, collected: 0 };
    };
    let shift: Vec<f64> = fields.row(heaviest).iter().map(|&x| x.to_f64()).collect();
    let active: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let targets: Vec<f64> = qs.iter().map(|q| q * total).collect();
    let bounds = brackets(fields, w, &active, &targets, bracket_mass * total, total);
    let pass = active
        .par_chunks(ROWS_PER_TASK)
        .fold(
            || Pass::new(d, qs.len()),
            |mut pass, chunk| {
                for &i in chunk {
                    pass.add_row(row(fields, i), w[i], &shift, &bounds);
                }
                pass
            },
        )
        .reduce(|| Pass::new(d, qs.len()), Pass::merge);
    // Reliability-weight correction W (1 - sum w^2 / W^2); 0 when a single member has all the weight.
    let dof = total - sum_sq / total;
    let mean = pass.s1.iter().zip(&shift).map(|(s, k)| k + s / total).collect();
    let spread = pass
        .s1
        .iter()
        .zip(&pass.s2)
        .map(|(s1, s2)| {
            let var = (s2 - s1 * s1 / total).max(0.0);
            if dof > 0.0 && var > 0.0 { (var / dof).sqrt() } else { 0.0 }
        })
        .collect();
    let collected = pass.hits.len();
    let (quantiles, fallbacks) = resolve(fields, w, &active, &targets, &pass.below, pass.hits);
    Summary { mean, spread, quantiles, fallbacks, collected }
}

/// Row `i` of the bank as a slice, borrowed from the bank rather than from the view.
fn row<'a, T>(fields: ArrayView2<'a, T>, i: usize) -> &'a [T] {
    fields.index_axis_move(Axis(0), i).to_slice().expect("bank rows are contiguous")
}

/// Per quantile level and grid point, the interval `[lo, hi]` that holds the quantile; laid out
/// level-major (`q * points + j`), as the quantiles are.
struct Bounds {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

/// Brackets the quantiles at the weight levels `targets` by the heavy members: all but the lightest
/// ones, which together carry at most `slack` of the weight (`light`). With `F` the weighted CDF of
/// a column and `F_H` that of its heavy members, `F_H <= F <= F_H + light`, so the quantile lies
/// between the heavy members' value at level `t - light` (below it `F < t`) and at level `t`
/// (there `F >= t`); both come from one weighted selection per point.
fn brackets<T: Value>(fields: ArrayView2<T>, w: &[f64], active: &[usize], targets: &[f64], slack: f64, total: f64) -> Bounds {
    let d = fields.ncols();
    let nq = targets.len();
    let mut bounds = Bounds { lo: vec![f64::NEG_INFINITY; nq * d], hi: vec![f64::INFINITY; nq * d] };
    if nq == 0 {
        return bounds;
    }
    let mut heavy = active.to_vec();
    heavy.sort_unstable_by(|&a, &b| w[b].total_cmp(&w[a]));
    // Lightest first, so that the sum of the many small weights is accurate.
    let mut light = 0.0;
    while let Some(&i) = heavy.last() {
        if light + w[i] > slack {
            break;
        }
        light += w[i];
        heavy.pop();
    }
    // Row order, so that the gather walks the bank forwards.
    heavy.sort_unstable();
    let w_heavy: f64 = heavy.iter().map(|&i| w[i]).sum();
    let margin = BRACKET_MARGIN * total;
    // (level, slot): slot 2q is the lower end of level q, 2q + 1 the upper end. Levels the heavy
    // members cannot reach keep the infinite ends.
    let mut levels: Vec<(f64, usize)> =
        targets.iter().enumerate().flat_map(|(q, &t)| [(t - light - margin, 2 * q), (t + margin, 2 * q + 1)]).filter(|&(l, _)| l > 0.0 && l <= w_heavy).collect();
    levels.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    if levels.is_empty() || heavy.is_empty() {
        return bounds;
    }
    let level_values: Vec<f64> = levels.iter().map(|l| l.0).collect();
    let tile = (HEAVY_TILE_PAIRS / heavy.len()).clamp(1, d);
    let per_tile: Vec<(usize, Vec<f64>)> = (0..d)
        .step_by(tile)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|j0| {
            let width = tile.min(d - j0);
            let h = heavy.len();
            // Point-major: pairs[p * h + k] is heavy member k at point j0 + p.
            let mut pairs = vec![(0.0, 0.0); width * h];
            for (k, &i) in heavy.iter().enumerate() {
                for (p, &x) in row(fields, i)[j0..j0 + width].iter().enumerate() {
                    pairs[p * h + k] = (x.to_f64(), w[i]);
                }
            }
            let mut ends = vec![0.0; width * levels.len()];
            for (col, out) in pairs.chunks_mut(h).zip(ends.chunks_mut(levels.len())) {
                select_levels(col, &level_values, out);
            }
            (j0, ends)
        })
        .collect();
    for (j0, ends) in per_tile {
        for (p, per_point) in ends.chunks(levels.len()).enumerate() {
            for (&(_, slot), &v) in levels.iter().zip(per_point) {
                let key = (slot / 2) * d + j0 + p;
                if slot % 2 == 0 { bounds.lo[key] = v } else { bounds.hi[key] = v }
            }
        }
    }
    bounds
}

/// A bank value inside a bracket: its weight, its (level, point) key and the value.
struct Hit<T> {
    weight: f64,
    key: u32,
    value: T,
}

/// The accumulators of the pass over the bank rows.
struct Pass<T> {
    /// Weighted sums of `x - shift` and of its square, per point.
    s1: Vec<f64>,
    s2: Vec<f64>,
    /// Per (level, point): the weight of the values below the bracket.
    below: Vec<f64>,
    /// The values inside a bracket.
    hits: Vec<Hit<T>>,
}

impl<T: Value> Pass<T> {
    fn new(d: usize, nq: usize) -> Self {
        Pass { s1: vec![0.0; d], s2: vec![0.0; d], below: vec![0.0; nq * d], hits: Vec::new() }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in [(&mut self.s1, &other.s1), (&mut self.s2, &other.s2), (&mut self.below, &other.below)] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        self.hits.extend(other.hits);
        self
    }

    /// Adds bank row `x` of weight `wi`.
    fn add_row(&mut self, x: &[T], wi: f64, shift: &[f64], bounds: &Bounds) {
        for (((a, b), &x), &k) in self.s1.iter_mut().zip(self.s2.iter_mut()).zip(x).zip(shift) {
            let dx = x.to_f64() - k;
            let wdx = wi * dx;
            *a += wdx;
            *b += wdx * dx;
        }
        let d = x.len();
        for (q, ((lo, hi), below)) in bounds.lo.chunks_exact(d).zip(bounds.hi.chunks_exact(d)).zip(self.below.chunks_exact_mut(d)).enumerate() {
            // Whole lanes first (fixed length: vectorised), then the rest of the row.
            let whole = d - d % LANES;
            let lanes = x[..whole].chunks_exact(LANES).zip(lo[..whole].chunks_exact(LANES)).zip(hi[..whole].chunks_exact(LANES)).zip(below[..whole].chunks_exact_mut(LANES));
            for (c, (((x, lo), hi), below)) in lanes.enumerate() {
                if count_below(x, wi, lo, hi, below) {
                    collect(x, wi, lo, hi, q * d + c * LANES, &mut self.hits);
                }
            }
            if count_below(&x[whole..], wi, &lo[whole..], &hi[whole..], &mut below[whole..]) {
                collect(&x[whole..], wi, &lo[whole..], &hi[whole..], q * d + whole, &mut self.hits);
            }
        }
    }
}

/// Adds `wi` to `below` where `x < lo`; whether some `x` lies in `[lo, hi]`.
#[inline(always)]
fn count_below<T: Value>(x: &[T], wi: f64, lo: &[f64], hi: &[f64], below: &mut [f64]) -> bool {
    let mut inside = false;
    for (((&x, &lo), &hi), below) in x.iter().zip(lo).zip(hi).zip(below) {
        let x = x.to_f64();
        let under = x < lo;
        *below += if under { wi } else { 0.0 };
        inside |= !under & (x <= hi);
    }
    inside
}

/// Records the values of `x` inside their brackets; `key` is that of `x[0]`.
fn collect<T: Value>(x: &[T], wi: f64, lo: &[f64], hi: &[f64], key: usize, hits: &mut Vec<Hit<T>>) {
    for (p, ((&v, &lo), &hi)) in x.iter().zip(lo).zip(hi).enumerate() {
        let f = v.to_f64();
        if f >= lo && f <= hi {
            hits.push(Hit { weight: wi, key: (key + p) as u32, value: v });
        }
    }
}

/// The quantiles from the pass: per (level, point), the weight below the bracket plus the values
/// inside it in value order, until the cumulative weight reaches the level. Where it does not
/// within the bracket (possible only through rounding at a bracket's end), a weighted selection
/// over the whole column. Returns the quantiles and the number of such fallbacks.
fn resolve<T: Value>(fields: ArrayView2<T>, w: &[f64], active: &[usize], targets: &[f64], below: &[f64], hits: Vec<Hit<T>>) -> (Array2<f64>, usize) {
    let d = fields.ncols();
    let keys = targets.len() * d;
    // Counting sort of the hits by key.
    let mut start = vec![0usize; keys + 1];
    for h in &hits {
        start[h.key as usize + 1] += 1;
    }
    for k in 0..keys {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut grouped = vec![(0.0, 0.0); hits.len()];
    for h in hits {
        let slot = &mut fill[h.key as usize];
        grouped[*slot] = (h.value.to_f64(), h.weight);
        *slot += 1;
    }
    let mut groups: Vec<&mut [(f64, f64)]> = Vec::with_capacity(keys);
    let mut rest = grouped.as_mut_slice();
    for k in 0..keys {
        let (g, r) = rest.split_at_mut(start[k + 1] - start[k]);
        groups.push(g);
        rest = r;
    }
    let fallbacks = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<f64> = groups
        .into_par_iter()
        .enumerate()
        .map(|(key, group)| {
            let (t, j) = (targets[key / d], key % d);
            group.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let mut acc = below[key];
            if acc < t {
                for &(x, wi) in group.iter() {
                    acc += wi;
                    if acc >= t {
                        return x;
                    }
                }
            }
            fallbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut column: Vec<(f64, f64)> = active.iter().map(|&i| (fields[[i, j]].to_f64(), w[i])).collect();
            let mut x = [f64::NAN];
            select_levels(&mut column, &[t], &mut x);
            x[0]
        })
        .collect();
    (Array2::from_shape_vec((targets.len(), d), out).expect("level x point"), fallbacks.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bank whose columns have different scales and offsets, some far from zero.
    fn bank(n: usize, d: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, d), |(i, j)| 1e3 * j as f64 + ((i * 7 + j * 3) % 11) as f64 * (1.0 + j as f64) - 5.0)
    }

    #[test]
    fn moments_match_the_two_pass_formulas() {
        let x = bank(40, 5);
        let raw: Vec<f64> = (0..40).map(|i| if i % 5 == 0 { 0.0 } else { 1.0 + (i % 3) as f64 }).collect();
        let total: f64 = raw.iter().sum();
        let w: Vec<f64> = raw.iter().map(|r| r / total).collect();
        let (mean, spread) = weighted_moments(x.view(), &w);
        let sum_sq: f64 = w.iter().map(|v| v * v).sum();
        for j in 0..5 {
            let m: f64 = (0..40).map(|i| w[i] * x[[i, j]]).sum();
            let v: f64 = (0..40).map(|i| w[i] * (x[[i, j]] - m).powi(2)).sum::<f64>() / (1.0 - sum_sq);
            assert!((mean[j] - m).abs() < 1e-12 * m.abs().max(1.0), "mean {j}");
            assert!((spread[j] - v.sqrt()).abs() < 1e-10 * v.sqrt(), "spread {j}: {} vs {}", spread[j], v.sqrt());
        }
    }

    #[test]
    fn equal_weights_give_the_sample_standard_deviation_and_one_member_none() {
        let x = ndarray::array![[1.0f32, 10.0], [2.0, 10.0], [4.0, 10.0], [100.0, -3.0]];
        let (mean, spread) = weighted_moments(x.view(), &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]);
        assert!((mean[0] - 7.0 / 3.0).abs() < 1e-12 && (mean[1] - 10.0).abs() < 1e-12);
        // sample variance of 1, 2, 4: ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3
        assert!((spread[0] - (7.0f64 / 3.0).sqrt()).abs() < 1e-12, "{}", spread[0]);
        assert_eq!(spread[1], 0.0);
        let (mean, spread) = weighted_moments(x.view(), &[0.0, 0.0, 0.0, 1.0]);
        assert_eq!((mean, spread), (vec![100.0, -3.0], vec![0.0, 0.0]));
    }

    /// The quantile at level `q` of column `j` by a full sort and a walk (the definition).
    fn brute_quantile<T: Value>(x: ArrayView2<T>, w: &[f64], j: usize, q: f64) -> f64 {
        let mut pairs: Vec<(f64, f64)> = (0..w.len()).map(|i| (x[[i, j]].to_f64(), w[i])).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        super::super::select::inverse_cdf(&pairs, q * w.iter().sum::<f64>())
    }

    #[test]
    fn bracketed_quantiles_match_a_full_sort_on_random_weights_with_ties_and_zeros() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let (n, d) = (3000, 37);
        // f32 values on a coarse grid in half the columns (many ties), continuous in the others.
        let x = Array2::from_shape_fn((n, d), |(_, j)| {
            let v: f32 = rng.random::<f32>() * 4.0 - 1.0;
            if j % 2 == 0 { (v * 4.0).round() / 4.0 } else { v }
        });
        // Concentrated softmax-like weights (ESS of a few hundred), a fifth of them exactly zero.
        let raw: Vec<f64> = (0..n).map(|i| if i % 5 == 3 { 0.0 } else { (-6.0 * rng.random::<f64>()).exp().powi(3) }).collect();
        let total: f64 = raw.iter().sum();
        let w: Vec<f64> = raw.iter().map(|r| r / total).collect();
        let qs = [0.9, 0.02, 0.5, 0.1, 0.97];
        // No light members; the default; wide brackets; everything light (no bracket at all).
        for mass in [0.0, BRACKET_MASS, 0.05, 2.0] {
            let s = summary(x.view(), &w, &qs, mass);
            assert_eq!(s.fallbacks, 0, "mass {mass}");
            for j in 0..d {
                for (qi, &q) in qs.iter().enumerate() {
                    assert_eq!(s.quantiles[[qi, j]], brute_quantile(x.view(), &w, j, q), "mass {mass}, point {j}, q {q}");
                }
            }
            let active = w.iter().filter(|&&v| v > 0.0).count();
            if mass == BRACKET_MASS {
                // The brackets did the work: a small share of the values needed collecting.
                assert!(s.collected * 20 < active * d * qs.len(), "{} values collected", s.collected);
            }
            if mass == 2.0 {
                assert_eq!(s.collected, active * d * qs.len());
            }
        }
    }

    #[test]
    fn quantiles_are_the_inverse_weighted_cdf_of_a_full_sort() {
        let x = bank(300, 7);
        let raw: Vec<f64> = (0..300).map(|i| (-((i as f64 - 120.0) / 15.0).powi(2)).exp()).collect();
        let total: f64 = raw.iter().sum();
        let w: Vec<f64> = raw.iter().map(|r| r / total).collect();
        let qs = [0.05, 0.5, 0.9];
        let got = weighted_quantiles(x.view(), &w, &qs);
        for j in 0..7 {
            let mut order: Vec<usize> = (0..300).collect();
            order.sort_by(|&a, &b| x[[a, j]].total_cmp(&x[[b, j]]));
            for (qi, &q) in qs.iter().enumerate() {
                let mut acc = 0.0;
                let want = order.iter().find(|&&i| {
                    acc += w[i];
                    acc >= q
                });
                let want = x[[*want.unwrap_or(order.last().unwrap()), j]];
                assert_eq!(got[[qi, j]], want, "point {j}, q {q}");
            }
        }
        // Point masses: the median of {1 (w 1/4), 2 (w 1/4), 3 (w 1/2)} is 2, the 0.8 quantile 3.
        let y = ndarray::array![[3.0f32], [1.0], [2.0]];
        let got = weighted_quantiles(y.view(), &[0.5, 0.25, 0.25], &[0.1, 0.5, 0.8]);
        assert_eq!(got.column(0).to_vec(), vec![1.0, 2.0, 3.0]);
    }
}
