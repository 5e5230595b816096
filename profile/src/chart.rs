//! The charts, as PNG or SVG (plotters).
//!
//! One function per chart, each following plotters' builder sequence (fill,
//! chart builder, mesh, series, legend) and ending with `present()`. A
//! [`Chart`] is the model a chart draws, built from profiles by
//! [`accumulated_of`], [`rates_of`] and [`memory_of`] or by hand; [`Chart::svg`] renders to
//! a string so tests read the output as text.
//!
//! Text is drawn with the DejaVu Sans font of Debian's `fonts-dejavu-core`
//! (`cargo xtask setup` installs it), or the TTF file `$PFPROF_FONT` names.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis;
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
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// `Result` of the charts.
pub type Result<T, E = ChartError> = std::result::Result<T, E>;

/// The font family every chart uses.
const FONT: &str = "sans-serif";

/// Where the font is looked for, after `$PFPROF_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Default image size: readable at README width.
pub const DEFAULT_SIZE: (u32, u32) = (1024, 640);

/// Line colours, distinguishable and printable.
const COLORS: &[RGBColor] = &[
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
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Loads and registers the font once; later calls return the first result.
pub fn ensure_font() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let candidates: Vec<PathBuf> = std::env::var_os("PFPROF_FONT")
                .map(PathBuf::from)
                .into_iter()
                .chain(FONT_PATHS.iter().map(PathBuf::from))
                .collect();
            let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                "no font for the chart text: install fonts-dejavu-core \
                 (`cargo xtask setup` does), or set PFPROF_FONT to a TTF file"
                    .to_owned()
            })?;
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            // The registry keeps the font for the whole process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{}: not a usable TTF font", path.display()))
        })
        .clone()
        .map_err(ChartError::Font)
}

fn drawing<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Drawing(e.to_string())
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

/// Draws lines with a legend; shared by the two time charts.
fn time_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let x_top = axis_top(max_of(series, |p| p.0));
    let y_top = axis_top(max_of(series, |p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..x_top, 0f64..y_top)?;
    chart
        .configure_mesh()
        .x_desc("time since the first sample (s)")
        .y_desc(y_desc)
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .y_label_formatter(&count_label)
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(3)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 20))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Case study 1: accumulated page faults against time.
fn accumulated_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    time_lines(
        &root,
        title,
        "accumulated page faults (minor + major)",
        series,
    )?;
    root.present()
}

/// A per-process fault-rate timeline.
fn rates_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    time_lines(&root, title, "page faults per second", series)?;
    root.present()
}

/// Case study 2: CPU utilization against the degree of multiprogramming.
fn utilization_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    points: &[(u32, f64)],
    cpus: Option<u32>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let x_top = f64::from(points.iter().map(|p| p.0).max().unwrap_or(1)) + 2.0;
    let ceiling = cpus.map(|c| f64::from(c) * 100.0);
    let y_max = points
        .iter()
        .map(|p| p.1)
        .chain(ceiling)
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(y_max))?;
    chart
        .configure_mesh()
        .x_desc("degree of multiprogramming N (concurrent work processes)")
        .y_desc("CPU utilization (% of one CPU)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .draw()?;
    let xy: Vec<(f64, f64)> = points.iter().map(|&(n, u)| (f64::from(n), u)).collect();
    utilization_series(&mut chart, &xy, ceiling.zip(cpus), x_top, |x, y| {
        (format!("N={x:.0}: {y:.1}%"), (-50, -32))
    })?;
    root.present()
}

/// The utilization series of a chart against N: the ceiling of all CPUs
/// busy (`ceiling`: the line's height and the CPUs), the utilization line,
/// each point with its value (`label` gives the text and its offset), and
/// the legend.
fn utilization_series<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    xy: &[(f64, f64)],
    ceiling: Option<(f64, u32)>,
    x_top: f64,
    label: impl Fn(f64, f64) -> (String, (i32, i32)),
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if let Some((c, cpus)) = ceiling {
        let grey = RGBColor(127, 127, 127);
        chart
            .draw_series(LineSeries::new(
                [(0.0, c), (x_top, c)],
                grey.stroke_width(2),
            ))?
            .label(format!("{cpus} CPUs fully busy"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], grey.stroke_width(2))
            });
    }
    let c = color(0);
    chart
        .draw_series(LineSeries::new(xy.iter().copied(), c.stroke_width(3)))?
        .label("total CPU utilization")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(3)));
    // Each point with its value just above it.
    chart.draw_series(xy.iter().map(|&(x, y)| {
        let (text, offset) = label(x, y);
        EmptyElement::at((x, y))
            + Circle::new((0, 0), 7, c.filled())
            + Text::new(text, offset, (FONT, 20).into_font().color(&BLACK))
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 20))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// Memory against time (MiB, left axis) with the major-fault rate (right
/// axis): the memory chart of a per-process recording, and, with the RAM
/// as a line, where it no longer fits.
fn memory_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    memory: &[Series],
    major_rate: &Series,
    ram_mib: Option<f64>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
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
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .right_y_label_area_size(110)
        .build_cartesian_2d(0f64..x_top, 0f64..y_top)?
        .set_secondary_coord(0f64..x_top, 0f64..r_top);
    chart
        .configure_mesh()
        .x_desc("time since the first sample (s)")
        .y_desc("memory (MiB)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .y_label_formatter(&count_label)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("major faults per second")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .y_label_formatter(&count_label)
        .draw()?;
    if let Some(ram) = ram_mib {
        let grey = BLACK;
        chart
            .draw_series(LineSeries::new(
                [(0.0, ram), (x_top, ram)],
                grey.stroke_width(2),
            ))?
            .label(format!("RAM ({} MiB)", count_label(&ram)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], grey.stroke_width(2))
            });
    }
    // The first two solid, the others (sums of them) dashed on top, so
    // that a sum equal to one of its parts leaves both visible.
    for (i, s) in memory.iter().enumerate() {
        let c = color(i);
        let style = c.stroke_width(3);
        let drawn = if i < 2 {
            chart.draw_series(LineSeries::new(s.points.iter().copied(), style))?
        } else {
            chart.draw_series(DashedLineSeries::new(
                s.points.iter().copied(),
                10,
                8,
                style,
            ))?
        };
        drawn
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], style));
    }
    let c = color(4);
    chart
        .draw_secondary_series(LineSeries::new(
            major_rate.points.iter().copied(),
            c.stroke_width(1),
        ))?
        .label(format!("{} (right axis)", major_rate.label))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(1)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 20))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
}

/// Case study 2 with memory, in two panels over the same N axis: the
/// utilization above, the peaks of the summed memory below with the RAM as
/// a line.
fn utilization_memory_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    points: &[NPoint],
    cpus: Option<u32>,
    ram_mib: Option<f64>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let area = root.titled(title, (FONT, 30))?;
    let (_, height) = area.dim_in_pixel();
    let (upper, lower) = area.split_vertically(height * 9 / 20);
    let x_top = f64::from(points.iter().map(|p| p.n).max().unwrap_or(1)) + 2.0;
    let xs: Vec<f64> = points.iter().map(|p| f64::from(p.n)).collect();
    let n_label = |v: &f64| format!("{v:.0}");

    // Above: the utilization, each point with its value.
    let ceiling = cpus.map(|c| f64::from(c) * 100.0);
    let u_max = points
        .iter()
        .map(|p| p.utilization)
        .chain(ceiling)
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&upper)
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(u_max) * 1.1)?;
    chart
        .configure_mesh()
        .y_desc("CPU utilization (% of one CPU)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .x_label_formatter(&n_label)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .draw()?;
    let xy: Vec<(f64, f64)> = xs
        .iter()
        .copied()
        .zip(points.iter().map(|p| p.utilization))
        .collect();
    utilization_series(&mut chart, &xy, ceiling.zip(cpus), x_top, |_, y| {
        (format!("{y:.1}%"), (-30, -30))
    })?;

    // Below: the memory against the RAM.
    let m_max = points
        .iter()
        .flat_map(|p| [p.rss_mib, p.rss_swap_mib])
        .chain(ram_mib)
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&lower)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..x_top, 0f64..axis_top(m_max) * 1.4)?;
    chart
        .configure_mesh()
        .x_desc("degree of multiprogramming N (concurrent work processes)")
        .y_desc("peak summed memory (MiB)")
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .x_label_formatter(&n_label)
        .y_label_formatter(&count_label)
        .draw()?;
    if let Some(ram) = ram_mib {
        chart
            .draw_series(LineSeries::new(
                [(0.0, ram), (x_top, ram)],
                BLACK.stroke_width(2),
            ))?
            .label(format!("RAM ({} MiB)", count_label(&ram)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], BLACK.stroke_width(2))
            });
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
        let style = color(i).stroke_width(width);
        let xy: Vec<(f64, f64)> = xs.iter().copied().zip(ys).collect();
        chart
            .draw_series(LineSeries::new(xy.iter().copied(), style))?
            .label(format!("peak summed {label}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], style));
        chart.draw_series(
            xy.iter()
                .map(|&(x, y)| Circle::new((x, y), width + 2, style.filled())),
        )?;
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
                (-250, -32),
                (FONT, 20).into_font().color(&BLACK),
            )
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 20))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
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

impl Chart {
    /// Draws the chart on a drawing area and presents it.
    pub fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()> {
        ensure_font()?;
        match self {
            Chart::Accumulated { title, series } => accumulated_chart(root, title, series),
            Chart::Rates { title, series } => rates_chart(root, title, series),
            Chart::Utilization {
                title,
                points,
                cpus,
            } => utilization_chart(root, title, points, *cpus),
            Chart::Memory {
                title,
                memory,
                major_rate,
                ram_mib,
            } => memory_chart(root, title, memory, major_rate, *ram_mib),
            Chart::UtilizationMemory {
                title,
                points,
                cpus,
                ram_mib,
            } => utilization_memory_chart(root, title, points, *cpus, *ram_mib),
        }
        .map_err(drawing)
    }

    /// Writes the chart to `path`, PNG or SVG by its extension.
    pub fn save(&self, path: &Path, size: (u32, u32)) -> Result<()> {
        let format = ImageFormat::of(path)?;
        let file_error = |message: String| ChartError::File {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| file_error(e.to_string()))?;
        }
        let res = match format {
            ImageFormat::Png => self.draw(BitMapBackend::new(path, size).into_drawing_area()),
            ImageFormat::Svg => self.draw(SVGBackend::new(path, size).into_drawing_area()),
        };
        res.map_err(|e| file_error(e.to_string()))
    }

    /// The chart as SVG text.
    pub fn svg(&self, size: (u32, u32)) -> Result<String> {
        let mut text = String::new();
        self.draw(SVGBackend::with_string(&mut text, size).into_drawing_area())?;
        Ok(text)
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

/// The accumulated-faults chart of some profiles: for each, its total; for
/// a per-process recording, also one line per process.
pub fn accumulated_of(title: &str, inputs: &[(String, Profile, u32)]) -> Chart {
    let mut series = Vec::new();
    for (label, p, hz) in inputs {
        let total = analysis::accumulated_faults(&p.totals(), *hz);
        let by_pid = analysis::accumulated_by_pid(&p.records, *hz);
        if by_pid.is_empty() {
            series.push(series_of(label.as_str(), &total));
        } else {
            series.push(series_of(format!("{label}: all processes"), &total));
            for (pid, points) in &by_pid {
                series.push(series_of(format!("{label}: pid {pid}"), points));
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
    let series = analysis::fault_rates(&p.records, hz, p.header.period_us)
        .into_iter()
        .map(|(pid, points)| Series {
            label: format!("pid {pid}"),
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
        let Chart::Accumulated { series, .. } =
            accumulated_of("x", &[("R".into(), p.clone(), 250)])
        else {
            panic!()
        };
        let labels: Vec<_> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["R: all processes", "R: pid 7", "R: pid 8"]);
        assert_eq!(series[0].points, [(0.0, 10.0), (0.048, 13.0)]);
        let svg = rates_of("rates", &p, 250).svg((800, 500)).unwrap();
        assert!(svg.contains("page faults per second"));
        assert!(svg.contains("pid 7") && svg.contains("pid 8"));
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
