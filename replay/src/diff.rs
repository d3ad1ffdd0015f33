//! `replay diff`: where two journals part.
//!
//! Inputs are compared record by record over the sequences both hold: the
//! input itself and where it came from, but not its ingress time, which
//! differs between any two runs on the wall clock. With outputs, both
//! journals are also re-executed in step and their messages compared byte
//! for byte in their wire form. Nothing is written.

use std::path::Path;

use engine::history::History;
use engine::sequenced::{Input, Journaled, Message};
use gateway::wire::encode_message;

use crate::Error;
use crate::dump::replayer_before;
use crate::verify::Progress;

/// Where two journals differ, if they do.
#[derive(Clone, Debug)]
pub struct Differences {
    /// Sequences whose inputs were compared.
    pub compared: u64,
    /// The first sequence where the inputs differ.
    pub input: Option<InputDifference>,
    /// The first `(seq, idx)` where the outputs differ, when compared.
    pub output: Option<OutputDifference>,
}

/// Two records that differ; `None` where one journal has no such record.
#[derive(Clone, Debug)]
pub struct InputDifference {
    /// The sequence.
    pub seq: u64,
    /// Journal A's record.
    pub a: Option<Journaled>,
    /// Journal B's record.
    pub b: Option<Journaled>,
}

/// Two messages that differ; `None` where one run produced no such message.
#[derive(Clone, Debug)]
pub struct OutputDifference {
    /// The input.
    pub seq: u64,
    /// The message's index among its outputs.
    pub idx: u32,
    /// Run A's message.
    pub a: Option<Message>,
    /// Run B's message.
    pub b: Option<Message>,
    /// A's state hash after the input, as 16 hex digits.
    pub a_state_hash: String,
    /// B's.
    pub b_state_hash: String,
}

/// Compares the journals in `a` and `b`; with `outputs`, re-executes both.
pub fn diff(
    a: &Path,
    b: &Path,
    outputs: bool,
    progress: &dyn Progress,
) -> Result<Differences, Error> {
    let (ha, hb) = (History::open(a)?, History::open(b)?);
    let first = ha
        .first_sequence()?
        .unwrap_or(1)
        .max(hb.first_sequence()?.unwrap_or(1));
    let end = ha.reader().end_sequence()?.max(hb.reader().end_sequence()?);
    let mut found = Differences {
        compared: 0,
        input: None,
        output: None,
    };
    let mut replayers = if outputs {
        Some((
            replayer_before(&ha, first, progress)?.0,
            replayer_before(&hb, first, progress)?.0,
        ))
    } else {
        None
    };
    let (mut ra, mut rb) = (ha.records(first)?, hb.records(first)?);
    progress.start("diff", end - first);
    loop {
        let (x, y) = (ra.next()?, rb.next()?);
        if x.is_none() && y.is_none() {
            break;
        }
        let seq = x.or(y).map_or(0, |r| r.sequence);
        found.compared += 1;
        if found.input.is_none() && !same_input(x.as_ref(), y.as_ref()) {
            found.input = Some(InputDifference { seq, a: x, b: y });
            if replayers.is_none() {
                break;
            }
        }
        if let (Some((pa, pb)), Some(x), Some(y)) = (&mut replayers, x, y) {
            let (mut ma, mut mb) = (Vec::new(), Vec::new());
            pa.apply_into(&x, &mut ma)?;
            pb.apply_into(&y, &mut mb)?;
            if let Some(idx) = first_difference(&ma, &mb) {
                found.output = Some(OutputDifference {
                    seq,
                    idx,
                    a: ma.get(idx as usize).copied(),
                    b: mb.get(idx as usize).copied(),
                    a_state_hash: format!("{:016x}", pa.engine().state_hash()),
                    b_state_hash: format!("{:016x}", pb.engine().state_hash()),
                });
                break;
            }
        } else if replayers.is_some() {
            break; // one journal ended; the input difference says so
        }
        if found.compared & 0xFFFF == 0 {
            progress.set(found.compared);
        }
    }
    progress.finish();
    Ok(found)
}

/// Whether two records hold the same input from the same place, whatever
/// their ingress times.
fn same_input(a: Option<&Journaled>, b: Option<&Journaled>) -> bool {
    let timeless = |r: &Journaled| {
        let mut input = r.input;
        if let Input::Command(command) = &mut input {
            command.ts = 0;
        }
        (input, r.source)
    };
    match (a, b) {
        (Some(a), Some(b)) => timeless(a) == timeless(b),
        _ => false,
    }
}

/// The first index at which two inputs' messages differ in wire form.
fn first_difference(a: &[Message], b: &[Message]) -> Option<u32> {
    let wire = |m: &Message| {
        let mut out = Vec::new();
        encode_message(m, &mut out);
        out
    };
    (0..a.len().max(b.len())).find_map(|i| {
        let same = matches!((a.get(i), b.get(i)), (Some(x), Some(y)) if wire(x) == wire(y));
        (!same).then_some(i as u32)
    })
}
