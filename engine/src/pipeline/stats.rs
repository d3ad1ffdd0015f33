//! Live pipeline statistics: stage counters, latency histograms, the
//! periodic one-line summary and the metrics windows.
//!
//! Egress and the journaler record latencies, so the matcher thread never
//! reads a clock inside a command: "matched" is when egress first sees an
//! input's last output on the output ring (the matcher's work plus one ring
//! hop), "journaled" is when the journaler sees the input durable, and
//! "delivered" is when the input's last message has been delivered. Each
//! recorder keeps private histograms and hands them over with `try_lock`,
//! so a reader never makes a stage wait.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::metrics::{LATENCY_STAGES, PipelineMetrics};

/// Nanoseconds since the Unix epoch, as ingress stamps it.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One writer each; padded so the stages do not share cache lines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub ingressed: CachePadded<AtomicU64>,
    pub journaled: CachePadded<AtomicU64>,
    pub matched: CachePadded<AtomicU64>,
    pub outputs_published: CachePadded<AtomicU64>,
    pub outputs_consumed: CachePadded<AtomicU64>,
    /// Messages delivered.
    pub outputs_sent: CachePadded<AtomicU64>,
    /// `trades` messages delivered.
    pub trades: CachePadded<AtomicU64>,
    /// The highest input whose outputs the sink records as delivered;
    /// retention never retires what recovery would re-send from.
    pub delivered: CachePadded<AtomicU64>,
}

fn histogram() -> Histogram<u64> {
    // 1 ns to 100 s at 3 significant digits; records above saturate.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// The three stage latencies.
pub(crate) struct Latencies {
    pub matched: Histogram<u64>,
    pub journaled: Histogram<u64>,
    pub egress: Histogram<u64>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            matched: histogram(),
            journaled: histogram(),
            egress: histogram(),
        }
    }

    fn add(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        for (mine, theirs) in [
            (&mut self.matched, &other.matched),
            (&mut self.journaled, &other.journaled),
            (&mut self.egress, &other.egress),
        ] {
            if !theirs.is_empty() {
                let _ = mine.add(theirs);
            }
        }
    }

    fn reset(&mut self) {
        self.matched.reset();
        self.journaled.reset();
        self.egress.reset();
    }

    /// Percentiles in [`LATENCY_STAGES`] order.
    fn summaries(&self) -> [LatencySummary; LATENCY_STAGES.len()] {
        [
            LatencySummary::of(&self.matched),
            LatencySummary::of(&self.journaled),
            LatencySummary::of(&self.egress),
        ]
    }
}

/// A stage's side: records locally, publishes now and then.
pub(crate) struct LatencyRecorder<'a> {
    local: Latencies,
    shared: &'a Mutex<Latencies>,
    last_publish: Instant,
}

impl<'a> LatencyRecorder<'a> {
    pub fn new(shared: &'a Mutex<Latencies>) -> LatencyRecorder<'a> {
        LatencyRecorder {
            local: Latencies::new(),
            shared,
            last_publish: Instant::now(),
        }
    }

    #[inline]
    pub fn matched(&mut self, ns: u64) {
        self.local.matched.saturating_record(ns.max(1));
    }

    #[inline]
    pub fn journaled(&mut self, ns: u64) {
        self.local.journaled.saturating_record(ns.max(1));
    }

    #[inline]
    pub fn egress(&mut self, ns: u64) {
        self.local.egress.saturating_record(ns.max(1));
    }

    /// Hands the local figures to the reader at most every 50 ms, and never
    /// waits for the lock. `force` publishes whatever happens (at exit).
    pub fn publish(&mut self, force: bool) {
        if !force && self.last_publish.elapsed() < Duration::from_millis(50) {
            return;
        }
        let guard = if force {
            self.shared.lock().ok()
        } else {
            self.shared.try_lock().ok()
        };
        if let Some(mut shared) = guard {
            shared.add(&self.local);
            self.local.reset();
            self.last_publish = Instant::now();
        }
    }
}

/// Percentiles of one stage latency, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Inputs measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// The largest.
    pub max: u64,
}

impl LatencySummary {
    pub(crate) fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// Formats nanoseconds for people: `850ns`, `12.3µs`, `4.1ms`.
pub fn human_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

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

/// The whole run's stage latencies, whole: for percentile-distribution
/// files and plots. Values in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyHistograms {
    /// Ingress (or origin) to the matcher's output.
    pub matched: Histogram<u64>,
    /// Ingress (or origin) to durability in the journal.
    pub journaled: Histogram<u64>,
    /// Ingress (or origin) to delivery.
    pub delivered: Histogram<u64>,
}

impl From<Latencies> for LatencyHistograms {
    fn from(latencies: Latencies) -> LatencyHistograms {
        LatencyHistograms {
            matched: latencies.matched,
            journaled: latencies.journaled,
            delivered: latencies.egress,
        }
    }
}

/// The whole run's stage latencies.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageLatencies {
    /// Ingress (or the source's origin time) to the matcher's output.
    pub matched: LatencySummary,
    /// Ingress (or origin) to the journal holding the input at the
    /// configured durability.
    pub journaled: LatencySummary,
    /// Ingress (or origin) to delivery by egress.
    pub egress: LatencySummary,
}

impl StageLatencies {
    pub(crate) fn of(latencies: &Latencies) -> StageLatencies {
        StageLatencies {
            matched: LatencySummary::of(&latencies.matched),
            journaled: LatencySummary::of(&latencies.journaled),
            egress: LatencySummary::of(&latencies.egress),
        }
    }
}
