//! How results look: tables for people, JSON lines for scripts, progress
//! bars on stderr. Nothing here reads the journal.

use std::cell::RefCell;
use std::io::Write;
use std::time::Duration;

use comfy_table::{Table, presets};
use engine::sequenced::{Handover, Input, Journaled, Message, MessageBody};
use gateway::wire::{encode_admin, encode_message, encode_message_of, encode_order};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use replay::Progress;
use serde::Serialize;
use serde_json::value::RawValue;

/// `println!` that returns write errors instead of panicking, so
/// `replay info | head` ends quietly when the reader goes away.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

/// True when the error is stdout's reader having gone away (`| head`),
/// which ends the command quietly, as `cat` and `rg` do.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A table with a header row and no borders, like `kubectl get`.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    table
}

/// Prints one JSON object on its own line.
pub fn json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The engine id the journal at `dir` is bound to, if any: its messages
/// carry it, and so do the tool's renderings of them.
pub fn journal_engine_id(dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    gateway::config::journal_engine_id(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}'s engine id: {e}", dir.display()))
}

/// A message in wire form, as raw JSON for embedding byte for byte: as
/// sent by the engine `engine_id` (the journal's, if it has one).
pub fn wire(engine_id: Option<&str>, message: &Message) -> Box<RawValue> {
    let mut out = Vec::new();
    encode_message_of(engine_id, message, &mut out);
    raw(out)
}

fn raw(bytes: Vec<u8>) -> Box<RawValue> {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    RawValue::from_string(text).unwrap_or_else(|_| {
        // Encoders only ever write JSON.
        RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())
    })
}

/// An input in its topic's wire form (`orders` canonical, or `admin`),
/// or, for a message that did not decode, the `REJECTED` the engine
/// answered it with, appended to `out`. Returns whether it was a command.
pub fn write_input(record: &Journaled, out: &mut Vec<u8>) -> bool {
    match record.input {
        Input::Command(command) => {
            encode_order(&command, out);
            true
        }
        Input::Admin(command) => {
            encode_admin(&command, None, out);
            true
        }
        Input::Malformed(malformed) => {
            encode_message(&rejection(record, MessageBody::Undecodable(malformed)), out);
            false
        }
        Input::MalformedAdmin(malformed) => {
            let body = MessageBody::UndecodableAdmin(malformed);
            encode_message(&rejection(record, body), out);
            false
        }
        Input::Handover(step) => {
            write_handover(&step, out);
            true
        }
    }
}

/// A move's journaled step as JSON: what it says, not a piece's bytes.
fn write_handover(step: &Handover, out: &mut Vec<u8>) {
    let value = match step {
        Handover::Piece {
            move_id,
            index,
            len,
            ..
        } => serde_json::json!({
            "handover": "PIECE", "move_id": move_id.as_str(), "index": index, "len": len,
        }),
        Handover::Acquire {
            move_id,
            partition,
            after_offset,
            from,
            len,
            digest,
        } => serde_json::json!({
            "handover": "ACQUIRE", "move_id": move_id.as_str(), "partition": partition,
            "after_offset": after_offset, "from": from.as_str(), "len": len,
            "digest": format!("{digest:016x}"),
        }),
        Handover::Outcome {
            move_id,
            partition,
            moved,
        } => serde_json::json!({
            "handover": "OUTCOME", "move_id": move_id.as_str(), "partition": partition,
            "moved": moved,
        }),
    };
    // Writing a JSON value into memory cannot fail.
    let _ = serde_json::to_writer(out, &value);
}

/// [`write_input`] as raw JSON: `(command, rejected)`, one of them set.
pub fn input_wire(record: &Journaled) -> (Option<Box<RawValue>>, Option<Box<RawValue>>) {
    let mut out = Vec::new();
    if write_input(record, &mut out) {
        (Some(raw(out)), None)
    } else {
        (None, Some(raw(out)))
    }
}

fn rejection(record: &Journaled, body: MessageBody) -> Message {
    Message {
        seq: record.sequence,
        idx: 0,
        source: record.source,
        origin_ns: record.timestamp_ns,
        last: true,
        body,
    }
}

/// A progress bar on stderr: indicatif hides it when stderr is not a
/// terminal, so scripts and logs get none.
#[derive(Default)]
pub struct Bar {
    current: RefCell<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(phase.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self.current.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }

    fn set(&self, done: u64) {
        if let Some(bar) = self.current.borrow().as_ref() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}
