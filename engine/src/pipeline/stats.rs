//! The statistics thread: the periodic one-line summary on stderr, and the
//! metrics windows it closes.
//!
//! It gathers what the stage recorders hand over (`super::latency`), adds
//! it up for the whole run, for the printed line and for the current
//! metrics window, and closes each window into [`PipelineMetrics`]. It runs
//! on a helper thread, never on a stage's.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::latency::{Latencies, LatencySummary};
use super::metrics::PipelineMetrics;
use crate::units::human_ns;

/// Prints a line every `interval` and closes a metrics window every
/// `metrics.window()` until `done`; returns the whole run's latencies once
/// the stages have published their last figures.
pub(crate) fn run_stats_thread(
    interval: Option<Duration>,
    metrics: &PipelineMetrics,
    shared: &Mutex<Latencies>,
    done: &AtomicBool,
) -> Latencies {
    let counters = &metrics.counters;
    let mut total = Latencies::new();
    let mut printed = Latencies::new();
    let mut windowed = Latencies::new();
    let mut last_matched = counters.matched.load(Ordering::Relaxed);
    let mut last_trades = counters.trades.load(Ordering::Relaxed);
    let mut last_at = Instant::now();
    let mut window_at = Instant::now();
    let tick = Duration::from_millis(20);
    // Allocated once: this thread runs for the whole run.
    let mut fresh = Latencies::new();
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(tick);
        fresh.reset();
        if let Ok(mut s) = shared.lock() {
            fresh.add(&s);
            s.reset();
        }
        total.add(&fresh);
        printed.add(&fresh);
        windowed.add(&fresh);
        if window_at.elapsed() >= metrics.window() {
            window_at = Instant::now();
            metrics.close_window(windowed.summaries());
            windowed.reset();
        }
        let Some(interval) = interval else { continue };
        if last_at.elapsed() < interval {
            continue;
        }
        let elapsed = last_at.elapsed().as_secs_f64();
        last_at = Instant::now();
        let matched = counters.matched.load(Ordering::Relaxed);
        let ops = (matched - last_matched) as f64 / elapsed;
        last_matched = matched;
        let trades = counters.trades.load(Ordering::Relaxed);
        let trade_rate = (trades - last_trades) as f64 / elapsed;
        last_trades = trades;
        let m = LatencySummary::of(&printed.matched);
        let e = LatencySummary::of(&printed.egress);
        printed.reset();
        let sample = metrics.sample();
        let [input, output] = sample.rings;
        eprintln!(
            "stats: {ops:.0} inputs/s {trade_rate:.0} trades/s | matched p50 {} p99 {} | in->out p50 {} p99 {} | rings in {}/{} out {}/{}",
            human_ns(m.p50),
            human_ns(m.p99),
            human_ns(e.p50),
            human_ns(e.p99),
            input.occupancy,
            input.slots,
            output.occupancy,
            output.slots,
        );
    }
    if let Ok(mut s) = shared.lock() {
        total.add(&s);
        s.reset();
    }
    total
}
