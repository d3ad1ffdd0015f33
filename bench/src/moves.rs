//! The pause a partition's move costs its symbols, with `engine`
//! processes on the embedded broker (librdkafka's mock cluster, in this
//! process, so it outlives every engine it serves).
//!
//! Engine `a` reads `orders` partition 0 and `b` partition 1. Partition 0
//! is filled with N resting orders over ten symbols, then fed steadily
//! while `engine admin move` (the library call behind it) gives it to `b`.
//! The pause is what those symbols' clients see: from `a`'s last
//! `order_status` message for them to `b`'s first, by the broker's
//! timestamps. Where the time goes comes from the two engines' logs, which
//! stamp each step of the move. It starts processes and reads what they
//! write; it moves nothing itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine::{AdminAction, AdminCommand, EngineId, OrderId};
use gateway::kafka::{EmbeddedBroker, KafkaConfig};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::processes::{Engine, log_of, wait_log};

/// The symbols on the moved partition.
const SYMBOLS: u64 = 10;

/// What to run.
#[derive(Clone, Debug)]
pub struct MoveBenchConfig {
    /// The `engine` binary.
    pub engine: PathBuf,
    /// Resting orders in the moved partition's books.
    pub resting: u64,
    /// Orders per second on the moved partition while it moves.
    pub rate: u64,
    /// Where the engines' journals and logs go (a fresh directory inside).
    pub scratch: PathBuf,
}

/// The steps of one move, in milliseconds, by the engines' log stamps.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MoveSteps {
    /// `a` stops reading the partition and journals the release, until
    /// its matcher has encoded the export.
    pub release_and_export: f64,
    /// Until `b` has the whole export from `handover`: `a` waits for its
    /// outputs through the release to be delivered, writes the chunks,
    /// `b` reads them.
    pub handover: f64,
    /// `b` journals the pieces and the acquire and rebuilds the books.
    pub acquire: f64,
    /// `b` writes its claim to `assignments` and reads the verdict back.
    pub commit: f64,
    /// `b` reads the partition and answers the first order that waited:
    /// the pause less the steps before.
    pub first_output: f64,
}

/// One move's figures.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MoveReport {
    /// Resting orders moved.
    pub resting: u64,
    /// Orders per second offered on the partition meanwhile.
    pub rate: u64,
    /// The export's size in bytes (compressed).
    pub export_bytes: u64,
    /// From `a`'s last output for the moved symbols to `b`'s first.
    pub pause_ms: f64,
    /// Where the time went.
    pub steps: MoveSteps,
}

/// Runs one move of `config.resting` resting orders.
pub fn run_move(config: &MoveBenchConfig) -> Result<MoveReport, String> {
    let scratch = tempfile::tempdir_in(&config.scratch).map_err(|e| e.to_string())?;
    let dir = scratch.path();
    let kafka = KafkaConfig::default();
    let broker = EmbeddedBroker::start(&kafka.topics, 2).map_err(|e| e.to_string())?;
    let bootstrap = broker.bootstrap();
    let mut engines = Vec::new();
    for (id, partition) in [("a", 0), ("b", 1)] {
        let path = dir.join(format!("{id}.toml"));
        std::fs::write(&path, format!("[kafka]\npartitions = [{partition}]\n"))
            .map_err(|e| e.to_string())?;
        let config_path = path.to_string_lossy().into_owned();
        let args = [
            "--brokers",
            bootstrap.as_str(),
            "--config",
            config_path.as_str(),
            "--engine-id",
            id,
            "--clock",
            "wall",
            "--wait",
            "park",
            "--snapshot-every",
            "100000000",
        ];
        engines.push(Engine::spawn(&config.engine, dir, id, &args)?);
        wait_log(dir, id, "kafka: resuming", 1)?;
    }

    // The books to move, then a steady feed while they move.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .create()
        .map_err(|e| e.to_string())?;
    // In steps the engine keeps up with: the mock cluster keeps only a few
    // MiB of a partition.
    for start in (0..config.resting).step_by(10_000) {
        let end = (start + 10_000).min(config.resting);
        for n in start..end {
            send(&producer, &resting_order(n))?;
        }
        producer
            .flush(Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        wait_journaled(&dir.join("a"), end)?;
    }

    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = {
        let feeding = Arc::clone(&feeding);
        let rate = config.rate.max(1);
        let first = config.resting;
        std::thread::spawn(move || -> Result<(), String> {
            let started = Instant::now();
            let mut n = first;
            while feeding.load(Ordering::Relaxed) {
                let due = started + Duration::from_secs_f64((n - first) as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                send(&producer, &resting_order(n))?;
                producer.poll(Duration::ZERO);
                n += 1;
            }
            producer
                .flush(Duration::from_secs(60))
                .map_err(|e| e.to_string())
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let command = AdminCommand {
        ts: 0,
        request_id: OrderId::new("bench-move").map_err(|e| e.to_string())?,
        action: AdminAction::Release {
            partition: 0,
            to: EngineId::new("b").map_err(|e| e.to_string())?,
            after_offset: -1,
        },
    };
    let outcome = gateway::kafka::admin::move_partition(
        &kafka,
        &bootstrap,
        &[],
        &command,
        Duration::from_secs(60),
    )
    .map_err(|e| e.to_string())?;
    if outcome.verdict != Some(true) {
        return Err(format!("the move did not complete: {outcome:?}"));
    }
    std::thread::sleep(Duration::from_secs(2));
    feeding.store(false, Ordering::Relaxed);
    feeder.join().map_err(|_| "the feeder panicked")??;
    std::thread::sleep(Duration::from_secs(1));
    for engine in engines {
        engine.stop()?;
    }

    let (a, b) = (log_of(dir, "a"), log_of(dir, "b"));
    let at = |log: &str, text: &str| stamp_of(log, text).ok_or(format!("no {text:?} in the log"));
    let released = at(&a, "move step 1")?;
    let exported = at(&a, "move step 2")?;
    let received = at(&b, "move step 4: export received")?;
    let acquired = at(&b, "move step 4: acquired")?;
    let committed = at(&b, "move step 5: commit written")?;
    let (last_a, first_b) = pause_of(&bootstrap, &kafka.topics.order_status)?;
    let pause_ms = (first_b - last_a) as f64;
    Ok(MoveReport {
        resting: config.resting,
        rate: config.rate,
        export_bytes: field_of(&a, "move step 2", "bytes").unwrap_or(0),
        pause_ms,
        steps: MoveSteps {
            release_and_export: exported - released,
            handover: received - exported,
            acquire: acquired - received,
            commit: committed - acquired,
            // The pause starts with the release, give or take one order.
            first_output: pause_ms - (committed - released),
        },
    })
}

/// A resting order on the moved partition: bids at 90-99, asks at
/// 101-110, so nothing trades and every order stays in the books.
fn resting_order(n: u64) -> String {
    let (side, price) = if n.is_multiple_of(2) {
        ("BUY", 90 + n % 10)
    } else {
        ("SELL", 101 + n % 10)
    };
    format!(
        r#"{{"action":"ADD","symbol":"M{}","user_id":"u{}","order_id":"r{n}","side":"{side}","price":{price},"quantity":{}}}"#,
        n % SYMBOLS,
        n % 50,
        1 + n % 10
    )
}

fn send(producer: &BaseProducer, line: &str) -> Result<(), String> {
    let mut record = BaseRecord::<(), str>::to("orders")
        .partition(0)
        .payload(line);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((rdkafka::error::KafkaError::MessageProduction(_), back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.to_string()),
        }
    }
}

/// Waits until the journal in `dir` holds `count` records.
fn wait_journaled(dir: &Path, count: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let end = journal::Reader::open(dir)
            .and_then(|r| r.end_sequence())
            .unwrap_or(0);
        if end >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {end} of {count} orders journaled"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first log line holding `text`, stamped in ms since midnight (UTC),
/// as `tracing` writes it: `2026-12-02T06:45:23.910590Z  INFO ...`.
fn stamp_of(log: &str, text: &str) -> Option<f64> {
    let line = log.lines().find(|l| l.contains(text))?;
    let time = line.split_whitespace().next()?.split('T').nth(1)?;
    let time = time.trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

/// A `name=N` field of the first log line holding `text`.
fn field_of(log: &str, text: &str, name: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(text))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?
        .parse()
        .ok()
}

/// `a`'s last and `b`'s first `order_status` message for the moved
/// symbols, by broker timestamp (ms since the epoch).
fn pause_of(bootstrap: &str, topic: &str) -> Result<(i64, i64), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-move")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let mut list = TopicPartitionList::new();
    let mut ends = Vec::new();
    for partition in 0..2 {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        list.add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| e.to_string())?;
        ends.push(high);
    }
    consumer.assign(&list).map_err(|e| e.to_string())?;
    let total: i64 = ends.iter().sum();
    let (mut last_a, mut first_b) = (i64::MIN, i64::MAX);
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < total && Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        seen += 1;
        let Some(ts) = message.timestamp().to_millis() else {
            continue;
        };
        let Ok(json) =
            serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
        else {
            continue;
        };
        if !json["symbol"].as_str().is_some_and(|s| s.starts_with('M')) {
            continue;
        }
        match json["engine_id"].as_str() {
            Some("a") => last_a = last_a.max(ts),
            Some("b") => first_b = first_b.min(ts),
            _ => {}
        }
    }
    if last_a == i64::MIN || first_b == i64::MAX {
        return Err("no outputs of a or b for the moved symbols".into());
    }
    Ok((last_a, first_b))
}
