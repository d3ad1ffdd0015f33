//! The `replay` tool on journals the `engine` binary wrote from file input:
//! every subcommand, its `--json` shape, its exit codes, and its answers
//! against the reference model and the engine's own outputs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::{REPLAY, Written, engine_bin, json, model, replay, replay_ok, run_engine};
use engine::{EngineConfig, Side, Symbol};

/// The output files' bytes, per topic file.
fn output_files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    ["fills", "trades", "depth", "order_status"]
        .iter()
        .map(|t| {
            let name = format!("{t}.jsonl");
            (
                name.clone(),
                std::fs::read(dir.join(&name)).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn info_describes_segments_snapshots_and_positions() {
    let w = Written::new(
        12_000,
        1,
        &[
            "--clock",
            "sequence",
            "--snapshot-every",
            "4000",
            "--segment-size",
            "1MiB",
        ],
    );
    let j = w.journal();
    let info = json(&replay_ok(&["info", j.to_str().unwrap(), "--json"], 0));
    assert_eq!(info["first_seq"], 1);
    assert_eq!(info["last_seq"], 12_000);
    assert_eq!(info["records"], 12_000);
    let segments = info["segments"].as_array().unwrap();
    assert!(segments.len() >= 2, "{segments:?}");
    assert_eq!(segments[0]["first_seq"], 1);
    let last = segments.last().unwrap();
    assert_eq!(last["last_seq"], 12_000);
    assert_eq!(last["payload_format"], engine::sequenced::INPUT_FORMAT);
    for pair in segments.windows(2) {
        assert_eq!(
            pair[0]["last_seq"].as_u64().unwrap() + 1,
            pair[1]["first_seq"].as_u64().unwrap()
        );
    }
    // Snapshots are taken at most every 4,000 (one waits while the last is
    // still being written) and at exit; newest first.
    let snapshots = info["snapshots"].as_array().unwrap();
    let seqs: Vec<u64> = snapshots
        .iter()
        .map(|s| s["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs[0], 12_000, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    assert!(*seqs.last().unwrap() >= 4_000, "{seqs:?}");
    assert!(
        snapshots
            .iter()
            .all(|s| s["valid"] == true && s["state_hash"].is_string())
    );
    assert_eq!(info["partitions"][0]["last_offset"], 12_000);
    // The human table has the same facts.
    let table = replay_ok(&["info", j.to_str().unwrap()], 0);
    assert!(
        table.contains("sequences 1..12000 (12000 records)"),
        "{table}"
    );
    assert!(table.contains("SNAPSHOT"), "{table}");
}

#[test]
fn verify_passes_a_clean_journal_and_a_crashed_one_deep_too() {
    let w = Written::new(
        20_000,
        2,
        &["--clock", "sequence", "--snapshot-every", "5000"],
    );
    let j = w.journal();
    let out = json(&replay_ok(
        &["verify", j.to_str().unwrap(), "--deep", "--json"],
        0,
    ));
    assert_eq!(out["records"], 20_000);
    assert!(out["damage"].is_null());
    // Every snapshot's hash is reproduced, from the journal's start.
    let info = json(&replay_ok(&["info", j.to_str().unwrap(), "--json"], 0));
    let snapshots = info["snapshots"].as_array().unwrap().len();
    assert!(snapshots >= 2);
    assert_eq!(out["deep"]["hashes_verified"], snapshots as u64);
    assert!(out["deep"]["from_snapshot"].is_null());
    assert!(out["deep"]["mismatch"].is_null());

    // SIGKILL an engine mid-run: the journal it leaves verifies too.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    std::fs::write(&input, common::lines(&common::flow(300_000, 3))).unwrap();
    let journal = dir.path().join("j");
    let mut child = Process::new(engine_bin())
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--input", &format!("file:{}", input.display())])
        .args([
            "--output",
            &format!("file:{}", dir.path().join("o").display()),
        ])
        .args([
            "--wait",
            "yield",
            "--exit-at-end",
            "--snapshot-every",
            "20000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal::Reader::open(&journal)
        .and_then(|r| r.end_sequence())
        .unwrap_or(0)
        < 50_000
    {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = json(&replay_ok(
        &["verify", journal.to_str().unwrap(), "--deep", "--json"],
        0,
    ));
    assert!(out["records"].as_u64().unwrap() >= 50_000);
    assert!(out["deep"]["mismatch"].is_null(), "{out}");
}

#[test]
fn verify_names_the_file_and_offset_of_a_flipped_byte() {
    let w = Written::new(8_000, 4, &["--clock", "sequence"]);
    let j = w.journal();
    // The frame of sequence 4000, found through the journal's own reader.
    let mut cursor = journal::Reader::open(&j).unwrap().read_from(4_000).unwrap();
    let record = cursor.next().unwrap().unwrap();
    let (segment, offset) = (record.segment().to_path_buf(), record.offset());
    drop(cursor);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[offset as usize + 45] ^= 0x40;
    std::fs::write(&segment, bytes).unwrap();

    let out = json(&replay_ok(&["verify", j.to_str().unwrap(), "--json"], 1));
    assert_eq!(out["damage"]["sequence"], 4_000);
    assert_eq!(out["damage"]["offset"], offset);
    assert_eq!(out["damage"]["file"], segment.to_str().unwrap());
    assert_eq!(out["records"], 3_999);
    let text = String::from_utf8(replay(&["verify", j.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains(&format!("byte offset {offset}")), "{text}");
    assert!(text.contains("docs/replay.md"), "{text}");
}

#[test]
fn book_at_a_sequence_equals_the_reference_model() {
    let w = Written::new(
        15_000,
        5,
        &["--clock", "sequence", "--snapshot-every", "3000"],
    );
    let j = w.journal();
    // The engine stamps each command with its sequence (--clock sequence).
    let mut rng = oorandom::Rand64::new(7);
    let mut points: Vec<u64> = (0..100).map(|_| 1 + rng.rand_range(0..15_000)).collect();
    points.sort_unstable();
    points.dedup();
    let mut model = model::Model::new(EngineConfig::default());
    let mut applied = 0u64;
    for seq in points {
        while applied < seq {
            let mut command = w.commands[applied as usize];
            command.ts = applied + 1;
            model.apply(&command);
            applied += 1;
        }
        let symbol = common::SYMBOLS[(seq % 3) as usize];
        let out = replay(&[
            "book",
            j.to_str().unwrap(),
            "--at",
            &seq.to_string(),
            "--symbol",
            symbol,
            "--json",
        ]);
        let sym = Symbol::new(symbol).unwrap();
        let expected_bids = levels(&model.resting_orders(&sym, Side::Buy));
        let expected_asks = levels(&model.resting_orders(&sym, Side::Sell));
        if !out.status.success() {
            // Only before the symbol's first order.
            assert!(
                expected_bids.is_empty() && expected_asks.is_empty(),
                "{out:?}"
            );
            continue;
        }
        let book = json(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(book["seq"], seq);
        assert_eq!(book["symbol"], symbol);
        assert_eq!(json_levels(&book["bids"]), expected_bids, "bids at {seq}");
        assert_eq!(json_levels(&book["asks"]), expected_asks, "asks at {seq}");
    }
}

fn levels(orders: &[engine::OrderView]) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    for o in orders {
        let open = o.quantity - o.filled;
        match out.last_mut() {
            Some(l) if l.0 == o.price => {
                l.1 += open;
                l.2 += 1;
            }
            _ => out.push((o.price, open, 1)),
        }
    }
    out
}

fn json_levels(v: &serde_json::Value) -> Vec<(u64, u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["price"].as_u64().unwrap(),
                l["qty"].as_u64().unwrap(),
                l["orders"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The engine's wall clock is set a day back between two runs on one
/// journal (libfaketime, as a host's clock stepping back would): ingress
/// holds the second run's stamps at the journal's last, so the stamps never
/// decrease and `book --at TIME` still finds the last input stamped by then.
#[test]
fn book_at_a_time_is_right_after_the_wall_clock_steps_back() {
    let faketime = std::env::var("ENGINE_TEST_FAKETIME").expect(
        "ENGINE_TEST_FAKETIME names libfaketime.so.1; run the tests through scripts/test, \
         which installs it",
    );
    let dir = tempfile::tempdir().unwrap();
    let (journal, input, out) = (
        dir.path().join("journal"),
        dir.path().join("orders.jsonl"),
        dir.path().join("out"),
    );
    let commands = common::flow(2_000, 9);
    std::fs::write(&input, common::lines(&commands[..1_000])).unwrap();
    run_engine(&journal, &input, &out, &[]);
    std::fs::write(&input, common::lines(&commands)).unwrap();
    let second = Process::new(engine_bin())
        .env("LD_PRELOAD", &faketime)
        .env("FAKETIME", "-1d")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--input", &format!("file:{}", input.display())])
        .args(["--output", &format!("file:{}", out.display())])
        .args(["--wait", "yield", "--exit-at-end"])
        .output()
        .unwrap();
    assert!(second.status.success(), "{second:?}");
    let j = journal.to_str().unwrap();

    // Each stamp in ns, and as the tool prints it (digits alone would be a
    // sequence to `--at`).
    let (stamps, times): (Vec<u64>, Vec<String>) = replay_ok(&["dump", j, "--json"], 0)
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = record["ts"].as_str().unwrap().to_owned();
            (record["ts_ns"].as_u64().unwrap(), ts)
        })
        .unzip();
    assert_eq!(stamps.len(), 2_000);
    assert!(stamps.is_sorted(), "the journal's stamps never decrease");
    assert!(
        stamps[1_000..].iter().all(|&s| s == stamps[999]),
        "the second run's stamps hold at the first run's last"
    );

    let mut model = model::Model::new(EngineConfig::default());
    let mut applied = 0;
    for at in [250usize, 500, 999, 1_999] {
        let (stamp, time) = (stamps[at], &times[at]);
        // The last input stamped at or before `time`.
        let seq = stamps.iter().rposition(|&s| s <= stamp).unwrap() + 1;
        while applied < seq {
            model.apply(&commands[applied]);
            applied += 1;
        }
        for symbol in common::SYMBOLS {
            let book = json(&replay_ok(
                &[
                    "book",
                    j,
                    "--at",
                    &time.to_string(),
                    "--symbol",
                    symbol,
                    "--json",
                ],
                0,
            ));
            assert_eq!(book["seq"], seq as u64, "{symbol} at {time}");
            let sym = Symbol::new(symbol).unwrap();
            assert_eq!(
                json_levels(&book["bids"]),
                levels(&model.resting_orders(&sym, Side::Buy)),
                "{symbol} bids at input {seq}"
            );
            assert_eq!(
                json_levels(&book["asks"]),
                levels(&model.resting_orders(&sym, Side::Sell)),
                "{symbol} asks at input {seq}"
            );
        }
    }
}

#[test]
fn book_by_time_depth_and_orders() {
    let w = Written::new(5_000, 6, &["--clock", "sequence"]);
    let j = w.journal();
    // With --clock sequence, ts is the sequence: 1970-01-01T00:00:00.000002500Z.
    let by_time = json(&replay_ok(
        &[
            "book",
            j.to_str().unwrap(),
            "--at",
            "1970-01-01T00:00:00.0000025Z",
            "--symbol",
            "AAPL",
            "--json",
        ],
        0,
    ));
    assert_eq!(by_time["seq"], 2_500);
    let top = json(&replay_ok(
        &[
            "book",
            j.to_str().unwrap(),
            "--at",
            "2500",
            "--symbol",
            "AAPL",
            "--depth",
            "2",
            "--orders",
            "--json",
        ],
        0,
    ));
    assert!(top["bids"].as_array().unwrap().len() <= 2);
    let orders = top["bid_orders"].as_array().unwrap();
    assert!(!orders.is_empty());
    assert!(
        orders
            .iter()
            .all(|o| o["entered_ns"].as_u64().unwrap() <= 2_500)
    );
    let text = replay_ok(
        &[
            "book",
            j.to_str().unwrap(),
            "--at",
            "2500",
            "--symbol",
            "AAPL",
        ],
        0,
    );
    assert!(text.contains("AAPL after sequence 2500"), "{text}");

    // Exactly the shown levels' orders, in priority order.
    for side in ["bid", "ask"] {
        let levels = top[format!("{side}s")].as_array().unwrap();
        let shown: u64 = levels.iter().map(|l| l["orders"].as_u64().unwrap()).sum();
        assert_eq!(
            top[format!("{side}_orders")].as_array().unwrap().len() as u64,
            shown
        );
    }
    // The human ladder: worst ask on top, best bid under the best ask, and
    // within each level the first to trade first (entered earliest, the
    // eighth column; with --clock sequence, entry times are sequences, so
    // strictly rising).
    let ladder = replay_ok(
        &[
            "book",
            j.to_str().unwrap(),
            "--at",
            "2500",
            "--symbol",
            "AAPL",
            "--depth",
            "3",
            "--orders",
        ],
        0,
    );
    let rows: Vec<(String, u64, String)> = ladder
        .lines()
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells[0].into(), cells[1].parse().unwrap(), cells[7].into())
        })
        .collect();
    assert!(rows.iter().any(|r| r.0 == "ask") && rows.iter().any(|r| r.0 == "bid"));
    for pair in rows.windows(2) {
        let ((side_a, price_a, at_a), (side_b, price_b, at_b)) = (&pair[0], &pair[1]);
        if side_a == side_b && price_a == price_b {
            assert!(at_a < at_b, "{ladder}");
        } else {
            assert!(price_a > price_b, "{ladder}");
            assert!(!(side_a == "bid" && side_b == "ask"), "{ladder}");
        }
    }
}

#[test]
fn run_republishes_byte_identical_outputs_on_either_clock() {
    for clock in ["sequence", "wall"] {
        let w = Written::new(10_000, 8, &["--clock", clock, "--snapshot-every", "2500"]);
        let j = w.journal();
        let again = w.dir.path().join("again");
        let summary = json(&replay_ok(
            &[
                "run",
                j.to_str().unwrap(),
                "--output",
                &format!("file:{}", again.display()),
                "--json",
            ],
            0,
        ));
        assert_eq!(summary["inputs"], 10_000);
        assert_eq!(
            output_files(&again),
            output_files(&w.out()),
            "clock {clock}"
        );

        // A range starts from the snapshot before it and publishes only it.
        let part = w.dir.path().join("part");
        replay_ok(
            &[
                "run",
                j.to_str().unwrap(),
                "--from",
                "6001",
                "--to",
                "7000",
                "--output",
                &format!("file:{}", part.display()),
            ],
            0,
        );
        for (file, bytes) in output_files(&part) {
            let all = String::from_utf8(output_files(&w.out())[&file].clone()).unwrap();
            let expected: Vec<&str> = all
                .lines()
                .filter(|l| {
                    let seq = serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                        .as_u64()
                        .unwrap();
                    (6_001..=7_000).contains(&seq)
                })
                .collect();
            let got: Vec<&str> = std::str::from_utf8(&bytes).unwrap().lines().collect();
            assert_eq!(got, expected, "{file}");
        }
        if clock == "sequence" {
            // Times name the same span: ts is the sequence in ns.
            let by_time = json(&replay_ok(
                &[
                    "run",
                    j.to_str().unwrap(),
                    "--since",
                    "1970-01-01T00:00:00.000006001Z",
                    "--until",
                    "7000",
                    "--output",
                    &format!("file:{}", w.dir.path().join("by-time").display()),
                    "--json",
                ],
                0,
            ));
            assert_eq!(
                (&by_time["from"], &by_time["to"]),
                (&6_001.into(), &7_000.into())
            );
            // From the newest snapshot before the span, not from the start.
            let info = json(&replay_ok(&["info", j.to_str().unwrap(), "--json"], 0));
            let start = info["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["seq"].as_u64().unwrap())
                .filter(|&seq| seq <= 6_000)
                .max()
                .unwrap_or(0);
            assert_eq!(by_time["replayed_before"], 6_000 - start);
            assert_eq!(
                output_files(&w.dir.path().join("by-time")),
                output_files(&part)
            );
        }
    }
}

/// Every price a multiple of 5 except at one input, which a tick size of 5
/// refuses: the one input whose outcome the rule change alters.
fn one_odd_price() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut commands = common::flow(4_000, 9);
    for c in &mut commands {
        if let engine::Action::Add(spec) = &mut c.action
            && spec.order_type.has_limit_price()
        {
            spec.price = spec.price / 5 * 5;
        }
        if let engine::Action::Replace(spec) = &mut c.action {
            spec.new_price = spec.new_price.map(|p| p / 5 * 5);
        }
    }
    let msft_limit = |c: &engine::Command| {
        c.symbol.as_str() == "MSFT"
            && matches!(c.action, engine::Action::Add(s) if s.order_type == engine::OrderType::Limit)
    };
    let odd = (2_000..).find(|&i| msft_limit(&commands[i])).unwrap();
    if let engine::Action::Add(spec) = &mut commands[odd].action {
        spec.price += 1;
    }
    std::fs::write(dir.path().join("orders.jsonl"), common::lines(&commands)).unwrap();
    std::fs::write(
        dir.path().join("tick5.toml"),
        "[engine.symbols.MSFT]\ntick_size = 5\n",
    )
    .unwrap();
    (dir, odd as u64 + 1)
}

#[test]
fn diff_and_bisect_find_a_planted_divergence() {
    let (dir, planted) = one_odd_price();
    let d = dir.path();
    let input = d.join("orders.jsonl");
    let tick5 = d.join("tick5.toml");
    run_engine(
        &d.join("ja"),
        &input,
        &d.join("oa"),
        &["--clock", "sequence", "--snapshot-every", "1000"],
    );
    run_engine(
        &d.join("jb"),
        &input,
        &d.join("ob"),
        &[
            "--clock",
            "sequence",
            "--snapshot-every",
            "1000",
            "--config",
            tick5.to_str().unwrap(),
        ],
    );
    let (ja, jb) = (d.join("ja"), d.join("jb"));

    // Same inputs: diff agrees; their outputs part at the planted input.
    let same = json(&replay_ok(
        &["diff", ja.to_str().unwrap(), jb.to_str().unwrap(), "--json"],
        0,
    ));
    assert!(same["input"].is_null());
    let found = json(&replay_ok(
        &[
            "diff",
            ja.to_str().unwrap(),
            jb.to_str().unwrap(),
            "--outputs",
            "--json",
        ],
        1,
    ));
    assert_eq!(found["output"]["seq"], planted);
    assert_eq!(found["output"]["idx"], 0);
    assert_eq!(found["output"]["b"]["reason"], "TICK_SIZE_VIOLATION");
    assert_ne!(
        found["output"]["a_state_hash"],
        found["output"]["b_state_hash"]
    );

    // Other rules: bisect names the one input, and re-ran only that far.
    let bisected = json(&replay_ok(
        &[
            "bisect",
            ja.to_str().unwrap(),
            "--config",
            tick5.to_str().unwrap(),
            "--json",
        ],
        1,
    ));
    assert_eq!(bisected["difference"]["seq"], planted);
    assert_eq!(bisected["re_executed"], 2 * planted);
    // Both messages as JSON objects: the tick size turns an acceptance
    // into a rejection.
    let difference = &bisected["difference"];
    assert_eq!(difference["baseline"]["seq"], planted);
    assert_eq!(difference["candidate"]["status"], "REJECTED");
    assert_eq!(difference["candidate"]["reason"], "TICK_SIZE_VIOLATION");
    // A recorded directory: the tick-5 journal against the default run's outputs.
    let against = json(&replay_ok(
        &[
            "bisect",
            jb.to_str().unwrap(),
            "--against",
            d.join("oa").to_str().unwrap(),
            "--json",
        ],
        1,
    ));
    assert_eq!(against["difference"]["seq"], planted);
    // And no difference against its own outputs, from the snapshot before them.
    let clean = json(&replay_ok(
        &[
            "bisect",
            jb.to_str().unwrap(),
            "--against",
            d.join("ob").to_str().unwrap(),
            "--json",
        ],
        0,
    ));
    assert!(clean["difference"].is_null());

    // Journals whose inputs differ: the first differing sequence.
    let shorter = d.join("shorter.jsonl");
    let text = std::fs::read_to_string(&input).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1_234);
    std::fs::write(&shorter, lines.join("\n") + "\n").unwrap();
    run_engine(
        &d.join("jc"),
        &shorter,
        &d.join("oc"),
        &["--clock", "sequence"],
    );
    let parted = json(&replay_ok(
        &[
            "diff",
            ja.to_str().unwrap(),
            d.join("jc").to_str().unwrap(),
            "--json",
        ],
        1,
    ));
    assert_eq!(parted["input"]["seq"], 1_235);
}

#[test]
fn order_shows_a_whole_life() {
    let w = Written::new(6_000, 10, &["--clock", "sequence"]);
    let j = w.journal();
    // Find an order that traded, then ended, from the engine's own fills.
    let fills = std::fs::read_to_string(w.out().join("fills.jsonl")).unwrap();
    let filled: serde_json::Value = fills
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|f| f["status"] == "FILLED")
        .unwrap();
    let id = filled["order_id"].as_str().unwrap();
    let user = filled["user_id"].as_str().unwrap();
    let out = replay_ok(
        &[
            "order",
            j.to_str().unwrap(),
            "--order",
            id,
            "--user",
            user,
            "--json",
        ],
        0,
    );
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["message"]["status"], "ACCEPTED");
    assert_eq!(events.last().unwrap()["message"]["status"], "FILLED");
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() <= w[1]["seq"].as_u64())
    );
    let table = replay_ok(
        &["order", j.to_str().unwrap(), "--order", id, "--user", user],
        0,
    );
    assert!(
        table.contains("ACCEPTED") && table.contains("FILLED"),
        "{table}"
    );
}

#[test]
fn dump_filters_seeks_by_time_and_prints_outputs() {
    let w = Written::new(3_000, 11, &["--clock", "sequence"]);
    let j = w.journal();
    let j = j.to_str().unwrap();
    let lines = |out: &str| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(&replay_ok(&["dump", j, "--json"], 0));
    assert_eq!(all.len(), 3_000);
    let first = &all[0];
    for key in ["seq", "ts", "ts_ns", "partition", "offset", "command"] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(first["ts"], "1970-01-01T00:00:00.000000001Z");
    let since = lines(&replay_ok(
        &[
            "dump",
            j,
            "--since",
            "1970-01-01T00:00:00.000002990Z",
            "--json",
        ],
        0,
    ));
    assert_eq!(since.len(), 11);
    assert_eq!(since[0]["seq"], 2_990);
    let last = lines(&replay_ok(&["dump", j, "--last", "5", "--json"], 0));
    assert_eq!(
        last.iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2_996, 2_997, 2_998, 2_999, 3_000]
    );
    let aapl = lines(&replay_ok(
        &[
            "dump", j, "--symbol", "AAPL", "--user", "u1", "--limit", "7", "--json",
        ],
        0,
    ));
    assert_eq!(aapl.len(), 7);
    assert!(
        aapl.iter()
            .all(|l| l["command"]["symbol"] == "AAPL" && l["command"]["user_id"] == "u1")
    );
    let at = lines(&replay_ok(
        &["dump", j, "--partition", "0", "--offset", "17", "--json"],
        0,
    ));
    assert_eq!(at.len(), 1);
    assert_eq!(at[0]["seq"], 17);
    // Outputs are the engine's messages, byte for byte.
    let with = lines(&replay_ok(
        &[
            "dump",
            j,
            "--from",
            "100",
            "--to",
            "120",
            "--outputs",
            "--json",
        ],
        0,
    ));
    assert_eq!(with.len(), 21);
    // Compared as raw text: parsing would reorder the keys.
    #[derive(serde::Deserialize)]
    struct Out<'a> {
        topic: &'a str,
        #[serde(borrow)]
        message: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        outputs: Vec<Out<'a>>,
    }
    let text = replay_ok(
        &[
            "dump",
            j,
            "--from",
            "100",
            "--to",
            "120",
            "--outputs",
            "--json",
        ],
        0,
    );
    let mut compared = 0;
    for line in text.lines() {
        let line: Line<'_> = serde_json::from_str(line).unwrap();
        for output in line.outputs {
            let file = std::fs::read_to_string(w.out().join(format!("{}.jsonl", output.topic)));
            let file = file.unwrap();
            let message = output.message.get();
            assert!(file.lines().any(|l| l == message), "{message}");
            compared += 1;
        }
    }
    assert!(compared > 21);
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let w = Written::new(2_000, 12, &[]);
    let j = w.journal();
    let j = j.to_str().unwrap();
    // Both print far more than a pipe's 64 KiB buffer, so the writes
    // after the reader leaves fail with EPIPE.
    for args in [vec!["dump", j], vec!["dump", j, "--json", "--outputs"]] {
        let mut child = Process::new(REPLAY)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{args:?}");
        // The read end closes here, as `| head -1` does.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn follow_sees_what_a_running_engine_appends_within_100_ms() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let commands = common::flow(200, 12);
    let text = common::lines(&commands);
    let mut lines = text.lines();
    std::fs::write(&input, lines.next().unwrap().to_string() + "\n").unwrap();
    let journal = dir.path().join("j");
    // Without --exit-at-end the engine follows its input file.
    let mut engine = Process::new(engine_bin())
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--input", &format!("file:{}", input.display())])
        .args([
            "--output",
            &format!("file:{}", dir.path().join("o").display()),
        ])
        .args(["--wait", "yield", "--durability", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal::Reader::open(&journal)
        .and_then(|r| r.end_sequence())
        .unwrap_or(0)
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the engine never journaled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut follower = Process::new(REPLAY)
        .args(["dump", journal.to_str().unwrap(), "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = BufReader::new(follower.stdout.take().unwrap()).lines();
    assert!(seen.next().unwrap().unwrap().contains("\"seq\":1"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    let mut slowest = Duration::ZERO;
    for (n, line) in lines.take(20).enumerate() {
        let sent = Instant::now();
        writeln!(file, "{line}").unwrap();
        file.flush().unwrap();
        let record: serde_json::Value =
            serde_json::from_str(&seen.next().unwrap().unwrap()).unwrap();
        slowest = slowest.max(sent.elapsed());
        assert_eq!(record["seq"], n as u64 + 2);
    }
    follower.kill().unwrap();
    engine.kill().unwrap();
    follower.wait().unwrap();
    engine.wait().unwrap();
    assert!(
        slowest < Duration::from_millis(100),
        "the slowest record took {slowest:?}"
    );
}

#[test]
fn snapshot_and_truncate_refuse_a_running_engine_and_recovery_uses_them() {
    let w = Written::new(
        10_000,
        13,
        &["--clock", "sequence", "--snapshot-every", "0"],
    );
    let j = w.journal();
    let js = j.to_str().unwrap();
    // Hold the lock as an engine would.
    let lock = journal::DirLock::acquire(&j).unwrap();
    let refused = replay(&["snapshot", js, "--at", "5000"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it first"));
    assert_eq!(
        replay(&["truncate", js, "--after", "5000", "--yes"])
            .status
            .code(),
        Some(2)
    );
    drop(lock);

    let written = json(&replay_ok(&["snapshot", js, "--at", "5000", "--json"], 0));
    assert_eq!(written["seq"], 5_000);
    let verified = json(&replay_ok(&["verify", js, "--deep", "--json"], 0));
    assert_eq!(verified["deep"]["hashes_verified"], 2); // ours at 5000, the engine's at exit

    // Not confirmed: nothing happens.
    let unconfirmed = Process::new(REPLAY)
        .args(["truncate", js, "--after", "7000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    assert_eq!(
        json(&replay_ok(&["info", js, "--json"], 0))["last_seq"],
        10_000
    );

    // Confirmed: the log ends at 7000, the rest is in quarantine, and the
    // engine restarted on the same input continues from line 7001 to the
    // same outputs as before (with --clock sequence, byte for byte).
    let before = output_files(&w.out());
    let done = json(&replay_ok(
        &["truncate", js, "--after", "7000", "--yes", "--json"],
        0,
    ));
    let quarantine = std::path::PathBuf::from(done["quarantine"].as_str().unwrap());
    assert!(quarantine.starts_with(&j) && quarantine.is_dir());
    assert!(
        std::fs::read_dir(&quarantine).unwrap().count() >= 2,
        "the cut segment's copy and the exit snapshot"
    );
    assert_eq!(
        json(&replay_ok(&["info", js, "--json"], 0))["last_seq"],
        7_000
    );
    let restart = run_engine(&j, &w.input(), &w.out(), &["--clock", "sequence"]);
    let summary: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&restart.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    // Recovery started from the snapshot `replay` wrote at 5000: the
    // engine's own at 10000 went to quarantine with the records after 7000.
    assert_eq!(summary["replayed"], 2_000);
    assert_eq!(summary["inputs"], 3_000);
    assert_eq!(summary["last_sequence"], 10_000);
    let after = output_files(&w.out());
    for (file, bytes) in &before {
        let dedup = |b: &[u8]| -> std::collections::BTreeSet<String> {
            std::str::from_utf8(b)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(dedup(&after[file]), dedup(bytes), "{file}");
    }
}

#[test]
fn bad_flags_and_requests_say_what_to_do_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    for (args, hint) in [
        (vec!["info"], "DIR"),
        (vec!["verify", "x", "--deeep"], "--deep"),
        (vec!["dump", "x", "--offset", "3"], "--partition"),
        (vec!["bisect", "x"], "--config"),
        (
            vec!["run", "x", "--output", "file:o", "--brokers", "b:1"],
            "cannot be used with",
        ),
    ] {
        let out = replay(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint), "{args:?}: {err}");
    }
    let out = replay(&["info", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));

    let w = Written::new(100, 14, &["--clock", "sequence"]);
    let j = w.journal();
    let j = j.to_str().unwrap();
    for (args, hint) in [
        (vec!["dump", j, "--since", "noon"], "2026-11-29T10:31:05Z"),
        (
            vec!["book", j, "--at", "500", "--symbol", "AAPL"],
            "ends at sequence 100",
        ),
        (
            vec!["book", j, "--at", "50", "--symbol", "aapl"],
            "--symbol",
        ),
        (vec!["run", j], "--output file:OUTDIR"),
        (vec!["run", j, "--output", "dir"], "file:OUTDIR"),
        (
            vec!["truncate", j, "--after", "100", "--yes"],
            "nothing comes after",
        ),
    ] {
        let out = replay(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint), "{args:?}: {err}");
    }
}
