//! Weighted statistics of the bank's fields: the hot path of an analysis over a large bank.
//!
//! A bank of 50,000 states of 64 x 64 x 3 values is 2.4 GB of f32, so these functions are built to
//! read the fields once at memory speed: bank fields in their storage type (f32 or f64) with f64
//! accumulators, rows of zero weight skipped (they cannot change a weighted sum), and rayon across
//! chunks of rows (moments) or of grid points (quantiles).

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

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

/// Weight mass the quantiles may ignore: the lightest members, together carrying less than this
/// fraction of the weight, can move a quantile's probability level by no more than it, which is the
/// rounding level of a cumulative sum over a large bank.
pub const QUANTILE_NEGLIGIBLE_MASS: f64 = 1e-12;

/// Bank rows summed per rayon task: large enough that the per-task accumulators (two f64 per grid
/// point) are cheap to merge, small enough that two cores share the work evenly.
const ROWS_PER_TASK: usize = 256;
/// Values gathered per block of grid points for the quantiles (about 4 MB of f64 with weights).
const QUANTILE_BLOCK_VALUES: usize = 1 << 18;

/// The weighted mean `m = sum_i w_i x_i / W` (`W = sum_i w_i`) and spread
/// `sqrt(sum_i w_i (x_i - m)^2 / (W (1 - sum_i w_i^2 / W^2)))` of each column of `fields` (bank
/// member x grid point) under the weights `w`. The spread is the unbiased estimate for reliability
/// weights: for `K` equal weights it is the usual `n - 1` sample standard deviation, and it is 0
/// when one member carries all the weight. One pass over the rows of non-zero weight, accumulating
/// about the heaviest member so that the second moment does not cancel.
pub fn weighted_moments<T: Value>(fields: ArrayView2<T>, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = fields.ncols();
    assert_eq!(fields.nrows(), w.len(), "one weight per bank member");
    let total: f64 = w.iter().sum();
    let sum_sq: f64 = w.iter().map(|x| x * x).sum();
    let Some(heaviest) = (0..w.len()).max_by(|&a, &b| w[a].total_cmp(&w[b])) else { return (vec![f64::NAN; d], vec![f64::NAN; d]) };
    let shift: Vec<f64> = fields.row(heaviest).iter().map(|&x| x.to_f64()).collect();
    let active: Vec<usize> = (0..w.len()).filter(|&i| w[i] != 0.0).collect();
    let row = |i: usize| fields.row(i);
    let (s1, s2) = active
        .par_chunks(ROWS_PER_TASK)
        .fold(
            || (vec![0.0f64; d], vec![0.0f64; d]),
            |(mut s1, mut s2), chunk| {
                for &i in chunk {
                    let wi = w[i];
                    let r = row(i);
                    let values = r.as_slice().expect("bank rows are contiguous");
                    for (((a, b), &x), &k) in s1.iter_mut().zip(s2.iter_mut()).zip(values).zip(&shift) {
                        let dx = x.to_f64() - k;
                        let wdx = wi * dx;
                        *a += wdx;
                        *b += wdx * dx;
                    }
                }
                (s1, s2)
            },
        )
        .reduce(
            || (vec![0.0f64; d], vec![0.0f64; d]),
            |(mut a1, mut a2), (b1, b2)| {
                a1.iter_mut().zip(&b1).for_each(|(a, b)| *a += b);
                a2.iter_mut().zip(&b2).for_each(|(a, b)| *a += b);
                (a1, a2)
            },
        );
    // Reliability-weight correction W (1 - sum w^2 / W^2); 0 when a single member has all the weight.
    let dof = total - sum_sq / total;
    let mean = s1.iter().zip(&shift).map(|(s, k)| k + s / total).collect();
    let spread = s1
        .iter()
        .zip(&s2)
        .map(|(s1, s2)| {
            let var = (s2 - s1 * s1 / total).max(0.0);
            if dof > 0.0 && var > 0.0 { (var / dof).sqrt() } else { 0.0 }
        })
        .collect();
    (mean, spread)
}

/// The weighted quantiles `qs` of each column of `fields` (bank member x grid point): for each
/// level `q`, the smallest value whose cumulative weight reaches `q W` (inverse weighted CDF;
/// `W = sum_i w_i`). Returns `qs.len() x columns`.
///
/// Only the heaviest members carrying all but [`QUANTILE_NEGLIGIBLE_MASS`] of the weight take part
/// (for concentrated weights a few hundred of a bank of 50,000), so the per-point sort is of those,
/// not of the bank; the result is the exact quantile at a level within that mass of `q`.
pub fn weighted_quantiles<T: Value>(fields: ArrayView2<T>, w: &[f64], qs: &[f64]) -> Array2<f64> {
    let d = fields.ncols();
    assert_eq!(fields.nrows(), w.len(), "one weight per bank member");
    let total: f64 = w.iter().sum();
    let mut support: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
    support.sort_unstable_by(|&a, &b| w[b].total_cmp(&w[a]));
    let mut acc = 0.0;
    let keep = support
        .iter()
        .position(|&i| {
            acc += w[i];
            acc >= total * (1.0 - QUANTILE_NEGLIGIBLE_MASS)
        })
        .map_or(support.len(), |p| p + 1);
    support.truncate(keep);
    // Row order, so that the gather below walks the bank forwards.
    support.sort_unstable();
    let s = support.len().max(1);
    let block = (QUANTILE_BLOCK_VALUES / s).clamp(1, d.max(1));
    let mut out = Array2::from_elem((qs.len(), d), f64::NAN);
    let columns: Vec<(usize, Vec<Vec<f64>>)> = (0..d)
        .step_by(block)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|j0| {
            let width = block.min(d - j0);
            // Gathered block, point-major: values[p][k] is member support[k] at point j0 + p.
            let mut values = vec![vec![0.0f64; support.len()]; width];
            for (k, &i) in support.iter().enumerate() {
                let r = fields.row(i);
                let r = r.as_slice().expect("bank rows are contiguous");
                for (p, &x) in r[j0..j0 + width].iter().enumerate() {
                    values[p][k] = x.to_f64();
                }
            }
            let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(support.len());
            let result: Vec<Vec<f64>> = values
                .iter()
                .map(|col| {
                    pairs.clear();
                    pairs.extend(col.iter().zip(&support).map(|(&x, &i)| (x, w[i])));
                    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                    qs.iter().map(|&q| inverse_cdf(&pairs, q * total)).collect::<Vec<f64>>()
                })
                .collect();
            (j0, result)
        })
        .collect();
    for (j0, block) in columns {
        for (p, per_q) in block.into_iter().enumerate() {
            for (qi, v) in per_q.into_iter().enumerate() {
                out[[qi, j0 + p]] = v;
            }
        }
    }
    out
}

/// The first value of `sorted` (value, weight) pairs whose cumulative weight reaches `level`.
fn inverse_cdf(sorted: &[(f64, f64)], level: f64) -> f64 {
    let mut acc = 0.0;
    for &(x, wi) in sorted {
        acc += wi;
        if acc >= level {
            return x;
        }
    }
    sorted.last().map_or(f64::NAN, |p| p.0)
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
