//! Start-up: open the journal, rebuild the engine from a snapshot plus the
//! journal after it, and re-send outputs the sink never confirmed.
//!
//! The snapshot chosen is the newest valid one at or before the sink's
//! delivered sequence, so every output after that point can be re-created by
//! replay; later snapshots are then used to check the replay, by comparing
//! state hashes as replay passes their sequences. Re-sent outputs may
//! duplicate ones delivered just before a crash; `(seq, idx)` tells them
//! apart. This runs before any pipeline thread starts.

use std::time::{Duration, Instant};

use journal::{Journal, SnapshotStore, TornTail, Writer};
use rkyv::rancor;

use super::checkpoint;
use super::input::{ArchivedInput, Input, SourcePosition, SourcePositions};
use super::output::{Emitter, OutputSink, OutputSlot};
use super::stages::{LastMarker, apply_input};
use super::{PipelineConfig, PipelineError};
use crate::Engine;

/// What recovery found and did.
#[derive(Clone, Debug, Default)]
pub struct RecoveryStats {
    /// The snapshot the engine was rebuilt from, if any.
    pub snapshot: Option<u64>,
    /// Journal records applied after the snapshot.
    pub replayed: u64,
    /// Of those, how many had their outputs sent again.
    pub resent: u64,
    /// Later snapshots whose state hash replay reproduced.
    pub hashes_verified: u64,
    /// The torn tail cut off the journal, if any.
    pub torn_tail: Option<TornTail>,
    /// The last journaled sequence.
    pub last_sequence: u64,
    /// What the sink had confirmed before this run.
    pub delivered_through: u64,
    /// Opening the journal: finding its end, cutting a torn tail.
    pub open: Duration,
    /// Choosing, verifying and restoring the snapshot.
    pub restore: Duration,
    /// Replaying the journal after the snapshot and re-sending outputs.
    pub replay: Duration,
    /// All of recovery.
    pub took: Duration,
}

pub(crate) struct Recovered<K> {
    pub engine: Engine,
    pub writer: Writer,
    pub emitter: Emitter<K>,
    pub positions: SourcePositions,
    pub stats: RecoveryStats,
}

pub(crate) fn recover<K: OutputSink>(
    config: &PipelineConfig,
    mut sink: K,
) -> Result<Recovered<K>, PipelineError> {
    let started = Instant::now();
    let journal = Journal::open(&config.journal_dir, config.journal.clone())?;
    let report = journal.report().clone();
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(?torn, "cut a torn record off the journal tail");
    }
    let last = journal.next_sequence() - 1;
    let store = journal.snapshots();
    let reader = journal.reader()?;
    let first = reader.first_sequence()?;
    // Recovered records become durable here (batch and sync modes), so
    // outputs re-sent below pass the gate's rule.
    let writer = journal.into_writer()?;
    let opened = Instant::now();

    let mut delivered = sink.delivered_through().map_err(PipelineError::Sink)?;
    if delivered > last {
        tracing::warn!(
            delivered,
            last,
            "the output sink confirmed sequences the journal does not hold; \
             they are re-created as new inputs arrive"
        );
        delivered = last;
    }

    let (start_seq, mut engine, mut positions, later) =
        choose_start(config, &store, delivered, last, first)?;
    let restored = Instant::now();
    let mut stats = RecoveryStats {
        snapshot: (start_seq > 0).then_some(start_seq),
        torn_tail: report.torn_tail.clone(),
        last_sequence: last,
        delivered_through: delivered,
        ..RecoveryStats::default()
    };

    let mut emitter = Emitter::new(sink, config.batch_size, delivered);
    let mut error = None;
    if start_seq < last {
        let mut cursor = reader.read_from(start_seq + 1)?;
        while let Some(record) = cursor.next()? {
            let seq = record.sequence();
            let archived = record.access::<ArchivedInput>().map_err(|e| {
                PipelineError::Replay(format!("journal record {seq} is not an input: {e}"))
            })?;
            let input = rkyv::deserialize::<Input, rancor::Error>(archived).map_err(|e| {
                PipelineError::Replay(format!("journal record {seq} is not an input: {e}"))
            })?;
            let meta = record.meta();
            let position = SourcePosition {
                partition: meta.source_partition,
                offset: meta.source_offset,
            };
            let template = OutputSlot {
                seq,
                source: position,
                origin_ns: meta.timestamp_ns,
                ..OutputSlot::default()
            };
            let resend = seq > delivered;
            let mut marker = LastMarker::new(|output, last| {
                if resend && error.is_none() {
                    let slot = OutputSlot {
                        output,
                        last,
                        ..template
                    };
                    error = emitter.push(&slot, &mut |_| {}).err();
                }
            });
            apply_input(&mut engine, &input, &mut marker);
            positions.advance(position);
            stats.replayed += 1;
            stats.resent += u64::from(resend);
            if let Some(&(_, recorded)) = later.iter().find(|(s, _)| *s == seq) {
                let replayed = engine.state_hash();
                if replayed != recorded {
                    return Err(PipelineError::HashMismatch {
                        sequence: seq,
                        recorded,
                        replayed,
                    });
                }
                stats.hashes_verified += 1;
            }
            if seq == last {
                break;
            }
        }
    }
    if let Some(err) = error {
        return Err(PipelineError::Sink(err));
    }
    emitter.flush(&mut |_| {}).map_err(PipelineError::Sink)?;
    stats.open = opened - started;
    stats.restore = restored - opened;
    stats.replay = restored.elapsed();
    stats.took = started.elapsed();
    Ok(Recovered {
        engine,
        writer,
        emitter,
        positions,
        stats,
    })
}

type Start = (u64, Engine, SourcePositions, Vec<(u64, u64)>);

/// Picks the snapshot to start from and lists later ones to verify against.
fn choose_start(
    config: &PipelineConfig,
    store: &SnapshotStore,
    delivered: u64,
    last: u64,
    first: Option<u64>,
) -> Result<Start, PipelineError> {
    let mut later = Vec::new();
    // The oldest snapshot after the delivered point whose following records
    // the journal still holds: the fallback that re-sends the most.
    let mut fallback = None;
    for seq in store.list()? {
        if seq > last {
            tracing::warn!(
                seq,
                last,
                "ignoring a snapshot beyond the end of the journal"
            );
            continue;
        }
        let snapshot = match store.load(seq) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "skipping a snapshot that does not verify");
                continue;
            }
        };
        let checkpoint = match checkpoint::decode(snapshot.payload()) {
            Ok(c) if c.sequence == seq => c,
            Ok(c) => {
                tracing::warn!(path = %snapshot.path().display(), inside = c.sequence, "skipping a snapshot whose name and content disagree");
                continue;
            }
            Err(problem) => {
                tracing::warn!(path = %snapshot.path().display(), problem, "skipping a snapshot");
                continue;
            }
        };
        if seq > delivered {
            later.push((seq, checkpoint.state_hash));
            if first.is_none_or(|first| first <= seq + 1) {
                fallback = Some(seq);
            }
            continue;
        }
        if first.is_some_and(|first| first > seq + 1) {
            // Retention went by a delivered mark newer than the one read now
            // (one lost in a power failure): the records after this
            // snapshot are gone, and older snapshots are further back.
            tracing::warn!(
                seq,
                first = first.unwrap_or(0),
                "the journal no longer holds the records after the snapshot at the delivered mark"
            );
            break;
        }
        let engine = restore(config, checkpoint.engine, snapshot.path())?;
        return Ok((seq, engine, checkpoint.positions, later));
    }
    // No snapshot at or before the delivered point: replay from the start,
    // if the journal still has it.
    if first.is_none_or(|f| f <= 1) {
        return Ok((
            0,
            Engine::new(config.engine.clone())?,
            SourcePositions::default(),
            later,
        ));
    }
    let Some(seq) = fallback else {
        return Err(PipelineError::Replay(format!(
            "the journal starts at sequence {} and no valid snapshot covers what came before",
            first.unwrap_or(0)
        )));
    };
    tracing::warn!(
        seq,
        delivered,
        "no usable snapshot precedes the last delivered output and the journal's start was \
         retired; outputs between them cannot be re-sent"
    );
    let snapshot = store.load(seq)?;
    let checkpoint = checkpoint::decode(snapshot.payload()).map_err(PipelineError::Replay)?;
    let engine = restore(config, checkpoint.engine, snapshot.path())?;
    later.retain(|(s, _)| *s > seq);
    Ok((seq, engine, checkpoint.positions, later))
}

fn restore(
    config: &PipelineConfig,
    bytes: &[u8],
    path: &std::path::Path,
) -> Result<Engine, PipelineError> {
    let engine = Engine::restore(bytes, config.engine.memory).map_err(|e| {
        PipelineError::Replay(format!("snapshot {} does not restore: {e}", path.display()))
    })?;
    if engine.config() != &config.engine {
        tracing::warn!(
            path = %path.display(),
            "the snapshot's symbol rules differ from the configuration; the snapshot's \
             rules stay in force, as replay must reproduce the original run"
        );
    }
    Ok(engine)
}
