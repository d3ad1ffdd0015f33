//! The replica: a second engine on its own thread that follows the journal
//! and writes the snapshots, so the matcher never stops for one.
//!
//! This is LMAX's design. The replica restores itself from the newest
//! snapshot (or the journal's start), then applies the journaled inputs up
//! to the durable sequence, exactly as recovery would, but no further than
//! the delivered mark: recovery only starts from a snapshot whose outputs
//! were delivered, so one further ahead could not yet retire a segment. Determinism makes its
//! state at sequence N the matcher's state at N, so the snapshot it writes
//! at N is the one the matcher would have written; recovery and `replay
//! verify --deep` check each snapshot's state hash against re-execution.
//! Reading only durable records also means a snapshot never describes
//! inputs the journal could lose.
//!
//! Why not copy the matcher's engine, as the first design did: a copy
//! costs the matcher 10-200 ms at 1M resting orders, and a copy-on-write
//! scheme would put a check on every write the matcher makes. The replica
//! costs the matcher nothing at all; it costs a second engine's memory and
//! CPU on a helper core, about a fifth of the matcher's work per input,
//! since it produces no outputs.
//!
//! Nothing here runs on the matcher thread, and nothing here touches the
//! matcher's engine while the pipeline runs. The final snapshot at a clean
//! exit is written from the matcher's engine after the matcher has stopped
//! ([`write_final`]). Retention runs after each snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use journal::{DurableSequence, SnapshotStore};

use super::PipelineError;
use super::metrics::PipelineMetrics;
use super::retention::{self, Retention};
use crate::history::{History, Records};
use crate::replay::{Replayer, SourcePositions, encode_checkpoint};
use crate::{Engine, EngineConfig};

/// What the replica and the final snapshot did.
#[derive(Clone, Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots written, the final one included.
    pub written: u64,
    /// Of those, written by the replica while the pipeline ran.
    pub by_replica: u64,
    /// The last snapshot's sequence and state hash.
    pub last: Option<(u64, u64)>,
    /// How long the replica took to restore itself, if it started.
    pub replica_restore: Option<Duration>,
    /// Inputs the replica applied while following the journal.
    pub replica_applied: u64,
    /// The furthest the replica fell behind what it may apply (the durable
    /// sequence or the delivered mark, whichever is lower), in inputs, when
    /// it woke up.
    pub replica_max_lag: u64,
    /// Live orders in the largest snapshot.
    pub max_orders: usize,
    /// The longest time serialising, hashing and writing one took.
    pub max_write: Duration,
    /// Journal segments retired (deleted or archived) after snapshots.
    pub segments_retired: u64,
}

/// Where snapshots go, and what retention may remove after each.
pub(crate) struct SnapshotWriter<'a> {
    pub store: SnapshotStore,
    pub journal_dir: PathBuf,
    pub retention: Retention,
    pub durable: DurableSequence,
    /// The highest input whose outputs are delivered, as the sink records it.
    pub delivered: &'a AtomicU64,
    /// Where snapshot figures go while the pipeline runs.
    pub metrics: &'a PipelineMetrics,
}

impl SnapshotWriter<'_> {
    /// Writes the snapshot of `engine` at `sequence`, then applies
    /// retention. The journal must already hold `sequence` durably.
    fn write(
        &self,
        sequence: u64,
        positions: &SourcePositions,
        engine: &Engine,
        stats: &mut SnapshotStats,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let state = engine.snapshot();
        let (payload, state_hash) = encode_checkpoint(sequence, positions, &state);
        self.store.write(sequence, &payload).map_err(|cause| {
            PipelineError::storage("write a snapshot", &self.journal_dir, payload.len(), cause)
        })?;
        let took = started.elapsed();
        tracing::info!(
            sequence,
            orders = engine.live_orders(),
            write_ms = took.as_millis() as u64,
            "snapshot written"
        );
        stats.written += 1;
        stats.last = Some((sequence, state_hash));
        let metrics = self.metrics;
        metrics
            .snapshot_write_ns
            .store(took.as_nanos() as u64, Ordering::Relaxed);
        metrics.snapshot_sequence.store(sequence, Ordering::Relaxed);
        metrics.snapshots_written.fetch_add(1, Ordering::Relaxed);
        stats.max_orders = stats.max_orders.max(engine.live_orders());
        stats.max_write = stats.max_write.max(took);
        self.retain(stats)
    }

    /// Prunes snapshots and retires segments that recovery no longer
    /// needs, by the delivered mark as it stands.
    fn retain(&self, stats: &mut SnapshotStats) -> Result<(), PipelineError> {
        let delivered = self.delivered.load(Ordering::Acquire);
        let cleanup =
            |cause| PipelineError::storage("apply journal retention", &self.journal_dir, 0, cause);
        retention::prune_snapshots(&self.store, delivered).map_err(cleanup)?;
        let retired =
            retention::retire(&self.journal_dir, &self.retention, delivered).map_err(cleanup)?;
        stats.segments_retired += retired.segments.len() as u64;
        Ok(())
    }
}

/// When the replica snapshots, and when it stops.
pub(crate) struct ReplicaPlan<'a> {
    /// Snapshot every this many sequences.
    pub every: u64,
    /// The newest snapshot on disk when the run started.
    pub newest: u64,
    /// Rules for an engine started from the journal's beginning.
    pub config: EngineConfig,
    /// Raised once the journaler and matcher have ended.
    pub done: &'a AtomicBool,
    /// Raised by a failing stage; raised here when the replica fails,
    /// which stops input: carrying on would let the journal grow with no
    /// snapshot to cut it.
    pub failed: &'a AtomicBool,
}

/// The replica engine and its place in the journal.
struct Follower {
    replayer: Replayer,
    records: Records,
}

/// Follows the journal until the pipeline ends, writing a snapshot at each
/// multiple of `plan.every` once the journal holds it durably.
pub(crate) fn run_replica(
    plan: &ReplicaPlan<'_>,
    writer: &SnapshotWriter<'_>,
) -> Result<SnapshotStats, PipelineError> {
    let result = follow(plan, writer);
    if result.is_err() {
        plan.failed.store(true, Ordering::Release);
    }
    result
}

fn follow(
    plan: &ReplicaPlan<'_>,
    writer: &SnapshotWriter<'_>,
) -> Result<SnapshotStats, PipelineError> {
    let mut stats = SnapshotStats::default();
    let mut next_due = (plan.newest / plan.every + 1) * plan.every;
    let mut follower: Option<Follower> = None;
    // A small journal is never worth a second engine: restore only once
    // the first snapshot is in sight.
    let restore_from = next_due.saturating_sub(plan.every / 2);
    while !plan.done.load(Ordering::Acquire) && !plan.failed.load(Ordering::Acquire) {
        // What the replica may apply: journaled durably, and delivered.
        let allowed = writer
            .durable
            .get()
            .min(writer.delivered.load(Ordering::Acquire));
        if allowed < restore_from {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let follower = match &mut follower {
            Some(follower) => follower,
            None => follower.insert(start(&writer.journal_dir, next_due, plan, &mut stats)?),
        };
        let behind = allowed.saturating_sub(follower.replayer.last_sequence());
        stats.replica_max_lag = stats.replica_max_lag.max(behind);
        writer.metrics.replica_lag.store(behind, Ordering::Relaxed);
        // Writing a snapshot takes longer than applying an interval's
        // inputs; when more than one is due, only the newest is written, so
        // retention keeps up with the journal.
        next_due = next_due.max(allowed / plan.every * plan.every);
        let target = allowed.min(next_due);
        let from = follower.replayer.last_sequence();
        while follower.replayer.last_sequence() < target {
            // The cursor may see records past that point; they wait.
            let Some(record) = follower.records.next()? else {
                break;
            };
            follower.replayer.advance(&record)?;
            stats.replica_applied += 1;
        }
        let at = follower.replayer.last_sequence();
        if at == from && at < target {
            // Not readable yet (a segment still being named): wait.
            std::thread::sleep(Duration::from_millis(1));
        } else if at == next_due {
            writer.write(
                at,
                follower.replayer.positions(),
                follower.replayer.engine(),
                &mut stats,
            )?;
            stats.by_replica += 1;
            next_due += plan.every;
        } else if at == allowed {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(stats)
}

/// Restores the replica from the newest usable snapshot at or before
/// `due`, as recovery does, and opens the journal after it.
fn start(
    dir: &Path,
    due: u64,
    plan: &ReplicaPlan<'_>,
    stats: &mut SnapshotStats,
) -> Result<Follower, PipelineError> {
    let started = Instant::now();
    let history = History::open(dir)?;
    let replayer = history.replayer_at(due, &plan.config)?.replayer;
    let records = history.records(replayer.last_sequence() + 1)?;
    stats.replica_restore = Some(started.elapsed());
    tracing::info!(
        from = replayer.last_sequence(),
        orders = replayer.engine().live_orders(),
        took_ms = started.elapsed().as_millis() as u64,
        "replica restored"
    );
    Ok(Follower { replayer, records })
}

/// The snapshot at a clean exit, from the matcher's engine after the
/// matcher has stopped, unless the newest snapshot is already there; then
/// retention by the final delivered mark.
pub(crate) fn write_final(
    writer: &SnapshotWriter<'_>,
    sequence: u64,
    positions: &SourcePositions,
    engine: &Engine,
    newest: u64,
    stats: &mut SnapshotStats,
) -> Result<(), PipelineError> {
    if sequence <= newest {
        // Retention once more, with the final delivered mark.
        return writer.retain(stats);
    }
    debug_assert!(writer.durable.get() >= sequence, "synced before");
    writer.write(sequence, positions, engine, stats)
}
