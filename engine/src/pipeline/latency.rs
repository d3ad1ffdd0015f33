//! Stage latencies: the histograms egress and the journaler record into,
//! and the percentiles taken from them.
//!
//! Egress and the journaler record latencies, so the matcher thread never
//! reads a clock inside a command: "matched" is when egress first sees an
//! input's last output on the output ring (the matcher's work plus one ring
//! hop), "journaled" is when the journaler sees the input durable, and
//! "delivered" is when the input's last message has been delivered. Each
//! recorder keeps private histograms and hands them over with `try_lock`,
//! so a reader never makes a stage wait. This module keeps figures; it
//! prints nothing and publishes nothing (`super::stats` does).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latency stages, as `engine_latency_seconds{stage}` labels them.
pub(crate) const LATENCY_STAGES: [&str; 3] = ["matched", "journaled", "delivered"];

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

    pub fn add(&mut self, other: &Latencies) {
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

    pub fn reset(&mut self) {
        self.matched.reset();
        self.journaled.reset();
        self.egress.reset();
    }

    /// Percentiles in [`LATENCY_STAGES`] order.
    pub(crate) fn summaries(&self) -> [LatencySummary; LATENCY_STAGES.len()] {
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
