#![allow(clippy::unwrap_used)] // tests fail loudly by design

//! Crash test: a child process appends as fast as it can and reports each
//! durable sequence on stdout; the parent kills it with SIGKILL at a random
//! moment, then checks that
//!
//! - every record reported durable before the kill is present and intact,
//! - sequences are contiguous from the first record,
//! - a reader copes with the crashed log before recovery,
//! - recovery opens it, and the next child appends to it again.
//!
//! Runs in `none` and `batch` modes, `JOURNAL_CRASH_KILLS` times each
//! (default 30). Segments are small, so many kills land in a roll-over.
//! The seed is printed; `JOURNAL_CRASH_SEED` replays a run's timings.
//!
//! This file has no test harness: `main` is both the parent and, with
//! `--child`, the writer.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::Duration;

use common::{check_record, meta_for, payload_for};
use journal::{Durability, Journal, JournalOptions, Reader};

fn options(durability: Durability) -> JournalOptions {
    JournalOptions::new()
        .segment_size(256 * 1024)
        .max_payload(1024)
        .index_stride(64)
        .durability(durability)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(
            Path::new(&args[2]),
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
        );
        return ExitCode::SUCCESS;
    }
    // Behave like a libtest binary towards `cargo test FILTER` and
    // `--list` (cargo nextest), since this one has no harness.
    if args.iter().any(|a| a == "--list") {
        println!("crash: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "crash".contains(f.as_str())) {
        println!("crash test: filtered out");
        return ExitCode::SUCCESS;
    }
    let kills: u32 = std::env::var("JOURNAL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("JOURNAL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test: {kills} kills per mode, JOURNAL_CRASH_SEED={seed}");
    for durability in [Durability::None, Durability::Batch] {
        crash_loop(durability, kills, seed);
    }
    println!("crash test: ok");
    ExitCode::SUCCESS
}

/// The writer: appends forever, ending batches at random points, and prints
/// `durable N` whenever the durable sequence advances.
fn child(dir: &Path, durability: Durability, seed: u64) {
    let recovered = Journal::open(dir, options(durability)).unwrap();
    let mut writer = recovered.into_writer().unwrap();
    let durable = writer.durable();
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", writer.next_sequence()).unwrap();
    out.flush().unwrap();
    let mut reported = durable.load_acquire();
    loop {
        for _ in 0..rng.rand_range(1..64) {
            let sequence = writer.next_sequence();
            writer
                .append(&meta_for(sequence), &payload_for(sequence))
                .unwrap();
        }
        writer.end_batch().unwrap();
        let now = durable.load_acquire();
        if now > reported {
            reported = now;
            // Printed only after the journal says so: a claim the parent
            // holds the journal to after the kill.
            writeln!(out, "durable {now}").unwrap();
            out.flush().unwrap();
        }
    }
}

fn crash_loop(durability: Durability, kills: u32, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = oorandom::Rand64::new(u128::from(seed) ^ durability as u128);
    let (mut torn_tails, mut last_sequence) = (0, 0);
    for kill in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .arg(dir.path())
            .arg(durability.as_str())
            .arg(rng.rand_u64().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        assert!(ready.starts_with("ready "), "child said {ready:?}");
        let started_at: u64 = ready["ready ".len()..].parse().unwrap();
        assert_eq!(
            started_at,
            last_sequence + 1,
            "the child did not resume after the last record"
        );

        let reporter = thread::spawn(move || {
            let mut durable = 0u64;
            for line in lines {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("durable ") {
                    durable = durable.max(n.parse().unwrap());
                }
            }
            durable
        });
        thread::sleep(Duration::from_micros(rng.rand_range(500..40_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Every line the child wrote before it died is in the pipe.
        let claimed_durable = reporter.join().unwrap();

        // A reader copes with the crashed log as it is.
        let before = verify(dir.path(), last_sequence.saturating_sub(1_000));
        assert!(
            before >= claimed_durable,
            "kill {kill} ({durability}): {claimed_durable} was reported durable, the reader found {before}"
        );
        let recovered = Journal::open(dir.path(), options(durability)).unwrap();
        if recovered.report().torn_tail.is_some() {
            torn_tails += 1;
        }
        let after_recovery = recovered.next_sequence() - 1;
        assert_eq!(
            after_recovery, before,
            "recovery and the reader disagree on the end"
        );
        drop(recovered);
        assert_eq!(
            verify(dir.path(), last_sequence.saturating_sub(1_000)),
            before
        );
        last_sequence = before;
    }

    // One more append after the last kill, then everything reads back.
    let mut writer = Journal::open(dir.path(), options(durability))
        .unwrap()
        .into_writer()
        .unwrap();
    let sequence = writer.next_sequence();
    writer
        .append(&meta_for(sequence), &payload_for(sequence))
        .unwrap();
    drop(writer);
    assert_eq!(verify(dir.path(), 1), last_sequence + 1);
    println!(
        "crash test: {durability}: {kills} kills, {last_sequence} records survived, {torn_tails} torn tails cut"
    );
}

/// Reads the journal from `check_from`, checking CRCs, continuity and
/// contents, and returns the last sequence. Each kill checks from a little
/// before the previous end (recovery only ever changes bytes past the end);
/// the end of each mode checks everything, from sequence 1.
fn verify(dir: &Path, check_from: u64) -> u64 {
    let reader = Reader::open(dir).unwrap();
    let mut cursor = if check_from <= 1 {
        reader.read_all().unwrap()
    } else {
        reader.read_from(check_from).unwrap()
    };
    let mut expected = check_from.max(1);
    while let Some(record) = cursor.next().unwrap() {
        assert_eq!(record.sequence(), expected);
        check_record(&record);
        expected += 1;
    }
    expected - 1
}
