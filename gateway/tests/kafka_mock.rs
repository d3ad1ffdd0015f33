//! The engine through Kafka, against librdkafka's mock cluster: started in
//! this test process (the engine connects to it over loopback, as to any
//! broker), or the engine's own embedded one. Partitions are assigned,
//! never subscribed, so no test waits for a group rebalance.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::kafka::{
    OUTPUT_TOPICS, alone, assert_success, crash_and_compare, produce_lines, read_outputs_of,
    read_topics, run_engine_kafka, shared, spawn_engine_kafka, symbol_of, topics_config,
};
use common::{ENGINE, dedup, journaled_inputs, reference_of, scenario, summary};
use gateway::kafka::{EmbeddedBroker, Topics};
use rdkafka::mocking::MockCluster;

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    MockCluster::new(1).unwrap()
}

#[test]
fn a_scenario_through_kafka_equals_the_model_in_batches_of_at_most_100() {
    let _shared = shared();
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    // Two orders partitions: the journal fixes the interleaving, and the
    // model replays the journal's order.
    cluster.create_topic("orders", 2, 1).unwrap();
    for topic in OUTPUT_TOPICS {
        cluster.create_topic(topic, 3, 1).unwrap();
    }
    let text = scenario(20_000, 5);
    let lines: Vec<&str> = text.lines().collect();
    produce_lines(&bootstrap, "orders", &lines);

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let run = run_engine_kafka(
        &journal,
        &bootstrap,
        &[
            "-X",
            "statistics.interval.ms=50",
            "--snapshot-every",
            "5000",
        ],
    );
    assert_success(&run);
    let report = summary(&run);
    assert_eq!(report["inputs"], lines.len() as u64);
    let max_batch = report["kafka_max_batch"].as_i64().unwrap();
    assert!(
        (2..=100).contains(&max_batch),
        "produce batches of at most 100, and batching at all: {max_batch}"
    );

    // Every order journaled once, with its partition and offset; each
    // partition in offset order.
    let journaled = journaled_inputs(&journal);
    assert_eq!(journaled.len(), lines.len());
    for partition in 0..2 {
        let offsets: Vec<i64> = journaled
            .iter()
            .filter(|(p, _)| p.partition == partition)
            .map(|(p, _)| p.offset)
            .collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }

    let outputs = read_topics(&bootstrap, &OUTPUT_TOPICS);
    let unique = dedup(&outputs);
    for (file, lines) in &unique {
        assert_eq!(
            lines.len(),
            outputs[file].len(),
            "{file}: no duplicates in a clean run"
        );
    }
    let expected = reference_of(journaled);
    common::assert_same_outputs(&unique, &expected);
    assert!(expected["trades.jsonl"].len() > 1000);
    // Undecodable orders are answered with their partition and offset.
    let rejected = unique["order_status.jsonl"]
        .iter()
        .filter(|l| l.contains("\"offset\""))
        .count();
    assert!(rejected > 0);

    // A restart on the finished journal sends nothing again.
    let again = run_engine_kafka(&journal, &bootstrap, &[]);
    assert_success(&again);
    assert_eq!(summary(&again)["messages"], 0);
    assert_eq!(summary(&again)["state_hash"], report["state_hash"]);
}

#[test]
fn killed_engines_resume_exactly_where_the_journal_ends() {
    let _alone = alone();
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let kills: usize = std::env::var("ENGINE_CRASH_KILLS").map_or(6, |v| v.parse().unwrap());
    // The mock cluster keeps about 5 MB per partition. 20,000 orders and
    // the duplicates that kills re-send fit with room to spare (rejections
    // carry a field and a detail). In `sync` mode each input
    // is synced before the next, which paces the run so a kill lands within
    // a few records of where it aims; in `batch` mode the consumer's bursts
    // of thousands of orders carried some runs past their kill to the end.
    // The tansu test and the file crash test cover `batch`.
    crash_and_compare(
        &bootstrap,
        "mock-",
        20_000,
        kills,
        "sync",
        &|topic, partitions| cluster.create_topic(topic, partitions, 1).unwrap(),
    );
}

#[test]
fn a_broker_outage_holds_the_engine_and_loses_nothing() {
    let _shared = shared();
    let broker = EmbeddedBroker::start(&Topics::default(), 4).unwrap();
    let bootstrap = broker.bootstrap();
    let text = scenario(40_000, 9);
    let lines: Vec<&str> = text.lines().collect();
    produce_lines(&bootstrap, "orders", &lines);

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let config = dir.path().join("engine.toml");
    topics_config(&config, "orders", "");
    let guard = spawn_engine_kafka(&journal, &bootstrap, &config);
    // Let it get going, then take the only broker away mid-stream.
    std::thread::sleep(Duration::from_millis(700));
    broker.set_up(false).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    broker.set_up(true).unwrap();
    let run = guard.wait_with_output(Duration::from_secs(180));
    assert_success(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("kafka:"), "the outage is logged:\n{stderr}");
    assert_eq!(summary(&run)["inputs"], lines.len() as u64);
    let outputs = read_outputs_of(&bootstrap, "");
    common::assert_same_outputs(&dedup(&outputs), &reference_of(journaled_inputs(&journal)));
}

#[test]
fn the_demo_feeds_the_embedded_broker_and_matches_the_model() {
    let _shared = shared();
    let dir = tempfile::tempdir().unwrap();
    let (journal, output) = (dir.path().join("j"), dir.path().join("o"));
    let run = Process::new(ENGINE)
        .args([
            "--demo",
            "--demo-orders",
            "5000",
            "--demo-rate",
            "100000",
            "--exit-at-end",
        ])
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--output", &format!("file:{}", output.display())])
        .args(["--clock", "sequence", "--wait", "yield"])
        .output()
        .unwrap();
    assert_success(&run);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.starts_with("kafka bootstrap: 127.0.0.1:"),
        "{stdout}"
    );
    assert_eq!(summary(&run)["inputs"], 5000);

    // The journal holds exactly the feed's first 5000 orders, each
    // symbol's in order (one symbol, one partition).
    let mut feed = gateway::demo::DemoFeed::new(1).unwrap();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for _ in 0..5000 {
        let mut line = Vec::new();
        gateway::wire::encode_order(&feed.next_command().unwrap(), &mut line);
        sent.push(line);
    }
    let journaled = journaled_inputs(&journal);
    let mut got: Vec<Vec<u8>> = journaled
        .iter()
        .map(|(_, input)| match input {
            engine::sequenced::Input::Command(c) => {
                let mut c = *c;
                c.ts = 0;
                let mut line = Vec::new();
                gateway::wire::encode_order(&c, &mut line);
                line
            }
            other => panic!("the demo sends no bad orders: {other:?}"),
        })
        .collect();
    let by_symbol = |lines: &[Vec<u8>], symbol: &str| -> Vec<Vec<u8>> {
        lines
            .iter()
            .filter(|l| symbol_of(std::str::from_utf8(l).unwrap()).as_deref() == Some(symbol))
            .cloned()
            .collect()
    };
    for symbol in ["AAPL", "MSFT", "JPM"] {
        assert_eq!(by_symbol(&got, symbol), by_symbol(&sent, symbol));
    }
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    let expected = reference_of(journaled);
    common::assert_same_outputs(&common::read_outputs(&output), &expected);
    assert!(expected["trades.jsonl"].len() > 500, "the demo flow trades");
}

#[test]
fn kcat_talks_to_the_embedded_broker() {
    let _shared = shared();
    let kcat = std::env::var("ENGINE_TEST_KCAT").unwrap_or_else(|_| "kcat".into());
    assert!(
        Process::new(&kcat)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "kcat is missing: run scripts/test, which installs it, or apt-get install kcat"
    );
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let mut child = Process::new(ENGINE)
        .args([
            "--journal",
            journal.to_str().unwrap(),
            "--clock",
            "sequence",
            "--wait",
            "yield",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let guard = common::kafka::KillOnDrop(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let bootstrap = first
        .trim()
        .strip_prefix("kafka bootstrap: ")
        .unwrap_or_else(|| panic!("no bootstrap line: {first:?}"))
        .to_string();

    // kcat produces, keyed by symbol: KEY<TAB>JSON per line.
    let text = scenario(3_000, 13);
    let mut keyed = String::new();
    for line in text.lines() {
        keyed.push_str(&symbol_of(line).unwrap_or_default());
        keyed.push('\t');
        keyed.push_str(line);
        keyed.push('\n');
    }
    let mut producer = Process::new(&kcat)
        .args(["-b", &bootstrap, "-t", "orders", "-P", "-K", "\t"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    producer
        .stdin
        .take()
        .unwrap()
        .write_all(keyed.as_bytes())
        .unwrap();
    assert!(producer.wait().unwrap().success());

    // kcat consumes: wait until order_status holds one message per order.
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected_orders = text.lines().count();
    let read = |topic: &str| -> Vec<String> {
        let out = Process::new(&kcat)
            .args([
                "-b", &bootstrap, "-t", topic, "-C", "-e", "-q", "-f", "%s\n",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    loop {
        let seqs: std::collections::BTreeSet<u64> = read("order_status")
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        if seqs.len() >= expected_orders {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected_orders} answered",
            seqs.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut outputs = std::collections::BTreeMap::new();
    for topic in OUTPUT_TOPICS {
        outputs.insert(format!("{topic}.jsonl"), read(topic));
    }
    let run = guard.stop(Duration::from_secs(30));
    assert!(run.status.success());
    common::assert_same_outputs(&dedup(&outputs), &reference_of(journaled_inputs(&journal)));
}
