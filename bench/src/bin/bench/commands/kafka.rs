//! `bench kafka`: Kafka to Kafka through the engine, and its summary. It
//! builds the input, runs the library's measurement and prints it; what is
//! measured and how is in the `bench` library.

use anyhow::Context;
use engine::units::human_ns;

use crate::flags::KafkaArgs;

pub fn kafka(args: KafkaArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.orders > 0, "--orders must be at least 1");
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let (cores, wait) = args.threads.plan();
    let config = bench::KafkaBenchConfig {
        orders: args.orders,
        rate: None,
        brokers: args.brokers,
        partitions: args.partitions,
        scratch: args.dir,
        cores,
        wait,
    };
    let reports = bench::sweep::run_kafka_sweep(&config, &args.rate, |r| {
        eprintln!(
            "bench: kafka at {}: sustained {:.0}/s, wire p50 {} p99 {}",
            if r.rate == 0 {
                "max".to_string()
            } else {
                format!("{}/s", r.rate)
            },
            r.sustained_per_s,
            human_ns(r.wire.p50),
            human_ns(r.wire.p99)
        );
    })
    .map_err(anyhow::Error::msg)
    .context("running the Kafka benchmark")?;
    let title = bench::host::HostInfo::current().label();
    args.files
        .write(|hgrm, plot| bench::sweep::write_kafka_files(&reports, hgrm, plot, &title))?;
    if args.json {
        for report in &reports {
            println!("{}", serde_json::to_string(report)?);
        }
        return Ok(());
    }
    for report in &reports {
        print_kafka(report);
    }
    Ok(())
}

fn print_kafka(report: &bench::KafkaReport) {
    println!(
        "kafka         {} orders via {}, offered {}, sent {:.0}/s, sustained {:.0}/s, {} output messages",
        report.orders,
        report.broker,
        if report.rate == 0 {
            "as fast as possible".to_string()
        } else {
            format!("{}/s", report.rate)
        },
        report.sent_per_s,
        report.sustained_per_s,
        report.messages
    );
    for (name, p) in [
        ("wire to wire", report.wire),
        ("  broker in (produce -> ingress)", report.broker_in),
        (
            "  engine + broker out (ingress -> consumed)",
            report.engine_and_out,
        ),
        (
            "    engine only (ingress -> handed to producer)",
            report.engine_only,
        ),
    ] {
        println!(
            "{name:<48} p50 {:>9} p90 {:>9} p99 {:>9} p99.9 {:>9} max {:>9}",
            human_ns(p.p50),
            human_ns(p.p90),
            human_ns(p.p99),
            human_ns(p.p999),
            human_ns(p.max)
        );
    }
}
