//! The background check of operational systems (DART's `outlier_threshold`, the ECMWF first-guess
//! check): an observation whose innovation against the prior mean exceeds `k` times the standard
//! deviation it should have, `sqrt(var(H x_b) + R)`, is more likely a gross error (a stuck sensor,
//! a wrong position or unit) than information, and a linear update would spread it over the
//! whole localisation radius.

use ndarray::ArrayView2;

use super::Observations;

/// Indices of the observations whose innovation `|y - mean(H x_b)|` exceeds
/// `threshold * sqrt(var(H x_b) + R)`, given the observed prior ensemble `hx` (members x
/// observations). The ensemble variance uses ddof = 1 (zero for a single member).
pub fn outliers(hx: ArrayView2<f64>, obs: &Observations, threshold: f64) -> Vec<usize> {
    obs.innovations(hx)
        .into_iter()
        .zip(&obs.variance)
        .enumerate()
        .filter(|(_, ((d, var), r))| d.abs() > threshold * (var + *r).sqrt())
        .map(|(k, _)| k)
        .collect()
}

/// The background check on observations that stand or fall together (a drifter gap's x and y,
/// a whole track whose positions chain): what is kept, and what was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Screened {
    /// Per observation: kept.
    pub keep: Vec<bool>,
    /// Observations beyond the threshold themselves.
    pub rejected: usize,
    /// Groups dropped because one of their observations was.
    pub groups_dropped: usize,
    /// The largest rejected innovation `|y - mean(H x_b)|`.
    pub largest: f64,
}

/// [`outliers`] with observation `k` in group `group[k]`: a group with an outlier is dropped
/// whole. `None` when nothing is rejected or the check is off (`threshold` 0).
pub fn screen_groups(hx: ArrayView2<f64>, obs: &Observations, threshold: f64, group: &[usize]) -> Option<Screened> {
    if threshold == 0.0 {
        return None;
    }
    let rejected = outliers(hx, obs, threshold);
    if rejected.is_empty() {
        return None;
    }
    let innovations = obs.innovations(hx);
    let mut dropped_groups: Vec<usize> = rejected.iter().map(|&k| group[k]).collect();
    dropped_groups.sort_unstable();
    dropped_groups.dedup();
    Some(Screened {
        keep: group.iter().map(|g| dropped_groups.binary_search(g).is_err()).collect(),
        rejected: rejected.len(),
        groups_dropped: dropped_groups.len(),
        largest: rejected.iter().map(|&k| innovations[k].0.abs()).fold(0.0, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_innovations_beyond_the_threshold_only() {
        // 2 members x 2 observations. A check without the ensemble variance (R alone) would flag
        // observation 0 at threshold 3, one without R never observation 1.
        let hx = ndarray::array![[0.0, 10.0], [2.0, 10.0]];
        // Observation 0: mean 1, var 2 (ddof 1), R 2: sd 2; y = 6.9 is 2.95 sd away.
        // Observation 1: mean 10, var 0, R 2: sd 1.414; y = 14.5 is 3.18 sd away.
        let obs = Observations { values: vec![6.9, 14.5], variance: vec![2.0, 2.0] };
        assert_eq!(outliers(hx.view(), &obs, 3.0), vec![1]);
        assert_eq!(outliers(hx.view(), &obs, 2.9), vec![0, 1]);
        assert!(outliers(hx.view(), &obs, 3.2).is_empty());
        // Observations 0 and 1 in one group: the group goes with its outlier.
        let s = screen_groups(hx.view(), &obs, 3.0, &[7, 7]).unwrap();
        assert_eq!((s.keep, s.rejected, s.groups_dropped), (vec![false, false], 1, 1));
        assert!((s.largest - 4.5).abs() < 1e-12);
        assert_eq!(screen_groups(hx.view(), &obs, 0.0, &[0, 1]), None);
    }
}
