//! The hot standby, end to end: engines as processes sharing a journal
//! topic on a broker that outlives them (tansu as its own process, and
//! librdkafka's mock cluster in this test process), with orders arriving at
//! a steady rate while leaders are killed, paused, replaced and lost.
//!
//! After every scenario the outputs of all leaders, de-duplicated by
//! `(seq, idx)` (which also checks that no key was ever published with two
//! contents), must equal byte for byte what `replay run` makes of the
//! surviving journal, and the reference model's outputs for the same
//! inputs; the journal must hold every order exactly once. Kill counts and
//! sizes come from `ENGINE_HA_KILLS` and `ENGINE_HA_ORDERS` for longer
//! soaks. `scripts/test` installs tansu and says where it is.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::kafka::{KillOnDrop, Tansu, alone, read_outputs_of, symbol_of, topics_config};
use common::{ENGINE, assert_same_outputs, dedup, journaled_inputs, read_outputs, replay_bin};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// How long a standby waits for a silent leader, here.
const FAILOVER: &str = "1s";
/// The engine id every scenario's engines share.
const ID: &str = "ha1";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().unwrap())
}

/// A broker the engines share, as a process of its own (tansu) or in this
/// test process (the mock cluster); either outlives every engine.
enum Broker {
    /// The broker, and where its SQLite file lives (kept until it stops).
    Tansu {
        broker: Tansu,
        _data: tempfile::TempDir,
    },
    Mock(rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
}

impl Broker {
    fn tansu() -> Broker {
        // SQLite storage: tansu's memory storage reports a high watermark
        // inside the last batch (see kafka_broker.rs).
        let data = tempfile::tempdir().unwrap();
        Broker::Tansu {
            broker: Tansu::start(Some(data.path())),
            _data: data,
        }
    }

    fn mock() -> Broker {
        Broker::Mock(rdkafka::mocking::MockCluster::new(1).unwrap())
    }

    fn bootstrap(&self) -> String {
        match self {
            Broker::Tansu { broker, .. } => broker.bootstrap(),
            Broker::Mock(cluster) => cluster.bootstrap_servers(),
        }
    }

    fn create(&self, topic: &str, partitions: i32) {
        match self {
            Broker::Tansu { broker, .. } => broker.create(topic, partitions),
            Broker::Mock(cluster) => cluster.create_topic(topic, partitions, 1).unwrap(),
        }
    }
}

/// A shard on tansu with a primary leading, a standby standing by and the
/// feed running at 2,000 orders/s.
fn running_pair(partitions: i32, seed: u64) -> (Shard, KillOnDrop, KillOnDrop, Feed) {
    let shard = Shard::new(
        Broker::tansu(),
        env_or("ENGINE_HA_ORDERS", 60_000) / 3,
        partitions,
        seed,
    );
    let primary = shard.engine("a", "primary");
    shard.wait_leading("a", 1);
    let standby = shard.engine("b", "standby");
    shard.wait_standing_by("b", 1);
    let feed = shard.feed(2_000);
    (shard, primary, standby, feed)
}

/// One shard: its broker, topics, config file, and the engines' logs.
struct Shard {
    broker: Broker,
    dir: tempfile::TempDir,
    config: PathBuf,
    share: PathBuf,
    orders: Vec<String>,
}

impl Drop for Shard {
    fn drop(&mut self) {
        if std::env::var_os("ENGINE_HA_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            let _ = dir.keep();
        }
    }
}

impl Shard {
    /// `partitions` orders partitions: one keeps the journal's order of
    /// inputs the same whichever engine reads them; two let a paused
    /// leader and its successor interleave them differently.
    fn new(broker: Broker, orders: usize, partitions: i32, seed: u64) -> Shard {
        let dir = tempfile::tempdir().unwrap();
        if std::env::var_os("ENGINE_HA_KEEP").is_some() {
            eprintln!("keeping {}", dir.path().display());
        }
        broker.create("orders", partitions);
        for topic in common::kafka::output_topics("out-") {
            broker.create(&topic, 2);
        }
        broker.create(&format!("journal.{ID}"), 1);
        broker.create("assignments", 1);
        let config = dir.path().join("engine.toml");
        topics_config(&config, "orders", "out-");
        let text = common::scenario(orders, seed);
        Shard {
            broker,
            config,
            share: dir.path().join("share"),
            dir,
            orders: text.lines().map(str::to_owned).collect(),
        }
    }

    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts an engine on journal `name`, its stderr appended to
    /// `name.log`.
    fn engine(&self, name: &str, role: &str) -> KillOnDrop {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        KillOnDrop(
            Process::new(ENGINE)
                .args(["--journal", self.journal(name).to_str().unwrap()])
                .args(["--brokers", &self.broker.bootstrap()])
                .args(["--config", self.config.to_str().unwrap()])
                .args(["--durability", "replicated", "--engine-id", ID])
                .args(["--role", role, "--failover-timeout", FAILOVER])
                .args(["--heartbeat-interval", "100ms"])
                .args(["--clock", "sequence", "--wait", "park"])
                .args(["--snapshot-every", "3000", "--segment-size", "64MiB"])
                .args(["--snapshot-share", self.share.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap(),
        )
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until engine `name`'s log holds `needle` `times` times; lines
    /// are written after the act they report, so tests wait for them.
    fn wait_logged(&self, name: &str, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.log(name).matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "{name} never logged {needle:?} {times} times:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until engine `name` has led `times` times.
    fn wait_leading(&self, name: &str, times: usize) {
        self.wait_logged(name, "this engine leads", times);
    }

    /// Waits until engine `name` has caught up with the journal topic for
    /// the `times`th time: a standby ready to take over.
    fn wait_standing_by(&self, name: &str, times: usize) {
        self.wait_logged(name, "standing by", times);
    }

    /// Starts feeding the orders at `rate` a second, keyed by symbol.
    fn feed(&self, rate: u64) -> Feed {
        let bootstrap = self.broker.bootstrap();
        let lines = self.orders.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sent2, stop2) = (Arc::clone(&sent), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("enable.idempotence", "true")
                .set("linger.ms", "2")
                .create()
                .unwrap();
            let started = Instant::now();
            for (i, line) in lines.iter().enumerate() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let key = symbol_of(line);
                let mut record = BaseRecord::<str, str>::to("orders").payload(line.as_str());
                if let Some(key) = &key {
                    record = record.key(key.as_str());
                }
                while let Err((_, back)) = producer.send(record) {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                producer.poll(Duration::ZERO);
                sent2.store(i + 1, Ordering::Relaxed);
            }
            producer.flush(Duration::from_secs(60)).unwrap();
        });
        Feed {
            sent,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until journal `name` holds every order.
    fn wait_journaled(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while journal_len(&self.journal(name)) < self.orders.len() {
            assert!(
                Instant::now() < deadline,
                "{name} journaled {} of {} orders:\n{}",
                journal_len(&self.journal(name)),
                self.orders.len(),
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The checks every scenario ends with, on the leader's journal
    /// `leader`: merged outputs equal `replay run` and the model, and the
    /// journal holds every order once, in its partition's order.
    fn check(&self, leader: &str, partitions: i32) -> usize {
        let bootstrap = self.broker.bootstrap();
        let published = read_outputs_of(&bootstrap, "out-");
        let merged = dedup(&published);
        let rerun = self.dir.path().join("rerun");
        let out = Process::new(replay_bin())
            .args(["run", self.journal(leader).to_str().unwrap()])
            .args(["--output", &format!("file:{}", rerun.display())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let replayed = read_outputs(&rerun);
        assert_same_outputs(&merged, &replayed);
        let journaled = journaled_inputs(&self.journal(leader));
        assert_eq!(journaled.len(), self.orders.len(), "every order journaled");
        for partition in 0..partitions {
            let offsets: Vec<i64> = journaled
                .iter()
                .filter(|(p, _)| p.partition == partition)
                .map(|(p, _)| p.offset)
                .collect();
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(
                offsets, expected,
                "partition {partition}: once each, in order"
            );
        }
        // The model's messages name no engine; the shard's name it.
        assert_same_outputs(
            &common::without_engine_id(&merged, ID),
            &common::reference_of(journaled),
        );
        published.values().map(Vec::len).sum::<usize>()
            - merged.values().map(Vec::len).sum::<usize>()
    }
}

/// The order feeder's thread.
struct Feed {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feed {
    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    fn finish(mut self) {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn journal_len(dir: &Path) -> usize {
    let Ok(reader) = journal::Reader::open(dir) else {
        return 0;
    };
    reader.end_sequence().map_or(0, |end| end as usize - 1)
}

fn signal(child: &KillOnDrop, name: &str) {
    let status = Process::new("kill")
        .args([&format!("-{name}"), &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops an engine with SIGTERM and returns what it printed.
fn stop(child: KillOnDrop) -> Output {
    child.stop(Duration::from_secs(60))
}

/// The figures one takeover's log lines give, in ms.
fn takeover_steps(log: &str) -> Vec<(u64, u64, u64)> {
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    log.lines()
        .filter(|line| line.contains("takeover step 5"))
        .map(|line| {
            (
                field(line, "detection_ms"),
                field(line, "catch_up_ms") + field(line, "epoch_entry_ms"),
                field(line, "recovery_ms"),
            )
        })
        .collect()
}

/// SIGKILL the leader at `kills` points spread over a steady feed; the
/// standby takes over each time and the killed one rejoins as a standby.
fn kill_the_leader_repeatedly(broker: Broker, orders: usize, kills: usize, rate: u64) {
    let _alone = alone();
    let shard = Shard::new(broker, orders, 1, 31);
    let names = ["a", "b"];
    let mut running = [Some(shard.engine("a", "primary")), None];
    shard.wait_leading("a", 1);
    running[1] = Some(shard.engine("b", "standby"));
    shard.wait_standing_by("b", 1);
    let feed = shard.feed(rate);
    let mut leader = 0;
    let mut leads = [1, 0];
    // "a" stood by once before it led.
    let mut stood_by = [1, 1];
    let run_for = Duration::from_secs_f64(orders as f64 / rate as f64);
    let every = run_for / (kills as u32 + 1);
    for kill in 0..kills {
        std::thread::sleep(every.mul_f64(0.5 + (kill % 3) as f64 * 0.25));
        // Each kill finds a standby ready: the last one restarted has
        // caught up.
        shard.wait_standing_by(names[1 - leader], stood_by[1 - leader]);
        let killed_at = Instant::now();
        drop(running[leader].take()); // SIGKILL
        let next = 1 - leader;
        leads[next] += 1;
        shard.wait_leading(names[next], leads[next]);
        eprintln!(
            "kill {kill}: {} took over in {} ms, {} of {orders} orders sent",
            names[next],
            killed_at.elapsed().as_millis(),
            feed.sent()
        );
        running[leader] = Some(shard.engine(names[leader], "standby"));
        stood_by[leader] += 1;
        leader = next;
    }
    feed.finish();
    shard.wait_journaled(names[leader]);
    let standby = running[1 - leader].take().unwrap();
    let led = running[leader].take().unwrap();
    // The standby stops first, so the leader's step-down is not followed
    // by a takeover.
    stop(standby);
    let out = stop(led);
    assert!(out.status.success(), "{}", shard.log(names[leader]));
    let duplicates = shard.check(names[leader], 1);
    let mut steps: Vec<(u64, u64, u64)> = names
        .iter()
        .flat_map(|n| takeover_steps(&shard.log(n)))
        .collect();
    steps.sort_unstable();
    eprintln!(
        "{kills} kills: {duplicates} duplicate messages; takeover steps (detection, epoch entry \
         and catch-up, recovery) ms, median {:?}",
        steps.get(steps.len() / 2)
    );
    // The follower's copy is the agreed log too.
    let other = journaled_inputs(&shard.journal(names[1 - leader]));
    let theirs = journaled_inputs(&shard.journal(names[leader]));
    assert!(other.len() <= theirs.len());
    assert_eq!(
        other[..],
        theirs[..other.len()],
        "the standby's journal is a prefix"
    );
}

#[test]
fn killing_the_leader_twenty_times_loses_and_contradicts_nothing_on_tansu() {
    let kills = env_or("ENGINE_HA_KILLS", 20);
    let orders = env_or("ENGINE_HA_ORDERS", 60_000);
    // tansu on SQLite delivers some thousands of messages a second here;
    // faster input would only grow the backlog each takeover re-sends.
    kill_the_leader_repeatedly(Broker::tansu(), orders, kills, 1_500);
}

#[test]
fn killing_the_leader_loses_and_contradicts_nothing_on_the_mock_cluster() {
    // The mock keeps about 5 MiB per partition: the journal topic holds
    // every record once per epoch that shipped it.
    let kills = env_or("ENGINE_HA_KILLS", 20) / 2;
    kill_the_leader_repeatedly(Broker::mock(), 12_000, kills, 1_500);
}

/// A paused leader resumes after its standby took over: it releases
/// nothing past the agreed end and exits 5; restarted as a standby it
/// moves its unagreed tail aside and follows; a switchover then gives it
/// the lead back.
#[test]
fn a_paused_leader_is_fenced_rejoins_and_takes_the_lead_back() {
    let _alone = alone();
    let (shard, zombie, standby, feed) = running_pair(2, 37);
    std::thread::sleep(Duration::from_secs(2));
    signal(&zombie, "STOP");
    shard.wait_leading("b", 1);
    let agreed_end: u64 = shard
        .log("b")
        .lines()
        .find(|l| l.contains("this engine leads"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("agreed_end="))
        })
        .unwrap()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&zombie, "CONT");
    let out = zombie.wait_with_output(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(5), "{}", shard.log("a"));
    let log = shard.log("a");
    assert!(log.contains("fenced: epoch 2"), "{log}");
    assert!(log.contains("Restart it as a standby"), "{log}");
    // It never confirmed an output past the agreed end.
    let delivered = gateway::delivered::DeliveredMark::read(
        &shard.journal("a").join(gateway::kafka::DELIVERED_FILE),
    )
    .unwrap()
    .unwrap_or(0);
    assert!(
        delivered <= agreed_end,
        "delivered {delivered} > agreed {agreed_end}"
    );
    let paused_tail = journal_len(&shard.journal("a")) as u64;
    eprintln!("agreed end {agreed_end}, the paused leader had journaled {paused_tail}");

    // Rejoin, then a switchover back once it stands by.
    let rejoined = shard.engine("a", "standby");
    shard.wait_standing_by("a", 2);
    let promote = Process::new(ENGINE)
        .args([
            "promote",
            "--engine-id",
            ID,
            "--brokers",
            &shard.broker.bootstrap(),
        ])
        .output()
        .unwrap();
    assert!(
        promote.status.success(),
        "{}{}",
        String::from_utf8_lossy(&promote.stderr),
        shard.log("b")
    );
    assert!(String::from_utf8_lossy(&promote.stdout).contains("epoch 3 claimed"));
    shard.wait_leading("a", 2);
    // `b` logs its step-down after `a` may already lead.
    shard.wait_logged("b", "stepped down", 1);
    if paused_tail > agreed_end {
        assert!(
            shard.log("a").contains("moved aside, not deleted"),
            "{}",
            shard.log("a")
        );
        let quarantined = std::fs::read_dir(shard.journal("a"))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("quarantine-"));
        assert!(
            quarantined,
            "the unagreed tail is kept in a quarantine folder"
        );
    }
    feed.finish();
    shard.wait_journaled("a");
    stop(standby);
    let out = stop(rejoined);
    assert!(out.status.success(), "{}", shard.log("a"));
    shard.check("a", 2);
}

/// The leader's host is lost, journal and all: the standby holds every
/// input whose outputs were delivered, and a new standby starts from an
/// empty directory through the shared snapshot.
#[test]
fn a_lost_host_loses_nothing_delivered_and_a_new_standby_bootstraps_from_empty() {
    let _alone = alone();
    let (shard, lost, survivor, feed) = running_pair(1, 41);
    std::thread::sleep(Duration::from_secs(4));
    drop(lost);
    std::fs::remove_dir_all(shard.journal("a")).unwrap();
    shard.wait_leading("b", 1);
    // Everything the lost leader delivered is in the survivor's journal.
    let delivered_before = dedup(&read_outputs_of(&shard.broker.bootstrap(), "out-"));
    let held = journal_len(&shard.journal("b")) as u64;
    for (file, lines) in &delivered_before {
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                v["seq"].as_u64().unwrap() <= held,
                "{file}: {line} not held"
            );
        }
    }
    // A replacement host: an empty journal, bootstrapped from the share.
    assert!(
        std::fs::read_dir(&shard.share).unwrap().count() > 0,
        "snapshots shared"
    );
    let fresh = shard.engine("c", "standby");
    feed.finish();
    shard.wait_journaled("b");
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_len(&shard.journal("c")) < shard.orders.len() {
        assert!(Instant::now() < deadline, "{}", shard.log("c"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        shard.log("c").contains("bootstrapped an empty journal"),
        "{}",
        shard.log("c")
    );
    stop(fresh);
    let out = stop(survivor);
    assert!(out.status.success(), "{}", shard.log("b"));
    shard.check("b", 1);
    // The bootstrapped journal is the survivor's from its snapshot on.
    let theirs = journaled_inputs(&shard.journal("b"));
    let reader = journal::Reader::open(shard.journal("c")).unwrap();
    let first = reader.first_sequence().unwrap().unwrap() as usize;
    let mut cursor = reader.read_all().unwrap();
    let mut at = first;
    while let Some(record) = cursor.next().unwrap() {
        let input: engine::sequenced::Input =
            rkyv::from_bytes::<_, rkyv::rancor::Error>(record.payload()).unwrap();
        assert_eq!(input, theirs[at - 1].1, "record {at}");
        at += 1;
    }
    assert_eq!(at - 1, theirs.len());
}

/// The replicated settings refuse what cannot work, before anything
/// starts, with exit code 2 and what to write instead.
#[test]
fn replicated_settings_that_cannot_work_are_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let journal = journal.to_str().unwrap();
    for (args, hint) in [
        (&["--role", "standby"][..], "add --durability replicated"),
        (
            &["--durability", "replicated", "--brokers", "127.0.0.1:1"][..],
            "--engine-id ID",
        ),
        (
            &["--durability", "replicated", "--engine-id", "e1"][..],
            "needs real brokers",
        ),
        (
            &[
                "--durability",
                "replicated",
                "--engine-id",
                "a/b",
                "--brokers",
                "x:1",
            ][..],
            "letters, digits",
        ),
        (
            &["--durability", "batch", "--local-durability", "none"][..],
            "under durability = \"replicated\" only",
        ),
        (
            &[
                "--durability",
                "replicated",
                "--engine-id",
                "e1",
                "--brokers",
                "x:1",
                "--heartbeat-interval",
                "300ms",
            ][..],
            "at least three heartbeat intervals",
        ),
        (
            &[
                "--durability",
                "replicated",
                "--engine-id",
                "e1",
                "--brokers",
                "x:1",
                "--input",
                "file:o.jsonl",
            ][..],
            "needs Kafka for input and output",
        ),
    ] {
        let out = Process::new(ENGINE)
            .args(["--journal", journal])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
    }
    assert!(!Path::new(journal).exists(), "nothing was created");
}
