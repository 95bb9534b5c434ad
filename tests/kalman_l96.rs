//! Validation of the ensemble Kalman baselines as filters against published scores: DAPPER's
//! Lorenz-96 `sakov2008` set-up (Sakov & Oke 2008), 5,000 analysed cycles after a 400-cycle
//! burn-in, time-averaged analysis RMSE within +-0.015 of the reference (issue 7).
//!
//! One 5,000-cycle average still has a heavy upper tail: an occasional hard stretch of the truth
//! trajectory raises every filter's error for a while (seed 3000 here is such a truth: about
//! +0.008 for all four filters). So each check runs three independent experiments (seeds 3000,
//! 3001, 3002: truth, observations, initial ensemble and perturbations all differ) and compares
//! their median with the reference.
//!
//! The spread is checked too, against DAPPER 1.7.1 on the same configuration
//! (`scripts/bench_dapper.sh`, figures in BENCHMARKS.md), as is the innovation consistency: a
//! filter with a plausible RMSE but a wrongly scaled ensemble fails there. Broken filters (no
//! inflation, a sign error in the mean update, no localisation taper) fail by a wide margin:
//! BENCHMARKS.md lists what each gave.

use contrada::kalman::methods::inflation::Relaxation;
use contrada::kalman::twin::cycling::{Lorenz96Twin, TwinScores};
use contrada::kalman::{BaselineConfig, Method};

const TOLERANCE: f64 = 0.015;
const SEEDS: [u64; 3] = [3000, 3001, 3002];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the twin experiment for each seed; returns the median analysis RMSE and spread and the
/// scores of every run.
fn run(method: Method, n: usize, inflation: f64) -> (f64, f64, Vec<TwinScores>) {
    let config = BaselineConfig { method, inflation, relax: Relaxation::None, relax_alpha: 0.0, localization_radius: 6.0, enoi_alpha: 1.0, hybrid_weight: 0.0 };
    let runs: Vec<TwinScores> = SEEDS
        .iter()
        .map(|&seed| {
            let twin = Lorenz96Twin { ensemble_size: n, seed, ..Lorenz96Twin::default() };
            let s = twin.run(&config).unwrap_or_else(|e| panic!("{method:?} N={n} seed {seed}: {e}"));
            eprintln!(
                "{method:?} N={n} infl={inflation} seed {seed}: rmse.a {:.4} spread.a {:.4} rmse.f {:.4} innovation consistency {:.3} ({} cycles, {:.2} s)",
                s.rmse_a,
                s.spread_a,
                s.rmse_f,
                s.innovation.consistency(),
                s.cycles,
                s.seconds
            );
            s
        })
        .collect();
    (median(runs.iter().map(|s| s.rmse_a).collect()), median(runs.iter().map(|s| s.spread_a).collect()), runs)
}

fn check(method: Method, n: usize, inflation: f64, reference_rmse: f64, dapper_spread: f64) {
    let (rmse, spread, runs) = run(method, n, inflation);
    assert!((rmse - reference_rmse).abs() <= TOLERANCE, "median analysis RMSE {rmse:.4}, expected {reference_rmse} +- {TOLERANCE}");
    assert!((spread - dapper_spread).abs() <= 0.01, "median analysis spread {spread:.4}, DAPPER gives {dapper_spread}");
    for s in &runs {
        assert_eq!(s.cycles, 5000);
        // The analysis improves on the forecast, and the innovations are as large as the
        // ensemble spread plus the observation error say they should be.
        assert!(s.rmse_f > s.rmse_a);
        assert!((0.95..1.05).contains(&s.innovation.consistency()), "innovation consistency {}", s.innovation.consistency());
    }
}

#[test]
fn etkf_n40_inflation_1_02() {
    check(Method::Etkf, 40, 1.02, 0.177, 0.215);
}

#[test]
fn stochastic_enkf_n40_inflation_1_06() {
    check(Method::Enkf, 40, 1.06, 0.223, 0.243);
}

#[test]
fn letkf_n10_inflation_1_04_radius_6() {
    check(Method::Letkf, 10, 1.04, 0.200, 0.240);
}

#[test]
fn etkf_n20_inflation_1_04() {
    check(Method::Etkf, 20, 1.04, 0.195, 0.243);
}

/// EnOI with one member, a climatological static ensemble (2,000 states of a free run) and
/// alpha = 0.02 is cycled 3D-Var with B = 0.02 x climatological covariance: DAPPER's
/// `Var3D(xB=0.02)`, 0.41 on sakov2008 (its suggested tuning; 0.410 and 0.416 over 5,000 cycles
/// with seeds 3000 and 1 in DAPPER 1.7.1).
#[test]
fn enoi_cycles_like_3dvar() {
    let config = BaselineConfig {
        method: Method::Enoi,
        inflation: 1.0,
        relax: Relaxation::None,
        relax_alpha: 0.0,
        localization_radius: 6.0,
        enoi_alpha: 0.02,
        hybrid_weight: 0.0,
    };
    let rmse: Vec<f64> = SEEDS
        .iter()
        .map(|&seed| {
            let twin = Lorenz96Twin { ensemble_size: 1, seed, static_members: 2000, ..Lorenz96Twin::default() };
            let s = twin.run(&config).unwrap();
            eprintln!("EnOI alpha 0.02 seed {seed}: rmse.a {:.4} rmse.f {:.4} ({:.2} s)", s.rmse_a, s.rmse_f, s.seconds);
            assert!(s.rmse_f > s.rmse_a && s.spread_a == 0.0);
            s.rmse_a
        })
        .collect();
    let m = median(rmse);
    assert!((m - 0.41).abs() <= TOLERANCE, "median analysis RMSE {m:.4}, expected 0.41 +- {TOLERANCE}");
}
