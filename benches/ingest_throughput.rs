//! Ingest throughput on a large state archive, next to a plain netcdf-c read of the same variable
//! in the same run.
//!
//! Writes a synthetic ocean archive `thetao(time, depth, lat, lon)` (f32, land as _FillValue,
//! chunked one time step per chunk, deflate level 1 with shuffle as model output usually is) of
//! `CONTRADA_BENCH_GB` GB of values (default 4) into a temporary directory under
//! `CONTRADA_BENCH_DIR` (default the system temp dir), plus a small station file, then times:
//! 1. a plain read of `thetao` through netcdf-c (native f32, four time steps per call);
//! 2. `contrada ingest` of the archive (QC, pairing, split, statistics, 20 EOFs, dataset.nc and
//!    the state rows in dataset.states.bin);
//! 3. the plain read again (with more rounds, reads and ingests alternate).
//!
//! Throughput is GB of state values per second; the ratio is ingest over the faster plain read.
//! The archive is read from the page cache in every step (it was just written), so the ratio
//! compares work, not disk speed. `CONTRADA_BENCH_DEFLATE=0` writes the archive uncompressed;
//! `CONTRADA_BENCH_OUT=DIR` puts the ingest output elsewhere (e.g. /dev/shm); `CONTRADA_BENCH_ROUNDS`
//! (default 3) alternates plain reads and ingests; `CONTRADA_BENCH_KEEP=1` keeps the archive and
//! `CONTRADA_BENCH_ARCHIVE=PATH` reuses it.
//!
//! Run (the dev build with contrada optimised, as for the other benchmarks; see BENCHMARKS.md):
//! `cargo bench --profile dev --config 'profile.dev.package.contrada.opt-level=3' --bench ingest_throughput`

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use contrada::cf::NcWriter;
use contrada::config::IoConfig;
use contrada::ingest::{self, IngestInputs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEPTH: usize = 20;
const NY: usize = 200;
const NX: usize = 250;
const TIMES_PER_CHUNK_HINT: usize = 4;

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn is_land(y: usize, x: usize) -> bool {
    // A coast along the western edge and an island.
    x < 20 + y / 10 || ((y as i64 - 100).pow(2) + (x as i64 - 150).pow(2)) < 400
}

/// Writes the archive; returns the number of times.
fn write_archive(path: &Path, gb: f64, deflate: i32) -> usize {
    let per_time = DEPTH * NY * NX;
    let times = ((gb * 1e9) / (4.0 * per_time as f64)).round().max(2.0) as usize;
    let io = IoConfig { deflate_level: deflate, shuffle: true, institution: String::new() };
    let mut w = NcWriter::create(path, &io, "contrada ingest benchmark archive").unwrap();
    let t: Vec<f64> = (0..times).map(|d| d as f64).collect();
    w.coord("time", &t, vec![("standard_name", "time".into()), ("units", "days since 1993-01-01".into()), ("calendar", "noleap".into()), ("axis", "T".into())])
        .unwrap();
    let depth: Vec<f64> = (0..DEPTH).map(|k| 5.0 * (1.25f64).powi(k as i32)).collect();
    w.coord("depth", &depth, vec![("units", "m".into()), ("axis", "Z".into()), ("positive", "down".into())]).unwrap();
    w.coord("lat", &(0..NY).map(|j| 30.0 + j as f64 * 0.05).collect::<Vec<_>>(), vec![("standard_name", "latitude".into()), ("units", "degrees_north".into())])
        .unwrap();
    w.coord(
        "lon",
        &(0..NX).map(|i| -20.0 + i as f64 * 0.05).collect::<Vec<_>>(),
        vec![("standard_name", "longitude".into()), ("units", "degrees_east".into())],
    )
    .unwrap();
    let attrs = vec![("units", "degC".into()), ("standard_name", "sea_water_potential_temperature".into())];
    w.define::<f32>("thetao", &["time", "depth", "lat", "lon"], &[1, DEPTH, NY, NX], attrs).unwrap();
    // Smooth large-scale patterns whose amplitudes vary in time, plus small-scale noise.
    let pattern = |k: usize, j: usize, i: usize, m: usize| {
        ((j as f64 * (m + 1) as f64 * 0.013).sin() * (i as f64 * (m + 2) as f64 * 0.011).cos()) * (-(k as f64) / 8.0).exp()
    };
    let patterns: Vec<Vec<f32>> = (0..4).map(|m| (0..per_time).map(|e| pattern(e / (NY * NX), (e / NX) % NY, e % NX, m) as f32).collect()).collect();
    let mut rng = StdRng::seed_from_u64(1);
    let mut slab = vec![0f32; per_time];
    for d in 0..times {
        let a: Vec<f32> = (0..4).map(|m| ((d as f64 / (20.0 + 30.0 * m as f64)).sin() * (3.0 - m as f64 * 0.5)) as f32).collect();
        for (e, v) in slab.iter_mut().enumerate() {
            let (j, i) = ((e / NX) % NY, e % NX);
            *v = if is_land(j, i) {
                contrada::cf::write::FILL_F64 as f32
            } else {
                let base = 12.0 - (e / (NY * NX)) as f32 * 0.4;
                base + a[0] * patterns[0][e] + a[1] * patterns[1][e] + a[2] * patterns[2][e] + a[3] * patterns[3][e] + 0.05 * (rng.random::<f32>() - 0.5)
            };
        }
        w.write_slab("thetao", &[d, 0, 0, 0], &[1, DEPTH, NY, NX], &slab).unwrap();
    }
    w.finish().unwrap();
    times
}

fn write_stations(path: &Path, days: usize) {
    let mut w = NcWriter::create(path, &IoConfig::default(), "benchmark stations").unwrap();
    let hours: Vec<f64> = (0..days * 24).map(|h| h as f64).collect();
    w.coord("time", &hours, vec![("units", "hours since 1993-01-01".into()), ("calendar", "noleap".into()), ("standard_name", "time".into())]).unwrap();
    w.dim("station", 10).unwrap();
    w.var_f64("lon", &["station"], &(0..10).map(|s| -18.0 + s as f64).collect::<Vec<_>>(), vec![("standard_name", "longitude".into())]).unwrap();
    w.var_f64("lat", &["station"], &(0..10).map(|s| 31.0 + 0.5 * s as f64).collect::<Vec<_>>(), vec![("standard_name", "latitude".into())]).unwrap();
    let v: Vec<f64> = (0..days * 24 * 10).map(|k| 15.0 + ((k as f64) * 0.01).sin()).collect();
    w.var_f64("sst", &["time", "station"], &v, vec![("units", "degC".into())]).unwrap();
    w.finish().unwrap();
}

/// Reads `thetao` in chunks of `chunk` times as f32; returns (seconds, checksum).
fn plain_read(path: &Path, chunk: usize) -> (f64, f64) {
    let t0 = Instant::now();
    let file = netcdf::open(path).unwrap();
    let var = file.variable("thetao").unwrap();
    let times = file.dimension_len("time").unwrap();
    let mut buf = vec![0f32; chunk * DEPTH * NY * NX];
    let mut sum = 0.0f64;
    let mut t = 0;
    while t < times {
        let n = chunk.min(times - t);
        let b = &mut buf[..n * DEPTH * NY * NX];
        var.get_values_into(b, (t..t + n, .., .., ..)).unwrap();
        sum += b.iter().step_by(4099).map(|&v| v as f64).sum::<f64>();
        t += n;
    }
    (t0.elapsed().as_secs_f64(), sum)
}

const CONFIG: &str = r#"
[ingest.state]
variables = ["thetao"]
level_dim = "depth"
[ingest.eof]
modes = 20
[[ingest.observations]]
name = "stations"
kind = "stations"
station_dim = "station"
variables = ["sst"]
window_before = "30 min"
window_after = "30 min"
"#;

fn main() {
    let gb = env_f64("CONTRADA_BENCH_GB", 4.0);
    let deflate = env_f64("CONTRADA_BENCH_DEFLATE", 1.0) as i32;
    let base = std::env::var("CONTRADA_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(&base).unwrap();
    let archive = dir.path().join("archive.nc");
    let t0 = Instant::now();
    let times = match std::env::var("CONTRADA_BENCH_ARCHIVE") {
        // Reuse an archive this benchmark wrote before (kept with CONTRADA_BENCH_KEEP=1).
        Ok(p) => {
            std::fs::hard_link(&p, &archive).or_else(|_| std::fs::copy(&p, &archive).map(|_| ())).unwrap();
            netcdf::open(&archive).unwrap().dimension_len("time").unwrap()
        }
        Err(_) => write_archive(&archive, gb, deflate),
    };
    write_stations(&dir.path().join("stations.nc"), times);
    let bytes = (times * DEPTH * NY * NX * 4) as f64;
    let on_disk = std::fs::metadata(&archive).unwrap().len() as f64;
    println!(
        "archive: {times} times x {DEPTH} x {NY} x {NX} f32 = {:.2} GB of values, {:.2} GB on disk (deflate {deflate}), written in {:.0} s, in {}",
        bytes / 1e9,
        on_disk / 1e9,
        t0.elapsed().as_secs_f64(),
        base.display()
    );

    let cfg_path = dir.path().join("ingest.toml");
    std::fs::write(&cfg_path, CONFIG).unwrap();
    // CONTRADA__INGEST__... environment variables override the configuration, as for the binary.
    let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("CONTRADA__")).collect();
    let resolved = contrada::app::config::load(Some(&cfg_path), env, &[]).unwrap();
    let inputs = IngestInputs { state: vec![archive.clone()], sources: vec![vec![dir.path().join("stations.nc")]] };
    let rounds = env_f64("CONTRADA_BENCH_ROUNDS", 3.0).max(1.0) as usize;
    let rate = |s: f64| bytes / 1e9 / s;
    // Plain read and ingest alternate, so that a busy machine slows both alike; each ingest is
    // compared with the faster of the plain reads just before and after it.
    let mut plain = vec![plain_read(&archive, TIMES_PER_CHUNK_HINT)];
    let mut ratios = Vec::new();
    // Where the ingest output goes: beside the archive unless CONTRADA_BENCH_OUT names another directory.
    let out_base = std::env::var("CONTRADA_BENCH_OUT").map(std::path::PathBuf::from).unwrap_or_else(|_| dir.path().to_path_buf());
    for r in 0..rounds {
        let out = out_base.join(format!("contrada_bench_out{r}"));
        std::fs::create_dir(&out).unwrap();
        let t1 = Instant::now();
        let summary = ingest::run(&resolved.config.ingest, &resolved.config.io, &inputs, &out, 7).unwrap();
        let ingest_s = t1.elapsed().as_secs_f64();
        std::fs::remove_dir_all(&out).unwrap();
        plain.push(plain_read(&archive, TIMES_PER_CHUNK_HINT));
        assert_eq!(plain[r].1, plain[r + 1].1);
        let best = plain[r].0.min(plain[r + 1].0);
        ratios.push(best / ingest_s);
        println!(
            "round {}: plain netcdf-c read {:.2} s ({:.3} GB/s), contrada ingest {ingest_s:.2} s ({:.3} GB/s; {} samples, state_dim {}, {} EOFs from {} snapshots), ratio {:.2}",
            r + 1,
            best,
            rate(best),
            rate(ingest_s),
            summary["samples"],
            summary["state_dim"],
            summary["eof_modes"],
            summary["eof_snapshots"],
            best / ingest_s
        );
        println!("    ingest phases (s): {}", summary["timings_s"]);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!("ratio ingest / plain read, median of {rounds}: {:.2} (target >= 0.8)", sorted[sorted.len() / 2]);
    if std::env::var("CONTRADA_BENCH_KEEP").is_ok() {
        let kept = base.join("contrada_bench_archive.nc");
        std::fs::rename(&archive, &kept).unwrap();
        println!("archive kept as {}", kept.display());
    }
}
