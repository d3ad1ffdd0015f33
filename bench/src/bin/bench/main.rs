//! `bench`: the benchmark command line.
//!
//! Each subcommand generates its input first, pins itself, then times only
//! the part under test. Human-readable output by default; `--json` prints
//! one JSON object on stdout and keeps progress on stderr. [`flags`]
//! defines the flags, each module of [`commands`] runs one subcommand, and
//! `run` below is one `match` over them.

mod commands;
mod flags;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flags::{
    HaArgs, JournalArgs, KafkaArgs, MassCancelArgs, MatcherArgs, MoveArgs, PipelineArgs,
    ReplayArgs, ReportArgs, SnapshotArgs,
};

#[derive(Parser)]
#[command(name = "bench", version, about = "Benchmarks for the matching engine")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Matching throughput of one engine thread on a workload: Liquibook's
    /// performance-test stream or exchange-core's latency mix.
    Matcher(MatcherArgs),
    /// What an operator's mass cancel costs the matcher: every order of a
    /// full book, and one user's orders found among many books.
    MassCancel(MassCancelArgs),
    /// Journal append cost per durability mode, and replay rate.
    Journal(JournalArgs),
    /// The whole pipeline, journal included, under an open-loop load.
    Pipeline(PipelineArgs),
    /// What a snapshot costs the matcher and what a restore costs recovery.
    Snapshot(SnapshotArgs),
    /// Kafka to Kafka through the engine: sustained orders/s and
    /// wire-to-wire latency, against the embedded broker or real ones.
    Kafka(KafkaArgs),
    /// The hot standby: replication lag, the output delay `replicated` adds
    /// over `batch`, and takeover times, with `engine` processes on the
    /// embedded broker.
    Ha(HaArgs),
    /// Moving an orders partition between two `engine` processes on the
    /// embedded broker under steady input: the pause its symbols see, and
    /// where it goes.
    Move(MoveArgs),
    /// The `replay` tool on a large journal: verify, deep verify, run,
    /// dump, book --at, and a seek by time.
    Replay(ReplayArgs),
    /// The whole protocol for this host (matcher, journal, pipeline rate
    /// sweep, snapshot, Kafka), written to a directory: report.md, JSON,
    /// .hgrm files and PNG plots. About 10 minutes on a c6i.4xlarge.
    Report(ReportArgs),
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
        Mode::Matcher(args) => commands::matcher(args),
        Mode::MassCancel(args) => commands::mass_cancel(args),
        Mode::Journal(args) => commands::journal(args),
        Mode::Pipeline(args) => commands::pipeline(args),
        Mode::Snapshot(args) => commands::snapshot(args),
        Mode::Kafka(args) => commands::kafka(args),
        Mode::Ha(args) => commands::ha(args),
        Mode::Move(args) => commands::move_partition(args),
        Mode::Replay(args) => commands::replay_tool(args),
        Mode::Report(args) => commands::report(args),
    }
}
