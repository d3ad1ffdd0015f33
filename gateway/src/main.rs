//! The `engine` server: recover from the journal, then run the pipeline from
//! an input to an output until the input ends or a signal arrives.
//!
//! This file turns flags and the config file into settings (parsing only),
//! then does what they say: starts the embedded broker when no brokers are
//! configured, prints the start-up table, runs the pipeline, prints the
//! final figures, and maps errors to the documented exit codes. It holds no
//! engine logic.
//!
//! Exit codes: 0 a clean stop; 1 a failure not listed here (Kafka, input,
//! output); 2 a usage or configuration error; 3 the journal or a snapshot
//! could not be written (a full disk, most often; nothing journaled is
//! lost, free space and restart); 4 the journal or a snapshot is damaged
//! (see docs/replay.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use engine::pipeline::{
    IngressClock, PipelineConfig, PipelineError, PipelineMetrics, Retention, RingKind, RunReport,
    run,
};
use engine::threads::{CorePlan, WaitMode};
use engine::units::human_ns;
use gateway::config::{ConfigFile, parse_size};
use gateway::file::{FileSink, FileSource};
use gateway::kafka::{
    EmbeddedBroker, EndPolicy, Feeder, KafkaConfig, KafkaSink, KafkaSource, SinkProbe,
};
use gateway::metrics::{EngineCollector, KafkaMetrics, MetricsServer};
use gateway::wire::{Decoder, PriceFormat};
use journal::{Durability, JournalOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// LMAX-style matching engine: journal every input, match on one pinned
/// thread, emit results in batches.
#[derive(Parser, Debug)]
#[command(
    name = "engine",
    version,
    about,
    after_help = "Exit codes: 0 clean stop, 1 other failure, 2 usage or configuration error, \
                  3 journal or snapshot could not be written (free space and restart), \
                  4 journal or snapshot damaged."
)]
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
    /// Bytes per journal segment file, e.g. 64MiB [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    segment_size: Option<u64>,
    /// What happens to journal segments once a snapshot covers them and
    /// their outputs are delivered: keep, delete or archive:DIR
    /// [default: keep].
    #[arg(long, value_name = "keep|delete|archive:DIR")]
    retention: Option<Retention>,
    /// Where orders come from: kafka (the default) or file:PATH (JSON lines).
    #[arg(long, value_name = "kafka|file:PATH")]
    input: Option<String>,
    /// Where results go: kafka (the default) or file:DIR (one JSON-lines
    /// file per topic).
    #[arg(long, value_name = "kafka|file:DIR")]
    output: Option<String>,
    /// How prices are written in orders: ticks (integers, the default) or
    /// decimal (currency units, scaled by each symbol's price_decimals).
    #[arg(long, value_name = "ticks|decimal")]
    price_format: Option<PriceFormat>,
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
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (off unless
    /// given; --demo serves them on a free loopback port). Port 0 picks a
    /// free one; the address is printed.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Latency percentiles and peaks in the metrics cover windows this
    /// long; match the Prometheus scrape interval [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    metrics_window: Option<Duration>,
    /// Book gauges (resting orders, best bid and ask) for this many of the
    /// busiest symbols in the metrics; 0 for none [default: 10 when metrics
    /// are served]. The snapshot replica computes them, following the
    /// journal all the time while this is above 0.
    #[arg(long, value_name = "N")]
    book_symbols: Option<usize>,
    /// How idle threads wait. Default: spin when every pipeline thread has
    /// an isolated core of its own, else park (spin, yield, then sleep).
    #[arg(long, value_name = "spin|yield|park")]
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

/// Everything the flags and the file said, checked, before anything runs.
struct Settings {
    pipeline: PipelineConfig,
    input: InputSpec,
    /// `None` for Kafka.
    output: Option<PathBuf>,
    decoder: Decoder,
    kafka: KafkaConfig,
    kafka_properties: Vec<(String, String)>,
    exit_at_end: bool,
    /// The demo's scratch directory, to empty before the run.
    demo_dir: Option<PathBuf>,
    /// Why spinning was refused, if it was.
    wait_note: Option<String>,
    /// Where to serve metrics, if anywhere.
    metrics_addr: Option<SocketAddr>,
}

/// A configuration problem: exit code 2, like a bad flag.
#[derive(Debug)]
struct ConfigProblem(String);

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigProblem {}

fn settings(cli: Cli) -> Result<Settings> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(ConfigProblem)?,
        None => ConfigFile::default(),
    };
    settings_from(cli, file).map_err(|e| ConfigProblem(format!("{e:#}")).into())
}

fn settings_from(cli: Cli, file: ConfigFile) -> Result<Settings> {
    let (engine, decimals) = file.engine_rules().map_err(anyhow::Error::msg)?;
    let price_format = flag_or_file(
        cli.price_format,
        file.price_format,
        "price_format",
        str::parse,
    )?
    .unwrap_or_default();
    let mut kafka = file.kafka.unwrap_or_default();
    if let Some(brokers) = cli.brokers {
        kafka.brokers = Some(brokers);
    }
    kafka
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (in the config file's [kafka] table)"))?;
    kafka.sign_in().map_err(anyhow::Error::msg)?;
    let uses_demo_dir = cli.demo && cli.journal.is_none() && file.journal.is_none();
    let demo_dir = uses_demo_dir.then(|| std::env::temp_dir().join("engine-demo"));
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
    let mut journal = JournalOptions::new().durability(durability);
    if let Some(bytes) = flag_or_file(
        cli.segment_size,
        file.segment_size,
        "segment_size",
        parse_size,
    )? {
        journal = journal.segment_size(bytes);
    }
    journal
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (--segment-size / segment_size)"))?;
    let retention =
        flag_or_file(cli.retention, file.retention, "retention", str::parse)?.unwrap_or_default();
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
    let (wait, wait_note) =
        cores.choose_wait(asked_wait, available, &tuning::Host::real().isolated());
    let stats_interval = flag_or_file(
        cli.stats_interval,
        file.stats_interval,
        "stats_interval",
        parse_duration,
    )?
    .or_else(|| cli.demo.then_some(Duration::from_secs(1)));
    let clock =
        flag_or_file(cli.clock, file.clock, "clock", str::parse)?.unwrap_or(IngressClock::Wall);
    let metrics_addr = flag_or_file(
        cli.metrics_addr,
        file.metrics_addr,
        "metrics_addr",
        |text| Ok(text.to_owned()),
    )?
    .or_else(|| cli.demo.then(|| "127.0.0.1:0".to_owned()))
    .map(|text| parse_listen_addr(&text))
    .transpose()?;
    let metrics_window = flag_or_file(
        cli.metrics_window,
        file.metrics_window,
        "metrics_window",
        parse_duration,
    )?
    .unwrap_or(Duration::from_secs(5));
    let snapshot_every = cli
        .snapshot_every
        .or(file.snapshot_every)
        .unwrap_or(1_000_000);
    let mut pipeline = PipelineConfig::new(journal_dir, engine);
    pipeline.journal = journal;
    pipeline.cores = cores;
    pipeline.wait = wait;
    pipeline.ring = RingKind::Disruptor;
    pipeline.snapshot_every = (snapshot_every > 0).then_some(snapshot_every);
    pipeline.retention = retention;
    pipeline.stats_interval = stats_interval;
    pipeline.clock = clock;
    pipeline.batch_size = kafka.batch_size;
    pipeline.metrics = Arc::new(PipelineMetrics::new(metrics_window));
    pipeline.book_symbols = cli
        .book_symbols
        .or(file.book_symbols)
        .unwrap_or(if metrics_addr.is_some() { 10 } else { 0 });
    pipeline.check()?;
    Ok(Settings {
        pipeline,
        input,
        output,
        decoder: Decoder::new(price_format, decimals),
        kafka,
        kafka_properties: cli.kafka_properties,
        exit_at_end: cli.exit_at_end || file.exit_at_end.unwrap_or(false),
        demo_dir,
        wait_note,
        metrics_addr,
    })
}

/// `HOST:PORT` with an IP host, or `localhost:PORT`.
fn parse_listen_addr(text: &str) -> Result<SocketAddr> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("metrics_addr {text:?}: the port is not a number"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "metrics_addr {text:?} is not HOST:PORT; write e.g. 127.0.0.1:9464, or 0.0.0.0:9464 to let Prometheus on another host scrape it"
        )
    })
}

/// Starts the metrics endpoint, if configured, and prints its address.
fn start_metrics(
    settings: &Settings,
    bootstrap: &str,
    sink: Option<SinkProbe>,
    source: Option<gateway::kafka::SourceProbe>,
) -> Result<Option<MetricsServer>> {
    let Some(addr) = settings.metrics_addr else {
        return Ok(None);
    };
    let source = match source {
        Some(probe) => {
            let client = settings
                .kafka
                .watermark_client(bootstrap, &settings.kafka_properties)
                .context("cannot create the metrics' Kafka client")?;
            Some((probe, client))
        }
        None => None,
    };
    let collector = EngineCollector::new(
        Arc::clone(&settings.pipeline.metrics),
        settings.pipeline.journal_dir.clone(),
        KafkaMetrics { sink, source },
    );
    let server = MetricsServer::start(addr, collector).map_err(anyhow::Error::msg)?;
    println!("metrics: http://{}/metrics", server.addr());
    use std::io::Write as _;
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(Some(server))
}

/// Prints which core each thread runs on and warns about what will hurt
/// latency.
fn print_startup(settings: &Settings) {
    let p = &settings.pipeline;
    let (table, warnings) = tuning::checks::startup_report(&tuning::Host::real(), &p.cores);
    eprint!("{table}");
    eprintln!("wait strategy: {}", p.wait.as_str());
    if let Some(why) = &settings.wait_note {
        tracing::warn!("{why}");
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    if let InputSpec::Demo { rate, .. } = settings.input {
        eprintln!(
            "demo: journal {} (durability {}), {rate} orders/s",
            p.journal_dir.display(),
            p.journal.durability_mode().as_str(),
        );
    }
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
        ("journaled", report.latencies.journaled),
        ("egress", report.latencies.egress),
    ] {
        eprintln!(
            "latency {name:<9}: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {} ({} inputs)",
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
    // The matcher's snapshot stall is zero by design, not by measurement:
    // it has no snapshot code path. What the replica did is what varies.
    eprintln!(
        "snapshots: {} written ({} by the replica, restored in {}, {} inputs followed, at most {} behind; \
         matcher stall 0, it does no snapshot work), largest {} orders, write max {:.1} ms, {} segments retired",
        s.written,
        s.by_replica,
        s.replica_restore
            .map_or_else(|| "-".to_string(), |d| human_ns(d.as_nanos() as u64)),
        s.replica_applied,
        s.replica_max_lag,
        s.max_orders,
        s.max_write.as_secs_f64() * 1e3,
        s.segments_retired
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
            "snapshots_by_replica": s.by_replica,
            "replica_max_lag": s.replica_max_lag,
            "segments_retired": s.segments_retired,
            "messages": report.messages,
            "trades": report.trades,
            "kafka_max_batch": kafka_max_batch.filter(|n| *n >= 0),
        })
    );
}

fn main() -> ExitCode {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal()) // no escape codes in journald
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match settings(cli).and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("engine: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The documented exit code for an error (see the file's doc comment).
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<ConfigProblem>().is_some() {
        return 2;
    }
    match err.downcast_ref::<PipelineError>() {
        Some(PipelineError::Settings(_) | PipelineError::Config(_)) => 2,
        Some(PipelineError::Storage(_)) => 3,
        Some(
            PipelineError::Replay(engine::sequenced::ReplayError::HashMismatch { .. })
            | PipelineError::History(_)
            | PipelineError::Journal(
                journal::Error::Corrupt { .. }
                | journal::Error::BadSegmentHeader { .. }
                | journal::Error::BadSnapshot { .. },
            ),
        ) => 4,
        _ => 1,
    }
}

fn serve(settings: Settings) -> Result<()> {
    print_startup(&settings);
    if let Some(dir) = &settings.demo_dir
        && dir.exists()
    {
        // Each demo starts fresh.
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the demo directory {}", dir.display()))?;
    }
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
            run_from(&settings, &bootstrap, sink, None, &stop)?
        }
        None => {
            let sink = KafkaSink::new(
                kafka,
                &bootstrap,
                extra,
                &journal_dir.join(gateway::kafka::DELIVERED_FILE),
            )
            .map_err(|e| anyhow::anyhow!("cannot create the Kafka producer: {e}"))?;
            probe = Some(sink.probe());
            run_from(&settings, &bootstrap, sink, probe.clone(), &stop)?
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
    sink: impl engine::endpoint::OutputSink,
    sink_probe: Option<SinkProbe>,
    stop: &Arc<AtomicBool>,
) -> Result<RunReport> {
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let decoder = settings.decoder.clone();
    let caught_up = |ready: Arc<AtomicBool>| {
        if settings.exit_at_end {
            EndPolicy::CaughtUp { ready }
        } else {
            EndPolicy::Never
        }
    };
    let report = match &settings.input {
        InputSpec::File(path) => {
            let source = FileSource::open(path, !settings.exit_at_end, decoder)
                .with_context(|| format!("cannot open the input {}", path.display()))?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, None)?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Kafka => {
            let source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(Arc::new(AtomicBool::new(true))),
                decoder,
            )
            .context("cannot create the Kafka consumer")?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, Some(source.probe()))?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Demo { rate, orders } => {
            let feeder = Feeder::start(kafka, bootstrap, extra, *rate, *orders, Arc::clone(stop))
                .map_err(|e| anyhow::anyhow!("cannot start the demo feeder: {e}"))?;
            let source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(feeder.finished()),
                decoder,
            )
            .context("cannot create the Kafka consumer")?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, Some(source.probe()))?;
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
