//! Live pipeline statistics: stage counters, latency histograms and the
//! periodic one-line summary.
//!
//! Only egress records latencies, so the matcher thread never reads a clock:
//! "matched" is when egress first sees an input's last output on the output
//! ring (the matcher's work plus one ring hop), "egress" is when that input's
//! last message has been delivered. Egress keeps private histograms and
//! hands them over with `try_lock`, so a reader never makes it wait.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

/// Nanoseconds since the Unix epoch, as ingress stamps it.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One writer each; padded so the stages do not share cache lines.
#[derive(Default)]
pub(crate) struct Counters {
    pub ingressed: CachePadded<AtomicU64>,
    pub journaled: CachePadded<AtomicU64>,
    pub matched: CachePadded<AtomicU64>,
    pub outputs_published: CachePadded<AtomicU64>,
    pub outputs_consumed: CachePadded<AtomicU64>,
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

/// The two stage latencies.
pub(crate) struct Latencies {
    pub matched: Histogram<u64>,
    pub egress: Histogram<u64>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            matched: histogram(),
            egress: histogram(),
        }
    }

    fn add(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.matched.add(&other.matched);
        let _ = self.egress.add(&other.egress);
    }

    fn reset(&mut self) {
        self.matched.reset();
        self.egress.reset();
    }
}

/// Egress's side: records locally, publishes now and then.
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
    fn of(h: &Histogram<u64>) -> LatencySummary {
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

/// Prints a line every `interval` until `done`; returns the whole run's
/// latencies once egress has published its last figures.
pub(crate) fn run_stats_thread(
    interval: Option<Duration>,
    counters: &Counters,
    shared: &Mutex<Latencies>,
    ring_sizes: (usize, usize),
    done: &AtomicBool,
) -> Latencies {
    let mut total = Latencies::new();
    let mut last_matched = counters.matched.load(Ordering::Relaxed);
    let mut last_trades = counters.trades.load(Ordering::Relaxed);
    let mut last_at = Instant::now();
    let tick = Duration::from_millis(20);
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(tick);
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
        let mut window = Latencies::new();
        if let Ok(mut s) = shared.lock() {
            window.add(&s);
            s.reset();
        }
        total.add(&window);
        let m = LatencySummary::of(&window.matched);
        let e = LatencySummary::of(&window.egress);
        let input = counters
            .ingressed
            .load(Ordering::Relaxed)
            .saturating_sub(counters.journaled.load(Ordering::Relaxed).min(matched));
        let output = counters
            .outputs_published
            .load(Ordering::Relaxed)
            .saturating_sub(counters.outputs_consumed.load(Ordering::Relaxed));
        eprintln!(
            "stats: {ops:.0} inputs/s {trade_rate:.0} trades/s | matched p50 {} p99 {} | in->out p50 {} p99 {} | rings in {input}/{} out {output}/{}",
            human_ns(m.p50),
            human_ns(m.p99),
            human_ns(e.p50),
            human_ns(e.p99),
            ring_sizes.0,
            ring_sizes.1,
        );
    }
    if let Ok(mut s) = shared.lock() {
        total.add(&s);
        s.reset();
    }
    total
}

/// The whole run's stage latencies.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageLatencies {
    /// Ingress (or the source's origin time) to the matcher's output.
    pub matched: LatencySummary,
    /// Ingress (or origin) to delivery by egress.
    pub egress: LatencySummary,
}

impl StageLatencies {
    pub(crate) fn of(latencies: &Latencies) -> StageLatencies {
        StageLatencies {
            matched: LatencySummary::of(&latencies.matched),
            egress: LatencySummary::of(&latencies.egress),
        }
    }
}
