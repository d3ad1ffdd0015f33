//! `bench`: the benchmark command line.
//!
//! Each subcommand generates its input first, pins itself, then times only
//! the part under test. Human-readable output by default; `--json` prints
//! one JSON object on stdout and keeps progress on stderr.

use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context;
use bench::{MatcherReport, Workload, WorkloadKind, median, pin_current_thread, run_once};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bench", version, about = "Benchmarks for the matching engine")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Matching throughput of one engine thread on a DESIGN.md §9 workload.
    Matcher(MatcherArgs),
}

#[derive(Args)]
struct MatcherArgs {
    /// The command stream to replay.
    #[arg(long, value_enum)]
    workload: WorkloadKind,
    /// Timed commands [default: 4000000 for liquibook, 1000000 for ecore].
    #[arg(long)]
    orders: Option<NonZeroUsize>,
    /// Run this many times on fresh engines and report the median.
    #[arg(long, default_value = "1")]
    repeat: NonZeroUsize,
    /// Seed of the ecore generator (liquibook always uses srand(3)).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pin to this core instead of the last one.
    #[arg(long, conflicts_with = "no_pin")]
    core: Option<usize>,
    /// Do not pin the benchmark thread.
    #[arg(long)]
    no_pin: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.mode {
        Mode::Matcher(args) => matcher(args),
    }
}

fn matcher(args: MatcherArgs) -> anyhow::Result<()> {
    let orders = args
        .orders
        .map(NonZeroUsize::get)
        .unwrap_or(match args.workload {
            WorkloadKind::Liquibook => 4_000_000,
            WorkloadKind::Ecore => 1_000_000,
        });
    let pinning = if args.no_pin {
        bench::Pinning::Unpinned("--no-pin".into())
    } else {
        pin_current_thread(args.core)
    };
    eprintln!("bench: {pinning}");
    eprintln!("bench: generating {orders} {:?} commands", args.workload);
    let workload = Workload::generate(args.workload, orders, args.seed);

    let mut runs: Vec<MatcherReport> = Vec::with_capacity(args.repeat.get());
    for i in 0..args.repeat.get() {
        let report = run_once(args.workload, &workload).context("running the matcher")?;
        eprintln!(
            "bench: run {}/{}: {:.2}M orders/s",
            i + 1,
            args.repeat,
            report.orders_per_sec / 1e6
        );
        if let Some(first) = runs.first() {
            anyhow::ensure!(
                first.same_outcome(&report),
                "run {} matched differently from run 1: the engine is not deterministic",
                i + 1
            );
        }
        runs.push(report);
    }
    let report = median(&runs).context("no runs")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report, &runs);
    }
    Ok(())
}

fn print_summary(report: &MatcherReport, runs: &[MatcherReport]) {
    let price = |p: Option<u64>| p.map_or_else(|| "-".to_string(), |p| p.to_string());
    let all: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.2}", r.orders_per_sec / 1e6))
        .collect();
    println!(
        "workload      {:?}, {} orders, median of {} run(s)",
        report.workload,
        report.orders,
        runs.len()
    );
    println!(
        "throughput    {:.2}M orders/s ({:.3} s); runs: {} M/s",
        report.orders_per_sec / 1e6,
        report.seconds,
        all.join(" ")
    );
    println!("trades        {}", report.trades);
    println!("volume        {}", report.volume);
    println!("notional      {}", report.notional);
    println!(
        "resting       {} bids on {} levels, {} asks on {} levels",
        report.resting_bids, report.bid_levels, report.resting_asks, report.ask_levels
    );
    println!(
        "best          bid {}, ask {}",
        price(report.best_bid),
        price(report.best_ask)
    );
    println!("last price    {}", price(report.last_price));
}
