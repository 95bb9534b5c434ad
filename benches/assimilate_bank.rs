//! Speed of one assimilation window over a large bank (issue 6), against the memory-bandwidth floor.
//!
//! A bank of 50,000 states of three 64 x 64 f32 fields (2.46 GB) and its 32-dimensional codes are
//! generated in memory from a seed; the analysis of one window is then timed as the `assimilate`
//! stage runs it after loading its inputs: the weights from the codes (l2 tilting), the effective
//! sample size, systematic resampling of 64 members, and `analysis_reweight.nc` written by the
//! stage's own code (weighted mean, spread and 0.1/0.5/0.9 quantiles of every field, the members
//! gathered, NetCDF written with the default `[io]` settings). The floor is the time to read the
//! bank's fields once at the bandwidth of a large parallel memory copy measured in the same run.
//!
//! The bank is made in memory, not read from disk: the target is about memory bandwidth, and a
//! 2.4 GB file would measure netcdf-c and the disk (the ingest benchmark does that) and needs free
//! disk this machine does not always have. Peak memory is the bank plus about 1 GB for the copy.
//!
//! Each round times the analysis twice: with exact weighted quantiles (the stage's default) and
//! with the quantiles of a systematic resample (`quantile_sample`), where the mean and spread are
//! one streaming pass over the bank.
//!
//! Environment: `CONTRADA_BENCH_BANK` (bank size, default 50000), `CONTRADA_BENCH_TAU` (latent
//! temperature; default 4, which gives an ESS of a few hundred), `CONTRADA_BENCH_QUANTILE_SAMPLE`
//! (resampled members of the second analysis, default 1024), `CONTRADA_BENCH_ROUNDS` (3),
//! `CONTRADA_BENCH_OUT` (directory for the analysis file, default the system temporary directory).

use std::time::Instant;

use contrada::analysis::memory::peak_rss_bytes;
use contrada::assimilate::fields::{AnalysisHeader, BankFields, BankVariable, Combination, analyse};
use contrada::assimilate::generator::{Tilting, effective_sample_size, resample_counts, systematic_resample, weights};
use contrada::assimilate::moments::{weighted_moments, weighted_summary};
use contrada::cf::time::{Calendar, TimeUnits};
use contrada::config::IoConfig;
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

const SIDE: usize = 64;
const VARIABLES: [&str; 3] = ["psi", "u", "v"];
const CODE_DIM: usize = 32;
const MEMBERS: usize = 64;
const QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];
const SEED: u64 = 20261128;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One field per bank member: a smooth large-scale pattern with a member-dependent phase and
/// amplitude plus small-scale noise, from a per-member seed (so generation runs in parallel).
fn field(n: usize, var: usize) -> Array2<f32> {
    let mut values = vec![0.0f32; n * SIDE * SIDE];
    values.par_chunks_mut(SIDE * SIDE).enumerate().for_each(|(i, row)| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(SEED ^ ((var as u64) << 40) ^ i as u64);
        let (phase, amp): (f32, f32) = (rng.random::<f32>() * std::f32::consts::TAU, 1.0 + rng.random::<f32>());
        let mut state = rng.random::<u64>() | 1;
        for (k, v) in row.iter_mut().enumerate() {
            let (y, x) = ((k / SIDE) as f32, (k % SIDE) as f32);
            // xorshift noise: cheap, so 600 million values take seconds
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            *v = amp * (0.1 * x + phase).sin() * (0.1 * y).cos() + 0.2 * noise;
        }
    });
    Array2::from_shape_vec((n, SIDE * SIDE), values).expect("shape")
}

/// Bytes per second of a parallel copy of `bytes` (best of 5), and of a single-threaded one.
fn copy_bandwidth(bytes: usize) -> (f64, f64) {
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    let chunk = 8 << 20;
    let mut best = (0.0f64, 0.0f64);
    for _ in 0..5 {
        let t = Instant::now();
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
        best.0 = best.0.max(bytes as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        dst.copy_from_slice(&src);
        best.1 = best.1.max(bytes as f64 / t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    best
}

fn main() {
    let n: usize = env("CONTRADA_BENCH_BANK", 50_000);
    let tau: f64 = env("CONTRADA_BENCH_TAU", 4.0);
    let sample: usize = env("CONTRADA_BENCH_QUANTILE_SAMPLE", 1024);
    let rounds: usize = env("CONTRADA_BENCH_ROUNDS", 3);
    let out_dir = std::env::var("CONTRADA_BENCH_OUT").map_or_else(|_| std::env::temp_dir(), std::path::PathBuf::from);
    let threads = rayon::current_num_threads();

    let (copy_par, copy_one) = copy_bandwidth(1 << 30);
    let t = Instant::now();
    let vars: Vec<BankVariable<f32>> = VARIABLES
        .iter()
        .enumerate()
        .map(|(k, name)| BankVariable {
            name: name.to_string(),
            dims: vec![("y".into(), SIDE), ("x".into(), SIDE)],
            values: field(n, k),
            attrs: vec![("units".into(), "1".into())],
        })
        .collect();
    let axis: Vec<f64> = (0..SIDE).map(|i| i as f64 / SIDE as f64).collect();
    let units = || vec![("units".to_string(), netcdf::AttributeValue::from("1"))];
    let coords = [("x".to_string(), (axis.clone(), units())), ("y".to_string(), (axis, units()))].into_iter().collect();
    let bank = BankFields { vars, coords };
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let codes = Array2::from_shape_fn((n, CODE_DIM), |_| rng.sample::<f64, _>(StandardNormal));
    // The observation's code: near one bank member, as for a window the bank has an analogue of.
    let obs_code: Array1<f64> = codes.row(n / 3).mapv(|c| c + 0.5 * rng.sample::<f64, _>(StandardNormal));
    let bank_bytes = bank.vars.iter().map(|v| v.values.len() * 4).sum::<usize>();
    println!(
        "bank: {n} states x {} f32 ({:.2} GB) generated in memory in {:.1} s; {CODE_DIM}-dim codes; tau {tau}; {threads} rayon threads",
        VARIABLES.len() * SIDE * SIDE,
        bank_bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let floor = bank_bytes as f64 / copy_par;
    println!("memory copy: {:.2} GB/s parallel, {:.2} GB/s one thread; floor = bank bytes / parallel copy = {floor:.3} s", copy_par / 1e9, copy_one / 1e9);

    let units = TimeUnits::parse("days since 2026-01-01", Calendar::Standard).expect("units");
    let io = IoConfig::default();
    let path = out_dir.join(format!("contrada_bench_analysis_{}.nc", std::process::id()));
    // The analysis as the stage makes it, with exact quantiles (`quantile_sample = 0`) and with the
    // quantiles of `sample` resampled members.
    let analysis = |rng: &mut rand::rngs::StdRng, quantile_sample: usize| -> (f64, f64, Combination) {
        let t = Instant::now();
        let w = weights(codes.view(), obs_code.view(), Tilting::L2, tau);
        let ess = effective_sample_size(w.view());
        let idx = systematic_resample(w.view(), MEMBERS, rng.random::<f64>());
        let map = w.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        let quantile_weights = (quantile_sample > 0).then(|| resample_counts(w.view(), quantile_sample, rng.random::<f64>()));
        let comb = Combination::Members { idx, weights: w, map, quantile_weights };
        let header = AnalysisHeader { method: "reweight", window: "2026-11-28".into(), time: 331.0, units: &units, quantiles: &QUANTILES };
        bank.write(&path, &io, &comb, &header).expect("analysis written");
        (t.elapsed().as_secs_f64(), ess, comb)
    };
    let (mut exact_times, mut sampled_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (exact, ess, _) = analysis(&mut rng, 0);
        let (sampled, _, comb) = analysis(&mut rng, sample);
        exact_times.push(exact);
        sampled_times.push(sampled);
        // The parts, timed separately (not in the totals): where the time goes.
        let Combination::Members { weights: w, .. } = &comb else { unreachable!("reweight") };
        let wv = w.as_slice().expect("contiguous");
        let t = Instant::now();
        for v in &bank.vars {
            std::hint::black_box(weighted_moments(v.values.view(), wv));
        }
        let t_moments = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for v in &bank.vars {
            std::hint::black_box(analyse(v.values.view(), &comb, &QUANTILES));
        }
        let t_fields = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (mut collected, mut fallbacks) = (0, 0);
        for v in &bank.vars {
            let s = std::hint::black_box(weighted_summary(v.values.view(), wv, &QUANTILES));
            (collected, fallbacks) = (collected + s.collected, fallbacks + s.fallbacks);
        }
        let t_summary = t.elapsed().as_secs_f64();
        let nonzero = w.iter().filter(|&&x| x > 0.0).count();
        println!(
            "round {}: analysis with exact quantiles {exact:.3} s = {:.2} x floor, with quantiles of {sample} resampled members {sampled:.3} s = {:.2} x floor; parts alone: streamed moments {t_moments:.3} s, fields of the sampled analysis without the file {t_fields:.3} s, tiled moments + exact quantiles {t_summary:.3} s; ESS {ess:.1}, {nonzero} members of non-zero weight, {collected} values ordered in the quantiles' bins, {fallbacks} fallbacks",
            round + 1,
            exact / floor,
            sampled / floor
        );
    }
    let _ = std::fs::remove_file(&path);
    let median = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (exact, sampled) = (median(exact_times), median(sampled_times));
    println!(
        "median analysis: exact quantiles {exact:.3} s (ratio {:.2}), quantiles of {sample} resampled members {sampled:.3} s (ratio {:.2}); floor {floor:.3} s; target ratio <= 2; peak RSS {:.2} GB",
        exact / floor,
        sampled / floor,
        peak_rss_bytes() as f64 / 1e9
    );
}
