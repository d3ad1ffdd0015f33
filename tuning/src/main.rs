//! `tuning`: check a host for low-latency runs, plan its settings, and
//! measure its jitter.
//!
//! Exit codes: 0 done (for `check`: no fatal check failed); 1 a fatal check
//! failed, or a run failed; 2 a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use comfy_table::{Table, presets};
use engine::threads::{CorePlan, parse_cpu_list};
use tuning::checks::{self, Context, Severity};
use tuning::plan::{Plan, Topology};
use tuning::{Check, Host};

/// Check a host for the matching engine's low-latency runs, plan the
/// settings it needs, and measure how quiet its cores are.
#[derive(Parser)]
#[command(
    name = "tuning",
    version,
    after_help = "Exit codes: 0 done (check: no fatal check failed), 1 a fatal check failed or \
                  a run failed, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read /proc and /sys and say what a low-latency run needs that this
    /// host lacks. Read-only.
    Check(CheckArgs),
    /// Print (or write) the settings that make `check` pass, for this host
    /// or a named one.
    Plan(PlanArgs),
    /// Spin on each CPU and record every gap in the loop's progress.
    Jitter(JitterArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// The pipeline threads' cores, as the engine's --cores [default: the
    /// engine's default for this host].
    #[arg(long, value_name = "THREAD=CORE,...")]
    cores: Option<CorePlan>,
    /// A running engine: its threads' cores and the matcher's context
    /// switches over a second.
    #[arg(long)]
    pid: Option<u32>,
    /// The journal directory, for its disk's I/O scheduler.
    #[arg(long, value_name = "DIR")]
    journal: Option<PathBuf>,
    /// Read /proc and /sys under this directory instead of / (fixtures).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// How long to count interrupts and context switches.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    sample_seconds: f64,
    /// Print one JSON object with a `checks` array instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PlanArgs {
    /// Place the pipeline threads here instead of where the plan would.
    #[arg(long, value_name = "THREAD=CORE,...")]
    cores: Option<CorePlan>,
    /// Plan for this instance type, e.g. c6i.4xlarge.
    #[arg(long = "for", value_name = "INSTANCE", conflicts_with = "topology")]
    instance: Option<String>,
    /// Plan for CORESxTHREADS, e.g. 8x2 (8 physical cores, 2 threads each).
    #[arg(long)]
    topology: Option<String>,
    /// Write the plan's files here for the deploy step.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
}

#[derive(Args)]
struct JitterArgs {
    /// CPUs to measure, e.g. 4,5 or 2-7.
    #[arg(long, value_name = "LIST")]
    cpus: String,
    /// How long.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Record gaps longer than this.
    #[arg(long, value_name = "NS", default_value_t = 1000)]
    threshold_ns: u64,
    /// Print one JSON object per CPU instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Plan(args) => plan(args),
        Command::Jitter(args) => jitter(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tuning: {err:#}");
            ExitCode::from(if err.downcast_ref::<Usage>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

/// A usage error: exit code 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let host = Host::at(&args.root);
    let available = host.online().len().max(1);
    let cx = Context {
        cores: args.cores.unwrap_or_else(|| CorePlan::for_host(available)),
        pid: args.pid,
        journal: args.journal,
    };
    if let Some(pid) = cx.pid
        && !host.exists(&format!("proc/{pid}"))
    {
        return Err(Usage(format!("no process {pid} under {}", host.root().display())).into());
    }
    let results = checks::run(
        &host,
        &cx,
        Duration::from_secs_f64(args.sample_seconds.max(0.0)),
    );
    let fatal = results
        .iter()
        .any(|c| !c.passed && c.severity == Severity::Fatal);
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "cores": cores_text(&cx.cores), "checks": results, "fatal_failed": fatal })
        );
    } else {
        print_checks(&results, &cx.cores);
    }
    Ok(if fatal {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn cores_text(cores: &CorePlan) -> String {
    cores
        .entries()
        .iter()
        .map(|(t, c)| format!("{t}={}", c.map_or_else(|| "any".into(), |c| c.to_string())))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_checks(results: &[Check], cores: &CorePlan) {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(["check", "required", "current", "severity", "passed"]);
    for c in results {
        table.add_row([
            c.name.as_str(),
            c.required.as_str(),
            c.current.as_str(),
            c.severity.as_str(),
            if c.passed { "yes" } else { "NO" },
        ]);
    }
    println!("pipeline cores: {}", cores_text(cores));
    println!("{table}");
    let failed = |s: Severity| {
        results
            .iter()
            .filter(|c| !c.passed && c.severity == s)
            .count()
    };
    println!(
        "{} checks: {} fatal, {} warn, {} info failed{}",
        results.len(),
        failed(Severity::Fatal),
        failed(Severity::Warn),
        failed(Severity::Info),
        if failed(Severity::Fatal) + failed(Severity::Warn) > 0 {
            "; `tuning plan` prints the settings that fix them"
        } else {
            ""
        }
    );
}

fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let (topology, cstates) = match (&args.instance, &args.topology) {
        (Some(instance), _) => (
            Topology::of_instance(instance).map_err(Usage)?,
            checks::power_control(Some(instance)).is_none_or(|(c, _)| c),
        ),
        (None, Some(text)) => (Topology::parse(text).map_err(Usage)?, true),
        (None, None) => {
            let host = Host::real();
            let instance = checks::instance_type(&host);
            (
                Topology::of_host(&host),
                checks::power_control(instance.as_deref()).is_none_or(|(c, _)| c),
            )
        }
    };
    let plan = Plan::new(topology, args.cores, cstates).map_err(Usage)?;
    print!("{}", plan.render());
    if let Some(dir) = &args.write {
        let files = plan
            .write(dir)
            .with_context(|| format!("writing the plan to {}", dir.display()))?;
        eprintln!(
            "tuning: wrote {} files under {}",
            files.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn jitter(args: JitterArgs) -> anyhow::Result<ExitCode> {
    let cpus = parse_cpu_list(&args.cpus);
    if cpus.is_empty() {
        return Err(Usage(format!(
            "--cpus {:?} names no CPU; write e.g. --cpus 4,5",
            args.cpus
        ))
        .into());
    }
    let results =
        tuning::jitter::measure(&cpus, args.seconds, Duration::from_nanos(args.threshold_ns));
    if args.json {
        for r in &results {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(["cpu", "gaps", "p99", "p99.9", "max", "lost per s", "pinned"]);
    for r in &results {
        table.add_row([
            r.cpu.to_string(),
            r.gaps.to_string(),
            micros(r.p99_ns),
            micros(r.p999_ns),
            micros(r.max_ns),
            format!("{:.1} µs", r.lost_ns_per_s / 1e3),
            if r.pinned { "yes".into() } else { "NO".into() },
        ]);
    }
    println!(
        "gaps above {} ns in a busy loop over {} s",
        args.threshold_ns, args.seconds
    );
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

fn micros(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}
