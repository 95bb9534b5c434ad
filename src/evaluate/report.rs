//! Writing an evaluation: `scores.json` (everything, machine-readable), `scores.csv` (one row per
//! method and variable), the PNG plots, and `report.md` / `report.html` built from one
//! [`Document`] so the two always show the same numbers.

use std::path::Path;

use serde_json::json;

use super::scoring::{Evaluation, MethodResult, Variable, VariableScores};
use super::sidecar::TrainingCurves;
use crate::error::{Error, Result};
use crate::report::document::{Block, Document};
use crate::report::plots::{Field, MapGroup, Scale, colour_range, line_chart, map_figure, rank_histograms};
use crate::report::table::{Better, Table};

/// Machine-readable scores.
pub const SCORES_JSON: &str = "scores.json";
/// Scores as a table, one row per method and variable.
pub const SCORES_CSV: &str = "scores.csv";
/// The Markdown report.
pub const REPORT_MD: &str = "report.md";
/// The self-contained HTML report.
pub const REPORT_HTML: &str = "report.html";

/// Panels per figure where one panel per method is drawn: wider figures are unreadable scaled
/// to a page.
const PANELS_PER_FIGURE: usize = 4;
/// Rank histograms with more bins than this are shown with ranks grouped (see [`coarsen`]).
const MAX_RANK_BINS: usize = 25;

/// What the report shows besides the scores.
pub struct Extras<'a> {
    /// Drifter tracks (polylines) to draw over the analysis means.
    pub tracks: Option<&'a [Vec<(f64, f64)>]>,
    /// Training metrics per epoch.
    pub training: Option<&'a TrainingCurves>,
}

/// Writes every output into `dir`; returns the names of the files written.
pub fn write_all(dir: &Path, eval: &Evaluation, extras: &Extras) -> Result<Vec<String>> {
    let mut doc = Document { title: title(eval), blocks: Vec::new() };
    doc.blocks.push(Block::Text(format!(
        "Scored against the truth `{}` at {} (time index {}). Rows: {}. The best value of each column is in bold.",
        eval.truth.path.display(),
        eval.truth.time,
        eval.truth.index,
        eval.methods.iter().map(|m| format!("{} ({} members)", m.name, m.members)).collect::<Vec<_>>().join(", ")
    )));
    doc.blocks.push(Block::Heading(2, "Scores".into()));
    for var in &eval.truth.variables {
        let what = if var.long_name.is_empty() { String::new() } else { format!(": {}", var.long_name) };
        doc.blocks.push(Block::Heading(3, format!("{}{what}", var.label())));
        doc.blocks.push(Block::Table(variable_table(eval, var)));
    }
    doc.blocks.push(Block::Heading(3, "Cost and retrieval".into()));
    doc.blocks.push(Block::Table(method_table(eval)));
    doc.blocks.push(Block::Heading(3, "Definitions".into()));
    doc.blocks.push(Block::List(definitions()));

    plot_maps(dir, eval, &mut doc)?;
    if let Some(tracks) = extras.tracks {
        plot_tracks(dir, eval, tracks, &mut doc)?;
    }
    plot_rank_histograms(dir, eval, &mut doc)?;
    if let Some(training) = extras.training {
        plot_training(dir, training, &mut doc)?;
    }

    let mut files: Vec<String> = doc.images().into_iter().map(String::from).collect();
    write(dir, SCORES_JSON, &scores_json(eval, extras.training, &files))?;
    write(dir, SCORES_CSV, &scores_csv(eval))?;
    write(dir, REPORT_MD, &doc.markdown())?;
    write(dir, REPORT_HTML, &doc.html(dir)?)?;
    files.extend([SCORES_JSON, SCORES_CSV, REPORT_MD, REPORT_HTML].map(String::from));
    Ok(files)
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

fn title(eval: &Evaluation) -> String {
    match &eval.window {
        Some(w) => format!("Evaluation, window {w}"),
        None => format!("Evaluation at {}", eval.truth.time),
    }
}

/// Methods as rows, this variable's scores as columns.
pub fn variable_table(eval: &Evaluation, var: &Variable) -> Table {
    let u = if var.units.is_empty() { String::new() } else { format!(" [{}]", var.units) };
    let columns = vec![
        (format!("RMSE{u}"), Better::Lower),
        (format!("bias{u}"), Better::Near(0.0)),
        (format!("spread{u}"), Better::None),
        ("spread/skill".to_string(), Better::Near(1.0)),
        (format!("CRPS{u}"), Better::Lower),
    ];
    let rows = eval
        .methods
        .iter()
        .map(|m| {
            let s = &m.variables[&var.name].scores;
            (m.name.clone(), vec![s.rmse, s.bias, s.spread, s.spread_skill, s.crps])
        })
        .collect();
    Table { columns, rows }
}

/// Methods as rows: ESS, recall, cost (ensemble sizes are in the report's first paragraph).
pub fn method_table(eval: &Evaluation) -> Table {
    let nan = f64::NAN;
    let columns = vec![
        ("ESS".to_string(), Better::Higher),
        ("R@1".to_string(), Better::Higher),
        ("R@5".to_string(), Better::Higher),
        ("wall time [s]".to_string(), Better::None),
        ("peak memory [MiB]".to_string(), Better::None),
    ];
    let rows = eval
        .methods
        .iter()
        .map(|m| {
            let (r1, r5) = m.recall.as_ref().map_or((nan, nan), |r| (r.r1_u2v, r.r5_u2v));
            let mib = m.peak_rss_bytes.map_or(nan, |b| b / (1024.0 * 1024.0));
            (m.name.clone(), vec![m.ess.unwrap_or(nan), r1, r5, m.wall_time_s.unwrap_or(nan), mib])
        })
        .collect();
    Table { columns, rows }
}

fn definitions() -> Vec<String> {
    [
        "RMSE: `sqrt(mean_i (a_i - t_i)^2)` of the analysis mean `a` against the truth `t`, over points where both are set.",
        "bias: `mean_i (a_i - t_i)`; best near 0.",
        "spread: `sqrt(mean_i s_i^2)`, `s_i^2` the ensemble variance at point `i` (divisor n - 1).",
        "spread/skill: `spread * sqrt((n + 1) / n) / RMSE`; 1 for a calibrated ensemble, below 1 over-confident.",
        "CRPS: the fair ensemble CRPS (Ferro et al. 2008), `(1/n) sum_m |x_m - t| - 1/(2n(n-1)) sum_{m,k} |x_m - x_k|`, averaged over points.",
        "rank histogram: counts of the truth's rank among the members (ties broken at random); flat when calibrated, U-shaped when the spread is too small.",
        "ESS: effective sample size of the importance weights, `1 / sum_i w_i^2` (reweighting only).",
        "R@1, R@5: test-split retrieval recall of the encoders, observation to state (encoder methods only).",
        "wall time, peak memory: the method alone, and the process's peak resident memory after it (from the method's diagnostics).",
        "climatology: the bank itself as the ensemble, its mean as the analysis (no observations used).",
    ]
    .map(String::from)
    .to_vec()
}

/// File-name-safe form of a method or variable name.
fn safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn field<'a>(var: &Variable, title: String, data: &'a [f64]) -> Field<'a> {
    let (x, y) = var.grid.as_ref().expect("maps only for gridded variables");
    Field { title, nx: x.len(), ny: y.len(), data, x: (x[0], x[x.len() - 1]), y: (y[0], y[y.len() - 1]) }
}

/// Fields of both signs are drawn on a diverging scale centred on zero, one-signed ones on viridis.
fn field_scale(values: &[f64]) -> Scale {
    let (lo, hi) = colour_range(Scale::Sequential, values.iter().copied());
    if lo < 0.0 && hi > 0.0 { Scale::Diverging } else { Scale::Sequential }
}

fn scores<'a>(m: &'a MethodResult, var: &Variable) -> &'a VariableScores {
    &m.variables[&var.name]
}

/// Per map variable, one figure per method: truth and analysis mean on one scale, the error on a
/// diverging scale and the spread on a sequential one, each range shared by every method so the
/// figures compare.
fn plot_maps(dir: &Path, eval: &Evaluation, doc: &mut Document) -> Result<()> {
    doc.blocks.push(Block::Heading(2, "Maps".into()));
    for var in eval.truth.variables.iter().filter(|v| v.grid.is_some()) {
        doc.blocks.push(Block::Heading(3, var.label()));
        let errors: Vec<Vec<f64>> = eval.methods.iter().map(|m| scores(m, var).mean.iter().zip(&var.truth).map(|(a, t)| a - t).collect()).collect();
        let fields = var.truth.iter().chain(eval.methods.iter().flat_map(|m| scores(m, var).mean.iter())).copied().collect::<Vec<_>>();
        let scale = field_scale(&fields);
        let field_range = colour_range(scale, fields);
        let error_range = colour_range(Scale::Diverging, errors.iter().flatten().copied());
        let max_std = eval.methods.iter().flat_map(|m| scores(m, var).std.iter().copied()).filter(|v| v.is_finite()).fold(0.0, f64::max);
        let spread_range = (0.0, if max_std > 0.0 { max_std } else { 1.0 });
        let bar = unit_text(var);
        for (m, error) in eval.methods.iter().zip(&errors) {
            let s = scores(m, var);
            let top = [field(var, "truth".into(), &var.truth), field(var, format!("{} mean", m.name), &s.mean)];
            let err = [field(var, "error: mean - truth".into(), error)];
            let spread = [field(var, "spread (ensemble std)".into(), &s.std)];
            let file = format!("map_{}_{}.png", safe(&var.name), safe(&m.name));
            let title = format!("{} {}: {} ({} members), {}", var.name, unit_text(var), m.name, m.members, eval.truth.time);
            map_figure(
                &dir.join(&file),
                &title,
                &[
                    MapGroup { panels: &top, scale, units: &bar, range: Some(field_range), tracks: &[] },
                    MapGroup { panels: &err, scale: Scale::Diverging, units: &bar, range: Some(error_range), tracks: &[] },
                    MapGroup { panels: &spread, scale: Scale::Sequential, units: &bar, range: Some(spread_range), tracks: &[] },
                ],
            )?;
            doc.blocks.push(Block::Image { file, caption: format!("{}: truth, {} mean, error and spread", var.name, m.name) });
        }
    }
    Ok(())
}

/// Units in brackets for titles and colour bars (`[1]`: dimensionless).
fn unit_text(var: &Variable) -> String {
    if var.units.is_empty() { "(no units)".into() } else { format!("[{}]", var.units) }
}

/// Per map variable: the truth and each method's analysis mean with the drifter tracks on top,
/// all on one colour scale.
fn plot_tracks(dir: &Path, eval: &Evaluation, tracks: &[Vec<(f64, f64)>], doc: &mut Document) -> Result<()> {
    doc.blocks.push(Block::Heading(2, "Drifter tracks over the analysis mean".into()));
    for var in eval.truth.variables.iter().filter(|v| v.grid.is_some()) {
        let mut panels = vec![field(var, format!("truth {}", var.name), &var.truth)];
        panels.extend(eval.methods.iter().map(|m| field(var, format!("{} mean", m.name), &m.variables[&var.name].mean)));
        let all: Vec<f64> = panels.iter().flat_map(|p| p.data.iter().copied()).collect();
        let scale = field_scale(&all);
        let range = colour_range(scale, all);
        let bar = unit_text(var);
        let chunks: Vec<&[Field]> = panels.chunks(PANELS_PER_FIGURE).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let file = if chunks.len() == 1 { format!("tracks_{}.png", safe(&var.name)) } else { format!("tracks_{}_{}.png", safe(&var.name), k + 1) };
            let title = format!("{} {} with the observed drifter tracks, {}", var.name, unit_text(var), eval.truth.time);
            map_figure(&dir.join(&file), &title, &[MapGroup { panels: chunk, scale, units: &bar, range: Some(range), tracks }])?;
            let names: Vec<&str> = chunk.iter().map(|p| p.title.as_str()).collect();
            doc.blocks.push(Block::Image { file, caption: format!("{}: {} with drifter tracks", var.name, names.join(", ")) });
        }
    }
    Ok(())
}

/// Groups consecutive ranks of a histogram with more than `max_bins` bins into equal groups (the
/// largest divisor of the bin count that is at most `max_bins`, if it is at least 8), so a
/// calibrated ensemble still plots flat; returns the histogram and the ranks per bin.
pub fn coarsen(hist: &[u64], max_bins: usize) -> (Vec<u64>, usize) {
    let k = hist.len();
    if k <= max_bins {
        return (hist.to_vec(), 1);
    }
    match (8..=max_bins).rev().find(|g| k.is_multiple_of(*g)) {
        Some(groups) => (hist.chunks(k / groups).map(|c| c.iter().sum()).collect(), k / groups),
        None => (hist.to_vec(), 1),
    }
}

fn plot_rank_histograms(dir: &Path, eval: &Evaluation, doc: &mut Document) -> Result<()> {
    doc.blocks.push(Block::Heading(2, "Rank histograms".into()));
    doc.blocks.push(Block::Text(
        "Frequency of the truth's rank among the members at every grid point; the red line is the flat histogram of a calibrated ensemble.".into(),
    ));
    for var in &eval.truth.variables {
        let hists: Vec<(String, Vec<u64>)> = eval
            .methods
            .iter()
            .map(|m| {
                let (h, per) = coarsen(&m.variables[&var.name].rank_histogram, MAX_RANK_BINS);
                let label =
                    if per > 1 { format!("{} ({} members, {per} ranks per bar)", m.name, m.members) } else { format!("{} ({} members)", m.name, m.members) };
                (label, h)
            })
            .collect();
        let chunks: Vec<&[(String, Vec<u64>)]> = hists.chunks(PANELS_PER_FIGURE).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let file = if chunks.len() == 1 { format!("rank_{}.png", safe(&var.name)) } else { format!("rank_{}_{}.png", safe(&var.name), k + 1) };
            rank_histograms(&dir.join(&file), &format!("Rank histograms of {}", var.name), chunk)?;
            doc.blocks.push(Block::Image { file, caption: format!("rank histograms of {}", var.name) });
        }
    }
    Ok(())
}

fn plot_training(dir: &Path, training: &TrainingCurves, doc: &mut Document) -> Result<()> {
    doc.blocks.push(Block::Heading(2, "Training".into()));
    let losses = training.series(|c| c.contains("loss"));
    // Recall columns only (r1_u2v, r5_v2u, ...): tau, seconds and the saved-epoch flag are other units.
    let others = training.series(|c| c.starts_with('r') && c[1..].starts_with(|d: char| d.is_ascii_digit()));
    for (series, file, title, y) in [
        (losses, "training_loss.png", "Contrastive loss per epoch", "loss"),
        (others, "training_recall.png", "Validation retrieval recall per epoch", "recall"),
    ] {
        if series.is_empty() {
            continue;
        }
        line_chart(&dir.join(file), title, "epoch", y, &series)?;
        doc.blocks.push(Block::Image { file: file.into(), caption: title.to_lowercase() });
    }
    Ok(())
}

fn scores_json(eval: &Evaluation, training: Option<&TrainingCurves>, plots: &[String]) -> String {
    let variables: Vec<_> = eval
        .truth
        .variables
        .iter()
        .map(|v| json!({ "name": v.name, "units": v.units, "long_name": v.long_name, "dims": v.dims, "field": v.field, "points": v.points.as_ref().map(Vec::len) }))
        .collect();
    let training = training
        .and_then(|t| t.rows.last().map(|last| t.columns.iter().cloned().zip(last.iter().map(|&v| json!(v))).collect::<serde_json::Map<_, _>>().into()));
    let value = json!({
        "window": eval.window,
        "truth": { "file": eval.truth.path.display().to_string(), "time": eval.truth.time, "index": eval.truth.index },
        "variables": variables,
        "methods": eval.methods,
        "training_last_epoch": training.unwrap_or(serde_json::Value::Null),
        "plots": plots,
    });
    serde_json::to_string_pretty(&value).expect("scores serialise") + "\n"
}

fn scores_csv(eval: &Evaluation) -> String {
    let cell = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(String::new(), |x| format!("{x}"));
    let mut s = String::from("method,variable,members,rmse,bias,spread,spread_skill,crps,rank_chi2,ess,r1_u2v,r5_u2v,wall_time_s,peak_rss_bytes\n");
    for m in &eval.methods {
        for var in &eval.truth.variables {
            let v = &m.variables[&var.name];
            let r = m.recall.as_ref();
            let cells = [
                Some(v.scores.rmse),
                Some(v.scores.bias),
                Some(v.scores.spread),
                Some(v.scores.spread_skill),
                Some(v.scores.crps),
                Some(v.rank_chi2),
                m.ess,
                r.map(|r| r.r1_u2v),
                r.map(|r| r.r5_u2v),
                m.wall_time_s,
                m.peak_rss_bytes,
            ];
            s += &format!("{},{},{},{}\n", csv_text(&m.name), csv_text(&var.name), m.members, cells.map(cell).join(","));
        }
    }
    s
}

/// Quotes a CSV field when it holds a comma, quote or newline.
fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsened_histograms_keep_counts_and_flatness() {
        // 513 ranks (512 members) group into 19 bars of 27 ranks: a flat histogram stays flat.
        let flat = vec![2u64; 513];
        let (h, per) = coarsen(&flat, 25);
        assert_eq!((h.len(), per), (19, 27));
        assert!(h.iter().all(|&c| c == 54));
        // Counts are kept, and order: a U shape stays a U shape.
        let u: Vec<u64> = (0..100).map(|k| if (4..96).contains(&k) { 1 } else { 10 }).collect();
        let (h, per) = coarsen(&u, 25);
        assert_eq!((h.len(), per), (25, 4));
        assert_eq!(h.iter().sum::<u64>(), u.iter().sum::<u64>());
        assert_eq!((h[0], h[1], h[24]), (40, 4, 40));
        // Small histograms, and sizes without a usable divisor (prime), are left alone.
        assert_eq!(coarsen(&[1, 2, 3], 25), (vec![1, 2, 3], 1));
        assert_eq!(coarsen(&vec![1; 101], 25).0.len(), 101);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_text("etkf"), "etkf");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
