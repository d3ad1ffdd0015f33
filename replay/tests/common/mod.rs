//! Shared by the `replay` tool's tests: a seeded order flow, journals
//! written by the real `engine` binary from it, and the tool itself.

#![allow(dead_code)] // each test binary uses a different subset

#[path = "../../../engine/tests/common/model.rs"]
pub mod model;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};

use engine::{Command, OrderId, OrderSpec, ReplaceSpec, Side, Symbol, TimeInForce, UserId};
use gateway::wire::encode_order;

pub const REPLAY: &str = env!("CARGO_BIN_EXE_replay");

/// The `engine` binary, built beside `replay` by the workspace's test run.
pub fn engine_bin() -> PathBuf {
    let path = Path::new(REPLAY).with_file_name("engine");
    assert!(
        path.exists(),
        "{} is missing: run the workspace's tests (scripts/test), which build it",
        path.display()
    );
    path
}

pub const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "TSLA"];

/// A seeded flow: limits, markets (with a price), IOCs, cancels, replaces.
pub fn flow(count: usize, seed: u64) -> Vec<Command> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let mut live: Vec<(usize, u64, u64)> = Vec::new();
    let mut out = Vec::with_capacity(count);
    for n in 0..count as u64 {
        let roll = rng.rand_range(0..100);
        let sym = |s: usize| Symbol::new(SYMBOLS[s]).unwrap();
        let user = |u: u64| UserId::new(&format!("u{u}")).unwrap();
        let id = |o: u64| OrderId::new(&format!("o{o}")).unwrap();
        if roll < 15 && !live.is_empty() {
            let (s, u, o) = live.swap_remove(rng.rand_range(0..live.len() as u64) as usize);
            out.push(Command::cancel(0, sym(s), user(u), id(o)));
            continue;
        }
        if roll < 25 && !live.is_empty() {
            let (s, u, o) = live[rng.rand_range(0..live.len() as u64) as usize];
            let spec = ReplaceSpec {
                new_price: Some(995 + rng.rand_range(0..11)),
                new_quantity: None,
            };
            out.push(Command::replace(0, sym(s), user(u), id(o), spec));
            continue;
        }
        let s = rng.rand_range(0..SYMBOLS.len() as u64) as usize;
        let u = rng.rand_range(0..6);
        let side = if rng.rand_range(0..2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let mut spec =
            OrderSpec::limit(side, 995 + rng.rand_range(0..11), 1 + rng.rand_range(0..20));
        match roll {
            25..=29 => {
                spec = OrderSpec {
                    price: 1,
                    ..OrderSpec::market(side, spec.quantity)
                }
            }
            30..=34 => spec.tif = TimeInForce::Ioc,
            _ => live.push((s, u, n)),
        }
        out.push(Command::add(0, sym(s), user(u), id(n), spec));
    }
    out
}

/// The flow as `orders` JSON lines, canonical form.
pub fn lines(commands: &[Command]) -> String {
    let mut text = String::new();
    let mut buf = Vec::new();
    for command in commands {
        buf.clear();
        encode_order(command, &mut buf);
        text.push_str(std::str::from_utf8(&buf).unwrap());
        text.push('\n');
    }
    text
}

/// Runs the engine binary to the end of `input`.
pub fn run_engine(journal: &Path, input: &Path, output: &Path, extra: &[&str]) -> Output {
    let out = Process::new(engine_bin())
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--input", &format!("file:{}", input.display())])
        .args(["--output", &format!("file:{}", output.display())])
        .args(["--wait", "yield", "--exit-at-end"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A journal of `count` inputs written by the engine, with output files.
pub struct Written {
    pub dir: tempfile::TempDir,
    pub commands: Vec<Command>,
}

impl Written {
    pub fn new(count: usize, seed: u64, extra: &[&str]) -> Written {
        let dir = tempfile::tempdir().unwrap();
        let commands = flow(count, seed);
        std::fs::write(dir.path().join("orders.jsonl"), lines(&commands)).unwrap();
        run_engine(
            &dir.path().join("journal"),
            &dir.path().join("orders.jsonl"),
            &dir.path().join("out"),
            extra,
        );
        Written { dir, commands }
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    pub fn input(&self) -> PathBuf {
        self.dir.path().join("orders.jsonl")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

/// Runs `replay` with `args`.
pub fn replay(args: &[&str]) -> Output {
    Process::new(REPLAY).args(args).output().unwrap()
}

/// Runs `replay` and returns stdout, asserting the exit code.
pub fn replay_ok(args: &[&str], code: i32) -> String {
    let out = replay(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "replay {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The only JSON object `replay --json` printed.
pub fn json(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}
