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
//! The replica also publishes the books of the busiest symbols (by inputs
//! it applied), and each partition's books and orders, for the metrics
//! endpoint, when asked: it has the whole
//! state and the time, and the matcher then does nothing for them. Those
//! figures trail the matcher by the replica's lag.
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
use super::metrics::{BookGauge, PartitionGauge, PipelineMetrics};
use super::retention::{self, Retention};
use crate::history::{History, Records};
use crate::sequenced::{Input, Replayer, SourcePositions, encode_checkpoint};
use crate::{Engine, EngineConfig, Symbol};
use rustc_hash::FxHashMap;

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
    /// A directory shared with the other engines of the shard, where each
    /// snapshot is copied for a standby to start from.
    pub share: Option<PathBuf>,
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
        if let Some(share) = &self.share {
            // A failed copy costs a standby's bootstrap, not this engine's
            // safety: say so and go on.
            let shared = SnapshotStore::new(share);
            match std::fs::create_dir_all(share)
                .map_err(|e| e.to_string())
                .and_then(|()| shared.write(sequence, &payload).map_err(|e| e.to_string()))
            {
                Ok(_) => {
                    let _ = retention::prune_snapshots(&shared, sequence);
                }
                Err(err) => tracing::warn!(
                    share = %share.display(),
                    %err,
                    "cannot copy the snapshot to the shared directory"
                ),
            }
        }
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
    /// Snapshot every this many sequences; `None`: follow only, for the
    /// book figures.
    pub every: Option<u64>,
    /// Publish the books of this many of the busiest symbols (0: none).
    pub book_symbols: usize,
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

/// How often the replica publishes the busiest books.
const BOOKS_EVERY: Duration = Duration::from_secs(1);

/// Inputs applied per symbol, and when the books were last published.
struct BookWatch {
    inputs: FxHashMap<Symbol, u64>,
    published: Option<Instant>,
}

impl BookWatch {
    fn count(&mut self, input: &Input) {
        if let Input::Command(command) = input {
            *self.inputs.entry(command.symbol).or_insert(0) += 1;
        }
    }

    /// Publishes the `top` busiest symbols' books, at most every
    /// [`BOOKS_EVERY`].
    fn publish(&mut self, top: usize, replayer: &Replayer, metrics: &PipelineMetrics) {
        if top == 0 || self.published.is_some_and(|at| at.elapsed() < BOOKS_EVERY) {
            return;
        }
        self.published = Some(Instant::now());
        let mut busiest: Vec<(&Symbol, &u64)> = self.inputs.iter().collect();
        // Ties by name, so the set is stable from one publish to the next.
        busiest.sort_unstable_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let books = busiest
            .into_iter()
            .take(top)
            .filter_map(|(symbol, &inputs)| {
                let summary = replayer.engine().book_summary(symbol)?;
                Some(BookGauge {
                    symbol: symbol.as_str().to_owned(),
                    inputs,
                    bid_orders: summary.bid_orders as u64,
                    ask_orders: summary.ask_orders as u64,
                    best_bid: summary.best_bid,
                    best_ask: summary.best_ask,
                })
            })
            .collect();
        if let Ok(mut shared) = metrics.books.lock() {
            *shared = (replayer.last_sequence(), books);
        }
        let partitions = replayer
            .engine()
            .partition_sizes()
            .into_iter()
            .map(|(partition, books, orders)| PartitionGauge {
                partition,
                books,
                orders,
            })
            .collect();
        if let Ok(mut shared) = metrics.partitions.lock() {
            *shared = partitions;
        }
    }
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
    let mut next_due = plan
        .every
        .map_or(u64::MAX, |every| (plan.newest / every + 1) * every);
    let mut follower: Option<Follower> = None;
    let mut books = BookWatch {
        inputs: FxHashMap::default(),
        published: None,
    };
    // A small journal is never worth a second engine: restore only once
    // the first snapshot is in sight, unless the books are wanted now.
    let restore_from = match plan.every {
        Some(every) if plan.book_symbols == 0 => next_due.saturating_sub(every / 2),
        _ => 0,
    };
    let mut pause = IdlePause::default();
    while !plan.done.load(Ordering::Acquire) && !plan.failed.load(Ordering::Acquire) {
        // What the replica may apply: journaled durably, and delivered.
        let allowed = writer
            .durable
            .load_acquire()
            .min(writer.delivered.load(Ordering::Acquire));
        if allowed < restore_from {
            pause.sleep(allowed);
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
        if let Some(every) = plan.every {
            next_due = next_due.max(allowed / every * every);
        }
        let target = allowed.min(next_due);
        let from = follower.replayer.last_sequence();
        while follower.replayer.last_sequence() < target {
            // The cursor may see records past that point; they wait.
            let Some(record) = follower.records.next()? else {
                break;
            };
            follower.replayer.advance(&record)?;
            books.count(&record.input);
            stats.replica_applied += 1;
        }
        books.publish(plan.book_symbols, &follower.replayer, writer.metrics);
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
            next_due = next_due.saturating_add(plan.every.unwrap_or(u64::MAX));
        } else if at == allowed {
            pause.sleep(allowed);
        }
    }
    Ok(stats)
}

/// The replica's wait for more of the journal: 1 ms while it moves,
/// doubling to 16 ms while it stands still, so an idle engine's replica
/// wakes about 60 times a second rather than 1,000.
struct IdlePause {
    last_allowed: u64,
    pause: Duration,
}

impl Default for IdlePause {
    fn default() -> IdlePause {
        IdlePause {
            last_allowed: u64::MAX,
            pause: Duration::from_millis(1),
        }
    }
}

impl IdlePause {
    fn sleep(&mut self, allowed: u64) {
        self.pause = if allowed == self.last_allowed {
            (self.pause * 2).min(Duration::from_millis(16))
        } else {
            Duration::from_millis(1)
        };
        self.last_allowed = allowed;
        std::thread::sleep(self.pause);
    }
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

/// The snapshot replica of a standby: follows the local journal the
/// follower appends to, up to `gate` (durable and agreed) and `delivered`,
/// and writes this engine's snapshots, until `done`. `None` when the
/// configuration asks for no snapshots.
pub(crate) fn replica_for_follower<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    config: &'env super::PipelineConfig,
    gate: DurableSequence,
    delivered: &'env AtomicU64,
    done: &'env AtomicBool,
    failed: &'env AtomicBool,
) -> Result<
    Option<std::thread::ScopedJoinHandle<'scope, Result<SnapshotStats, PipelineError>>>,
    PipelineError,
> {
    if config.snapshot_every.is_none() {
        return Ok(None);
    }
    let store = SnapshotStore::new(&config.journal_dir);
    let newest = store
        .list()
        .ok()
        .and_then(|l| l.first().copied())
        .unwrap_or(0); // newest first
    let writer = SnapshotWriter {
        store,
        journal_dir: config.journal_dir.clone(),
        retention: config.retention.clone(),
        durable: gate,
        delivered,
        metrics: &config.metrics,
        // Only the leader shares its snapshots: two engines writing the
        // same file name into one directory would trip over each other.
        share: None,
    };
    let plan = ReplicaPlan {
        every: config.snapshot_every,
        book_symbols: 0,
        newest,
        config: config.engine.clone(),
        done,
        failed,
    };
    let helper = super::helper_core(&config.cores);
    super::spawn(scope, "replica", helper, move || {
        run_replica(&plan, &writer)
    })
    .map(Some)
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
    debug_assert!(writer.durable.load_acquire() >= sequence, "synced before");
    writer.write(sequence, positions, engine, stats)
}
