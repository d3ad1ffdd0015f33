//! `tuning jitter`: a busy loop per CPU that records every gap in its own
//! progress above a threshold, as `sysjitter` and `hiccups` do. On a tuned,
//! isolated core the gaps are few and short; anything else (a timer tick,
//! an IRQ, a preempting task, an SMI) shows up as a gap.
//!
//! It only reads the clock and pins its own threads.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// One CPU's gaps.
#[derive(Clone, Debug, Serialize)]
pub struct CpuJitter {
    /// The CPU.
    pub cpu: usize,
    /// Gaps above the threshold.
    pub gaps: u64,
    /// Their 99th percentile, in ns (0 without gaps).
    pub p99_ns: u64,
    /// Their 99.9th percentile.
    pub p999_ns: u64,
    /// The longest.
    pub max_ns: u64,
    /// Nanoseconds lost to gaps per second.
    pub lost_ns_per_s: f64,
    /// Whether the thread could be pinned to the CPU.
    pub pinned: bool,
}

/// Spins on each of `cpus` for `seconds`, in parallel, recording gaps
/// longer than `threshold`.
pub fn measure(cpus: &[usize], seconds: f64, threshold: Duration) -> Vec<CpuJitter> {
    let run_for = Duration::from_secs_f64(seconds.max(0.01));
    std::thread::scope(|scope| {
        let handles: Vec<_> = cpus
            .iter()
            .map(|&cpu| scope.spawn(move || spin(cpu, run_for, threshold)))
            .collect();
        handles
            .into_iter()
            .zip(cpus)
            .map(|(h, &cpu)| {
                h.join().unwrap_or(CpuJitter {
                    cpu,
                    gaps: 0,
                    p99_ns: 0,
                    p999_ns: 0,
                    max_ns: 0,
                    lost_ns_per_s: 0.0,
                    pinned: false,
                })
            })
            .collect()
    })
}

fn spin(cpu: usize, run_for: Duration, threshold: Duration) -> CpuJitter {
    let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    // 1 ns to 10 s at 3 significant digits; allocated before timing.
    let mut gaps = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid bounds"));
    let threshold = threshold.as_nanos() as u64;
    let start = Instant::now();
    let mut last = start;
    let mut lost = 0u64;
    loop {
        let now = Instant::now();
        let gap = now.duration_since(last).as_nanos() as u64;
        if gap > threshold {
            gaps.saturating_record(gap);
            lost += gap;
        }
        last = now;
        if now.duration_since(start) >= run_for {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let quantile = |q: f64| {
        if gaps.is_empty() {
            0
        } else {
            gaps.value_at_quantile(q)
        }
    };
    CpuJitter {
        cpu,
        gaps: gaps.len(),
        p99_ns: quantile(0.99),
        p999_ns: quantile(0.999),
        max_ns: if gaps.is_empty() { 0 } else { gaps.max() },
        lost_ns_per_s: lost as f64 / elapsed,
        pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_in_the_loop_would_be_a_gap_and_a_short_run_reports_every_cpu() {
        let results = measure(&[0], 0.2, Duration::from_micros(1));
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!(r.cpu, 0);
        // Percentiles are ordered whatever the host does.
        assert!(r.p99_ns <= r.p999_ns && r.p999_ns <= r.max_ns);
        assert!(r.lost_ns_per_s < 1e9);
    }
}
