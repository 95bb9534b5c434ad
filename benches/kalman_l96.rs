//! Speed of the Kalman baselines against DAPPER on the same Lorenz-96 experiments (issue 7):
//! DAPPER's `sakov2008` set-up, 5,000 analysed cycles after a 400-cycle burn-in, ETKF N=40
//! (inflation 1.02) and LETKF N=10 (inflation 1.04, radius 6). Prints contrada's wall time and
//! scores, then runs `scripts/bench_dapper.sh` (DAPPER 1.7.1 in a virtual environment made on
//! demand, one BLAS thread) in the same invocation and prints the speed ratio.
//!
//! Timed: the filter loop (forecasts, analyses, scores), not the truth run, as DAPPER's
//! `xp.assimilate`. Set `CONTRADA_BENCH_NO_DAPPER=1` to skip DAPPER. Commands and recorded figures:
//! BENCHMARKS.md.

mod common;
use common::print_load;

use std::process::Command;

use contrada::kalman::methods::inflation::Relaxation;
use contrada::kalman::twin::cycling::Lorenz96Twin;
use contrada::kalman::{BaselineConfig, Method};

/// (name shared with scripts/dapper_l96.py, method, ensemble size, inflation)
const CASES: [(&str, Method, usize, f64); 2] = [("etkf40", Method::Etkf, 40, 1.02), ("letkf10", Method::Letkf, 10, 1.04)];

fn main() {
    let profile = if cfg!(debug_assertions) { "dev-like (debug assertions on)" } else { "optimised (debug assertions off)" };
    println!("contrada Kalman baselines, Lorenz-96 sakov2008, 5000 cycles after 400 burn-in, seed 3000; build: {profile}");
    print_load("before contrada");
    let mut ours = Vec::new();
    for (name, method, n, inflation) in CASES {
        let twin = Lorenz96Twin { ensemble_size: n, ..Lorenz96Twin::default() };
        let config = BaselineConfig { method, inflation, relax: Relaxation::None, relax_alpha: 0.0, localization_radius: 6.0, ..BaselineConfig::default() };
        let data = twin.simulate().expect("valid twin configuration");
        let s = twin.assimilate(&data, &config).expect("the filter runs");
        println!("contrada {name:8} N={n:2} infl={inflation}: {:7.3} s  rmse.a {:.4}  spread.a {:.4}", s.seconds, s.rmse_a, s.spread_a);
        ours.push((name, s.seconds, s.rmse_a));
    }
    print_load("after contrada");
    if std::env::var_os("CONTRADA_BENCH_NO_DAPPER").is_some() {
        println!("DAPPER skipped (CONTRADA_BENCH_NO_DAPPER is set)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_dapper.sh");
    let names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    let output = match Command::new("bash").arg(script).args(["--only", &names.join(",")]).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            println!("DAPPER run failed ({}); no ratio. stderr:\n{}", o.status, String::from_utf8_lossy(&o.stderr));
            return;
        }
        Err(e) => {
            println!("cannot run {script}: {e}; no ratio");
            return;
        }
    };
    print_load("after DAPPER");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let (Some(name), Some(seconds), Some(rmse)) = (v["method"].as_str(), v["seconds"].as_f64(), v["rmse_a"].as_f64()) else { continue };
        let spread = v["spread_a"].as_f64().unwrap_or(f64::NAN);
        println!("DAPPER   {name:8}       {seconds:7.3} s  rmse.a {rmse:.4}  spread.a {spread:.4}");
        if let Some((_, our_seconds, our_rmse)) = ours.iter().find(|o| o.0 == name) {
            println!("ratio    {name:8}: contrada is {:.1}x faster than DAPPER (rmse.a {our_rmse:.4} vs {rmse:.4})", seconds / our_seconds);
        }
    }
}
