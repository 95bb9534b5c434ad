//! The LETKF at ocean size: one analysis of an `n x n` doubly periodic grid with two layers of
//! three variables (psi, u, v: `6 n^2` state values), 64 members, observations of the upper-layer
//! psi at random points (bilinear) with the density of 10,000 on 256 x 256, localisation radius 4
//! grid cells. Prints seconds on 2 threads and on 1 (the same run: the parallel speed-up), the
//! peak resident memory of a process that ran only that size, and the scaling exponent of the
//! 2-thread time in the number of grid points over the sizes run.
//!
//! Also the size of DAPPER's QG LETKF anchor (129 x 129 streamfunction, 25 members): the issue
//! measured DAPPER at about 5.8 s per cycle on these 2 cores (multiprocessing). That figure is an
//! anchor from another run, not a ratio measured here; DAPPER's QG model needs a Fortran build.
//!
//! `cargo bench --profile dev --bench letkf_ocean` (sizes: `CONTRADA_BENCH_SIZES=64,128,256,512`).

mod common;
use common::print_load;

use std::process::Command;
use std::time::Instant;

use contrada::kalman::localization::{Distance, Point};
use contrada::kalman::obs::Observations;
use contrada::kalman::obs::obs_operator::{Grid, GridKind, LinearObs};
use contrada::kalman::{BaselineConfig, Filter, Geometry, Method};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// One case: grid side, fields above each point, members, observations, radius in cells.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    fields: usize,
    members: usize,
    obs: usize,
    radius_cells: f64,
}

/// Seconds of one LETKF analysis of `case` on `threads` threads (the best of `rounds`).
fn analyse(case: Case, threads: usize, rounds: usize) -> f64 {
    let Case { n, fields, members, obs, radius_cells } = case;
    let dx = 1.0;
    let axis: Vec<f64> = (0..n).map(|i| i as f64 * dx).collect();
    let period = n as f64 * dx;
    let grid = Grid::new(axis.clone(), axis, GridKind::Periodic { lx: period, ly: period }, None).unwrap();
    let plane = grid.len();
    let mut rng = StdRng::seed_from_u64(7);
    let points: Vec<Point> = (0..obs).map(|_| [rng.random::<f64>() * period, rng.random::<f64>() * period]).collect();
    let n_state = fields * plane;
    // The observed field is the first plane of the state.
    let positions: Vec<Option<usize>> = (0..plane).map(Some).collect();
    let op = LinearObs::bilinear(&grid, &points).and_then(|op| op.on_subset(&positions, n_state)).unwrap();
    let observations = Observations { values: (0..obs).map(|_| rng.sample::<f64, _>(StandardNormal)).collect(), variance: vec![0.25; obs] };
    let state: Vec<Point> = (0..fields).flat_map(|_| grid.points()).collect();
    let config = BaselineConfig { method: Method::Letkf, localization_radius: radius_cells * dx, ..BaselineConfig::default() };
    let prior = Array2::from_shape_fn((members, n_state), |_| rng.sample::<f64, _>(StandardNormal));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    // The filter is built inside the pool: it is not Send, and its table is part of the cost.
    pool.install(|| {
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let mut ensemble = prior.clone();
            let t = Instant::now();
            let geometry = Geometry { state: state.clone(), distance: Distance::Periodic2D { lx: period, ly: period } };
            let mut filter = Filter::new(&config, Some(geometry), None).unwrap();
            filter.assimilate(&mut ensemble, &op, &observations, &mut StdRng::seed_from_u64(0)).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            assert!(ensemble.iter().all(|v| v.is_finite()));
        }
        best
    })
}

/// Peak resident memory of this process, MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs one case in a child process (so that its peak memory is its own) and returns its line.
fn child(case: Case) -> (f64, f64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("CONTRADA_BENCH_CASE", format!("{},{},{},{},{}", case.n, case.fields, case.members, case.obs, case.radius_cells))
        .output()
        .expect("the benchmark re-runs itself");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("CASE ")).unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
    let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

fn main() {
    if let Ok(spec) = std::env::var("CONTRADA_BENCH_CASE") {
        let v: Vec<f64> = spec.split(',').map(|x| x.parse().unwrap()).collect();
        let case = Case { n: v[0] as usize, fields: v[1] as usize, members: v[2] as usize, obs: v[3] as usize, radius_cells: v[4] };
        let rounds = if case.n >= 256 { 1 } else { 3 };
        let two = analyse(case, 2, rounds);
        let one = analyse(case, 1, rounds);
        println!("CASE {two} {one} {}", peak_mib());
        return;
    }
    print_load("before");
    let sizes: Vec<usize> = std::env::var("CONTRADA_BENCH_SIZES").ok().map_or(vec![64, 128, 256], |s| s.split(',').map(|x| x.trim().parse().unwrap()).collect());
    println!("LETKF, 6 fields (3 variables x 2 layers) per grid point, 64 members, radius 4 cells, 10,000 observations per 256^2");
    println!("{:>6} {:>10} {:>8} {:>10} {:>10} {:>9} {:>10}", "n", "values", "obs", "2 threads", "1 thread", "speed-up", "peak MiB");
    let mut rows = Vec::new();
    for &n in &sizes {
        let obs = (10_000.0 * (n * n) as f64 / 65536.0).round() as usize;
        let case = Case { n, fields: 6, members: 64, obs, radius_cells: 4.0 };
        let (two, one, mib) = child(case);
        println!("{n:>6} {:>10} {obs:>8} {two:>9.3}s {one:>9.3}s {:>8.2}x {mib:>10.0}", 6 * n * n, one / two);
        rows.push(((n * n) as f64, two));
    }
    if rows.len() > 1 {
        // Least-squares slope of log time against log grid points.
        let k = rows.len() as f64;
        let (sx, sy) = rows.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x.ln(), b + y.ln()));
        let (mx, my) = (sx / k, sy / k);
        let slope = rows.iter().map(|(x, y)| (x.ln() - mx) * (y.ln() - my)).sum::<f64>() / rows.iter().map(|(x, _)| (x.ln() - mx).powi(2)).sum::<f64>();
        println!("scaling exponent in grid points ({}^2 .. {}^2): {slope:.3}", sizes[0], sizes[sizes.len() - 1]);
    }
    let anchor = Case { n: 129, fields: 1, members: 25, obs: 300, radius_cells: 10.0 };
    let (two, one, mib) = child(anchor);
    println!("DAPPER's QG size (129^2 psi, 25 members, 300 observations, radius 10 cells): {two:.3} s on 2 threads, {one:.3} s on 1, peak {mib:.0} MiB; DAPPER's anchor 5.8 s/cycle is {:.0}x that", 5.8 / two);
    print_load("after");
}
