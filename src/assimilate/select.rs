//! Weighted selection: the inverse weighted CDF of (value, weight) pairs at several levels at once,
//! in expected linear time (a quickselect that keeps the partitions shared by the levels) rather
//! than by a full sort.
//!
//! For a level `l`, the answer is the smallest value whose cumulative weight, over the pairs in
//! value order, reaches `l`; that is what a walk over the sorted pairs returns ([`inverse_cdf`]).

use std::cmp::Ordering;

/// Below this many pairs a sort and a walk beat further partitioning.
const SORT_BELOW: usize = 48;

/// The first value of (value, weight) pairs sorted by value whose cumulative weight reaches
/// `level`; the last value when none does (a level at the total, off by rounding), NaN when empty.
pub fn inverse_cdf(sorted: &[(f64, f64)], level: f64) -> f64 {
    let mut acc = 0.0;
    for &(x, wi) in sorted {
        acc += wi;
        if acc >= level {
            return x;
        }
    }
    sorted.last().map_or(f64::NAN, |p| p.0)
}

/// For each of the ascending `levels`, writes to `out` the smallest value of `pairs` whose
/// cumulative weight in value order (ties in any order) reaches it: the same answer as
/// [`inverse_cdf`] over the sorted pairs, up to the rounding of the partial sums. A level above the
/// total weight gives the largest value. Reorders `pairs`; weights must be non-negative.
pub fn select_levels(pairs: &mut [(f64, f64)], levels: &[f64], out: &mut [f64]) {
    debug_assert_eq!(levels.len(), out.len());
    debug_assert!(levels.windows(2).all(|l| l[0] <= l[1]), "ascending levels");
    if levels.is_empty() || pairs.is_empty() {
        out.fill(f64::NAN);
        return;
    }
    if pairs.len() < SORT_BELOW {
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut acc = 0.0;
        let mut k = 0;
        for &(x, wi) in pairs.iter() {
            acc += wi;
            while k < levels.len() && acc >= levels[k] {
                out[k] = x;
                k += 1;
            }
        }
        let last = pairs[pairs.len() - 1].0;
        out[k..].fill(last);
        return;
    }
    let pivot = median_of_three(pairs);
    let (lt, eq, w_lt, w_eq) = partition3(pairs, pivot);
    // Levels reached within the smaller values, at the pivot, or beyond it.
    let left = levels.partition_point(|&l| l <= w_lt);
    let at = levels.partition_point(|&l| l <= w_lt + w_eq);
    let (out_left, rest) = out.split_at_mut(left);
    let (out_at, out_right) = rest.split_at_mut(at - left);
    if left > 0 {
        select_levels(&mut pairs[..lt], &levels[..left], out_left);
    }
    out_at.fill(pivot);
    if at < levels.len() {
        let above = w_lt + w_eq;
        let shifted: Vec<f64> = levels[at..].iter().map(|l| l - above).collect();
        select_levels(&mut pairs[lt + eq..], &shifted, out_right);
    }
}

/// The median of the first, middle and last values (a pivot that sorted input does not defeat).
fn median_of_three(pairs: &[(f64, f64)]) -> f64 {
    let (a, b, c) = (pairs[0].0, pairs[pairs.len() / 2].0, pairs[pairs.len() - 1].0);
    let mut v = [a, b, c];
    v.sort_unstable_by(f64::total_cmp);
    v[1]
}

/// Dutch-flag partition about `pivot` (total order, so NaN is a value like any other): pairs
/// below, equal to, above it. Returns the counts below and equal and their weights.
fn partition3(pairs: &mut [(f64, f64)], pivot: f64) -> (usize, usize, f64, f64) {
    let (mut lo, mut mid, mut hi) = (0, 0, pairs.len());
    let (mut w_lt, mut w_eq) = (0.0, 0.0);
    while mid < hi {
        match pairs[mid].0.total_cmp(&pivot) {
            Ordering::Less => {
                w_lt += pairs[mid].1;
                pairs.swap(lo, mid);
                lo += 1;
                mid += 1;
            }
            Ordering::Equal => {
                w_eq += pairs[mid].1;
                mid += 1;
            }
            Ordering::Greater => {
                hi -= 1;
                pairs.swap(mid, hi);
            }
        }
    }
    (lo, mid - lo, w_lt, w_eq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn selection_matches_the_walk_over_a_full_sort() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(61);
        for case in 0..400 {
            let n = rng.random_range(1..600);
            // Few distinct values in some cases (ties), a share of zero weights in others.
            let distinct = if case % 3 == 0 { rng.random_range(1..8) } else { 1_000_000 };
            let zeros = if case % 2 == 0 { 0.4 } else { 0.0 };
            let mut pairs: Vec<(f64, f64)> = (0..n)
                .map(|_| {
                    let x = rng.random_range(0..distinct) as f64 * 0.37 - 3.0;
                    let w = if rng.random::<f64>() < zeros { 0.0 } else { rng.random::<f64>().powi(4) };
                    (x, w)
                })
                .collect();
            let total: f64 = pairs.iter().map(|p| p.1).sum();
            if total == 0.0 {
                continue;
            }
            let mut levels: Vec<f64> = (0..rng.random_range(1..7)).map(|_| rng.random::<f64>() * total).collect();
            levels.sort_by(f64::total_cmp);
            let mut sorted = pairs.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut got = vec![0.0; levels.len()];
            select_levels(&mut pairs, &levels, &mut got);
            for (k, &l) in levels.iter().enumerate() {
                assert_eq!(got[k], inverse_cdf(&sorted, l), "case {case}: n {n}, level {l} of {total}");
            }
        }
    }

    #[test]
    fn point_masses_and_levels_past_the_total() {
        let mut pairs = vec![(3.0, 0.5), (1.0, 0.25), (2.0, 0.25)];
        let mut out = [0.0; 4];
        select_levels(&mut pairs, &[0.1, 0.5, 0.8, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 3.0]);
    }
}
