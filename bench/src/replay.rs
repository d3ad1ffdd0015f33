//! `bench replay`: how fast the `replay` tool works on a large journal.
//!
//! A journal of N `ecore`-mix records is written first, with a snapshot
//! every M records, in exactly the server's format: the same record
//! schema, ingress stamps 100 ns apart, and checkpoints of an engine that
//! applied the same commands. Then each operation is timed: `verify`,
//! `verify --deep` and `run` through the library, in this process; `dump
//! --json`, `book --at` and a time seek through the `replay` binary, as an
//! operator runs them, process start included.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use engine::{Command, Engine};
use serde::Serialize;

use crate::inputs::journal_commands;
use crate::pipeline::CountingSink;
use crate::workload::{Workload, WorkloadKind};

/// What to run.
#[derive(Clone, Debug)]
pub struct ReplayBenchConfig {
    /// Records in the journal.
    pub records: usize,
    /// A snapshot every this many records.
    pub snapshot_every: u64,
    /// Parent of the scratch journal (removed afterwards).
    pub scratch: PathBuf,
    /// The `replay` binary, for the operations timed as a process.
    pub replay_bin: PathBuf,
    /// Times each operation this many times on the one journal.
    pub repeat: usize,
}

/// The figures: each one the median of the repeats, which are in `runs`.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Records in the journal.
    pub records: u64,
    /// Snapshot interval.
    pub snapshot_every: u64,
    /// Writing the journal (not a tool figure).
    pub write_seconds: f64,
    /// The medians.
    #[serde(flatten)]
    pub median: ReplayTimings,
    /// Every repeat, in order.
    pub runs: Vec<ReplayTimings>,
}

/// One timing of each operation.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayTimings {
    /// `verify`: records checked per second.
    pub verify_records_per_sec: f64,
    /// `verify --deep`: records re-executed per second.
    pub verify_deep_records_per_sec: f64,
    /// `run` into a sink that discards: inputs per second.
    pub run_records_per_sec: f64,
    /// `run --output file:` : inputs per second, JSON written.
    pub run_files_records_per_sec: f64,
    /// `dump --json > /dev/null`: records per second, process included.
    pub dump_json_records_per_sec: f64,
    /// `book --at` the last record before the newest snapshot but one
    /// (the most replay from a snapshot), process included.
    pub book_at_seconds: f64,
    /// `dump --since` a time in the middle: to its first line, process
    /// included.
    pub dump_since_first_line_ms: f64,
}

impl ReplayTimings {
    /// The per-figure median of `runs`, which must not be empty.
    fn median(runs: &[ReplayTimings]) -> ReplayTimings {
        let med = |f: fn(&ReplayTimings) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        ReplayTimings {
            verify_records_per_sec: med(|r| r.verify_records_per_sec),
            verify_deep_records_per_sec: med(|r| r.verify_deep_records_per_sec),
            run_records_per_sec: med(|r| r.run_records_per_sec),
            run_files_records_per_sec: med(|r| r.run_files_records_per_sec),
            dump_json_records_per_sec: med(|r| r.dump_json_records_per_sec),
            book_at_seconds: med(|r| r.book_at_seconds),
            dump_since_first_line_ms: med(|r| r.dump_since_first_line_ms),
        }
    }
}

/// First ingress stamp of the generated journal: 2026-11-29T00:00:00Z.
const T0: u64 = 1_795_910_400_000_000_000;
/// Between stamps: 10M inputs/s.
const STEP_NS: u64 = 100;

/// Writes the journal once, then times each operation `repeat` times.
pub fn run_replay(config: &ReplayBenchConfig) -> anyhow::Result<ReplayReport> {
    if !config.replay_bin.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release --bin replay`",
            config.replay_bin.display()
        );
    }
    anyhow::ensure!(config.repeat > 0, "repeat at least once");
    let scratch = tempfile::Builder::new()
        .prefix("bench-replay-")
        .tempdir_in(&config.scratch)
        .context("creating the scratch journal")?;
    let dir = scratch.path().join("journal");
    let started = Instant::now();
    let symbol = write_journal(&dir, config.records, config.snapshot_every)?;
    let write_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: wrote {} records in {write_seconds:.1} s",
        config.records
    );
    let mut runs = Vec::with_capacity(config.repeat);
    for round in 0..config.repeat {
        let out = scratch.path().join(format!("out-{round}"));
        runs.push(time_operations(config, &dir, &out, &symbol)?);
        eprintln!("bench: round {} of {} timed", round + 1, config.repeat);
    }
    Ok(ReplayReport {
        records: config.records as u64,
        snapshot_every: config.snapshot_every,
        write_seconds,
        median: ReplayTimings::median(&runs),
        runs,
    })
}

/// Times each operation once on the journal in `dir`.
fn time_operations(
    config: &ReplayBenchConfig,
    dir: &Path,
    files: &Path,
    symbol: &engine::Symbol,
) -> anyhow::Result<ReplayTimings> {
    let records = config.records as u64;
    let verified = replay::verify(dir, false, None, &())?;
    let deep = replay::verify(dir, true, None, &())?;
    let deep = deep.deep.context("verify --deep re-executes")?;
    anyhow::ensure!(
        deep.mismatch.is_none(),
        "the journal does not verify: {:?}",
        deep.mismatch
    );
    let mut discard = CountingSink::default();
    let ran = replay::run(dir, None, None, None, &mut discard, &())?;
    let mut sink = gateway::file::FileSink::open(files)?;
    let ran_files = replay::run(dir, None, None, None, &mut sink, &())?;
    std::fs::remove_dir_all(files)?;
    let bin = &config.replay_bin;
    let dir_text = dir.to_str().context("a UTF-8 path")?;
    let timed = |args: &[&str]| -> anyhow::Result<f64> {
        let began = Instant::now();
        let status = Process::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "replay {args:?} failed");
        Ok(began.elapsed().as_secs_f64())
    };
    let dump_seconds = timed(&["dump", dir_text, "--json"])?;
    let newest_but_one = records / config.snapshot_every * config.snapshot_every - 1;
    let at = newest_but_one.max(1).to_string();
    let book_at_seconds = timed(&[
        "book",
        dir_text,
        "--at",
        &at,
        "--symbol",
        symbol.as_str(),
        "--json",
    ])?;
    let middle = replay::format_ts(T0 + records / 2 * STEP_NS);
    let began = Instant::now();
    let mut child = Process::new(bin)
        .args(["dump", dir_text, "--since", &middle, "--json"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut first)?;
    let dump_since_first_line_ms = began.elapsed().as_secs_f64() * 1e3;
    child.kill()?;
    child.wait()?;
    anyhow::ensure!(first.contains("\"seq\""), "dump --since printed {first:?}");

    Ok(ReplayTimings {
        verify_records_per_sec: verified.records_per_sec,
        verify_deep_records_per_sec: deep.records_per_sec,
        run_records_per_sec: ran.inputs_per_sec,
        run_files_records_per_sec: ran_files.inputs_per_sec,
        dump_json_records_per_sec: records as f64 / dump_seconds,
        book_at_seconds,
        dump_since_first_line_ms,
    })
}

/// Writes `records` ecore commands as the server journals them, with a
/// checkpoint every `snapshot_every`; returns the workload's symbol.
fn write_journal(
    dir: &Path,
    records: usize,
    snapshot_every: u64,
) -> anyhow::Result<engine::Symbol> {
    let workload = Workload::generate(WorkloadKind::Ecore, records, 1);
    let mut engine = Engine::new(workload.config.clone())?;
    let stamped = workload
        .prefill
        .iter()
        .chain(&workload.commands)
        .take(records)
        .enumerate()
        .map(|(i, command)| Command {
            ts: T0 + i as u64 * STEP_NS,
            ..*command
        });
    journal_commands(dir, &mut engine, stamped, 256 << 20, |seq| {
        seq.is_multiple_of(snapshot_every)
    })?;
    Ok(workload.symbol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_taken_per_figure() {
        let timing = |a: f64, b: f64| ReplayTimings {
            verify_records_per_sec: a,
            verify_deep_records_per_sec: b,
            run_records_per_sec: a,
            run_files_records_per_sec: b,
            dump_json_records_per_sec: a,
            book_at_seconds: b,
            dump_since_first_line_ms: a,
        };
        let median =
            ReplayTimings::median(&[timing(3.0, 10.0), timing(1.0, 30.0), timing(2.0, 20.0)]);
        assert_eq!(median.verify_records_per_sec, 2.0);
        assert_eq!(median.verify_deep_records_per_sec, 20.0);
        assert_eq!(median.book_at_seconds, 20.0);
        assert_eq!(median.dump_since_first_line_ms, 2.0);
    }
}
