//! Shared by the `engine` binary's tests: a scenario generator, a runner
//! for the binary, and the reference outputs built from the slow model.

#![allow(dead_code)] // each test binary uses a different subset

#[path = "../../../engine/tests/common/model.rs"]
pub mod model;

pub mod kafka;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command as Process, Output};

use engine::sequenced::{Input, Message, MessageBody, SourcePosition};
use engine::{
    Command, EngineConfig, OrderId, OrderSpec, OrderType, ReplaceSpec, Side, Symbol, TimeInForce,
    UserId,
};
use gateway::wire::{Decoder, encode_message, encode_order};

pub const ENGINE: &str = env!("CARGO_BIN_EXE_engine");

/// The `replay` binary, built beside `engine` by the workspace's tests.
pub fn replay_bin() -> std::path::PathBuf {
    let path = std::path::Path::new(ENGINE).with_file_name("replay");
    assert!(
        path.exists(),
        "{} is missing: run the workspace's tests (scripts/test), which build it",
        path.display()
    );
    path
}

/// Runs `replay verify --deep` on `journal` and fails with its report
/// unless the journal re-executes to the hashes it recorded.
pub fn assert_verifies_deeply(journal: &Path) {
    let verified = Process::new(replay_bin())
        .args(["verify", journal.to_str().unwrap(), "--deep"])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "replay verify --deep {}: {}{}",
        journal.display(),
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// An outside program a test needs: `variable` if set, else `fallback`.
/// `scripts/test` installs them and sets the variables.
pub fn tool(variable: &str, fallback: &str) -> std::path::PathBuf {
    let path = std::env::var(variable).map_or_else(|_| fallback.into(), std::path::PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which installs it (or set {variable})",
        path.display()
    );
    path
}

/// A deterministic multi-symbol order flow as JSON lines, with a sprinkle
/// of lines that must be rejected at decode.
pub fn scenario(lines: usize, seed: u64) -> String {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let symbols = ["AAPL", "MSFT", "GOOG", "TSLA"];
    let mut live: Vec<(usize, u32, u64)> = Vec::new(); // symbol, user, id
    let mut next_id = 0u64;
    let mut out = String::new();
    let mut buf = Vec::new();
    for _ in 0..lines {
        let roll = rng.rand_range(0..100);
        buf.clear();
        if roll < 3 {
            let bad = [
                "{not json",
                r#"{"action":"DELETE","symbol":"AAPL","order_id":"x1","user_id":"u1"}"#,
                r#"{"action":"ADD","symbol":"aapl!","order_id":"x2","user_id":"u1","is_buy":true,"price":100,"quantity":1}"#,
                r#"{"action":"ADD","symbol":"AAPL","order_id":"x3","user_id":"u1","is_buy":true,"price":-5,"quantity":1}"#,
                r#"{"action":"ADD","symbol":"AAPL","user_id":"u1","is_buy":true,"price":100,"quantity":1}"#,
            ];
            out.push_str(bad[rng.rand_range(0..bad.len() as u64) as usize]);
            out.push('\n');
            continue;
        }
        let sym = Symbol::new(symbols[rng.rand_range(0..4) as usize]).unwrap();
        if roll < 25 && !live.is_empty() {
            let at = rng.rand_range(0..live.len() as u64) as usize;
            let (s, u, id) = live.swap_remove(at);
            let command = Command::cancel(
                0,
                Symbol::new(symbols[s]).unwrap(),
                UserId::new(&format!("u{u}")).unwrap(),
                OrderId::new(&format!("o{id}")).unwrap(),
            );
            encode_order(&command, &mut buf);
        } else if roll < 40 && !live.is_empty() {
            let at = rng.rand_range(0..live.len() as u64) as usize;
            let (s, u, id) = live[at];
            let spec = if rng.rand_range(0..2) == 0 {
                ReplaceSpec {
                    new_price: Some(9_990 + rng.rand_range(0..21)),
                    new_quantity: None,
                }
            } else {
                ReplaceSpec {
                    new_price: None,
                    new_quantity: Some(1 + rng.rand_range(0..60)),
                }
            };
            let command = Command::replace(
                0,
                Symbol::new(symbols[s]).unwrap(),
                UserId::new(&format!("u{u}")).unwrap(),
                OrderId::new(&format!("o{id}")).unwrap(),
                spec,
            );
            encode_order(&command, &mut buf);
        } else {
            let s = symbols.iter().position(|x| *x == sym.as_str()).unwrap();
            let user = rng.rand_range(0..10) as u32;
            next_id += 1;
            let side = if rng.rand_range(0..2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let quantity = if rng.rand_range(0..50) == 0 {
                0
            } else {
                1 + rng.rand_range(0..50)
            };
            let mut spec = OrderSpec::limit(side, 9_990 + rng.rand_range(0..21), quantity);
            match rng.rand_range(0..20) {
                0 => spec = OrderSpec::market(side, quantity),
                1 => spec.tif = TimeInForce::Ioc,
                2 => spec.tif = TimeInForce::Fok,
                3 => spec.post_only = true,
                4 => {
                    spec.order_type = OrderType::StopLimit;
                    spec.stop_price = spec.price;
                }
                5 => spec.order_type = OrderType::MarketToLimit,
                6 => {
                    // A budget near the limit's cost: some fill, some not.
                    spec.tif = TimeInForce::Fok;
                    spec.max_notional =
                        (spec.price * quantity + 21).saturating_sub(rng.rand_range(0..2) * 40);
                }
                _ => {}
            }
            let command = Command::add(
                0,
                sym,
                UserId::new(&format!("u{user}")).unwrap(),
                OrderId::new(&format!("o{next_id}")).unwrap(),
                spec,
            );
            live.push((s, user, next_id));
            encode_order(&command, &mut buf);
        }
        out.push_str(std::str::from_utf8(&buf).unwrap());
        out.push('\n');
    }
    out
}

/// The outputs a correct engine produces for `input` read as a file, per
/// topic file name (partition 0, offsets are line numbers).
pub fn reference(input: &str) -> BTreeMap<String, Vec<String>> {
    reference_of(
        input
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(line_no, line)| {
                let source = SourcePosition::orders(0, line_no as i64 + 1);
                (source, Decoder::default().decode(line.as_bytes()))
            }),
    )
}

/// The inputs a journal holds, in sequence order, with their positions.
pub fn journaled_inputs(journal: &Path) -> Vec<(SourcePosition, Input)> {
    let reader = journal::Reader::open(journal).unwrap();
    let mut cursor = reader.read_all().unwrap();
    let mut inputs = Vec::new();
    while let Some(record) = cursor.next().unwrap() {
        let meta = record.meta();
        let input: Input =
            rkyv::from_bytes::<Input, rkyv::rancor::Error>(record.payload()).unwrap();
        assert_eq!(record.sequence(), inputs.len() as u64 + 1);
        inputs.push((
            SourcePosition {
                topic: input.topic(),
                partition: meta.source_partition,
                offset: meta.source_offset,
            },
            input,
        ));
    }
    inputs
}

/// The outputs a correct engine produces for these inputs, in this order,
/// per topic file name, from the reference model, numbered as documented:
/// a trade gives the trades message, the aggressor's fill, then the
/// resting order's fill. Commands are stamped with their sequence
/// (`--clock sequence`).
pub fn reference_of(
    inputs: impl IntoIterator<Item = (SourcePosition, Input)>,
) -> BTreeMap<String, Vec<String>> {
    reference_for(&EngineConfig::default(), inputs)
}

/// [`reference_of`] for an engine with `config`.
pub fn reference_for(
    config: &EngineConfig,
    inputs: impl IntoIterator<Item = (SourcePosition, Input)>,
) -> BTreeMap<String, Vec<String>> {
    let mut model = model::Model::new(config.clone());
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seq = 0u64;
    for (source, input) in inputs {
        seq += 1;
        let bodies: Vec<MessageBody> = match input {
            Input::Malformed(m) => vec![MessageBody::Undecodable(m)],
            Input::MalformedAdmin(m) => vec![MessageBody::UndecodableAdmin(m)],
            Input::Handover(_) => panic!("the reference model has no moves"),
            mut input @ (Input::Command(_) | Input::Admin(_)) => {
                // --clock sequence
                match &mut input {
                    Input::Command(command) => command.ts = seq,
                    Input::Admin(command) => command.ts = seq,
                    _ => {}
                }
                let mut bodies = Vec::new();
                for event in model.apply_input(&input) {
                    // A trade gives trades, the aggressor's fill, then the
                    // resting order's: the engine's documented split.
                    engine::sequenced::Output::Event(event).bodies(|body, _| bodies.push(body));
                }
                bodies
            }
        };
        let count = bodies.len();
        for (idx, body) in bodies.into_iter().enumerate() {
            let message = Message {
                seq,
                idx: idx as u32,
                source,
                origin_ns: 0,
                last: idx + 1 == count,
                body,
            };
            let mut bytes = Vec::new();
            encode_message(&message, &mut bytes);
            let file = format!("{}.jsonl", body.topic().name());
            out.entry(file)
                .or_default()
                .push(String::from_utf8(bytes).unwrap());
        }
    }
    out
}

/// Runs `engine` to the end of `input` with the deterministic clock.
pub fn run_engine(journal: &Path, input: &Path, output: &Path, extra: &[&str]) -> Output {
    Process::new(ENGINE)
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--input", &format!("file:{}", input.display())])
        .args(["--output", &format!("file:{}", output.display())])
        .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
        .args(extra)
        .output()
        .unwrap()
}

/// The output files' lines, per file name.
pub fn read_outputs(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for topic in ["fills", "trades", "depth", "order_status", "admin_status"] {
        let name = format!("{topic}.jsonl");
        let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if !lines.is_empty() {
            out.insert(name, lines);
        }
    }
    out
}

/// De-duplicates by `(seq, idx)`, checking duplicates are identical, and
/// returns lines in key order.
pub fn dedup(outputs: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let mut result = BTreeMap::new();
    for (file, lines) in outputs {
        let mut by_key: BTreeMap<(u64, u64), &String> = BTreeMap::new();
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = (v["seq"].as_u64().unwrap(), v["idx"].as_u64().unwrap());
            if let Some(previous) = by_key.insert(key, line) {
                assert_eq!(
                    previous, line,
                    "two different messages share (seq, idx) {key:?}"
                );
            }
        }
        result.insert(file.clone(), by_key.into_values().cloned().collect());
    }
    result
}

/// The final JSON line the engine prints on stdout.
pub fn summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no summary; stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap()
}

/// Asserts two per-topic outputs are equal, reporting counts and the first
/// difference rather than printing both.
pub fn assert_same_outputs(
    got: &BTreeMap<String, Vec<String>>,
    expected: &BTreeMap<String, Vec<String>>,
) {
    let files: std::collections::BTreeSet<&String> = got.keys().chain(expected.keys()).collect();
    for file in files {
        let (g, e) = (
            got.get(file).map_or(&[][..], Vec::as_slice),
            expected.get(file).map_or(&[][..], Vec::as_slice),
        );
        if let Some(at) = (0..g.len().max(e.len())).find(|&i| g.get(i) != e.get(i)) {
            panic!(
                "{file}: {} messages, expected {}; first difference at {at}:\n got      {:?}\n expected {:?}",
                g.len(),
                e.len(),
                g.get(at),
                e.get(at)
            );
        }
    }
}

/// The outputs with the `"engine_id":"<id>"` field an engine with an id
/// ends every message with taken out, to compare with the model's.
pub fn without_engine_id(
    outputs: &BTreeMap<String, Vec<String>>,
    id: &str,
) -> BTreeMap<String, Vec<String>> {
    let suffix = format!(r#","engine_id":"{id}"}}"#);
    outputs
        .iter()
        .map(|(file, lines)| {
            let lines = lines
                .iter()
                .map(|line| {
                    assert!(line.ends_with(&suffix), "{file}: {line}");
                    format!("{}}}", &line[..line.len() - suffix.len()])
                })
                .collect();
            (file.clone(), lines)
        })
        .collect()
}

/// Each symbol's messages on each topic, in order, without the fields that
/// number them per engine (`seq`, `idx`, `trade_id`, `ts`, `engine_id`).
pub fn by_symbol(
    outputs: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (file, lines) in outputs {
        if file == "depth.jsonl" {
            continue;
        }
        for line in lines {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            for key in ["seq", "idx", "trade_id", "ts", "engine_id"] {
                object.remove(key);
            }
            let symbol = object["symbol"].as_str().unwrap_or("-").to_owned();
            out.entry((file.clone(), symbol))
                .or_default()
                .push(value.to_string());
        }
    }
    out
}
