//! The local ETKF (Hunt et al. 2007): an ETKF analysis for every state element, using only the
//! observations within the localisation support and tapering their inverse error variances by the
//! Gaspari-Cohn weight `rho` (R-localisation: `R_l^{-1} -> rho_l R_l^{-1}`, i.e. whitened rows
//! scaled by `sqrt(rho_l)`, as DAPPER does).
//!
//! Element `j`'s analysis uses its own `C_j = S_j S_j^T + (N-1) I = V diag(lambda) V^T` and needs
//! only the `j`-th column of the anomalies, so the transform is applied as two N-vectors:
//! `x_a[:, j] = xb_j + (w . A_j) 1 + sqrt(N-1) V diag(lambda^{-1/2}) V^T A_j`. Elements without
//! local observations are left unchanged.

use ndarray::Array2;
use rand::rngs::StdRng;

use rayon::prelude::*;

use super::ensemble::mean_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::{Analysis, check_shapes};
use crate::error::{Error, Result};
use crate::kalman::localization::{LocalObs, Localizer, Point};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// Buffers of one local analysis; one per worker thread.
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

    /// The analysis of one state element: `anomalies` are its prior anomalies over members and
    /// `out` receives its analysed member values.
    fn analyse(&mut self, local: &[usize], weights: &[f64], innov: &Innovations, mean: f64, anomalies: &[f64], out: &mut [f64]) -> Result<()> {
        let n = anomalies.len();
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
        let (vecs, vals) = (self.space.vectors(), self.space.values());
        let v_rows = vecs.as_slice().expect("eigenvectors are kept in standard layout");
        // u = V^T A_j and z = V^T (S_j d_j), accumulated over the rows of V.
        self.u.fill(0.0);
        self.z.fill(0.0);
        for ((row, &aj), &sa) in v_rows.chunks_exact(n).zip(anomalies).zip(&self.sd) {
            for ((u, z), &v) in self.u.iter_mut().zip(self.z.iter_mut()).zip(row) {
                *u += v * aj;
                *z += v * sa;
            }
        }
        let mut shift = 0.0;
        for ((u, &z), &l) in self.u.iter_mut().zip(&self.z).zip(vals.iter()) {
            shift += z * *u / l;
            *u *= (n1 / l).sqrt();
        }
        let base = mean + shift;
        for (o, row) in out.iter_mut().zip(v_rows.chunks_exact(n)) {
            *o = base + row.iter().zip(&self.u).map(|(v, u)| v * u).sum::<f64>();
        }
        Ok(())
    }
}

/// The LETKF, with its localisation table cached for as long as the observation locations stay
/// the same (every cycle of a fixed observing network). Local analyses run in parallel (rayon);
/// each is independent, so the result does not depend on the number of threads.
pub struct Letkf {
    localizer: Localizer,
    state: Vec<Point>,
    table: Option<(Vec<Point>, LocalObs)>,
    hx: Array2<f64>,
    innov: Innovations,
    mean: Vec<f64>,
    /// Prior anomalies, one row per state element (A transposed).
    anomalies: Array2<f64>,
    /// Analysed values, one row per state element.
    analysed: Array2<f64>,
}

impl Letkf {
    /// An LETKF for states whose elements sit at `state`.
    pub fn new(localizer: Localizer, state: Vec<Point>) -> Letkf {
        let empty = || Array2::zeros((0, 0));
        Letkf { localizer, state, table: None, hx: empty(), innov: Innovations::default(), mean: Vec::new(), anomalies: empty(), analysed: empty() }
    }

    fn refresh_table(&mut self, locations: &[Point]) {
        let stale = self.table.as_ref().is_none_or(|(cached, _)| cached.as_slice() != locations);
        if stale {
            self.table = Some((locations.to_vec(), LocalObs::new(&self.localizer, &self.state, locations)));
        }
    }
}

impl Analysis for Letkf {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, _rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 2)?;
        let (n, n_state) = ensemble.dim();
        if self.state.len() != n_state {
            return Err(Error::Other(format!("LETKF geometry has {} locations for a state of {n_state}", self.state.len())));
        }
        observe(op, ensemble.view(), &mut self.hx);
        self.innov.compute(self.hx.view(), obs)?;
        self.refresh_table(op.locations());
        self.mean.resize(n_state, 0.0);
        mean_into(ensemble.view(), &mut self.mean);
        if self.anomalies.dim() != (n_state, n) {
            self.anomalies = Array2::zeros((n_state, n));
            self.analysed = Array2::zeros((n_state, n));
        }
        for (i, member) in ensemble.rows().into_iter().enumerate() {
            for (j, &x) in member.iter().enumerate() {
                self.anomalies[(j, i)] = x - self.mean[j];
                self.analysed[(j, i)] = x;
            }
        }

        let table = &self.table.as_ref().expect("refreshed above").1;
        let max_local = table.max_local();
        let (innov, mean) = (&self.innov, &self.mean);
        let anomalies = self.anomalies.as_slice().expect("standard layout");
        let analysed = self.analysed.as_slice_mut().expect("standard layout");
        analysed.par_chunks_mut(n).enumerate().with_min_len(4).try_for_each_init(
            || Workspace::new(max_local, n),
            |ws, (j, out)| {
                let (local, weights) = table.of(j);
                if local.is_empty() {
                    return Ok(());
                }
                ws.analyse(local, weights, innov, mean[j], &anomalies[j * n..(j + 1) * n], out)
            },
        )?;
        for (i, mut member) in ensemble.rows_mut().into_iter().enumerate() {
            for (j, x) in member.iter_mut().enumerate() {
                *x = self.analysed[(j, i)];
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
