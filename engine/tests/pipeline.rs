//! The pipeline as a library: nothing is dropped under back-pressure, both
//! ring kinds give the same outputs, and no output leaves before its input
//! is in the journal.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::model::Model;
use common::*;
use engine::endpoint::{BoxError, InputSource, OutputSink, SourceItem, SourcePoll};
use engine::pipeline::{IngressClock, PipelineConfig, RingKind, WallClock, run};
use engine::sequenced::{Input, Message, MessageBody, SourcePosition, SourcePositions};
use engine::threads::WaitMode;
use engine::{Command, EngineConfig, Event, OrderSpec, ReplaceSpec, Side};
use journal::{Durability, JournalOptions};

/// Commands from a list, positions 1.., skipping what the journal has.
struct ListSource {
    commands: Vec<Command>,
    next: usize,
}

impl InputSource for ListSource {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        self.next = journaled.last_offset(0).unwrap_or(0) as usize;
        Ok(())
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        let Some(command) = self.commands.get(self.next) else {
            return Ok(SourcePoll::Ended);
        };
        self.next += 1;
        Ok(SourcePoll::Item(SourceItem {
            position: SourcePosition::orders(0, self.next as i64),
            origin_ns: None,
            input: Input::Command(*command),
        }))
    }
}

/// Collects messages; optionally slow, and optionally checks each batch
/// against the journal.
#[derive(Clone, Default)]
struct Collector {
    messages: Arc<Mutex<Vec<Message>>>,
    slow_every: Option<usize>,
    journal: Option<PathBuf>,
    batches: Arc<Mutex<usize>>,
    delivered: u64,
}

impl OutputSink for Collector {
    fn delivered_through(&mut self) -> Result<u64, BoxError> {
        Ok(self.delivered)
    }

    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError> {
        assert!(
            !batch.is_empty() && batch.len() <= 100,
            "batch of {}",
            batch.len()
        );
        if let Some(dir) = &self.journal {
            // The gate: every message's input is already in the journal.
            let highest = batch.iter().map(|m| m.seq).max().unwrap();
            let mut cursor = journal::Reader::open(dir)
                .unwrap()
                .read_from(highest)
                .unwrap();
            let record = cursor.next().unwrap();
            assert_eq!(
                record.map(|r| r.sequence()),
                Some(highest),
                "output before its input was journaled"
            );
        }
        let mut batches = self.batches.lock().unwrap();
        *batches += 1;
        if self
            .slow_every
            .is_some_and(|n| (*batches).is_multiple_of(n))
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.messages.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }

    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError> {
        self.delivered = seq;
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A busy multi-user stream on one symbol: adds that cross, cancels and
/// replaces of earlier orders.
fn stream(n: usize) -> Vec<Command> {
    let mut random = oorandom::Rand64::new(17);
    let mut rng = move || random.rand_u64();
    (0..n)
        .map(|i| {
            let u = user(&format!("u{}", rng() % 7));
            let id = oid(&format!("o{}", rng() % (i as u64 + 1)));
            match rng() % 10 {
                0 | 1 => Command::cancel(0, sym("AAPL"), u, id),
                2 => Command::replace(
                    0,
                    sym("AAPL"),
                    u,
                    id,
                    ReplaceSpec {
                        new_price: Some(100 + rng() % 10),
                        new_quantity: None,
                    },
                ),
                _ => {
                    let side = if rng().is_multiple_of(2) {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    Command::add(
                        0,
                        sym("AAPL"),
                        u,
                        oid(&format!("o{i}")),
                        OrderSpec::limit(side, 100 + rng() % 10, 1 + rng() % 20),
                    )
                }
            }
        })
        .collect()
}

fn pipeline_config(
    dir: &std::path::Path,
    ring: RingKind,
    durability: Durability,
) -> PipelineConfig {
    let mut config = PipelineConfig::new(dir.join("journal"), EngineConfig::default());
    config.journal = JournalOptions::new()
        .durability(durability)
        .segment_size(64 << 20);
    config.wait = WaitMode::Yield;
    config.ring = ring;
    config.input_ring = 8;
    config.output_ring = 8;
    config.snapshot_every = Some(1_000);
    config.clock = IngressClock::Sequence;
    config
}

/// What the model says, as (seq, first-event) pairs per input, in order.
fn expected(commands: &[Command]) -> Vec<(u64, Vec<Event>)> {
    let mut model = Model::new(EngineConfig::default());
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let seq = i as u64 + 1;
            (seq, model.apply(&Command { ts: seq, ..*c })) // IngressClock::Sequence
        })
        .collect()
}

/// Compares per-input outputs, naming the first input that differs.
fn assert_same(got: &[(u64, Vec<Event>)], want: &[(u64, Vec<Event>)], what: &str) {
    if let Some(at) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "{what}: input {} differs:\n got {:?}\nwant {:?}",
            want[at].0, got[at], want[at]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: number of inputs with outputs"
    );
}

/// Folds messages back into per-input events (a trade is three messages).
fn events_of(messages: &[Message]) -> Vec<(u64, Vec<Event>)> {
    let mut out: Vec<(u64, Vec<Event>)> = Vec::new();
    for m in messages {
        if out.last().is_none_or(|(seq, _)| *seq != m.seq) {
            out.push((m.seq, Vec::new()));
        }
        let events = &mut out.last_mut().unwrap().1;
        match m.body {
            MessageBody::Status(e) | MessageBody::Admin(e) => events.push(e),
            MessageBody::Trade(t) => events.push(Event::Trade(t)),
            MessageBody::Depth(d) => events.push(Event::Depth(d)),
            MessageBody::Fill(..)
            | MessageBody::Undecodable(_)
            | MessageBody::UndecodableAdmin(_) => {}
        }
    }
    out
}

#[test]
fn tiny_rings_and_a_slow_sink_lose_nothing_on_either_ring() {
    let commands = stream(5_000);
    let want = expected(&commands);
    #[allow(unused_mut)] // without the benchmark's second transport
    let mut runs = vec![
        (RingKind::Disruptor, WaitMode::Yield),
        (RingKind::Disruptor, WaitMode::Park),
    ];
    // The benchmark's channel transport runs the same stage loops; it is
    // built when `bench` is, as in the workspace's test run.
    #[cfg(feature = "crossbeam-rings")]
    runs.extend([
        (RingKind::Crossbeam, WaitMode::Yield),
        (RingKind::Crossbeam, WaitMode::Park),
    ]);
    for (ring, wait) in runs {
        let dir = tempfile::tempdir().unwrap();
        let sink = Collector {
            slow_every: Some(50),
            ..Collector::default()
        };
        let messages = Arc::clone(&sink.messages);
        let source = ListSource {
            commands: commands.clone(),
            next: 0,
        };
        let mut config = pipeline_config(dir.path(), ring, Durability::None);
        config.wait = wait;
        let report = run(&config, source, sink, &AtomicBool::new(false)).unwrap();
        assert_eq!(report.inputs, commands.len() as u64);
        let messages = messages.lock().unwrap();
        assert_eq!(report.messages, messages.len() as u64);
        assert_same(&events_of(&messages), &want, &format!("{ring:?}"));
        for pair in messages.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!((b.seq, b.idx) == (a.seq, a.idx + 1) || (b.seq == a.seq + 1 && b.idx == 0));
        }
        // How many periodic snapshots happen depends on how far the replica
        // gets before the run ends; the final one always happens.
        assert!(report.snapshots.written >= 1, "{ring:?}: no snapshot");
        assert_eq!(report.snapshots.last.map(|(seq, _)| seq), Some(5_000));
        assert_eq!(
            report.snapshots.last.map(|(_, hash)| hash),
            Some(report.state_hash)
        );
    }
}

#[test]
fn no_output_leaves_before_its_input_is_journaled() {
    let commands = stream(3_000);
    for durability in [Durability::None, Durability::Batch] {
        let dir = tempfile::tempdir().unwrap();
        let config = pipeline_config(dir.path(), RingKind::Disruptor, durability);
        let sink = Collector {
            journal: Some(config.journal_dir.clone()),
            ..Collector::default()
        };
        let batches = Arc::clone(&sink.batches);
        let source = ListSource {
            commands: commands.clone(),
            next: 0,
        };
        let report = run(&config, source, sink, &AtomicBool::new(false)).unwrap();
        assert_eq!(report.inputs, 3_000);
        assert!(
            *batches.lock().unwrap() > 30,
            "{durability}: many batches checked"
        );
    }
}

#[test]
fn a_raised_stop_flag_drains_and_snapshots_and_the_next_run_continues() {
    let commands = stream(2_000);
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline_config(dir.path(), RingKind::Disruptor, Durability::Batch);
    let stop = AtomicBool::new(true); // stop before the first input
    let first = run(
        &config,
        ListSource {
            commands: commands.clone(),
            next: 0,
        },
        Collector::default(),
        &stop,
    )
    .unwrap();
    assert_eq!(first.inputs, 0);
    let sink = Collector::default();
    let messages = Arc::clone(&sink.messages);
    let second = run(
        &config,
        ListSource {
            commands: commands.clone(),
            next: 0,
        },
        sink,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(second.last_sequence, 2_000);
    assert_same(
        &events_of(&messages.lock().unwrap()),
        &expected(&commands),
        "after a stop",
    );
}

/// Feeds `commands`, but holds back after `hold_after` until the replica has
/// written the snapshot at `wait_for`, so a test sees the replica's
/// snapshots however loaded the machine is.
struct WaitForReplica {
    list: ListSource,
    hold_after: usize,
    wait_for: u64,
    journal: PathBuf,
    since: Option<std::time::Instant>,
}

impl InputSource for WaitForReplica {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        self.list.resume(journaled)
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        if self.list.next == self.hold_after {
            let store = journal::SnapshotStore::new(&self.journal);
            if !store.list().unwrap().contains(&self.wait_for) {
                let since = *self.since.get_or_insert_with(std::time::Instant::now);
                assert!(
                    since.elapsed() < Duration::from_secs(60),
                    "the replica wrote no snapshot at {} in 60 s",
                    self.wait_for
                );
                return Ok(SourcePoll::Idle);
            }
        }
        self.list.poll()
    }
}

/// The replica snapshots while the matcher runs on, and each of its
/// snapshots is the state re-execution from the first input reaches.
#[test]
fn the_replica_writes_snapshots_that_re_execution_reproduces() {
    let commands = stream(5_000);
    for durability in [Durability::None, Durability::Batch] {
        let dir = tempfile::tempdir().unwrap();
        let config = pipeline_config(dir.path(), RingKind::Disruptor, durability);
        let source = WaitForReplica {
            list: ListSource {
                commands: commands.clone(),
                next: 0,
            },
            hold_after: 3_500,
            wait_for: 3_000,
            journal: config.journal_dir.clone(),
            since: None,
        };
        let sink = Collector::default();
        let messages = Arc::clone(&sink.messages);
        let report = run(&config, source, sink, &AtomicBool::new(false)).unwrap();
        assert_same(
            &events_of(&messages.lock().unwrap()),
            &expected(&commands),
            &format!("{durability:?}"),
        );
        let snapshots = &report.snapshots;
        assert!(snapshots.by_replica >= 1, "{durability:?}: {snapshots:?}");
        assert!(snapshots.replica_restore.is_some());
        assert_eq!(snapshots.last, Some((5_000, report.state_hash)));

        // Re-execute from genesis, checking every snapshot's state hash.
        let history = engine::history::History::open(&config.journal_dir).unwrap();
        let on_disk = journal::SnapshotStore::new(&config.journal_dir)
            .list()
            .unwrap();
        assert!(on_disk.contains(&3_000), "{on_disk:?}");
        let start = history.replayer_at(0, &config.engine).unwrap();
        assert_eq!(start.later.len(), on_disk.len());
        let mut replayer = start.replayer;
        let mut records = history.all_records().unwrap();
        while let Some(record) = records.next().unwrap() {
            replayer.advance(&record).unwrap();
        }
        assert_eq!(replayer.hashes_verified(), on_disk.len() as u64);
        assert_eq!(replayer.engine().state_hash(), report.state_hash);
    }
}

/// Feeds commands, then holds the end back until the replica has published
/// books as of the last input, so the test reads the final figures.
struct UntilBooksPublished {
    list: ListSource,
    metrics: Arc<engine::pipeline::PipelineMetrics>,
    since: Option<std::time::Instant>,
}

impl InputSource for UntilBooksPublished {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        self.list.resume(journaled)
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        let total = self.list.commands.len() as u64;
        if self.list.next == self.list.commands.len()
            && self.metrics.sample().books_sequence < total
        {
            let since = *self.since.get_or_insert_with(std::time::Instant::now);
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "the replica published no books as of {total} in 60 s"
            );
            return Ok(SourcePoll::Idle);
        }
        self.list.poll()
    }
}

/// The busiest symbols' book gauges, which the replica computes, are the
/// books the matcher's engine holds, for the symbols with the most inputs.
#[test]
fn the_busiest_books_in_the_metrics_match_the_engine() {
    // Four symbols with different shares of a crossing flow.
    let symbols = ["AAPL", "MSFT", "TSLA", "IBM"];
    let mut random = oorandom::Rand64::new(5);
    let commands: Vec<Command> = (0..4_000)
        .map(|i| {
            let r = random.rand_u64();
            let symbol = symbols[match r % 10 {
                0..=4 => 0,
                5..=7 => 1,
                8 => 2,
                _ => 3,
            }];
            let side = if (r >> 8).is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            };
            Command::add(
                0,
                sym(symbol),
                user("u"),
                oid(&format!("o{i}")),
                OrderSpec::limit(side, 100 + (r >> 16) % 20, 1 + (r >> 32) % 9),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut config = pipeline_config(dir.path(), RingKind::Disruptor, Durability::None);
    config.snapshot_every = None;
    config.book_symbols = 2;
    let source = UntilBooksPublished {
        list: ListSource {
            commands: commands.clone(),
            next: 0,
        },
        metrics: Arc::clone(&config.metrics),
        since: None,
    };
    run(
        &config,
        source,
        Collector::default(),
        &AtomicBool::new(false),
    )
    .unwrap();

    let mut engine = engine::Engine::new(EngineConfig::default()).unwrap();
    for command in &commands {
        engine.apply(command, &mut Vec::<Event>::new());
    }
    let sample = config.metrics.sample();
    assert_eq!(sample.books_sequence, 4_000);
    let names: Vec<&str> = sample.books.iter().map(|b| b.symbol.as_str()).collect();
    assert_eq!(names, ["AAPL", "MSFT"], "the two busiest, busiest first");
    for book in &sample.books {
        let inputs = commands
            .iter()
            .filter(|c| c.symbol.as_str() == book.symbol)
            .count() as u64;
        let summary = engine.book_summary(&sym(&book.symbol)).unwrap();
        assert_eq!(
            (
                book.inputs,
                book.bid_orders,
                book.ask_orders,
                book.best_bid,
                book.best_ask
            ),
            (
                inputs,
                summary.bid_orders as u64,
                summary.ask_orders as u64,
                summary.best_bid,
                summary.best_ask
            ),
            "{}",
            book.symbol
        );
    }
}

/// Sends one command every `gap`, so a parked pipeline sleeps between
/// inputs and must be woken for each.
struct Trickle {
    list: ListSource,
    gap: Duration,
    next_at: Option<std::time::Instant>,
}

impl InputSource for Trickle {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        self.list.resume(journaled)
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        let now = std::time::Instant::now();
        if self.next_at.is_some_and(|at| now < at) {
            return Ok(SourcePoll::Idle);
        }
        self.next_at = Some(now + self.gap);
        self.list.poll()
    }
}

/// In `park` mode every stage sleeps between inputs that arrive 3 ms
/// apart; each input still gets through, journaled before its outputs
/// leave, in both durability modes.
#[test]
fn a_parked_pipeline_wakes_for_every_input() {
    let commands = stream(300);
    let want = expected(&commands);
    for durability in [Durability::None, Durability::Batch] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = pipeline_config(dir.path(), RingKind::Disruptor, durability);
        config.wait = WaitMode::Park;
        let sink = Collector {
            journal: Some(config.journal_dir.clone()),
            ..Collector::default()
        };
        let messages = Arc::clone(&sink.messages);
        let source = Trickle {
            list: ListSource {
                commands: commands.clone(),
                next: 0,
            },
            gap: Duration::from_millis(3),
            next_at: None,
        };
        let report = run(&config, source, sink, &AtomicBool::new(false)).unwrap();
        assert_eq!(report.inputs, 300);
        assert_same(
            &events_of(&messages.lock().unwrap()),
            &want,
            &format!("park, {durability:?}"),
        );
    }
}

/// A wall clock that reads from a script, one time per read, then stays at
/// its last time. Ingress reads it once per input.
#[derive(Debug)]
struct ScriptedClock(Mutex<std::vec::IntoIter<u64>>, Mutex<u64>);

impl ScriptedClock {
    fn new(times: Vec<u64>) -> ScriptedClock {
        ScriptedClock(Mutex::new(times.into_iter()), Mutex::new(0))
    }
}

impl WallClock for ScriptedClock {
    fn now_ns(&self) -> u64 {
        let mut last = self.1.lock().unwrap();
        if let Some(next) = self.0.lock().unwrap().next() {
            *last = next;
        }
        *last
    }
}

/// Every journaled stamp, in sequence order.
fn journal_stamps(dir: &std::path::Path) -> Vec<u64> {
    let reader = journal::Reader::open(dir).unwrap();
    let mut cursor = reader.read_all().unwrap();
    let mut stamps = Vec::new();
    while let Some(record) = cursor.next().unwrap() {
        stamps.push(record.meta().timestamp_ns);
    }
    stamps
}

#[test]
fn a_wall_clock_that_steps_back_never_moves_the_stamps_back_even_across_a_restart() {
    const BASE: u64 = 1_800_000_000_000_000_000;
    let commands = stream(1_500);
    let dir = tempfile::tempdir().unwrap();
    let mut config = pipeline_config(dir.path(), RingKind::Disruptor, Durability::None);
    config.clock = IngressClock::Wall;
    // 1 µs per input; after input 500 the clock steps back 300 µs, so the
    // next 300 inputs are held at input 500's stamp, and input 801 is the
    // first whose own time is at or past it.
    let times: Vec<u64> = (0..1_000u64)
        .map(|i| match i {
            0..500 => BASE + i * 1_000,
            _ => BASE + 499_000 - 300_000 + (i - 500) * 1_000,
        })
        .collect();
    config.wall_clock = Arc::new(ScriptedClock::new(times.clone()));
    let sink = Collector::default();
    let messages = Arc::clone(&sink.messages);
    let source = ListSource {
        commands: commands[..1_000].to_vec(),
        next: 0,
    };
    let first = run(&config, source, sink, &AtomicBool::new(false)).unwrap();
    assert_eq!(first.inputs, 1_000);
    assert_eq!(config.metrics.sample().ingress_clock_clamped, 300);
    let stamps = journal_stamps(&config.journal_dir);
    assert!(stamps.is_sorted(), "journal stamps never decrease");
    let want: Vec<u64> = times
        .iter()
        .scan(0, |last, &t| {
            *last = t.max(*last);
            Some(*last)
        })
        .collect();
    assert_eq!(stamps, want);
    // What the matcher saw: trades carry the command time.
    let trade_times: Vec<u64> = messages
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::Trade(t) => Some(t.ts),
            _ => None,
        })
        .collect();
    assert!(!trade_times.is_empty() && trade_times.is_sorted());

    // A restart on a host whose clock is now a millisecond behind the
    // journal: every new stamp holds at the journal's last until it would
    // catch up, which it does not within these 500 inputs.
    let last = *stamps.last().unwrap();
    config.wall_clock = Arc::new(ScriptedClock::new(
        (0..500u64).map(|j| last - 1_000_000 + j * 1_000).collect(),
    ));
    let source = ListSource { commands, next: 0 };
    let second = run(
        &config,
        source,
        Collector::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(second.inputs, 500);
    assert_eq!(config.metrics.sample().ingress_clock_clamped, 500);
    let stamps = journal_stamps(&config.journal_dir);
    assert_eq!(stamps.len(), 1_500);
    assert!(
        stamps.is_sorted(),
        "journal stamps never decrease across the restart"
    );
    assert!(stamps[1_000..].iter().all(|&s| s == last));
}
