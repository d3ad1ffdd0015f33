//! `replay run`: re-execute the journal and publish its outputs again.
//!
//! With the journal's own rules the outputs are byte-identical to what the
//! engine produced for the same inputs, with the same `(seq, idx)`, because
//! they come from the same replay code and go through the same sinks
//! (`gateway`'s file and Kafka sinks). With other rules (`--config`) the
//! inputs are re-run from the journal's first record under them: "what if
//! the tick had been 5?". Writes only to the sink it is given.

use std::path::Path;
use std::time::Instant;

use engine::EngineConfig;
use engine::endpoint::OutputSink;
use engine::history::History;
use engine::sequenced::{Message, Replayer};
use serde::Serialize;

use crate::Error;
use crate::dump::replayer_before;
use crate::start::under_other_rules;
use crate::verify::Progress;

/// Messages per batch handed to the sink, as the engine's egress does.
const BATCH: usize = 100;

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The first input whose outputs were published.
    pub from: u64,
    /// The last.
    pub to: u64,
    /// Inputs whose outputs were published.
    pub inputs: u64,
    /// Messages published.
    pub messages: u64,
    /// Inputs re-executed only to reach `from`.
    pub replayed_before: u64,
    /// Wall time.
    pub seconds: f64,
    /// Published inputs per second.
    pub inputs_per_sec: f64,
    /// The state hash after `to`, as 16 hex digits.
    pub state_hash: String,
}

/// Re-executes inputs `from..=to` (default: all) of the journal in `dir`
/// and hands their messages to `sink` in batches of at most 100; under
/// `rules` if given, from the journal's first record.
pub fn run(
    dir: &Path,
    from: Option<u64>,
    to: Option<u64>,
    rules: Option<&EngineConfig>,
    sink: &mut impl OutputSink,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    let history = History::open(dir)?;
    let first = history.first_sequence()?.unwrap_or(1);
    let end = history.reader().end_sequence()?;
    let from = from.unwrap_or(first).max(first);
    let to = to.unwrap_or(end - 1).min(end - 1);
    if from > to {
        return Err(Error::Usage(format!(
            "nothing to run: the journal holds sequences {first} to {}",
            end - 1
        )));
    }
    let (mut replayer, mut replayed_before) = match rules {
        None => replayer_before(&history, from, progress)?,
        Some(rules) => (under_other_rules(&history, rules, "a run")?, 0),
    };
    let began = replayer.last_sequence();
    let started = Instant::now();
    progress.start("run", to - began);
    // Whole inputs' messages gather here and leave in batches of 100; a
    // remainder waits for the next input.
    let mut pending: Vec<Message> = Vec::with_capacity(4 * BATCH);
    let mut messages = 0u64;
    let mut records = history.records(began + 1)?;
    while let Some(record) = records.next()? {
        if record.sequence < from {
            replayer.apply(&record, |_| {})?;
            replayed_before += 1;
            continue;
        }
        replayer.apply_into(&record, &mut pending)?;
        if pending.len() >= BATCH {
            messages += send_full_batches(sink, &mut pending)?;
        }
        if (record.sequence - began) & 0xFFFF == 0 {
            progress.set(record.sequence - began);
        }
        if record.sequence >= to {
            break;
        }
    }
    messages += pending.len() as u64;
    for batch in pending.chunks(BATCH) {
        send(sink, batch)?;
    }
    sink.close().map_err(|e| Error::Output(e.to_string()))?;
    progress.finish();
    Ok(summary(
        &replayer,
        from,
        to,
        replayed_before,
        messages,
        started,
    ))
}

/// Sends every full batch of `pending`, keeping the remainder; returns
/// the messages sent.
fn send_full_batches(sink: &mut impl OutputSink, pending: &mut Vec<Message>) -> Result<u64, Error> {
    let full = pending.len() / BATCH * BATCH;
    for batch in pending[..full].chunks_exact(BATCH) {
        send(sink, batch)?;
    }
    pending.drain(..full);
    Ok(full as u64)
}

/// Sends one batch and marks delivered the last input it completes, as the
/// engine's egress does.
fn send(sink: &mut impl OutputSink, batch: &[Message]) -> Result<(), Error> {
    let failed = |e: engine::endpoint::BoxError| Error::Output(e.to_string());
    sink.send_batch(batch).map_err(failed)?;
    match batch.iter().rev().find(|m| m.last) {
        Some(complete) => sink.mark_delivered(complete.seq).map_err(failed),
        None => Ok(()),
    }
}

fn summary(
    replayer: &Replayer,
    from: u64,
    to: u64,
    replayed_before: u64,
    messages: u64,
    started: Instant,
) -> RunSummary {
    let inputs = replayer
        .last_sequence()
        .saturating_sub(from - 1)
        .min(to - from + 1);
    let seconds = started.elapsed().as_secs_f64();
    RunSummary {
        from,
        to,
        inputs,
        messages,
        replayed_before,
        seconds,
        inputs_per_sec: inputs as f64 / seconds.max(1e-9),
        state_hash: format!("{:016x}", replayer.engine().state_hash()),
    }
}
