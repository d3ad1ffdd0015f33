//! The `engine` server: recover from the journal, then run the pipeline from
//! an input to an output until the input ends or a signal arrives.
//!
//! In ripgrep's shape: [`flags`] defines every flag, [`settings`] merges
//! them with the config file and checks the result, [`serve`] does what the
//! settings say, and [`summary`] prints what happened. This file only wires
//! those steps together and maps errors to the documented exit codes
//! ([`EXIT_CODES`]). No engine logic lives in the binary.

mod flags;
mod serve;
mod settings;
mod summary;

use std::process::ExitCode;

use clap::Parser;
use engine::pipeline::PipelineError;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit codes, as `--help` prints them; `docs/pipeline.md` has the
/// same table.
pub const EXIT_CODES: &str = "Exit codes: 0 clean stop, 1 other failure, 2 usage or configuration \
                              error, 3 journal or snapshot could not be written (free space and \
                              restart), 4 journal or snapshot damaged, 5 fenced: another engine \
                              took the lead (restart this one as a standby), 6 a live engine owns \
                              an orders partition this one is configured to read (see its \
                              message), 130 a second Ctrl-C \
                              (or SIGTERM) while draining: stopped at once, recovery on the next \
                              start.";

fn main() -> ExitCode {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal()) // no escape codes in journald
        .with_target(false)
        .init();
    let cli = flags::Cli::parse();
    let run = match &cli.command {
        Some(flags::Command::Promote { engine_id, wait }) => {
            let (engine_id, wait) = (engine_id.clone(), *wait);
            settings::kafka_only(&cli).and_then(|(kafka, bootstrap)| {
                serve::promote(&kafka, &bootstrap, &cli, &engine_id, wait)
            })
        }
        Some(flags::Command::Admin {
            action,
            engine_id,
            request_id,
            wait,
            json,
        }) => {
            let request = serve::AdminRequest {
                action: action.clone(),
                engine_id: engine_id.clone(),
                request_id: request_id.clone(),
                wait: *wait,
                json: *json,
            };
            settings::kafka_only(&cli)
                .and_then(|(kafka, bootstrap)| serve::admin(&kafka, &bootstrap, &cli, &request))
        }
        None => settings::settings(cli).and_then(serve::serve),
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("engine: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The documented exit code for an error ([`EXIT_CODES`]).
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<settings::ConfigProblem>().is_some() {
        return 2;
    }
    match err.downcast_ref::<PipelineError>() {
        Some(PipelineError::Settings(_) | PipelineError::Config(_)) => 2,
        Some(PipelineError::Storage(_)) => 3,
        Some(PipelineError::Fenced { .. }) => 5,
        None if matches!(
            err.downcast_ref::<gateway::kafka::OwnershipError>(),
            Some(gateway::kafka::OwnershipError::Owned { .. })
        ) =>
        {
            6
        }
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
