//! The local ETKF (Hunt et al. 2007): an ETKF analysis for every state element, using only the
//! observations within the localisation support and tapering their inverse error variances by the
//! Gaspari-Cohn weight `rho` (R-localisation: `R_l^{-1} -> rho_l R_l^{-1}`, i.e. whitened rows
//! scaled by `sqrt(rho_l)`, as DAPPER does).
//!
//! Element `j`'s analysis uses its own `C_j = S_j S_j^T + (N-1) I = V diag(lambda) V^T` and needs
//! only the `j`-th column of the anomalies, so the transform is applied as two N-vectors:
//! `x_a[:, j] = xb_j + (w . A_j) 1 + sqrt(N-1) V diag(lambda^{-1/2}) V^T A_j`. Elements without
//! local observations are left unchanged.
//!
//! `C_j` depends only on where element `j` is. A multivariate state has several elements at one
//! location (variables and levels above one grid point), so the elements are grouped by location
//! once per geometry: the localisation table has one row per distinct location, and each
//! location's `C_j` is factored once and applied to all of its elements. The per-element
//! arithmetic is the same either way, so grouping leaves the results bit for bit unchanged.
//!
//! With a hybrid covariance ([`Letkf::with_hybrid`], [`super::hybrid`]) the mean increment is the
//! local Kalman update with the localised `B_h`, solved once per location too; the transform
//! above still moves the anomalies.

use std::collections::HashMap;

use ndarray::Array2;
use rand::rngs::StdRng;

use rayon::prelude::*;

use super::ensemble::mean_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::hybrid::{Hybrid, MeanSolve};
use super::{Analysis, check_shapes};
use crate::error::{Error, Result};
use crate::kalman::localization::{LocalObs, Localizer, Point};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// Buffers of the local analyses of one worker thread.
struct Workspace {
    space: EnsembleSpace,
    local_st: Array2<f64>,
    sd: Vec<f64>,
    u: Vec<f64>,
    z: Vec<f64>,
}

impl Workspace {
    fn new(max_local: usize, n: usize) -> Workspace {
        Workspace { space: EnsembleSpace::default(), local_st: Array2::zeros((max_local, n)), sd: vec![0.0; n], u: vec![0.0; n], z: vec![0.0; n] }
    }

    /// Factors the local ensemble-space matrix of one location, whose local observations are
    /// `local` with taper `weights`, and `z = V^T (S_j d_j)` of its pure-ensemble mean update.
    fn factor(&mut self, local: &[usize], weights: &[f64], innov: &Innovations, n: usize) -> Result<()> {
        let n1 = (n - 1) as f64;
        self.sd.fill(0.0);
        // Raw rows rather than ndarray row views: a view per local observation and element
        // dominated the dev-profile run time.
        let st = innov.st.as_slice().expect("standard layout");
        let local_st = self.local_st.as_slice_mut().expect("standard layout");
        for ((&l, &rho), dst) in local.iter().zip(weights).zip(local_st.chunks_exact_mut(n)) {
            let root = rho.sqrt();
            let dl = innov.d[l] * rho;
            let src = &st[l * n..(l + 1) * n];
            for ((t, &s), acc) in dst.iter_mut().zip(src).zip(self.sd.iter_mut()) {
                *t = s * root;
                *acc += s * dl;
            }
        }
        self.space.factor(self.local_st.slice(ndarray::s![..local.len(), ..]), n1)?;
        let v_rows = self.space.vectors().as_slice().expect("eigenvectors are kept in standard layout");
        self.z.fill(0.0);
        for (row, &sa) in v_rows.chunks_exact(n).zip(&self.sd) {
            for (z, &v) in self.z.iter_mut().zip(row) {
                *z += v * sa;
            }
        }
        Ok(())
    }

    /// The analysis of one state element at the location last factored: `anomalies` are its
    /// prior anomalies over members, `out` receives its analysed member values. `shift` is the
    /// hybrid mean increment, or `None` for the ensemble's own.
    fn update(&mut self, mean: f64, anomalies: &[f64], shift: Option<f64>, out: &mut [f64]) {
        let n = anomalies.len();
        let n1 = (n - 1) as f64;
        let (vecs, vals) = (self.space.vectors(), self.space.values());
        let v_rows = vecs.as_slice().expect("eigenvectors are kept in standard layout");
        // u = V^T A_j, accumulated over the rows of V.
        self.u.fill(0.0);
        for (row, &aj) in v_rows.chunks_exact(n).zip(anomalies) {
            for (u, &v) in self.u.iter_mut().zip(row) {
                *u += v * aj;
            }
        }
        let mut own = 0.0;
        for ((u, &z), &l) in self.u.iter_mut().zip(&self.z).zip(vals.iter()) {
            own += z * *u / l;
            *u *= (n1 / l).sqrt();
        }
        let base = mean + shift.unwrap_or(own);
        for (o, row) in out.iter_mut().zip(v_rows.chunks_exact(n)) {
            *o = base + row.iter().zip(&self.u).map(|(v, u)| v * u).sum::<f64>();
        }
    }
}

/// The state elements grouped by location: `order` lists the elements location by location
/// (each location's in increasing order), `starts[g]..starts[g + 1]` is location `g`'s range of
/// `order`, and `sites[g]` is the location.
#[derive(Debug, Clone)]
struct Groups {
    sites: Vec<Point>,
    order: Vec<usize>,
    starts: Vec<usize>,
}

impl Groups {
    /// Groups elements whose locations are bitwise equal (so every [`UNLOCALISED`] element, NaN
    /// with one bit pattern, shares one group); `grouped = false` gives every element its own.
    ///
    /// [`UNLOCALISED`]: crate::kalman::localization::UNLOCALISED
    fn new(state: &[Point], grouped: bool) -> Groups {
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut sites = Vec::new();
        let mut index: HashMap<[u64; 2], usize> = HashMap::new();
        for (j, p) in state.iter().enumerate() {
            let g = if grouped {
                *index.entry([p[0].to_bits(), p[1].to_bits()]).or_insert_with(|| {
                    sites.push(*p);
                    members.push(Vec::new());
                    sites.len() - 1
                })
            } else {
                sites.push(*p);
                members.push(Vec::new());
                j
            };
            members[g].push(j);
        }
        let mut starts = vec![0];
        starts.extend(members.iter().scan(0, |end, m| {
            *end += m.len();
            Some(*end)
        }));
        Groups { sites, order: members.concat(), starts }
    }
}

/// The LETKF, with its localisation table cached for as long as the observation locations stay
/// the same (every cycle of a fixed observing network). Local analyses run in parallel (rayon),
/// one location at a time; each is independent, so the result does not depend on the number of
/// threads.
pub struct Letkf {
    localizer: Localizer,
    groups: Groups,
    /// Observation locations and the table of local observations of every location in `groups`.
    table: Option<(Vec<Point>, LocalObs)>,
    hybrid: Option<Hybrid>,
    hx: Array2<f64>,
    innov: Innovations,
    mean: Vec<f64>,
    /// Prior anomalies, one row per state element in the order of `groups` (A transposed).
    anomalies: Array2<f64>,
    /// Analysed values, laid out as `anomalies`.
    analysed: Array2<f64>,
}

impl Letkf {
    /// An LETKF for states whose elements sit at `state`.
    pub fn new(localizer: Localizer, state: Vec<Point>) -> Letkf {
        Self::build(localizer, &state, true)
    }

    fn build(localizer: Localizer, state: &[Point], grouped: bool) -> Letkf {
        let empty = || Array2::zeros((0, 0));
        let groups = Groups::new(state, grouped);
        Letkf {
            localizer,
            groups,
            table: None,
            hybrid: None,
            hx: empty(),
            innov: Innovations::default(),
            mean: Vec::new(),
            anomalies: empty(),
            analysed: empty(),
        }
    }

    /// The same LETKF with the hybrid covariance of `hybrid` in its mean update.
    pub fn with_hybrid(self, hybrid: Hybrid) -> Letkf {
        Letkf { hybrid: Some(hybrid), ..self }
    }

    fn refresh_table(&mut self, locations: &[Point]) {
        let stale = self.table.as_ref().is_none_or(|(cached, _)| cached.as_slice() != locations);
        if stale {
            self.table = Some((locations.to_vec(), LocalObs::new(&self.localizer, &self.groups.sites, locations)));
        }
    }
}

impl Analysis for Letkf {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, _rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 2)?;
        let (n, n_state) = ensemble.dim();
        if self.groups.order.len() != n_state {
            return Err(Error::Other(format!("LETKF geometry has {} locations for a state of {n_state}", self.groups.order.len())));
        }
        observe(op, ensemble.view(), &mut self.hx);
        self.innov.compute(self.hx.view(), obs)?;
        if let Some(hybrid) = &mut self.hybrid {
            hybrid.prepare(op, obs, self.innov.st.view())?;
        }
        self.refresh_table(op.locations());
        self.mean.resize(n_state, 0.0);
        mean_into(ensemble.view(), &mut self.mean);
        if self.anomalies.dim() != (n_state, n) {
            self.anomalies = Array2::zeros((n_state, n));
            self.analysed = Array2::zeros((n_state, n));
        }
        let order = &self.groups.order;
        for (i, member) in ensemble.rows().into_iter().enumerate() {
            for (r, &j) in order.iter().enumerate() {
                let x = member[j];
                self.anomalies[(r, i)] = x - self.mean[j];
                self.analysed[(r, i)] = x;
            }
        }

        let table = &self.table.as_ref().expect("refreshed above").1;
        let max_local = table.max_local();
        let (innov, mean, hybrid, starts) = (&self.innov, &self.mean, self.hybrid.as_ref(), &self.groups.starts);
        let anomalies = self.anomalies.as_slice().expect("standard layout");
        // One contiguous block of analysed rows per location.
        let mut blocks = Vec::with_capacity(starts.len() - 1);
        let mut rest = self.analysed.as_slice_mut().expect("standard layout");
        for (g, w) in starts.windows(2).enumerate() {
            let (block, tail) = rest.split_at_mut((w[1] - w[0]) * n);
            blocks.push((g, block));
            rest = tail;
        }
        blocks.into_par_iter().with_min_len(4).try_for_each_init(
            || (Workspace::new(max_local, n), MeanSolve::default()),
            |(ws, solve), (g, block)| {
                let (local, weights) = table.of(g);
                if local.is_empty() {
                    return Ok(());
                }
                ws.factor(local, weights, innov, n)?;
                let w = match hybrid {
                    Some(h) => Some(solve.solve(h, local.iter().copied().zip(weights.iter().copied()), &innov.d)?),
                    None => None,
                };
                for (r, out) in (starts[g]..starts[g + 1]).zip(block.chunks_exact_mut(n)) {
                    let (j, a) = (order[r], &anomalies[r * n..(r + 1) * n]);
                    let shift = hybrid.zip(w).map(|(h, w)| h.increment(w, a, j));
                    ws.update(mean[j], a, shift, out);
                }
                Ok::<(), Error>(())
            },
        )?;
        for (i, mut member) in ensemble.rows_mut().into_iter().enumerate() {
            for (r, &j) in order.iter().enumerate() {
                member[j] = self.analysed[(r, i)];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::localization::Distance;
    use crate::kalman::methods::etkf::Etkf;
    use crate::kalman::methods::test_support::random_ensemble;
    use crate::kalman::obs::obs_operator::LinearObs;
    use rand::SeedableRng;

    fn ring(n: usize) -> Vec<Point> {
        (0..n).map(|i| [i as f64, 0.0]).collect()
    }

    #[test]
    fn infinite_radius_reproduces_the_global_etkf() {
        // With every taper weight 1 each local analysis is the global one.
        let n = 12;
        let op = LinearObs::selection(&ring(n), &[0, 2, 3, 7, 11]).unwrap();
        let obs = Observations { values: vec![1.0, -0.5, 0.3, 2.0, 0.0], variance: vec![0.5, 1.0, 0.7, 0.4, 2.0] };
        let prior = random_ensemble(6, n, &mut StdRng::seed_from_u64(3));
        let mut rng = StdRng::seed_from_u64(0);
        let mut global = prior.clone();
        Etkf::default().analyse(&mut global, &op, &obs, &mut rng).unwrap();
        let mut local = prior.clone();
        let loc = Localizer { distance: Distance::Plane, radius: 1e12 };
        Letkf::new(loc, ring(n)).analyse(&mut local, &op, &obs, &mut rng).unwrap();
        assert!((&global - &local).iter().all(|v| v.abs() < 1e-10));
    }

    /// With every taper weight 1 the hybrid LETKF is the hybrid ETKF, mean and anomalies.
    /// Catches: the static rows left untapered or tapered twice in one of the two, a local
    /// mean solve that differs from the global one (wrong rows gathered, `d` not tapered alike),
    /// and the static increment taken at the wrong element.
    #[test]
    fn hybrid_with_infinite_radius_is_the_hybrid_etkf() {
        let n = 12;
        let mut rng = StdRng::seed_from_u64(4);
        let statics = random_ensemble(9, n, &mut rng) + 1.5;
        let prior = random_ensemble(6, n, &mut rng);
        // 5 observations (observation-space solve) and 40 (ensemble-space solve: 6 + 9 members).
        for idx in [vec![0, 2, 3, 7, 11], (0..40).map(|k| (k * 7) % n).collect()] {
            let op = LinearObs::selection(&ring(n), &idx).unwrap();
            let obs =
                Observations { values: idx.iter().map(|&k| (k as f64).cos()).collect(), variance: idx.iter().map(|&k| 0.4 + 0.1 * (k % 3) as f64).collect() };
            let mut global = prior.clone();
            Etkf::hybrid(Hybrid::new(statics.clone(), 0.35, 0.5).unwrap()).analyse(&mut global, &op, &obs, &mut rng).unwrap();
            let mut local = prior.clone();
            let loc = Localizer { distance: Distance::Plane, radius: 1e12 };
            Letkf::new(loc, ring(n)).with_hybrid(Hybrid::new(statics.clone(), 0.35, 0.5).unwrap()).analyse(&mut local, &op, &obs, &mut rng).unwrap();
            assert!((&global - &local).iter().all(|v| v.abs() < 1e-10), "{} observations", idx.len());
        }
    }

    /// A static ensemble equal to the forecast ensemble makes `B_s = P_e`, so at any radius and
    /// hybrid weight the hybrid LETKF is the pure one: the static part is localised exactly as
    /// the ensemble part. Catches a static part tapered differently (e.g. by `rho` rather than
    /// `sqrt(rho)` per row, or not at all), static rows paired with another location's weights,
    /// and a static increment taken at the wrong element.
    #[test]
    fn hybrid_with_the_ensemble_as_static_part_is_the_pure_letkf() {
        let n = 30;
        let prior = random_ensemble(6, n, &mut StdRng::seed_from_u64(12));
        let idx = [0, 3, 4, 9, 14, 15, 21, 26];
        let op = LinearObs::selection(&ring(n), &idx).unwrap();
        let obs = Observations { values: idx.iter().map(|&k| (k as f64).sin() * 2.0).collect(), variance: vec![0.6; idx.len()] };
        let loc = Localizer { distance: Distance::Periodic1D { period: n as f64 }, radius: 2.5 };
        let mut pure = prior.clone();
        Letkf::new(loc, ring(n)).analyse(&mut pure, &op, &obs, &mut StdRng::seed_from_u64(0)).unwrap();
        for beta in [0.2, 0.7] {
            let mut hybrid = prior.clone();
            Letkf::new(loc, ring(n))
                .with_hybrid(Hybrid::new(prior.clone(), beta, 1.0).unwrap())
                .analyse(&mut hybrid, &op, &obs, &mut StdRng::seed_from_u64(0))
                .unwrap();
            assert!((&hybrid - &pure).iter().all(|v| v.abs() < 1e-10), "beta {beta}");
        }
    }

    /// Six elements per location (as six variables or levels above each grid point, in blocks
    /// like a state file's variables): the grouped LETKF, which factors once per location, gives
    /// bit for bit what factoring every element on its own gives, pure and hybrid. Catches a
    /// permutation applied one way and not back, an element analysed with another location's
    /// observations or factorisation, and a block boundary off by one.
    #[test]
    fn grouping_by_location_changes_nothing() {
        let (sites, per) = (20, 6);
        let state: Vec<Point> = (0..sites * per).map(|j| [(j % sites) as f64, 0.0]).collect();
        let mut rng = StdRng::seed_from_u64(8);
        let prior = random_ensemble(7, state.len(), &mut rng);
        let statics = random_ensemble(10, state.len(), &mut rng);
        let idx = [1, 4, 9, 15, 22, 37, 58, 63, 90, 111, 119];
        let op = LinearObs::selection(&state, &idx).unwrap();
        let obs = Observations { values: idx.iter().map(|&k| (k as f64).sin()).collect(), variance: vec![0.5; idx.len()] };
        let loc = Localizer { distance: Distance::Periodic1D { period: sites as f64 }, radius: 1.5 };
        assert_eq!(Groups::new(&state, true).sites.len(), sites);
        for beta in [0.0, 0.3] {
            let filter = |grouped: bool| {
                let letkf = Letkf::build(loc, &state, grouped);
                if beta > 0.0 { letkf.with_hybrid(Hybrid::new(statics.clone(), beta, 0.5).unwrap()) } else { letkf }
            };
            let (mut grouped, mut single) = (prior.clone(), prior.clone());
            filter(true).analyse(&mut grouped, &op, &obs, &mut StdRng::seed_from_u64(0)).unwrap();
            filter(false).analyse(&mut single, &op, &obs, &mut StdRng::seed_from_u64(0)).unwrap();
            assert_eq!(grouped, single, "beta {beta}");
            assert_ne!(grouped, prior, "beta {beta}: nothing analysed");
        }
    }

    #[test]
    fn distant_elements_are_untouched_and_near_ones_follow_the_taper() {
        let n = 40;
        let op = LinearObs::selection(&ring(n), &[10]).unwrap();
        let obs = Observations { values: vec![3.0], variance: vec![1.0] };
        let prior = random_ensemble(5, n, &mut StdRng::seed_from_u64(7));
        let mut e = prior.clone();
        let loc = Localizer { distance: Distance::Periodic1D { period: 40.0 }, radius: 2.0 };
        Letkf::new(loc, ring(n)).analyse(&mut e, &op, &obs, &mut StdRng::seed_from_u64(0)).unwrap();
        // Support is 2c = 7.3 points: element 18 (distance 8) and beyond stay as they were.
        for j in (18..40).chain(0..3) {
            assert!(e.column(j) == prior.column(j), "element {j} changed");
        }
        // At the observed element, the update equals a global ETKF of that element alone.
        let single = LinearObs::selection(&[[10.0, 0.0]], &[0]).unwrap();
        let mut col = prior.column(10).to_owned().insert_axis(ndarray::Axis(1));
        Etkf::default().analyse(&mut col, &single, &obs, &mut StdRng::seed_from_u64(0)).unwrap();
        assert!(e.column(10).iter().zip(col.iter()).all(|(a, b)| (a - b).abs() < 1e-12));
    }
}
