//! `bench snapshot`: what a snapshot costs the matcher and a restart costs
//! recovery. It builds the input, runs the library's measurement and prints
//! it; what is measured and how is in the `bench` library.

use crate::flags::SnapshotArgs;

pub fn snapshot(args: SnapshotArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.orders > 0, "--orders must be at least 1");
    let mut runs = Vec::new();
    for i in 0..args.repeat.get() {
        let report = bench::run_snapshot_once(args.orders, args.seed, &args.dir)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!(
            "bench: run {}/{}: replica restore {:.1} ms, write {:.1} ms; matched max {:.0} us; encode {:.1} ms; restore {:.1} ms; restart {:.1} ms",
            i + 1,
            args.repeat,
            report.replica_restore_ms,
            report.replica_write_ms,
            report.matched_max_us,
            report.encode_ms,
            report.restore_ms,
            report.recovery_ms
        );
        runs.push(report);
    }
    runs.sort_by(|a, b| a.recovery_ms.total_cmp(&b.recovery_ms));
    let report = runs.swap_remove(runs.len() / 2);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "snapshot      {} resting orders, {} bytes",
            report.orders, report.snapshot_bytes
        );
        println!(
            "matcher stall {:>8.0} us per snapshot: the replica snapshots, the matcher does no snapshot work",
            report.matcher_stall_us
        );
        println!(
            "replica       {:>8.1} ms restoring itself, {:.1} ms writing the book ({} snapshots), on its own thread",
            report.replica_restore_ms, report.replica_write_ms, report.replica_snapshots
        );
        println!(
            "matched       {:>8.0} us p99, {:.0} us max, ingress to matched at 100K/s while the replica worked",
            report.matched_p99_us, report.matched_max_us
        );
        println!(
            "              {:>8.0} us p99, {:.0} us max, the same with no replica at work",
            report.matched_alone_p99_us, report.matched_alone_max_us
        );
        println!(
            "copy          {:>8.1} ms into a warm spare: the stall of the previous design, for comparison",
            report.copy_warm_ms
        );
        println!(
            "encode        {:>8.1} ms serialising the copy, off the matcher",
            report.encode_ms
        );
        println!(
            "restore       {:>8.1} ms rebuilding an engine from the bytes ({:.1} ms of it an empty engine's arena)",
            report.restore_ms, report.empty_engine_ms
        );
        println!(
            "restart       {:>8.1} ms, a whole clean recovery (open {:.1} ms, snapshot {:.1} ms), median by restart",
            report.recovery_ms, report.recovery_open_ms, report.recovery_restore_ms
        );
    }
    Ok(())
}
