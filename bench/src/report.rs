//! `bench report`: the whole benchmark protocol for one host, written to a
//! directory as `report.md`, a JSON file per part, `.hgrm` distributions
//! and PNG plots.
//!
//! The protocol: the matcher on both workloads, the journal in each
//! durability mode, the pipeline rate sweep with both rings and with `none`
//! and `batch`, the snapshot, and Kafka on the embedded broker. The full
//! protocol is sized for a c6i.4xlarge (about 10 minutes); `quick` shrinks
//! every part to run in under 2 minutes on a 2-core VM, for a smoke check
//! and for the plots in the README. It runs nothing concurrently: parts
//! follow one another, and only the matcher is pinned, on its own thread.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use engine::pipeline::RingKind;
use engine::threads::CorePlan;
use engine::units::human_ns;
use journal::Durability;
use serde::Serialize;

use crate::host::HostInfo;
use crate::sweep::{
    PipelineEntry, PipelineSweepConfig, run_kafka_sweep, run_pipeline_sweep, write_kafka_files,
    write_pipeline_files,
};
use crate::{
    JournalBenchConfig, JournalReport, KafkaBenchConfig, KafkaReport, MatcherReport,
    SnapshotReport, Workload, WorkloadKind, pin_current_thread, run_journal_once, run_once,
    run_snapshot_once,
};

/// What to run and where to write it.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    /// The output directory (created).
    pub out: PathBuf,
    /// The small protocol, for a 2-core VM.
    pub quick: bool,
    /// Names the host in titles; defaults to its core count and CPU.
    pub label: Option<String>,
    /// Where scratch journals go.
    pub scratch: PathBuf,
}

/// The sizes of one protocol.
struct Protocol {
    liquibook_orders: usize,
    ecore_orders: usize,
    matcher_repeat: usize,
    journal_records: u64,
    journal_sync_records: u64,
    durable_seconds: f64,
    rates: Vec<u64>,
    pipeline_seconds: f64,
    pipeline_repeat: usize,
    snapshot_orders: usize,
    kafka_orders: usize,
    kafka_rates: Vec<u64>,
}

impl Protocol {
    fn new(quick: bool) -> Protocol {
        if quick {
            Protocol {
                liquibook_orders: 2_000_000,
                ecore_orders: 500_000,
                matcher_repeat: 3,
                journal_records: 1_000_000,
                journal_sync_records: 300,
                durable_seconds: 1.0,
                rates: vec![50_000, 100_000, 250_000, 500_000],
                pipeline_seconds: 2.0,
                pipeline_repeat: 1,
                snapshot_orders: 100_000,
                kafka_orders: 100_000,
                kafka_rates: vec![10_000, 25_000],
            }
        } else {
            Protocol {
                liquibook_orders: 4_000_000,
                ecore_orders: 1_000_000,
                matcher_repeat: 3,
                journal_records: 10_000_000,
                journal_sync_records: 2_000,
                durable_seconds: 3.0,
                rates: vec![100_000, 250_000, 500_000, 1_000_000, 2_000_000],
                pipeline_seconds: 5.0,
                pipeline_repeat: 1,
                snapshot_orders: 1_000_000,
                kafka_orders: 1_000_000,
                kafka_rates: vec![100_000, 250_000],
            }
        }
    }
}

/// Everything one report holds, as `summary.json` has it.
#[derive(Serialize)]
struct Summary<'a> {
    host: &'a HostInfo,
    quick: bool,
    seconds: f64,
    files: Vec<String>,
}

/// Runs the protocol and writes the report; returns `report.md`'s path.
/// `progress` hears what is running.
pub fn run_report(
    config: &ReportConfig,
    mut progress: impl FnMut(&str),
) -> Result<PathBuf, String> {
    let started = Instant::now();
    let out = &config.out;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let host = HostInfo::current();
    let label = config.label.clone().unwrap_or_else(|| host.label());
    let protocol = Protocol::new(config.quick);
    let mut files: Vec<PathBuf> = Vec::new();
    let save_json = |name: &str, value: &dyn JsonPart, files: &mut Vec<PathBuf>| {
        let path = out.join(name);
        std::fs::write(&path, value.pretty())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        files.push(path);
        Ok::<(), String>(())
    };
    save_json("host.json", &host, &mut files)?;

    progress("matcher: liquibook and ecore workloads, pinned");
    let matcher = run_matchers(&protocol)?;
    save_json("matcher.json", &matcher, &mut files)?;

    progress("journal: none, batch and sync");
    let journal = run_journal_once(&JournalBenchConfig {
        records: protocol.journal_records,
        sync_records: protocol.journal_sync_records,
        payload_size: 64,
        batch_size: 100,
        scratch: config.scratch.clone(),
        segment_size: 1 << 30,
        prefault: true,
        durable_rate: 100_000,
        durable_seconds: protocol.durable_seconds,
    })
    .map_err(|e| format!("journal: {e:#}"))?;
    save_json("journal.json", &journal, &mut files)?;

    let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let cores = CorePlan::for_host(available);
    let wait = crate::bench_wait(&cores, None, available);
    progress("pipeline: rate sweep, disruptor and crossbeam, none and batch");
    let entries = run_pipeline_sweep(
        &PipelineSweepConfig {
            workload: WorkloadKind::Ecore,
            rates: protocol.rates.clone(),
            seconds: protocol.pipeline_seconds,
            rings: vec![RingKind::Disruptor, RingKind::Crossbeam],
            durabilities: vec![Durability::None, Durability::Batch],
            cores,
            wait,
            seed: 1,
            scratch: config.scratch.clone(),
            repeat: protocol.pipeline_repeat,
        },
        |r, _| {
            progress(&format!(
                "pipeline: {} {} at {}/s: p99 {}",
                r.ring,
                r.durability,
                r.rate,
                human_ns(r.p99_ns)
            ));
        },
    )?;
    let medians: Vec<_> = entries.iter().map(|e| e.median.clone()).collect();
    save_json("pipeline.json", &medians, &mut files)?;
    files.extend(write_pipeline_files(
        &entries,
        Some(out),
        Some(out),
        &label,
    )?);

    progress("snapshot");
    let snapshot = run_snapshot_once(protocol.snapshot_orders, 1, &config.scratch)
        .map_err(|e| format!("snapshot: {e}"))?;
    save_json("snapshot.json", &snapshot, &mut files)?;

    progress("kafka: the embedded broker");
    let kafka = run_kafka_sweep(
        &KafkaBenchConfig {
            orders: protocol.kafka_orders,
            rate: None,
            brokers: None,
            partitions: 16,
            scratch: config.scratch.clone(),
            cores,
            wait,
        },
        &protocol.kafka_rates,
        |_| {},
    )?;
    save_json("kafka.json", &kafka, &mut files)?;
    files.extend(write_kafka_files(&kafka, Some(out), Some(out), &label)?);

    let seconds = started.elapsed().as_secs_f64();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    save_json(
        "summary.json",
        &Summary {
            host: &host,
            quick: config.quick,
            seconds,
            files: names.clone(),
        },
        &mut files,
    )?;
    let markdown = render(&Rendered {
        host: &host,
        label: &label,
        quick: config.quick,
        seconds,
        matcher: &matcher,
        journal: &journal,
        pipeline: &entries,
        snapshot: &snapshot,
        kafka: &kafka,
        files: &names,
    });
    let path = out.join("report.md");
    std::fs::write(&path, markdown).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Any part of the report as pretty JSON, so one closure saves them all.
trait JsonPart {
    fn pretty(&self) -> String;
}

impl<T: Serialize> JsonPart for T {
    fn pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Both workloads on one pinned thread, so pinning never reaches the
/// pipeline's threads afterwards.
fn run_matchers(protocol: &Protocol) -> Result<Vec<MatcherReport>, String> {
    let sizes = [
        (WorkloadKind::Liquibook, protocol.liquibook_orders),
        (WorkloadKind::Ecore, protocol.ecore_orders),
    ];
    let repeat = protocol.matcher_repeat;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _pinning = pin_current_thread(None);
                let mut reports = Vec::new();
                for (kind, orders) in sizes {
                    let workload = Workload::generate(kind, orders, 1);
                    let mut runs = Vec::new();
                    for _ in 0..repeat {
                        runs.push(
                            run_once(kind, &workload).map_err(|e| format!("matcher: {e:#}"))?,
                        );
                    }
                    reports.push(crate::median(&runs).ok_or("matcher: no runs")?);
                }
                Ok(reports)
            })
            .join()
            .map_err(|_| "the matcher run panicked".to_string())?
    })
}

struct Rendered<'a> {
    host: &'a HostInfo,
    label: &'a str,
    quick: bool,
    seconds: f64,
    matcher: &'a [MatcherReport],
    journal: &'a JournalReport,
    pipeline: &'a [PipelineEntry],
    snapshot: &'a SnapshotReport,
    kafka: &'a [KafkaReport],
    files: &'a [String],
}

fn render(r: &Rendered<'_>) -> String {
    let mut md = String::new();
    let isolated = if r.host.isolated.is_empty() {
        "none".to_string()
    } else {
        r.host.isolated.clone()
    };
    let _ = writeln!(md, "# Benchmark report: {}\n", r.label);
    let _ = writeln!(
        md,
        "| host | |\n|---|---|\n| CPU | {} |\n| cores | {} |\n| kernel | {} |\n| isolated cores | {} |\n| protocol | {} |\n| took | {:.0} s |\n",
        r.host.cpu_model,
        r.host.cores,
        r.host.kernel,
        isolated,
        if r.quick {
            "quick (sized for a 2-core VM)"
        } else {
            "full"
        },
        r.seconds
    );
    if r.host.isolated.is_empty() {
        md.push_str(
            "No cores are isolated: tail percentiles here include the scheduler's noise and mean \
             little. Compare medians and ratios; for tails, run the full protocol on a host whose pipeline cores are isolated.\n\n",
        );
    }
    md.push_str(
        "## Matcher\n\n| workload | orders | M orders/s | trades |\n|---|---:|---:|---:|\n",
    );
    for m in r.matcher {
        let _ = writeln!(
            md,
            "| {:?} | {} | {:.2} | {} |",
            m.workload,
            m.orders,
            m.orders_per_sec / 1e6,
            m.trades
        );
    }
    let j = r.journal;
    let _ = writeln!(
        md,
        "\n## Journal\n\n| mode | ns per append | MB/s |\n|---|---:|---:|\n| none | {:.1} | {:.0} |\n| batch ({}) | {:.1} | {:.0} |\n| sync | {:.0} | {:.2} |\n\n\
         Batch durability at 100K appends/s: p50 {:.0} µs, p99 {:.0} µs from append to durable \
         (the disk's write + fdatasync floor: p50 {:.0} µs). Replay {:.2}M records/s. \
         Longest append across segment roll-overs: {:.0} µs.\n",
        j.append_ns_per_record_none,
        j.mb_per_sec_none,
        j.sync_path,
        j.append_ns_per_record_batch,
        j.mb_per_sec_batch,
        j.append_ns_per_record_sync,
        j.mb_per_sec_sync,
        j.batch_durable_p50_us,
        j.batch_durable_p99_us,
        j.disk_fdatasync_p50_us,
        j.replay_records_per_sec / 1e6,
        j.rollover_max_us
    );
    md.push_str(
        "## Pipeline\n\nLatency from each command's intended send time to the delivery of its \
         last output (open loop: a stall counts against every command due during it).\n\n\
         | ring | durability | offered/s | achieved/s | p50 | p99 | p99.99 | max |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for e in r.pipeline {
        let p = &e.median;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            p.ring,
            p.durability,
            p.rate,
            p.ops,
            human_ns(p.p50_ns),
            human_ns(p.p99_ns),
            human_ns(p.p9999_ns),
            human_ns(p.max_ns)
        );
    }
    md.push('\n');
    for file in r
        .files
        .iter()
        .filter(|f| f.starts_with("pipeline-") && f.ends_with(".png"))
    {
        let _ = writeln!(md, "![{file}]({file})\n");
    }
    let s = r.snapshot;
    let _ = writeln!(
        md,
        "## Snapshot\n\n{} resting orders ({} bytes): matcher stall {:.0} µs (the replica snapshots); \
         replica restore {:.1} ms, write {:.1} ms; ingress to matched p99 {:.0} µs while the \
         replica worked, {:.0} µs without; restart {:.1} ms.\n",
        s.orders,
        s.snapshot_bytes,
        s.matcher_stall_us,
        s.replica_restore_ms,
        s.replica_write_ms,
        s.matched_p99_us,
        s.matched_alone_p99_us,
        s.recovery_ms
    );
    md.push_str(
        "## Kafka (embedded broker)\n\n| offered/s | sustained/s | wire p50 | wire p99 | wire max |\n|---:|---:|---:|---:|---:|\n",
    );
    for k in r.kafka {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | {} |",
            if k.rate == 0 {
                "max".to_string()
            } else {
                k.rate.to_string()
            },
            k.sustained_per_s,
            human_ns(k.wire.p50),
            human_ns(k.wire.p99),
            human_ns(k.wire.max)
        );
    }
    md.push('\n');
    for file in r
        .files
        .iter()
        .filter(|f| f.starts_with("kafka-") && f.ends_with(".png"))
    {
        let _ = writeln!(md, "![{file}]({file})\n");
    }
    md.push_str("## Files\n\n");
    for file in r.files {
        let _ = writeln!(md, "- `{file}`");
    }
    md
}
