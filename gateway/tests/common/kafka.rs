//! Kafka helpers for the tests: produce lines, read topics back, run the
//! engine against a broker. They use rdkafka directly, not the gateway's
//! code, so a bug there cannot hide itself.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::ENGINE;

/// The output topics, as the engine names them by default.
pub const OUTPUT_TOPICS: [&str; 4] = ["fills", "trades", "depth", "order_status"];

/// The `symbol` field of an orders line, used as its key.
pub fn symbol_of(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value["symbol"].as_str().map(str::to_owned)
}

/// Produces each line to `topic`, keyed by its symbol, and waits until the
/// broker has them all.
pub fn produce_lines(bootstrap: &str, topic: &str, lines: &[&str]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for line in lines {
        let key = symbol_of(line);
        let mut record = BaseRecord::<str, str>::to(topic).payload(*line);
        if let Some(key) = &key {
            record = record.key(key.as_str());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Every message of every partition of `topics`, as `<topic>.jsonl` lines,
/// read from the beginning to the current end.
pub fn read_topics(bootstrap: &str, topics: &[&str]) -> BTreeMap<String, Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "engine-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(20))
            .unwrap();
        for partition in metadata.topics()[0].partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition.id(), Duration::from_secs(20))
                .unwrap();
            // The mock cluster keeps about 5 MB per partition; a test that
            // outgrows it would compare against a truncated topic.
            assert_eq!(
                low,
                0,
                "{topic}/{} was trimmed by the broker",
                partition.id()
            );
            if high > 0 {
                assignment
                    .add_partition_offset(topic, partition.id(), Offset::Beginning)
                    .unwrap();
                ends.insert((topic.to_string(), partition.id()), high);
            }
        }
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if ends.is_empty() {
        return out;
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // To the watermarks, then on until a second passes with nothing: tansu's
    // reported high watermark can lag what a fetch returns.
    let mut idle_polls = 0;
    while !ends.is_empty() || idle_polls < 10 {
        assert!(Instant::now() < deadline, "reading topics timed out");
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            idle_polls += 1;
            continue;
        };
        idle_polls = 0;
        let message = message.unwrap();
        let key = (message.topic().to_string(), message.partition());
        let text = String::from_utf8(message.payload().unwrap_or_default().to_vec()).unwrap();
        out.entry(format!("{}.jsonl", message.topic()))
            .or_default()
            .push(text);
        if ends
            .get(&key)
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&key);
        }
    }
    out
}

/// Runs `engine` against `bootstrap` until it has consumed every order,
/// with the deterministic clock.
pub fn run_engine_kafka(journal: &Path, bootstrap: &str, extra: &[&str]) -> Output {
    Process::new(ENGINE)
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--brokers", bootstrap])
        .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
        .args(extra)
        .output()
        .unwrap()
}

/// Starts `engine` on `journal` against `bootstrap` with a config file,
/// to the end of its input, with both pipes captured.
pub fn spawn_engine_kafka(journal: &Path, bootstrap: &str, config: &Path) -> KillOnDrop {
    KillOnDrop(
        Process::new(ENGINE)
            .args([
                "--journal",
                journal.to_str().unwrap(),
                "--brokers",
                bootstrap,
            ])
            .args(["--config", config.to_str().unwrap()])
            .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Panics with the engine's stderr unless it succeeded.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "engine failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Writes an engine config file that reads `orders` and writes the output
/// topics with names prefixed by `outputs`.
pub fn topics_config(path: &Path, orders: &str, outputs: &str) {
    let text = format!(
        "[kafka]\nbatch_size = 100\n[kafka.topics]\norders = \"{orders}\"\n\
         fills = \"{outputs}fills\"\ntrades = \"{outputs}trades\"\n\
         depth = \"{outputs}depth\"\norder_status = \"{outputs}order_status\"\n"
    );
    std::fs::write(path, text).unwrap();
}

/// The output topic names with a prefix.
pub fn output_topics(prefix: &str) -> Vec<String> {
    OUTPUT_TOPICS
        .iter()
        .map(|t| format!("{prefix}{t}"))
        .collect()
}

/// Reads prefixed output topics back, keyed by the unprefixed file name.
pub fn read_outputs_of(bootstrap: &str, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let topics = output_topics(prefix);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    read_topics(bootstrap, &names)
        .into_iter()
        .map(|(file, lines)| (file[prefix.len()..].to_string(), lines))
        .collect()
}

/// The crash test, against any broker: one clean run, then runs SIGKILLed
/// at random moments and a last run to the end, on one journal. The
/// de-duplicated outputs and the state hash must equal the clean run's,
/// and the journal must hold every order's offset exactly once, in order.
/// `create(topic, partitions)` makes a topic on the broker.
pub fn crash_and_compare(
    bootstrap: &str,
    prefix: &str,
    lines: usize,
    kills: usize,
    durability: &str,
    create: &dyn Fn(&str, i32),
) {
    let seed: u64 = std::env::var("ENGINE_CRASH_SEED")
        .map_or_else(|_| std::process::id().into(), |v| v.parse().unwrap());
    eprintln!("ENGINE_CRASH_SEED={seed} kills={kills}");
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let dir = tempfile::tempdir().unwrap();
    let orders = format!("{prefix}orders");
    // One orders partition, so the clean and the crashed runs journal the
    // same order and their outputs can be compared message for message.
    create(&orders, 1);
    for run in ["clean-", "crash-"] {
        for topic in output_topics(&format!("{prefix}{run}")) {
            create(&topic, 4);
        }
    }
    let text = super::scenario(lines, 23);
    let all: Vec<&str> = text.lines().collect();
    produce_lines(bootstrap, &orders, &all);
    let flags = ["--snapshot-every", "10000", "--durability", durability];

    let clean_config = dir.path().join("clean.toml");
    topics_config(&clean_config, &orders, &format!("{prefix}clean-"));
    let clean = run_engine_kafka(
        &dir.path().join("clean-j"),
        bootstrap,
        &[&["--config", clean_config.to_str().unwrap()][..], &flags].concat(),
    );
    assert_success(&clean);
    let mut mid_stream = 0;

    let crash_config = dir.path().join("crash.toml");
    topics_config(&crash_config, &orders, &format!("{prefix}crash-"));
    let journal = dir.path().join("crash-j");
    for kill in 0..kills {
        let mut child = Process::new(ENGINE)
            .args([
                "--journal",
                journal.to_str().unwrap(),
                "--brokers",
                bootstrap,
            ])
            .args(["--config", crash_config.to_str().unwrap()])
            .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a random point of what is left, measured in journaled
        // orders, so every kill lands mid-stream however fast runs are.
        let done = journal_len(&journal);
        let target = done + 1 + rng.rand_range(0..((all.len() - done) as u64 / 3).max(1)) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while journal_len(&journal) < target && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the engine made no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        mid_stream += usize::from(!finished);
        eprintln!(
            "kill {kill}: aimed at {target} journaled orders, landed at {}{}",
            journal_len(&journal),
            if finished { " (it had finished)" } else { "" }
        );
    }
    assert!(
        mid_stream * 2 >= kills,
        "only {mid_stream} of {kills} kills landed mid-stream"
    );
    let last = run_engine_kafka(
        &journal,
        bootstrap,
        &[&["--config", crash_config.to_str().unwrap()][..], &flags].concat(),
    );
    assert_success(&last);
    let (clean_summary, last_summary) = (super::summary(&clean), super::summary(&last));
    assert_eq!(
        clean_summary["last_sequence"],
        all.len() as u64,
        "the clean run"
    );
    assert_eq!(
        last_summary["last_sequence"],
        all.len() as u64,
        "the last run"
    );
    assert_eq!(last_summary["state_hash"], clean_summary["state_hash"]);

    let clean_out = read_outputs_of(bootstrap, &format!("{prefix}clean-"));
    let crash_out = read_outputs_of(bootstrap, &format!("{prefix}crash-"));
    let clean_dedup = super::dedup(&clean_out);
    for (file, lines) in &clean_dedup {
        assert_eq!(
            lines.len(),
            clean_out[file].len(),
            "{file}: the clean run has no duplicates"
        );
    }
    let crash_dedup = super::dedup(&crash_out);
    super::assert_same_outputs(&crash_dedup, &clean_dedup);
    // Every order applied exactly once, in order, none skipped.
    let journaled = super::journaled_inputs(&journal);
    let offsets: Vec<i64> = journaled.iter().map(|(p, _)| p.offset).collect();
    assert_eq!(offsets, (0..all.len() as i64).collect::<Vec<_>>());
    super::assert_same_outputs(&super::reference_of(journaled), &clean_dedup);
}

/// A child process that is killed if the test ends early, so no test
/// leaves an engine or a broker behind.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// Waits up to `timeout` for the child to exit, collecting whatever it
    /// printed on the pipes it still has; kills it and panics on timeout.
    pub fn wait_with_output(mut self, timeout: Duration) -> Output {
        let stdout = self.0.stdout.take();
        let stderr = self.0.stderr.take();
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let out = drain(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
        let err = drain(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                let err = err.join().unwrap();
                panic!(
                    "the child did not finish within {timeout:?}:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// Sends SIGTERM, then waits as `wait_with_output` does.
    pub fn stop(self, timeout: Duration) -> Output {
        let pid = self.0.id().to_string();
        let sent = Process::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.wait_with_output(timeout)
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Crash tests kill the engine at chosen journal lengths, polled every few
/// milliseconds. With the other tests of their file running beside them on
/// a 2-core machine, a starved poll let a run finish before its kill, so a
/// crash test takes this lock exclusively and the others take it shared.
static ALONE: RwLock<()> = RwLock::new(());

/// Held by a test that may share the machine with the others of its file.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held by a test that must run alone among those of its file.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    ALONE.write().unwrap_or_else(PoisonError::into_inner)
}

/// How many records a journal holds; 0 if it does not exist yet.
fn journal_len(dir: &Path) -> usize {
    let Ok(reader) = journal::Reader::open(dir) else {
        return 0;
    };
    let Ok(mut cursor) = reader.read_all() else {
        return 0;
    };
    let mut count = 0;
    while let Ok(Some(_)) = cursor.next() {
        count += 1;
    }
    count
}

/// The tansu binary `scripts/test` installed.
pub fn tansu_bin() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    super::tool("ENGINE_TEST_TANSU", &format!("{home}/.cargo/bin/tansu"))
}

/// A tansu broker on a loopback port, as a process of its own, stopped on
/// drop.
pub struct Tansu {
    port: u16,
    /// Where SQLite storage lives; `None` for memory storage.
    data: Option<PathBuf>,
    process: Option<KillOnDrop>,
}

impl Tansu {
    pub fn start(data: Option<&Path>) -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut tansu = Tansu {
            port,
            data: data.map(Path::to_path_buf),
            process: None,
        };
        tansu.launch();
        tansu
    }

    pub fn launch(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Process::new(tansu_bin());
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.data {
            // SQLite storage survives a restart; its path is relative.
            Some(dir) => {
                command
                    .current_dir(dir)
                    .args(["--storage-engine", "sqlite://tansu.db"]);
            }
            None => {
                command.args(["--storage-engine", "memory://tansu/"]);
            }
        }
        self.process = Some(KillOnDrop(command.spawn().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create(&self, topic: &str, partitions: i32) {
        let out = Process::new(tansu_bin())
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&mut self) {
        drop(self.process.take());
    }
}
