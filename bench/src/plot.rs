//! PNG plots of benchmark results, drawn with `plotters`:
//! latency by percentile on HdrHistogram's "number of nines" axis, and a
//! rate sweep (achieved rate and percentiles against offered rate).
//!
//! It only draws what it is given: no benchmark runs here. Text needs a
//! TrueType font; the first of `FONT_PATHS` that exists is used (Debian's
//! `fonts-dejavu-core` provides it).

use std::path::Path;
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Fonts tried, in order.
pub(crate) const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// The most nines the percentile axis shows: 99.9999%.
const MAX_NINES: f64 = 6.0;

type PlotResult<T> = Result<T, String>;

/// Registers the font once; an error names the paths tried.
fn font() -> PlotResult<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONT_PATHS
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .ok_or_else(|| {
                    format!(
                        "no font for plot labels: install fonts-dejavu-core (tried {})",
                        FONT_PATHS.join(", ")
                    )
                })?;
            // Registered fonts live for the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| "the plot font could not be read".to_string())
        })
        .clone()
}

fn drawing(err: impl std::fmt::Display) -> String {
    format!("drawing a plot: {err}")
}

/// Percentile as a number of nines: 0.99 is 2.
fn nines(quantile: f64) -> f64 {
    (1.0 / (1.0 - quantile)).log10()
}

fn nines_label(n: &f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-n));
    let decimals = (n.round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

fn micros_label(us: &f64) -> String {
    if *us >= 1000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else if *us >= 1.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.2} µs")
    }
}

/// One curve per histogram (nanoseconds): latency against percentile, the
/// way HdrHistogram's plotter draws it.
pub(crate) fn percentile_plot(
    path: &Path,
    title: &str,
    curves: &[(String, &Histogram<u64>)],
) -> PlotResult<()> {
    font()?;
    let points: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|(_, h)| {
            h.iter_quantiles(5)
                .filter(|step| step.quantile_iterated_to() < 1.0)
                .map(|step| {
                    (
                        nines(step.quantile_iterated_to()).min(MAX_NINES),
                        (step.value_iterated_to() as f64 / 1e3).max(0.01),
                    )
                })
                .collect()
        })
        .collect();
    let top = curves
        .iter()
        .map(|(_, h)| h.max() as f64 / 1e3)
        .fold(1.0, f64::max)
        * 1.5;
    let bottom = points
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(top, f64::min)
        .max(0.01)
        / 1.5;
    let right = points
        .iter()
        .flatten()
        .map(|p| p.0)
        .fold(2.0, f64::max)
        .ceil()
        .min(MAX_NINES);
    let root = BitMapBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .margin_right(50)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..right, (bottom..top).log_scale())
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_labels(right as usize + 1)
        .x_label_formatter(&nines_label)
        .y_label_formatter(&micros_label)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(drawing)?;
    for (i, ((label, h), points)) in curves.iter().zip(&points).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let max_us = h.max() as f64 / 1e3;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(format!("{label} (max {})", micros_label(&max_us)))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)
}

/// One point of a rate sweep.
#[derive(Clone, Debug)]
pub(crate) struct SweepPoint {
    /// Offered inputs per second.
    pub offered: f64,
    /// Achieved inputs per second.
    pub achieved: f64,
    /// Latency percentiles, in nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.99th percentile.
    pub p9999_ns: u64,
}

/// Achieved rate (left) and p50/p99/p99.99 (right) against offered rate,
/// one series per label.
pub(crate) fn sweep_plot(
    path: &Path,
    title: &str,
    series: &[(String, Vec<SweepPoint>)],
) -> PlotResult<()> {
    font()?;
    let all = || series.iter().flat_map(|(_, points)| points.iter());
    let max_rate = all().map(|p| p.offered.max(p.achieved)).fold(1.0, f64::max) * 1.1;
    let min_rate = all().map(|p| p.offered).fold(max_rate, f64::min) / 1.5;
    let top = all().map(|p| p.p9999_ns as f64 / 1e3).fold(1.0, f64::max) * 1.5;
    let bottom = all()
        .map(|p| p.p50_ns as f64 / 1e3)
        .fold(top, f64::min)
        .max(0.01)
        / 1.5;
    let root = BitMapBackend::new(path, (1300, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(drawing)?;
    let (left, right) = root.split_horizontally(620);
    let rate_label = |r: &f64| {
        if *r >= 1e6 {
            format!("{:.1}M", r / 1e6)
        } else {
            format!("{:.0}k", r / 1e3)
        }
    };
    let mut rates = ChartBuilder::on(&left)
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .caption("achieved rate", ("sans-serif", 17))
        .build_cartesian_2d(
            (min_rate..max_rate).log_scale(),
            (min_rate..max_rate).log_scale(),
        )
        .map_err(drawing)?;
    rates
        .configure_mesh()
        .x_desc("offered inputs/s")
        .y_desc("achieved inputs/s")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&rate_label)
        .y_label_formatter(&rate_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(drawing)?;
    rates
        .draw_series(LineSeries::new(
            [(min_rate, min_rate), (max_rate, max_rate)],
            BLACK.mix(0.3),
        ))
        .map_err(drawing)?
        .label("achieved = offered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.3)));
    let mut latency = ChartBuilder::on(&right)
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .caption(
            "latency: p50 solid, p99 dashed, p99.99 dotted",
            ("sans-serif", 17),
        )
        .build_cartesian_2d((min_rate..max_rate).log_scale(), (bottom..top).log_scale())
        .map_err(drawing)?;
    latency
        .configure_mesh()
        .x_desc("offered inputs/s")
        .y_desc("latency")
        .x_labels(6)
        .x_label_formatter(&rate_label)
        .y_label_formatter(&micros_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(drawing)?;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        rates
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.offered, p.achieved)),
                color.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
        rates
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.offered, p.achieved), 4, color.filled())),
            )
            .map_err(drawing)?;
        let us = |ns: u64| (ns as f64 / 1e3).max(bottom);
        latency
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.offered, us(p.p50_ns))),
                color.stroke_width(2),
            ))
            .map_err(drawing)?;
        latency
            .draw_series(DashedLineSeries::new(
                points.iter().map(|p| (p.offered, us(p.p99_ns))),
                8,
                5,
                color.stroke_width(2),
            ))
            .map_err(drawing)?;
        latency
            .draw_series(DashedLineSeries::new(
                points.iter().map(|p| (p.offered, us(p.p9999_ns))),
                2,
                4,
                color.stroke_width(2),
            ))
            .map_err(drawing)?;
    }
    rates
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_label_the_percentile_axis() {
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&1.0), "90%");
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&4.0), "99.99%");
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let mut fast = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
        let mut slow = fast.clone();
        for i in 1..=100_000u64 {
            fast.record(1_000 + i % 5_000).unwrap();
            slow.record(10_000 + (i * 7919) % 400_000).unwrap();
        }
        let png = dir.path().join("percentiles.png");
        percentile_plot(
            &png,
            "test",
            &[("fast".into(), &fast), ("slow".into(), &slow)],
        )
        .unwrap();
        let sweep = dir.path().join("sweep.png");
        let point = |offered: f64, p50_ns: u64| SweepPoint {
            offered,
            achieved: offered * 0.99,
            p50_ns,
            p99_ns: p50_ns * 10,
            p9999_ns: p50_ns * 100,
        };
        sweep_plot(
            &sweep,
            "test",
            &[("a".into(), vec![point(1e5, 2_000), point(1e6, 9_000)])],
        )
        .unwrap();
        for file in [png, sweep] {
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", file.display());
        }
    }
}
