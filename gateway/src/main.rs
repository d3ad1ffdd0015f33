//! The `engine` server: recover from the journal, then run the pipeline from
//! an input to an output until the input ends or a signal arrives.
//!
//! This file only turns flags and a TOML file into a `PipelineConfig`,
//! prints the start-up table and the final figures, and maps errors to exit
//! codes. It holds no engine logic.

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
use gateway::demo::DemoFeed;
use gateway::file::{FileSink, FileSource};
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
    /// Where orders come from: file:PATH (JSON lines).
    #[arg(long, value_name = "file:PATH")]
    input: Option<String>,
    /// Where results go: file:DIR (one JSON-lines file per topic).
    #[arg(long, value_name = "file:DIR")]
    output: Option<String>,
    /// Drain, snapshot and exit 0 when the input is exhausted, instead of
    /// waiting for more lines.
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
    /// Run on a generated multi-symbol order flow, with a fresh journal and
    /// output under the temp dir unless --journal/--output say otherwise,
    /// printing statistics every second. Stop with Ctrl-C.
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
    /// Matching rules, as `EngineConfig` reads them.
    engine: Option<toml::Table>,
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

fn strip<'a>(spec: &'a str, what: &str) -> Result<&'a str> {
    match spec.split_once(':') {
        Some(("file", path)) if !path.is_empty() => Ok(path),
        _ => bail!(
            "--{what} {spec:?} is not supported; use file:PATH (Kafka {what} arrives with the gateway)"
        ),
    }
}

/// Where inputs come from.
enum InputSpec {
    File(PathBuf),
    Demo { rate: u64, orders: Option<u64> },
}

struct Settings {
    pipeline: PipelineConfig,
    input: InputSpec,
    output: PathBuf,
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
    let uses_demo_dir = cli.demo
        && (cli.journal.is_none() && file.journal.is_none()
            || cli.output.is_none() && file.output.is_none());
    let demo = match (cli.demo, uses_demo_dir) {
        (false, _) => None,
        (true, true) => Some(clear_demo_dir()?),
        (true, false) => Some(std::env::temp_dir().join("engine-demo")),
    };
    let journal_dir = cli
        .journal
        .or(file.journal)
        .or_else(|| demo.as_ref().map(|d| d.join("journal")))
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
    let input = match &demo {
        Some(_) => InputSpec::Demo {
            rate: cli.demo_rate,
            orders: cli.demo_orders,
        },
        None => {
            let spec = cli.input.or(file.input).context(
                "no input: pass --input file:PATH, or --demo for a generated order flow",
            )?;
            InputSpec::File(PathBuf::from(strip(&spec, "input")?))
        }
    };
    let output = match (cli.output.or(file.output), &demo) {
        (Some(spec), _) => PathBuf::from(strip(&spec, "output")?),
        (None, Some(dir)) => dir.join("out"),
        (None, None) => bail!("no output: pass --output file:DIR"),
    };
    if demo.is_some() {
        eprintln!(
            "demo: journal {} (durability {}), output {}",
            journal_dir.display(),
            durability.as_str(),
            output.display()
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
    .or_else(|| demo.as_ref().map(|_| Duration::from_secs(1)));
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
    Ok(Settings {
        pipeline,
        input,
        output,
        exit_at_end: cli.exit_at_end || file.exit_at_end.unwrap_or(false),
    })
}

fn print_report(report: &RunReport) {
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

fn serve(cli: Cli) -> Result<()> {
    let settings = settings(cli)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let sink = FileSink::open(&settings.output).with_context(|| {
        format!(
            "cannot open the output directory {}",
            settings.output.display()
        )
    })?;
    let report = match &settings.input {
        InputSpec::File(path) => {
            let source = FileSource::open(path, !settings.exit_at_end)
                .with_context(|| format!("cannot open the input {}", path.display()))?;
            run(&settings.pipeline, source, sink, &stop)?
        }
        InputSpec::Demo { rate, orders } => {
            let source = DemoFeed::new(*rate, *orders, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
            run(&settings.pipeline, source, sink, &stop)?
        }
    };
    print_report(&report);
    Ok(())
}
