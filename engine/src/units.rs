//! Figures as people read them: durations, sizes and rates in the units
//! that fit them. One set of formatters for every binary's human output,
//! so the engine's summary, `replay` and `bench` print alike.
//!
//! Only for text meant for people; JSON output carries raw numbers.

/// Nanoseconds: `850ns`, `12.3µs`, `4.1ms`, `2.50s`.
pub fn human_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

/// Bytes, in binary units: `512 B`, `1.0 KiB`, `3.5 MiB`, `1.25 GiB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.2} GiB", n as f64 / 1_073_741_824.0),
    }
}

/// Items per second, in thousands or millions: `12K/s`, `12.30M/s`.
pub fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M/s", per_sec / 1e6)
    } else {
        format!("{:.0}K/s", per_sec / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_figure_takes_the_unit_that_fits_it() {
        assert_eq!(human_ns(850), "850ns");
        assert_eq!(human_ns(12_345), "12.3µs");
        assert_eq!(human_ns(4_100_000), "4.1ms");
        assert_eq!(human_ns(2_500_000_000), "2.50s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_rate(12_300_000.0), "12.30M/s");
        assert_eq!(human_rate(45_000.0), "45K/s");
    }
}
