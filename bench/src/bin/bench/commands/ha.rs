//! `bench ha`: the hot standby's lag, output delay and takeover times. It
//! finds the `engine` binary, runs the library's measurement and prints it;
//! what is measured and how is in the `bench` library.

use anyhow::Context;
use engine::units::human_ns;

use crate::flags::HaArgs;

pub fn ha(args: HaArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.seconds > 0, "--seconds must be at least 1");
    let engine = super::engine_binary(args.engine)?;
    let config = bench::HaBenchConfig {
        engine,
        rate: args.rate,
        seconds: args.seconds,
        takeovers: args.takeovers,
        takeover_rate: args.takeover_rate,
        scratch: args.dir,
    };
    let report = bench::run_ha(&config)
        .map_err(anyhow::Error::msg)
        .context("running the standby benchmark")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "ha            {} orders/s for {} s per phase, {} inputs, on the embedded broker",
        report.rate, args.seconds, report.inputs
    );
    for (name, s) in [
        ("delivered, durability batch", report.batch_delivered_ns),
        (
            "delivered, durability replicated",
            report.replicated_delivered_ns,
        ),
        (
            "replication lag (leader ingress -> standby journal)",
            report.replication_lag_ns,
        ),
    ] {
        println!(
            "{name:<54} p50 {:>9} p99 {:>9} max {:>9}",
            human_ns(s.p50),
            human_ns(s.p99),
            human_ns(s.max)
        );
    }
    let m = report.takeover_median;
    println!(
        "takeovers     {} by SIGKILL at {} orders/s, medians: kill to first output {} ms = detection {} ms + \
         epoch entry {} ms + catch-up {} ms + recovery and re-send {} ms (+ the first input)",
        report.takeovers.len(),
        report.takeover_rate,
        m.kill_to_first_output_ms,
        m.detection_ms,
        m.epoch_entry_ms,
        m.catch_up_ms,
        m.resend_ms
    );
    Ok(())
}
