//! One line chart drawn twice (SVG and PNG) with plotters: series with confidence bands,
//! dashed bound curves, shaded regions below a curve, labelled vertical lines.

use crate::{Error, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (once per process).
fn fonts() {
    REGISTER.call_once(|| {
        // invariant: the embedded file is a valid TrueType font.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("invariant: embedded DejaVu Sans parses");
    });
}

/// A curve: (x, y, half-width of the CI) points.
pub struct Series {
    pub label: String,
    pub color: (u8, u8, u8),
    pub points: Vec<(f64, f64, f64)>,
    pub stroke: Stroke,
    pub markers: bool,
}

/// How a curve is drawn: measured curves solid (a pre-aggregated variant dashed), reference
/// curves (bounds, floors, same-setting comparisons) dashed or dotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

/// The region between the x axis (bottom of the plot) and a curve.
pub struct Shade {
    pub color: (u8, u8, u8),
    pub upper: Vec<(f64, f64)>,
}

/// A labelled vertical line.
pub struct VLine {
    pub x: f64,
    pub label: String,
}

pub struct Chart {
    pub stem: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub x_range: Option<(f64, f64)>,
    pub series: Vec<Series>,
    pub shades: Vec<Shade>,
    pub vlines: Vec<VLine>,
    /// Fixed y range (else from the data, padded).
    pub y_range: Option<(f64, f64)>,
    /// Text written on the figure under the legend (e.g. what a bound does and does not say).
    pub note: Option<String>,
}

/// Width of the plot area and of the column beside it that holds the legend and the note,
/// so that neither ever covers a curve.
const W: u32 = 1000;
const LEGEND_W: u32 = 380;
const H: u32 = 650;

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("drawing failed: {e}"))
}

/// A short tick label: 0.001, 0.25, 10, 1e5.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        if (m - m.round()).abs() < 1e-9 {
            format!("{}e{e}", m.round())
        } else {
            format!("{m:.1}e{e}")
        }
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

impl Chart {
    /// The files [`Chart::draw`] writes.
    pub fn files(&self, out: &Path) -> Vec<PathBuf> {
        vec![
            out.join(format!("{}.svg", self.stem)),
            out.join(format!("{}.png", self.stem)),
        ]
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|&x| !self.x_log || x > 0.0);
        let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        if let Some(r) = self.x_range {
            (x0, x1) = r;
        }
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2, p.1]))
            .filter(|y| y.is_finite() && (!self.y_log || *y > 0.0));
        let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if !y0.is_finite() {
            (y0, y1) = (0.1, 1.0);
        }
        if self.x_log {
            (x0, x1) = (x0 / 1.3, x1 * 1.3);
        }
        if self.y_log {
            (y0, y1) = (y0 / 1.6, y1 * 2.5);
        } else {
            let pad = 0.05 * (y1 - y0).max(1e-12);
            (y0, y1) = (y0 - pad, y1 + pad);
        }
        if let Some(r) = self.y_range {
            (y0, y1) = r;
        }
        ((x0, x1), (y0, y1))
    }

    /// Writes `out/<stem>.svg` and `out/<stem>.png`.
    pub fn draw(&self, out: &Path) -> Result<()> {
        for file in self.files(out) {
            self.draw_file(&file)?;
        }
        Ok(())
    }

    /// Draws the chart into one file, SVG or PNG by its extension, through a temporary file
    /// in the same folder renamed over it (removed on failure): never a half-written figure.
    pub fn draw_file(&self, path: &Path) -> Result<()> {
        draw_file(self, path)
    }

    fn draw_on<DB: DrawingBackend>(&self, whole: &DrawingArea<DB, Shift>) -> Result<()> {
        whole.fill(&WHITE).map_err(draw_err)?;
        let (root, side) = whole.split_horizontally(W);
        legend_and_note(&self.series, self.note.as_deref(), &side)?;
        self.draw_plot(&root)
    }

    /// The plot alone (axes, bands, curves) on `root`.
    fn draw_plot<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let ((x0, x1), (y0, y1)) = self.ranges();
        match (self.x_log, self.y_log) {
            (false, false) => self.plot(root, x0..x1, y0..y1, (y0, y1)),
            (false, true) => self.plot(root, x0..x1, (y0..y1).log_scale(), (y0, y1)),
            (true, false) => self.plot(root, (x0..x1).log_scale(), y0..y1, (y0, y1)),
            (true, true) => self.plot(root, (x0..x1).log_scale(), (y0..y1).log_scale(), (y0, y1)),
        }
    }

    fn plot<DB, X, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        xr: X,
        yr: Y,
        (y0, y1): (f64, f64),
    ) -> Result<()>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(xr, yr)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(("sans-serif", 17))
            .label_style(("sans-serif", 14))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(draw_err)?;

        for s in &self.shades {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            let pts: Vec<(f64, f64)> = s.upper.iter().map(|&(x, y)| (x, y.max(y0))).collect();
            if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
                let mut poly = pts.clone();
                poly.push((last.0, y0));
                poly.push((first.0, y0));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.10).filled())))
                    .map_err(draw_err)?;
            }
        }
        for v in &self.vlines {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(v.x, y0), (v.x, y1)],
                    6,
                    4,
                    RGBColor(120, 120, 120).stroke_width(2),
                ))
                .map_err(draw_err)?;
            let (px, py) = chart.backend_coord(&(v.x, y0));
            root.draw(&Text::new(
                v.label.clone(),
                (px - 20, py - 8),
                ("sans-serif", 14)
                    .into_font()
                    .transform(FontTransform::Rotate270)
                    .color(&RGBColor(90, 90, 90)),
            ))
            .map_err(draw_err)?;
        }
        for s in &self.series {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            let pts: Vec<(f64, f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.1.is_finite() && (!self.y_log || p.1 > 0.0))
                .collect();
            if pts.iter().any(|p| p.2 > 0.0) {
                let mut band: Vec<(f64, f64)> =
                    pts.iter().map(|p| (p.0, (p.1 + p.2).min(y1))).collect();
                band.extend(pts.iter().rev().map(|p| (p.0, (p.1 - p.2).max(y0))));
                chart
                    .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                    .map_err(draw_err)?;
            }
            let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
            match s.stroke {
                Stroke::Solid => chart
                    .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                    .map_err(draw_err)?,
                Stroke::Dashed => chart
                    .draw_series(DashedLineSeries::new(
                        line.clone(),
                        10,
                        6,
                        c.stroke_width(3),
                    ))
                    .map_err(draw_err)?,
                Stroke::Dotted => chart
                    .draw_series(DottedLineSeries::new(line.clone(), 0, 7, move |p| {
                        Circle::new(p, 2, c.filled())
                    }))
                    .map_err(draw_err)?,
            };
            if s.markers {
                chart
                    .draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(draw_err)?;
            }
        }
        Ok(())
    }
}

/// The legend (one entry per labelled series; an empty label keeps a curve out) and the
/// note, in the column right of the plot.
fn legend_and_note<DB: DrawingBackend>(
    series: &[Series],
    note: Option<&str>,
    side: &DrawingArea<DB, Shift>,
) -> Result<()> {
    let font = ("sans-serif", 14).into_font();
    let mut y = 60i32;
    for s in series.iter().filter(|s| !s.label.is_empty()) {
        let c = RGBColor(s.color.0, s.color.1, s.color.2);
        let style = c.stroke_width(3);
        match s.stroke {
            Stroke::Solid => side
                .draw(&PathElement::new(vec![(8, y), (32, y)], style))
                .map_err(draw_err)?,
            Stroke::Dashed => {
                for (a, b) in [(8, 17), (23, 32)] {
                    side.draw(&PathElement::new(vec![(a, y), (b, y)], style))
                        .map_err(draw_err)?;
                }
            }
            Stroke::Dotted => {
                for x in (9..=32).step_by(7) {
                    side.draw(&Circle::new((x, y), 2, c.filled()))
                        .map_err(draw_err)?;
                }
            }
        }
        // One line of text per wrapped line, each 17 px under the previous one.
        for line in wrap(&s.label, 40) {
            side.draw(&Text::new(line, (40, y - 8), font.clone()))
                .map_err(draw_err)?;
            y += 17;
        }
        y += 6;
    }
    if let Some(note) = note {
        y += 14;
        let grey = ("sans-serif", 13).into_font().color(&RGBColor(70, 70, 70));
        for line in wrap(note, 46) {
            side.draw(&Text::new(line, (8, y), grey.clone()))
                .map_err(draw_err)?;
            y += 16;
        }
    }
    Ok(())
}

/// A figure a file can hold: its pixel size and how it draws itself.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw_on<DB: DrawingBackend>(&self, whole: &DrawingArea<DB, Shift>) -> Result<()>;
}

impl Figure for Chart {
    fn size(&self) -> (u32, u32) {
        (W + LEGEND_W, H)
    }
    fn draw_on<DB: DrawingBackend>(&self, whole: &DrawingArea<DB, Shift>) -> Result<()> {
        Chart::draw_on(self, whole)
    }
}

/// Draws `fig` into one file, SVG or PNG by its extension, through a temporary file in the
/// same folder renamed over it (removed on failure): never a half-written figure.
fn draw_file<F: Figure>(fig: &F, path: &Path) -> Result<()> {
    fonts();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_stem().unwrap_or_default());
    name.push(".tmp.");
    name.push(ext.as_deref().unwrap_or(""));
    let tmp = path.with_file_name(name);
    let drawn = match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(&tmp, fig.size()).into_drawing_area();
            fig.draw_on(&root)
                .and_then(|()| root.present().map_err(draw_err))
        }
        Some("png") => {
            let root = BitMapBackend::new(&tmp, fig.size()).into_drawing_area();
            fig.draw_on(&root)
                .and_then(|()| root.present().map_err(draw_err))
        }
        _ => {
            return Err(Error::invalid(
                "--out",
                path.display(),
                "the figure's file name must end in .svg or .png",
            ))
        }
    }
    .and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })
    });
    if drawn.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drawn
}

/// Width of one panel of a [`Panels`] figure.
const PANEL_W: u32 = 560;

/// Most panels in one row of a [`Panels`] figure before it wraps to a second row.
const MAX_PANEL_COLS: usize = 4;

/// Several charts side by side under one title, sharing the legend of the first (its series'
/// labels) and one note in the column at the right. Each panel keeps its own caption, axes
/// and ranges (set `y_range` alike to compare panels).
pub struct Panels {
    /// File stem.
    pub stem: String,
    /// Title above the panels.
    pub title: String,
    /// The panels, left to right.
    pub panels: Vec<Chart>,
    /// Text under the legend.
    pub note: Option<String>,
}

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        let (rows, cols) = self.grid();
        (PANEL_W * cols + LEGEND_W, H * rows + 40)
    }
    fn draw_on<DB: DrawingBackend>(&self, whole: &DrawingArea<DB, Shift>) -> Result<()> {
        whole.fill(&WHITE).map_err(draw_err)?;
        let (head, body) = whole.split_vertically(40);
        head.titled(&self.title, ("sans-serif", 22))
            .map_err(draw_err)?;
        let (rows, cols) = self.grid();
        let (plots, side) = body.split_horizontally(PANEL_W * cols);
        let legend: &[Series] = self.panels.first().map_or(&[], |c| &c.series);
        legend_and_note(legend, self.note.as_deref(), &side)?;
        // `split_evenly` returns the cells row by row, so panels fill the grid left to right,
        // then top to bottom; cells past the last panel stay blank.
        for (chart, area) in self
            .panels
            .iter()
            .zip(plots.split_evenly((rows as usize, cols as usize)))
        {
            chart.draw_plot(&area)?;
        }
        Ok(())
    }
}

impl Panels {
    /// Rows and columns of the panel grid: one row up to [`MAX_PANEL_COLS`] panels, then as
    /// few rows as hold them all, the columns balanced between rows (6 panels: 2 × 3, 7: 2 × 4),
    /// so a figure with many panels stays readable instead of growing one long strip.
    fn grid(&self) -> (u32, u32) {
        let n = self.panels.len().max(1);
        let rows = n.div_ceil(MAX_PANEL_COLS);
        let cols = n.div_ceil(rows);
        (rows as u32, cols as u32)
    }

    /// The files [`Panels::draw`] writes.
    pub fn files(&self, out: &Path) -> Vec<PathBuf> {
        vec![
            out.join(format!("{}.svg", self.stem)),
            out.join(format!("{}.png", self.stem)),
        ]
    }

    /// Writes `out/<stem>.svg` and `out/<stem>.png`.
    pub fn draw(&self, out: &Path) -> Result<()> {
        for file in self.files(out) {
            draw_file(self, &file)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails if the grid stops wrapping (one row of 7 panels, the crowded strip this replaced)
    /// or wraps too early (a 4-panel figure forced into 2 rows).
    #[test]
    fn panel_grid_wraps_after_four_columns() {
        let grid = |n: usize| {
            Panels {
                stem: String::new(),
                title: String::new(),
                panels: (0..n)
                    .map(|_| Chart {
                        stem: String::new(),
                        title: String::new(),
                        x_label: String::new(),
                        y_label: String::new(),
                        x_log: false,
                        y_log: false,
                        x_range: None,
                        series: vec![],
                        shades: vec![],
                        vlines: vec![],
                        y_range: None,
                        note: None,
                    })
                    .collect(),
                note: None,
            }
            .grid()
        };
        assert_eq!(grid(0), (1, 1));
        assert_eq!(grid(3), (1, 3));
        assert_eq!(grid(4), (1, 4));
        assert_eq!(grid(6), (2, 3));
        assert_eq!(grid(7), (2, 4));
        assert_eq!(grid(9), (3, 3));
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(1e-5), "1e-5");
        assert_eq!(tick(200000.0), "2e5");
    }
}
