//! Progress for long work: a bar on a terminal, plain log lines (every 10%) under cron or in logs.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress reporter; cheap to share between threads (`&Progress` is `Sync`).
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: AtomicU64,
    last_decile: AtomicU64,
}

impl Progress {
    /// Starts reporting `total` units of work called `label`.
    pub fn new(label: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})").expect("static template").progress_chars("=> "));
            bar.set_message(label.to_string());
            bar
        });
        Progress { bar, label: label.into(), total, done: AtomicU64::new(0), last_decile: AtomicU64::new(0) }
    }

    /// Records `n` more units done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.total > 0 => {
                let decile = done * 10 / self.total;
                if self.last_decile.fetch_max(decile, Ordering::Relaxed) < decile {
                    tracing::info!("{}: {}% ({done}/{})", self.label, decile * 10, self.total);
                }
            }
            None => {}
        }
    }

    /// Ends the bar (the log lines need no ending).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
