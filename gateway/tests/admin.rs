//! Admin commands end to end on files: halt, resume, mass cancel and a
//! reference price from `--admin-input`, among orders, against the
//! reference model; a forged admin action on the orders file; the engine
//! id in every output; and a journal that belongs to another engine.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{
    ENGINE, assert_same_outputs, dedup, journaled_inputs, read_outputs, reference_of, run_engine,
    scenario, summary,
};
use engine::sequenced::{Input, SourcePosition, SourceTopic};
use gateway::wire::Decoder;

/// Admin lines over the scenario's symbols and users.
const ADMIN: &str = r#"{"command":"HALT","symbol":"AAPL","request_id":"h1"}
{"command":"MASS_CANCEL","user_id":"u3","request_id":"m1"}
{"command":"MASS_CANCEL","symbol":"MSFT","request_id":"m2"}
{"command":"SET_REFERENCE_PRICE","symbol":"GOOG","price":10000,"request_id":"p1"}
{"command":"HALT","symbol":"NOPE","request_id":"h2"}
{"command":"HALT","request_id":"h3"}
{"command":"HALT","symbol":"TSLA","request_id":"h4","engine_id":"someone-else"}
"#;

/// A forged admin action in the orders file, and an order after it on
/// the symbol it tried to halt.
const FORGED: &str = r#"{"action":"HALT","symbol":"TSLA","order_id":"x1","user_id":"u1"}
{"command":"HALT","symbol":"TSLA","request_id":"x2"}
"#;

#[test]
fn admin_commands_among_orders_match_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, out) = (dir.path().join("journal"), dir.path().join("out"));
    let orders = dir.path().join("orders.jsonl");
    let admin = dir.path().join("admin.jsonl");
    let text = scenario(6_000, 21);
    let (_, second) = text.split_at(text.len() / 2);
    let second = &second[second.find('\n').unwrap() + 1..]; // whole lines
    let first = &text[..text.len() - second.len()];

    // Run 1: the first half of the orders.
    std::fs::write(&orders, first).unwrap();
    std::fs::write(&admin, "").unwrap();
    let admin_flag = format!("file:{}", admin.display());
    let run = |extra: &[&str]| {
        let mut args = vec!["--admin-input", &admin_flag, "--snapshot-every", "1000"];
        args.extend_from_slice(extra);
        let output = run_engine(&journal, &orders, &out, &args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    run(&[]);
    // Run 2: the admin lines are journaled first, then the rest of the
    // orders, with a forged admin action among them.
    std::fs::write(&orders, format!("{first}{FORGED}{second}")).unwrap();
    std::fs::write(&admin, ADMIN).unwrap();
    let last = summary(&run(&[]));

    // What the journal holds: the admin topic's lines as admin inputs at
    // their own positions, the forged line as a rejected order.
    let inputs = journaled_inputs(&journal);
    let admin_inputs: Vec<&(SourcePosition, Input)> = inputs
        .iter()
        .filter(|(_, input)| input.topic() == SourceTopic::Admin)
        .collect();
    assert_eq!(
        admin_inputs.len(),
        6,
        "the one for another engine is skipped"
    );
    assert!(
        admin_inputs
            .iter()
            .all(|(p, _)| p.topic == SourceTopic::Admin)
    );
    let forged: Vec<_> = inputs
        .iter()
        .filter_map(|(_, input)| match input {
            Input::Malformed(m) if m.reason == engine::RejectReason::NotPermitted => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(forged.len(), 2, "both forms of a forged admin action");

    // The reference: the same inputs through the model.
    let expected = reference_of(inputs.iter().copied());
    let outputs = dedup(&read_outputs(&out));
    assert_same_outputs(&outputs, &expected);
    let statuses = &outputs["admin_status.jsonl"];
    assert_eq!(statuses.len(), 6);
    assert!(statuses[0].contains(r#""status":"APPLIED","request_id":"h1","command":"HALT""#));
    assert!(
        statuses[4].contains(r#""reason":"UNKNOWN_SYMBOL""#),
        "{}",
        statuses[4]
    );
    assert!(
        statuses[5].contains(r#""field":"symbol""#),
        "{}",
        statuses[5]
    );
    let order_status = outputs["order_status.jsonl"].join("\n");
    assert!(order_status.contains(r#""reason":"SYMBOL_HALTED""#));
    assert!(order_status.contains(r#""reason":"MASS_CANCEL""#));
    assert!(order_status.contains(r#""reason":"NOT_PERMITTED""#));
    assert!(order_status.contains("accepted only from the admin topic"));

    // Recovery replays the admin commands: a fresh engine on a copy of the
    // journal's inputs ends in the same state, and a rerun over the same
    // journal journals nothing new.
    let rerun = summary(&run(&[]));
    assert_eq!(rerun["state_hash"], last["state_hash"]);
    assert_eq!(rerun["inputs"], 0);
    // Replaying the journal from nothing, as a standby or `replay` would,
    // ends in the same state, byte for byte.
    let history = engine::history::History::open(&journal).unwrap();
    let mut replayer = engine::sequenced::Replayer::new(
        engine::Engine::new(engine::EngineConfig::default()).unwrap(),
        0,
        Default::default(),
    );
    let mut records = history.all_records().unwrap();
    while let Some(record) = records.next().unwrap() {
        replayer.advance(&record).unwrap();
    }
    let replayed = replayer.engine().state_hash();
    assert_eq!(
        format!("{replayed:016x}"),
        last["state_hash"].as_str().unwrap()
    );
    assert!(
        replayer
            .engine()
            .is_halted(&engine::Symbol::new("AAPL").unwrap())
    );
}

#[test]
fn every_output_names_the_engine_and_a_journal_stays_with_its_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, out) = (dir.path().join("journal"), dir.path().join("out"));
    let orders = dir.path().join("orders.jsonl");
    std::fs::write(&orders, scenario(200, 3)).unwrap();
    let output = run_engine(&journal, &orders, &out, &["--engine-id", "e1"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (file, lines) in read_outputs(&out) {
        for line in lines {
            assert!(line.ends_with(r#","engine_id":"e1"}"#), "{file}: {line}");
        }
    }
    let other = run_engine(&journal, &orders, &out, &["--engine-id", "e2"]);
    assert_eq!(other.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains(r#"belongs to engine "e1""#), "{stderr}");

    // The decoder the engine uses skips another engine's admin commands.
    let decoder = Decoder::default();
    let line = br#"{"command":"HALT","symbol":"AAPL","request_id":"r","engine_id":"e2"}"#;
    assert!(decoder.decode_admin(line, Some("e1")).is_none());
}

#[test]
fn flags_that_do_not_fit_say_what_to_write_instead() {
    let dir = tempfile::tempdir().unwrap();
    let engine = |args: &[&str]| {
        std::process::Command::new(ENGINE)
            .args(["--journal", dir.path().join("j").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let subscribing = dir.path().join("subscribe.toml");
    std::fs::write(&subscribing, "[kafka]\nsubscribe = true\n").unwrap();
    let subscribing = subscribing.to_str().unwrap();
    for (args, hint) in [
        (
            &[
                "--config",
                subscribing,
                "--engine-id",
                "e1",
                "--brokers",
                "localhost:1",
            ][..],
            "list the engine's partitions in kafka.partitions",
        ),
        (
            &["--admin-input", "file:a.jsonl", "--brokers", "localhost:1"][..],
            "goes with --input file:",
        ),
        (&["--engine-id", "bad id"][..], "engine id \"bad id\""),
        (
            &[
                "--ownership-lease",
                "5s",
                "--input",
                "file:x",
                "--output",
                "file:o",
            ][..],
            "add --engine-id",
        ),
    ] {
        let output = engine(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
    }
}
