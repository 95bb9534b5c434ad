//! Training throughput of the contrastive engine against a PyTorch reference (issue 5): the same
//! model and training step, on data of the same shape, in one invocation.
//!
//! Model: the demo's encoders (MLP 98 -> 256 -> 32 for the states, 50 -> 256 -> 256 -> 32 for
//! the 25-point drifter tracks; layer norm and GELU), l2 tilting with a fixed temperature, the
//! CLIP-weighted conditional loss, Adam, batches of 256, 8,192 pairs. One warm-up epoch, then
//! `EPOCHS` timed epochs; samples per second = pairs x epochs / seconds. contrada runs on the CPU
//! backend (burn flex), and also on wgpu when `CONTRADA_BENCH_WGPU=1` (a hardware adapter, or
//! lavapipe on a CPU machine). PyTorch runs `scripts/bench_pytorch.sh` (torch in a virtual
//! environment made on demand) with the same shapes and thread count; only shapes matter for
//! speed, so each side draws its own data. `CONTRADA_BENCH_NO_TORCH=1` skips PyTorch.
//! Commands and recorded figures: BENCHMARKS.md.

mod common;
use common::print_load;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use burn::tensor::Device;
use contrada::learn::backend::{self, BackendKind};
use contrada::learn::config::{Schedule, TrainConfig};
use contrada::learn::encoders::{EncoderConfig, EncoderKind};
use contrada::learn::model::Pairs;
use contrada::learn::tilting::Tilting;
use contrada::learn::train::train_split;
use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const N: usize = 8192;
const D_U: usize = 98;
const D_V: usize = 50;
const BATCH: usize = 256;
const EPOCHS: usize = 3;

fn config(epochs: usize) -> TrainConfig {
    let mlp = |widths: Vec<usize>| EncoderConfig { kind: EncoderKind::Mlp, widths, ..EncoderConfig::default() };
    TrainConfig {
        n_e: 32,
        tilting: Tilting::L2,
        temperature: 1.0,
        learn_temperature: false,
        lr: 2e-3,
        schedule: Schedule::Constant,
        epochs,
        batch_size: BATCH,
        validation_fraction: 0.0,
        encoder_u: mlp(vec![256]),
        encoder_v: mlp(vec![256, 256]),
        ..TrainConfig::default()
    }
}

/// u ~ N(0, I), v = A u / sqrt(d_u) + noise/2 with a fixed random A.
fn data() -> (Array2<f32>, Array2<f32>) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut normal = |r, c| Array2::from_shape_simple_fn((r, c), || StandardNormal.sample(&mut rng));
    let u: Array2<f64> = normal(N, D_U);
    let a: Array2<f64> = normal(D_U, D_V);
    let v = u.dot(&a) / (D_U as f64).sqrt() + normal(N, D_V) * 0.5;
    (u.mapv(|x| x as f32), v.mapv(|x| x as f32))
}

/// Samples per second and the final training loss on `device`.
fn ours(device: &Device, u: &Array2<f32>, v: &Array2<f32>) -> (f64, f64) {
    let pairs = Pairs { u: u.view(), v: v.view(), source: Path::new("benchmark data") };
    train_split(&config(1), pairs, None, device, 7).expect("warm-up epoch");
    let start = Instant::now();
    let trained = train_split(&config(EPOCHS), pairs, None, device, 7).expect("timed epochs");
    let seconds = start.elapsed().as_secs_f64();
    ((N * EPOCHS) as f64 / seconds, trained.history.last().expect("epochs ran").train_loss)
}

/// One PyTorch run of the same model and step: (samples/s, final loss, framework label).
fn pytorch(threads: usize) -> Result<(f64, f64, String), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_pytorch.sh");
    let args = [
        "--n".to_string(),
        N.to_string(),
        "--d-u".into(),
        D_U.to_string(),
        "--d-v".into(),
        D_V.to_string(),
        "--widths-u".into(),
        "256".into(),
        "--widths-v".into(),
        "256,256".into(),
        "--n-e".into(),
        "32".into(),
        "--batch".into(),
        BATCH.to_string(),
        "--epochs".into(),
        EPOCHS.to_string(),
        "--threads".into(),
        threads.to_string(),
    ];
    let output = match Command::new("bash").arg(script).args(&args).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => return Err(format!("PyTorch run failed ({}); stderr:\n{}", o.status, String::from_utf8_lossy(&o.stderr))),
        Err(e) => return Err(format!("cannot run {script}: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(torch) = stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v["samples_per_s"].is_number()) else {
        return Err(format!("no result line from PyTorch:\n{stdout}"));
    };
    let label = format!("{} ({} threads)", torch["framework"].as_str().unwrap_or("pytorch"), torch["threads"]);
    Ok((torch["samples_per_s"].as_f64().unwrap_or(f64::NAN), torch["final_loss"].as_f64().unwrap_or(f64::NAN), label))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds: usize = std::env::var("CONTRADA_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    println!(
        "contrastive training throughput: {N} pairs, d_u {D_U}, d_v {D_V}, batch {BATCH}, {EPOCHS} timed epochs, {threads} threads, {rounds} rounds (medians)"
    );
    print_load("before");
    let (u, v) = data();
    let cpu = backend::cpu();
    let gpu = std::env::var_os("CONTRADA_BENCH_WGPU").and_then(|_| match backend::select(contrada::config::BackendChoice::Wgpu, "CONTRADA_BENCH_WGPU") {
        Ok(gpu) if gpu.kind == BackendKind::Wgpu => Some(gpu),
        Ok(other) => {
            println!("wgpu not selected ({other})");
            None
        }
        Err(e) => {
            println!("wgpu unavailable: {e}");
            None
        }
    });
    let with_torch = std::env::var_os("CONTRADA_BENCH_NO_TORCH").is_none();
    let (mut ours_cpu, mut ours_gpu, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    // The two sides alternate round by round, so that a drift in the machine's load touches both.
    for round in 1..=rounds {
        let (rate, loss) = ours(&cpu.device, &u, &v);
        println!("round {round}: contrada {cpu}: {rate:9.0} samples/s (final loss {loss:.4})");
        ours_cpu.push(rate);
        if let Some(gpu) = &gpu {
            let (rate, loss) = ours(&gpu.device, &u, &v);
            println!("round {round}: contrada {gpu}: {rate:9.0} samples/s (final loss {loss:.4})");
            ours_gpu.push(rate);
        }
        if with_torch {
            match pytorch(threads) {
                Ok((rate, loss, label)) => {
                    println!("round {round}: {label}: {rate:9.0} samples/s (final loss {loss:.4})");
                    theirs.push(rate);
                }
                Err(e) => println!("{e}; no ratio"),
            }
        }
    }
    print_load("after");
    let cpu_rate = median(ours_cpu);
    println!("median contrada cpu: {cpu_rate:.0} samples/s");
    if theirs.is_empty() {
        println!("PyTorch not run ({}); no ratio", if with_torch { "it failed" } else { "CONTRADA_BENCH_NO_TORCH is set" });
        return;
    }
    let torch_rate = median(theirs);
    println!("median PyTorch CPU: {torch_rate:.0} samples/s");
    println!("ratio contrada cpu / PyTorch CPU: {:.2}", cpu_rate / torch_rate);
    if !ours_gpu.is_empty() {
        println!("ratio contrada wgpu / PyTorch CPU: {:.2}", median(ours_gpu) / torch_rate);
    }
}
