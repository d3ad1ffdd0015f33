//! Moving an orders partition between two running engines, on tansu (a
//! broker process of its own), while orders flow.
//!
//! - A partition moves from `a` to `b`, back to `a`, and to `b` again,
//!   under steady input.
//! - Crash tests: the move's giver or taker dies (`ENGINE_FAILPOINT`, an
//!   abort as sudden as SIGKILL) right after each step, and is started
//!   again; the move completes, or for a taker that stays down past the
//!   move timeout, rolls back.
//! - A move from an owner with no live engine is refused with a message.
//!
//! After each run: every order is journaled by exactly one engine, once;
//! both journals record the same outcome for each move; every symbol's
//! trades, fills and order statuses, `a`'s and `b`'s together, equal the
//! reference model's over the whole run; `replay verify --deep` passes on
//! both journals.
//!
//! Sizes: `ENGINE_MOVE_ORDERS` orders per run (default 3,000), fed at
//! `ENGINE_MOVE_RATE` a second (default 1,500).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

use common::kafka::{KillOnDrop, OUTPUT_TOPICS, Tansu, read_topics, shared, symbol_of};
use common::{ENGINE, assert_verifies_deeply, by_symbol, journaled_inputs, reference_of};
use engine::sequenced::{Handover, Input, SourcePosition};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const PARTITIONS: i32 = 4;
const SYMBOLS: u64 = 24;
const USERS: u64 = 12;
/// The partition that moves.
const MOVED: i32 = 1;

fn orders_per_run() -> usize {
    std::env::var("ENGINE_MOVE_ORDERS").map_or(3_000, |v| v.parse().unwrap())
}

fn rate() -> f64 {
    std::env::var("ENGINE_MOVE_RATE").map_or(1_500.0, |v| v.parse().unwrap())
}

/// Orders with ids unique overall, and cancels of live ones.
fn orders(count: usize, seed: u64, first_id: u64) -> Vec<String> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let mut live: Vec<(u64, u64, u64)> = Vec::new();
    let mut out = Vec::with_capacity(count);
    for n in first_id..first_id + count as u64 {
        if rng.rand_range(0..100) < 15 && !live.is_empty() {
            let (s, u, o) = live.swap_remove(rng.rand_range(0..live.len() as u64) as usize);
            out.push(format!(
                r#"{{"action":"CANCEL","symbol":"S{s}","user_id":"u{u}","order_id":"o{o}"}}"#
            ));
            continue;
        }
        let (s, u) = (rng.rand_range(0..SYMBOLS), rng.rand_range(0..USERS));
        let side = ["BUY", "SELL"][rng.rand_range(0..2) as usize];
        let price = 95 + rng.rand_range(0..11);
        let quantity = 1 + rng.rand_range(0..10);
        out.push(format!(
            r#"{{"action":"ADD","symbol":"S{s}","user_id":"u{u}","order_id":"o{n}","side":"{side}","price":{price},"quantity":{quantity}}}"#
        ));
        live.push((s, u, n));
    }
    out
}

/// Produces `lines` keyed by symbol at `rate` a second, on a thread.
fn feed(bootstrap: &str, lines: Vec<String>, rate: f64) -> std::thread::JoinHandle<()> {
    let bootstrap = bootstrap.to_owned();
    std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let started = Instant::now();
        for (i, line) in lines.iter().enumerate() {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let key = symbol_of(line).unwrap();
            let mut record = BaseRecord::<str, str>::to("orders").payload(line).key(&key);
            while let Err((_, back)) = producer.send(record) {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(60)).unwrap();
    })
}

/// A broker with the topics two moving engines need.
fn cluster() -> Tansu {
    let tansu = Tansu::start(None);
    tansu.create("orders", PARTITIONS);
    for topic in ["assignments", "admin", "handover"] {
        tansu.create(topic, 1);
    }
    for topic in OUTPUT_TOPICS.iter().chain(&["admin_status"]) {
        tansu.create(topic, 2);
    }
    tansu
}

/// The two engines' journals and configs.
struct Pair {
    dir: tempfile::TempDir,
    bootstrap: String,
    /// The journal that holds the giver's side: `a`, or after a takeover
    /// its standby's.
    giver: std::cell::RefCell<&'static str>,
}

impl Pair {
    fn new(bootstrap: &str) -> Pair {
        // ENGINE_MOVE_KEEP keeps the journals and logs for a look.
        let keep = std::env::var_os("ENGINE_MOVE_KEEP").is_some();
        let dir = tempfile::Builder::new()
            .disable_cleanup(keep)
            .tempdir()
            .unwrap();
        if keep {
            eprintln!("keeping {}", dir.path().display());
        }
        Pair {
            dir,
            bootstrap: bootstrap.to_owned(),
            giver: "a".into(),
        }
        .with_configs()
    }

    fn with_configs(self) -> Pair {
        for (id, partitions) in [("a", "[0, 1]"), ("b", "[2, 3]")] {
            std::fs::write(
                self.dir.path().join(format!("{id}.toml")),
                format!("[kafka]\npartitions = {partitions}\n"),
            )
            .unwrap();
        }
        self
    }

    /// The two journals a run is checked on.
    fn journals(&self) -> [&'static str; 2] {
        [*self.giver.borrow(), "b"]
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn journal(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    /// Starts engine `id`, crashing after `failpoint` if given.
    fn start(&self, id: &str, failpoint: Option<&str>, move_timeout: &str) -> KillOnDrop {
        self.start_as(id, id, failpoint, move_timeout, &[])
    }

    /// Starts engine `id` on journal `name` (its log `name.log`), with
    /// `extra` flags.
    fn start_as(
        &self,
        name: &str,
        id: &str,
        failpoint: Option<&str>,
        move_timeout: &str,
        extra: &[&str],
    ) -> KillOnDrop {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        let mut command = Process::new(ENGINE);
        command
            .args(["--journal", self.journal(name).to_str().unwrap()])
            .args(["--brokers", &self.bootstrap])
            .args([
                "--config",
                self.dir.path().join(format!("{id}.toml")).to_str().unwrap(),
            ])
            .args(["--engine-id", id, "--ownership-lease", "2s"])
            .args(["--move-timeout", move_timeout])
            .args(["--clock", "sequence", "--wait", "park"])
            .args(extra)
            .env_remove("ENGINE_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(step) = failpoint {
            command.env("ENGINE_FAILPOINT", step);
        }
        KillOnDrop(command.spawn().unwrap())
    }

    /// `engine admin move`, waiting up to `wait`.
    fn admin_move(&self, to: &str, wait: &str) -> Output {
        Process::new(ENGINE)
            .args(["admin", "move", "--partition", &MOVED.to_string()])
            .args(["--to", to, "--brokers", &self.bootstrap, "--wait", wait])
            .args(["--json"])
            .output()
            .unwrap()
    }

    /// The orders inputs both journals hold, by partition and offset.
    fn journaled_orders(&self) -> Vec<(SourcePosition, Input)> {
        let mut all = Vec::new();
        for id in self
            .journals()
            .into_iter()
            .filter(|id| self.journal(id).exists())
        {
            all.extend(
                journaled_inputs(&self.journal(id))
                    .into_iter()
                    .filter(|(_, input)| matches!(input, Input::Command(_) | Input::Malformed(_))),
            );
        }
        all
    }

    /// Waits until both engines have journaled an order: they own their
    /// partitions.
    fn wait_started(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = |id: &str| {
            std::fs::read_dir(self.journal(id)).is_ok_and(|dir| {
                dir.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "seg"))
            }) && !journaled_inputs(&self.journal(id)).is_empty()
        };
        while !self.journals().into_iter().all(started) {
            assert!(Instant::now() < deadline, "the engines did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the journals hold `count` orders inputs.
    fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let have: BTreeSet<(i32, i64)> = self
                .journaled_orders()
                .iter()
                .map(|(p, _)| (p.partition, p.offset))
                .collect();
            if have.len() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} orders journaled",
                have.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Each move's outcome, as engine `id`'s journal records it.
    fn outcomes(&self, id: &str) -> BTreeMap<String, bool> {
        journaled_inputs(&self.journal(id))
            .into_iter()
            .filter_map(|(_, input)| match input {
                Input::Handover(Handover::Outcome { move_id, moved, .. }) => {
                    Some((move_id.as_str().to_owned(), moved))
                }
                _ => None,
            })
            .collect()
    }

    /// Waits until both journals record `moves` outcomes.
    fn wait_for_outcomes(&self, moves: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let [a, b] = self.journals();
        while self.outcomes(a).len() < moves || self.outcomes(b).len() < moves {
            assert!(
                Instant::now() < deadline,
                "outcomes: {a} {:?}, {b} {:?}",
                self.outcomes(a),
                self.outcomes(b)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every check of a finished run; returns each move's outcome.
    fn check(&self, count: usize) -> BTreeMap<String, bool> {
        let inputs = self.journaled_orders();
        let mut positions: Vec<(i32, i64)> = inputs
            .iter()
            .map(|(p, _)| (p.partition, p.offset))
            .collect();
        positions.sort_unstable();
        let unique: BTreeSet<(i32, i64)> = positions.iter().copied().collect();
        assert_eq!(unique.len(), positions.len(), "an order journaled twice");
        assert_eq!(positions.len(), count, "an order lost");

        // Both journals record the same outcome of each move.
        let [giver, taker] = self.journals();
        let (a, b) = (self.outcomes(giver), self.outcomes(taker));
        assert_eq!(a, b, "the journals disagree on the moves' outcomes");

        // The outputs, a's and b's, deduplicated, against the model.
        let topics: Vec<&str> = OUTPUT_TOPICS.to_vec();
        let outputs = read_topics(&self.bootstrap, &topics);
        let mut ordered = inputs;
        ordered.sort_by_key(|(p, _)| (p.partition, p.offset));
        let model = reference_of(ordered);
        assert_eq!(by_symbol(&without_resends(&outputs)), by_symbol(&model));

        for id in self.journals() {
            assert_verifies_deeply(&self.journal(id));
        }
        a
    }
}

/// Outputs without the repeats a restarted engine re-sends, keyed by
/// `(engine_id, seq, idx)`.
fn without_resends(outputs: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let mut seen = BTreeSet::new();
    outputs
        .iter()
        .map(|(file, lines)| {
            let kept = lines
                .iter()
                .filter(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    seen.insert((
                        v["engine_id"].to_string(),
                        v["seq"].clone().to_string(),
                        v["idx"].to_string(),
                    ))
                })
                .cloned()
                .collect();
            (file.clone(), kept)
        })
        .collect()
}

fn assert_moved(output: &Output, verdict: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(r#""verdict":"{verdict}""#)),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Stops the engines as an operator would (SIGTERM), so they sync.
fn stop(engines: [KillOnDrop; 2]) {
    for engine in engines {
        let output = engine.stop(Duration::from_secs(30));
        assert!(output.status.success(), "{:?}", output.status);
    }
}

/// Waits for engine `name`, which a failpoint will end.
fn crashed(pair: &Pair, name: &str, engine: KillOnDrop) {
    let output = engine.wait_with_output(Duration::from_secs(60));
    let log = pair.log(name);
    assert!(
        !output.status.success(),
        "the failpoint did not fire: {log}"
    );
    assert!(log.contains("failpoint"), "{log}");
}

#[test]
fn a_partition_moves_under_load_back_and_again() {
    let _shared = shared();
    let tansu = cluster();
    let pair = Pair::new(&tansu.bootstrap());
    let count = orders_per_run();
    let a = pair.start("a", None, "30s");
    let b = pair.start("b", None, "30s");
    let feeder = feed(&pair.bootstrap, orders(count, 5, 0), rate());
    pair.wait_started();
    for to in ["b", "a", "b"] {
        assert_moved(&pair.admin_move(to, "30s"), "MOVED");
    }
    feeder.join().unwrap();
    pair.wait_for(count);
    pair.wait_for_outcomes(3);
    stop([a, b]);
    let outcomes = pair.check(count);
    assert_eq!(outcomes.values().filter(|&&moved| moved).count(), 3);
}

/// Runs a move with one engine crashing after `step`, restarts it, and
/// checks the run; `moved` is the outcome expected.
fn crash_after(step: &str, crasher: &str, moved: bool) {
    let _shared = shared();
    let tansu = cluster();
    let pair = Pair::new(&tansu.bootstrap());
    let count = orders_per_run() / 2;
    // A taker that stays down past the timeout makes the giver roll back.
    let timeout = if moved { "30s" } else { "2s" };
    let fail = |id: &str| (id == crasher).then_some(step);
    let a = pair.start("a", fail("a"), timeout);
    let b = pair.start("b", fail("b"), timeout);
    let feeder = feed(&pair.bootstrap, orders(count, 11, 0), rate());
    pair.wait_started();
    let asked = {
        let bootstrap = pair.bootstrap.clone();
        std::thread::spawn(move || {
            Process::new(ENGINE)
                .args(["admin", "move", "--partition", &MOVED.to_string()])
                .args([
                    "--to",
                    "b",
                    "--brokers",
                    &bootstrap,
                    "--wait",
                    "60s",
                    "--json",
                ])
                .output()
                .unwrap()
        })
    };
    let (mut a, mut b) = (Some(a), Some(b));
    let crashing = if crasher == "a" { &mut a } else { &mut b };
    crashed(&pair, crasher, crashing.take().unwrap());
    if !moved {
        // Down past the giver's timeout: it rolls back meanwhile.
        std::thread::sleep(Duration::from_secs(4));
    }
    *crashing = Some(pair.start(crasher, None, timeout));
    assert_moved(
        &asked.join().unwrap(),
        if moved { "MOVED" } else { "ROLLED_BACK" },
    );
    feeder.join().unwrap();
    pair.wait_for(count);
    pair.wait_for_outcomes(1);
    stop([a.unwrap(), b.unwrap()]);
    let outcomes = pair.check(count);
    assert_eq!(
        outcomes.into_values().collect::<Vec<_>>(),
        vec![moved],
        "{step}"
    );
}

#[test]
fn the_giver_crashes_after_the_release() {
    crash_after("after-release", "a", true);
}

#[test]
fn the_giver_crashes_after_writing_the_export() {
    crash_after("after-export", "a", true);
}

#[test]
fn the_taker_crashes_after_the_acquire() {
    crash_after("after-acquire", "b", true);
}

#[test]
fn the_taker_crashes_after_the_commit() {
    crash_after("after-commit", "b", true);
}

#[test]
fn the_giver_crashes_after_journaling_the_outcome() {
    crash_after("after-outcome", "a", true);
}

#[test]
fn a_taker_down_past_the_timeout_rolls_the_move_back() {
    crash_after("after-acquire", "b", false);
}

#[test]
fn a_move_from_a_dead_leader_goes_through_its_standby() {
    let _shared = shared();
    let tansu = cluster();
    tansu.create("journal.a", 1);
    let pair = Pair::new(&tansu.bootstrap());
    let count = orders_per_run() / 2;
    let replicated = |role| {
        [
            "--durability",
            "replicated",
            "--role",
            role,
            "--failover-timeout",
            "1s",
            "--heartbeat-interval",
            "100ms",
        ]
    };
    let leader = pair.start_as("a", "a", None, "30s", &replicated("primary"));
    let standby = pair.start_as("a2", "a", None, "30s", &replicated("standby"));
    let b = pair.start("b", None, "30s");
    let feeder = feed(&pair.bootstrap, orders(count, 13, 0), rate());
    pair.wait_started();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pair.log("a2").contains("standing by") {
        assert!(Instant::now() < deadline, "{}", pair.log("a2"));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(leader); // SIGKILL
    while !pair.log("a2").contains("this engine leads") {
        assert!(Instant::now() < deadline, "{}", pair.log("a2"));
        std::thread::sleep(Duration::from_millis(50));
    }
    *pair.giver.borrow_mut() = "a2";
    assert_moved(&pair.admin_move("b", "30s"), "MOVED");
    feeder.join().unwrap();
    pair.wait_for(count);
    pair.wait_for_outcomes(1);
    stop([standby, b]);
    assert_eq!(
        pair.check(count).into_values().collect::<Vec<_>>(),
        vec![true]
    );
}

#[test]
fn a_move_from_an_owner_with_no_live_engine_is_refused() {
    let _shared = shared();
    let tansu = cluster();
    let pair = Pair::new(&tansu.bootstrap());
    let a = pair.start("a", None, "30s");
    feed(&pair.bootstrap, orders(50, 3, 0), rate())
        .join()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pair.journaled_orders().is_empty() {
        assert!(Instant::now() < deadline, "a journaled nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(a);
    std::thread::sleep(Duration::from_millis(2_500)); // past its 2 s lease
    let refused = pair.admin_move("b", "5s");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no leader or standby of a is alive to release it"),
        "{stderr}"
    );
}
