//! The `bench` command line as users see it: its JSON contract and its
//! messages for wrong flags.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::process::Command;

/// The top-level keys of the JSON object `out` printed, sorted.
fn json_keys(out: &std::process::Output) -> (serde_json::Value, Vec<String>) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort_unstable();
    (json, keys)
}

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn matcher_json_has_exactly_the_documented_keys() {
    let out = bench(&[
        "matcher",
        "--workload",
        "liquibook",
        "--orders",
        "20000",
        "--json",
        "--repeat",
        "3",
    ]);
    let (json, keys) = json_keys(&out);
    assert_eq!(
        keys,
        [
            "best_ask",
            "best_bid",
            "last_price",
            "notional",
            "orders",
            "orders_per_sec",
            "resting_asks",
            "resting_bids",
            "seconds",
            "trades",
            "volume",
            "workload"
        ]
    );
    assert_eq!(json["workload"], "liquibook");
    assert_eq!(json["orders"], 20_000);
    assert!(json["orders_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn liquibook_figures_are_the_same_on_every_run() {
    let figures = |out: std::process::Output| {
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let map = json.as_object_mut().unwrap();
        map.remove("seconds");
        map.remove("orders_per_sec");
        json
    };
    let args = [
        "matcher",
        "--workload",
        "liquibook",
        "--orders",
        "50000",
        "--json",
    ];
    assert_eq!(figures(bench(&args)), figures(bench(&args)));
}

#[test]
fn ecore_runs_and_reports_its_book() {
    let out = bench(&[
        "matcher",
        "--workload",
        "ecore",
        "--orders",
        "20000",
        "--json",
        "--no-pin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resting = json["resting_bids"].as_u64().unwrap() + json["resting_asks"].as_u64().unwrap();
    assert!(
        (800..=1200).contains(&resting),
        "book held near 1,000 orders: {resting}"
    );
}

#[test]
fn an_unknown_workload_names_the_accepted_ones() {
    let out = bench(&["matcher", "--workload", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("liquibook") && err.contains("ecore"), "{err}");
}

#[test]
fn zero_orders_and_zero_repeats_are_refused_with_a_reason() {
    for args in [
        ["matcher", "--workload", "ecore", "--orders", "0"],
        ["matcher", "--workload", "ecore", "--repeat", "0"],
    ] {
        let out = bench(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid value '0'"), "{err}");
    }
}

#[test]
fn a_missing_subcommand_prints_usage() {
    let out = bench(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: bench"));
}

#[test]
fn journal_json_has_the_documented_keys_and_cleans_up() {
    let scratch = tempfile::tempdir().unwrap();
    let out = bench(&[
        "journal",
        "--records",
        "50000",
        "--sync-records",
        "20",
        "--segment-size",
        "1048576",
        "--durable-rate",
        "20000",
        "--durable-seconds",
        "0.2",
        "--dir",
        scratch.path().to_str().unwrap(),
        "--json",
    ]);
    let (json, keys) = json_keys(&out);
    assert_eq!(
        keys,
        [
            "append_ns_per_record_batch",
            "append_ns_per_record_none",
            "append_ns_per_record_sync",
            "batch_drain_ms",
            "batch_durable_p50_us",
            "batch_durable_p99_us",
            "batch_size",
            "disk_fdatasync_p50_us",
            "floor_ns_per_record",
            "frame_size",
            "mb_per_sec_batch",
            "mb_per_sec_none",
            "mb_per_sec_sync",
            "page_faults_per_million_batch",
            "page_faults_per_million_none",
            "payload_size",
            "prefault",
            "records",
            "recovery_ms",
            "replay_mb_per_sec",
            "replay_records_per_sec",
            "rollover_max_us",
            "sync_path",
            "sync_records",
        ]
    );
    // Durability takes time, and the floor is above nothing.
    for key in [
        "batch_durable_p50_us",
        "disk_fdatasync_p50_us",
        "rollover_max_us",
        "floor_ns_per_record",
    ] {
        assert!(json[key].as_f64().unwrap() > 0.0, "{key} in {json}");
    }
    assert!(json["batch_durable_p99_us"].as_f64() >= json["batch_durable_p50_us"].as_f64());
    assert_eq!(
        (json["records"].as_u64(), json["frame_size"].as_u64()),
        (Some(50_000), Some(104))
    );
    assert!(json["replay_records_per_sec"].as_f64().unwrap() > 0.0);
    let sync_path = json["sync_path"].as_str().unwrap();
    assert!(
        sync_path == "io_uring" || sync_path == "msync",
        "{sync_path}"
    );
    // The scratch journals are gone.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn a_malformed_record_count_names_the_flag() {
    let out = bench(&["journal", "--records", "lots"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--records") && stderr.contains("lots"),
        "{stderr}"
    );
}

#[test]
fn pipeline_json_gives_one_object_per_ring_with_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&[
        "pipeline",
        "--workload",
        "ecore",
        "--rate",
        "20000",
        "--seconds",
        "1",
        "--ring",
        "crossbeam",
        "--durability",
        "none,batch",
        "--dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Naming crossbeam runs disruptor first, for the comparison; each ring
    // in each durability mode.
    let runs: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["ring"].as_str().unwrap(),
                l["durability"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("disruptor", "none"),
            ("crossbeam", "none"),
            ("disruptor", "batch"),
            ("crossbeam", "batch")
        ]
    );
    for json in &lines {
        for key in [
            "ring", "rate", "ops", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["rate"], 20_000);
        assert!(json["commands"].as_u64().unwrap() >= 20_000);
        assert!(json["p50_ns"].as_u64().unwrap() <= json["max_ns"].as_u64().unwrap());
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "scratch journals removed"
    );
}

#[test]
fn snapshot_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&[
        "snapshot",
        "--orders",
        "20000",
        "--dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    let (json, keys) = json_keys(&out);
    assert_eq!(
        keys,
        [
            "copy_warm_ms",
            "empty_engine_ms",
            "encode_ms",
            "matched_alone_max_us",
            "matched_alone_p99_us",
            "matched_max_us",
            "matched_p99_us",
            "matcher_stall_us",
            "orders",
            "recovery_ms",
            "recovery_open_ms",
            "recovery_restore_ms",
            "replica_restore_ms",
            "replica_snapshots",
            "replica_write_ms",
            "restore_ms",
            "snapshot_bytes"
        ]
    );
    assert_eq!(json["orders"], 20_000);
    assert!(json["recovery_ms"].as_f64().unwrap() > 0.0);
    // The replica wrote a snapshot of the whole book; the matcher did none.
    assert!(json["replica_snapshots"].as_u64().unwrap() >= 1);
    assert_eq!(json["matcher_stall_us"], 0.0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "scratch journal removed"
    );
}

#[test]
fn replay_json_has_the_documented_keys_and_every_repeat() {
    let replay = std::path::Path::new(env!("CARGO_BIN_EXE_bench")).with_file_name("replay");
    assert!(
        replay.exists(),
        "{} is missing: run the workspace's tests (scripts/test), which build it",
        replay.display()
    );
    let out = bench(&[
        "replay",
        "--records",
        "20000",
        "--snapshot-every",
        "5000",
        "--repeat",
        "2",
        "--json",
    ]);
    let (json, keys) = json_keys(&out);
    let timings = [
        "book_at_seconds",
        "dump_json_records_per_sec",
        "dump_since_first_line_ms",
        "run_files_records_per_sec",
        "run_records_per_sec",
        "verify_deep_records_per_sec",
        "verify_records_per_sec",
    ];
    let mut expected: Vec<&str> = timings.to_vec();
    expected.extend(["records", "runs", "snapshot_every", "write_seconds"]);
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(json["records"], 20_000);
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        for key in timings {
            assert!(run[key].as_f64().unwrap() > 0.0, "{key} in {run}");
        }
    }
}

#[test]
fn mass_cancel_json_has_the_documented_keys() {
    let out = bench(&[
        "mass-cancel",
        "--orders",
        "5000",
        "--symbols",
        "10",
        "--users",
        "50",
        "--repeat",
        "3",
        "--no-pin",
        "--json",
    ]);
    let (json, keys) = json_keys(&out);
    assert_eq!(
        keys,
        [
            "by_symbol_cancelled",
            "by_symbol_ms",
            "by_user_cancelled",
            "by_user_ms",
            "orders",
            "symbols",
            "users"
        ]
    );
    assert_eq!(json["by_symbol_cancelled"], 5000);
    assert_eq!(json["by_user_cancelled"], 100);
}
