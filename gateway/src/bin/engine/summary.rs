//! What the engine prints for people: the start-up table of threads and
//! cores, and the summary at exit, with one JSON line on stdout for
//! scripts. It decides nothing.

use engine::pipeline::RunReport;
use engine::units::human_ns;

use crate::settings::{InputSpec, Settings};

/// Prints which core each thread runs on and warns about what will hurt
/// latency.
pub fn print_startup(settings: &Settings) {
    let p = &settings.pipeline;
    let (table, warnings) = tuning::checks::startup_report(&tuning::Host::real(), &p.cores);
    eprint!("{table}");
    eprintln!("wait strategy: {}", p.wait.as_str());
    if let Some(why) = &settings.wait_note {
        tracing::warn!("{why}");
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    if let InputSpec::Demo { rate, .. } = settings.input {
        eprintln!(
            "demo: journal {} (durability {}), {rate} orders/s",
            p.journal_dir.display(),
            p.journal.durability_mode().as_str(),
        );
    }
}

/// What a standby did until it was stopped, on stderr, and the same as one
/// JSON line on stdout.
pub fn print_follow_report(report: &engine::replicated::FollowReport) {
    eprintln!(
        "standby: epoch {}, agreed through sequence {}, {} records appended from the journal \
         topic, {} confirmed, {} quarantine folders",
        report.epoch,
        report.agreed_through,
        report.appended,
        report.confirmed,
        report.quarantined.len()
    );
    if let Some((p50, p99, max)) = report.lag_ns {
        eprintln!(
            "replication lag (leader's ingress to this journal): p50 {} p99 {} max {}",
            human_ns(p50),
            human_ns(p99),
            human_ns(max)
        );
    }
    let summary = serde_json::json!({
        "role": "standby",
        "epoch": report.epoch,
        "last_sequence": report.agreed_through,
        "appended": report.appended,
        "confirmed": report.confirmed,
        "quarantined": report.quarantined,
        "lag_ns": report.lag_ns.map(|(p50, p99, max)| serde_json::json!({
            "p50": p50, "p99": p99, "max": max,
        })),
    });
    println!("{summary}");
}

/// The recovery, run, latency and snapshot lines on stderr, and the JSON
/// summary on stdout.
pub fn print_report(report: &RunReport, kafka_max_batch: Option<i64>) {
    let r = &report.recovery;
    eprintln!(
        "recovery: snapshot {:?}, {} journal records replayed, outputs of {} re-sent, {} hashes verified, \
         {:.1} ms (open {:.1}, snapshot {:.1}, replay {:.1})",
        r.snapshot,
        r.replayed,
        r.resent,
        r.hashes_verified,
        r.took.as_secs_f64() * 1e3,
        r.open.as_secs_f64() * 1e3,
        r.restore.as_secs_f64() * 1e3,
        r.replay.as_secs_f64() * 1e3,
    );
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "run: {} inputs in {:.2} s ({:.0}/s), last sequence {}, state hash {:016x}, journal sync {:?}",
        report.inputs,
        secs,
        report.inputs as f64 / secs,
        report.last_sequence,
        report.state_hash,
        report.sync_path
    );
    for (name, l) in [
        ("matched", report.latencies.matched),
        ("journaled", report.latencies.journaled),
        ("egress", report.latencies.egress),
    ] {
        eprintln!(
            "latency {name:<9}: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {} ({} inputs)",
            human_ns(l.p50),
            human_ns(l.p90),
            human_ns(l.p99),
            human_ns(l.p999),
            human_ns(l.p9999),
            human_ns(l.max),
            l.count
        );
    }
    let s = &report.snapshots;
    // The matcher's snapshot stall is zero by design, not by measurement:
    // it has no snapshot code path. What the replica did is what varies.
    eprintln!(
        "snapshots: {} written ({} by the replica, restored in {}, {} inputs followed, at most {} behind; \
         matcher stall 0, it does no snapshot work), largest {} orders, write max {:.1} ms, {} segments retired",
        s.written,
        s.by_replica,
        s.replica_restore
            .map_or_else(|| "-".to_string(), |d| human_ns(d.as_nanos() as u64)),
        s.replica_applied,
        s.replica_max_lag,
        s.max_orders,
        s.max_write.as_secs_f64() * 1e3,
        s.segments_retired
    );
    // One machine-readable line on stdout for scripts and tests.
    println!(
        "{}",
        serde_json::json!({
            "inputs": report.inputs,
            "last_sequence": report.last_sequence,
            "state_hash": format!("{:016x}", report.state_hash),
            "replayed": r.replayed,
            "resent": r.resent,
            "recovery_ms": r.took.as_secs_f64() * 1e3,
            "snapshots_by_replica": s.by_replica,
            "replica_max_lag": s.replica_max_lag,
            "segments_retired": s.segments_retired,
            "messages": report.messages,
            "trades": report.trades,
            "kafka_max_batch": kafka_max_batch.filter(|n| *n >= 0),
            "latency_ns": {
                "matched": percentiles(&report.latencies.matched),
                "journaled": percentiles(&report.latencies.journaled),
                "delivered": percentiles(&report.latencies.egress),
            },
        })
    );
}

/// A stage's percentiles for the JSON summary.
fn percentiles(l: &engine::pipeline::LatencySummary) -> serde_json::Value {
    serde_json::json!({ "p50": l.p50, "p99": l.p99, "max": l.max, "count": l.count })
}
