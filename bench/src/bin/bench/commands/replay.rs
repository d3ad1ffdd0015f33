//! `bench replay`: the `replay` tool's operations timed on a large journal.
//! It builds the input, runs the library's measurement and prints it; what
//! is measured and how is in the `bench` library.

use crate::flags::ReplayArgs;

pub fn replay_tool(args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.records > 0 && args.snapshot_every > 0,
        "--records and --snapshot-every must be at least 1"
    );
    let config = bench::ReplayBenchConfig {
        records: args.records,
        snapshot_every: args.snapshot_every,
        scratch: args.dir,
        replay_bin: std::env::current_exe()?.with_file_name("replay"),
        repeat: args.repeat.get(),
    };
    let r = bench::run_replay(&config)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "replay tool   {} records, a snapshot every {} (written in {:.1} s); medians of {}, range in brackets",
        r.records,
        r.snapshot_every,
        r.write_seconds,
        r.runs.len()
    );
    // Each line: the median, the range over the repeats, and the target.
    let line =
        |name: &str, f: fn(&bench::ReplayTimings) -> f64, scale: f64, unit: &str, target: &str| {
            let values: Vec<f64> = r.runs.iter().map(|t| f(t) / scale).collect();
            let low = values.iter().copied().fold(f64::INFINITY, f64::min);
            let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "{name:<16} {:>8.2}{unit:<12} [{low:.2}-{high:.2}]   {target}",
                f(&r.median) / scale
            );
        };
    line(
        "verify",
        |t| t.verify_records_per_sec,
        1e6,
        "M records/s",
        "(target >= 10M)",
    );
    line(
        "verify --deep",
        |t| t.verify_deep_records_per_sec,
        1e6,
        "M records/s",
        "(target >= 5M)",
    );
    line(
        "run, discarded",
        |t| t.run_records_per_sec,
        1e6,
        "M records/s",
        "(target >= 5M)",
    );
    line(
        "run, to files",
        |t| t.run_files_records_per_sec,
        1e6,
        "M records/s",
        "",
    );
    line(
        "dump --json",
        |t| t.dump_json_records_per_sec,
        1e6,
        "M records/s",
        "(target >= 2M)",
    );
    line(
        "book --at",
        |t| t.book_at_seconds,
        1.0,
        " s",
        "(target <= 1 s)",
    );
    line(
        "dump --since",
        |t| t.dump_since_first_line_ms,
        1.0,
        " ms",
        "to the first line (target <= 50 ms)",
    );
    Ok(())
}
