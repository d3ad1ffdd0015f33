//! `bench pipeline`: the whole pipeline under an open-loop load, per ring
//! and durability, and the ratios between them. It builds the input, runs
//! the library's measurement and prints it; what is measured and how is in
//! the `bench` library.

use anyhow::Context;
use bench::PipelineReport;
use engine::pipeline::RingKind;
use engine::units::human_ns;

use crate::flags::PipelineArgs;

pub fn pipeline(args: PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.rate.is_empty() && args.rate.iter().all(|r| *r > 0) && args.seconds > 0.0,
        "--rate values and --seconds must be above 0"
    );
    let (cores, wait) = args.threads.plan();
    let mut rings = args.ring.clone();
    if rings.contains(&RingKind::Crossbeam) && !rings.contains(&RingKind::Disruptor) {
        rings.insert(0, RingKind::Disruptor);
    }
    let config = bench::sweep::PipelineSweepConfig {
        workload: args.workload,
        rates: args.rate.clone(),
        seconds: args.seconds,
        rings: rings.clone(),
        durabilities: args.durability.clone(),
        cores,
        wait,
        seed: args.seed,
        scratch: args.dir.clone(),
        repeat: args.repeat.get(),
    };
    eprintln!("bench: generating the {:?} commands", args.workload);
    let entries = bench::sweep::run_pipeline_sweep(&config, |report, round| {
        eprintln!(
            "bench: {} {} at {}/s run {}/{}: {:.0} ops/s, p50 {} p99 {} max {}",
            report.ring,
            report.durability,
            report.rate,
            round + 1,
            args.repeat,
            report.ops,
            human_ns(report.p50_ns),
            human_ns(report.p99_ns),
            human_ns(report.max_ns)
        );
    })
    .map_err(anyhow::Error::msg)
    .context("running the pipeline")?;
    let title = bench::host::HostInfo::current().label();
    args.files
        .write(|hgrm, plot| bench::sweep::write_pipeline_files(&entries, hgrm, plot, &title))?;
    let medians: Vec<&PipelineReport> = entries.iter().map(|e| &e.median).collect();
    if args.json {
        for report in &medians {
            println!("{}", serde_json::to_string(report)?);
        }
        return Ok(());
    }
    println!(
        "pipeline      {:?} for {} s per rate, wait {}, median of {} run(s)",
        args.workload,
        args.seconds,
        wait.as_str(),
        args.repeat
    );
    println!(
        "ring        durability   offered  achieved      p50      p90      p99    p99.9   p99.99      max   (intended send -> delivered)"
    );
    for r in &medians {
        println!(
            "{:<11} {:<10} {:>9} {:>9.0} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            r.ring,
            r.durability,
            r.rate,
            r.ops,
            human_ns(r.p50_ns),
            human_ns(r.p90_ns),
            human_ns(r.p99_ns),
            human_ns(r.p999_ns),
            human_ns(r.p9999_ns),
            human_ns(r.max_ns)
        );
    }
    for rate in &args.rate {
        let find = |ring: &str, durability: &str| {
            medians
                .iter()
                .find(|r| r.rate == *rate && r.ring == ring && r.durability == durability)
        };
        for durability in &args.durability {
            if let (Some(d), Some(c)) = (
                find("disruptor", durability.as_str()),
                find("crossbeam", durability.as_str()),
            ) {
                println!(
                    "crossbeam / disruptor ({}, {rate}/s): p50 {:.2}x, p99 {:.2}x, achieved rate {:.2}x",
                    durability.as_str(),
                    c.p50_ns as f64 / d.p50_ns.max(1) as f64,
                    c.p99_ns as f64 / d.p99_ns.max(1) as f64,
                    c.ops / d.ops.max(1.0)
                );
            }
        }
        for ring in &rings {
            if let (Some(n), Some(b)) = (find(ring.as_str(), "none"), find(ring.as_str(), "batch"))
            {
                println!(
                    "batch - none ({}, {rate}/s): the journal gate adds p50 {}, p99 {}",
                    ring.as_str(),
                    human_ns(b.p50_ns.saturating_sub(n.p50_ns)),
                    human_ns(b.p99_ns.saturating_sub(n.p99_ns))
                );
            }
        }
    }
    Ok(())
}
