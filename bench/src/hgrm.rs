//! HdrHistogram's percentile-distribution text (`.hgrm`), as the Java
//! library's `outputPercentileDistribution` writes it, so its plotter and
//! other tools read our runs. Values are written in microseconds.
//!
//! This module formats only; it runs nothing and measures nothing.

use std::io::Write;

use hdrhistogram::Histogram;

/// Nanoseconds per unit written: the files are in microseconds.
const SCALE: f64 = 1e3;
/// Percentile steps per halving of the distance to 100%, as Java's default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `histogram` (nanoseconds) as a percentile distribution.
pub(crate) fn write_hgrm(histogram: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value = step.value_iterated_to() as f64 / SCALE;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            writeln!(
                out,
                "{value:12.3} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            )?;
        } else {
            writeln!(out, "{value:12.3} {quantile:2.12} {total:10}")?;
        }
    }
    writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        histogram.mean() / SCALE,
        histogram.stdev() / SCALE
    )?;
    writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.max() as f64 / SCALE,
        histogram.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        histogram.distinct_values() / usize::from(histogram.buckets().max(1))
    )
}

/// Writes `histogram` to `path` as `.hgrm` text.
pub(crate) fn save_hgrm(histogram: &Histogram<u64>, path: &std::path::Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_hgrm(histogram, &mut out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distribution_ends_at_the_maximum_with_every_count() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
        for ns in 1..=10_000u64 {
            h.record(ns * 100).unwrap();
        }
        let mut text = Vec::new();
        write_hgrm(&h, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        let first = &rows[0];
        let last = rows.last().unwrap();
        assert_eq!(first[1].parse::<f64>().unwrap(), 0.0);
        assert_eq!(last[1].parse::<f64>().unwrap(), 1.0);
        assert_eq!(last[2], "10000", "the last row counts every value");
        // 1 ms, within the histogram's 3 significant digits.
        let max_us: f64 = last[0].parse().unwrap();
        assert!((max_us - 1000.0).abs() <= 1.0, "{max_us}");
        // Percentiles and counts never go down.
        for pair in rows.windows(2) {
            assert!(pair[1][1].parse::<f64>().unwrap() >= pair[0][1].parse::<f64>().unwrap());
            assert!(pair[1][2].parse::<u64>().unwrap() >= pair[0][2].parse::<u64>().unwrap());
        }
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =        10000]"),
            "{text}"
        );
    }
}
