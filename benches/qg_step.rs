//! Speed of the two-layer QG model (`contrada::models::qg`): milliseconds per time step at 64 x 64
//! and 128 x 128 in the default eddying regime, one thread, with the load average (the machine is
//! shared; a load above 1 on its 2 cores slows a single-threaded run). Also times the two ways of
//! doing the model's 2-D transforms of a real field, realfft's real-to-complex rows with complex
//! columns (what the model does) against a complex-to-complex transform of the same field with
//! rustfft, the measurement behind the choice of realfft.
//!
//! With `CONTRADA_BENCH_PYQG=/path/to/python` (a Python with pyqg 0.7.2, see BENCHMARKS.md),
//! `scripts/pyqg_step.py` times pyqg's `QGModel` on the same grids in the same invocation, and the
//! ratio is printed. Commands and recorded figures: BENCHMARKS.md.

mod common;
use common::print_load;

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use contrada::models::Model;
use contrada::models::qg::{QgConfig, QgModel};
use rand::SeedableRng;
use rand::rngs::StdRng;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// Milliseconds per step of the default regime at `n x n`: the best and the median of `rounds`
/// timed runs of `steps` steps each, after a spin-up of 100 steps from a small random state.
fn time_model(n: usize, steps: usize, rounds: usize) -> (f64, f64) {
    let cfg = QgConfig { nx: n, ..QgConfig::default() };
    let mut model = QgModel::new(&cfg).expect("valid configuration");
    let mut state = model.random_state(&mut StdRng::seed_from_u64(1), 1e-6);
    model.integrate(&mut state, 100);
    let mut ms: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            model.integrate(&mut state, steps);
            t.elapsed().as_secs_f64() * 1e3 / steps as f64
        })
        .collect();
    assert!(state.iter().all(|v| v.is_finite()), "the run stayed finite");
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[ms.len() / 2])
}

/// Microseconds per forward + inverse 2-D transform of a real `n x n` field: realfft rows and
/// complex columns over the `n/2 + 1` wavenumbers (as the model), and all-complex rustfft.
fn time_transforms(n: usize, reps: usize) -> (f64, f64) {
    let nk = n / 2 + 1;
    let field: Vec<f64> = (0..n * n).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
    let mut planner = FftPlanner::<f64>::new();
    let (col_f, col_i) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut real = RealFftPlanner::<f64>::new();
    let (r2c, c2r) = (real.plan_fft_forward(n), real.plan_fft_inverse(n));
    let mut scratch = vec![Complex64::default(); 4 * n];
    let (mut row, mut out) = (vec![0.0; n], vec![0.0; n * n]);
    let (mut rows, mut cols) = (vec![Complex64::default(); n * nk], vec![Complex64::default(); n * nk]);
    let t = Instant::now();
    for _ in 0..reps {
        for (src, spec) in field.chunks_exact(n).zip(rows.chunks_exact_mut(nk)) {
            row.copy_from_slice(src);
            r2c.process_with_scratch(&mut row, spec, &mut scratch).unwrap();
        }
        for j in 0..n {
            for ik in 0..nk {
                cols[ik * n + j] = rows[j * nk + ik];
            }
        }
        col_f.process_with_scratch(&mut cols, &mut scratch);
        col_i.process_with_scratch(&mut cols, &mut scratch);
        for j in 0..n {
            for ik in 0..nk {
                rows[j * nk + ik] = cols[ik * n + j];
            }
            rows[j * nk].im = 0.0;
            rows[j * nk + nk - 1].im = 0.0;
        }
        for (spec, dst) in rows.chunks_exact_mut(nk).zip(out.chunks_exact_mut(n)) {
            c2r.process_with_scratch(spec, dst, &mut scratch).unwrap();
        }
        black_box(&out);
    }
    let real_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    let (mut grid, mut tr) = (vec![Complex64::default(); n * n], vec![Complex64::default(); n * n]);
    let t = Instant::now();
    for _ in 0..reps {
        for (g, &f) in grid.iter_mut().zip(&field) {
            *g = Complex64::new(f, 0.0);
        }
        col_f.process_with_scratch(&mut grid, &mut scratch);
        for j in 0..n {
            for i in 0..n {
                tr[i * n + j] = grid[j * n + i];
            }
        }
        col_f.process_with_scratch(&mut tr, &mut scratch);
        col_i.process_with_scratch(&mut tr, &mut scratch);
        for j in 0..n {
            for i in 0..n {
                grid[j * n + i] = tr[i * n + j];
            }
        }
        col_i.process_with_scratch(&mut grid, &mut scratch);
        for (o, g) in out.iter_mut().zip(&grid) {
            *o = g.re;
        }
        black_box(&out);
    }
    let complex_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    (real_us, complex_us)
}

fn main() {
    let profile = if cfg!(debug_assertions) { "dev-like (debug assertions on)" } else { "optimised (debug assertions off)" };
    println!("contrada two-layer QG, default eddying regime (pyqg QGModel defaults), one thread; build: {profile}");
    print_load("before");
    for n in [64, 128] {
        let (real_us, complex_us) = time_transforms(n, if n == 64 { 4000 } else { 1000 });
        println!(
            "2-D FFT pair (forward + inverse) {n}x{n}: realfft rows + complex columns {real_us:.1} us, all-complex rustfft {complex_us:.1} us ({:.2}x)",
            complex_us / real_us
        );
    }
    let mut ours = Vec::new();
    for (n, steps) in [(64, 2000), (128, 500)] {
        let (best, median) = time_model(n, steps, 5);
        println!("contrada qg {n}x{n}: {best:.4} ms/step (best of 5 x {steps} steps), median {median:.4} ms/step");
        ours.push((n, best));
    }
    print_load("after");
    let Some(python) = std::env::var_os("CONTRADA_BENCH_PYQG") else {
        println!("pyqg skipped (set CONTRADA_BENCH_PYQG to a Python with pyqg 0.7.2)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pyqg_step.py");
    let output = match Command::new(&python).arg(script).env("OMP_NUM_THREADS", "1").output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            println!("pyqg run failed ({}); no ratio. stderr:\n{}", o.status, String::from_utf8_lossy(&o.stderr));
            return;
        }
        Err(e) => {
            println!("cannot run {script} with {}: {e}; no ratio", python.to_string_lossy());
            return;
        }
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let (Some(n), Some(ms)) = (v["n"].as_u64(), v["ms_per_step"].as_f64()) else { continue };
        let fftw = v["fftw"].as_bool().unwrap_or(false);
        println!("pyqg     {n}x{n}: {ms:.4} ms/step (best of {} runs; pyfftw {})", v["rounds"], if fftw { "on" } else { "off" });
        if let Some((_, our)) = ours.iter().find(|o| o.0 as u64 == n) {
            println!("ratio    {n}x{n}: contrada is {:.1}x faster than pyqg", ms / our);
        }
    }
    print_load("after pyqg");
}
