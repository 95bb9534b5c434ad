//! Weighted statistics of the bank's fields: the hot path of an analysis over a large bank.
//!
//! A bank of 50,000 states of 64 x 64 x 3 values is 2.4 GB of f32. Values stay in their storage
//! type (f32 or f64) with f64 accumulators, rows of zero weight are skipped, and rayon shares the
//! work. Two paths: [`weighted_moments`] streams the rows in storage order (mean and spread at
//! memory speed); [`weighted_summary`] adds exact weighted quantiles, which need each point's values
//! together, so it gathers tiles of points (point-major) and locates each quantile with a per-point
//! histogram, ordering only the values of the quantile's bin.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::select::select_levels;
use crate::cf::write::Precision;

/// A stored field value: f32 or f64, accumulated as f64.
pub trait Value: Copy + Send + Sync {
    /// How values of this type are stored in NetCDF.
    const PRECISION: Precision;
    /// The value as f64.
    fn to_f64(self) -> f64;
}
// Inline across crates: the hot loops of callers are generic over `Value`, and one call per value
// stops them from vectorising (measured: the streamed moments ran 4x slower in the benchmark).
impl Value for f32 {
    const PRECISION: Precision = Precision::F32;
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Value for f64 {
    const PRECISION: Precision = Precision::F64;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

/// Bytes of each bank row one task gathers (128 points of f32): eight whole cache lines per row, so
/// that the strided gather is not one page and one DRAM row per line; one point's gathered values
/// (200 KB for 50,000 members) stay in the cache for the passes that point takes. 128, 256, 512 and
/// 2048 were tried under heavy load (noisy): 512 was fastest once; see BENCHMARKS.md.
const TILE_BYTES: usize = 512;
/// Bins of the per-point weighted histogram that locates each quantile: the values of a point's
/// quantile bin, a few dozen of 50,000, are all that are ordered.
const BINS: usize = 1024;
/// Independent accumulators in the per-point sums (hides the latency of the floating-point add).
const LANES: usize = 8;

/// Weighted statistics of each column (grid point) of a bank of fields.
pub struct Summary {
    /// Weighted mean.
    pub mean: Vec<f64>,
    /// Weighted spread (unbiased for reliability weights, see [`weighted_summary`]).
    pub spread: Vec<f64>,
    /// Weighted quantiles, one row per level.
    pub quantiles: Array2<f64>,
    /// (level, point) pairs resolved by a weighted selection over the whole column, not through the
    /// histogram: points of one value or infinite values, or a rounding tie at a bin's edge.
    pub fallbacks: usize,
    /// Values ordered to resolve the quantiles (those in the quantiles' bins).
    pub collected: usize,
}

/// Points summed together by one task of [`weighted_moments`]: two f64 accumulators each, 256 KB,
/// stay in L2 while the rows stream past in 64 KB contiguous pieces.
const MOMENT_POINTS: usize = 16384;
/// Tasks [`weighted_moments`] aims for, whatever the machine: the rows are split into this many
/// chunks over the point blocks, so the partial sums, and the result, do not depend on the number
/// of threads.
const MOMENT_TASKS: usize = 8;

/// The weighted mean and spread of each column of `fields`, as [`weighted_summary`] defines them,
/// in one pass that streams the rows of non-zero weight in storage order: the memory-speed path
/// when no exact quantile is asked for. Rayon over blocks of points and chunks of rows; the partial
/// sums are added in a fixed order.
pub fn weighted_moments<T: Value>(fields: ArrayView2<T>, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = fields.dim();
    assert_eq!(n, w.len(), "one weight per bank member");
    let active: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let Some(&heaviest) = active.iter().max_by(|&&a, &&b| w[a].total_cmp(&w[b])) else {
        return (vec![f64::NAN; d], vec![f64::NAN; d]);
    };
    let shift = row(fields, heaviest);
    let blocks = d.div_ceil(MOMENT_POINTS).max(1);
    let chunk = active.len().div_ceil(MOMENT_TASKS.div_ceil(blocks)).max(1);
    let tasks: Vec<(usize, &[usize])> = (0..d).step_by(MOMENT_POINTS).flat_map(|j0| active.chunks(chunk).map(move |rows| (j0, rows))).collect();
    let partials: Vec<(usize, Vec<f64>, Vec<f64>)> = tasks
        .into_par_iter()
        .map(|(j0, rows)| {
            let width = MOMENT_POINTS.min(d - j0);
            let (mut s1, mut s2) = (vec![0.0; width], vec![0.0; width]);
            let k = &shift[j0..j0 + width];
            let piece = |i: usize| &row(fields, i)[j0..j0 + width];
            // Four rows per sweep: the accumulators are loaded and stored once per four values,
            // which took the pass from compute-bound towards the memory floor.
            let mut groups = rows.chunks_exact(4);
            for g in &mut groups {
                let (x0, x1, x2, x3) = (piece(g[0]), piece(g[1]), piece(g[2]), piece(g[3]));
                let (w0, w1, w2, w3) = (w[g[0]], w[g[1]], w[g[2]], w[g[3]]);
                for j in 0..width {
                    let kj = k[j].to_f64();
                    let (d0, d1, d2, d3) = (x0[j].to_f64() - kj, x1[j].to_f64() - kj, x2[j].to_f64() - kj, x3[j].to_f64() - kj);
                    let (e0, e1, e2, e3) = (w0 * d0, w1 * d1, w2 * d2, w3 * d3);
                    s1[j] += (e0 + e1) + (e2 + e3);
                    s2[j] += (e0 * d0 + e1 * d1) + (e2 * d2 + e3 * d3);
                }
            }
            for &i in groups.remainder() {
                let (x, wi) = (piece(i), w[i]);
                for j in 0..width {
                    let dx = x[j].to_f64() - k[j].to_f64();
                    s1[j] += wi * dx;
                    s2[j] += wi * dx * dx;
                }
            }
            (j0, s1, s2)
        })
        .collect();
    let (mut s1, mut s2) = (vec![0.0; d], vec![0.0; d]);
    for (j0, a, b) in partials {
        for (j, (a, b)) in a.into_iter().zip(b).enumerate() {
            s1[j0 + j] += a;
            s2[j0 + j] += b;
        }
    }
    let weights: Vec<f64> = active.iter().map(|&i| w[i]).collect();
    finish_moments(&s1, &s2, shift, &weights)
}

/// Mean and spread from the sums of `w (x - shift)` and `w (x - shift)^2` of each point under the
/// active members' weights (see [`weighted_summary`] for the formulas).
fn finish_moments<T: Value>(s1: &[f64], s2: &[f64], shift: &[T], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let total: f64 = weights.iter().sum();
    let sum_sq: f64 = weights.iter().map(|x| x * x).sum();
    // Reliability-weight correction W (1 - sum w^2 / W^2); 0 when a single member has all the weight.
    let dof = total - sum_sq / total;
    let mean = s1.iter().zip(shift).map(|(a, k)| k.to_f64() + a / total).collect();
    let spread = s1
        .iter()
        .zip(s2)
        .map(|(a, b)| {
            let var = (b - a * a / total).max(0.0);
            if dof > 0.0 && var > 0.0 { (var / dof).sqrt() } else { 0.0 }
        })
        .collect();
    (mean, spread)
}

/// The weighted quantiles `qs` of each column of `fields` (see [`weighted_summary`]).
pub fn weighted_quantiles<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64]) -> Array2<f64> {
    weighted_summary(fields, w, qs).quantiles
}

/// Weighted statistics of each column of `fields` (bank member x grid point) under the
/// non-negative weights `w`, reading the rows of non-zero weight once.
///
/// Mean `m = sum_i w_i x_i / W` (`W = sum_i w_i`) and spread
/// `sqrt(sum_i w_i (x_i - m)^2 / (W (1 - sum_i w_i^2 / W^2)))`: the unbiased estimate for
/// reliability weights, the usual `n - 1` sample standard deviation for `K` equal weights and 0 when
/// one member carries all the weight; accumulated about the heaviest member so that the second
/// moment does not cancel.
///
/// Quantiles: for each level `q` in `qs`, the smallest value whose cumulative weight reaches `q W`
/// (inverse weighted CDF; NaN counts as the largest value), exact: the value a walk over the fully
/// sorted column returns, up to the rounding of the partial sums where one lands exactly on `q W`.
///
/// How: rayon over tiles of points; a tile's values of all members are gathered (each row's piece
/// read whole-line, in row order), and each point's values stay in the cache while it takes its passes:
/// the sums and the range; a weighted histogram of [`BINS`] bins over the range (the bin of a value
/// is monotone in it, so the bin where the cumulative weight crosses `q W` holds the quantile and
/// the weight below it is known); then only that bin's values are ordered.
pub fn weighted_summary<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64]) -> Summary {
    let (n, d) = fields.dim();
    assert_eq!(n, w.len(), "one weight per bank member");
    let nq = qs.len();
    let active: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let Some(&heaviest) = active.iter().max_by(|&&a, &&b| w[a].total_cmp(&w[b])) else {
        return Summary { mean: vec![f64::NAN; d], spread: vec![f64::NAN; d], quantiles: Array2::from_elem((nq, d), f64::NAN), fallbacks: 0, collected: 0 };
    };
    let wa: Vec<f64> = active.iter().map(|&i| w[i]).collect();
    let total: f64 = wa.iter().sum();
    let shift = row(fields, heaviest);
    let targets: Vec<f64> = qs.iter().map(|q| q * total).collect();
    let tile = (TILE_BYTES / std::mem::size_of::<T>()).max(1);
    let na = active.len();
    let points: Vec<PointStats> = (0..d)
        .step_by(tile)
        .collect::<Vec<_>>()
        .into_par_iter()
        .flat_map_iter(|j0| {
            let width = tile.min(d - j0);
            // Point-major: values[p * na + k] is active member k at point j0 + p.
            let mut values = vec![shift[j0]; width * na];
            for (k, &i) in active.iter().enumerate() {
                if let Some(&ahead) = active.get(k + PREFETCH_ROWS) {
                    prefetch(&row(fields, ahead)[j0..j0 + width]);
                }
                for (p, &x) in row(fields, i)[j0..j0 + width].iter().enumerate() {
                    values[p * na + k] = x;
                }
            }
            let mut scratch = Scratch { bins: vec![0; na], hist: vec![0.0; BINS + 1], want: vec![0; BINS + 1] };
            values.chunks(na).enumerate().map(|(p, column)| point(column, &wa, shift[j0 + p].to_f64(), &targets, &mut scratch)).collect::<Vec<_>>()
        })
        .collect();
    let s1: Vec<f64> = points.iter().map(|p| p.s1).collect();
    let s2: Vec<f64> = points.iter().map(|p| p.s2).collect();
    let (mean, spread) = finish_moments(&s1, &s2, shift, &wa);
    let quantiles = Array2::from_shape_fn((nq, d), |(q, j)| points[j].quantiles[q]);
    Summary { mean, spread, quantiles, fallbacks: points.iter().map(|p| p.fallbacks).sum(), collected: points.iter().map(|p| p.collected).sum() }
}

/// Rows ahead of the gather whose pieces are requested from memory: the rows are 48 KB apart, a
/// stride no hardware prefetcher follows, so without this every piece waits for DRAM.
const PREFETCH_ROWS: usize = 16;

/// Asks for the cache lines of `piece` to be loaded into the cache, without waiting.
#[inline]
fn prefetch<T>(piece: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(piece);
        let base = piece.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch is only a hint; it never faults, and the address is inside `piece`.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(base.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = piece;
}

/// Row `i` of the bank as a slice, borrowed from the bank rather than from the view.
fn row<'a, T>(fields: ArrayView2<'a, T>, i: usize) -> &'a [T] {
    fields.index_axis_move(Axis(0), i).to_slice().expect("bank rows are contiguous")
}

/// The statistics of one point: sums of `w (x - shift)` and `w (x - shift)^2`, the quantiles.
struct PointStats {
    s1: f64,
    s2: f64,
    quantiles: Vec<f64>,
    fallbacks: usize,
    collected: usize,
}

/// Per-task buffers: each value's bin, the histogram (a last bin for NaN), and which bins hold a
/// quantile (slot + 1, 0 for none).
struct Scratch {
    bins: Vec<u16>,
    hist: Vec<f64>,
    want: Vec<u8>,
}

/// The statistics of the values `x` of one point (one per active member, weights `w`).
fn point<T: Value>(x: &[T], w: &[f64], shift: f64, targets: &[f64], s: &mut Scratch) -> PointStats {
    let (mut s1, mut s2) = ([0.0; LANES], [0.0; LANES]);
    let (mut lo, mut hi) = ([f64::INFINITY; LANES], [f64::NEG_INFINITY; LANES]);
    let whole = x.len() - x.len() % LANES;
    for (xs, ws) in x[..whole].chunks_exact(LANES).zip(w[..whole].chunks_exact(LANES)) {
        for l in 0..LANES {
            let v = xs[l].to_f64();
            let dx = v - shift;
            let wdx = ws[l] * dx;
            s1[l] += wdx;
            s2[l] += wdx * dx;
            lo[l] = lo[l].min(v);
            hi[l] = hi[l].max(v);
        }
    }
    for (l, (&x, &wi)) in x[whole..].iter().zip(&w[whole..]).enumerate() {
        let v = x.to_f64();
        let dx = v - shift;
        s1[l] += wi * dx;
        s2[l] += wi * dx * dx;
        lo[l] = lo[l].min(v);
        hi[l] = hi[l].max(v);
    }
    let mut stats = PointStats { s1: s1.iter().sum(), s2: s2.iter().sum(), quantiles: Vec::new(), fallbacks: 0, collected: 0 };
    if targets.is_empty() {
        return stats;
    }
    let (lo, hi) = (lo.iter().fold(f64::INFINITY, |a, &b| a.min(b)), hi.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
    let scale = BINS as f64 / (hi - lo);
    if !(scale.is_finite() && scale > 0.0) {
        // One value (or none but NaN), or infinite values: no histogram to bin them.
        stats.quantiles = select_column(x, w, targets);
        stats.fallbacks = targets.len();
        return stats;
    }
    // Monotone in the value: a larger value never falls in a lower bin.
    let bin = |v: f64| if v.is_nan() { BINS } else { (((v - lo) * scale) as usize).min(BINS - 1) };
    s.hist.fill(0.0);
    for ((b, &v), &wi) in s.bins.iter_mut().zip(x).zip(w) {
        let k = bin(v.to_f64());
        *b = k as u16;
        s.hist[k] += wi;
    }
    // Per level: the bin where the cumulative weight crosses it, and the weight below that bin.
    let mut slots: Vec<usize> = Vec::with_capacity(targets.len());
    let mut found: Vec<(usize, f64)> = Vec::with_capacity(targets.len());
    for &t in targets {
        let mut below = 0.0;
        let mut b = 0;
        while b <= BINS && below + s.hist[b] < t {
            below += s.hist[b];
            b += 1;
        }
        let b = b.min(BINS);
        let slot = found.iter().position(|f| f.0 == b).unwrap_or_else(|| {
            found.push((b, below));
            found.len() - 1
        });
        slots.push(slot);
    }
    for (slot, &(b, _)) in found.iter().enumerate() {
        s.want[b] = slot as u8 + 1;
    }
    let mut groups: Vec<Vec<(f64, f64)>> = vec![Vec::new(); found.len()];
    for ((&b, &v), &wi) in s.bins.iter().zip(x).zip(w) {
        let slot = s.want[b as usize];
        if slot != 0 {
            groups[slot as usize - 1].push((v.to_f64(), wi));
        }
    }
    for &(b, _) in &found {
        s.want[b] = 0;
    }
    for g in &mut groups {
        g.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    }
    stats.collected = groups.iter().map(Vec::len).sum();
    let mut missed = Vec::new();
    stats.quantiles = targets
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(k, (&t, &slot))| {
            let mut acc = found[slot].1;
            for &(v, wi) in &groups[slot] {
                acc += wi;
                if acc >= t {
                    return v;
                }
            }
            missed.push(k);
            f64::NAN
        })
        .collect();
    if !missed.is_empty() {
        // The bin sums and the walk rounded differently at a bin's edge.
        let exact = select_column(x, w, targets);
        for k in missed.iter().copied() {
            stats.quantiles[k] = exact[k];
        }
        stats.fallbacks = missed.len();
    }
    stats
}

/// The weighted quantiles at the weight levels `targets` of one point's values, by a weighted
/// selection over all of them.
fn select_column<T: Value>(x: &[T], w: &[f64], targets: &[f64]) -> Vec<f64> {
    let mut pairs: Vec<(f64, f64)> = x.iter().zip(w).map(|(&v, &wi)| (v.to_f64(), wi)).collect();
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by(|&a, &b| targets[a].total_cmp(&targets[b]));
    let levels: Vec<f64> = order.iter().map(|&k| targets[k]).collect();
    let mut sorted = vec![f64::NAN; levels.len()];
    select_levels(&mut pairs, &levels, &mut sorted);
    let mut out = vec![f64::NAN; targets.len()];
    for (&k, v) in order.iter().zip(sorted) {
        out[k] = v;
    }
    out
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

    #[test]
    fn streamed_moments_match_the_tiled_pass_across_point_blocks_and_row_chunks() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // Two point blocks (the second partial) and rows split over the tasks; values far from zero.
        let (n, d) = (203, MOMENT_POINTS + 37);
        let x = Array2::from_shape_fn((n, d), |(_, j)| 50.0 + (j % 7) as f32 + rng.random::<f32>());
        let w: Vec<f64> = (0..n).map(|i| if i % 9 == 4 { 0.0 } else { rng.random::<f64>().powi(4) }).collect();
        let (mean, spread) = weighted_moments(x.view(), &w);
        let tiled = weighted_summary(x.view(), &w, &[]);
        for j in 0..d {
            assert!((mean[j] - tiled.mean[j]).abs() < 1e-12 * mean[j].abs(), "mean {j}: {} vs {}", mean[j], tiled.mean[j]);
            assert!((spread[j] - tiled.spread[j]).abs() < 1e-9 * spread[j], "spread {j}: {} vs {}", spread[j], tiled.spread[j]);
        }
        assert!(spread.iter().all(|&s| s > 0.05 && s < 0.6), "uniform noise of width 1 has spread about 0.29");
    }

    /// The quantile at level `q` of column `j` by a full sort and a walk (the definition).
    fn brute_quantile<T: Value>(x: ArrayView2<T>, w: &[f64], j: usize, q: f64) -> f64 {
        let mut pairs: Vec<(f64, f64)> = (0..w.len()).map(|i| (x[[i, j]].to_f64(), w[i])).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        super::super::select::inverse_cdf(&pairs, q * w.iter().sum::<f64>())
    }

    #[test]
    fn quantiles_match_a_full_sort_on_random_weights_with_ties_and_zeros() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let (n, d) = (3000, 41);
        // f32 columns: continuous; on a coarse grid (many ties); one far outlier (most values in one
        // bin); constant (no histogram: the selection fallback).
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let v: f32 = rng.random::<f32>() * 4.0 - 1.0;
            match j % 4 {
                0 => v,
                1 => (v * 4.0).round() / 4.0,
                2 if i == 7 => 1e30,
                2 => v * 1e-3,
                _ => 2.5,
            }
        });
        // Concentrated softmax-like weights, a fifth of them exactly zero.
        let raw: Vec<f64> = (0..n).map(|i| if i % 5 == 3 { 0.0 } else { (-6.0 * rng.random::<f64>()).exp().powi(3) }).collect();
        let total: f64 = raw.iter().sum();
        let w: Vec<f64> = raw.iter().map(|r| r / total).collect();
        let qs = [0.9, 0.02, 0.5, 0.1, 0.97, 0.5];
        let s = weighted_summary(x.view(), &w, &qs);
        for j in 0..d {
            for (qi, &q) in qs.iter().enumerate() {
                assert_eq!(s.quantiles[[qi, j]], brute_quantile(x.view(), &w, j, q), "point {j}, q {q}");
            }
        }
        // Only the constant points went to the selection; the histograms left few values to order
        // in the continuous points, many in the outlier points.
        assert_eq!(s.fallbacks, (d / 4) * qs.len());
        let active = w.iter().filter(|&&v| v > 0.0).count();
        assert!(s.collected < active * (d / 4) * 4, "{} values collected", s.collected);
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
