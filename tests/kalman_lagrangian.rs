//! The Kalman baselines validated as filters on the Lagrangian flow's time-dependent case
//! (issue 7): a twin experiment ([`LagrangianTwin`], its default set-up: the synth prior at
//! `kmax = 2`, 80 members, 9 drifters observed every 0.01 time units with 0.002 position noise,
//! the restarted drifter operator), 600 analysed cycles after a 200-cycle burn-in.
//!
//! Scores are velocity RMSE and spread (see `src/kalman/lagrangian_twin.rs`) against the
//! climatological RMSE, that of the prior mean (zero velocity). A working filter tracks the flow
//! well below climatology with a spread that matches its error; a filter that ignores the
//! observations stays at climatology, and the same checks reject it (tested below). Hand-made
//! breakages (the sign of the mean update flipped, no inflation) are reported in BENCHMARKS.md.

use std::ops::Range;

use contrada::kalman::methods::inflation::Relaxation;
use contrada::kalman::twin::lagrangian_twin::{LagrangianScores, LagrangianTwin};
use contrada::kalman::{BaselineConfig, Method};

const SEEDS: [u64; 3] = [7000, 7001, 7002];
/// Spread / RMSE band of the ETKF.
const ETKF_SPREAD: Range<f64> = 0.7..1.4;

fn config(method: Method, inflation: f64) -> BaselineConfig {
    BaselineConfig { method, inflation, relax: Relaxation::None, relax_alpha: 0.0, ..BaselineConfig::default() }
}

fn report(label: &str, s: &LagrangianScores) {
    let f = &s.filter;
    eprintln!(
        "{label}: rmse.a {:.4} spread.a {:.4} rmse.f {:.4} climatology {:.4} (rmse.a / climatology {:.3}, spread / rmse {:.3}, innovation consistency {:.3}; {} cycles, {:.2} s)",
        f.rmse_a,
        f.spread_a,
        f.rmse_f,
        s.climatology,
        f.rmse_a / s.climatology,
        f.spread_a / f.rmse_a,
        f.innovation.consistency(),
        f.cycles,
        f.seconds
    );
}

/// The checks of a consistent filter that tracks the flow: analysis RMSE below 0.4 x
/// climatology and below the forecast RMSE, spread / RMSE in `spread_band`, innovations as large
/// as the ensemble and the observation errors say (0.85..1.15).
fn tracks_the_flow(s: &LagrangianScores, spread_band: Range<f64>) -> Result<(), String> {
    let f = &s.filter;
    let skill = f.rmse_a / s.climatology;
    if skill >= 0.4 {
        return Err(format!("analysis RMSE {:.4} is {skill:.3} x climatology; expected < 0.4", f.rmse_a));
    }
    if f.rmse_f <= f.rmse_a {
        return Err(format!("the analysis ({:.4}) does not improve on the forecast ({:.4})", f.rmse_a, f.rmse_f));
    }
    let ratio = f.spread_a / f.rmse_a;
    if !spread_band.contains(&ratio) {
        return Err(format!("spread / RMSE {ratio:.3}; expected {spread_band:?}"));
    }
    let c = f.innovation.consistency();
    if !(0.85..1.15).contains(&c) {
        return Err(format!("innovation consistency {c:.3}; expected 0.85..1.15"));
    }
    Ok(())
}

#[test]
fn etkf_tracks_the_flow_consistently() {
    for seed in SEEDS {
        let twin = LagrangianTwin { seed, ..LagrangianTwin::default() };
        let s = twin.run(&config(Method::Etkf, 1.03)).unwrap();
        report(&format!("ETKF N=80 inflation 1.03 seed {seed}"), &s);
        assert_eq!(s.filter.cycles, 600);
        assert_eq!(s.filter.innovation.count, 18);
        tracks_the_flow(&s, ETKF_SPREAD).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn a_filter_blind_to_the_observations_fails_the_checks() {
    // The same truth and observations, analysed as if the observations were worthless (error
    // 0.002 -> 100): the ensemble runs free and its mean stays at climatology.
    let twin = LagrangianTwin::default();
    let data = twin.simulate().unwrap();
    let blind = LagrangianTwin { obs_std: 100.0, ..twin.clone() };
    let s = blind.assimilate(&data, &config(Method::Etkf, 1.0)).unwrap();
    report("ETKF, observation error 100", &s);
    let f = &s.filter;
    assert!((f.rmse_a / s.climatology - 1.0).abs() < 0.1, "a free ensemble's mean should score like climatology");
    let err = tracks_the_flow(&s, ETKF_SPREAD).expect_err("a blind filter passed the checks");
    assert!(err.contains("climatology"), "{err}");
}

#[test]
fn stochastic_enkf_tracks_the_flow() {
    // The stochastic EnKF needs more members than the ETKF here: at 80 members (72 unknowns) its
    // sampling noise makes it either collapse or scatter from seed to seed at any one inflation.
    // At 120 members and inflation 1.06 it tracks the flow, somewhat over-dispersive. One run of
    // it is sensitive to rounding: the same seed on two CPUs (OpenBLAS picks its kernels per CPU)
    // gave spread / RMSE 1.38 and 1.92 (seed 7001, BENCHMARKS.md), so the checks of a consistent
    // filter apply to the median over the seeds of each score, and every seed must improve on its
    // forecast and beat climatology.
    let (mut skill, mut ratio, mut consistency) = (Vec::new(), Vec::new(), Vec::new());
    for seed in SEEDS {
        let twin = LagrangianTwin { seed, ensemble_size: 120, ..LagrangianTwin::default() };
        let s = twin.run(&config(Method::Enkf, 1.06)).unwrap();
        report(&format!("EnKF N=120 inflation 1.06 seed {seed}"), &s);
        let f = &s.filter;
        assert!(
            f.rmse_a < f.rmse_f && f.rmse_a < 0.5 * s.climatology,
            "seed {seed}: analysis {:.4}, forecast {:.4}, climatology {:.4}",
            f.rmse_a,
            f.rmse_f,
            s.climatology
        );
        skill.push(f.rmse_a / s.climatology);
        ratio.push(f.spread_a / f.rmse_a);
        consistency.push(f.innovation.consistency());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (skill, ratio, consistency) = (median(&mut skill), median(&mut ratio), median(&mut consistency));
    eprintln!("EnKF medians: rmse.a / climatology {skill:.3}, spread / rmse {ratio:.3}, innovation consistency {consistency:.3}");
    assert!(skill < 0.4, "median analysis RMSE {skill:.3} x climatology; expected < 0.4");
    assert!((0.7..1.8).contains(&ratio), "median spread / RMSE {ratio:.3}; expected 0.7..1.8");
    assert!((0.85..1.15).contains(&consistency), "median innovation consistency {consistency:.3}; expected 0.85..1.15");
}
