//! PNG plots with plotters: field maps with colour bars (optionally with drifter tracks), rank
//! histograms and line charts. Every plot has a title, axis labels with units and, for maps, a
//! colour bar, so it can be read on its own.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::error::{Error, Result};

/// Where Debian's `fonts-dejavu-core` puts the font the plots use (installed by scripts/setup-system.sh).
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";

/// Registers the font once; plotters' ab_glyph text backend needs the bytes for the whole run.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT_PATH).map_err(|e| format!("{FONT_PATH}: {e}; install Debian's fonts-dejavu-core for plots"))?;
            plotters::style::register_font(FONT, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| format!("{FONT_PATH}: not a usable TrueType font"))
        })
        .clone()
        .map_err(Error::Other)
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{}: drawing plot: {e}", path.display()))
}

/// A gridded field for a map: `data[j * nx + i]` at `(x_i, y_j)`, NaN where missing (land).
pub struct Field<'a> {
    /// Title of this panel.
    pub title: String,
    /// Points along x.
    pub nx: usize,
    /// Points along y.
    pub ny: usize,
    /// Row-major values (y slowest), NaN where missing.
    pub data: &'a [f64],
    /// Extent of x: (first, last) cell centre.
    pub x: (f64, f64),
    /// Extent of y.
    pub y: (f64, f64),
}

/// Colour scale of a map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Viridis from min to max (spreads, magnitudes).
    Sequential,
    /// Blue-white-red symmetric about zero (errors, streamfunction anomalies).
    Diverging,
}

fn colour(scale: Scale, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    match scale {
        Scale::Sequential => ViridisRGB::get_color(t as f32),
        Scale::Diverging => {
            // Blue (0) - white (0.5) - red (1), linear in RGB: readable and colour-blind safe enough.
            let (r, g, b) = if t < 0.5 {
                let s = t / 0.5;
                (40.0 + 215.0 * s, 90.0 + 165.0 * s, 200.0 + 55.0 * s)
            } else {
                let s = (t - 0.5) / 0.5;
                (255.0 - 55.0 * s, 255.0 - 200.0 * s, 255.0 - 215.0 * s)
            };
            RGBColor(r as u8, g as u8, b as u8)
        }
    }
}

/// A group of map panels in one figure sharing a colour scale and a colour bar (e.g. truth and
/// analysis mean), with optional drifter tracks drawn over each of its panels.
pub struct MapGroup<'a> {
    /// The panels, left to right.
    pub panels: &'a [Field<'a>],
    /// Colour scale.
    pub scale: Scale,
    /// Colour-bar caption: the units of the values.
    pub units: &'a str,
    /// Fixed colour range, e.g. one error range for every method so their maps compare; `None`
    /// takes it from the panels with [`colour_range`].
    pub range: Option<(f64, f64)>,
    /// Tracks `(x, y)` drawn over every panel; a track is a polyline (split it where it wraps).
    pub tracks: &'a [Vec<(f64, f64)>],
}

/// The colour range of `values` (NaN ignored) on `scale`: min to max for sequential scales,
/// symmetric about zero for diverging ones, never empty.
pub fn colour_range(scale: Scale, values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let finite = values.into_iter().filter(|v| v.is_finite());
    let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if scale == Scale::Diverging {
        let m = lo.abs().max(hi.abs()).max(1e-300);
        (lo, hi) = (-m, m);
    } else if hi <= lo {
        hi = lo + 1.0;
    }
    (lo, hi)
}

/// Draws one row of map panels sharing a colour scale and colour bar (e.g. truth, analysis mean);
/// `tracks` (x, y) are drawn over every panel.
pub fn map_row(path: &Path, panels: &[Field], scale: Scale, units: &str, tracks: &[Vec<(f64, f64)>]) -> Result<()> {
    map_figure(path, "", &[MapGroup { panels, scale, units, range: None, tracks }])
}

/// Draws a figure of map groups side by side, each with its own colour bar, under `title` (none
/// when empty): e.g. truth and analysis mean on one scale, the error on a diverging one and the
/// spread on a sequential one.
pub fn map_figure(path: &Path, title: &str, groups: &[MapGroup]) -> Result<()> {
    ensure_font()?;
    let (panel_w, bar_w) = (360u32, 110u32);
    let group_w = |g: &MapGroup| panel_w * g.panels.len().max(1) as u32 + bar_w;
    let width: u32 = groups.iter().map(group_w).sum::<u32>().max(bar_w);
    let title_h = if title.is_empty() { 0 } else { 34 };
    let root = BitMapBackend::new(path, (width, 400 + title_h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut rest = if title.is_empty() { root.clone() } else { root.titled(title, (FONT, 20)).map_err(|e| plot_err(path, e))? };
    for group in groups {
        let (area, right) = rest.split_horizontally(group_w(group));
        rest = right;
        draw_group(path, &area, group)?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

fn draw_group(path: &Path, area: &DrawingArea<BitMapBackend, plotters::coord::Shift>, group: &MapGroup) -> Result<()> {
    let (lo, hi) = group.range.unwrap_or_else(|| colour_range(group.scale, group.panels.iter().flat_map(|p| p.data.iter().copied())));
    let (maps, bar) = area.split_horizontally(area.dim_in_pixel().0 - 110);
    for (area, field) in maps.split_evenly((1, group.panels.len().max(1))).iter().zip(group.panels) {
        let dx = (field.x.1 - field.x.0) / (field.nx.max(2) - 1) as f64;
        let dy = (field.y.1 - field.y.0) / (field.ny.max(2) - 1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(&field.title, (FONT, 18))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(field.x.0 - dx / 2.0..field.x.1 + dx / 2.0, field.y.0 - dy / 2.0..field.y.1 + dy / 2.0)
            .map_err(|e| plot_err(path, e))?;
        chart.configure_mesh().disable_mesh().x_desc("x").y_desc("y").label_style((FONT, 12)).draw().map_err(|e| plot_err(path, e))?;
        let cells = (0..field.ny).flat_map(|j| (0..field.nx).map(move |i| (i, j))).map(|(i, j)| {
            let v = field.data[j * field.nx + i];
            let (x, y) = (field.x.0 + i as f64 * dx, field.y.0 + j as f64 * dy);
            let fill = if v.is_finite() { colour(group.scale, (v - lo) / (hi - lo)) } else { RGBColor(200, 200, 200) };
            Rectangle::new([(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)], fill.filled())
        });
        chart.draw_series(cells).map_err(|e| plot_err(path, e))?;
        for track in group.tracks {
            chart.draw_series(LineSeries::new(track.iter().copied(), BLACK.stroke_width(2))).map_err(|e| plot_err(path, e))?;
        }
    }
    // Colour bar.
    let mut chart = ChartBuilder::on(&bar)
        .margin_top(38)
        .margin_bottom(38)
        .margin_right(8)
        .y_label_area_size(60)
        .caption(group.units, (FONT, 14))
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| plot_err(path, e))?;
    let span = hi - lo;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&|v| tick_label(*v, span))
        .label_style((FONT, 12))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    let steps = 100;
    chart
        .draw_series((0..steps).map(|k| {
            let (a, b) = (lo + (hi - lo) * k as f64 / steps as f64, lo + (hi - lo) * (k + 1) as f64 / steps as f64);
            Rectangle::new([(0.0, a), (1.0, b)], colour(group.scale, (k as f64 + 0.5) / steps as f64).filled())
        }))
        .map_err(|e| plot_err(path, e))?;
    Ok(())
}

/// A colour-bar tick: one decimal more than the magnitude of the bar's `span` needs, and an exact
/// "0" for ticks that are zero up to rounding (never "-0.0").
fn tick_label(v: f64, span: f64) -> String {
    if v.abs() <= 1e-9 * span.abs() {
        return "0".into();
    }
    let decimals = (1 - span.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{v:.decimals$}")
}

/// Rank histograms of several methods side by side, normalised to frequencies (flat = calibrated).
pub fn rank_histograms(path: &Path, title: &str, hists: &[(String, Vec<u64>)]) -> Result<()> {
    ensure_font()?;
    let root = BitMapBackend::new(path, (320 * hists.len().max(1) as u32, 320)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let root = root.titled(title, (FONT, 18)).map_err(|e| plot_err(path, e))?;
    for (area, (name, hist)) in root.split_evenly((1, hists.len().max(1))).iter().zip(hists) {
        let total: u64 = hist.iter().sum::<u64>().max(1);
        let freq: Vec<f64> = hist.iter().map(|&h| h as f64 / total as f64).collect();
        let top = freq.iter().copied().fold(0.0, f64::max).max(1.5 / hist.len() as f64) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(name, (FONT, 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..hist.len() as f64, 0.0..top)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("rank of truth")
            .y_desc("frequency")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 11))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(freq.iter().enumerate().map(|(k, &f)| Rectangle::new([(k as f64 + 0.05, 0.0), (k as f64 + 0.95, f)], BLUE.mix(0.6).filled())))
            .map_err(|e| plot_err(path, e))?;
        let flat = 1.0 / hist.len() as f64;
        chart.draw_series(LineSeries::new([(0.0, flat), (hist.len() as f64, flat)], RED.stroke_width(1))).map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// A line chart of several named series (e.g. training and validation loss per epoch).
pub fn line_chart(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    ensure_font()?;
    let points = series.iter().flat_map(|(_, s)| s.iter().copied()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (x0, x1, y0, y1) =
        points.fold((f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY), |(a, b, c, d), (x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)));
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (x0 - 1.0, x0 + 1.0) };
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (y0, y1) = if y0.is_finite() { (y0 - pad, y1 + pad) } else { (0.0, 1.0) };
    let root = BitMapBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(path, e))?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style((FONT, 12)).draw().map_err(|e| plot_err(path, e))?;
    for (k, (name, s)) in series.iter().enumerate() {
        let c = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(2)))
            .map_err(|e| plot_err(path, e))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).label_font((FONT, 12)).draw().map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_bar_ticks_are_short_and_never_negative_zero() {
        assert_eq!(tick_label(-1e-17, 1.6), "0");
        assert_eq!(tick_label(-0.4, 1.6), "-0.4");
        assert_eq!(tick_label(0.25, 0.33), "0.25");
        assert_eq!(tick_label(30.0, 80.0), "30");
        assert_eq!(tick_label(0.002, 0.008), "0.0020");
    }

    #[test]
    fn colour_ranges_follow_the_scale() {
        assert_eq!(colour_range(Scale::Sequential, [2.0, f64::NAN, 5.0]), (2.0, 5.0));
        assert_eq!(colour_range(Scale::Diverging, [-1.0, 3.0]), (-3.0, 3.0));
        // A constant field still gets a non-empty range (a colour bar needs one).
        assert_eq!(colour_range(Scale::Sequential, [0.0, 0.0]), (0.0, 1.0));
        assert_eq!(colour_range(Scale::Sequential, [f64::NAN]), (0.0, 1.0));
    }

    #[test]
    fn plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<f64> = (0..16 * 12).map(|k| ((k % 16) as f64 * 0.4).sin() + if k == 5 { f64::NAN } else { 0.0 }).collect();
        let field = Field { title: "truth".into(), nx: 16, ny: 12, data: &data, x: (0.0, 1.0), y: (0.0, 1.0) };
        let track = vec![(0.2, 0.2), (0.5, 0.6), (0.7, 0.4)];
        let map = dir.path().join("map.png");
        map_row(&map, &[field], Scale::Diverging, "m2 s-1", &[track]).unwrap();
        let hist = dir.path().join("rank.png");
        rank_histograms(&hist, "rank histograms", &[("etkf".into(), vec![3, 4, 5, 4])]).unwrap();
        let curve = dir.path().join("curve.png");
        line_chart(&curve, "loss", "epoch", "loss", &[("train".into(), vec![(0.0, 2.0), (1.0, 1.5)])]).unwrap();
        let (err, spread) = (data.iter().map(|v| v * 0.1).collect::<Vec<_>>(), vec![0.5; 16 * 12]);
        let fig = dir.path().join("figure.png");
        let truth = [Field { title: "truth".into(), nx: 16, ny: 12, data: &data, x: (0.0, 1.0), y: (0.0, 1.0) }];
        let e = [Field { title: "error".into(), nx: 16, ny: 12, data: &err, x: (0.0, 1.0), y: (0.0, 1.0) }];
        let s = [Field { title: "spread".into(), nx: 16, ny: 12, data: &spread, x: (0.0, 1.0), y: (0.0, 1.0) }];
        map_figure(
            &fig,
            "psi [1]",
            &[
                MapGroup { panels: &truth, scale: Scale::Diverging, units: "1", range: None, tracks: &[] },
                MapGroup { panels: &e, scale: Scale::Diverging, units: "1", range: Some((-1.0, 1.0)), tracks: &[] },
                MapGroup { panels: &s, scale: Scale::Sequential, units: "1", range: None, tracks: &[] },
            ],
        )
        .unwrap();
        for p in [map, hist, curve, fig] {
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
            assert!(bytes.len() > 2000, "{} is suspiciously small", p.display());
        }
    }
}
