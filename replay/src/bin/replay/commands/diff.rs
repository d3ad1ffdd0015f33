//! `replay diff`: the first input, and optionally the first output, where
//! two journals part. It turns parsed flags into the library's call, and
//! prints the result; the work is in the `replay` library.

use serde::Serialize;
use serde_json::value::RawValue;

use super::Outcome;
use crate::flags::DiffArgs;
use crate::print::{Bar, input_wire, json_line, outln, wire};

pub fn diff(args: DiffArgs) -> anyhow::Result<Outcome> {
    let found = replay::diff(&args.a, &args.b, args.outputs, &Bar::default())?;
    let record = |r: &Option<engine::sequenced::Journaled>| -> Option<Box<RawValue>> {
        r.as_ref().map(|r| {
            let (command, rejected) = input_wire(r);
            command.or(rejected).unwrap_or_else(wire_null)
        })
    };
    if args.json {
        #[derive(Serialize)]
        struct DiffJson {
            compared: u64,
            input: Option<InputJson>,
            output: Option<OutputJson>,
        }
        #[derive(Serialize)]
        struct InputJson {
            seq: u64,
            a: Option<Box<RawValue>>,
            b: Option<Box<RawValue>>,
        }
        #[derive(Serialize)]
        struct OutputJson {
            seq: u64,
            idx: u32,
            a: Option<Box<RawValue>>,
            b: Option<Box<RawValue>>,
            a_state_hash: String,
            b_state_hash: String,
        }
        json_line(&DiffJson {
            compared: found.compared,
            input: found.input.as_ref().map(|d| InputJson {
                seq: d.seq,
                a: record(&d.a),
                b: record(&d.b),
            }),
            output: found.output.as_ref().map(|d| OutputJson {
                seq: d.seq,
                idx: d.idx,
                a: d.a.as_ref().map(|m| wire(None, m)),
                b: d.b.as_ref().map(|m| wire(None, m)),
                a_state_hash: d.a_state_hash.clone(),
                b_state_hash: d.b_state_hash.clone(),
            }),
        })?;
    } else {
        let show =
            |r: Option<Box<RawValue>>| r.map_or("(none)".to_string(), |r| r.get().to_string());
        match &found.input {
            None => outln!("inputs agree over {} sequences", found.compared),
            Some(d) => {
                outln!("inputs differ first at sequence {}:", d.seq);
                outln!("  A {}", show(record(&d.a)));
                outln!("  B {}", show(record(&d.b)));
            }
        }
        if args.outputs {
            match &found.output {
                None => outln!("outputs agree"),
                Some(d) => {
                    outln!("outputs differ first at (seq {}, idx {}):", d.seq, d.idx);
                    outln!(
                        "  A {} (state hash {})",
                        show(d.a.as_ref().map(|m| wire(None, m))),
                        d.a_state_hash
                    );
                    outln!(
                        "  B {} (state hash {})",
                        show(d.b.as_ref().map(|m| wire(None, m))),
                        d.b_state_hash
                    );
                }
            }
        }
    }
    Ok(if found.input.is_none() && found.output.is_none() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

fn wire_null() -> Box<RawValue> {
    RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())
}
