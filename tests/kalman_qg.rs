//! Validation of the ensemble Kalman baselines on the two-layer QG ocean (issue 19): the twin
//! experiment of `contrada::kalman::twin::qg_twin` (32 x 32 eddying regime, 32 members from
//! climatological states, one-day cycles, 30 stations and a moving 200-km swath of upper-layer
//! streamfunction with 100 m^2/s errors, 10 burn-in and 30 scored cycles; the module notes give
//! the set-up). Scores are the RMSE and spread of `psi` (both layers, m^2/s).
//!
//! The real filter is the LETKF with a 150-km localisation radius (periodic 2-D distance) and
//! RTPS 0.6. Tuned on seed 19 (analysis RMSE, spread/skill): radius 60, 100, 150, 300 km with
//! RTPS 0.6-0.7 gave 48.7, 48.1, 30.7 (0.97), 17.5 (0.99); RTPS 0.5 at 100 km 39.0 (0.79). 300 km
//! has the lowest RMSE but improves on the forecast in only 19 of the 30 cycles (by up to 9 %
//! worse in the others), 150 km in 29 (the other 0.9 % worse): it is the radius that meets every
//! criterion below. The filter must: beat the free-running ensemble and EnOI by a wide margin,
//! significantly (95 % confidence interval of the per-cycle difference, from the effective number
//! of independent cycles given their lag-1 autocorrelation); reach an analysis RMSE below
//! [`THRESHOLD`]; keep its spread/skill ratio in 0.8-1.2; and improve on the forecast on average
//! (95 % interval) and in at least 80 % of the scored cycles. (Not in every cycle: one-day cycles
//! improve the forecast by only about 2 %, 31.3 to 30.7 on average, so the observation noise of
//! one day can cost a correct filter a cycle.)
//!
//! Broken versions run on the same truth and observations, and each fails a criterion the real
//! filter passes:
//! - no inflation (RTPS 0): the spread collapses below the error;
//! - a sign error: every analysis sees `2 H(xb) - y`, the innovation negated; the ensemble blows
//!   up within ten cycles.
//!
//! Not a broken filter here: no localisation. The global ETKF (the LETKF at infinite radius, as
//! the unit tests show) has a lower RMSE than any radius (13.9, spread/skill 0.92, though better
//! than its forecast in only 19 of the 30 cycles), because `psi` is dominated by the
//! largest eddies, whose errors 32 members span; localising below that scale only hurts (the
//! larger the radius, the better, above). It is run and printed, not asserted to fail.
//!
//! The hybrid LETKF beats the pure one (27.7 against 30.7 with a small static part) in
//! [`hybrid_on_the_qg_ocean`]. With 16
//! members every variant diverges (analysis RMSE 670-1,010 against a climatology of 973), with or
//! without localisation at 100-150 km.

use std::time::Instant;

use contrada::kalman::methods::inflation::Relaxation;
use contrada::kalman::twin::qg_twin::{QgScores, QgTwin, QgTwinData};
use contrada::kalman::{BaselineConfig, Method};

/// Analysis RMSE (m^2/s) the real filter must stay below: half the observation error.
const THRESHOLD: f64 = 50.0;
/// Localisation radius of the LETKF, m.
const RADIUS_M: f64 = 150e3;
/// RTPS weight of the LETKF.
const RTPS: f64 = 0.6;
/// EnOI's static covariance scaling (tuned: 0.01, 0.03, 0.1 and 1 gave 981, 993, 1008, 1028).
const ENOI_ALPHA: f64 = 0.01;

fn letkf_config() -> BaselineConfig {
    BaselineConfig { method: Method::Letkf, localization_radius: RADIUS_M, relax: Relaxation::Rtps, relax_alpha: RTPS, ..BaselineConfig::default() }
}

fn run(name: &str, twin: &QgTwin, data: &QgTwinData, config: Option<&BaselineConfig>) -> QgScores {
    let s = twin.assimilate(data, config).unwrap_or_else(|e| panic!("{name}: {e}"));
    report(name, &s);
    s
}

fn report(name: &str, s: &QgScores) {
    let f = &s.filter;
    let worst = s.per_cycle.iter().map(|c| c.rmse_a / c.rmse_f).fold(0.0, f64::max);
    eprintln!(
        "{name:<24} rmse.a {:7.1} rmse.f {:7.1} spread.a {:6.1} spread/skill {:.2} worst rmse.a/rmse.f {:.3} innovation consistency {:.2} (climatology {:.1}; {:.1} s)",
        f.rmse_a,
        f.rmse_f,
        f.spread_a,
        f.spread_a / f.rmse_a,
        worst,
        f.innovation.consistency(),
        s.climatology,
        f.seconds
    );
}

/// Which of the real filter's criteria `s` fails (empty: it passes them all).
fn failures(s: &QgScores) -> Vec<String> {
    let f = &s.filter;
    let mut out = Vec::new();
    if !(f.rmse_a < THRESHOLD) {
        out.push(format!("analysis RMSE {:.1} >= {THRESHOLD}", f.rmse_a));
    }
    let ratio = f.spread_a / f.rmse_a;
    if !(0.8..=1.2).contains(&ratio) {
        out.push(format!("spread/skill {ratio:.2} outside 0.8-1.2"));
    }
    let improved = s.per_cycle.iter().filter(|c| c.rmse_a < c.rmse_f).count();
    let forecast: Vec<f64> = s.per_cycle.iter().map(|c| c.rmse_f).collect();
    let (mean, half) = difference_ci(&analysis_rmse(s), &forecast);
    if improved * 5 < 4 * s.per_cycle.len() || !(mean + half < 0.0) {
        out.push(format!("analysis better than the forecast in {improved} of {} cycles, by {:.2} +- {half:.2} on average", s.per_cycle.len(), -mean));
    }
    out
}

/// Mean of `a - b` over cycles and the half-width of its 95 % confidence interval, with the
/// sample size cut to the effective number of independent cycles, `n (1 - r1) / (1 + r1)`,
/// for lag-1 autocorrelation `r1` (consecutive cycles share most of their error).
fn difference_ci(a: &[f64], b: &[f64]) -> (f64, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let r1 = if var > 0.0 { d.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / ((n - 1.0) * var) } else { 0.0 };
    let r1 = r1.clamp(0.0, 0.95);
    let n_eff = (n * (1.0 - r1) / (1.0 + r1)).max(2.0);
    (mean, 1.96 * (var / n_eff).sqrt())
}

fn analysis_rmse(s: &QgScores) -> Vec<f64> {
    s.per_cycle.iter().map(|c| c.rmse_a).collect()
}

#[test]
fn letkf_on_the_qg_ocean_beats_free_run_and_enoi_and_broken_filters_fail() {
    let start = Instant::now();
    let twin = QgTwin::default();
    let data = twin.simulate().unwrap();
    eprintln!("truth, climatology and observations: {:.1} s", start.elapsed().as_secs_f64());
    let free = run("free-running ensemble", &twin, &data, None);
    let enoi_config = BaselineConfig { method: Method::Enoi, enoi_alpha: ENOI_ALPHA, ..BaselineConfig::default() };
    let enoi = run("EnOI (one member)", &QgTwin { ensemble_size: 1, ..twin.clone() }, &data, Some(&enoi_config));
    let letkf = run("LETKF", &twin, &data, Some(&letkf_config()));
    let a_f: Vec<String> = letkf.per_cycle.iter().map(|c| format!("{:.1}/{:.1}", c.rmse_a, c.rmse_f)).collect();
    eprintln!("LETKF analysis/forecast RMSE per scored cycle: {}", a_f.join(" "));

    assert_eq!(letkf.per_cycle.len(), twin.cycles);
    let problems = failures(&letkf);
    assert!(problems.is_empty(), "the LETKF fails: {problems:?}");
    for (other, name) in [(&free, "the free run"), (&enoi, "EnOI")] {
        let (mean, half) = difference_ci(&analysis_rmse(&letkf), &analysis_rmse(other));
        eprintln!("LETKF - {name}: {mean:.1} +- {half:.1} m^2/s (95 %)");
        assert!(mean + half < 0.0, "LETKF not significantly better than {name}: {mean:.1} +- {half:.1}");
        assert!(letkf.filter.rmse_a < 0.25 * other.filter.rmse_a, "LETKF {:.1} not clearly below {name} {:.1}", letkf.filter.rmse_a, other.filter.rmse_a);
    }

    let global = BaselineConfig { method: Method::Etkf, ..letkf_config() };
    let etkf = run("no localisation (ETKF)", &twin, &data, Some(&global));
    eprintln!("no localisation (not asserted): {:?}", failures(&etkf));
    let no_inflation = BaselineConfig { relax: Relaxation::None, relax_alpha: 0.0, ..letkf_config() };
    let negated = QgTwin { negate_innovations: true, ..twin.clone() };
    for (name, twin, config) in [("no inflation", &twin, &no_inflation), ("innovation sign flipped", &negated, &letkf_config())] {
        // A filter that blows up fails too.
        let problems = match twin.assimilate(&data, Some(config)) {
            Ok(s) => {
                report(name, &s);
                failures(&s)
            }
            Err(e) => vec![e.to_string()],
        };
        eprintln!("{name}: fails {problems:?}");
        assert!(!problems.is_empty(), "{name}: the broken filter passes every criterion");
    }
    eprintln!("total {:.1} s", start.elapsed().as_secs_f64());
}

/// The hybrid LETKF (`hybrid_weight` beta, static covariance `enoi_alpha` times the climatology's)
/// on the same twin, against the pure LETKF, with 40 of the climatological states as the static
/// ensemble (its local solves involve the static members as well as the 32 forecast ones: with
/// all 120 it ran for 150 s per setting in the dev profile, with 40 for 17 s and the same
/// scores). `QG_HYBRID="beta:alpha;..."` picks other settings.
/// Measured (analysis RMSE, spread/skill; difference to the pure LETKF's 30.7 with its 95 %
/// interval): beta 0.1, alpha 1e-3 (a static standard deviation of 10 m^2/s): 29.1, 1.02,
/// -1.6 +- 0.2; beta 0.5, alpha 1e-4 (7 m^2/s): 27.7, 1.07, -3.0 +- 1.4, better than its forecast
/// in every cycle. A static part of climatological size is harmful (beta 0.3, alpha 1: 142 at
/// 100 km; beta 0.05, alpha 0.01, i.e. 22 m^2/s: 84.9 at 150 km): the climatology describes
/// where the eddies are, not the error of a one-day forecast, and 120 states sample it noisily.
/// Asserted for every setting: the criteria of the pure LETKF, and a significant improvement on
/// the pure LETKF.
#[test]
fn hybrid_on_the_qg_ocean() {
    let twin = QgTwin::default();
    let data = twin.simulate().unwrap();
    let free = run("free-running ensemble", &twin, &data, None);
    let enoi_config = BaselineConfig { method: Method::Enoi, enoi_alpha: ENOI_ALPHA, ..BaselineConfig::default() };
    let enoi = run("EnOI (one member)", &QgTwin { ensemble_size: 1, ..twin.clone() }, &data, Some(&enoi_config));
    let letkf = run("LETKF", &twin, &data, Some(&letkf_config()));
    let settings = std::env::var("QG_HYBRID").unwrap_or_else(|_| "0.5:0.0001".into());
    // Every third climatological state (40): the hybrid's local solves grow with the square of
    // forecast plus static members, and 40 gave the same scores as all 120 (27.7, -3.0 +- 1.4)
    // in 17 s instead of 150 s.
    let data = QgTwinData {
        truth: data.truth.clone(),
        climatology: data.climatology.slice(ndarray::s![..;3, ..]).to_owned(),
        initial: data.initial.clone(),
        obs: data.obs.clone(),
    };
    for setting in settings.split(';') {
        let (beta, alpha) = setting.split_once(':').expect("beta:alpha");
        let config = BaselineConfig { hybrid_weight: beta.parse().unwrap(), enoi_alpha: alpha.parse().unwrap(), ..letkf_config() };
        let hybrid = run(&format!("hybrid {setting}"), &twin, &data, Some(&config));
        for (other, name) in [(&free, "the free run"), (&enoi, "EnOI"), (&letkf, "the pure LETKF")] {
            let (mean, half) = difference_ci(&analysis_rmse(&hybrid), &analysis_rmse(other));
            eprintln!("hybrid {setting} - {name}: {mean:.1} +- {half:.1} m^2/s (95 %)");
        }
        assert!(hybrid.filter.rmse_a < 0.25 * free.filter.rmse_a.min(enoi.filter.rmse_a), "hybrid {setting} not clearly better than the free run and EnOI");
        let problems = failures(&hybrid);
        assert!(problems.is_empty(), "hybrid {setting} fails: {problems:?}");
        let (mean, half) = difference_ci(&analysis_rmse(&hybrid), &analysis_rmse(&letkf));
        assert!(mean + half < 0.0, "hybrid {setting} not significantly better than the pure LETKF: {mean:.1} +- {half:.1}");
    }
}
