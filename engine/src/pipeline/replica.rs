//! The snapshot thread: turns the matcher's copies of the engine into
//! snapshot files, off the matcher, then applies retention.
//!
//! The matcher only *copies* its state (`clone_from` into a spare engine
//! that this thread hands back after each use, so the copy lands in memory
//! that is already mapped); serialising into canonical form, hashing and
//! writing the file happen here, after the journal holds the sequence
//! durably, so a snapshot never describes inputs the journal could lose.
//! Nothing here runs on the matcher thread. The file's content is a
//! checkpoint (`crate::replay::encode_checkpoint`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use journal::{DurableSequence, SnapshotStore};

use super::PipelineError;
use super::retention::{self, Retention};
use crate::Engine;
use crate::replay::{SourcePositions, encode_checkpoint};

/// A copy handed from the matcher to the snapshot thread.
pub(crate) struct SnapshotRequest {
    pub sequence: u64,
    /// A copy of the engine at `sequence`, made by `clone_from` into a
    /// spare so the matcher only pays for a memory copy.
    pub state: Box<Engine>,
    pub positions: SourcePositions,
    /// How long the copy held up the matcher.
    pub stall: Duration,
}

/// What the snapshot thread did.
#[derive(Clone, Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots written.
    pub written: u64,
    /// The last snapshot's sequence and state hash.
    pub last: Option<(u64, u64)>,
    /// The longest time a copy held up the matcher.
    pub max_stall: Duration,
    /// The first copy's stall: it also pays for fresh memory, which later
    /// copies reuse.
    pub first_stall: Option<Duration>,
    /// The total time copies held up the matcher.
    pub total_stall: Duration,
    /// Live orders in the largest copy.
    pub max_orders: usize,
    /// The longest time serialising, hashing and writing one took, off the
    /// matcher.
    pub max_write: Duration,
    /// Journal segments retired (deleted or archived) after snapshots.
    pub segments_retired: u64,
}

/// What the snapshot thread works with besides the requests.
pub(crate) struct SnapshotWriter<'a> {
    pub store: SnapshotStore,
    pub journal_dir: PathBuf,
    pub retention: Retention,
    pub durable: DurableSequence,
    /// The highest input whose outputs are delivered, as the sink records it.
    pub delivered: &'a AtomicU64,
    /// Raised by a failing stage; raised here when a snapshot cannot be
    /// written, which stops input.
    pub failed: &'a AtomicBool,
}

/// Writes snapshots as they arrive until the matcher hangs up, handing
/// each copy back to the matcher as the next spare, and applies retention
/// after each one. A snapshot that cannot be written stops the pipeline:
/// carrying on would let the journal grow with no snapshot to cut it.
pub(crate) fn run_snapshot_thread(
    requests: Receiver<SnapshotRequest>,
    recycle: Sender<Box<Engine>>,
    writer: SnapshotWriter<'_>,
) -> Result<SnapshotStats, PipelineError> {
    let result = write_snapshots(requests, recycle, &writer);
    if result.is_err() {
        writer.failed.store(true, Ordering::Release);
    }
    result
}

fn write_snapshots(
    requests: Receiver<SnapshotRequest>,
    recycle: Sender<Box<Engine>>,
    writer: &SnapshotWriter<'_>,
) -> Result<SnapshotStats, PipelineError> {
    let mut stats = SnapshotStats::default();
    for request in requests {
        // The journal must hold the sequence before a snapshot may claim it.
        while writer.durable.get() < request.sequence {
            if writer.failed.load(Ordering::Acquire) {
                return Ok(stats);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let started = Instant::now();
        let state = request.state.snapshot();
        let (payload, state_hash) = encode_checkpoint(request.sequence, &request.positions, &state);
        writer
            .store
            .write(request.sequence, &payload)
            .map_err(|cause| {
                PipelineError::storage(
                    "write a snapshot",
                    &writer.journal_dir,
                    payload.len(),
                    cause,
                )
            })?;
        let took = started.elapsed();
        let delivered = writer.delivered.load(Ordering::Acquire);
        let cleanup = |cause| {
            PipelineError::storage("apply journal retention", &writer.journal_dir, 0, cause)
        };
        retention::prune_snapshots(&writer.store, delivered).map_err(cleanup)?;
        let retired = retention::retire(&writer.journal_dir, &writer.retention, delivered)
            .map_err(cleanup)?;
        tracing::info!(
            sequence = request.sequence,
            orders = request.state.live_orders(),
            stall_us = request.stall.as_micros() as u64,
            write_ms = took.as_millis() as u64,
            segments_retired = retired.segments.len(),
            "snapshot written"
        );
        stats.written += 1;
        stats.first_stall.get_or_insert(request.stall);
        stats.last = Some((request.sequence, state_hash));
        stats.max_stall = stats.max_stall.max(request.stall);
        stats.total_stall += request.stall;
        stats.max_orders = stats.max_orders.max(request.state.live_orders());
        stats.max_write = stats.max_write.max(took);
        stats.segments_retired += retired.segments.len() as u64;
        // The matcher may have stopped listening; then the memory is freed.
        let _ = recycle.send(request.state);
    }
    Ok(stats)
}
