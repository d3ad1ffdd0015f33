//! `bench journal`: append cost per durability mode, durable latency against
//! the disk's floor, and replay rate. It builds the input, runs the
//! library's measurement and prints it; what is measured and how is in the
//! `bench` library.

use anyhow::Context;
use bench::{JournalBenchConfig, JournalReport, median_journal, run_journal_once};

use crate::flags::JournalArgs;

pub fn journal(args: JournalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.records > 0 && args.sync_records > 0,
        "--records and --sync-records must be at least 1"
    );
    args.run.pin();
    let config = JournalBenchConfig {
        records: args.records,
        sync_records: args.sync_records,
        payload_size: args.size,
        batch_size: args.batch_size,
        scratch: args.dir,
        segment_size: args.segment_size,
        prefault: !args.no_prefault,
        durable_rate: args.durable_rate,
        durable_seconds: args.durable_seconds,
    };
    let mut runs = Vec::with_capacity(args.run.repeat.get());
    for i in 0..args.run.repeat.get() {
        let report = run_journal_once(&config).context("running the journal benchmark")?;
        eprintln!(
            "bench: run {}/{}: none {:.1} ns, batch {:.1} ns, sync {:.0} ns per append; replay {:.2}M records/s",
            i + 1,
            args.run.repeat,
            report.append_ns_per_record_none,
            report.append_ns_per_record_batch,
            report.append_ns_per_record_sync,
            report.replay_records_per_sec / 1e6
        );
        runs.push(report);
    }
    let report = median_journal(&runs).context("no runs")?;
    if args.run.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_journal_summary(&report, runs.len());
    }
    Ok(())
}

fn print_journal_summary(r: &JournalReport, runs: usize) {
    println!(
        "journal       {} records of {} payload bytes ({} on disk), median of {runs} run(s), prefault {}",
        r.records,
        r.payload_size,
        r.frame_size,
        if r.prefault { "on" } else { "off" }
    );
    println!(
        "none          {:>8.1} ns/append  {:>8.0} MB/s  ({:.0} page faults per million appends)",
        r.append_ns_per_record_none, r.mb_per_sec_none, r.page_faults_per_million_none
    );
    println!(
        "batch         {:>8.1} ns/append  {:>8.0} MB/s  ({:.0} page faults per million; batches of {}, synced by {}, drained {:.1} ms after the last)",
        r.append_ns_per_record_batch,
        r.mb_per_sec_batch,
        r.page_faults_per_million_batch,
        r.batch_size,
        r.sync_path,
        r.batch_drain_ms
    );
    println!(
        "sync          {:>8.0} ns/append  {:>8.2} MB/s  ({} records)",
        r.append_ns_per_record_sync, r.mb_per_sec_sync, r.sync_records
    );
    println!(
        "replay        {:>8.2}M records/s {:>7.0} MB/s  (CRC checked)",
        r.replay_records_per_sec / 1e6,
        r.replay_mb_per_sec
    );
    println!(
        "recovery      {:>8.1} ms to reopen the none journal",
        r.recovery_ms
    );
    println!(
        "durable       p50 {:.0} us, p99 {:.0} us from append to durable (batch mode, a batch per append, steady rate); disk floor: write + fdatasync p50 {:.0} us",
        r.batch_durable_p50_us, r.batch_durable_p99_us, r.disk_fdatasync_p50_us
    );
    println!(
        "roll-over     {:>8.0} us, the longest append across 8 segment roll-overs (batch mode)",
        r.rollover_max_us
    );
    println!(
        "floor         {:>8.1} ns/record to memcpy + CRC32C a frame into a warm buffer ({:.2}x for a none append)",
        r.floor_ns_per_record,
        r.append_ns_per_record_none / r.floor_ns_per_record
    );
}
