//! What the benchmarks share: the load average they ran at. A ratio or a timing taken while other
//! jobs share the 2 CPUs is not a result (a training ratio once read 2.24 at load 8 where a quiet
//! machine gives about 0.3), so every benchmark prints it and warns above 1.

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_else(|_| "unknown".into())
}

/// Prints the load average `when` (before, after), with a warning when the 1-minute figure is above 1.
pub fn print_load(when: &str) {
    let load = load_average();
    println!("load average {when}: {load}");
    if load.split_whitespace().next().and_then(|l| l.parse::<f64>().ok()).is_some_and(|l| l > 1.0) {
        println!("WARNING: 1-minute load average above 1: other jobs share the CPUs; timings and ratios are not results");
    }
}
