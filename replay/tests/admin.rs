//! The `replay` tool on journals with admin commands, and on journals and
//! snapshots written by earlier builds' formats.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;

use common::{flow, json, lines, replay_ok, run_engine};

/// The fixtures, each written by an earlier build with `--clock sequence
/// --segment-size 1MiB` from its `orders.jsonl` (and `admin.jsonl`):
///
/// - `format-2`: 42 inputs (input format 2) and a snapshot at 31
///   (snapshot format 2, checkpoint format 1), by the build before admin
///   commands;
/// - `format-3`: 46 inputs with four admin commands (input format 3) and a
///   snapshot at 34 (snapshot format 3, checkpoint format 2), by the build
///   before moves, run twice (30 orders, then all) so that the snapshot
///   falls mid-journal;
/// - `format-4`: the same 46 inputs (input format 4) and a snapshot at 34
///   (snapshot format 4), by the build before market-to-limit orders and
///   budgets, run the same way.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn summary(output: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Deep verification replays a fixture's old records from the start and
/// checks its old snapshot's state, hashed in this build's format; the
/// engine recovers from the old snapshot plus the old records, and takes
/// no input twice: the same state as a fresh run of the files.
fn check_previous_format(name: &str, payload_format: u32, inputs: u64) {
    let fixture = Path::new(FIXTURES).join(name);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    copy_dir(&fixture.join("journal"), &journal);
    let orders = fixture.join("orders.jsonl");
    let admin = fixture.join("admin.jsonl");
    let mut flags = vec!["--clock", "sequence", "--segment-size", "1MiB"];
    let admin_flag = format!("file:{}", admin.display());
    if admin.exists() {
        flags.extend(["--admin-input", &admin_flag]);
    }

    let j = journal.to_str().unwrap();
    let verified = json(&replay_ok(&["verify", j, "--deep", "--json"], 0));
    assert_eq!(verified["deep"]["hashes_verified"], 1, "{name}: {verified}");
    let info = json(&replay_ok(&["info", j, "--json"], 0));
    assert_eq!(info["last_seq"], inputs, "{name}: {info}");
    assert_eq!(info["segments"][0]["payload_format"], payload_format);

    let recovered = run_engine(&journal, &orders, &dir.path().join("out"), &flags);
    let recovered = summary(&recovered);
    assert_eq!(recovered["inputs"], 0, "{name}: {recovered}");
    let fresh = run_engine(
        &dir.path().join("fresh"),
        &orders,
        &dir.path().join("fresh-out"),
        &flags,
    );
    let fresh = summary(&fresh);
    assert_eq!(fresh["inputs"], inputs);
    assert_eq!(recovered["state_hash"], fresh["state_hash"], "{name}");
}

#[test]
fn a_journal_and_snapshot_of_the_previous_formats_recover_and_verify() {
    check_previous_format("format-2", 2, 42);
    check_previous_format("format-3", 3, 46);
    check_previous_format("format-4", 4, 46);
}

#[test]
fn dump_order_and_verify_show_admin_commands_and_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let commands = flow(2_000, 5);
    let orders = dir.path().join("orders.jsonl");
    std::fs::write(&orders, lines(&commands)).unwrap();
    // The first order the flow adds: cancelled by a mass cancel of its user.
    let first = serde_json::from_str::<serde_json::Value>(
        std::fs::read_to_string(&orders)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let (user, order) = (
        first["user_id"].as_str().unwrap().to_owned(),
        first["order_id"].as_str().unwrap().to_owned(),
    );
    let admin = dir.path().join("admin.jsonl");
    std::fs::write(
        &admin,
        format!(
            "{{\"command\":\"MASS_CANCEL\",\"user_id\":\"{user}\",\"request_id\":\"m1\"}}\n\
             {{\"command\":\"HALT\",\"symbol\":\"AAPL\",\"request_id\":\"h1\"}}\n"
        ),
    )
    .unwrap();
    let journal = dir.path().join("journal");
    let out = dir.path().join("out");
    let head: String = std::fs::read_to_string(&orders)
        .unwrap()
        .lines()
        .take(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let whole = std::fs::read_to_string(&orders).unwrap();
    // Run 1: the first order only; run 2: the admin file, then the rest.
    std::fs::write(&orders, &head).unwrap();
    let empty = dir.path().join("none.jsonl");
    std::fs::write(&empty, "").unwrap();
    let admin_flag = format!("file:{}", empty.display());
    run_engine(
        &journal,
        &orders,
        &out,
        &["--clock", "sequence", "--admin-input", &admin_flag],
    );
    std::fs::write(&orders, &whole).unwrap();
    let admin_flag = format!("file:{}", admin.display());
    run_engine(
        &journal,
        &orders,
        &out,
        &[
            "--clock",
            "sequence",
            "--admin-input",
            &admin_flag,
            "--snapshot-every",
            "500",
        ],
    );

    let j = journal.to_str().unwrap();
    let dumped = replay_ok(
        &["dump", j, "--from", "2", "--to", "3", "--outputs", "--json"],
        0,
    );
    let records: Vec<serde_json::Value> = dumped
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["topic"], "admin");
    assert_eq!(records[0]["command"]["command"], "MASS_CANCEL");
    let outputs = records[0]["outputs"].as_array().unwrap();
    let last = outputs.last().unwrap();
    assert_eq!(last["topic"], "admin_status");
    assert_eq!(last["message"]["status"], "APPLIED");
    assert_eq!(last["message"]["cancelled"], 1);
    assert_eq!(records[1]["command"]["command"], "HALT");
    let table = replay_ok(&["dump", j, "--from", "2", "--to", "2"], 0);
    assert!(table.contains("admin:0:1"), "{table}");

    let life = replay_ok(
        &["order", j, "--order", &order, "--user", &user, "--json"],
        0,
    );
    let events: Vec<serde_json::Value> = life
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["message"]["status"], "ACCEPTED");
    assert_eq!(events[1]["message"]["reason"], "MASS_CANCEL");
    assert_eq!(events[2]["message"]["command"], "MASS_CANCEL", "{life}");

    let verified = json(&replay_ok(&["verify", j, "--deep", "--json"], 0));
    assert!(verified["deep"]["mismatch"].is_null(), "{verified}");
    assert!(
        verified["deep"]["hashes_verified"].as_u64().unwrap() >= 2,
        "{verified}"
    );
}
