//! `bench mass-cancel`: the matcher's time for an operator's mass cancel,
//! by symbol and by user. It runs the library's measurement and prints
//! the median of the runs.

use bench::{MassCancelConfig, MassCancelReport, run_mass_cancel};

use crate::flags::MassCancelArgs;

pub fn mass_cancel(args: MassCancelArgs) -> anyhow::Result<()> {
    args.run.pin();
    let config = MassCancelConfig {
        orders: args.orders,
        symbols: args.symbols.max(1),
        users: args.users.max(1),
    };
    let mut runs: Vec<MassCancelReport> = Vec::new();
    for i in 0..args.run.repeat.get() {
        let run = run_mass_cancel(config)?;
        eprintln!(
            "bench: run {}/{}: by symbol {:.2} ms, by user {:.2} ms",
            i + 1,
            args.run.repeat,
            run.by_symbol_ms,
            run.by_user_ms
        );
        runs.push(run);
    }
    let median = |key: fn(&MassCancelReport) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(key).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut report = runs[0].clone();
    report.by_symbol_ms = median(|r| r.by_symbol_ms);
    report.by_user_ms = median(|r| r.by_user_ms);
    if args.run.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "by symbol   {:>8.2} ms  {} orders cancelled from one book of {} ({:.0} ns per order)",
        report.by_symbol_ms,
        report.by_symbol_cancelled,
        report.orders,
        report.by_symbol_ms * 1e6 / report.by_symbol_cancelled.max(1) as f64
    );
    println!(
        "by user     {:>8.2} ms  {} orders found among {} in {} books (the scan)",
        report.by_user_ms, report.by_user_cancelled, report.orders, report.symbols
    );
    println!("median of {} run(s)", runs.len());
    Ok(())
}
