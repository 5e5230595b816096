//! The PNG charts keep their lines in the plot area: every pixel of a line
//! colour lies in a plot area or a legend box of the chart's layout, for
//! steep data (rates jumping between 0 and 250,000 each 50 ms), many
//! lines and several image sizes. A PNG file written is decoded and
//! compared with the pixels checked.
//!
//! A control draws the same data with plotters' own thick `LineSeries`,
//! which this crate no longer uses on bitmaps, and finds pixels outside:
//! the check sees what it looks for.

use std::path::PathBuf;

use pfprof_profile::chart::{Chart, Layout, NPoint, Series, COLORS};
use plotters::prelude::*;

/// Rates of `lines` processes each 50 ms for 30 s, each jumping between 0
/// and up to 250,000 faults/s, out of phase.
fn steep(lines: usize) -> Vec<Series> {
    (0..lines)
        .map(|i| Series {
            label: format!("work[{}]", 1000 + i),
            points: (0..600)
                .map(|k| {
                    let t = k as f64 * 0.05;
                    let v = if (k + i) % 2 == 0 {
                        0.0
                    } else {
                        250_000.0 * (1.0 - (k % 97) as f64 / 200.0)
                    };
                    (t, v)
                })
                .collect(),
        })
        .collect()
}

/// The line colours to look for: the palette without its grey, which
/// anti-aliased black text also produces.
fn line_colours() -> Vec<[u8; 3]> {
    COLORS
        .iter()
        .filter(|c| !(c.0 == c.1 && c.1 == c.2))
        .map(|c| [c.0, c.1, c.2])
        .collect()
}

/// The pixels of a line colour: (inside the layout's areas, outside, the
/// first few outside).
fn line_pixels(
    pixels: &[u8],
    (w, h): (u32, u32),
    inside: impl Fn(i32, i32) -> bool,
) -> (usize, usize, Vec<(i32, i32)>) {
    let colours = line_colours();
    let (mut n_in, mut n_out, mut where_out) = (0, 0, Vec::new());
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let i = (y as usize * w as usize + x as usize) * 3;
            let px = [pixels[i], pixels[i + 1], pixels[i + 2]];
            if !colours.contains(&px) {
                continue;
            }
            if inside(x, y) {
                n_in += 1;
            } else {
                n_out += 1;
                if where_out.len() < 5 {
                    where_out.push((x, y));
                }
            }
        }
    }
    (n_in, n_out, where_out)
}

fn in_layout(layout: &Layout) -> impl Fn(i32, i32) -> bool + '_ {
    |x, y| {
        layout
            .plots
            .iter()
            .chain(&layout.legends)
            .any(|r| r.contains(x, y))
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfprof-png-pixels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join(name)
}

/// Decodes an RGB PNG file.
fn decode(path: &PathBuf) -> (Vec<u8>, (u32, u32)) {
    let file = std::fs::File::open(path).expect("open the PNG");
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (buf, (info.width, info.height))
}

/// Draws the chart in memory as its PNG file is drawn (with `save_too`,
/// also as a file, checked to hold the same pixels), checks that no line
/// pixel is outside the layout; returns the layout and the number of line
/// pixels inside.
fn check(name: &str, chart: &Chart, size: (u32, u32)) -> (Layout, usize) {
    check_with(name, chart, size, false)
}

fn check_with(name: &str, chart: &Chart, size: (u32, u32), save_too: bool) -> (Layout, usize) {
    let (pixels, layout) = chart.rgb(size).expect("draw");
    let path = tmp(&format!("{name}.png"));
    if save_too {
        chart.save(&path, size).expect("save");
        let (file_pixels, file_size) = decode(&path);
        assert_eq!(file_size, size, "{name}");
        assert!(
            file_pixels == pixels,
            "{name}: the file is not what was drawn"
        );
    }
    let (n_in, n_out, where_out) = line_pixels(&pixels, size, in_layout(&layout));
    if n_out > 0 {
        // The image to look at, named in the message.
        let _ = chart.save(&path, size);
    }
    assert_eq!(
        n_out,
        0,
        "{name} at {size:?}: {n_out} line pixels outside the plot areas {:?} and legends {:?}, \
         e.g. at {where_out:?} ({})",
        layout.plots,
        layout.legends,
        path.display()
    );
    // The image holds every part.
    for r in layout.plots.iter().chain(&layout.legends) {
        assert!(
            r.left >= 0 && r.top >= 0 && r.right <= size.0 as i32 && r.bottom <= size.1 as i32,
            "{name} at {size:?}: {r:?} is not inside the image"
        );
    }
    (layout, n_in)
}

#[test]
fn steep_rates_stay_in_the_plot_area_at_every_size() {
    for (lines, size) in [
        (2, (1024, 640)),
        (22, (1024, 640)),
        (2, (400, 300)),
        (7, (1600, 1000)),
        (5, (640, 900)),
    ] {
        let chart = Chart::Rates {
            title: format!("{lines} processes"),
            series: steep(lines),
        };
        let name = format!("rates_{lines}_{}x{}", size.0, size.1);
        // The file of one is decoded and compared.
        let (layout, n_in) = check_with(&name, &chart, size, lines == 22);
        assert!(n_in > 5_000, "{name}: only {n_in} line pixels");
        assert_eq!(layout.plots.len(), 1);
        let (plot, legend) = (layout.plots[0], layout.legends[0]);
        if lines > 6 {
            // Many lines: the legend beside the plot, not over it.
            assert!(legend.left >= plot.right, "{name}: {legend:?} {plot:?}");
        } else {
            assert!(plot.contains(legend.left, legend.top), "{name}");
        }
    }
}

#[test]
fn the_other_charts_keep_their_lines_in_their_plots() {
    // Accumulated faults climbing in steps, lines ending at the top.
    let steps: Vec<Series> = (0..3)
        .map(|i| Series {
            label: format!("run {i}"),
            points: (0..400)
                .map(|k| (k as f64 * 0.05, ((k / 20) * 20 * (i + 1) * 1000) as f64))
                .collect(),
        })
        .collect();
    let accumulated = Chart::Accumulated {
        title: "steps".into(),
        series: steps,
    };
    check("accumulated", &accumulated, (1024, 640));
    // Memory with a steep major-fault rate on its own axis.
    let rate = &steep(1)[0];
    let memory = Chart::Memory {
        title: "memory".into(),
        memory: (0..3)
            .map(|i| Series {
                label: format!("memory {i}"),
                points: rate
                    .points
                    .iter()
                    .map(|&(t, v)| (t, v / 100.0 + f64::from(i) * 300.0))
                    .collect(),
            })
            .collect(),
        major_rate: Series {
            label: "major faults/s".into(),
            points: rate.points.clone(),
        },
        ram_mib: Some(2048.0),
    };
    check("memory", &memory, (1024, 640));
    check("memory_small", &memory, (500, 320));
    let point = |n, utilization: f64, rss_mib: f64, swap_mib| NPoint {
        n,
        utilization,
        rss_mib,
        swap_mib,
        rss_swap_mib: rss_mib + swap_mib,
    };
    let two_panels = Chart::UtilizationMemory {
        title: "two panels".into(),
        points: vec![
            point(1, 7.0, 200.0, 0.0),
            point(5, 180.0, 3900.0, 0.0),
            point(6, 2.0, 100.0, 3000.0),
            point(22, 125.0, 3800.0, 600.0),
        ],
        cpus: Some(2),
        ram_mib: Some(3948.0),
    };
    let (layout, _) = check("two_panels", &two_panels, (1024, 900));
    assert_eq!(layout.plots.len(), 2);
}

#[test]
fn twenty_two_lines_show_twenty_colours() {
    // Flat lines one above the other, so that none hides another.
    let series = (0..22)
        .map(|i| Series {
            label: format!("work[{i}]"),
            points: vec![
                (0.0, f64::from(i + 1) * 1000.0),
                (10.0, f64::from(i + 1) * 1000.0),
            ],
        })
        .collect();
    let chart = Chart::Rates {
        title: "22".into(),
        series,
    };
    let (pixels, layout) = chart.rgb((1024, 640)).expect("draw");
    let plot = layout.plots[0];
    let count = |c: &RGBColor| {
        (plot.top..plot.bottom)
            .flat_map(|y| (plot.left..plot.right).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = (y as usize * 1024 + x as usize) * 3;
                pixels[i..i + 3] == [c.0, c.1, c.2]
            })
            .count()
    };
    let solid = count(&COLORS[5]);
    assert!(solid > 1000, "{solid}");
    for c in &COLORS[2..] {
        assert!(
            count(c) > solid / 2,
            "too little of colour {c:?} in the plot"
        );
    }
    // Lines 21 and 22 repeat the first two colours, dashed: less ink.
    for c in &COLORS[..2] {
        let n = count(c);
        assert!(
            n > solid && n < 2 * solid,
            "{c:?}: {n} pixels, a solid line {solid}"
        );
    }
}

#[test]
fn control_plotters_thick_lines_escape_the_plot_area() {
    pfprof_profile::chart::ensure_font().expect("the font");
    let size = (1024u32, 640u32);
    let series = steep(2);
    let mut pixels = vec![0u8; (size.0 * size.1 * 3) as usize];
    let plot = {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).expect("fill");
        let mut chart = ChartBuilder::on(&root)
            .caption("control", ("sans-serif", 30))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..32.0, 0f64..270_000.0)
            .expect("chart");
        for (i, s) in series.iter().enumerate() {
            let c = COLORS[i];
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(3)))
                .expect("series");
        }
        let (x, y) = chart.plotting_area().get_pixel_range();
        root.present().expect("present");
        (x, y)
    };
    let (_, n_out, _) = line_pixels(&pixels, size, |x, y| {
        plot.0.contains(&x) && plot.1.contains(&y)
    });
    assert!(
        n_out > 100,
        "plotters' own thick lines stayed inside ({n_out} pixels out): the check may be blind"
    );
}

#[test]
fn a_legend_of_sixty_lines_takes_columns_and_stays_in_the_image() {
    let series = (0..60)
        .map(|i| Series {
            label: format!("work[{}]", 30_000 + i),
            points: vec![(0.0, f64::from(i)), (5.0, f64::from(i) + 10.0)],
        })
        .collect();
    let chart = Chart::Rates {
        title: "60 processes".into(),
        series,
    };
    for size in [(1024, 640), (640, 400)] {
        let (layout, _) = check(&format!("legend60_{}", size.0), &chart, size);
        let (plot, legend) = (layout.plots[0], layout.legends[0]);
        assert!(legend.left >= plot.right, "{size:?}: {legend:?} {plot:?}");
        // More entries than one column holds: it is wider than tall
        // would be for a single column of 60 rows.
        assert!(
            legend.bottom - legend.top < (plot.bottom - plot.top) + 60,
            "{size:?}: {legend:?}"
        );
        assert!(
            plot.right - plot.left > size.0 as i32 / 2,
            "{size:?}: the plot keeps at least half the width: {plot:?}"
        );
    }
    let svg = chart.svg((1024, 640)).expect("svg");
    assert!(svg.contains("work[30059]"), "the last entry is drawn");
}
