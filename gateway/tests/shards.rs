//! Engines side by side on one broker (tansu, a process of its own): three
//! engines over 12 orders partitions give each symbol the same trades,
//! fills and order statuses as one engine reading all 12, and the trades
//! the reference model makes; an engine refuses a partition a live engine
//! owns, and takes it over once the owner's lease runs out; `engine admin`
//! halts a symbol on the engine that owns it.
//!
//! Sizes: `ENGINE_SHARD_ORDERS` orders (default 12,000).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use common::kafka::{
    KillOnDrop, OUTPUT_TOPICS, Tansu, assert_success, produce_lines, read_outputs_of, shared,
};
use common::{ENGINE, by_symbol, journaled_inputs, reference_of, summary};

const PARTITIONS: i32 = 12;
const SYMBOLS: usize = 60;
const USERS: u64 = 25;

/// Orders over 60 symbols; ids are unique per user (and overall), so no
/// engine can see a duplicate the others would not.
fn orders(count: usize, seed: u64) -> Vec<String> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let mut live: Vec<(usize, u64, u64)> = Vec::new();
    let mut out = Vec::with_capacity(count);
    for n in 0..count as u64 {
        if rng.rand_range(0..100) < 15 && !live.is_empty() {
            let (s, u, o) = live.swap_remove(rng.rand_range(0..live.len() as u64) as usize);
            out.push(format!(
                r#"{{"action":"CANCEL","symbol":"S{s}","user_id":"u{u}","order_id":"o{o}"}}"#
            ));
            continue;
        }
        let s = rng.rand_range(0..SYMBOLS as u64) as usize;
        let u = rng.rand_range(0..USERS);
        let side = if rng.rand_range(0..2) == 0 {
            "BUY"
        } else {
            "SELL"
        };
        let price = 95 + rng.rand_range(0..11);
        let quantity = 1 + rng.rand_range(0..10);
        out.push(format!(
            r#"{{"action":"ADD","symbol":"S{s}","user_id":"u{u}","order_id":"o{n}","side":"{side}","price":{price},"quantity":{quantity}}}"#
        ));
        live.push((s, u, n));
    }
    out
}

/// A config for an engine writing outputs prefixed `prefix`, reading
/// `partitions` (all when `None`).
fn config(path: &Path, prefix: &str, partitions: Option<&[i32]>) {
    let mut text = String::from("[kafka]\nbatch_size = 100\n");
    if let Some(partitions) = partitions {
        text += &format!("partitions = {partitions:?}\n");
    }
    text += "[kafka.topics]\n";
    for topic in OUTPUT_TOPICS.iter().chain(&["admin_status"]) {
        text += &format!("{topic} = \"{prefix}{topic}\"\n");
    }
    std::fs::write(path, text).unwrap();
}

fn engine(journal: &Path, bootstrap: &str, config: &Path, extra: &[&str]) -> Process {
    let mut command = Process::new(ENGINE);
    command
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--brokers", bootstrap])
        .args(["--config", config.to_str().unwrap()])
        .args(["--clock", "sequence", "--wait", "park"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn three_engines_by_partition_agree_with_one_engine_and_the_model() {
    let _shared = shared();
    let tansu = Tansu::start(None);
    let bootstrap = tansu.bootstrap();
    tansu.create("orders", PARTITIONS);
    tansu.create("assignments", 1);
    for prefix in ["one.", "shard."] {
        for topic in OUTPUT_TOPICS.iter().chain(&["admin_status"]) {
            tansu.create(&format!("{prefix}{topic}"), 3);
        }
    }
    let count: usize = std::env::var("ENGINE_SHARD_ORDERS").map_or(12_000, |v| v.parse().unwrap());
    let lines = orders(count, 77);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    produce_lines(&bootstrap, "orders", &refs);

    let dir = tempfile::tempdir().unwrap();
    let one_config = dir.path().join("one.toml");
    config(&one_config, "one.", None);
    let one = engine(
        &dir.path().join("one"),
        &bootstrap,
        &one_config,
        &["--exit-at-end"],
    )
    .output()
    .unwrap();
    assert_success(&one);
    assert_eq!(summary(&one)["inputs"], count as u64);

    let shards: Vec<KillOnDrop> = (0..3)
        .map(|i| {
            let partitions: Vec<i32> = (i * 4..i * 4 + 4).collect();
            let path = dir.path().join(format!("e{i}.toml"));
            config(&path, "shard.", Some(&partitions));
            let journal = dir.path().join(format!("e{i}"));
            let id = format!("e{i}");
            KillOnDrop(
                engine(
                    &journal,
                    &bootstrap,
                    &path,
                    &["--exit-at-end", "--engine-id", &id],
                )
                .spawn()
                .unwrap(),
            )
        })
        .collect();
    let mut inputs = 0;
    for shard in shards {
        let output = shard.wait_with_output(Duration::from_secs(180));
        assert_success(&output);
        inputs += summary(&output)["inputs"].as_u64().unwrap();
    }
    assert_eq!(
        inputs, count as u64,
        "every order taken by exactly one engine"
    );

    let sharded = read_outputs_of(&bootstrap, "shard.");
    let single = read_outputs_of(&bootstrap, "one.");
    for lines in sharded.values() {
        assert!(lines.iter().all(|l| l.contains(r#""engine_id":"e"#)));
    }
    let (sharded, single) = (by_symbol(&sharded), by_symbol(&single));
    assert_eq!(
        sharded.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>()
    );
    for (key, lines) in &single {
        assert_eq!(&sharded[key], lines, "{key:?}");
    }
    // And the trades are the model's.
    let model = reference_of(journaled_inputs(&dir.path().join("one")));
    let model = by_symbol(&model);
    let trades = |m: &BTreeMap<(String, String), Vec<String>>| {
        m.iter()
            .filter(|((file, _), _)| file == "trades.jsonl")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert!(trades(&model).iter().map(|(_, v)| v.len()).sum::<usize>() > 1_000);
    assert_eq!(trades(&sharded), trades(&model));
}

#[test]
fn an_owned_partition_is_refused_until_its_owner_lease_runs_out_and_admin_reaches_the_owner() {
    let _shared = shared();
    let tansu = Tansu::start(None);
    let bootstrap = tansu.bootstrap();
    for (topic, partitions) in [("orders", 2), ("assignments", 1), ("admin", 1)] {
        tansu.create(topic, partitions);
    }
    for topic in OUTPUT_TOPICS.iter().chain(&["admin_status"]) {
        tansu.create(topic, 1);
    }
    produce_lines(
        &bootstrap,
        "orders",
        &[
            r#"{"action":"ADD","symbol":"AAPL","user_id":"u","order_id":"o1","side":"SELL","price":100,"quantity":5}"#,
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.toml");
    // AAPL is configured, so its book exists before any order: the halt
    // may be read before the order, which is on another topic.
    std::fs::write(
        &plain,
        "[kafka]\npartitions = [0, 1]\n[engine.symbols.AAPL]\n",
    )
    .unwrap();
    let lease = ["--ownership-lease", "1s"];
    let owner = KillOnDrop(
        engine(
            &dir.path().join("e1"),
            &bootstrap,
            &plain,
            &[&lease[..], &["--engine-id", "e1"]].concat(),
        )
        .spawn()
        .unwrap(),
    );
    // The owner answers an operator's halt (engines read the admin topic
    // from its start, so the command waits for it), which also shows it
    // is past its claim.
    let admin = Process::new(ENGINE)
        .args([
            "admin",
            "halt",
            "AAPL",
            "--engine-id",
            "e1",
            "--brokers",
            &bootstrap,
        ])
        .args(["--json", "--wait", "30s"])
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&admin.stdout),
        String::from_utf8_lossy(&admin.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&admin.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["status"], "APPLIED", "{answer}");
    assert_eq!(answer["engine_id"], "e1");

    // A second engine on partition 1 is refused while e1 renews its lease.
    let one = dir.path().join("one.toml");
    std::fs::write(&one, "[kafka]\npartitions = [1]\n").unwrap();
    let second = || {
        let args = [&lease[..], &["--engine-id", "e2", "--exit-at-end"]].concat();
        engine(&dir.path().join("e2"), &bootstrap, &one, &args)
            .output()
            .unwrap()
    };
    let refused = second();
    assert_eq!(
        refused.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("partition 1 is owned by engine e1"),
        "{stderr}"
    );

    // Once e1 is gone and its lease has run out, e2 takes partition 1 over.
    drop(owner);
    std::thread::sleep(Duration::from_millis(1_500));
    let took = second();
    assert_success(&took);
    let stderr = String::from_utf8_lossy(&took.stderr);
    assert!(
        stderr.contains("the owner's lease has run out") && stderr.contains("[(1, 2)]"),
        "partition 1 at ownership epoch 2: {stderr}"
    );
}
