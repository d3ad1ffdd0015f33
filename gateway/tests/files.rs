//! The `engine` binary end to end on files: outputs against the reference
//! model, determinism, rejections of bad lines, and clear CLI errors.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Command as Process;

use common::{ENGINE, dedup, read_outputs, reference, run_engine, scenario, summary};

#[test]
fn scenario_matches_the_reference_model_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let text = scenario(20_000, 7);
    std::fs::write(&input, &text).unwrap();

    let first = run_engine(
        &dir.path().join("j1"),
        &input,
        &dir.path().join("o1"),
        &["--snapshot-every", "5000"],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let outputs = read_outputs(&dir.path().join("o1"));
    let expected = reference(&text);
    for (file, lines) in &expected {
        let got = &outputs[file];
        assert_eq!(got.len(), lines.len(), "{file}: line count");
        for (i, (g, e)) in got.iter().zip(lines).enumerate() {
            assert_eq!(g, e, "{file} line {}", i + 1);
        }
    }
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        expected["trades.jsonl"].len() > 1000,
        "the scenario should trade a lot"
    );

    let second = run_engine(&dir.path().join("j2"), &input, &dir.path().join("o2"), &[]);
    assert!(second.status.success());
    for file in [
        "fills.jsonl",
        "trades.jsonl",
        "depth.jsonl",
        "order_status.jsonl",
    ] {
        let a = std::fs::read(dir.path().join("o1").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("o2").join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs");
    }
    assert_eq!(
        summary(&first)["state_hash"],
        summary(&second)["state_hash"]
    );

    // Restarting on a finished journal replays nothing new and sends nothing.
    let again = run_engine(&dir.path().join("j1"), &input, &dir.path().join("o1"), &[]);
    assert!(again.status.success());
    assert_eq!(summary(&again)["inputs"], 0);
    assert_eq!(summary(&again)["state_hash"], summary(&first)["state_hash"]);
    assert_eq!(
        dedup(&read_outputs(&dir.path().join("o1"))),
        dedup(&outputs)
    );
    assert_eq!(
        read_outputs(&dir.path().join("o1")),
        outputs,
        "nothing re-sent after a clean exit"
    );
}

#[test]
fn bad_lines_are_rejected_with_reason_and_line_and_the_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let long_id = "x".repeat(33);
    let lines = [
        r#"{"action":"ADD","symbol":"AAPL","order_id":"a1","user_id":"u1","is_buy":true,"price":100,"quantity":5}"#.to_string(),
        "this is not json".to_string(),
        r#"{"action":"BUY_IT","symbol":"AAPL","order_id":"a2","user_id":"u1"}"#.to_string(),
        r#"{"action":"ADD","symbol":"aapl","order_id":"a3","user_id":"u1","is_buy":true,"price":100,"quantity":5}"#.to_string(),
        r#"{"action":"ADD","symbol":"AAPL","order_id":"a4","user_id":"u1","is_buy":true,"price":100,"quantity":0}"#.to_string(),
        format!(r#"{{"action":"ADD","symbol":"AAPL","order_id":"{long_id}","user_id":"u1","is_buy":true,"price":100,"quantity":5}}"#),
        format!(r#"{{"action":"ADD","symbol":"AAPL","order_id":"big","user_id":"u1","pad":"{}"}}"#, "y".repeat(5000)),
        r#"{"action":"ADD","symbol":"AAPL","order_id":"a5","user_id":"u2","is_buy":false,"price":100,"quantity":2}"#.to_string(),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let run = run_engine(&dir.path().join("j"), &input, &dir.path().join("o"), &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let status = &read_outputs(&dir.path().join("o"))["order_status.jsonl"];
    let parsed: Vec<serde_json::Value> = status
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rejected: Vec<(&str, &str, Option<i64>)> = parsed
        .iter()
        .filter(|v| v["status"] == "REJECTED")
        .map(|v| {
            // Every rejection says what was wrong, for people.
            assert!(v["detail"].as_str().is_some_and(|d| d.len() > 10), "{v}");
            (
                v["reason"].as_str().unwrap(),
                v["field"].as_str().unwrap(),
                v["offset"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            ("MALFORMED_MESSAGE", "message", Some(2)),
            ("UNKNOWN_ACTION", "action", Some(3)),
            ("INVALID_SYMBOL", "symbol", Some(4)),
            ("INVALID_QUANTITY", "quantity", None), // the matcher's own rule
            ("INVALID_IDENTIFIER", "order_id", Some(6)),
            ("MESSAGE_TOO_LARGE", "message", Some(7)),
        ]
    );
    for v in parsed.iter().filter(|v| v["offset"].is_i64()) {
        assert_eq!(v["partition"], 0);
        assert!(v["reason_code"].as_u64().unwrap() >= 16);
    }
    // The order after the bad lines still trades.
    assert_eq!(read_outputs(&dir.path().join("o"))["trades.jsonl"].len(), 1);
}

#[test]
fn wrong_flags_say_what_to_do() {
    let out = Process::new(ENGINE)
        .args(["--durability", "fast"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("none") && err.contains("batch"), "{err}");

    let out = Process::new(ENGINE)
        .args(["--input", "file:x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--journal DIR"));

    let dir = tempfile::tempdir().unwrap();
    let out = Process::new(ENGINE)
        .args([
            "--journal",
            dir.path().to_str().unwrap(),
            "--input",
            "kafka:orders",
            "--output",
            "file:o",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("use kafka or file:PATH"));

    let out = Process::new(ENGINE)
        .args(["--journal", dir.path().to_str().unwrap(), "-X", "linger.ms"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not KEY=VALUE"));

    let out = Process::new(ENGINE)
        .args(["--cores", "matcher=99"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The storage and price settings: each bad value says what to write
    // instead, and usage errors exit 2.
    for (flag, value, hint) in [
        ("--retention", "purge", "keep, delete or archive:DIR"),
        ("--segment-size", "64MB", "64MiB"),
        ("--price-format", "cents", "ticks or decimal"),
    ] {
        let out = Process::new(ENGINE)
            .args(["--journal", dir.path().to_str().unwrap(), flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint), "{flag} {value}: {err}");
    }
    let out = Process::new(ENGINE)
        .args(["--journal", dir.path().to_str().unwrap()])
        .args(["--segment-size", "8KiB", "--input", "file:x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("segment_size"));
}

#[test]
fn a_config_file_sets_everything_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"action":"ADD","symbol":"AAA","order_id":"a","user_id":"u","is_buy":true,"price":10,"quantity":1}"#,
            "\n",
            r#"{"action":"ADD","symbol":"BBB","order_id":"b","user_id":"u","is_buy":true,"price":10,"quantity":1}"#,
            "\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            "journal = {:?}\ninput = \"file:{}\"\noutput = \"file:{}\"\nexit_at_end = true\nclock = \"sequence\"\nwait = \"yield\"\n\n[engine]\nmax_symbols = 1\n",
            dir.path().join("j").display(),
            input.display(),
            dir.path().join("ignored").display(),
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("o");
    let run = Process::new(ENGINE)
        .args(["--config", config.to_str().unwrap()])
        .args(["--output", &format!("file:{}", out_dir.display())])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !dir.path().join("ignored").exists(),
        "the flag overrides the file"
    );
    let status = &read_outputs(&out_dir)["order_status.jsonl"];
    assert!(status[0].contains("ACCEPTED"));
    assert!(
        status[1].contains("UNKNOWN_SYMBOL"),
        "max_symbols = 1 from [engine]: {}",
        status[1]
    );

    std::fs::write(&config, "journal = \"j\"\nsnapshot_evry = 5\n").unwrap();
    let bad = Process::new(ENGINE)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("snapshot_evry"), "{err}");
}
