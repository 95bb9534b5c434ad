//! The small side inputs of an evaluation: a method's diagnostics JSON (cost, effective sample
//! size), the encoders' retrieval recall, the training metrics table and the drifter tracks drawn
//! over the maps. Each is validated with an error naming the file and the field.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cf::NcFile;
use crate::cf::dsg::{DsgNames, TrajectorySet, read_trajectories};
use crate::error::{Error, Result};

/// Test-split retrieval recall of the encoders (`recall.json` of the train stage): the fraction
/// of test pairs whose partner is the nearest (R@1) or among the five nearest (R@5) codes, from
/// observation to state (`u2v`) and back (`v2u`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recall {
    /// R@1, observation to state.
    pub r1_u2v: f64,
    /// R@5, observation to state.
    pub r5_u2v: f64,
    /// R@1, state to observation.
    #[serde(default)]
    pub r1_v2u: Option<f64>,
    /// R@5, state to observation.
    #[serde(default)]
    pub r5_v2u: Option<f64>,
    /// Number of test pairs.
    #[serde(default)]
    pub n: Option<u64>,
}

impl Recall {
    /// Reads `recall.json`; every recall must lie in [0, 1].
    pub fn read(path: &Path) -> Result<Recall> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let r: Recall = serde_json::from_str(&text)
            .map_err(|e| Error::input(path, format!("{e}; expected {{\"r1_u2v\": .., \"r5_u2v\": .., \"r1_v2u\": .., \"r5_v2u\": .., \"n\": ..}}")))?;
        for (key, v) in [("r1_u2v", Some(r.r1_u2v)), ("r5_u2v", Some(r.r5_u2v)), ("r1_v2u", r.r1_v2u), ("r5_v2u", r.r5_v2u)] {
            if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
                return Err(Error::input(path, format!("`{key}` is {v}; expected a recall in [0, 1]")));
            }
        }
        Ok(r)
    }
}

/// The training metrics table (`metrics.csv`: a header, then one row per epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingCurves {
    /// Column names; the first is `epoch`.
    pub columns: Vec<String>,
    /// Rows of values, NaN for an empty cell or `nan`.
    pub rows: Vec<Vec<f64>>,
}

impl TrainingCurves {
    /// Reads a metrics CSV with an `epoch` column and at least one data row.
    pub fn read(path: &Path) -> Result<TrainingCurves> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let mut columns: Vec<String> = lines.next().map(|(_, l)| l.split(',').map(|c| c.trim().to_string()).collect()).unwrap_or_default();
        let Some(epoch) = columns.iter().position(|c| c == "epoch") else {
            return Err(Error::input(path, format!("header ({}) has no `epoch` column; expected epoch,train_loss,val_loss,...", columns.join(","))));
        };
        let mut rows = Vec::new();
        for (i, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != columns.len() {
                return Err(Error::input(path, format!("line {}: {} fields; expected {} as in the header", i + 1, cells.len(), columns.len())));
            }
            let row = cells
                .iter()
                .zip(&columns)
                .map(|(c, name)| match *c {
                    "" => Ok(f64::NAN),
                    c => c.parse::<f64>().map_err(|_| Error::input(path, format!("line {}, column `{name}`: `{c}` is not a number", i + 1))),
                })
                .collect::<Result<Vec<f64>>>()?;
            if !row[epoch].is_finite() {
                return Err(Error::input(path, format!("line {}: `epoch` is missing; expected a number", i + 1)));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(Error::input(path, "no data rows; expected one row per epoch"));
        }
        // Epoch first, so every series is (row[0], row[c]).
        let name = columns.remove(epoch);
        columns.insert(0, name);
        for r in &mut rows {
            let e = r.remove(epoch);
            r.insert(0, e);
        }
        Ok(TrainingCurves { columns, rows })
    }

    /// The series `(epoch, value)` of every column whose name satisfies `pick`, skipping NaN.
    pub fn series(&self, pick: impl Fn(&str) -> bool) -> Vec<(String, Vec<(f64, f64)>)> {
        (1..self.columns.len())
            .filter(|&c| pick(&self.columns[c]))
            .map(|c| (self.columns[c].clone(), self.rows.iter().map(|r| (r[0], r[c])).filter(|p| p.1.is_finite()).collect()))
            .filter(|(_, s): &(String, Vec<_>)| !s.is_empty())
            .collect()
    }
}

/// The trajectories of a CF DSG file, at their wrapped positions (`x_wrapped`, `y_wrapped`)
/// where the file has them, else at its x/y coordinates.
pub fn read_positions(path: &Path) -> Result<TrajectorySet> {
    let file = NcFile::open(path)?;
    let wrapped = file.has_var("x_wrapped") && file.has_var("y_wrapped");
    let names = if wrapped { DsgNames { time: None, x: Some("x_wrapped".into()), y: Some("y_wrapped".into()) } } else { DsgNames::default() };
    read_trajectories(&file, &names)
}

/// Drifter tracks for plotting (from [`read_positions`]): each track is cut into polylines where
/// it jumps by more than half the extent of all positions (a wrap across a periodic boundary), so
/// no line crosses the map.
pub fn track_lines(set: &TrajectorySet) -> Vec<Vec<(f64, f64)>> {
    let all = || set.trajectories.iter().flat_map(|t| t.x.iter().zip(&t.y));
    let extent = |f: fn((&f64, &f64)) -> f64| all().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let ((x0, x1), (y0, y1)) = (extent(|p| *p.0), extent(|p| *p.1));
    let (jump_x, jump_y) = ((x1 - x0) / 2.0, (y1 - y0) / 2.0);
    let mut lines = Vec::new();
    for t in &set.trajectories {
        let mut line: Vec<(f64, f64)> = Vec::new();
        for (&x, &y) in t.x.iter().zip(&t.y) {
            if let Some(&(px, py)) = line.last()
                && ((x - px).abs() > jump_x || (y - py).abs() > jump_y)
            {
                lines.push(std::mem::take(&mut line));
            }
            line.push((x, y));
        }
        lines.push(line);
    }
    lines.retain(|l| l.len() >= 2);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_table_moves_epoch_first_and_rejects_bad_cells() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, "train_loss,epoch,val_loss\n2.0,0,2.5\n1.5,1,\n").unwrap();
        let t = TrainingCurves::read(&p).unwrap();
        assert_eq!(t.columns, ["epoch", "train_loss", "val_loss"]);
        assert_eq!(t.rows[1][..2], [1.0, 1.5]);
        let s = t.series(|c| c.ends_with("loss"));
        assert_eq!(s[0], ("train_loss".to_string(), vec![(0.0, 2.0), (1.0, 1.5)]));
        assert_eq!(s[1], ("val_loss".to_string(), vec![(0.0, 2.5)]), "an empty cell is skipped");
        for (bad, says) in
            [("loss\n1\n", "no `epoch`"), ("epoch,loss\n0,x\n", "column `loss`"), ("epoch,loss\n0\n", "line 2"), ("epoch,loss\n", "no data rows")]
        {
            std::fs::write(&p, bad).unwrap();
            let e = TrainingCurves::read(&p).unwrap_err();
            assert!(e.to_string().contains(says) && e.exit_code() == 2, "{bad}: {e}");
        }
    }

    #[test]
    fn recall_and_diagnostics_are_checked() {
        use crate::analysis::diagnostics::Diagnostics;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("recall.json");
        std::fs::write(&p, r#"{"r1_u2v": 0.4, "r5_u2v": 0.8, "r1_v2u": 0.3, "r5_v2u": 0.7, "n": 512}"#).unwrap();
        let r = Recall::read(&p).unwrap();
        assert_eq!((r.r1_u2v, r.r5_v2u, r.n), (0.4, Some(0.7), Some(512)));
        std::fs::write(&p, r#"{"r1_u2v": 1.4, "r5_u2v": 0.8}"#).unwrap();
        assert!(Recall::read(&p).unwrap_err().to_string().contains("`r1_u2v` is 1.4"));

        let a = dir.path().join("analysis_reweight.nc");
        assert!(Diagnostics::beside(&a, "reweight").unwrap().is_none());
        std::fs::write(dir.path().join("diagnostics_reweight.json"), r#"{"method": "reweight", "ess": 12.5, "wall_time_s": 0.5, "peak_rss_bytes": null}"#)
            .unwrap();
        let d = Diagnostics::beside(&a, "other").unwrap().unwrap();
        assert_eq!((d.ess, d.wall_time_s, d.peak_rss_bytes), (Some(12.5), Some(0.5), None));
        std::fs::write(dir.path().join("diagnostics_reweight.json"), r#"{"ess": "many"}"#).unwrap();
        let e = Diagnostics::beside(&a, "reweight").unwrap_err().to_string();
        assert!(e.contains("diagnostics_reweight.json") && e.contains("`ess`"), "{e}");
    }

    #[test]
    fn tracks_are_cut_where_they_wrap() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/lagrangian/today/lagrangian_drifters.nc");
        let lines = track_lines(&read_positions(&sample).unwrap());
        let points: usize = lines.iter().map(Vec::len).sum();
        assert!((90..=100).contains(&points), "{points} points");
        for l in &lines {
            assert!(l.iter().all(|&(x, y)| (0.0..1.0).contains(&x) && (0.0..1.0).contains(&y)));
            assert!(l.windows(2).all(|w| (w[1].0 - w[0].0).abs() < 0.5 && (w[1].1 - w[0].1).abs() < 0.5));
        }
    }
}
