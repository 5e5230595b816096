//! The charts, as PNG or SVG (plotters).
//!
//! One function per chart, each following plotters' builder sequence (fill,
//! chart builder, mesh, series, legend) and ending with `present()`. A
//! [`Chart`] is the model a chart draws, built from profiles by
//! [`accumulated_of`] and [`rates_of`] or by hand; [`Chart::svg`] renders to
//! a string so tests read the output as text.
//!
//! Text is drawn with the DejaVu Sans font of Debian's `fonts-dejavu-core`
//! (`cargo xtask setup` installs it), or the TTF file `$PFPROF_FONT` names.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    if let (Some(c), Some(cpus)) = (ceiling, cpus) {
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
    let xy: Vec<(f64, f64)> = points.iter().map(|&(n, u)| (f64::from(n), u)).collect();
    chart
        .draw_series(LineSeries::new(xy.iter().copied(), c.stroke_width(3)))?
        .label("total CPU utilization")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(3)));
    // Each point with its value just above it.
    chart.draw_series(xy.iter().map(|&(x, y)| {
        EmptyElement::at((x, y))
            + Circle::new((0, 0), 7, c.filled())
            + Text::new(
                format!("N={x:.0}: {y:.1}%"),
                (-50, -32),
                (FONT, 20).into_font().color(&BLACK),
            )
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
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
