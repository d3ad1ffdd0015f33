//! `bench move`: the pause a partition's move costs its symbols, at each
//! size of book asked for. It finds the `engine` binary, runs the
//! library's measurement and prints it; what is measured and how is in the
//! `bench` library.

use anyhow::Context;

use crate::flags::MoveArgs;

pub fn move_partition(args: MoveArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    let engine = super::engine_binary(args.engine)?;
    if !args.json {
        println!(
            "move          partition 0 from a to b at {} orders/s, on the embedded broker; ms",
            args.rate
        );
        println!(
            "{:>8} {:>10} {:>8} {:>16} {:>9} {:>8} {:>7} {:>13}",
            "resting",
            "export",
            "pause",
            "release+export",
            "handover",
            "acquire",
            "commit",
            "first output"
        );
    }
    for resting in args.resting {
        let config = bench::MoveBenchConfig {
            engine: engine.clone(),
            resting,
            rate: args.rate,
            scratch: args.dir.clone(),
        };
        let report = bench::run_move(&config)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("moving {resting} resting orders"))?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
            continue;
        }
        let s = report.steps;
        println!(
            "{:>8} {:>9}K {:>8.0} {:>16.1} {:>9.1} {:>8.1} {:>7.1} {:>13.1}",
            report.resting,
            report.export_bytes / 1024,
            report.pause_ms,
            s.release_and_export,
            s.handover,
            s.acquire,
            s.commit,
            s.first_output
        );
    }
    Ok(())
}
