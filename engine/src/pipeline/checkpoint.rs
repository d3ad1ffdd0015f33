//! Pipeline snapshots: the engine state at a sequence, with the state hash
//! and the source positions that go with it.
//!
//! The matcher only *copies* its state (`clone_from` into a spare engine
//! that the snapshot thread hands back after each use, so the copy lands in
//! memory that is already mapped); serialising into canonical form, hashing
//! and writing the file happen on the `snapshot` thread, after the journal
//! holds the sequence durably, so a snapshot never describes inputs the
//! journal could lose. Nothing here runs on the matcher thread.
//!
//! Payload layout inside the journal's snapshot file (little-endian):
//!
//! ```text
//! magic "MXCKPT\0\0" | version u32 | count u32 | sequence u64 | state_hash u64
//! count × (partition i32, reserved u32, offset i64)
//! engine snapshot bytes (Engine::snapshot)
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use journal::{DurableSequence, SnapshotStore};

use super::PipelineError;
use super::input::{SourcePosition, SourcePositions};
use super::retention::{self, Retention};
use crate::Engine;

const MAGIC: [u8; 8] = *b"MXCKPT\0\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const POSITION_LEN: usize = 16;

/// A decoded pipeline snapshot.
#[derive(Debug)]
pub(crate) struct Checkpoint<'a> {
    pub sequence: u64,
    pub state_hash: u64,
    pub positions: SourcePositions,
    pub engine: &'a [u8],
}

pub(crate) fn encode(sequence: u64, positions: &SourcePositions, engine: &[u8]) -> (Vec<u8>, u64) {
    let state_hash = xxhash_rust::xxh3::xxh3_64(engine);
    let count = positions.iter().count();
    let mut out = Vec::with_capacity(HEADER_LEN + count * POSITION_LEN + engine.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&state_hash.to_le_bytes());
    for p in positions.iter() {
        out.extend_from_slice(&p.partition.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&p.offset.to_le_bytes());
    }
    out.extend_from_slice(engine);
    (out, state_hash)
}

pub(crate) fn decode(payload: &[u8]) -> Result<Checkpoint<'_>, String> {
    let word = |at: usize, len: usize| -> Result<&[u8], String> {
        payload
            .get(at..at + len)
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    if word(0, 8)? != MAGIC {
        return Err("not a pipeline snapshot (bad magic)".into());
    }
    let u32_at = |at| word(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |at| word(at, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let version = u32_at(8)?;
    if version != VERSION {
        return Err(format!(
            "pipeline snapshot version {version}; this build reads {VERSION}"
        ));
    }
    let count = u32_at(12)? as usize;
    let sequence = u64_at(16)?;
    let state_hash = u64_at(24)?;
    let mut positions = SourcePositions::default();
    for i in 0..count {
        let at = HEADER_LEN + i * POSITION_LEN;
        let partition = u32_at(at)? as i32;
        let offset = u64_at(at + 8)? as i64;
        positions.advance(SourcePosition { partition, offset });
    }
    let engine = &payload[(HEADER_LEN + count * POSITION_LEN).min(payload.len())..];
    if xxhash_rust::xxh3::xxh3_64(engine) != state_hash {
        return Err("engine state does not match its recorded hash".into());
    }
    Ok(Checkpoint {
        sequence,
        state_hash,
        positions,
        engine,
    })
}

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
        let (payload, state_hash) = encode(request.sequence, &request.positions, &state);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_catches_damage() {
        let mut positions = SourcePositions::default();
        positions.advance(SourcePosition {
            partition: 0,
            offset: 41,
        });
        positions.advance(SourcePosition {
            partition: 3,
            offset: 7,
        });
        let (mut bytes, hash) = encode(99, &positions, b"engine-state");
        let back = decode(&bytes).unwrap();
        assert_eq!((back.sequence, back.state_hash), (99, hash));
        assert_eq!(back.positions, positions);
        assert_eq!(back.engine, b"engine-state");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode(&bytes).unwrap_err().contains("hash"));
        assert!(decode(&bytes[..20]).unwrap_err().contains("truncated"));
    }
}
