//! Collecting range problems in typed configuration sections.

use std::fmt::Display;

/// Problems found while validating a configuration: `(dotted key, what is wrong and allowed)`.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(String, String)>);

impl Problems {
    /// Records a problem with `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.0.push((key.into(), message.into()));
        }
    }

    /// Records a problem unless `lo <= value <= hi`.
    pub fn range<T: PartialOrd + Display>(&mut self, key: &str, value: T, lo: T, hi: T) {
        let ok = value >= lo && value <= hi;
        self.check(ok, key, format!("value {value} is out of range; allowed: {lo} to {hi}"));
    }

    /// Records a problem unless `value > 0`.
    pub fn positive<T: PartialOrd + Display + Default>(&mut self, key: &str, value: T) {
        let ok = value > T::default();
        self.check(ok, key, format!("value {value} must be greater than 0"));
    }
}
