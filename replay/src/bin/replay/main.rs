//! `replay`: the operator tool for the engine's journal.
//!
//! In ripgrep's shape: [`flags`] defines every subcommand and flag,
//! [`args`] turns flag text into the library's inputs (times into
//! sequences, text into symbols and ids, config files into rules), each
//! module of [`commands`] calls one operation of the `replay` library and
//! prints its result (`print` has the tables, JSON lines and progress
//! bars), and `run` below is one `match` over the subcommand. Exit codes
//! are in [`flags::EXIT_CODES`].

mod args;
mod commands;
mod flags;
mod print;

use std::process::ExitCode;

use clap::Parser;
use commands::Outcome;
use flags::{Cli, Mode};
use print::is_broken_pipe;
use replay::Error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Found) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("replay: {err:#}");
            let code = err.downcast_ref::<Error>().map_or(1, Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.mode {
        Mode::Info(args) => commands::info(args),
        Mode::Verify(args) => commands::verify(args),
        Mode::Dump(args) => commands::dump(args),
        Mode::Book(args) => commands::book(args),
        Mode::Order(args) => commands::order(args),
        Mode::Run(args) => commands::run_outputs(args),
        Mode::Diff(args) => commands::diff(args),
        Mode::Bisect(args) => commands::bisect(args),
        Mode::Snapshot(args) => commands::snapshot(args),
        Mode::Truncate(args) => commands::truncate(args),
    }
}
