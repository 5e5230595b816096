//! The charts, as PNG or SVG (plotters).
//!
//! One function per chart, each following plotters' builder sequence (fill,
//! chart builder, mesh, series, legend) and ending with `present()`. A
//! [`Chart`] is the model a chart draws, built from profiles by
//! [`accumulated_of`], [`rates_of`] and [`memory_of`] or by hand; [`Chart::svg`] renders to
//! a string and [`Chart::rgb`] to pixels, so tests read the output.
//!
//! - Text is DejaVu Sans, compiled into the crate (`assets/DejaVuSans.ttf`,
//!   Bitstream Vera licence): no font file is read at run time.
//! - Text, margins and line widths scale with the image: the sizes are
//!   those of a 1024 x 640 image, times the smaller of width / 1024 and
//!   height / 640 (text no smaller than 10 px).
//! - Lines are clipped to their plot area, thick ones inset by half their
//!   width, and on bitmaps drawn segment by segment: plotters joins the
//!   segments of a thick path with miters that, at the spikes of a rate
//!   line, reach far out of the plot (above the title, below the axis).
//! - The time charts put their legend in the plot when they have a few
//!   lines and beside it, in as many columns as it needs, when they have
//!   more; the first 20 lines have their own colour, the next ones repeat
//!   them dashed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::analysis::{self, Window};
use crate::text;
use crate::Profile;

/// An error of drawing or saving a chart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// No usable font for the text.
    #[error("{0}")]
    Font(String),
    /// The output's extension is neither `.png` nor `.svg`.
    #[error("{}: the output must end in .png or .svg", .0.display())]
    Extension(PathBuf),
    /// Drawing failed.
    #[error("drawing the chart: {0}")]
    Drawing(String),
    /// Writing the file failed.
    #[error("cannot write {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong, in plain words (`Permission denied`).
        message: String,
    },
}

/// `Result` of the charts.
pub type Result<T, E = ChartError> = std::result::Result<T, E>;

/// The result of plotters' drawing on a backend.
type Drawn<T, DB> = std::result::Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The font family every chart uses.
const FONT: &str = "sans-serif";

/// DejaVu Sans 2.37 (Debian's fonts-dejavu-core; licence in
/// `assets/DejaVuSans.LICENSE`).
static FONT_TTF: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Default image size: readable at README width.
pub const DEFAULT_SIZE: (u32, u32) = (1024, 640);

/// Line colours: Tableau's ten, then ten more that differ from them and
/// from each other, all dark enough for a white background. Lines past
/// the 20th repeat them dashed.
pub const COLORS: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 100, 100),
    RGBColor(240, 50, 230),
    RGBColor(0, 180, 110),
    RGBColor(85, 107, 47),
    RGBColor(75, 0, 130),
    RGBColor(250, 128, 114),
    RGBColor(120, 220, 40),
    RGBColor(100, 149, 237),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Registers the embedded font once.
pub fn ensure_font() -> Result<()> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_TTF).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font(
            "the embedded DejaVu Sans is not a usable TTF font".to_owned(),
        ))
    }
}

fn drawing<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Drawing(e.to_string())
}

/// What the chart is drawn on: vector paths keep their joins (SVG);
/// bitmaps get thick lines segment by segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// SVG: a line is one path.
    Vector,
    /// PNG: a thick line is drawn segment by segment, with round joints.
    Bitmap,
}

/// A rectangle of pixels of the image: left, top, right, bottom, the right
/// and bottom edges excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// The first column.
    pub left: i32,
    /// The first row.
    pub top: i32,
    /// The column after the last.
    pub right: i32,
    /// The row after the last.
    pub bottom: i32,
}

impl PixelRect {
    fn of_area<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
        area: &DrawingArea<DB, CT>,
    ) -> PixelRect {
        let (x, y) = area.get_pixel_range();
        PixelRect {
            left: x.start,
            top: y.start,
            right: x.end,
            bottom: y.end,
        }
    }

    /// Whether the pixel `(x, y)` is inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.left && x < self.right && y >= self.top && y < self.bottom
    }
}

/// Where a drawn chart put its parts, in pixels of the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// The plot areas, one per panel, from the top: every line is drawn
    /// inside one of them.
    pub plots: Vec<PixelRect>,
    /// The legend boxes drawn beside or over the plot (their line samples
    /// have the lines' colours).
    pub legends: Vec<PixelRect>,
}

/// The sizes of a chart, scaled to its image (see the module doc).
#[derive(Debug, Clone, Copy)]
struct Look {
    scale: f64,
    surface: Surface,
}

impl Look {
    fn of<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, surface: Surface) -> Look {
        let (w, h) = root.dim_in_pixel();
        let (bw, bh) = DEFAULT_SIZE;
        let scale = (f64::from(w) / f64::from(bw)).min(f64::from(h) / f64::from(bh));
        Look {
            scale: scale.clamp(0.1, 16.0),
            surface,
        }
    }

    /// A length of the 1024 x 640 layout (margins, label areas, offsets).
    fn px(&self, base: u32) -> u32 {
        ((f64::from(base) * self.scale).round() as u32).max(1)
    }

    /// A signed offset of the 1024 x 640 layout.
    fn off(&self, base: i32) -> i32 {
        (f64::from(base) * self.scale).round() as i32
    }

    /// A font size of the 1024 x 640 layout, 10 px at least.
    fn font(&self, base: u32) -> f64 {
        (f64::from(base) * self.scale).max(10.0)
    }

    /// A line width of the 1024 x 640 layout.
    fn width(&self, base: u32) -> u32 {
        self.px(base)
    }

    /// The pen of line `i` of many: its colour; past the palette, the
    /// colours again dashed, then dotted, then in long dashes.
    fn pen(&self, i: usize, width: u32) -> Pen {
        let dash = match (i / COLORS.len()) % 4 {
            0 => None,
            1 => Some((12, 7)),
            2 => Some((3, 5)),
            _ => Some((24, 5)),
        };
        Pen {
            color: color(i),
            width: self.width(width),
            dash: dash.map(|(on, off)| (self.px(on), self.px(off))),
        }
    }
}

/// How a line is drawn: colour, width in pixels, and an optional dash
/// pattern (dash, gap) in pixels.
#[derive(Debug, Clone, Copy)]
struct Pen {
    color: RGBColor,
    width: u32,
    dash: Option<(u32, u32)>,
}

impl Pen {
    fn solid(color: RGBColor, width: u32) -> Pen {
        Pen {
            color,
            width,
            dash: None,
        }
    }

    fn style(&self) -> ShapeStyle {
        self.color.stroke_width(self.width)
    }
}

/// The part of the segment `a`-`b` inside the rectangle (Liang-Barsky),
/// or `None`.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (l, t, r, bt): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - l),
        (dx, r - a.0),
        (-dy, a.1 - t),
        (dy, bt - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let u = q / p;
            if p < 0.0 {
                t0 = t0.max(u);
            } else {
                t1 = t1.min(u);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |u: f64| (a.0 + u * dx, a.1 + u * dy);
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
    ))
}

/// The runs of a polyline inside the rectangle: a run ends where the line
/// leaves it.
fn clip_polyline(points: &[(f64, f64)], rect: (f64, f64, f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut open = false;
    for w in points.windows(2) {
        let Some((a, b)) = clip_segment(w[0], w[1], rect) else {
            open = false;
            continue;
        };
        match runs.last_mut() {
            Some(run) if open && a == w[0] => run.push(b),
            _ => runs.push(vec![a, b]),
        }
        open = b == w[1];
    }
    runs
}

/// The dashes of a polyline: pieces `on` long, `off` apart.
fn dashes(run: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let dist = |a: (f64, f64), b: (f64, f64)| ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    let mut out = Vec::new();
    let Some(&first) = run.first() else {
        return out;
    };
    let mut cur = vec![first];
    let mut drawing = true;
    let mut left = on;
    for w in run.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        let mut len = dist(a, b);
        while len > left {
            let u = left / len;
            let m = (a.0 + u * (b.0 - a.0), a.1 + u * (b.1 - a.1));
            if drawing {
                cur.push(m);
                out.push(std::mem::take(&mut cur));
            } else {
                cur = vec![m];
            }
            drawing = !drawing;
            len -= left;
            left = if drawing { on } else { off };
            a = m;
        }
        left -= len;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Draws a line through `pixels` (image coordinates) on `root`, clipped to
/// `plot`, its points then moved in by half the pen's width where they are
/// closer to the edge (a line at zero runs along the axis, just above
/// it), so that no pixel of it falls outside `plot`.
fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    pixels: &[(i32, i32)],
    pen: Pen,
    plot: PixelRect,
    surface: Surface,
) -> Drawn<(), DB> {
    let inset = f64::from(pen.width.div_ceil(2));
    let (l, t, r, b) = (
        f64::from(plot.left),
        f64::from(plot.top),
        f64::from(plot.right - 1),
        f64::from(plot.bottom - 1),
    );
    if r - l < 2.0 * inset || b - t < 2.0 * inset {
        return Ok(());
    }
    let points: Vec<(f64, f64)> = pixels
        .iter()
        .map(|&(x, y)| (f64::from(x), f64::from(y)))
        .collect();
    // Clipped to the plot and the pixel around it (a value at the end of
    // an axis may map there), then moved in.
    let mut pieces = clip_polyline(&points, (l - 1.0, t - 1.0, r + 1.0, b + 1.0));
    // The area inside the inset is convex: a segment between two points
    // in it stays in it.
    for piece in &mut pieces {
        for p in piece.iter_mut() {
            *p = (
                p.0.clamp(l + inset, r - inset),
                p.1.clamp(t + inset, b - inset),
            );
        }
    }
    if let Some((on, off)) = pen.dash {
        pieces = pieces
            .iter()
            .flat_map(|run| dashes(run, f64::from(on), f64::from(off)))
            .collect();
    }
    let style = pen.style();
    for piece in pieces {
        let mut px: Vec<(i32, i32)> = piece
            .iter()
            .map(|&(x, y)| (x.round() as i32, y.round() as i32))
            .collect();
        px.dedup();
        if px.len() < 2 {
            continue;
        }
        if surface == Surface::Bitmap && pen.width > 1 {
            for w in px.windows(2) {
                root.draw(&PathElement::new(vec![w[0], w[1]], style))?;
            }
            if pen.width > 2 {
                for &p in &px[1..px.len() - 1] {
                    root.draw(&Circle::new(p, pen.width / 2, style.filled()))?;
                }
            }
        } else {
            root.draw(&PathElement::new(px, style))?;
        }
    }
    Ok(())
}

/// The chart of a plain 2D chart context.
type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a series of data points on a chart's plot area (see [`draw_line`]).
fn plot_line<'a, DB: DrawingBackend + 'a>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart2d<'a, DB>,
    points: &[(f64, f64)],
    pen: Pen,
    look: Look,
) -> Drawn<(), DB> {
    let pixels: Vec<(i32, i32)> = points.iter().map(|p| chart.backend_coord(p)).collect();
    let plot = PixelRect::of_area(chart.plotting_area());
    draw_line(root, &pixels, pen, plot, look.surface)
}

/// Draws filled circles of `radius` pixels at data points, moved in where
/// they would reach past the plot area (like the lines).
fn plot_markers<'a, DB: DrawingBackend + 'a>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart2d<'a, DB>,
    points: &[(f64, f64)],
    radius: u32,
    color: RGBColor,
) -> Drawn<(), DB> {
    let plot = PixelRect::of_area(chart.plotting_area());
    let r = radius as i32;
    if plot.right - plot.left <= 2 * r + 1 || plot.bottom - plot.top <= 2 * r + 1 {
        return Ok(());
    }
    for p in points {
        let (x, y) = chart.backend_coord(p);
        let at = (
            x.clamp(plot.left + r, plot.right - 1 - r),
            y.clamp(plot.top + r, plot.bottom - 1 - r),
        );
        root.draw(&Circle::new(at, radius, color.filled()))?;
    }
    Ok(())
}

/// A legend swatch: two strokes (touching when the line is solid).
type Swatch<DB> = ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, PathElement<(i32, i32)>>;

/// The swatch of a line in plotters' legend, dashed like the line.
fn swatch<DB: DrawingBackend>((x, y): (i32, i32), pen: Pen, look: Look) -> Swatch<DB> {
    let len = look.off(30);
    let half = len / 2;
    let gap = if pen.dash.is_some() { len / 6 } else { 0 };
    EmptyElement::at((x, y))
        + PathElement::new(vec![(0, 0), (half - gap, 0)], pen.style())
        + PathElement::new(vec![(half + gap, 0), (len, 0)], pen.style())
}

/// Registers a line drawn by [`plot_line`] in plotters' legend.
fn legend_entry<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    label: String,
    pen: Pen,
    look: Look,
) -> Drawn<(), DB> {
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label(label)
        .legend(move |c| swatch::<DB>(c, pen, look));
    Ok(())
}

/// Draws plotters' legend of a chart in the corner `position`.
fn plotters_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    look: Look,
) -> Drawn<(), DB> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(look.px(15))
        .legend_area_size(look.px(40))
        .label_font((FONT, look.font(20)))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// `text` cut with an ellipsis to fit `width` pixels in `font`; a label
/// `name[pid]` keeps its pid (`a-long-na…[1234]`), and one ending in a
/// number its number (`pi… 1234`).
fn fit_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    font: &TextStyle,
    width: u32,
) -> Drawn<String, DB> {
    if root.estimate_text_size(text, font)?.0 <= width {
        return Ok(text.to_owned());
    }
    // What tells the lines apart is at the end: `[pid]`, or a number.
    let number_at = text
        .rfind(' ')
        .filter(|&i| text[i + 1..].bytes().all(|b| b.is_ascii_digit()));
    let (head, tail) = match text.rfind('[') {
        Some(i) if text.ends_with(']') && i > 0 => text.split_at(i),
        _ => match number_at {
            Some(i) if i + 1 < text.len() => text.split_at(i),
            _ => (text, ""),
        },
    };
    let mut chars: Vec<char> = head.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "\u{2026}" + tail;
        if root.estimate_text_size(&cut, font)?.0 <= width {
            return Ok(cut);
        }
    }
    Ok(String::new())
}

/// A legend of many lines: its entries and how it is laid out.
struct Legend {
    entries: Vec<(String, Pen)>,
    /// Some labels did not fit and were cut.
    cut: bool,
    columns: usize,
    column_width: u32,
    row_height: u32,
    font_size: f64,
    look: Look,
}

impl Legend {
    /// Space around the entries and between swatch and text.
    fn pad(&self) -> u32 {
        self.look.px(8)
    }

    fn swatch(&self) -> u32 {
        self.look.px(30)
    }

    fn rows(&self) -> usize {
        self.entries.len().div_ceil(self.columns.max(1))
    }

    fn size(&self) -> (u32, u32) {
        (
            self.columns as u32 * self.column_width + 2 * self.pad(),
            self.rows() as u32 * self.row_height + 2 * self.pad(),
        )
    }

    /// Lays the entries out in columns of at most `max_height` pixels and
    /// at most `max_width` pixels in all, cutting labels that do not fit.
    fn layout<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        entries: Vec<(String, Pen)>,
        look: Look,
        font_size: f64,
        (max_width, max_height): (u32, u32),
    ) -> Drawn<Legend, DB> {
        let font: TextStyle = (FONT, font_size).into();
        let mut widest = 0;
        for (label, _) in &entries {
            widest = widest.max(root.estimate_text_size(label, &font)?.0);
        }
        let mut legend = Legend {
            entries,
            cut: false,
            columns: 1,
            column_width: 0,
            row_height: (font_size * 1.35).ceil() as u32,
            font_size,
            look,
        };
        let pad = legend.pad();
        let fit_rows = (max_height.saturating_sub(2 * pad) / legend.row_height).max(1) as usize;
        legend.columns = legend.entries.len().div_ceil(fit_rows).max(1);
        let room = (max_width.saturating_sub(2 * pad) / legend.columns as u32)
            .saturating_sub(legend.swatch() + 3 * pad);
        let text_width = widest.min(room);
        legend.cut = text_width < widest;
        legend.column_width = legend.swatch() + 3 * pad + text_width;
        for (label, _) in &mut legend.entries {
            *label = fit_text(root, label, &font, text_width)?;
        }
        Ok(legend)
    }

    /// Draws the legend with its top left corner at `at`; returns its box.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        at: (i32, i32),
    ) -> Drawn<PixelRect, DB> {
        let (w, h) = self.size();
        let rect = PixelRect {
            left: at.0,
            top: at.1,
            right: at.0 + w as i32,
            bottom: at.1 + h as i32,
        };
        let corners = [(rect.left, rect.top), (rect.right - 1, rect.bottom - 1)];
        root.draw(&Rectangle::new(corners, WHITE.mix(0.85).filled()))?;
        root.draw(&Rectangle::new(corners, BLACK.stroke_width(1)))?;
        let pad = self.pad() as i32;
        let font = TextStyle::from((FONT, self.font_size))
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let rows = self.rows().max(1);
        for (i, (label, pen)) in self.entries.iter().enumerate() {
            let x = rect.left + pad + (i / rows) as i32 * self.column_width as i32;
            let y = rect.top
                + pad
                + (i % rows) as i32 * self.row_height as i32
                + self.row_height as i32 / 2;
            let end = x + self.swatch() as i32;
            draw_line(root, &[(x, y), (end, y)], *pen, rect, self.look.surface)?;
            root.draw(&Text::new(label.as_str(), (end + pad, y), font.clone()))?;
        }
        Ok(rect)
    }
}

/// Draws the caption at the top of `root`, centred, with room around it
/// at any size; returns the area below it.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    look: Look,
) -> Drawn<DrawingArea<DB, Shift>, DB> {
    let font = TextStyle::from((FONT, look.font(30)))
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let (w, _) = root.dim_in_pixel();
    let (_, text_h) = root.estimate_text_size(title, &font)?;
    let height = (f64::from(text_h) * 1.6).ceil() as u32 + look.px(8);
    let (top, body) = root.split_vertically(height);
    top.draw(&Text::new(
        title,
        ((w / 2) as i32, (height / 2) as i32),
        font,
    ))?;
    Ok(body)
}

/// The height of an x label area: tick labels and the axis description.
fn x_label_area(look: Look) -> u32 {
    (look.font(20) * 1.4 + look.font(22) * 1.6).ceil() as u32
}

/// The width of a y label area whose widest tick label is `widest`.
fn y_label_area<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    look: Look,
    widest: &str,
) -> Drawn<u32, DB> {
    let (w, _) = root.estimate_text_size(widest, &(FONT, look.font(20)).into())?;
    Ok(w + (look.font(22) * 1.7).ceil() as u32 + look.px(14))
}

/// About how many tick labels fit along a plot area's axes: as many as
/// plotters' default ten on the 1024 x 640 layout, fewer on narrow or
/// short images so that labels do not run into each other.
fn tick_counts<'a, DB: DrawingBackend + 'a>(chart: &Chart2d<'a, DB>, look: Look) -> (usize, usize) {
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let font = look.font(20);
    let x = (f64::from(w) / (font * 3.9)).round() as usize;
    let y = (f64::from(h) / (font * 2.2)).round() as usize;
    (x.clamp(2, 12), y.clamp(2, 12))
}

/// Lines of a time chart up to which the legend goes in the plot (above
/// that, beside it).
const LEGEND_INSIDE_MAX: usize = 6;

/// Draws lines against time with a legend; shared by the two time charts.
fn time_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    y_desc: &str,
    series: &[Series],
) -> Drawn<Layout, DB> {
    root.fill(&WHITE)?;
    let x_top = axis_top(max_of(series, |p| p.0));
    let y_top = axis_top(max_of(series, |p| p.1));
    let body = titled(root, title, look)?;
    let (width, height) = body.dim_in_pixel();
    let entries: Vec<(String, Pen)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.label.clone(), look.pen(i, 3)))
        .collect();
    let margin = look.px(20);
    let inside = series.len() <= LEGEND_INSIDE_MAX;
    let legend = if inside {
        let room = (width * 6 / 10, height * 6 / 10);
        Legend::layout(root, entries, look, look.font(20), room)?
    } else {
        // Smaller text before cut labels.
        let room = (width * 35 / 100, height.saturating_sub(2 * margin));
        let mut legend = Legend::layout(root, entries.clone(), look, look.font(17), room)?;
        for size in [15, 13, 11] {
            if !legend.cut || look.font(size) >= legend.font_size {
                break;
            }
            legend = Legend::layout(root, entries.clone(), look, look.font(size), room)?;
        }
        legend
    };
    let (chart_area, beside) = if inside {
        (body.clone(), None)
    } else {
        let split = width.saturating_sub(legend.size().0 + margin);
        let (left, right) = body.split_horizontally(split);
        (left, Some(right))
    };
    let mut chart = ChartBuilder::on(&chart_area)
        .margin(margin)
        .x_label_area_size(x_label_area(look))
        .y_label_area_size(y_label_area(root, look, &count_label(&y_top))?)
        .build_cartesian_2d(0f64..x_top, 0f64..y_top)?;
    let (x_ticks, y_ticks) = tick_counts(&chart, look);
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .x_desc("time since the first sample (s)")
        .y_desc(y_desc)
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .y_label_formatter(&count_label)
        .draw()?;
    for (s, (_, pen)) in series.iter().zip(&legend.entries) {
        plot_line(root, &chart, &s.points, *pen, look)?;
    }
    let plot = PixelRect::of_area(chart.plotting_area());
    let at = match &beside {
        None => (plot.left + look.off(12), plot.top + look.off(12)),
        Some(area) => (
            area.get_base_pixel().0,
            body.get_base_pixel().1 + margin as i32,
        ),
    };
    let legend = legend.draw(root, at)?;
    Ok(Layout {
        plots: vec![plot],
        legends: vec![legend],
    })
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend.
    pub label: String,
    /// `(x, y)` points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// A chart and the model it draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Accumulated faults (minor + major) against seconds, one line per series.
    Accumulated {
        /// The caption.
        title: String,
        /// The curves.
        series: Vec<Series>,
    },
    /// Total CPU utilization (percent of one CPU) against the degree of
    /// multiprogramming N.
    Utilization {
        /// The caption.
        title: String,
        /// `(N, utilization in percent)`, by increasing N.
        points: Vec<(u32, f64)>,
        /// CPUs of the machine: drawn as the ceiling (`cpus * 100 %`).
        cpus: Option<u32>,
    },
    /// Fault rates (faults per second) against seconds, one line per process.
    Rates {
        /// The caption.
        title: String,
        /// The curves.
        series: Vec<Series>,
    },
    /// Memory (MiB, left axis) against seconds, with the major-fault rate
    /// on a second axis (right) and the RAM as a line.
    Memory {
        /// The caption.
        title: String,
        /// Memory curves in MiB (resident, swapped out, ...).
        memory: Vec<Series>,
        /// Major faults per second.
        major_rate: Series,
        /// The machine's RAM in MiB, drawn as a line.
        ram_mib: Option<f64>,
    },
    /// Case study 2 with memory, two panels over the degree of
    /// multiprogramming N: total CPU utilization above, the peaks of the
    /// summed memory below, with the RAM as a line.
    UtilizationMemory {
        /// The caption.
        title: String,
        /// One point per N, by increasing N.
        points: Vec<NPoint>,
        /// CPUs of the machine: drawn as the utilization's ceiling.
        cpus: Option<u32>,
        /// The machine's RAM in MiB, drawn as a line in the memory panel.
        ram_mib: Option<f64>,
    },
}

/// One degree of multiprogramming of [`Chart::UtilizationMemory`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NPoint {
    /// The degree of multiprogramming.
    pub n: u32,
    /// Total CPU utilization, in percent of one CPU.
    pub utilization: f64,
    /// The peak of the summed resident memory, in MiB.
    pub rss_mib: f64,
    /// The peak of the summed swapped-out memory, in MiB.
    pub swap_mib: f64,
    /// The peak of the summed resident plus swapped-out memory, in MiB.
    pub rss_swap_mib: f64,
}

/// The upper end of an axis holding `max`, with some room above.
fn axis_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

fn max_of(series: &[Series], f: impl Fn(&(f64, f64)) -> f64) -> f64 {
    series
        .iter()
        .flat_map(|s| s.points.iter())
        .map(f)
        .fold(0.0, f64::max)
}

/// Axis labels of counts: `12,345`.
fn count_label(v: &f64) -> String {
    text::thousands(v.max(0.0).round() as u64)
}

/// Case study 1: accumulated page faults against time.
fn accumulated_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    series: &[Series],
) -> Drawn<Layout, DB> {
    let layout = time_lines(
        &root,
        look,
        title,
        "accumulated page faults (minor + major)",
        series,
    )?;
    root.present()?;
    Ok(layout)
}

/// A per-process fault-rate timeline.
fn rates_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    series: &[Series],
) -> Drawn<Layout, DB> {
    let layout = time_lines(&root, look, title, "page faults per second", series)?;
    root.present()?;
    Ok(layout)
}

/// Case study 2: CPU utilization against the degree of multiprogramming.
fn utilization_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    points: &[(u32, f64)],
    cpus: Option<u32>,
) -> Drawn<Layout, DB> {
    root.fill(&WHITE)?;
    let x_top = f64::from(points.iter().map(|p| p.0).max().unwrap_or(1)) + 2.0;
    let ceiling = cpus.map(|c| f64::from(c) * 100.0);
    let y_max = points
        .iter()
        .map(|p| p.1)
        .chain(ceiling)
        .fold(0.0, f64::max);
    let body = titled(&root, title, look)?;
    let y_widest = format!("{:.0}%", axis_top(y_max));
    let mut chart = ChartBuilder::on(&body)
        .margin(look.px(20))
        .x_label_area_size(x_label_area(look))
        .y_label_area_size(y_label_area(&root, look, &y_widest)?)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(y_max))?;
    let (x_ticks, y_ticks) = tick_counts(&chart, look);
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .x_desc("degree of multiprogramming N (concurrent work processes)")
        .y_desc("CPU utilization (% of one CPU)")
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .draw()?;
    let xy: Vec<(f64, f64)> = points.iter().map(|&(n, u)| (f64::from(n), u)).collect();
    utilization_series(
        &root,
        &mut chart,
        look,
        &xy,
        ceiling.zip(cpus),
        x_top,
        |x, y| format!("N={x:.0}: {y:.1}%"),
    )?;
    let plots = vec![PixelRect::of_area(chart.plotting_area())];
    root.present()?;
    Ok(Layout {
        plots,
        legends: Vec::new(),
    })
}

/// The utilization series of a chart against N: the ceiling of all CPUs
/// busy (`ceiling`: the line's height and the CPUs), the utilization line,
/// each point with its value above it (`label` gives the text; kept inside
/// the plot), and the legend.
fn utilization_series<'a, DB: DrawingBackend + 'a>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut Chart2d<'a, DB>,
    look: Look,
    xy: &[(f64, f64)],
    ceiling: Option<(f64, u32)>,
    x_top: f64,
    label: impl Fn(f64, f64) -> String,
) -> Drawn<(), DB> {
    if let Some((c, cpus)) = ceiling {
        let grey = Pen::solid(RGBColor(127, 127, 127), look.width(2));
        plot_line(root, chart, &[(0.0, c), (x_top, c)], grey, look)?;
        legend_entry(chart, format!("{cpus} CPUs fully busy"), grey, look)?;
    }
    let pen = Pen::solid(color(0), look.width(3));
    plot_line(root, chart, xy, pen, look)?;
    legend_entry(chart, "total CPU utilization".to_owned(), pen, look)?;
    // Each point with its value just above it.
    plot_markers(root, chart, xy, look.px(7), pen.color)?;
    let font = TextStyle::from((FONT, look.font(20)))
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    let plot = PixelRect::of_area(chart.plotting_area());
    for &(x, y) in xy {
        let text = label(x, y);
        let (w, h) = root.estimate_text_size(&text, &font)?;
        let (px, py) = chart.backend_coord(&(x, y));
        let half = (w / 2) as i32 + look.off(4);
        let at = (
            px.clamp(plot.left + half, (plot.right - half).max(plot.left + half)),
            (py - look.off(14)).max(plot.top + h as i32),
        );
        root.draw(&Text::new(text, at, font.clone()))?;
    }
    plotters_legend(chart, SeriesLabelPosition::LowerRight, look)
}

/// Memory against time (MiB, left axis) with the major-fault rate (right
/// axis): the memory chart of a per-process recording, and, with the RAM
/// as a line, where it no longer fits.
fn memory_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    memory: &[Series],
    major_rate: &Series,
    ram_mib: Option<f64>,
) -> Drawn<Layout, DB> {
    root.fill(&WHITE)?;
    let all_x = memory.iter().chain([major_rate]);
    let x_top = axis_top(
        all_x
            .flat_map(|s| s.points.iter())
            .map(|p| p.0)
            .fold(0.0, f64::max),
    );
    // Room above the lines for the legend.
    let y_top = axis_top(max_of(memory, |p| p.1).max(ram_mib.unwrap_or(0.0))) * 1.5;
    let r_top = axis_top(max_of(std::slice::from_ref(major_rate), |p| p.1)) * 1.5;
    let body = titled(&root, title, look)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(look.px(20))
        .x_label_area_size(x_label_area(look))
        .y_label_area_size(y_label_area(&root, look, &count_label(&y_top))?)
        .right_y_label_area_size(y_label_area(&root, look, &count_label(&r_top))?)
        .build_cartesian_2d(0f64..x_top, 0f64..y_top)?
        .set_secondary_coord(0f64..x_top, 0f64..r_top);
    let (x_ticks, y_ticks) = tick_counts(&chart, look);
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .x_desc("time since the first sample (s)")
        .y_desc("memory (MiB)")
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .y_label_formatter(&count_label)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("major faults per second")
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .y_label_formatter(&count_label)
        .draw()?;
    let primary: &mut Chart2d<DB> = &mut chart;
    if let Some(ram) = ram_mib {
        let pen = Pen::solid(BLACK, look.width(2));
        plot_line(&root, primary, &[(0.0, ram), (x_top, ram)], pen, look)?;
        legend_entry(
            primary,
            format!("RAM ({} MiB)", count_label(&ram)),
            pen,
            look,
        )?;
    }
    // The first two solid, the others (sums of them) dashed on top, so
    // that a sum equal to one of its parts leaves both visible.
    for (i, s) in memory.iter().enumerate() {
        let mut pen = Pen::solid(color(i), look.width(3));
        if i >= 2 {
            pen.dash = Some((look.px(10), look.px(8)));
        }
        plot_line(&root, primary, &s.points, pen, look)?;
        legend_entry(primary, s.label.clone(), pen, look)?;
    }
    let pen = Pen::solid(color(4), look.width(1));
    plot_line(
        &root,
        chart.borrow_secondary(),
        &major_rate.points,
        pen,
        look,
    )?;
    chart
        .draw_secondary_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label(format!("{} (right axis)", major_rate.label))
        .legend(move |c| swatch::<DB>(c, pen, look));
    let plots = vec![PixelRect::of_area(chart.plotting_area())];
    plotters_legend(&mut chart, SeriesLabelPosition::UpperLeft, look)?;
    root.present()?;
    Ok(Layout {
        plots,
        legends: Vec::new(),
    })
}

/// Case study 2 with memory, in two panels over the same N axis: the
/// utilization above, the peaks of the summed memory below with the RAM as
/// a line.
fn utilization_memory_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    look: Look,
    title: &str,
    points: &[NPoint],
    cpus: Option<u32>,
    ram_mib: Option<f64>,
) -> Drawn<Layout, DB> {
    root.fill(&WHITE)?;
    let area = titled(&root, title, look)?;
    let (_, height) = area.dim_in_pixel();
    let (upper, lower) = area.split_vertically(height * 9 / 20);
    let x_top = f64::from(points.iter().map(|p| p.n).max().unwrap_or(1)) + 2.0;
    let xs: Vec<f64> = points.iter().map(|p| f64::from(p.n)).collect();
    let n_label = |v: &f64| format!("{v:.0}");
    let mut plots = Vec::new();

    let m_max = points
        .iter()
        .flat_map(|p| [p.rss_mib, p.rss_swap_mib])
        .chain(ram_mib)
        .fold(0.0, f64::max);

    // Above: the utilization, each point with its value.
    let ceiling = cpus.map(|c| f64::from(c) * 100.0);
    let u_max = points
        .iter()
        .map(|p| p.utilization)
        .chain(ceiling)
        .fold(0.0, f64::max);
    let y_area = y_label_area(&root, look, &count_label(&(axis_top(m_max) * 1.4)))?;
    let mut chart = ChartBuilder::on(&upper)
        .margin(look.px(20))
        .x_label_area_size((look.font(20) * 1.8).ceil() as u32)
        .y_label_area_size(y_area)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(u_max) * 1.1)?;
    let (x_ticks, y_ticks) = tick_counts(&chart, look);
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .y_desc("CPU utilization (% of one CPU)")
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .x_label_formatter(&n_label)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .draw()?;
    let xy: Vec<(f64, f64)> = xs
        .iter()
        .copied()
        .zip(points.iter().map(|p| p.utilization))
        .collect();
    utilization_series(
        &root,
        &mut chart,
        look,
        &xy,
        ceiling.zip(cpus),
        x_top,
        |_, y| format!("{y:.1}%"),
    )?;
    plots.push(PixelRect::of_area(chart.plotting_area()));

    // Below: the memory against the RAM.
    let mut chart = ChartBuilder::on(&lower)
        .margin(look.px(20))
        .x_label_area_size(x_label_area(look))
        .y_label_area_size(y_area)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(m_max) * 1.4)?;
    let (x_ticks, y_ticks) = tick_counts(&chart, look);
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .x_desc("degree of multiprogramming N (concurrent work processes)")
        .y_desc("peak summed memory (MiB)")
        .label_style((FONT, look.font(20)))
        .axis_desc_style((FONT, look.font(22)))
        .x_label_formatter(&n_label)
        .y_label_formatter(&count_label)
        .draw()?;
    if let Some(ram) = ram_mib {
        let pen = Pen::solid(BLACK, look.width(2));
        plot_line(&root, &chart, &[(0.0, ram), (x_top, ram)], pen, look)?;
        legend_entry(
            &mut chart,
            format!("RAM ({} MiB)", count_label(&ram)),
            pen,
            look,
        )?;
    }
    // RSS + swap wide, RSS narrow on top of it: where nothing is swapped
    // out they are equal, and both show.
    let lines = [
        (
            "RSS + swap",
            3,
            7,
            points.iter().map(|p| p.rss_swap_mib).collect::<Vec<_>>(),
        ),
        ("RSS", 1, 3, points.iter().map(|p| p.rss_mib).collect()),
        ("swap", 2, 3, points.iter().map(|p| p.swap_mib).collect()),
    ];
    for (label, i, width, ys) in lines {
        let pen = Pen::solid(color(i), look.width(width));
        let xy: Vec<(f64, f64)> = xs.iter().copied().zip(ys).collect();
        plot_line(&root, &chart, &xy, pen, look)?;
        legend_entry(&mut chart, format!("peak summed {label}"), pen, look)?;
        plot_markers(&root, &chart, &xy, look.px(width + 2), pen.color)?;
    }
    // The values where something is swapped out.
    chart.draw_series(points.iter().filter(|p| p.swap_mib > 0.0).map(|p| {
        EmptyElement::at((f64::from(p.n), p.rss_swap_mib))
            + Text::new(
                format!(
                    "RSS {} + swap {} MiB",
                    count_label(&p.rss_mib),
                    count_label(&p.swap_mib)
                ),
                (look.off(-250), look.off(-32)),
                (FONT, look.font(20)).into_font().color(&BLACK),
            )
    }))?;
    plots.push(PixelRect::of_area(chart.plotting_area()));
    plotters_legend(&mut chart, SeriesLabelPosition::UpperLeft, look)?;
    root.present()?;
    Ok(Layout {
        plots,
        legends: Vec::new(),
    })
}

/// The output formats, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `.png`
    Png,
    /// `.svg`
    Svg,
}

impl ImageFormat {
    /// The format a path's extension names.
    pub fn of(path: &Path) -> Result<ImageFormat> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("png") => Ok(ImageFormat::Png),
            Some(e) if e.eq_ignore_ascii_case("svg") => Ok(ImageFormat::Svg),
            _ => Err(ChartError::Extension(path.to_owned())),
        }
    }
}

/// An I/O error in plain words: `Permission denied`, without the
/// `(os error 13)` that `io::Error` appends.
pub fn plain_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

impl Chart {
    /// Draws the chart on a drawing area and presents it; returns where
    /// its parts went.
    pub fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
        surface: Surface,
    ) -> Result<Layout> {
        ensure_font()?;
        let look = Look::of(&root, surface);
        match self {
            Chart::Accumulated { title, series } => accumulated_chart(root, look, title, series),
            Chart::Rates { title, series } => rates_chart(root, look, title, series),
            Chart::Utilization {
                title,
                points,
                cpus,
            } => utilization_chart(root, look, title, points, *cpus),
            Chart::Memory {
                title,
                memory,
                major_rate,
                ram_mib,
            } => memory_chart(root, look, title, memory, major_rate, *ram_mib),
            Chart::UtilizationMemory {
                title,
                points,
                cpus,
                ram_mib,
            } => utilization_memory_chart(root, look, title, points, *cpus, *ram_mib),
        }
        .map_err(drawing)
    }

    /// The chart's pixels, RGB, row by row, with its layout.
    pub fn rgb(&self, (w, h): (u32, u32)) -> Result<(Vec<u8>, Layout)> {
        let mut pixels = vec![0u8; w as usize * h as usize * 3];
        let layout = self.draw(
            BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area(),
            Surface::Bitmap,
        )?;
        Ok((pixels, layout))
    }

    /// The chart as a PNG file's bytes.
    pub fn png(&self, size: (u32, u32)) -> Result<Vec<u8>> {
        let (pixels, _) = self.rgb(size)?;
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Charts are mostly flat colour: the best compression with a
        // filter chosen per row keeps them small (as small as plotters'
        // own encoder made them).
        encoder.set_compression(png::Compression::Best);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&pixels))
            .map_err(|e| ChartError::Drawing(format!("encoding the PNG: {e}")))?;
        Ok(bytes)
    }

    /// The chart as SVG text.
    pub fn svg(&self, size: (u32, u32)) -> Result<String> {
        let mut text = String::new();
        self.draw(
            SVGBackend::with_string(&mut text, size).into_drawing_area(),
            Surface::Vector,
        )?;
        Ok(text)
    }

    /// Writes the chart to `path`, PNG or SVG by its extension. The file's
    /// directory must exist (none is created).
    pub fn save(&self, path: &Path, size: (u32, u32)) -> Result<()> {
        let bytes = match ImageFormat::of(path)? {
            ImageFormat::Png => self.png(size)?,
            ImageFormat::Svg => self.svg(size)?.into_bytes(),
        };
        std::fs::write(path, bytes).map_err(|e| ChartError::File {
            path: path.to_owned(),
            message: plain_io_error(&e),
        })
    }

    /// The chart with its rate lines smoothed by a trailing moving average
    /// over `window` ([`analysis::moving_average`]), the window stated in
    /// the caption (rates) or the line's label (the memory chart's major
    /// faults); the other charts are returned as they are.
    pub fn smoothed(self, window: Window) -> Chart {
        let smooth = |points: &[(f64, f64)]| analysis::moving_average(points, window);
        match self {
            Chart::Rates { title, series } => Chart::Rates {
                title: format!("{title} (moving average over {window})"),
                series: series
                    .into_iter()
                    .map(|s| Series {
                        points: smooth(&s.points),
                        label: s.label,
                    })
                    .collect(),
            },
            Chart::Memory {
                title,
                memory,
                major_rate,
                ram_mib,
            } => Chart::Memory {
                title,
                memory,
                major_rate: Series {
                    label: format!("{}, moving average over {window}", major_rate.label),
                    points: smooth(&major_rate.points),
                },
                ram_mib,
            },
            other => other,
        }
    }
}

/// The PNG file signature.
pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Checks that a file is a PNG (signature, then the IHDR chunk) or an SVG
/// document, by its extension; returns the problem otherwise.
pub fn check_image(path: &Path) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ok = match ImageFormat::of(path).map_err(|e| e.to_string())? {
        ImageFormat::Png => bytes.starts_with(PNG_SIGNATURE) && bytes.get(12..16) == Some(b"IHDR"),
        ImageFormat::Svg => {
            let text = String::from_utf8_lossy(&bytes);
            text.contains("<svg") && text.trim_end().ends_with("</svg>")
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{}: not a valid image", path.display()))
    }
}

/// Converts integer points for a [`Series`].
pub fn series_of(label: impl Into<String>, points: &[(f64, u64)]) -> Series {
    Series {
        label: label.into(),
        points: points.iter().map(|&(x, y)| (x, y as f64)).collect(),
    }
}

/// The label of a process of a recording: `work[1234]` when the header
/// names its command, `pid 1234` otherwise; the processes summed by
/// [`analysis::select_processes`] are labelled by their entry in
/// `commands` (e.g. `other (5 processes)`), or `other processes`.
pub fn process_label(pid: i32, commands: &std::collections::BTreeMap<i32, String>) -> String {
    match commands.get(&pid) {
        Some(name) if pid == analysis::OTHER_PID => name.clone(),
        None if pid == analysis::OTHER_PID => "other processes".to_owned(),
        Some(name) => format!("{name}[{pid}]"),
        None => format!("pid {pid}"),
    }
}

/// The lines of each process by pid, the processes summed as "other"
/// ([`analysis::OTHER_PID`]) last.
fn others_last<T>(by_pid: std::collections::BTreeMap<i32, T>) -> Vec<(i32, T)> {
    let (mut lines, others): (Vec<_>, Vec<_>) = by_pid
        .into_iter()
        .partition(|(pid, _)| *pid != analysis::OTHER_PID);
    lines.extend(others);
    lines
}

/// The accumulated-faults chart of some profiles: for each, its total; for
/// a per-process recording, also one line per process. With more than one
/// profile, each line's label starts with its profile's.
pub fn accumulated_of(title: &str, inputs: &[(String, Profile, u32)]) -> Chart {
    let mut series = Vec::new();
    let one = inputs.len() == 1;
    for (label, p, hz) in inputs {
        let total = analysis::accumulated_faults(&p.totals(), *hz);
        let by_pid = analysis::accumulated_by_pid(&p.records, *hz);
        let named = |what: String| {
            if one {
                what
            } else {
                format!("{label}: {what}")
            }
        };
        if by_pid.is_empty() {
            series.push(series_of(label.as_str(), &total));
        } else {
            series.push(series_of(named("all processes".to_owned()), &total));
            for (pid, points) in others_last(by_pid) {
                let name = process_label(pid, &p.header.commands);
                series.push(series_of(named(name), &points));
            }
        }
    }
    Chart::Accumulated {
        title: title.to_owned(),
        series,
    }
}

/// The fault-rate timeline of a per-process recording.
pub fn rates_of(title: &str, p: &Profile, hz: u32) -> Chart {
    let series = others_last(analysis::fault_rates(&p.records, hz, p.header.period_us))
        .into_iter()
        .map(|(pid, points)| Series {
            label: process_label(pid, &p.header.commands),
            points,
        })
        .collect();
    Chart::Rates {
        title: title.to_owned(),
        series,
    }
}

/// The memory chart of a per-process recording: the resident memory (all,
/// and anonymous) and the swapped-out memory summed over its processes (its
/// totals records), with their major-fault rate; `None` if its records
/// carry no memory (recorded before pfprof 0.2, or without
/// `--per-process`).
pub fn memory_of(title: &str, p: &Profile, hz: u32, ram_mib: Option<f64>) -> Option<Chart> {
    let timeline = analysis::memory_timeline(&p.records, hz);
    if timeline.is_empty() {
        return None;
    }
    let line = |label: &str, f: &dyn Fn(&crate::Memory) -> u64| Series {
        label: label.to_owned(),
        points: timeline
            .iter()
            .map(|(t, m)| (*t, analysis::mib(f(m))))
            .collect(),
    };
    Some(Chart::Memory {
        title: title.to_owned(),
        memory: vec![
            line("resident (RSS: anon + file + shmem)", &|m| m.rss_bytes()),
            line("swapped out", &|m| m.swap_bytes),
            line("resident + swapped out", &|m| {
                m.rss_bytes().saturating_add(m.swap_bytes)
            }),
        ],
        major_rate: Series {
            label: "major faults/s".to_owned(),
            points: analysis::major_fault_rate(&p.records, hz, p.header.period_us),
        },
        ram_mib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_runs() -> Vec<(String, Profile, u32)> {
        let r = Profile::parse(
            "# pfprof hz=1000 period_us=50000\n\
             1000 100 0 40000000\n1050 80 2 50000000\n1100 60 0 50000000\n"
                .as_bytes(),
        )
        .unwrap();
        let l = Profile::parse(
            "# pfprof hz=1000\n1000 30 0 40000000\n1050 10 0 50000000\n1100 5 0 50000000\n"
                .as_bytes(),
        )
        .unwrap();
        vec![("R pair".into(), r, 1000), ("L pair".into(), l, 1000)]
    }

    /// The y values of an SVG polyline, in order.
    fn polyline_points(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline")
            .skip(1)
            .filter_map(|chunk| {
                let start = chunk.find("points=\"")? + 8;
                let end = start + chunk[start..].find('"')?;
                Some(
                    chunk[start..end]
                        .split_whitespace()
                        .filter_map(|xy| {
                            let (x, y) = xy.split_once(',')?;
                            Some((x.parse().ok()?, y.parse().ok()?))
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn accumulated_svg_has_labels_legend_and_rising_curves() {
        let chart = accumulated_of("Case study 1", &two_runs());
        let svg = chart.svg(DEFAULT_SIZE).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "Case study 1",
            "time since the first sample (s)",
            "accumulated page faults (minor + major)",
            "R pair",
            "L pair",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        let lines = polyline_points(&svg);
        let curves: Vec<_> = lines.iter().filter(|l| l.len() == 3).collect();
        assert_eq!(curves.len(), 2, "{lines:?}");
        for c in curves {
            // SVG y grows downwards: a rising curve has falling y.
            assert!(
                c.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 <= w[0].1),
                "{c:?}"
            );
        }
    }

    #[test]
    fn per_process_recordings_get_a_line_per_process() {
        let p = Profile::parse(
            "# pfprof hz=250 period_us=50000\n\
             100 0 10 0 1\n100 7 4 0 1\n100 8 6 0 0\n112 0 3 0 1\n112 7 3 0 1\n"
                .as_bytes(),
        )
        .unwrap();
        let labels = |inputs: &[(String, Profile, u32)]| {
            let Chart::Accumulated { series, .. } = accumulated_of("x", inputs) else {
                panic!()
            };
            series.iter().map(|s| s.label.clone()).collect::<Vec<_>>()
        };
        // One recording: the processes, not the file name repeated.
        let one = [("R".into(), p.clone(), 250)];
        assert_eq!(labels(&one), ["all processes", "pid 7", "pid 8"]);
        let Chart::Accumulated { series, .. } = accumulated_of("x", &one) else {
            panic!()
        };
        assert_eq!(series[0].points, [(0.0, 10.0), (0.048, 13.0)]);
        // Several: each line says which.
        let two = [one[0].clone(), ("L".into(), p.clone(), 250)];
        assert_eq!(labels(&two)[..2], ["R: all processes", "R: pid 7"]);
        assert_eq!(labels(&two)[3], "L: all processes");
        let svg = rates_of("rates", &p, 250).svg((800, 500)).unwrap();
        assert!(svg.contains("page faults per second"));
        assert!(svg.contains("pid 7") && svg.contains("pid 8"));
        // The command names of the header, and "other" last.
        let mut named = p.clone();
        named.header.commands.insert(7, "work".into());
        let (records, summed) = analysis::select_processes(
            &named.records,
            &analysis::Selection {
                pids: Vec::new(),
                top: Some(1),
            },
        );
        assert_eq!(summed, 1);
        named.records = records;
        named
            .header
            .commands
            .insert(analysis::OTHER_PID, "other (1 process)".into());
        assert_eq!(
            labels(&[("R".into(), named.clone(), 250)]),
            ["all processes", "work[7]", "other (1 process)"]
        );
        let Chart::Rates { series, .. } = rates_of("rates", &named, 250) else {
            panic!()
        };
        let rates: Vec<_> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(rates, ["work[7]", "other (1 process)"]);
    }

    #[test]
    fn smoothing_states_its_window_and_averages_the_rates() {
        let chart = Chart::Rates {
            title: "Rates".into(),
            series: vec![Series {
                label: "work[1]".into(),
                points: vec![(0.0, 0.0), (0.05, 100.0), (0.1, 0.0), (0.15, 100.0)],
            }],
        };
        let window = Window::Duration(std::time::Duration::from_millis(100));
        let Chart::Rates { title, series } = chart.smoothed(window) else {
            panic!()
        };
        assert_eq!(title, "Rates (moving average over 100ms)");
        assert_eq!(
            series[0].points,
            [(0.0, 0.0), (0.05, 50.0), (0.1, 50.0), (0.15, 50.0)]
        );
    }

    #[test]
    fn text_scales_with_the_image() {
        let chart = accumulated_of("Scaled", &two_runs());
        // plotters' SVG states sizes in its own unit (px / 1.24): compare.
        let title_size = |size| {
            let svg = chart.svg(size).unwrap();
            let at = svg.find("Scaled").unwrap();
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            let start = tag.find("font-size=\"").unwrap() + 11;
            let end = start + tag[start..].find('"').unwrap();
            tag[start..end].parse::<f64>().unwrap()
        };
        let base = title_size(DEFAULT_SIZE);
        let ratio = |size| (title_size(size) / base * 1000.0).round() / 1000.0;
        assert_eq!(ratio((2048, 1280)), 2.0);
        assert_eq!(ratio((512, 320)), 0.5);
        // The smaller ratio of width and height counts.
        assert_eq!(ratio((2048, 640)), 1.0);
        // Never below 10 px (a third of the title's 30).
        assert_eq!(ratio((200, 150)), 0.333);
    }

    #[test]
    fn twenty_colours_then_dashes() {
        for (i, a) in COLORS.iter().enumerate() {
            for b in &COLORS[i + 1..] {
                let d = [(a.0, b.0), (a.1, b.1), (a.2, b.2)]
                    .iter()
                    .map(|&(x, y)| (f64::from(x) - f64::from(y)).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(d > 60.0, "{a:?} and {b:?} are too close ({d:.0})");
            }
            // Dark enough to show on white.
            assert!(
                u32::from(a.0) + u32::from(a.1) + u32::from(a.2) < 600,
                "{a:?}"
            );
        }
        let series: Vec<Series> = (0..22)
            .map(|i| Series {
                label: format!("work[{}]", 100 + i),
                points: vec![(0.0, f64::from(i)), (10.0, f64::from(i) * 2.0)],
            })
            .collect();
        let svg = Chart::Rates {
            title: "22".into(),
            series,
        }
        .svg(DEFAULT_SIZE)
        .unwrap();
        let lines = polylines(&svg);
        let in_colour = |c: &RGBColor| {
            let stroke = format!("#{:02X}{:02X}{:02X} 3", c.0, c.1, c.2);
            lines.iter().filter(|l| l.0 == stroke).count()
        };
        // Lines 21 and 22 repeat the first two colours, dashed: many short
        // pieces (the line, its legend swatch) where a solid line has one.
        assert!(in_colour(&COLORS[0]) > 10, "{}", in_colour(&COLORS[0]));
        assert!(in_colour(&COLORS[1]) > 10);
        assert_eq!(in_colour(&COLORS[2]), 2);
        for i in 100..122 {
            assert!(svg.contains(&format!("work[{i}]")), "no label work[{i}]");
        }
        // Labels too long for the legend beside the plot are cut before
        // their pid.
        let series: Vec<Series> = (0..22)
            .map(|i| Series {
                label: format!(
                    "a-much-longer-command-name-than-a-legend-fits-{i}[{}]",
                    100 + i
                ),
                points: vec![(0.0, 1.0), (10.0, 2.0)],
            })
            .collect();
        let svg = Chart::Rates {
            title: "22".into(),
            series,
        }
        .svg((800, 500))
        .unwrap();
        assert!(svg.contains("\u{2026}[121]"), "{svg}");
        assert!(!svg.contains("-fits-21["));
    }

    #[test]
    fn lines_past_the_palette_are_dashed_then_dotted() {
        let look = Look {
            scale: 1.0,
            surface: Surface::Vector,
        };
        let dashes: Vec<_> = [0, 19, 20, 40, 60, 80].map(|i| look.pen(i, 3).dash).into();
        assert_eq!(
            dashes,
            [None, None, Some((12, 7)), Some((3, 5)), Some((24, 5)), None]
        );
        assert_eq!(look.pen(41, 3).color, COLORS[1]);
        let big = Look {
            scale: 2.0,
            surface: Surface::Bitmap,
        };
        assert_eq!(big.pen(20, 3).dash, Some((24, 14)));
        assert_eq!(big.pen(20, 3).width, 6);
    }

    #[test]
    fn clipping_keeps_lines_in_the_rectangle() {
        let rect = (10.0, 10.0, 20.0, 20.0);
        assert_eq!(
            clip_segment((0.0, 15.0), (30.0, 15.0), rect),
            Some(((10.0, 15.0), (20.0, 15.0)))
        );
        assert_eq!(clip_segment((0.0, 0.0), (5.0, 30.0), rect), None);
        // A spike out through the top and back: two runs.
        let runs = clip_polyline(&[(12.0, 18.0), (14.0, -50.0), (16.0, 18.0)], rect);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs.iter().flatten().all(|p| p.1 >= 10.0 && p.1 <= 20.0));
        // Dashes of 4 px, 2 apart, on a 20 px line.
        let d = dashes(&[(0.0, 0.0), (20.0, 0.0)], 4.0, 2.0);
        assert_eq!(d.len(), 4, "{d:?}");
        assert_eq!(d[1], [(6.0, 0.0), (10.0, 0.0)]);
    }

    #[test]
    fn utilization_svg_has_one_point_per_n() {
        let chart = Chart::Utilization {
            title: "Case study 2".into(),
            points: vec![(1, 48.0), (5, 150.5), (11, 170.0), (16, 120.0)],
            cpus: Some(2),
        };
        let svg = chart.svg(DEFAULT_SIZE).unwrap();
        assert_eq!(svg.matches("<circle").count(), 4);
        for text in [
            "degree of multiprogramming N",
            "CPU utilization (% of one CPU)",
            "N=11: 170.0%",
            "2 CPUs fully busy",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
    }

    /// The polylines of an SVG: their stroke colour and width, and points.
    fn polylines(svg: &str) -> Vec<(String, Vec<(f64, f64)>)> {
        let stroke = |chunk: &str| {
            let attr = |name: &str| {
                let start = chunk
                    .find(&format!("{name}=\""))
                    .map(|i| i + name.len() + 2);
                start.and_then(|s| Some(&chunk[s..s + chunk[s..].find('"')?]))
            };
            format!(
                "{} {}",
                attr("stroke").unwrap_or(""),
                attr("stroke-width").unwrap_or("")
            )
        };
        svg.split("<polyline")
            .skip(1)
            .zip(polyline_points(svg))
            .map(|(chunk, points)| (stroke(&chunk[..chunk.find("/>").unwrap_or(0)]), points))
            .collect()
    }

    /// The plot areas of an SVG chart (one per panel): the boxes its mesh
    /// lines (the faint grid, drawn inside them) span, as (left, top,
    /// right, bottom), from the top.
    fn plot_areas(svg: &str) -> Vec<(f64, f64, f64, f64)> {
        let mut mesh = Vec::new();
        for chunk in svg.split("<line").skip(1) {
            let chunk = &chunk[..chunk.find("/>").unwrap()];
            if !(chunk.contains("opacity=\"0.1\"") || chunk.contains("opacity=\"0.2\"")) {
                continue;
            }
            let v = |name: &str| -> f64 {
                let s = chunk.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                chunk[s..s + chunk[s..].find('"').unwrap()].parse().unwrap()
            };
            mesh.push((v("x1"), v("y1"), v("x2"), v("y2")));
        }
        // The vertical grid lines of a panel span its height.
        let mut areas: Vec<(f64, f64, f64, f64)> = Vec::new();
        for &(x1, y1, x2, y2) in mesh.iter().filter(|m| m.0 == m.2) {
            let (t, b) = (y1.min(y2), y1.max(y2));
            match areas.iter_mut().find(|a| a.1 == t && a.3 == b) {
                Some(a) => *a = (a.0.min(x1), t, a.2.max(x2), b),
                None => areas.push((x1, t, x2, b)),
            }
        }
        for a in &mut areas {
            for &(x1, y1, x2, _) in mesh.iter().filter(|m| m.1 == m.3) {
                if y1 >= a.1 && y1 <= a.3 {
                    *a = (a.0.min(x1.min(x2)), a.1, a.2.max(x1.max(x2)), a.3);
                }
            }
        }
        areas.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert!(!areas.is_empty(), "no mesh in the SVG");
        areas
    }

    /// The plot area of a one-panel chart.
    fn plot_area(svg: &str) -> (f64, f64, f64, f64) {
        let areas = plot_areas(svg);
        assert_eq!(areas.len(), 1, "{areas:?}");
        areas[0]
    }

    /// A line of an SVG chart: stroke, points, and the index of its plot
    /// area.
    type Line = (String, Vec<(f64, f64)>, usize);

    /// Asserts that every line but the axes and ticks (black, 1 px) lies
    /// in a plot area (1 px of rounding allowed); returns those lines with
    /// the index of their area.
    fn lines_in_plot_area(svg: &str) -> Vec<Line> {
        let areas = plot_areas(svg);
        polylines(svg)
            .into_iter()
            .filter(|(stroke, _)| stroke != "#000000 1")
            .map(|(stroke, points)| {
                let inside = |&(l, t, r, b): &(f64, f64, f64, f64)| {
                    points
                        .iter()
                        .all(|&(x, y)| x >= l - 1.0 && x <= r + 1.0 && y >= t - 1.0 && y <= b + 1.0)
                };
                let area = areas.iter().position(inside).unwrap_or_else(|| {
                    panic!("{stroke} line {points:?} outside the plot areas {areas:?}")
                });
                (stroke, points, area)
            })
            .collect()
    }

    const MIB: u64 = 1024 * 1024;

    /// A per-process CSV recording at HZ 1000: one process and the totals
    /// each 50 ms, with (anon MiB, swap MiB, major faults) per period.
    fn memory_recording(periods: &[(u64, u64, u64)]) -> Profile {
        let mut text = "# pfprof hz=1000 period_us=50000\n\
             seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
             rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes\n"
            .to_owned();
        for (i, &(anon, swap, major)) in periods.iter().enumerate() {
            let j = 1000 + 50 * i as u64;
            for (k, pid, total) in [(0, 42, 0), (1, 0, 1)] {
                text.push_str(&format!(
                    "{},{},{j},{pid},{total},0,100,{major},1000,{},{},0,{}\n",
                    2 * i + k,
                    j * 1_000_000,
                    anon * MIB,
                    MIB,
                    swap * MIB
                ));
            }
        }
        Profile::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn memory_chart_draws_memory_and_the_major_fault_rate_on_its_own_axis() {
        // Memory up to 1,001 MiB; 20 major faults in 50 ms: 400/s.
        let p = memory_recording(&[(100, 0, 0), (700, 0, 0), (600, 300, 10), (500, 500, 20)]);
        let chart = memory_of("Memory of N=22", &p, 1000, Some(2048.0)).unwrap();
        let Chart::Memory {
            memory, major_rate, ..
        } = &chart
        else {
            panic!("{chart:?}")
        };
        assert_eq!(memory[0].points[1], (0.05, 701.0));
        assert_eq!(memory[1].points[3], (0.15, 500.0));
        assert_eq!(memory[2].points[3], (0.15, 1001.0));
        assert_eq!(major_rate.points[3], (0.15, 400.0));
        let svg = chart.svg(DEFAULT_SIZE).unwrap();
        for text in [
            "Memory of N=22",
            "memory (MiB)",
            "major faults per second",
            "resident (RSS: anon + file + shmem)",
            "swapped out",
            "resident + swapped out",
            "major faults/s (right axis)",
            "RAM (2,048 MiB)",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        let (_, top, _, bottom) = plot_area(&svg);
        let lines = lines_in_plot_area(&svg);
        let with_points = |stroke: &str, n: usize| {
            lines
                .iter()
                .find(|(s, p, _)| s == stroke && p.len() == n)
                .map(|(_, p, _)| p.clone())
                .unwrap_or_else(|| panic!("no {stroke} line of {n} points in {lines:?}"))
        };
        let rss = with_points("#1F77B4 3", 4);
        let rate = with_points("#9467BD 1", 4);
        let ram = with_points("#000000 2", 2);
        // SVG y grows downwards. The RSS rises then falls, under the RAM.
        assert!(rss[1].1 < rss[0].1 && rss[3].1 > rss[1].1, "{rss:?}");
        assert!(rss.iter().all(|p| p.1 > ram[0].1), "{rss:?} {ram:?}");
        // Each axis is scaled to its own data: the 400/s peak on the right
        // axis is as high as the 1,001 MiB peak of RSS + swap would be on
        // the left one if the RAM did not raise it, and far above where
        // 400 would be on a MiB axis that reaches 2,048.
        let height = bottom - top;
        let rate_top = bottom - rate[3].1;
        assert!(rate_top > 0.5 * height, "{rate:?}, plot {top}..{bottom}");
        assert!(
            rate[0].1 >= bottom - 1.0,
            "no major faults at first: {rate:?}"
        );
    }

    #[test]
    fn only_recordings_with_memory_have_a_memory_chart() {
        let classic = Profile::parse(
            "# pfprof hz=250 period_us=50000\n100 0 10 0 1\n100 7 4 0 1\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(memory_of("x", &classic, 250, None), None);
        let samples = &two_runs()[0].1;
        assert_eq!(memory_of("x", samples, 1000, None), None);
    }

    #[test]
    fn utilization_memory_svg_has_two_panels_the_ram_and_a_point_per_n() {
        let point = |n, utilization, rss_mib, swap_mib| NPoint {
            n,
            utilization,
            rss_mib,
            swap_mib,
            rss_swap_mib: rss_mib + swap_mib,
        };
        let chart = Chart::UtilizationMemory {
            title: "Case study 2: memory".into(),
            points: vec![
                point(1, 7.0, 200.0, 0.0),
                point(11, 110.0, 2200.0, 0.0),
                point(20, 143.0, 3900.0, 0.0),
                point(22, 125.0, 3800.0, 600.0),
            ],
            cpus: Some(2),
            ram_mib: Some(3948.0),
        };
        let svg = chart.svg((1024, 900)).unwrap();
        // Utilization, RSS + swap, RSS and swap: a marker per N each.
        assert_eq!(svg.matches("<circle").count(), 4 * 4);
        for text in [
            "Case study 2: memory",
            "CPU utilization (% of one CPU)",
            "peak summed memory (MiB)",
            "degree of multiprogramming N",
            "RAM (3,948 MiB)",
            "peak summed RSS + swap",
            "peak summed RSS",
            "peak summed swap",
            "2 CPUs fully busy",
            "125.0%",
            "RSS 3,800 + swap 600 MiB",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        let lines = lines_in_plot_area(&svg);
        let four = |stroke: &str| {
            lines
                .iter()
                .find(|(s, p, _)| s == stroke && p.len() == 4)
                .map(|(_, p, area)| (p.clone(), *area))
                .unwrap_or_else(|| panic!("no {stroke} line in {lines:?}"))
        };
        let (util, upper) = four("#1F77B4 3");
        let (both, lower) = four("#FF7F0E 7");
        let (rss, _) = four("#D62728 3");
        let (swap, _) = four("#2CA02C 3");
        assert_eq!((upper, lower), (0, 1), "utilization above, memory below");
        assert!(lines.iter().all(|l| l.2 == upper || l.2 == lower));
        for l in [&rss, &swap] {
            assert!(lines.iter().any(|(_, p, a)| p == l && *a == lower));
        }
        let ram = lines
            .iter()
            .find(|(s, p, _)| s == "#000000 2" && p.len() == 2)
            .map(|(_, p, _)| p[0].1)
            .unwrap();
        // SVG y grows downwards: RSS stays under the RAM, RSS + swap passes
        // it at N = 22, swap is zero before, utilization falls from N = 20
        // to 22.
        assert!(rss.iter().all(|p| p.1 > ram), "{rss:?} {ram}");
        assert!(both[3].1 < ram && both[2].1 > ram, "{both:?} {ram}");
        assert!(swap[..3].iter().all(|p| p.1 == swap[0].1) && swap[3].1 < swap[0].1);
        assert!(util[3].1 > util[2].1, "{util:?}");
        // The panels share the N axis.
        for (u, m) in util.iter().zip(&rss) {
            assert!((u.0 - m.0).abs() <= 1.0, "{util:?} {rss:?}");
        }
    }

    #[test]
    fn png_and_svg_files_are_valid() {
        let dir = std::env::temp_dir().join(format!("pfprof-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chart = accumulated_of("png", &two_runs());
        let png = dir.join("a.png");
        let svg = dir.join("a.svg");
        chart.save(&png, (640, 400)).unwrap();
        chart.save(&svg, (640, 400)).unwrap();
        assert_eq!(check_image(&png), Ok(()));
        assert_eq!(check_image(&svg), Ok(()));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(PNG_SIGNATURE));
        // A PNG's IHDR holds the size, big endian.
        assert_eq!(&bytes[16..24], &[0, 0, 2, 128, 0, 0, 1, 144]);
        std::fs::write(dir.join("bad.png"), b"GIF89a").unwrap();
        assert!(check_image(&dir.join("bad.png")).is_err());
        assert!(chart.save(&dir.join("a.jpg"), (10, 10)).is_err());
        // No directory is created; errors are plain words with the path.
        let missing = dir.join("missing/x.png");
        assert_eq!(
            chart.save(&missing, (640, 400)).unwrap_err().to_string(),
            format!(
                "cannot write {}: No such file or directory",
                missing.display()
            )
        );
        assert!(!dir.join("missing").exists());
        std::fs::create_dir(dir.join("d.svg")).unwrap();
        assert_eq!(
            chart
                .save(&dir.join("d.svg"), (640, 400))
                .unwrap_err()
                .to_string(),
            format!(
                "cannot write {}: Is a directory",
                dir.join("d.svg").display()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
