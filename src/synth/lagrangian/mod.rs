//! The paper's Lagrangian data-assimilation experiment (docs/science.md §11.2): independent samples
//! of a random-Fourier incompressible flow, each observed by drifters released at fixed points.
//!
//! Sample `i` is drawn from its own random stream (seeded from the run seed and `i`), so the
//! result does not depend on the number of threads or the order in which samples finish. Its
//! model-time window runs from `-duration` to 0; time 0 is the sample's time stamp, at which the
//! coefficients `psi_k` and the gridded fields are given, and each drifter track ends there.
//! Because the prior of `psi_k` is circularly symmetric this is the paper's set-up (tracks from
//! t = 0 to T) with the time origin moved to the end of the track.

mod output;

pub use output::{DRIFTERS_FILE, STATES_FILE, write_drifters, write_states};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::models::fourier_flow::{FourierFlow, Rk4, Workspace, grid_fields, integrate};
use crate::pipeline::hash::derive_seed;
use crate::progress::Progress;
use crate::synth::config::LagrangianConfig;

/// One generated sample.
#[derive(Debug, Clone)]
pub struct LagrangianSample {
    /// The flow (the hidden state).
    pub flow: FourierFlow,
    /// Kept positions `[x, y]` of each drifter (one track per release point), unwrapped, with the
    /// position noise added; the last point is at the sample's time stamp.
    pub tracks: Vec<Vec<[f64; 2]>>,
    /// `[psi, u, v]` at the sample's time stamp on the configured grid, when `fields` is on.
    pub fields: Option<[Vec<f64>; 3]>,
}

/// Draws sample `index` of the data set seeded by `seed`; `ws` is per-thread scratch.
pub fn draw_sample(cfg: &LagrangianConfig, seed: u64, index: usize, ws: &mut Workspace) -> LagrangianSample {
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, &format!("lagrangian sample {index}")));
    let prior = cfg.prior();
    let mut flow = FourierFlow::draw(&prior, &mut rng);
    if cfg.shared_frequencies {
        // The same stream for every sample: one set of frequencies for the data set.
        let mut shared = StdRng::seed_from_u64(derive_seed(seed, "lagrangian frequencies"));
        flow.omega = FourierFlow::draw(&prior, &mut shared).omega;
    }
    let tracks = cfg
        .releases
        .iter()
        .map(|&release| {
            let mut track = Vec::with_capacity(cfg.points());
            integrate(&flow, -cfg.duration, release, Rk4 { dt: cfg.dt, steps: cfg.steps(), output_every: cfg.output_every }, ws, &mut track);
            if cfg.position_noise_std > 0.0 {
                for p in &mut track {
                    for c in p.iter_mut() {
                        *c += cfg.position_noise_std * rng.sample::<f64, _>(StandardNormal);
                    }
                }
            }
            track
        })
        .collect();
    let fields = cfg.fields.then(|| grid_fields(&flow, 0.0, cfg.grid, ws));
    LagrangianSample { flow, tracks, fields }
}

/// Draws `cfg.samples` samples in parallel (rayon), in index order.
pub fn generate(cfg: &LagrangianConfig, seed: u64, progress: &Progress) -> Vec<LagrangianSample> {
    (0..cfg.samples)
        .into_par_iter()
        .map_init(
            || Workspace::new(cfg.kmax),
            |ws, i| {
                let sample = draw_sample(cfg, seed, i, ws);
                progress.inc(1);
                sample
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_frequencies_are_one_set_for_the_data_set() {
        let ws = &mut Workspace::new(3);
        let per_sample = LagrangianConfig { fields: false, dt: 1e-3, output_every: 10, ..LagrangianConfig::default() };
        let shared = LagrangianConfig { shared_frequencies: true, ..per_sample.clone() };
        let (a, b) = (draw_sample(&shared, 4, 0, ws), draw_sample(&shared, 4, 1, ws));
        assert_eq!(a.flow.omega, b.flow.omega);
        assert_ne!(a.flow.amplitude, b.flow.amplitude);
        let (c, d) = (draw_sample(&per_sample, 4, 0, ws), draw_sample(&per_sample, 4, 1, ws));
        assert_ne!(c.flow.omega, d.flow.omega);
        // Only the frequencies change: the coefficients of a sample are the same either way.
        assert_eq!(a.flow.amplitude, c.flow.amplitude);
        assert!(a.flow.omega.iter().all(|w| w.is_finite()) && a.flow.omega.iter().any(|w| w.abs() > 1.0));
    }

    #[test]
    fn samples_do_not_depend_on_threads_and_tracks_end_at_time_zero() {
        let cfg = LagrangianConfig { samples: 6, fields: false, dt: 1e-4, output_every: 100, ..LagrangianConfig::default() };
        let progress = Progress::new("test", 6);
        let all = generate(&cfg, 9, &progress);
        let mut ws = Workspace::new(cfg.kmax);
        let one = draw_sample(&cfg, 9, 4, &mut ws);
        assert_eq!(all[4].flow, one.flow);
        assert_eq!(all[4].tracks, one.tracks);
        assert_ne!(all[3].flow, all[4].flow);
        assert_eq!(one.tracks[0].len(), 10);
        // The last kept point is the position at time 0: integrate the same flow in one go.
        let mut end = Vec::new();
        integrate(&one.flow, -0.1, [0.75, 0.75], Rk4 { dt: 1e-4, steps: 1000, output_every: 1000 }, &mut ws, &mut end);
        assert_eq!(end[0], *one.tracks[0].last().unwrap());
    }

    #[test]
    fn position_noise_has_the_configured_spread() {
        let base = LagrangianConfig { fields: false, dt: 1e-4, output_every: 1, ..LagrangianConfig::default() };
        let noisy = LagrangianConfig { position_noise_std: 0.01, ..base.clone() };
        let mut ws = Workspace::new(base.kmax);
        let (a, b) = (draw_sample(&base, 3, 0, &mut ws), draw_sample(&noisy, 3, 0, &mut ws));
        let d: Vec<f64> = a.tracks[0].iter().zip(&b.tracks[0]).flat_map(|(p, q)| [q[0] - p[0], q[1] - p[1]]).collect();
        let sd = (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt();
        assert!((sd / 0.01 - 1.0).abs() < 0.1, "noise sd {sd} from {} values", d.len());
    }
}
