//! `bench`: the benchmark command line.
//!
//! Each subcommand generates its input first, pins itself, then times only
//! the part under test. Human-readable output by default; `--json` prints
//! one JSON object on stdout and keeps progress on stderr.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bench::{
    JournalBenchConfig, JournalReport, MatcherReport, PipelineReport, Workload, WorkloadKind,
    median, median_journal, pin_current_thread, run_journal_once, run_once,
};
use clap::{Args, Parser, Subcommand};
use engine::pipeline::RingKind;
use engine::threads::{CorePlan, WaitMode};
use engine::units::human_ns;
use journal::Durability;

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
    /// Journal append cost per durability mode, and replay rate.
    Journal(JournalArgs),
    /// The whole pipeline, journal included, under an open-loop load.
    Pipeline(PipelineArgs),
    /// What a snapshot costs the matcher and what a restore costs recovery.
    Snapshot(SnapshotArgs),
    /// Kafka to Kafka through the engine: sustained orders/s and
    /// wire-to-wire latency, against the embedded broker or real ones.
    Kafka(KafkaArgs),
    /// The `replay` tool on a large journal: verify, deep verify, run,
    /// dump, book --at, and a seek by time.
    Replay(ReplayArgs),
    /// The whole protocol for this host (matcher, journal, pipeline rate
    /// sweep, snapshot, Kafka), written to a directory: report.md, JSON,
    /// .hgrm files and PNG plots. About 10 minutes on a c6i.4xlarge.
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// The directory to write (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A protocol sized for a 2-core VM: under 2 minutes.
    #[arg(long)]
    quick: bool,
    /// Names the host in titles [default: its cores and CPU model].
    #[arg(long)]
    label: Option<String>,
    /// Where to create scratch journals (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
}

#[derive(Args)]
struct ReplayArgs {
    /// Records in the journal.
    #[arg(long, default_value_t = 10_000_000)]
    records: usize,
    /// A snapshot every this many records.
    #[arg(long, default_value_t = 1_000_000)]
    snapshot_every: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Time each operation this many times on the one journal and report
    /// medians.
    #[arg(long, default_value = "3")]
    repeat: NonZeroUsize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct KafkaArgs {
    /// Orders to send.
    #[arg(long, default_value_t = 1_000_000)]
    orders: usize,
    /// Orders per second offered; 0 sends as fast as the producer can. A
    /// comma-separated list runs each rate in turn.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    rate: Vec<u64>,
    /// Bootstrap servers of real brokers, whose topics orders, fills,
    /// trades, depth and order_status must exist [default: the embedded
    /// mock cluster].
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
    /// Partitions per topic on the embedded broker. It keeps about 5 MB
    /// per partition, so a fast producer needs many.
    #[arg(long, default_value_t = 16)]
    partitions: i32,
    /// Core per pipeline thread [default: chosen for this host].
    #[arg(long)]
    cores: Option<CorePlan>,
    /// spin, yield or park [default: spin only when every thread has an
    /// isolated core, else yield].
    #[arg(long)]
    wait: Option<WaitMode>,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    #[command(flatten)]
    files: FileArgs,
    /// Print one JSON object per rate instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SnapshotArgs {
    /// Resting orders in the book.
    #[arg(long, default_value_t = 1_000_000)]
    orders: usize,
    /// Seed for prices and sizes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Run this many times and report the median restart. Not pinned: the
    /// restart runs the whole pipeline, whose threads need every core.
    #[arg(long, default_value = "1")]
    repeat: NonZeroUsize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PipelineArgs {
    /// The command stream to send.
    #[arg(long, value_enum, default_value = "ecore")]
    workload: WorkloadKind,
    /// Commands per second offered; a comma-separated list sweeps them,
    /// e.g. 100000,250000,500000,1000000,2000000.
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    rate: Vec<u64>,
    /// How long to offer load at each rate.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Rings to run, in this order, in one invocation: disruptor, crossbeam
    /// or both (comma-separated). Naming crossbeam also runs disruptor, so
    /// the two are always compared in one run.
    #[arg(long, value_delimiter = ',', default_value = "disruptor")]
    ring: Vec<RingKind>,
    /// Journal durability modes to run, in this order, in one invocation:
    /// none, batch, sync (comma-separated), so the gate's cost is read
    /// against `none` from the same minutes.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    durability: Vec<Durability>,
    /// Core per pipeline thread [default: chosen for this host].
    #[arg(long)]
    cores: Option<CorePlan>,
    /// spin, yield or park [default: spin only when every thread has an
    /// isolated core, else yield].
    #[arg(long)]
    wait: Option<WaitMode>,
    /// Seed of the ecore generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Run each ring this many times, alternating, and report medians.
    #[arg(long, default_value = "1")]
    repeat: NonZeroUsize,
    #[command(flatten)]
    files: FileArgs,
    /// Print one JSON object per ring instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Where results go besides stdout.
#[derive(Args)]
struct FileArgs {
    /// Write each run's latency distribution here, in HdrHistogram's
    /// .hgrm percentile text.
    #[arg(long, value_name = "DIR")]
    hgrm: Option<PathBuf>,
    /// Draw PNG plots here: latency by percentile, and for several
    /// rates, achieved rate and percentiles against offered rate.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

impl FileArgs {
    /// Writes what was asked for with `write` and lists the files.
    fn write(
        &self,
        write: impl FnOnce(
            Option<&std::path::Path>,
            Option<&std::path::Path>,
        ) -> Result<Vec<PathBuf>, String>,
    ) -> anyhow::Result<()> {
        if self.hgrm.is_none() && self.plot.is_none() {
            return Ok(());
        }
        for path in write(self.hgrm.as_deref(), self.plot.as_deref()).map_err(anyhow::Error::msg)? {
            eprintln!("bench: wrote {}", path.display());
        }
        Ok(())
    }
}

#[derive(Args)]
struct MatcherArgs {
    /// The command stream to replay.
    #[arg(long, value_enum)]
    workload: WorkloadKind,
    /// Timed commands [default: 4000000 for liquibook, 1000000 for ecore].
    #[arg(long)]
    orders: Option<NonZeroUsize>,
    /// Seed of the ecore generator (liquibook always uses srand(3)).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    run: RunArgs,
}

/// Flags every subcommand shares.
#[derive(Args)]
struct RunArgs {
    /// Run this many times and report the median.
    #[arg(long, default_value = "1")]
    repeat: NonZeroUsize,
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

impl RunArgs {
    /// Pins the calling thread as the flags ask and says what happened.
    fn pin(&self) {
        let pinning = if self.no_pin {
            bench::Pinning::Unpinned("--no-pin".into())
        } else {
            pin_current_thread(self.core)
        };
        eprintln!("bench: {pinning}");
    }
}

#[derive(Args)]
struct JournalArgs {
    /// Records appended in the `none` and `batch` runs.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Records appended in the `sync` run, which syncs every one.
    #[arg(long, default_value_t = 2_000)]
    sync_records: u64,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Appends per batch in `batch` mode.
    #[arg(long, default_value_t = 100)]
    batch_size: u64,
    /// Segment file size in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    segment_size: u64,
    /// Let appends take their own page faults (no prefault thread).
    #[arg(long)]
    no_prefault: bool,
    /// Appends per second offered in the durable-latency run.
    #[arg(long, default_value_t = 100_000)]
    durable_rate: u64,
    /// Seconds the durable-latency run lasts.
    #[arg(long, default_value_t = 3.0)]
    durable_seconds: f64,
    /// Where to create the scratch journals (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    #[command(flatten)]
    run: RunArgs,
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
        Mode::Journal(args) => journal(args),
        Mode::Pipeline(args) => pipeline(args),
        Mode::Snapshot(args) => snapshot(args),
        Mode::Kafka(args) => kafka(args),
        Mode::Replay(args) => replay_tool(args),
        Mode::Report(args) => report(args),
    }
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let config = bench::report::ReportConfig {
        out: args.out,
        quick: args.quick,
        label: args.label,
        scratch: args.dir,
    };
    let started = std::time::Instant::now();
    let path = bench::report::run_report(&config, |step| {
        eprintln!("bench: [{:>5.1} s] {step}", started.elapsed().as_secs_f64());
    })
    .map_err(anyhow::Error::msg)?;
    println!("{}", path.display());
    Ok(())
}

fn replay_tool(args: ReplayArgs) -> anyhow::Result<()> {
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

fn kafka(args: KafkaArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.orders > 0, "--orders must be at least 1");
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let cores = args.cores.unwrap_or_else(|| CorePlan::for_host(available));
    let wait = bench::bench_wait(&cores, args.wait, available);
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

fn snapshot(args: SnapshotArgs) -> anyhow::Result<()> {
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

fn pipeline(args: PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.rate.is_empty() && args.rate.iter().all(|r| *r > 0) && args.seconds > 0.0,
        "--rate values and --seconds must be above 0"
    );
    let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let cores = args.cores.unwrap_or_else(|| CorePlan::for_host(available));
    let wait = bench::bench_wait(&cores, args.wait, available);
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

fn matcher(args: MatcherArgs) -> anyhow::Result<()> {
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

fn journal(args: JournalArgs) -> anyhow::Result<()> {
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
