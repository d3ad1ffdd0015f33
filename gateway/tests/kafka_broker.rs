//! The engine against a real broker, `tansu`, with Python's confluent-kafka
//! as the independent client: formats, a crash test, and a broker outage.
//!
//! Each test starts its own tansu on a free loopback port and stops it when
//! it ends, pass or fail. `scripts/test` installs tansu and the Python
//! client when they are missing and says where they are through
//! `ENGINE_TEST_TANSU` and `ENGINE_TEST_PYTHON`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use common::kafka::{
    OUTPUT_TOPICS, Tansu, alone, assert_success, crash_and_compare, run_engine_kafka, shared,
    spawn_engine_kafka, topics_config,
};
use common::{dedup, journaled_inputs, reference_of, scenario, summary, tool};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka_client.py");

fn python() -> PathBuf {
    tool(
        "ENGINE_TEST_PYTHON",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/test-tools/venv/bin/python"
        ),
    )
}

/// Produces lines to `topic` with the Python client.
fn python_produce(bootstrap: &str, topic: &str, text: &str) {
    let mut child = Process::new(python())
        .args([CLIENT, "produce", bootstrap, topic])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// Reads the output topics with the Python client, per `<topic>.jsonl`.
fn python_consume(bootstrap: &str) -> BTreeMap<String, Vec<String>> {
    let out = Process::new(python())
        .args([CLIENT, "consume", bootstrap])
        .args(OUTPUT_TOPICS)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (topic, value) = line.split_once('\t').unwrap();
        outputs
            .entry(format!("{topic}.jsonl"))
            .or_default()
            .push(value.to_owned());
    }
    outputs
}

fn create_all(tansu: &Tansu) {
    tansu.create("orders", 2);
    for topic in OUTPUT_TOPICS {
        tansu.create(topic, 2);
    }
}

#[test]
fn orders_from_python_through_tansu_equal_the_model() {
    let _shared = shared();
    let tansu = Tansu::start(None);
    create_all(&tansu);
    let bootstrap = tansu.bootstrap();
    let text = scenario(20_000, 31);
    python_produce(&bootstrap, "orders", &text);

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let run = run_engine_kafka(&journal, &bootstrap, &["-X", "statistics.interval.ms=100"]);
    assert_success(&run);
    assert_eq!(summary(&run)["inputs"], text.lines().count() as u64);
    assert!(summary(&run)["kafka_max_batch"].as_i64().unwrap() <= 100);

    let outputs = python_consume(&bootstrap);
    let expected = reference_of(journaled_inputs(&journal));
    assert!(expected["trades.jsonl"].len() > 1000);
    common::assert_same_outputs(&dedup(&outputs), &expected);
}

#[test]
fn killed_engines_against_tansu_resume_exactly() {
    let _alone = alone();
    // SQLite storage: with memory storage, tansu 0.6 reports a partition's
    // high watermark as its last batch's base offset, so a consumer that
    // resumes inside that batch is told it is at the end and never gets it.
    let data = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(Some(data.path()));
    let kills: usize = std::env::var("ENGINE_CRASH_KILLS").map_or(5, |v| v.parse().unwrap());
    crash_and_compare(
        &tansu.bootstrap(),
        "",
        100_000,
        kills,
        "batch",
        &|topic, partitions| tansu.create(topic, partitions),
    );
}

#[test]
fn a_tansu_restart_mid_stream_loses_nothing() {
    let _shared = shared();
    // SQLite storage, so the topics and their messages survive the restart.
    let data = tempfile::tempdir().unwrap();
    let mut tansu = Tansu::start(Some(data.path()));
    create_all(&tansu);
    let bootstrap = tansu.bootstrap();
    let text = scenario(40_000, 37);
    python_produce(&bootstrap, "orders", &text);

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let config = dir.path().join("engine.toml");
    topics_config(&config, "orders", "");
    let engine = spawn_engine_kafka(&journal, &bootstrap, &config);
    std::thread::sleep(Duration::from_millis(1500));
    tansu.stop();
    std::thread::sleep(Duration::from_secs(4));
    tansu.launch();
    let run = engine.wait_with_output(Duration::from_secs(240));
    assert_success(&run);
    assert_eq!(summary(&run)["inputs"], text.lines().count() as u64);
    let outputs = python_consume(&bootstrap);
    common::assert_same_outputs(&dedup(&outputs), &reference_of(journaled_inputs(&journal)));
}
