//! `replay snapshot` and `replay truncate`: the only two operations that
//! write, and both only with the journal's lock held, so never beside a
//! running engine.
//!
//! A snapshot written here is exactly what the engine would have written
//! at that sequence (the same replay, the same checkpoint codec), so the
//! next recovery can start from it. A truncation moves everything after a
//! sequence into a `quarantine-<time>/` folder beside the segments and
//! deletes nothing.

use std::path::{Path, PathBuf};

use engine::history::History;
use engine::sequenced::encode_checkpoint;
use journal::{DirLock, SnapshotStore, Truncated};
use serde::Serialize;

use crate::Error;
use crate::dump::replayer_before;
use crate::verify::Progress;

/// A snapshot [`snapshot_at`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotWritten {
    /// The sequence it covers.
    pub seq: u64,
    /// The file.
    pub file: PathBuf,
    /// Its state hash, as 16 hex digits.
    pub state_hash: String,
    /// Inputs re-executed to reach it.
    pub replayed: u64,
}

fn lock(dir: &Path) -> Result<DirLock, Error> {
    DirLock::acquire(dir).map_err(|err| match err {
        journal::Error::Locked { path } => Error::Usage(format!(
            "an engine (or another tool) holds the journal's lock {}; stop it first",
            path.display()
        )),
        err => err.into(),
    })
}

/// Writes a snapshot of the state after input `seq` into the journal's
/// snapshot store. Refuses while an engine holds the journal.
pub fn snapshot_at(
    dir: &Path,
    seq: u64,
    progress: &dyn Progress,
) -> Result<SnapshotWritten, Error> {
    let _lock = lock(dir)?;
    let history = History::open(dir)?;
    let (replayer, replayed) = replayer_before(&history, seq + 1, progress)?;
    if replayer.last_sequence() != seq {
        return Err(Error::Usage(format!(
            "the journal ends at sequence {}, before {seq}",
            replayer.last_sequence()
        )));
    }
    let state = replayer.engine().snapshot();
    let (payload, state_hash) = encode_checkpoint(seq, replayer.positions(), &state);
    let file = SnapshotStore::new(dir).write(seq, &payload)?;
    Ok(SnapshotWritten {
        seq,
        file,
        state_hash: format!("{state_hash:016x}"),
        replayed,
    })
}

/// What a truncation would do.
#[derive(Clone, Debug, Serialize)]
pub struct TruncatePlan {
    /// The last sequence kept.
    pub after: u64,
    /// The last sequence in the journal now.
    pub last: u64,
    /// Where everything after goes.
    pub quarantine: PathBuf,
    /// Segment files that move whole.
    pub segments: Vec<PathBuf>,
    /// Snapshot files that move.
    pub snapshots: Vec<PathBuf>,
    /// The Kafka delivered mark, when it is past `after`: consumers have
    /// seen outputs of inputs that will be given other sequence numbers.
    pub delivered_past: Option<u64>,
}

/// What truncating the journal in `dir` after `after` would move, into a
/// quarantine named for `now` (UTC, as `YYYYMMDDTHHMMSSZ`).
pub fn plan_truncate(dir: &Path, after: u64, now: &str) -> Result<TruncatePlan, Error> {
    let history = History::open(dir)?;
    let reader = history.reader();
    let last = reader.end_sequence().unwrap_or(1).saturating_sub(1);
    let segments = reader
        .segment_files()?
        .into_iter()
        .filter(|(first, _)| *first > after)
        .map(|(_, path)| path)
        .collect();
    let snapshots = history
        .snapshots()?
        .into_iter()
        .filter(|e| e.sequence > after)
        .map(|e| e.path)
        .collect();
    let delivered =
        gateway::delivered::DeliveredMark::read(&dir.join(gateway::kafka::DELIVERED_FILE))
            .ok()
            .flatten();
    Ok(TruncatePlan {
        after,
        last,
        quarantine: dir.join(format!("quarantine-{now}")),
        segments,
        snapshots,
        delivered_past: delivered.filter(|d| *d > after),
    })
}

/// Carries out `plan`: the log then ends at `plan.after`, and what came
/// after is in `plan.quarantine`. Refuses while an engine holds the journal.
pub fn truncate_after(dir: &Path, plan: &TruncatePlan) -> Result<Truncated, Error> {
    let lock = lock(dir)?;
    Ok(lock.truncate_after(plan.after, &plan.quarantine)?)
}
