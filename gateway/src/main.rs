//! The `engine` server: recover from the journal, then run the pipeline from
//! an input to an output until the input ends or a signal arrives.
//!
//! This file only turns flags and a TOML file into a `PipelineConfig` and
//! Kafka clients, starts the embedded broker when no brokers are
//! configured, prints the start-up table and the final figures, and maps
//! errors to exit codes. It holds no engine logic.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use engine::EngineConfig;
use engine::pipeline::{
    CorePlan, IngressClock, PipelineConfig, RingKind, RunReport, WaitMode, human_ns, isolated_cpus,
    run,
};
use gateway::file::{FileSink, FileSource};
use gateway::kafka::{EmbeddedBroker, EndPolicy, Feeder, KafkaConfig, KafkaSink, KafkaSource};
use journal::{Durability, JournalOptions};
use serde::Deserialize;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// LMAX-style matching engine: journal every input, match on one pinned
/// thread, emit results in batches.
#[derive(Parser, Debug)]
#[command(name = "engine", version, about)]
struct Cli {
    /// TOML configuration file; flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Journal directory (created if missing).
    #[arg(long, value_name = "DIR")]
    journal: Option<PathBuf>,
    /// How durable a journaled input must be before its outputs leave.
    #[arg(long, value_name = "none|batch|sync")]
    durability: Option<Durability>,
    /// Where orders come from: kafka (the default) or file:PATH (JSON lines).
    #[arg(long, value_name = "kafka|file:PATH")]
    input: Option<String>,
    /// Where results go: kafka (the default) or file:DIR (one JSON-lines
    /// file per topic).
    #[arg(long, value_name = "kafka|file:DIR")]
    output: Option<String>,
    /// Kafka bootstrap servers. Without them (here or in the config file)
    /// the engine starts an embedded in-memory broker and prints its address.
    #[arg(long, value_name = "HOST:PORT,...")]
    brokers: Option<String>,
    /// A librdkafka property for every Kafka client, e.g.
    /// -X statistics.interval.ms=1000; overrides the config file.
    #[arg(short = 'X', long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    kafka_properties: Vec<(String, String)>,
    /// Drain, snapshot and exit 0 when the input is exhausted (for Kafka:
    /// consumed to the end of every partition), instead of waiting for more.
    #[arg(long)]
    exit_at_end: bool,
    /// Cores per thread, e.g. ingress=1,journal=2,matcher=3,egress=4.
    #[arg(long, value_name = "THREAD=CORE,...")]
    cores: Option<CorePlan>,
    /// Snapshot every N sequences (0 = only at exit).
    #[arg(long, value_name = "N")]
    snapshot_every: Option<u64>,
    /// Print a statistics line this often, e.g. 1s or 500ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    stats_interval: Option<Duration>,
    /// How idle threads wait. Default: spin when every pipeline thread has
    /// its own core, else yield.
    #[arg(long, value_name = "spin|yield")]
    wait: Option<WaitMode>,
    /// What stamps command time: wall (production) or sequence (each input's
    /// sequence number, so runs over the same input give identical output).
    #[arg(long, value_name = "wall|sequence")]
    clock: Option<IngressClock>,
    /// Run on a generated multi-symbol order flow that a feeder thread
    /// produces into the `orders` topic, with a fresh journal under the temp
    /// dir unless --journal says otherwise, printing statistics every
    /// second. Stop with Ctrl-C.
    #[arg(long, conflicts_with = "input")]
    demo: bool,
    /// Demo orders per second.
    #[arg(long, default_value_t = 20_000, requires = "demo")]
    demo_rate: u64,
    /// Stop the demo after this many orders (with --exit-at-end, exit then).
    #[arg(long, requires = "demo")]
    demo_orders: Option<u64>,
}

/// The TOML file. Every key is optional; unknown keys are errors.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    journal: Option<PathBuf>,
    durability: Option<String>,
    input: Option<String>,
    output: Option<String>,
    exit_at_end: Option<bool>,
    cores: Option<String>,
    snapshot_every: Option<u64>,
    stats_interval: Option<String>,
    wait: Option<String>,
    clock: Option<String>,
    /// Kafka topics, partitions, batch size and client properties.
    kafka: Option<KafkaConfig>,
    /// Matching rules, as `EngineConfig` reads them.
    engine: Option<toml::Table>,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "{text:?} is not KEY=VALUE, e.g. -X statistics.interval.ms=1000"
        )),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 1s or 500ms"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => Err(format!("{text:?}: use s or ms, e.g. 1s or 500ms")),
    }
}

/// The flag's value if given, else the config file's text parsed, else
/// `None`: flags override the file.
fn flag_or_file<T>(
    flag: Option<T>,
    text: Option<String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>> {
    match (flag, text) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(text)) => parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key} in the config file: {e}")),
        (None, None) => Ok(None),
    }
}

/// `kafka` or `file:PATH`: `None` for Kafka, else the path.
fn parse_endpoint(spec: &str, what: &str) -> Result<Option<PathBuf>> {
    match spec.split_once(':') {
        None if spec == "kafka" => Ok(None),
        Some(("file", path)) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
        _ => bail!("--{what} {spec:?} is not supported; use kafka or file:PATH"),
    }
}

/// Where inputs come from.
enum InputSpec {
    Kafka,
    File(PathBuf),
    Demo { rate: u64, orders: Option<u64> },
}

struct Settings {
    pipeline: PipelineConfig,
    input: InputSpec,
    /// `None` for Kafka.
    output: Option<PathBuf>,
    kafka: KafkaConfig,
    kafka_properties: Vec<(String, String)>,
    exit_at_end: bool,
}

/// The demo's scratch directory, emptied when a demo uses it, so each
/// demo starts fresh.
fn clear_demo_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("engine-demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the demo directory {}", dir.display()))?;
    }
    Ok(dir)
}

fn settings(cli: Cli) -> Result<Settings> {
    let file: FileConfig = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let engine = match file.engine {
        Some(table) => EngineConfig::from_toml_str(&toml::to_string(&table)?)
            .context("the [engine] table of the config file")?,
        None => EngineConfig::default(),
    };
    let mut kafka = file.kafka.unwrap_or_default();
    if let Some(brokers) = cli.brokers {
        kafka.brokers = Some(brokers);
    }
    kafka
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (in the config file's [kafka] table)"))?;
    let uses_demo_dir = cli.demo && cli.journal.is_none() && file.journal.is_none();
    let demo_dir = if uses_demo_dir {
        Some(clear_demo_dir()?)
    } else {
        None
    };
    let journal_dir = cli
        .journal
        .or(file.journal)
        .or_else(|| demo_dir.as_ref().map(|d| d.join("journal")))
        .context(
            "no journal directory: pass --journal DIR (or set journal = \"DIR\" in the config file)",
        )?;
    let durability = flag_or_file(cli.durability, file.durability, "durability", str::parse)?
        // The demo shows the pipeline's own latency; `batch` adds the
        // disk's data-sync time to every output.
        .unwrap_or(if cli.demo {
            Durability::None
        } else {
            Durability::Batch
        });
    let input = if cli.demo {
        InputSpec::Demo {
            rate: cli.demo_rate,
            orders: cli.demo_orders,
        }
    } else {
        match cli.input.or(file.input) {
            None => InputSpec::Kafka,
            Some(spec) => match parse_endpoint(&spec, "input")? {
                None => InputSpec::Kafka,
                Some(path) => InputSpec::File(path),
            },
        }
    };
    let output = match cli.output.or(file.output) {
        Some(spec) => parse_endpoint(&spec, "output")?,
        None => None,
    };
    if cli.demo {
        eprintln!(
            "demo: journal {} (durability {}), {} orders/s",
            journal_dir.display(),
            durability.as_str(),
            cli.demo_rate
        );
    }
    let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let cores = flag_or_file(cli.cores, file.cores, "cores", str::parse)?
        .unwrap_or_else(|| CorePlan::for_host(available));
    for (thread, core) in cores.entries() {
        if let Some(core) = core
            && core >= available
        {
            bail!(
                "--cores puts {thread} on core {core}, but this host has cores 0..{}",
                available - 1
            );
        }
    }
    let asked_wait = flag_or_file(cli.wait, file.wait, "wait", str::parse)?;
    let (wait, why) = cores.choose_wait(asked_wait, available);
    let isolated = isolated_cpus();
    let (table, warnings) = cores.describe(&isolated);
    eprint!("{table}");
    eprintln!("wait strategy: {}", wait.as_str());
    if let Some(why) = why {
        tracing::warn!("{why}");
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let stats_interval = flag_or_file(
        cli.stats_interval,
        file.stats_interval,
        "stats_interval",
        parse_duration,
    )?
    .or_else(|| cli.demo.then_some(Duration::from_secs(1)));
    let clock =
        flag_or_file(cli.clock, file.clock, "clock", str::parse)?.unwrap_or(IngressClock::Wall);
    let snapshot_every = cli
        .snapshot_every
        .or(file.snapshot_every)
        .unwrap_or(1_000_000);
    let mut pipeline = PipelineConfig::new(journal_dir, engine);
    pipeline.journal = JournalOptions::new().durability(durability);
    pipeline.cores = cores;
    pipeline.wait = wait;
    pipeline.ring = RingKind::Disruptor;
    pipeline.snapshot_every = (snapshot_every > 0).then_some(snapshot_every);
    pipeline.stats_interval = stats_interval;
    pipeline.clock = clock;
    pipeline.batch_size = kafka.batch_size;
    Ok(Settings {
        pipeline,
        input,
        output,
        kafka,
        kafka_properties: cli.kafka_properties,
        exit_at_end: cli.exit_at_end || file.exit_at_end.unwrap_or(false),
    })
}

fn print_report(report: &RunReport, kafka_max_batch: Option<i64>) {
    let r = &report.recovery;
    eprintln!(
        "recovery: snapshot {:?}, {} journal records replayed, outputs of {} re-sent, {} hashes verified, \
         {:.1} ms (open {:.1}, snapshot {:.1}, replay {:.1})",
        r.snapshot,
        r.replayed,
        r.resent,
        r.hashes_verified,
        r.took.as_secs_f64() * 1e3,
        r.open.as_secs_f64() * 1e3,
        r.restore.as_secs_f64() * 1e3,
        r.replay.as_secs_f64() * 1e3,
    );
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "run: {} inputs in {:.2} s ({:.0}/s), last sequence {}, state hash {:016x}, journal sync {:?}",
        report.inputs,
        secs,
        report.inputs as f64 / secs,
        report.last_sequence,
        report.state_hash,
        report.sync_path
    );
    for (name, l) in [
        ("matched", report.latencies.matched),
        ("egress", report.latencies.egress),
    ] {
        eprintln!(
            "latency {name:<7}: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {} ({} inputs)",
            human_ns(l.p50),
            human_ns(l.p90),
            human_ns(l.p99),
            human_ns(l.p999),
            human_ns(l.p9999),
            human_ns(l.max),
            l.count
        );
    }
    let s = &report.snapshots;
    eprintln!(
        "snapshots: {} written, matcher stall max {} (largest {} orders), write max {:.1} ms",
        s.written,
        human_ns(s.max_stall.as_nanos() as u64),
        s.max_orders,
        s.max_write.as_secs_f64() * 1e3
    );
    // One machine-readable line on stdout for scripts and tests.
    println!(
        "{}",
        serde_json::json!({
            "inputs": report.inputs,
            "last_sequence": report.last_sequence,
            "state_hash": format!("{:016x}", report.state_hash),
            "replayed": r.replayed,
            "resent": r.resent,
            "recovery_ms": r.took.as_secs_f64() * 1e3,
            "snapshot_stall_max_ns": s.max_stall.as_nanos() as u64,
            "messages": report.messages,
            "trades": report.trades,
            "kafka_max_batch": kafka_max_batch.filter(|n| *n >= 0),
        })
    );
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match serve(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("engine: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The name of the Kafka sink's delivered mark, in the journal directory.
const KAFKA_DELIVERED_FILE: &str = "kafka-delivered.seq";

fn serve(cli: Cli) -> Result<()> {
    let settings = settings(cli)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while draining exits at once; the journal is
        // crash-safe, and the next start recovers.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .context("installing signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let uses_kafka = settings.output.is_none() || !matches!(settings.input, InputSpec::File(_));
    // Kept alive until the run ends: dropping it stops the broker.
    let mut embedded = None;
    let bootstrap = match (&settings.kafka.brokers, uses_kafka) {
        (_, false) => String::new(),
        (Some(brokers), true) => brokers.clone(),
        (None, true) => {
            let broker =
                EmbeddedBroker::start(&settings.kafka.topics, settings.kafka.embedded_partitions)
                    .context("cannot start the embedded Kafka broker")?;
            let bootstrap = broker.bootstrap();
            println!("kafka bootstrap: {bootstrap}");
            use std::io::Write as _;
            std::io::stdout().flush().context("writing to stdout")?;
            embedded = Some(broker);
            bootstrap
        }
    };
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let journal_dir = &settings.pipeline.journal_dir;
    std::fs::create_dir_all(journal_dir).with_context(|| {
        format!(
            "cannot create the journal directory {}",
            journal_dir.display()
        )
    })?;
    let mut probe = None;
    let report = match &settings.output {
        Some(dir) => {
            let sink = FileSink::open(dir)
                .with_context(|| format!("cannot open the output directory {}", dir.display()))?;
            run_from(&settings, &bootstrap, sink, &stop)?
        }
        None => {
            let sink = KafkaSink::new(
                kafka,
                &bootstrap,
                extra,
                &journal_dir.join(KAFKA_DELIVERED_FILE),
            )
            .map_err(|e| anyhow::anyhow!("cannot create the Kafka producer: {e}"))?;
            probe = Some(sink.probe());
            run_from(&settings, &bootstrap, sink, &stop)?
        }
    };
    let max_batch = probe.map(|p| p.max_batch.load(std::sync::atomic::Ordering::Relaxed));
    print_report(&report, max_batch);
    drop(embedded);
    Ok(())
}

/// Runs the pipeline from the configured input into `sink`.
fn run_from(
    settings: &Settings,
    bootstrap: &str,
    sink: impl engine::pipeline::OutputSink,
    stop: &Arc<AtomicBool>,
) -> Result<RunReport> {
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let caught_up = |ready: Arc<AtomicBool>| {
        if settings.exit_at_end {
            EndPolicy::CaughtUp { ready }
        } else {
            EndPolicy::Never
        }
    };
    let report = match &settings.input {
        InputSpec::File(path) => {
            let source = FileSource::open(path, !settings.exit_at_end)
                .with_context(|| format!("cannot open the input {}", path.display()))?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Kafka => {
            let source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(Arc::new(AtomicBool::new(true))),
            )
            .context("cannot create the Kafka consumer")?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Demo { rate, orders } => {
            let feeder = Feeder::start(kafka, bootstrap, extra, *rate, *orders, Arc::clone(stop))
                .map_err(|e| anyhow::anyhow!("cannot start the demo feeder: {e}"))?;
            let source = KafkaSource::new(kafka, bootstrap, extra, caught_up(feeder.finished()))
                .context("cannot create the Kafka consumer")?;
            let report = run(&settings.pipeline, source, sink, stop);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let sent = feeder
                .join()
                .map_err(|e| anyhow::anyhow!("demo feeder: {e}"))?;
            eprintln!("demo: the feeder produced {sent} orders");
            report?
        }
    };
    Ok(report)
}
