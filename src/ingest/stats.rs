//! Statistics of the training split: masked means and standard deviations for normalisation,
//! and the EOF basis of the normalised states.
//!
//! Moments are accumulated per element in one streaming pass (shifted sums, merged with Chan's
//! formula into one mean and variance per variable when normalising per variable), so they need
//! no second read of the archive. The EOFs need the snapshots themselves: a seeded uniform sample
//! of the training snapshots (reservoir sampling, so the choice does not depend on chunking) is
//! kept in memory, at most `eof.max_snapshots` and `eof.max_memory_mb`. When the training split
//! has more snapshots than that, the EOFs come from the sample, and the data set says so.

use ndarray::{Array1, Array2, Axis};
use ndarray_linalg::{Eigh, UPLO};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// Count, mean and sum of squared deviations of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub n: f64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds one value (Welford).
    pub fn add(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    /// Merges another set (Chan et al.).
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }

    /// Sample standard deviation (divisor n - 1); NaN below two values.
    pub fn std(&self) -> f64 {
        if self.n < 2.0 { f64::NAN } else { (self.m2 / (self.n - 1.0)).sqrt() }
    }
}

/// Per-element moments of rows that may have masked (NaN) values.
///
/// Kept as sums of deviations from a shift (each element's first valid value), which vectorise and
/// need no division per value; with the shift inside the data's range, the cancellation in
/// `s2 - s1² / n` loses no more than a few digits even for fields with a large mean.
#[derive(Debug, Clone)]
pub struct ElementMoments {
    shift: Vec<f64>,
    shifted: Vec<bool>,
    n: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
}

impl ElementMoments {
    /// Moments of `dim` elements.
    pub fn new(dim: usize) -> ElementMoments {
        ElementMoments { shift: vec![0.0; dim], shifted: vec![false; dim], n: vec![0.0; dim], s1: vec![0.0; dim], s2: vec![0.0; dim] }
    }

    /// Adds one row; NaN values are skipped.
    pub fn add_row(&mut self, row: &[f64]) {
        for (i, &x) in row.iter().enumerate() {
            if !self.shifted[i] && !x.is_nan() {
                self.shift[i] = x;
                self.shifted[i] = true;
            }
        }
        for ((((&x, &c), n), s1), s2) in row.iter().zip(&self.shift).zip(&mut self.n).zip(&mut self.s1).zip(&mut self.s2) {
            let v = x - c;
            let ok = !v.is_nan();
            let v = if ok { v } else { 0.0 };
            *n += f64::from(u8::from(ok));
            *s1 += v;
            *s2 += v * v;
        }
    }

    /// The moments of element `i`.
    fn moments(&self, i: usize) -> Moments {
        let n = self.n[i];
        if n == 0.0 {
            return Moments::default();
        }
        let (s1, s2) = (self.s1[i], self.s2[i]);
        Moments { n, mean: self.shift[i] + s1 / n, m2: (s2 - s1 * s1 / n).max(0.0) }
    }

    /// Mean and standard deviation per element, or per group of elements (`groups[e]` is the
    /// group of element e) with every element of a group given its group's values; see
    /// [`normalisation`].
    pub fn normalisation(&self, groups: Option<&[i32]>) -> (Vec<f64>, Vec<f64>, usize) {
        let per: Vec<Moments> = match groups {
            None => (0..self.n.len()).map(|i| self.moments(i)).collect(),
            Some(g) => {
                let n = g.iter().map(|&k| k as usize + 1).max().unwrap_or(0);
                let mut merged = vec![Moments::default(); n];
                for (i, &k) in g.iter().enumerate() {
                    merged[k as usize].merge(&self.moments(i));
                }
                g.iter().map(|&k| merged[k as usize]).collect()
            }
        };
        normalisation(&per)
    }
}

/// Means and standard deviations from moments. A standard deviation that is zero or undefined is
/// replaced by 1 (the values are then only centred) and counted in the third result.
pub fn normalisation(per: &[Moments]) -> (Vec<f64>, Vec<f64>, usize) {
    let mut degenerate = 0;
    let mean = per.iter().map(|m| if m.n > 0.0 { m.mean } else { 0.0 }).collect();
    let std = per
        .iter()
        .map(|m| {
            let s = m.std();
            if s.is_finite() && s > 0.0 {
                s
            } else {
                degenerate += 1;
                1.0
            }
        })
        .collect();
    (mean, std, degenerate)
}

/// `Σ (x - c)` and `Σ (x - c)²`, in four lanes so the loop vectorises.
fn shifted_sums(xs: &[f64], c: f64) -> (f64, f64) {
    let (mut s1, mut s2) = ([0.0; 4], [0.0; 4]);
    let chunks = xs.chunks_exact(4);
    let tail = chunks.remainder();
    for q in chunks {
        for k in 0..4 {
            let v = q[k] - c;
            s1[k] += v;
            s2[k] += v * v;
        }
    }
    let (mut a, mut b) = (s1.iter().sum::<f64>(), s2.iter().sum::<f64>());
    for &x in tail {
        a += x - c;
        b += (x - c) * (x - c);
    }
    (a, b)
}

/// Moments of the training states: one set per variable (a contiguous range of the state
/// vector), or one per element. Rows given here passed QC, so they have no missing values.
pub enum StateMoments {
    /// Per variable: the range, the shift (its first value) and `[n, Σ(x - c), Σ(x - c)²]`.
    Variable(Vec<(std::ops::Range<usize>, Option<f64>, [f64; 3])>),
    /// Per element.
    Point(ElementMoments),
}

impl StateMoments {
    /// Per-variable moments over `ranges`, or per-element moments of `dim` elements.
    pub fn new(per_variable: bool, ranges: Vec<std::ops::Range<usize>>, dim: usize) -> StateMoments {
        if per_variable {
            StateMoments::Variable(ranges.into_iter().map(|r| (r, None, [0.0; 3])).collect())
        } else {
            StateMoments::Point(ElementMoments::new(dim))
        }
    }

    /// Adds one complete state vector.
    pub fn add_row(&mut self, row: &[f64]) {
        match self {
            StateMoments::Variable(groups) => {
                for (r, shift, sums) in groups.iter_mut() {
                    let xs = &row[r.clone()];
                    let c = *shift.get_or_insert(xs.first().copied().unwrap_or(0.0));
                    let (a, b) = shifted_sums(xs, c);
                    sums[0] += xs.len() as f64;
                    sums[1] += a;
                    sums[2] += b;
                }
            }
            StateMoments::Point(m) => m.add_row(row),
        }
    }

    /// Mean and standard deviation per element (see [`normalisation`]).
    pub fn normalisation(&self) -> (Vec<f64>, Vec<f64>, usize) {
        match self {
            StateMoments::Variable(groups) => {
                let per: Vec<Moments> = groups
                    .iter()
                    .flat_map(|(r, shift, [n, s1, s2])| {
                        let m =
                            if *n > 0.0 { Moments { n: *n, mean: shift.unwrap_or(0.0) + s1 / n, m2: (s2 - s1 * s1 / n).max(0.0) } } else { Moments::default() };
                        std::iter::repeat_n(m, r.len())
                    })
                    .collect();
                normalisation(&per)
            }
            StateMoments::Point(m) => m.normalisation(None),
        }
    }
}

/// A seeded uniform sample of rows (Algorithm R).
pub struct Reservoir {
    capacity: usize,
    dim: usize,
    seen: usize,
    rows: Vec<f64>,
    rng: StdRng,
}

impl Reservoir {
    /// A reservoir of at most `max_rows` rows of `dim` values and at most `max_bytes`.
    pub fn new(dim: usize, max_rows: usize, max_bytes: usize, seed: u64) -> Reservoir {
        let capacity = max_rows.min(max_bytes / (8 * dim.max(1))).max(1);
        Reservoir { capacity, dim, seen: 0, rows: Vec::new(), rng: StdRng::seed_from_u64(seed) }
    }

    /// Offers one row.
    pub fn offer(&mut self, row: &[f64]) {
        if self.seen < self.capacity {
            if self.rows.is_empty() {
                // Reserved up front: growing by doubling would copy the sample several times.
                self.rows.reserve_exact(self.capacity * self.dim);
            }
            self.rows.extend_from_slice(row);
        } else {
            let j = self.rng.random_range(0..=self.seen);
            if j < self.capacity {
                self.rows[j * self.dim..(j + 1) * self.dim].copy_from_slice(row);
            }
        }
        self.seen += 1;
    }

    /// Rows offered so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The sampled rows, `min(seen, capacity) × dim`.
    pub fn into_matrix(self) -> Array2<f64> {
        let n = self.rows.len() / self.dim.max(1);
        Array2::from_shape_vec((n, self.dim), self.rows).expect("whole rows")
    }
}

/// An EOF basis.
#[derive(Debug, Clone)]
pub struct Eof {
    /// Mean of the snapshots the basis was computed from (normalised units).
    pub mean: Array1<f64>,
    /// Orthonormal modes, `modes × dim`, in decreasing order of variance.
    pub modes: Array2<f64>,
    /// Variance along each mode (divisor n - 1).
    pub variance: Array1<f64>,
    /// Total variance of the snapshots about their mean (sum over elements, divisor n - 1).
    pub total_variance: f64,
    /// Snapshots used.
    pub snapshots: usize,
}

/// The leading `k` EOFs of the rows of `x` (snapshots × elements) about their mean, from the
/// eigendecomposition of the smaller of the two Gram matrices (`x xᵀ` or `xᵀ x`): the truncated
/// SVD of the centred snapshots. Modes whose variance is below 1e-12 of the first are dropped (the
/// snapshots span fewer dimensions); each mode's largest component is made positive.
pub fn eof(mut x: Array2<f64>, k: usize) -> Result<Eof> {
    let (n, d) = x.dim();
    if n < 2 {
        return Err(Error::Other(format!("EOFs need at least 2 training snapshots, got {n}")));
    }
    let mean = x.mean_axis(Axis(0)).expect("n >= 2");
    x -= &mean;
    let total = x.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
    let small_side = n <= d;
    let gram = if small_side { x.dot(&x.t()) } else { x.t().dot(&x) };
    let (values, vectors) = gram.eigh(UPLO::Upper).map_err(|e| Error::Other(format!("EOF eigendecomposition failed: {e}")))?;
    let m = values.len();
    let top = values[m - 1].max(0.0);
    let keep = (0..k.min(m)).take_while(|&i| values[m - 1 - i] > 1e-12 * top).count();
    // Leading eigenvectors, largest first, as columns.
    let mut lead = Array2::zeros((m, keep));
    for i in 0..keep {
        lead.column_mut(i).assign(&vectors.column(m - 1 - i));
    }
    let variance: Array1<f64> = (0..keep).map(|i| values[m - 1 - i] / (n - 1) as f64).collect();
    // Modes: Xᵀ u / sqrt(λ) for the snapshot Gram matrix, the eigenvectors themselves otherwise.
    let mut modes: Array2<f64> = if small_side { lead.t().dot(&x) } else { lead.t().to_owned() };
    for (i, mut mode) in modes.rows_mut().into_iter().enumerate() {
        if small_side {
            mode /= values[m - 1 - i].sqrt();
        }
        let biggest = mode.iter().copied().fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if biggest < 0.0 {
            mode.mapv_inplace(|c| -c);
        }
    }
    Ok(Eof { mean, modes, variance, total_variance: total, snapshots: n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn merged_moments_equal_the_moments_of_all_values() {
        let xs: Vec<f64> = (0..100).map(|i| (i as f64 * 0.37).sin() * 5.0 + 1e6).collect();
        let (mut a, mut b, mut all) = (Moments::default(), Moments::default(), Moments::default());
        xs[..37].iter().for_each(|&x| a.add(x));
        xs[37..].iter().for_each(|&x| b.add(x));
        xs.iter().for_each(|&x| all.add(x));
        a.merge(&b);
        let mean = xs.iter().sum::<f64>() / 100.0;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 99.0;
        assert!((a.mean - mean).abs() < 1e-9 && (all.mean - mean).abs() < 1e-9);
        assert!((a.std() - var.sqrt()).abs() < 1e-9 && (all.std() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn group_normalisation_skips_masked_values() {
        let mut m = ElementMoments::new(3);
        m.add_row(&[1.0, 3.0, f64::NAN]);
        m.add_row(&[3.0, 5.0, 7.0]);
        let (mean, std, degenerate) = m.normalisation(Some(&[0, 0, 1]));
        assert_eq!(mean, vec![3.0, 3.0, 7.0]);
        assert!((std[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!((std[2], degenerate), (1.0, 1), "one value has no spread: std 1, counted");
    }

    #[test]
    fn state_moments_per_variable_and_per_point_agree_with_direct_sums() {
        // Two variables with a large mean and a small spread: the shift keeps the digits.
        let rows: Vec<Vec<f64>> = (0..7).map(|t| (0..5).map(|e| 1e6 * (1.0 + (e / 3) as f64) + ((t * 5 + e) as f64 * 0.9).sin()).collect()).collect();
        let mut var = StateMoments::new(true, vec![0..3, 3..5], 5);
        let mut point = StateMoments::new(false, Vec::new(), 5);
        rows.iter().for_each(|r| {
            var.add_row(r);
            point.add_row(r);
        });
        let stats = |vals: Vec<f64>| {
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            (m, (vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (vals.len() - 1) as f64).sqrt())
        };
        let (mean, std, _) = var.normalisation();
        for (e, group) in [(0, 0..3), (4, 3..5)] {
            let (m, s) = stats(rows.iter().flat_map(|r| r[group.clone()].to_vec()).collect());
            assert!((mean[e] - m).abs() < 1e-9 && (std[e] - s).abs() < 1e-9 * s.max(1.0), "{} {m} {} {s}", mean[e], std[e]);
        }
        let (mean, std, _) = point.normalisation();
        let (m, s) = stats(rows.iter().map(|r| r[2]).collect());
        assert!((mean[2] - m).abs() < 1e-9 && (std[2] - s).abs() < 1e-9, "{} {m} {} {s}", mean[2], std[2]);
    }

    #[test]
    fn reservoir_is_seeded_and_uniform() {
        let sample = |seed| {
            let mut r = Reservoir::new(1, 100, usize::MAX, seed);
            (0..1000).for_each(|i| r.offer(&[i as f64]));
            r.into_matrix().into_raw_vec_and_offset().0
        };
        assert_eq!(sample(1), sample(1));
        assert_ne!(sample(1), sample(2));
        let mean = sample(3).iter().sum::<f64>() / 100.0;
        // Mean of 100 draws without replacement from 0..1000: 499.5 ± 29 (one sd).
        assert!((mean - 499.5).abs() < 100.0, "{mean}");
        assert_eq!(Reservoir::new(10, 100, 8 * 10 * 7, 0).capacity, 7, "memory bound");
    }

    #[test]
    fn eofs_recover_known_modes_and_variances() {
        // Snapshots built from two orthonormal patterns with variances 9 and 1, plus a mean.
        let d = 6;
        let e1 = Array1::from(vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]) / 2.0;
        let e2 = Array1::from(vec![0.0, 0.0, 1.0, -1.0, 1.0, -1.0]) / 2.0;
        let mut rng = StdRng::seed_from_u64(5);
        let n = 4000;
        let mut x = Array2::zeros((n, d));
        let (mut s1, mut s2) = (Moments::default(), Moments::default());
        for mut row in x.rows_mut() {
            let (z1, b): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
            let a = 3.0 * z1;
            s1.add(a);
            s2.add(b);
            row.assign(&(&e1 * a + &e2 * b + 10.0));
        }
        let e = eof(x, 5).unwrap();
        assert_eq!(e.modes.nrows(), 2, "rank 2: the null modes are dropped");
        assert!((e.variance[0] - s1.std().powi(2)).abs() < 0.05 * e.variance[0], "{}", e.variance);
        assert!((e.variance[1] - s2.std().powi(2)).abs() < 0.05, "{}", e.variance);
        assert!((e.modes.row(0).dot(&e1).abs() - 1.0).abs() < 1e-3);
        assert!((e.modes.row(1).dot(&e2).abs() - 1.0).abs() < 1e-3);
        assert!((e.total_variance - e.variance.sum()).abs() < 1e-9 * e.total_variance);
        assert!(e.mean.iter().all(|m| (m - 10.0).abs() < 0.5));
    }
}
