//! Time per call of contrada's own symmetric eigensolver
//! (`contrada::kalman::methods::symmetric_eigen`) against LAPACK's `dsyev` through ndarray-linalg's
//! `eigh_into(UPLO::Lower)` (system OpenBLAS, one thread), on matrices of the ensemble-space shape
//! `S^T S + gamma I` at p = 10, 20, 40, 64, 128 (issue 19, "ETKF eigensolver decision"). The
//! measurement behind `symmetric_eigen::MAX_DIM`.
//!
//! Both sides copy the input first (ours into its workspace, LAPACK's into the array it overwrites),
//! as `EnsembleSpace::factor` would. Rounds alternate between the two so that a change of machine
//! load hits both; the medians over rounds are compared. Commands and recorded figures: BENCHMARKS.md.

mod common;
use common::print_load;

use std::hint::black_box;
use std::time::Instant;

use contrada::kalman::methods::symmetric_eigen::SymmetricEigen;
use ndarray::{Array1, Array2};
use ndarray_linalg::{EighInto, UPLO};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

unsafe extern "C" {
    /// OpenBLAS's run-time thread count; contrada's analyses set it to 1 (ensemble_space.rs).
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
}

const SIZES: [usize; 5] = [10, 20, 40, 64, 128];
const ROUNDS: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds per call of `f`, averaged over `calls` calls.
fn per_call(calls: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..calls {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn main() {
    // SAFETY: a plain setter of OpenBLAS's global thread count, before any LAPACK call.
    unsafe { openblas_set_num_threads(1) };
    let build = if cfg!(debug_assertions) { "debug assertions on (dev profile)" } else { "debug assertions off" };
    println!("symmetric eigendecomposition of S^T S + gamma I, own solver vs LAPACK dsyev (1 thread); {build}");
    print_load("before");
    let mut rng = StdRng::seed_from_u64(19);
    println!("{:>5} {:>12} {:>12} {:>14}", "p", "own us", "LAPACK us", "LAPACK / own");
    for p in SIZES {
        // An ETKF-like matrix: 40 observations of p centred members, gamma = p - 1.
        let s = Array2::from_shape_fn((40, p), |_| rng.sample::<f64, _>(StandardNormal));
        let c = s.t().dot(&s) + Array2::<f64>::eye(p) * (p as f64 - 1.0);
        // About 20 ms per side per round on this machine.
        let calls = (2_000_000 / (p * p * p / 8 + 1000)).max(3);
        let mut solver = SymmetricEigen::default();
        let (mut values, mut vectors) = (Array1::zeros(0), Array2::zeros((0, 0)));
        let (mut own, mut lapack) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS + 1 {
            let t_own = per_call(calls, || solver.decompose(black_box(c.view()), &mut values, &mut vectors).expect("own solver"));
            let t_lapack = per_call(calls, || {
                black_box(black_box(c.clone()).eigh_into(UPLO::Lower).expect("LAPACK"));
            });
            // Round 0 warms caches and workspaces.
            if round > 0 {
                own.push(t_own);
                lapack.push(t_lapack);
            }
        }
        let (own, lapack) = (median(own), median(lapack));
        println!("{p:>5} {own:>12.2} {lapack:>12.2} {:>13.2}x", lapack / own);
    }
    print_load("after");
}
