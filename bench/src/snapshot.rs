//! The snapshot benchmark: what a snapshot costs the matcher, and what a
//! restart costs, for a book of N resting orders.
//!
//! The book is journaled as the server journals it, with a snapshot after
//! the last order, so the restart measured is the real one: the pipeline's
//! recovery (journal open, snapshot restore, replay) on those files. The
//! restarted pipeline then takes paced input for a second, twice more
//! without a replica and once while its replica restores itself and writes
//! a snapshot of the whole book; the matcher's latency in the last two
//! seconds is compared. The parts are also
//! timed alone: serialising, restoring from bytes, and what the previous
//! design made the matcher pay, a copy of the engine.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use engine::pipeline::{PipelineConfig, run};
use engine::{
    Command, Engine, EngineConfig, MemoryConfig, OrderId, OrderSpec, Side, Symbol, UserId,
};
use serde::Serialize;

use crate::inputs::journal_commands;
use crate::pipeline::{CountingSink, PacedSource};

/// Figures for one book size.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotReport {
    /// Resting orders in the engine.
    pub orders: usize,
    /// What one snapshot costs the matcher thread, in µs. The replica
    /// design gives the matcher no snapshot work, so this is zero by
    /// construction; `matched_max_us` is the measured check of it.
    pub matcher_stall_us: f64,
    /// Snapshots the replica wrote during the paced second (at least one).
    pub replica_snapshots: u64,
    /// The replica restoring itself from the snapshot on disk, on its own
    /// thread while the pipeline ran.
    pub replica_restore_ms: f64,
    /// The replica serialising and writing the whole book, on its thread.
    pub replica_write_ms: f64,
    /// Ingress to matched at p99 over the paced second, in µs: what the
    /// matcher's inputs saw while the replica worked beside it. On a host
    /// with fewer cores than threads this includes CPU contention.
    pub matched_p99_us: f64,
    /// The same, the largest.
    pub matched_max_us: f64,
    /// Ingress to matched at p99 over a paced second with no replica at
    /// work, in µs: the baseline for `matched_p99_us`.
    pub matched_alone_p99_us: f64,
    /// The same, the largest.
    pub matched_alone_max_us: f64,
    /// The previous design's stall, for comparison: copying the engine
    /// into a warm spare (`clone_from`) on the matcher.
    pub copy_warm_ms: f64,
    /// Serialising to canonical bytes (off the matcher).
    pub encode_ms: f64,
    /// Snapshot size.
    pub snapshot_bytes: usize,
    /// Rebuilding an engine from the bytes (part of recovery).
    pub restore_ms: f64,
    /// Of that, what an empty engine of the same capacity costs to build
    /// (allocating and prefaulting its arena), which any start pays.
    pub empty_engine_ms: f64,
    /// A whole clean restart of the pipeline on the journal and the
    /// snapshot after its last order: journal open, snapshot restore,
    /// replay (none after a clean stop).
    pub recovery_ms: f64,
    /// Of that, opening the journal.
    pub recovery_open_ms: f64,
    /// Of that, choosing, checking and restoring the snapshot.
    pub recovery_restore_ms: f64,
}

/// New orders per second after the restart, for one second.
const PACED_RATE: u64 = 100_000;

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Builds a book of `orders` resting orders over 100 symbols (no trades:
/// bids below 9,500, asks above 10,500), journaled in a scratch directory
/// under `scratch` with a snapshot after the last, and times each step.
pub fn run_snapshot_once(
    orders: usize,
    seed: u64,
    scratch: &std::path::Path,
) -> Result<SnapshotReport, Box<dyn std::error::Error + Send + Sync>> {
    let config = EngineConfig {
        max_symbols: 1_000,
        memory: MemoryConfig {
            order_capacity: u32::try_from(orders.next_power_of_two().max(1 << 16))?,
            prefault: true,
        },
        ..EngineConfig::default()
    };
    // The book, then three seconds of new resting orders at PACED_RATE.
    let commands = book_of(orders + 3 * PACED_RATE as usize, seed)?;
    let (book, paced) = commands.split_at(orders);
    let dir = tempfile::Builder::new()
        .prefix("bench-snapshot-")
        .tempdir_in(scratch)?;
    let journal = dir.path().join("journal");
    let mut engine = Engine::new(config.clone())?;
    let last = journal_commands(
        &journal,
        &mut engine,
        book.iter().copied(),
        1 << 30,
        |seq| seq == orders as u64,
    )
    .map_err(|e| e.to_string())?;
    if engine.live_orders() != orders {
        return Err(format!("only {} of {orders} orders rest", engine.live_orders()).into());
    }

    let mut spare = engine.clone();
    // Make the spare differ, as a spare handed back by a snapshot thread
    // would, then copy again into its warm memory.
    let mut sink = crate::TradeTally::default();
    spare.apply(
        &Command::cancel(
            0,
            commands[0].symbol,
            commands[0].user_id,
            commands[0].order_id,
        ),
        &mut sink,
    );
    let started = Instant::now();
    spare.clone_from(&engine);
    let copy_warm_ms = ms(started);
    let started = Instant::now();
    let bytes = spare.snapshot();
    let encode_ms = ms(started);
    let started = Instant::now();
    drop(Engine::new(config.clone())?);
    let empty_engine_ms = ms(started);
    let started = Instant::now();
    let restored = Engine::restore(&bytes, config.memory)?;
    let restore_ms = ms(started);
    if restored.live_orders() != orders {
        return Err("the restored engine lost orders".into());
    }
    drop((spare, restored));

    // The restart: everything was delivered. A paced second follows with
    // no periodic snapshot, for the matcher's latency on its own; its end
    // is a clean exit's snapshot.
    let mut pipeline = PipelineConfig::new(&journal, config);
    pipeline.snapshot_every = None;
    let rate = PACED_RATE as usize;
    let (first, rest) = paced.split_at(rate);
    let (alone, beside) = rest.split_at(rate);
    let report = paced_run(&pipeline, first, last)?;
    if report.recovery.last_sequence != last || report.recovery.snapshot != Some(last) {
        return Err(format!(
            "the restart recovered to {} from snapshot {:?}, not {last} from {last}",
            report.recovery.last_sequence, report.recovery.snapshot
        )
        .into());
    }
    // The first run in a process pays for warming up (its latency is
    // 3-4x a later run's here), so the baseline is a second run, and the
    // third has the replica restoring itself and writing a snapshot of the
    // whole book while the matcher runs.
    let alone = paced_run(&pipeline, alone, report.last_sequence)?;
    let newest = alone.last_sequence;
    pipeline.snapshot_every = Some(newest + PACED_RATE - PACED_RATE / 10);
    let with_replica = paced_run(&pipeline, beside, newest)?;
    let snapshots = &with_replica.snapshots;
    if snapshots.by_replica == 0 {
        return Err(format!(
            "the replica wrote no snapshot in the paced second (restore took {:?}); the host is \
             too loaded for this measurement",
            snapshots.replica_restore
        )
        .into());
    }
    let recovery = &report.recovery;
    let us = |ns: u64| ns as f64 / 1e3;
    Ok(SnapshotReport {
        orders,
        matcher_stall_us: 0.0,
        replica_snapshots: snapshots.by_replica,
        replica_restore_ms: snapshots
            .replica_restore
            .map_or(0.0, |d| d.as_secs_f64() * 1e3),
        replica_write_ms: snapshots.max_write.as_secs_f64() * 1e3,
        matched_p99_us: us(with_replica.latencies.matched.p99),
        matched_max_us: us(with_replica.latencies.matched.max),
        matched_alone_p99_us: us(alone.latencies.matched.p99),
        matched_alone_max_us: us(alone.latencies.matched.max),
        copy_warm_ms,
        encode_ms,
        snapshot_bytes: bytes.len(),
        restore_ms,
        empty_engine_ms,
        recovery_ms: recovery.took.as_secs_f64() * 1e3,
        recovery_open_ms: recovery.open.as_secs_f64() * 1e3,
        recovery_restore_ms: recovery.restore.as_secs_f64() * 1e3,
    })
}

/// Restarts the pipeline on its journal, whose outputs are delivered up
/// to `delivered`, and feeds it `commands` at [`PACED_RATE`].
fn paced_run(
    pipeline: &PipelineConfig,
    commands: &[Command],
    delivered: u64,
) -> Result<engine::pipeline::RunReport, engine::pipeline::PipelineError> {
    let source = PacedSource::new(Arc::new(commands.to_vec()), Some(PACED_RATE));
    let sink = CountingSink {
        messages: 0,
        delivered,
    };
    run(pipeline, source, sink, &AtomicBool::new(false))
}

/// `orders` new orders that all rest: over 100 symbols and 1,000 users,
/// bids below 9,500 and asks above 10,500.
fn book_of(orders: usize, seed: u64) -> Result<Vec<Command>, engine::IdError> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let symbols: Vec<Symbol> = (0..100)
        .map(|i| Symbol::new(&format!("S{i:03}")))
        .collect::<Result<_, _>>()?;
    let users: Vec<UserId> = (0..1_000)
        .map(|i| UserId::new(&format!("u{i}")))
        .collect::<Result<_, _>>()?;
    (0..orders)
        .map(|i| {
            let buy = i % 2 == 0;
            let offset = rng.rand_range(0..500);
            let (side, price) = if buy {
                (Side::Buy, 9_000 - offset)
            } else {
                (Side::Sell, 11_000 + offset)
            };
            let spec = OrderSpec::limit(side, price, 1 + rng.rand_range(0..100));
            let id = OrderId::new(&format!("o{i}"))?;
            Ok(Command::add(
                i as u64 + 1,
                symbols[i % 100],
                users[i % 1_000],
                id,
                spec,
            ))
        })
        .collect()
}
