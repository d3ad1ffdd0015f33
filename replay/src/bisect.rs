//! `replay bisect`: the first input whose outputs would have been
//! different, under other rules, or compared with outputs recorded
//! somewhere (a consumer's copy, an older engine's output directory).
//!
//! Under other rules the journal is re-executed twice, side by side: under
//! the rules it ran with and under the new ones, comparing each input's
//! messages in wire form and stopping at the first difference. Against a
//! recorded directory it is re-executed once, from the newest snapshot
//! before the first recorded output. Either way each input is re-executed
//! at most once per run, and only up to the difference. A search in fewer
//! steps is not possible: a change can make one input's outputs differ and
//! the books agree again afterwards, so a difference can hide between two
//! points whose states are equal, and only checking every input before it
//! proves which is first. Nothing is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::EngineConfig;
use engine::history::History;
use engine::sequenced::{Message, Topic};
use gateway::wire::encode_message;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::Error;
use crate::dump::replayer_before;
use crate::start::{genesis_rules, under_other_rules};
use crate::verify::Progress;

/// What the journal's outputs are compared with.
#[derive(Clone, Debug)]
pub enum Reference {
    /// A re-execution under these rules, from the journal's start.
    Rules(EngineConfig),
    /// Outputs recorded in this directory: one JSON-lines file per topic,
    /// as `engine --output file:DIR` writes them.
    Recorded(PathBuf),
}

/// Where the outputs part, if they do.
#[derive(Clone, Debug, Serialize)]
pub struct Bisected {
    /// Inputs compared.
    pub compared: u64,
    /// Inputs re-executed, counting each run separately.
    pub re_executed: u64,
    /// The first difference.
    pub difference: Option<BisectDifference>,
}

/// One message that differs.
#[derive(Clone, Debug, Serialize)]
pub struct BisectDifference {
    /// The input.
    pub seq: u64,
    /// The message's index among its outputs.
    pub idx: u32,
    /// The baseline's message in wire form: the journal's own run (with
    /// other rules), or the recorded one; `None` if there was none.
    pub baseline: Option<Box<RawValue>>,
    /// The candidate's: the run under the other rules, or the journal's own
    /// run (against a recording); `None` if there was none.
    pub candidate: Option<Box<RawValue>>,
}

impl BisectDifference {
    fn new(seq: u64, idx: usize, baseline: Option<&String>, candidate: Option<&String>) -> Self {
        // Both sides are JSON: encoder output, or recorded lines that
        // parsed. Anything else would show as a JSON string, not be lost.
        let raw = |line: Option<&String>| {
            line.map(|l| {
                RawValue::from_string(l.clone()).unwrap_or_else(|_| {
                    let quoted = serde_json::to_string(l).unwrap_or_default();
                    RawValue::from_string(quoted).unwrap_or_default()
                })
            })
        };
        BisectDifference {
            seq,
            idx: idx as u32,
            baseline: raw(baseline),
            candidate: raw(candidate),
        }
    }
}

/// Finds the first input whose outputs differ from `reference`.
pub fn bisect(
    dir: &Path,
    reference: &Reference,
    progress: &dyn Progress,
) -> Result<Bisected, Error> {
    let history = History::open(dir)?;
    match reference {
        Reference::Rules(rules) => under_rules(&history, rules, progress),
        Reference::Recorded(outputs) => against(&history, outputs, progress),
    }
}

fn wire(message: &Message) -> String {
    let mut out = Vec::new();
    encode_message(message, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn under_rules(
    history: &History,
    rules: &EngineConfig,
    progress: &dyn Progress,
) -> Result<Bisected, Error> {
    let (own_rules, _) = genesis_rules(history, None)?;
    let mut own = under_other_rules(history, &own_rules, "bisecting")?;
    let mut other = under_other_rules(history, rules, "bisecting")?;
    let end = history.reader().end_sequence()?;
    progress.start("bisect", end - 1);
    let mut found = Bisected {
        compared: 0,
        re_executed: 0,
        difference: None,
    };
    let mut records = history.records(1)?;
    while let Some(record) = records.next()? {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        own.apply(&record, |m| a.push(wire(m)))?;
        other.apply(&record, |m| b.push(wire(m)))?;
        found.compared += 1;
        found.re_executed += 2;
        if let Some(idx) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
            found.difference = Some(BisectDifference::new(
                record.sequence,
                idx,
                a.get(idx),
                b.get(idx),
            ));
            break;
        }
        if found.compared & 0xFFFF == 0 {
            progress.set(found.compared);
        }
    }
    progress.finish();
    Ok(found)
}

/// The recorded messages in `dir`, by `(seq, idx)`.
fn recorded(dir: &Path) -> Result<BTreeMap<(u64, u32), String>, Error> {
    #[derive(serde::Deserialize)]
    struct Key {
        seq: u64,
        idx: u32,
    }
    let mut out = BTreeMap::new();
    for topic in Topic::ALL {
        let path = dir.join(format!("{}.jsonl", topic.name()));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(Error::Usage(format!(
                    "cannot read {}: {err}",
                    path.display()
                )));
            }
        };
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let key: Key = serde_json::from_str(line).map_err(|e| {
                Error::Usage(format!(
                    "{} line {}: not an output message: {e}",
                    path.display(),
                    n + 1
                ))
            })?;
            // A crash may have sent a message twice; the copies are equal.
            out.entry((key.seq, key.idx))
                .or_insert_with(|| line.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no output messages (fills.jsonl, trades.jsonl, depth.jsonl, order_status.jsonl)",
            dir.display()
        )));
    }
    Ok(out)
}

fn against(history: &History, dir: &Path, progress: &dyn Progress) -> Result<Bisected, Error> {
    let recorded = recorded(dir)?;
    let first = recorded.keys().next().map_or(1, |k| k.0);
    let last = recorded.keys().next_back().map_or(1, |k| k.0);
    let (mut replayer, skipped) = replayer_before(history, first, progress)?;
    let mut found = Bisected {
        compared: 0,
        re_executed: skipped,
        difference: None,
    };
    progress.start("bisect", last - first + 1);
    let mut records = history.records(first)?;
    while let Some(record) = records.next()? {
        let mut produced = Vec::new();
        replayer.apply(&record, |m| produced.push(wire(m)))?;
        found.compared += 1;
        found.re_executed += 1;
        let seq = record.sequence;
        let expected: Vec<&String> = recorded
            .range((seq, 0)..=(seq, u32::MAX))
            .map(|(_, l)| l)
            .collect();
        if let Some(idx) = (0..produced.len().max(expected.len()))
            .find(|&i| produced.get(i) != expected.get(i).copied())
        {
            found.difference = Some(BisectDifference::new(
                seq,
                idx,
                expected.get(idx).copied(),
                produced.get(idx),
            ));
            break;
        }
        if found.compared & 0xFFFF == 0 {
            progress.set(found.compared);
        }
        if seq >= last {
            break;
        }
    }
    progress.finish();
    Ok(found)
}
