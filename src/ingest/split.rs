//! Train/validation/test split by contiguous blocks of time.
//!
//! The paired state times (in time order) are cut into `blocks` runs of nearly equal length; a
//! seeded shuffle assigns each run to a split in proportion to the configured fractions. Ocean
//! states are correlated over days to months, so random sample-wise splits would leak; blocks keep
//! most neighbours in the same split. At each boundary between splits, state times whose window
//! (`[t - before, t + after]`, covering every source's observations) overlaps the window of a
//! state time already in another split are left out and counted, so no observation window is in
//! two splits.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::config::SplitConfig;

/// The three splits; the value is the `split` flag written to the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Used for statistics and learning.
    Train = 0,
    /// For model selection.
    Validation = 1,
    /// Held out.
    Test = 2,
}

impl Split {
    /// All splits in flag order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The split with flag `v`.
    pub fn from_flag(v: i32) -> Option<Split> {
        Split::ALL.into_iter().find(|s| *s as i32 == v)
    }

    /// Lower-case name, as in the `flag_meanings` attribute.
    pub fn name(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// How many of `blocks` go to each split: the largest-remainder rounding of the fractions, with
/// at least one block for each split whose fraction is not zero.
fn block_counts(cfg: &SplitConfig, blocks: usize) -> [usize; 3] {
    let fractions = [cfg.train, cfg.validation, cfg.test];
    let exact: Vec<f64> = fractions.iter().map(|f| f * blocks as f64).collect();
    let mut counts: [usize; 3] = [0, 1, 2].map(|i| exact[i].floor() as usize);
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let mut left = blocks - counts.iter().sum::<usize>();
    for &i in order.iter().cycle().take(3 * blocks) {
        if left == 0 {
            break;
        }
        if fractions[i] > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    for i in 0..3 {
        if fractions[i] > 0.0 && counts[i] == 0 {
            // Take the block from the split with the most.
            let donor = (0..3).max_by_key(|&j| counts[j]).expect("three splits");
            if counts[donor] > 1 {
                counts[donor] -= 1;
                counts[i] = 1;
            }
        }
    }
    counts
}

/// Assigns each of `times` (sorted, in one unit) to a split, or None where the state time is left
/// out as a guard between splits; `before`/`after` is the window around each time, in the same
/// unit.
pub fn assign(times: &[f64], before: f64, after: f64, cfg: &SplitConfig, seed: u64) -> Vec<Option<Split>> {
    let n = times.len();
    let blocks = cfg.blocks.min(n).max(1);
    let counts = block_counts(cfg, blocks);
    let mut labels: Vec<Split> = Split::ALL.iter().zip(counts).flat_map(|(s, c)| std::iter::repeat_n(*s, c)).collect();
    labels.shuffle(&mut StdRng::seed_from_u64(seed));
    // Block b holds samples [b n / blocks, (b + 1) n / blocks).
    let mut out = Vec::with_capacity(n);
    let mut last_end = [f64::NEG_INFINITY; 3];
    for (i, &t) in times.iter().enumerate() {
        let split = labels[i * blocks / n.max(1)];
        let start = t - before;
        let clash = Split::ALL.iter().any(|&s| s != split && last_end[s as usize] >= start);
        if clash {
            out.push(None);
        } else {
            last_end[split as usize] = t + after;
            out.push(Some(split));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(train: f64, validation: f64, test: f64, blocks: usize) -> SplitConfig {
        SplitConfig { train, validation, test, blocks }
    }

    #[test]
    fn block_counts_follow_the_fractions() {
        assert_eq!(block_counts(&cfg(0.7, 0.15, 0.15, 20), 20), [14, 3, 3]);
        assert_eq!(block_counts(&cfg(0.8, 0.1, 0.1, 10), 10), [8, 1, 1]);
        assert_eq!(block_counts(&cfg(1.0, 0.0, 0.0, 5), 5), [5, 0, 0]);
        // Rounding alone would give validation no block.
        assert_eq!(block_counts(&cfg(0.9, 0.04, 0.06, 10), 10), [8, 1, 1]);
        assert_eq!(block_counts(&cfg(0.5, 0.25, 0.25, 3), 3).iter().sum::<usize>(), 3);
    }

    #[test]
    fn windows_never_span_two_splits_and_the_seed_decides() {
        let times: Vec<f64> = (0..500).map(|i| i as f64).collect();
        let c = cfg(0.6, 0.2, 0.2, 10);
        let a = assign(&times, 2.5, 0.5, &c, 7);
        assert_eq!(a, assign(&times, 2.5, 0.5, &c, 7), "same seed, same split");
        assert_ne!(a, assign(&times, 2.5, 0.5, &c, 8), "another seed, another assignment");
        let kept: Vec<(f64, Split)> = times.iter().zip(&a).filter_map(|(t, s)| s.map(|s| (*t, s))).collect();
        for (i, &(t, s)) in kept.iter().enumerate() {
            for &(u, r) in &kept[i + 1..] {
                if r != s {
                    assert!(u - 2.5 > t + 0.5, "windows of {t} ({s:?}) and {u} ({r:?}) overlap");
                }
            }
        }
        // Each split holds contiguous runs; a window of 3 needs 3 guard times per boundary.
        let dropped = a.iter().filter(|s| s.is_none()).count();
        let boundaries = kept.windows(2).filter(|w| w[0].1 != w[1].1).count();
        assert_eq!(dropped, 3 * boundaries);
        let train = kept.iter().filter(|k| k.1 == Split::Train).count();
        assert!((train as f64 / 500.0 - 0.6).abs() < 0.05, "{train}");
    }
}
