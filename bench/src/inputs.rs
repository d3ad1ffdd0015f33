//! Journals of engine inputs written as the server writes them, for the
//! benchmarks that need one to start from (`replay`, recovery in
//! `snapshot`).
//!
//! Each command becomes a record in the server's schema and payload format,
//! and is applied to an engine, whose checkpoints go into the snapshot
//! store at the chosen sequences, so a recovery or a replay tool reads the
//! files exactly as it would read a server's. It never runs the pipeline.

use std::path::Path;

use engine::sequenced::{Input, SourcePosition, SourcePositions, encode_checkpoint, encode_input};
use engine::{Command, Engine, EventSink};
use journal::{Journal, JournalOptions, RecordMeta, SnapshotStore};
use rkyv::util::AlignedVec;

/// Counts events, so the engine applies commands as the server's does.
struct Count(u64);

impl EventSink for Count {
    fn on_event(&mut self, _: &engine::Event) {
        self.0 += 1;
    }
}

/// Journals `commands` into `dir` (sequences from 1, partition 0, the
/// sequence as offset, each command's `ts` as ingress stamp), applying
/// each to `engine`, and writes a checkpoint after every sequence for
/// which `snapshot_at` holds. Returns the last sequence.
pub(crate) fn journal_commands(
    dir: &Path,
    engine: &mut Engine,
    commands: impl IntoIterator<Item = Command>,
    segment_size: u64,
    snapshot_at: impl Fn(u64) -> bool,
) -> anyhow::Result<u64> {
    let options = JournalOptions::new()
        .payload_format(engine::sequenced::INPUT_FORMAT)
        .segment_size(segment_size);
    let mut writer = Journal::open(dir, options)?.into_writer()?;
    let store = SnapshotStore::new(dir);
    let mut positions = SourcePositions::default();
    let mut buffer = AlignedVec::new();
    let mut events = Count(0);
    let mut last = 0;
    for (i, command) in commands.into_iter().enumerate() {
        let seq = i as u64 + 1;
        let meta = RecordMeta {
            timestamp_ns: command.ts,
            source_partition: 0,
            source_offset: seq as i64,
        };
        encode_input(&Input::Command(command), &mut buffer);
        writer.append(&meta, &buffer)?;
        engine.apply_from(&command, meta.source_partition, &mut events);
        positions.advance(SourcePosition::orders(0, seq as i64));
        if snapshot_at(seq) {
            let (payload, _) = encode_checkpoint(seq, &positions, &engine.snapshot());
            store.write(seq, &payload)?;
        }
        last = seq;
    }
    writer.close()?;
    Ok(last)
}
