//! Deterministic and ensemble verification scores.
//!
//! Conventions: a field is a flat slice of `d` values; an ensemble is `n` members of `d` values,
//! member-major (`members[m * d + i]`); NaN in the truth marks a point not verified (land, withheld).

/// Root-mean-square error `sqrt(mean_i (a_i - t_i)^2)` over points where both are finite.
pub fn rmse(analysis: &[f64], truth: &[f64]) -> f64 {
    let (sum, n) = pairs(analysis, truth).fold((0.0, 0usize), |(s, n), (a, t)| (s + (a - t).powi(2), n + 1));
    (sum / n as f64).sqrt()
}

/// Mean error `mean_i (a_i - t_i)` over points where both are finite.
pub fn bias(analysis: &[f64], truth: &[f64]) -> f64 {
    let (sum, n) = pairs(analysis, truth).fold((0.0, 0usize), |(s, n), (a, t)| (s + (a - t), n + 1));
    sum / n as f64
}

fn pairs<'a>(a: &'a [f64], t: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    assert_eq!(a.len(), t.len(), "analysis and truth must have the same length");
    a.iter().zip(t).filter(|(a, t)| a.is_finite() && t.is_finite()).map(|(&a, &t)| (a, t))
}

/// Ensemble spread `sqrt(mean_i s_i^2)` with `s_i^2 = sum_m (x_mi - xbar_i)^2 / (n - 1)` the unbiased
/// member variance at point `i`, averaged over the points where `truth` is finite. Comparable with
/// [`rmse`] of the ensemble mean: for a calibrated ensemble, `rmse ~ spread * sqrt((n + 1) / n)`.
pub fn spread(members: &[f64], n: usize, truth: &[f64]) -> f64 {
    let std = member_std(members, n, truth.len());
    let (sum, count) = std.iter().zip(truth).filter(|(_, t)| t.is_finite()).fold((0.0, 0usize), |(s, c), (sd, _)| (s + sd * sd, c + 1));
    (sum / count as f64).sqrt()
}

/// The fair (unbiased for the infinite-ensemble limit) CRPS of Ferro et al. (2008), averaged over points:
/// `CRPS_i = (1/n) sum_m |x_mi - t_i| - 1/(2 n (n - 1)) sum_{m,k} |x_mi - x_ki|`.
/// Computed in `O(n log n)` per point from the sorted members:
/// `sum_{m,k} |x_m - x_k| = 2 sum_j (2j - n + 1) x_(j)` (0-based order statistics).
pub fn crps_fair(members: &[f64], n: usize, truth: &[f64]) -> f64 {
    let d = truth.len();
    assert_eq!(members.len(), n * d, "ensemble must hold n * d values");
    assert!(n >= 2, "the fair CRPS needs at least two members");
    let mut col = vec![0.0; n];
    let mut total = 0.0;
    let mut count = 0usize;
    for i in (0..d).filter(|&i| truth[i].is_finite()) {
        for m in 0..n {
            col[m] = members[m * d + i];
        }
        col.sort_by(f64::total_cmp);
        let skill: f64 = col.iter().map(|x| (x - truth[i]).abs()).sum::<f64>() / n as f64;
        let pair_sum: f64 = 2.0 * col.iter().enumerate().map(|(j, x)| (2.0 * j as f64 - n as f64 + 1.0) * x).sum::<f64>();
        total += skill - pair_sum / (2.0 * n as f64 * (n - 1) as f64);
        count += 1;
    }
    total / count as f64
}

/// Rank histogram (Talagrand diagram): for each verified point, the number of members below the
/// truth (ties broken at random by the caller's `jitter`, a value in [0, 1) per point, so that
/// discrete ensembles stay unbiased); counts over the `n + 1` possible ranks. A calibrated ensemble
/// gives a flat histogram; U-shaped means too little spread, dome-shaped too much.
pub fn rank_histogram(members: &[f64], n: usize, truth: &[f64], jitter: impl Fn(usize) -> f64) -> Vec<u64> {
    let d = truth.len();
    assert_eq!(members.len(), n * d, "ensemble must hold n * d values");
    let mut hist = vec![0u64; n + 1];
    for i in (0..d).filter(|&i| truth[i].is_finite()) {
        let below = (0..n).filter(|&m| members[m * d + i] < truth[i]).count();
        let ties = (0..n).filter(|&m| members[m * d + i] == truth[i]).count();
        let rank = below + ((ties + 1) as f64 * jitter(i)).floor().min(ties as f64) as usize;
        hist[rank] += 1;
    }
    hist
}

/// Pearson's chi-square statistic of a rank histogram against the flat one:
/// `chi2 = sum_k (h_k - H/K)^2 / (H/K)` over the `K = n + 1` bins, with `H = sum_k h_k`.
/// For a calibrated ensemble verified at independent points the counts are multinomial with equal
/// probabilities, so `E[chi2] = K - 1` (and `chi2 / (K - 1)` is near 1); spatially correlated points
/// inflate it even when calibrated, so compare methods on the same points rather than against a
/// p-value. NaN for an empty histogram.
pub fn rank_chi2(hist: &[u64]) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 || hist.is_empty() {
        return f64::NAN;
    }
    let expected = total as f64 / hist.len() as f64;
    hist.iter().map(|&h| (h as f64 - expected).powi(2) / expected).sum()
}

/// The scores of one ensemble analysis against truth.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnsembleScores {
    /// RMSE of the ensemble mean.
    pub rmse: f64,
    /// Bias of the ensemble mean.
    pub bias: f64,
    /// Ensemble spread.
    pub spread: f64,
    /// Spread / RMSE, corrected for ensemble size: `spread * sqrt((n + 1) / n) / rmse` (1 when calibrated).
    pub spread_skill: f64,
    /// Fair CRPS.
    pub crps: f64,
}

impl EnsembleScores {
    /// Scores `n` members (member-major) against `truth`; RMSE and bias of the member mean.
    pub fn compute(members: &[f64], n: usize, truth: &[f64]) -> EnsembleScores {
        let mean = member_mean(members, n, truth.len());
        EnsembleScores::with_mean(members, n, &mean, truth)
    }

    /// Like [`EnsembleScores::compute`], but RMSE and bias (and so spread/skill) of a given analysis
    /// `mean`: a method's own estimate, e.g. the importance-weighted mean beside a resampled ensemble.
    pub fn with_mean(members: &[f64], n: usize, mean: &[f64], truth: &[f64]) -> EnsembleScores {
        let (rmse, spread) = (rmse(mean, truth), spread(members, n, truth));
        EnsembleScores {
            rmse,
            bias: bias(mean, truth),
            spread,
            spread_skill: spread * ((n + 1) as f64 / n as f64).sqrt() / rmse,
            crps: crps_fair(members, n, truth),
        }
    }
}

/// Pointwise mean of `n` member-major members of `d` values each.
pub fn member_mean(members: &[f64], n: usize, d: usize) -> Vec<f64> {
    assert_eq!(members.len(), n * d, "ensemble must hold n * d values");
    (0..d).map(|i| (0..n).map(|m| members[m * d + i]).sum::<f64>() / n as f64).collect()
}

/// Pointwise ensemble standard deviation (divisor `n - 1`) of `n` member-major members; the map
/// whose mean square over points is the square of [`spread`].
pub fn member_std(members: &[f64], n: usize, d: usize) -> Vec<f64> {
    assert_eq!(members.len(), n * d, "ensemble must hold n * d values");
    assert!(n >= 2, "a standard deviation needs at least two members");
    let mean = member_mean(members, n, d);
    (0..d).map(|i| ((0..n).map(|m| (members[m * d + i] - mean[i]).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()).collect()
}

/// Subtracts from each of the `n` fields of `d` values (field-major) its own mean over its finite
/// points: scores of the anomalies then ignore a field-wide constant, as a streamfunction (defined
/// up to one) or a sea-surface height with an unobserved mean level needs.
pub fn remove_field_means(fields: &mut [f64], n: usize, d: usize) {
    assert_eq!(fields.len(), n * d, "fields must hold n * d values");
    for field in fields.chunks_mut(d.max(1)) {
        let (sum, count) = field.iter().filter(|v| v.is_finite()).fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
        if count > 0 {
            let mean = sum / count as f64;
            field.iter_mut().for_each(|v| *v -= mean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_means_are_removed_per_field_over_finite_points() {
        let mut f = vec![1.0, 3.0, f64::NAN, 10.0, 10.0, 16.0];
        remove_field_means(&mut f, 2, 3);
        assert_eq!(&f[..2], &[-1.0, 1.0]);
        assert!(f[2].is_nan());
        assert_eq!(&f[3..], &[-2.0, -2.0, 4.0]);
        // Shifting a member by a constant leaves every anomaly score unchanged.
        let truth = vec![0.3, -0.1, 0.5, 0.0];
        let members = vec![0.1, 0.2, 0.4, 0.1, -0.3, 0.0, 0.6, 0.2, 0.5, -0.2, 0.3, 0.1];
        let scores = |shift: f64| {
            let mut m = members.clone();
            m[4..8].iter_mut().for_each(|v| *v += shift);
            let mut t = truth.clone();
            remove_field_means(&mut m, 3, 4);
            remove_field_means(&mut t, 1, 4);
            let mean = member_mean(&m, 3, 4);
            EnsembleScores::with_mean(&m, 3, &mean, &t)
        };
        let (a, b) = (scores(0.0), scores(7.5));
        assert!((a.rmse - b.rmse).abs() < 1e-12 && (a.crps - b.crps).abs() < 1e-12 && (a.spread - b.spread).abs() < 1e-12);
        assert!(a.rmse > 0.0);
    }
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    #[test]
    fn hand_computed_deterministic_scores() {
        let a = [1.0, 2.0, 4.0, f64::NAN];
        let t = [0.0, 2.0, 1.0, 5.0];
        // errors 1, 0, 3 (last point missing): rmse = sqrt(10/3), bias = 4/3
        assert!((rmse(&a, &t) - (10.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((bias(&a, &t) - 4.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_crps_and_spread() {
        // One point, members {0, 1, 3}, truth 1: skill = (1 + 0 + 2)/3 = 1;
        // pairwise |.| sum over ordered pairs = 2 (1 + 3 + 2) = 12; 12 / (2*3*2) = 1 -> CRPS 0.
        let m = [0.0, 1.0, 3.0];
        assert!(crps_fair(&m, 3, &[1.0]).abs() < 1e-12);
        // Truth 5: skill = (5 + 4 + 2)/3 = 11/3; CRPS = 11/3 - 1 = 8/3.
        assert!((crps_fair(&m, 3, &[5.0]) - 8.0 / 3.0).abs() < 1e-12);
        // Variance of {0, 1, 3} with n-1: mean 4/3, squares 16/9 + 1/9 + 25/9 = 42/9, /2 = 7/3.
        assert!((spread(&m, 3, &[0.0]) - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn crps_of_a_single_point_forecast_is_absolute_error() {
        // Two identical members: the spread term vanishes, CRPS = |x - t|.
        assert!((crps_fair(&[2.0, 2.0], 2, &[-1.0]) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_rank_chi2_and_pointwise_moments() {
        // 12 counts over 3 bins, expected 4 each: (2^2 + 0 + 2^2) / 4 = 2.
        assert!((rank_chi2(&[6, 4, 2]) - 2.0).abs() < 1e-12);
        assert_eq!(rank_chi2(&[5, 5, 5, 5]), 0.0);
        assert!(rank_chi2(&[0, 0]).is_nan());
        // Two points, three members: point 0 {0, 1, 3}, point 1 {2, 2, 2}.
        let m = [0.0, 2.0, 1.0, 2.0, 3.0, 2.0];
        assert_eq!(member_mean(&m, 3, 2), vec![4.0 / 3.0, 2.0]);
        let s = member_std(&m, 3, 2);
        assert!((s[0] - (7.0f64 / 3.0).sqrt()).abs() < 1e-12 && s[1] == 0.0);
        // spread is the root mean square of the pointwise standard deviations.
        let rms = ((s[0] * s[0] + s[1] * s[1]) / 2.0).sqrt();
        assert!((spread(&m, 3, &[0.0, 0.0]) - rms).abs() < 1e-12);
    }

    #[test]
    fn with_mean_scores_the_given_mean_and_the_members_spread() {
        let m = [0.0, 2.0, 1.0, 2.0, 3.0, 2.0];
        let truth = [1.0, 1.0];
        let s = EnsembleScores::with_mean(&m, 3, &[2.0, 0.0], &truth);
        // errors 1 and -1: rmse 1, bias 0; spread and CRPS from the members as in `compute`.
        assert!((s.rmse - 1.0).abs() < 1e-12 && s.bias.abs() < 1e-12);
        let c = EnsembleScores::compute(&m, 3, &truth);
        assert_eq!((s.spread, s.crps), (c.spread, c.crps));
        assert!((s.spread_skill - s.spread * (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn rank_chi2_of_flat_multinomial_counts_averages_bins_minus_one() {
        // Ranks of a calibrated ensemble at independent points are uniform on K bins; Pearson's
        // statistic then has mean K - 1 (exactly, for multinomial counts).
        let (k, points, trials) = (11usize, 500usize, 400usize);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mean: f64 = (0..trials)
            .map(|_| {
                let mut h = vec![0u64; k];
                for _ in 0..points {
                    h[rng.random_range(0..k)] += 1;
                }
                rank_chi2(&h)
            })
            .sum::<f64>()
            / trials as f64;
        // sd of chi2 ~ sqrt(2 (K - 1)) = 4.5; of the mean over 400 trials ~ 0.22.
        assert!((mean - (k - 1) as f64).abs() < 1.0, "mean chi2 {mean}");
    }

    #[test]
    fn calibrated_gaussian_ensemble_is_flat_and_has_unit_spread_skill() {
        // Truth and members are exchangeable draws from the same N(mu_i, 1): a perfectly calibrated
        // ensemble. Its rank histogram is flat and its spread/skill ratio is 1.
        let (n, d) = (10, 20_000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut members = vec![0.0; n * d];
        let mut truth = vec![0.0; d];
        for i in 0..d {
            let mu = 3.0 * (i as f64 * 0.01).sin();
            truth[i] = mu + rng.sample::<f64, _>(StandardNormal);
            for m in 0..n {
                members[m * d + i] = mu + rng.sample::<f64, _>(StandardNormal);
            }
        }
        let s = EnsembleScores::compute(&members, n, &truth);
        assert!((s.spread_skill - 1.0).abs() < 0.03, "spread/skill {}", s.spread_skill);
        // CRPS of N(0,1) against an exchangeable draw: E|X-Y| - E|X-X'|/2 = 2/sqrt(pi) - 1/sqrt(pi).
        let exact = 1.0 / std::f64::consts::PI.sqrt();
        assert!((s.crps - exact).abs() < 0.02, "crps {} vs {exact}", s.crps);
        let hist = rank_histogram(&members, n, &truth, |_| 0.5);
        let expected = d as f64 / (n + 1) as f64;
        // Each bin ~ Binomial(d, 1/11): sd ~ 40; 5 sd bounds.
        assert!(hist.iter().all(|&h| (h as f64 - expected).abs() < 200.0), "{hist:?}");
        // An under-dispersed ensemble (members shrunk to half the spread) gives a U shape.
        let narrow: Vec<f64> = (0..n * d)
            .map(|k| {
                let i = k % d;
                let mu = 3.0 * (i as f64 * 0.01).sin();
                mu + 0.5 * (members[k] - mu)
            })
            .collect();
        let hist = rank_histogram(&narrow, n, &truth, |_| 0.5);
        assert!(hist[0] as f64 > 2.0 * expected && hist[n] as f64 > 2.0 * expected, "{hist:?}");
    }
}
