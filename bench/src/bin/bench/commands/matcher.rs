//! `bench matcher`: one engine thread's throughput on a workload, and its
//! summary. It builds the input, runs the library's measurement and prints
//! it; what is measured and how is in the `bench` library.

use std::num::NonZeroUsize;

use anyhow::Context;
use bench::{MatcherReport, Workload, WorkloadKind, median, run_once};

use crate::flags::MatcherArgs;

pub fn matcher(args: MatcherArgs) -> anyhow::Result<()> {
    let orders = args
        .orders
        .map(NonZeroUsize::get)
        .unwrap_or(match args.workload {
            WorkloadKind::Liquibook => 4_000_000,
            WorkloadKind::Ecore => 1_000_000,
        });
    args.run.pin();
    eprintln!("bench: generating {orders} {:?} commands", args.workload);
    let workload = Workload::generate(args.workload, orders, args.seed);

    let mut runs: Vec<MatcherReport> = Vec::with_capacity(args.run.repeat.get());
    for i in 0..args.run.repeat.get() {
        let report = run_once(args.workload, &workload).context("running the matcher")?;
        eprintln!(
            "bench: run {}/{}: {:.2}M orders/s",
            i + 1,
            args.run.repeat,
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
    if args.run.json {
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
