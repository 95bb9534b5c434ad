//! `diagnostics_<method>.json`, written beside each `analysis_<method>.nc`: what a method reports
//! about its analysis. Four fields are common to every method and typed ([`Diagnostics`]); the
//! rest is the method's own (ESS and members of `reweight`, innovation statistics of the Kalman
//! filters) and is kept as written. `assimilate` and `kalman` write through [`Diagnostics::write`],
//! `evaluate` reads through [`Diagnostics::read`] / [`Diagnostics::beside`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value};

use super::memory::peak_rss_bytes;
use crate::error::{Error, Result};

/// The file name of a method's diagnostics.
pub fn diagnostics_file(method: &str) -> String {
    format!("diagnostics_{method}.json")
}

/// The file name of a method's analysis.
pub fn analysis_file(method: &str) -> String {
    format!("analysis_{method}.nc")
}

/// What a method reports about one analysis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// The method (`reweight`, `etkf`, ...); empty when a file does not say.
    pub method: String,
    /// Wall time of the method alone, seconds.
    pub wall_time_s: Option<f64>,
    /// Peak resident set size of the process after the method, bytes.
    pub peak_rss_bytes: Option<f64>,
    /// Effective sample size of importance weights, `1 / sum_i w_i^2` (weighting methods only).
    pub ess: Option<f64>,
    /// Everything else the method reports, as written.
    pub details: Map<String, Value>,
}

/// The typed keys, in the order they are checked.
const NUMBERS: [&str; 3] = ["wall_time_s", "peak_rss_bytes", "ess"];

impl Diagnostics {
    /// The diagnostics of `method` whose work began at `started`: its wall time until now, the
    /// process's peak memory, and `details` (a JSON object; an `ess` in it becomes the typed field).
    pub fn measured(method: &str, started: Instant, details: Value) -> Diagnostics {
        let mut details = match details {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let ess = details.remove("ess").and_then(|v| v.as_f64());
        Diagnostics {
            method: method.to_string(),
            wall_time_s: Some(started.elapsed().as_secs_f64()),
            peak_rss_bytes: Some(peak_rss_bytes() as f64),
            ess,
            details,
        }
    }

    /// One JSON object: the method's own keys, then the typed ones.
    pub fn to_json(&self) -> Value {
        let mut all = self.details.clone();
        if !self.method.is_empty() {
            all.insert("method".into(), self.method.clone().into());
        }
        for (key, value) in NUMBERS.iter().zip([self.wall_time_s, self.peak_rss_bytes, self.ess]) {
            if let Some(v) = value {
                // Byte counts stay integers in the file.
                all.insert(key.to_string(), if *key == "peak_rss_bytes" { Value::from(v as u64) } else { Value::from(v) });
            }
        }
        Value::Object(all)
    }

    /// Writes `diagnostics_<method>.json` into `dir`; returns the object written (a stage summary).
    pub fn write(&self, dir: &Path) -> Result<Value> {
        let json = self.to_json();
        let path = dir.join(diagnostics_file(&self.method));
        let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        Ok(json)
    }

    /// The diagnostics written beside an analysis: `diagnostics_M.json` next to `analysis_M.nc`,
    /// else `diagnostics_<method>.json`; `None` when there is neither.
    pub fn beside(analysis: &Path, method: &str) -> Result<Option<Diagnostics>> {
        let dir = analysis.parent().unwrap_or(Path::new("."));
        let stem = analysis.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(m) = stem.strip_prefix("analysis_") {
            candidates.push(dir.join(diagnostics_file(m)));
        }
        candidates.push(dir.join(diagnostics_file(method)));
        candidates.into_iter().find(|p| p.is_file()).map(|p| Diagnostics::read(&p)).transpose()
    }

    /// Reads a diagnostics file; `ess`, `wall_time_s` and `peak_rss_bytes` must be non-negative
    /// numbers where present.
    pub fn read(path: &Path) -> Result<Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let raw: Value =
            serde_json::from_str(&text).map_err(|e| Error::input(path, format!("not valid JSON: {e}; expected the diagnostics object a method writes")))?;
        let Value::Object(mut details) = raw else {
            return Err(Error::input(path, "expected a JSON object such as {\"method\": \"etkf\", \"wall_time_s\": 1.2}"));
        };
        let mut number = |key: &str| -> Result<Option<f64>> {
            match details.remove(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or_else(|| Error::input(path, format!("`{key}` is {v}; expected a non-negative number"))),
            }
        };
        let (wall_time_s, peak_rss_bytes, ess) = (number("wall_time_s")?, number("peak_rss_bytes")?, number("ess")?);
        let method = match details.remove("method") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(m)) => m,
            Some(v) => return Err(Error::input(path, format!("`method` is {v}; expected the method's name"))),
        };
        Ok(Diagnostics { method, wall_time_s, peak_rss_bytes, ess, details })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_diagnostics_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = Diagnostics::measured("reweight", Instant::now(), serde_json::json!({ "ess": 12.5, "members": 64 }));
        assert_eq!(d.ess, Some(12.5));
        let written = d.write(dir.path()).unwrap();
        assert_eq!(written["members"], 64);
        let back = Diagnostics::read(&dir.path().join("diagnostics_reweight.json")).unwrap();
        assert_eq!(back, Diagnostics { peak_rss_bytes: back.peak_rss_bytes, ..d.clone() }, "read back as written");
    }
}
