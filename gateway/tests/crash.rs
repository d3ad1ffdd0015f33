//! Crash recovery of the `engine` binary: SIGKILL it at random moments,
//! restart it on the same journal and input, and check that the
//! de-duplicated outputs and the final state equal one clean run's, and that
//! the journal holds every input line exactly once and verifies deeply.
//! The input mixes every order type the engine trades.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::{Command as Process, Stdio};
use std::time::Duration;

use common::{ENGINE, dedup, read_outputs, run_engine, scenario, summary};

#[test]
fn killed_and_restarted_runs_equal_a_clean_run() {
    let kills: usize = std::env::var("ENGINE_CRASH_KILLS").map_or(12, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("ENGINE_CRASH_SEED")
        .map_or_else(|_| std::process::id().into(), |v| v.parse().unwrap());
    eprintln!("ENGINE_CRASH_SEED={seed} ENGINE_CRASH_KILLS={kills}");
    let mut rng = oorandom::Rand64::new(u128::from(seed));

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let lines = 300_000;
    std::fs::write(&input, scenario(lines, 11)).unwrap();
    let snapshots = ["--snapshot-every", "40000", "--durability", "batch"];

    let started = std::time::Instant::now();
    let clean = run_engine(
        &dir.path().join("clean-j"),
        &input,
        &dir.path().join("clean-o"),
        &snapshots,
    );
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let clean_outputs = dedup(&read_outputs(&dir.path().join("clean-o")));
    let clean_ms = started.elapsed().as_millis() as u64;

    let journal = dir.path().join("j");
    let output = dir.path().join("o");
    let mut killed = 0;
    for run in 0..kills {
        // Spread the kills over what is left of the input: each run gets up
        // to 1.5 times its fair share of the remaining time. A fixed window
        // from the clean run's time let early runs eat most of the input on
        // a loaded machine, and the rest finished before their kill.
        let done = journal::Reader::open(&journal)
            .and_then(|r| r.end_sequence())
            .map_or(0, |end| end - 1);
        let remaining_ms = clean_ms * (lines as u64 - done.min(lines as u64)) / lines as u64;
        let window = (remaining_ms * 3 / 2 / (kills - run) as u64).max(20);
        let mut child = Process::new(ENGINE)
            .args(["--journal", journal.to_str().unwrap()])
            .args(["--input", &format!("file:{}", input.display())])
            .args(["--output", &format!("file:{}", output.display())])
            .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
            .args(snapshots)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(10 + rng.rand_range(0..window)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    let reached = journal::Reader::open(&journal)
        .and_then(|r| r.end_sequence())
        .map_or(0, |end| end - 1);
    eprintln!("the kills reached sequence {reached} of {lines}");
    let last = run_engine(&journal, &input, &output, &snapshots);
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    eprintln!("{killed} of {kills} runs were killed mid-stream");
    assert!(
        killed >= kills / 2,
        "most runs should have been killed, not finished"
    );

    let recovered_outputs = dedup(&read_outputs(&output));
    for (file, lines) in &clean_outputs {
        let got = &recovered_outputs[file];
        assert_eq!(got.len(), lines.len(), "{file}: distinct messages");
        assert!(got == lines, "{file}: outputs differ from the clean run");
    }
    assert_eq!(summary(&last)["state_hash"], summary(&clean)["state_hash"]);
    assert_eq!(summary(&last)["last_sequence"], lines as u64);

    // Every input line was journaled exactly once, in order.
    let reader = journal::Reader::open(&journal).unwrap();
    let mut cursor = reader.read_all().unwrap();
    let mut expected_line = 1i64;
    while let Some(record) = cursor.next().unwrap() {
        let meta = record.meta();
        assert_eq!(
            (meta.source_partition, meta.source_offset),
            (0, expected_line)
        );
        assert_eq!(record.sequence(), expected_line as u64);
        expected_line += 1;
    }
    assert_eq!(expected_line - 1, lines as i64);

    common::assert_verifies_deeply(&journal);
}
