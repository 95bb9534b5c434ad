//! Early stopping on the validation loss: stop after `patience` epochs without an improvement of
//! more than `min_delta`, and keep the weights of the best epoch.

/// The best epoch so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Best {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Its validation loss.
    pub val_loss: f64,
}

/// What an epoch's validation loss means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new best epoch: keep its weights.
    Improved,
    /// No improvement, but patience is left.
    Continue,
    /// `patience` epochs in a row without improvement: stop training.
    Stop,
}

/// Early-stopping state; inactive (every epoch continues, none is "best") when `patience` is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement after which training stops; 0 disables early stopping.
    pub patience: usize,
    /// An epoch improves on the best one when its loss is lower by more than this.
    pub min_delta: f64,
    /// The best epoch so far.
    pub best: Option<Best>,
    /// Epochs since the best one.
    pub since_best: usize,
}

impl EarlyStopping {
    /// Early stopping with `patience` (0: off) and `min_delta`.
    pub fn new(patience: usize, min_delta: f64) -> EarlyStopping {
        EarlyStopping { patience, min_delta, best: None, since_best: 0 }
    }

    /// Whether early stopping is on.
    pub fn active(&self) -> bool {
        self.patience > 0
    }

    /// Records the validation loss of `epoch`. A non-finite loss never improves.
    pub fn observe(&mut self, epoch: usize, val_loss: f64) -> Verdict {
        if !self.active() {
            return Verdict::Continue;
        }
        let improved = val_loss.is_finite() && self.best.is_none_or(|b| val_loss < b.val_loss - self.min_delta);
        if improved {
            self.best = Some(Best { epoch, val_loss });
            self.since_best = 0;
            Verdict::Improved
        } else {
            self.since_best += 1;
            if self.since_best >= self.patience { Verdict::Stop } else { Verdict::Continue }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut es = EarlyStopping::new(2, 0.1);
        assert_eq!(es.observe(1, 5.0), Verdict::Improved);
        assert_eq!(es.observe(2, 4.0), Verdict::Improved);
        // 3.95 is lower, but not by more than min_delta.
        assert_eq!(es.observe(3, 3.95), Verdict::Continue);
        assert_eq!(es.observe(4, 3.5), Verdict::Improved, "patience restarts after an improvement");
        assert_eq!(es.observe(5, 3.6), Verdict::Continue);
        assert_eq!(es.observe(6, f64::NAN), Verdict::Stop);
        assert_eq!(es.best, Some(Best { epoch: 4, val_loss: 3.5 }));
    }

    #[test]
    fn zero_patience_never_stops() {
        let mut es = EarlyStopping::new(0, 0.0);
        assert!(!es.active());
        for epoch in 1..10 {
            assert_eq!(es.observe(epoch, epoch as f64), Verdict::Continue);
        }
        assert_eq!(es.best, None);
    }
}
