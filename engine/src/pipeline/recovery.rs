//! Start-up: open the journal, rebuild the engine from a snapshot plus the
//! journal after it, and re-send outputs the sink never confirmed.
//!
//! The snapshot chosen is the newest valid one at or before the sink's
//! delivered sequence, so every output after that point can be re-created by
//! replay; later snapshots are then used to check the replay, by comparing
//! state hashes as replay passes their sequences. Re-sent outputs may
//! duplicate ones delivered just before a crash; `(seq, idx)` tells them
//! apart. Reading the journal and replaying it is `crate::history` and
//! `crate::sequenced`, which the `replay` tool uses too; this module adds the
//! writer, the delivered mark and the sink. It runs before any pipeline
//! thread starts.

use std::time::{Duration, Instant};

use journal::{Journal, TornTail, Writer};

use super::output::Emitter;
use super::{PipelineConfig, PipelineError};
use crate::Engine;
use crate::endpoint::OutputSink;
use crate::history::{History, HistoryError, Start};
use crate::sequenced::{INPUT_FORMAT, SourcePositions};

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
    /// The journal's last ingress stamp (0 if it is empty): the floor of
    /// this run's stamps.
    pub last_stamp: u64,
}

pub(crate) fn recover<K: OutputSink>(
    config: &PipelineConfig,
    mut sink: K,
) -> Result<Recovered<K>, PipelineError> {
    let started = Instant::now();
    // Records this build writes are inputs of INPUT_FORMAT, whatever the
    // caller's options say: the journal carries the tag in each segment.
    let options = config.journal.clone().payload_format(INPUT_FORMAT);
    let journal = Journal::open(&config.journal_dir, options)?;
    let report = journal.report().clone();
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(?torn, "cut a torn record off the journal tail");
    }
    let last = journal.next_sequence() - 1;
    let history = History::open(journal.dir())?;
    let last_stamp = last_stamp(&history, last)?;
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
    let start = choose_start(config, &history, delivered, last)?;
    let restored = Instant::now();
    let Start {
        mut replayer,
        snapshot,
        ..
    } = start;
    let mut stats = RecoveryStats {
        snapshot,
        torn_tail: report.torn_tail.clone(),
        last_sequence: last,
        delivered_through: delivered,
        ..RecoveryStats::default()
    };

    let mut emitter = Emitter::new(sink, config.batch_size, delivered);
    let mut error = None;
    if replayer.last_sequence() < last {
        let mut records = history.records(replayer.last_sequence() + 1)?;
        while let Some(record) = records.next()? {
            let resend = record.sequence > delivered;
            replayer.apply(&record, |message| {
                if resend && error.is_none() {
                    error = emitter.resend(message).err();
                }
            })?;
            stats.replayed += 1;
            stats.resent += u64::from(resend);
            if record.sequence == last {
                break;
            }
        }
    }
    if let Some(err) = error {
        return Err(PipelineError::Sink(err));
    }
    emitter.flush(&mut |_| {}).map_err(PipelineError::Sink)?;
    stats.hashes_verified = replayer.hashes_verified();
    stats.open = opened - started;
    stats.restore = restored - opened;
    stats.replay = restored.elapsed();
    stats.took = started.elapsed();
    let (engine, positions) = replayer.into_parts();
    Ok(Recovered {
        engine,
        writer,
        emitter,
        positions,
        stats,
        last_stamp,
    })
}

/// The ingress stamp of record `last`, or 0 if the journal is empty.
fn last_stamp(history: &History, last: u64) -> Result<u64, PipelineError> {
    if last == 0 {
        return Ok(0);
    }
    let mut cursor = history.reader().read_from(last)?;
    Ok(cursor
        .next()?
        .map_or(0, |record| record.meta().timestamp_ns))
}

/// The newest usable snapshot at or before the delivered point, so every
/// output after it can be re-created; else, if the journal's start was
/// retired, the oldest usable one after it, losing the outputs between.
fn choose_start(
    config: &PipelineConfig,
    history: &History,
    delivered: u64,
    last: u64,
) -> Result<Start, PipelineError> {
    let start = match history.replayer_at(delivered, &config.engine) {
        Err(HistoryError::NoStart { first, .. }) => {
            tracing::warn!(
                delivered,
                first,
                "no usable snapshot precedes the last delivered output and the journal's start \
                 was retired; outputs between them cannot be re-sent"
            );
            history.replayer_after(delivered, last, &config.engine)?
        }
        start => start?,
    };
    for (path, problem) in &start.skipped {
        tracing::warn!(path = %path.display(), problem, "skipping a snapshot that does not verify");
    }
    if start.snapshot.is_some() && start.replayer.engine().config() != &config.engine {
        tracing::warn!(
            snapshot = start.snapshot,
            "the snapshot's symbol rules differ from the configuration; the snapshot's \
             rules stay in force, as replay must reproduce the original run"
        );
    }
    Ok(start)
}
